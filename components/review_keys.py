"""The reviewing keyboard shortcuts, declared once: the worklist's key line and the "How to read this" legend list
them, and the key handler of assets/review_points.js implements them (keys are ignored while typing in a field).

Owns the id ``worklist-keys`` (the one-line legend under the study picker).
"""

from __future__ import annotations

from dash import html

__all__ = ["KEYBOARD_SHORTCUTS", "WORKLIST_KEYS_ID", "keys_legend", "shortcut_text"]

WORKLIST_KEYS_ID = "worklist-keys"
KEYBOARD_SHORTCUTS = (("J", "next study"), ("K", "previous study"), ("U", "next unreviewed"),
                      ("1 / 2 / 3", "verdict helpful / partly / misleading"),
                      ("N / A / S", "reading normal / abnormal / unsure"), ("P", "add a point"),
                      ("Esc", "cancel adding a point"))
"""(key, action), in the order the legends list them."""


def shortcut_text() -> str:
    """The shortcuts as one line of text (pure)."""
    return "; ".join(f"{key} {action}" for key, action in KEYBOARD_SHORTCUTS) + "."


def keys_legend() -> html.Small:
    """The shortcuts under the study picker, each key in a <kbd>."""
    return html.Small(["Keys: ", *[item for key, action in KEYBOARD_SHORTCUTS
                                   for item in (html.Kbd(key), f" {action}  ")]],
                      id=WORKLIST_KEYS_ID, className="text-muted d-block")
