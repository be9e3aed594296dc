"""The wait every browser test polls the page with."""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait


class PageWait(WebDriverWait):
    """A ``WebDriverWait`` that polls again when Dash replaced an element between finding it and reading it.

    Dash redraws a component by replacing its DOM node (the evidence refresh redraws the prediction card a moment
    after the circles, for instance), so a condition that finds an element and then reads its text can meet a
    stale reference in one poll and the new element in the next. Any other exception still ends the wait.
    """

    def __init__(self, driver, timeout: float, poll_frequency: float = 0.5, ignored_exceptions=()):
        super().__init__(driver, timeout, poll_frequency,
                         (StaleElementReferenceException, *tuple(ignored_exceptions or ())))
