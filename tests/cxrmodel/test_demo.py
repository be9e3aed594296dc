"""Demo recipe: the selection set used to choose explanation settings is disjoint from every other split."""

from __future__ import annotations

from collections import Counter

from cxrmodel.data.synthetic.findings import FINDING_KINDS
from cxrmodel.training.demo import DemoRecipe, demo_study_specs, selection_study_specs


def test_selection_set_shares_no_study_with_the_demo_or_training_splits_and_covers_every_finding():
    recipe = DemoRecipe()
    selection = selection_study_specs(recipe)
    numbers = [spec.number for spec in selection]
    assert len(selection) == 45 and len(set(numbers)) == 45
    demo_numbers = {spec.number for spec in demo_study_specs(recipe)}
    taken = (range(1, recipe.training_studies + 1), range(50_001, 50_001 + recipe.validation_studies),
             range(70_001, 70_001 + recipe.test_studies))
    assert not demo_numbers & set(numbers)
    assert not any(number in split for split in taken for number in numbers)
    kinds = Counter(finding.kind for spec in selection for finding in spec.findings)
    assert set(kinds) == set(FINDING_KINDS) and min(kinds.values()) >= 5
    assert sum(not spec.findings for spec in selection) == 8
    # Deterministic: the same recipe draws the same studies (the README's numbers are reproducible).
    assert selection_study_specs(recipe) == selection
