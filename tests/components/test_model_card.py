"""The model card's held-out metrics: rounded one way, the same figures README quotes (issue #17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from components import model_card

ROOT = Path(__file__).resolve().parents[2]


def _cells(rows) -> list[list[str]]:
    return [[cell.children for cell in row.children] for row in rows]


def test_metrics_round_half_up_from_the_figure_the_card_wrote():
    # 0.8875 is 0.88749999... in binary: "%.3f" gave 0.887 beside 0.7375 -> 0.738.
    rows = _cells(model_card.metrics_rows({"text": {"accuracy": 0.8875, "auc": 0.9223},
                                           "image": {"accuracy": 0.7375, "auc": 0.9695}}))
    assert rows == [["Report only", "0.888", "0.922"], ["Image only", "0.738", "0.970"]]
    assert model_card.metric_text(None) == "n/a" and model_card.metric_text(float("nan")) == "n/a"


def test_readme_quotes_the_demo_card_as_the_dashboard_shows_it():
    card = json.loads((ROOT / "models" / "demo" / "card.json").read_text())
    shown = {row[0]: row[1:] for row in _cells(model_card.metrics_rows(card["metrics"]))}
    readme = (ROOT / "README.md").read_text()
    names = {"Multimodal": "multimodal (image + report)", "Image only": "image only", "Report only": "report only"}
    for name, (accuracy, auc) in shown.items():
        match = re.search(rf"^\| {re.escape(names[name])} \| ([0-9.]+) \| ([0-9.]+) \|$", readme, re.MULTILINE)
        assert match, name
        assert (match.group(1), match.group(2)) == (accuracy, auc), name
