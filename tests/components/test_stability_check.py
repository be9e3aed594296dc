"""The stability badge (components.stability_check): verdicts, only for the study shown, and its JS mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components import stability_check
from cxrmodel.explain.evidence import second_reference, stability, stability_verdict

ROOT = Path(__file__).resolve().parents[2]


def _data(study="CXR1", overlaps=(0.8, 0.3, 0.1), rho=0.7, converged=True) -> dict:
    return {"study": study, "stability": {"reference": "blur", "thresholds": [0.0, 0.5, 1.0],
                                          "overlaps": list(overlaps), "rank_correlation": rho,
                                          "converged": converged, "completeness_error": 0.005 if converged else 8.06,
                                          "target_error": 0.01, "steps": 48 if converged else 128}}


def test_the_verdict_follows_the_overlap_at_tau_and_the_rank_correlation():
    assert stability_verdict(0.8, 0.7) == "stable"
    assert stability_verdict(0.3, 0.7) == "partly"
    assert stability_verdict(0.1, 0.9) == "unstable" and stability_verdict(None, None) == "unstable"
    assert stability_verdict(0.8, 0.7, converged=False) is None and stability_verdict(0.02, 0.12, False) is None
    assert second_reference("mean", True) == "blur" and second_reference("blur", True) == "mean"
    assert second_reference("black", False) == "blur" and second_reference("blur", False) == "black"


def test_the_badge_is_drawn_only_for_the_study_shown():
    shown = {"study": "CXR1"}
    text, classes, title, button = stability_check.badge_parts(_data(), shown, 0.0)
    assert text.startswith("Circles stable") and "bg-success" in classes and "blur reference" in title
    assert stability_check.badge_parts(_data(), shown, 0.5)[0].startswith("Circles partly")
    assert stability_check.badge_parts(_data(), shown, 1.0)[0].startswith("Circles unstable")
    assert button == stability_check.HIDDEN
    # Another study's result is never drawn under this one's name; a gated study gets nothing.
    assert stability_check.badge_parts(_data("CXR2"), shown, 0.5) == ["", "", "", stability_check.HIDDEN]
    assert stability_check.badge_parts({"study": "CXR1", "gated": True}, shown, 0.5)[3] == stability_check.HIDDEN
    # Not checked yet: the button.
    assert stability_check.badge_parts({"study": "CXR1", "stability": None}, shown, 0.5) == [
        "", "", "", stability_check.SHOWN]


def test_a_check_that_did_not_converge_says_so_and_gives_no_verdict():
    shown = {"study": "CXR1"}
    # The overlap 0.02 and rho 0.12 would read "unstable": with a completeness error of 806 % they are no finding.
    text, classes, title, _button = stability_check.badge_parts(
        _data(overlaps=(0.02, 0.02, 0.02), rho=0.12, converged=False), shown, 0.5)
    assert text == "Stability check did not converge: no verdict"
    assert "unstable" not in text and "stability-not-converged" in classes and "bg-secondary" in classes
    assert "completeness error 806% after 128 steps, against a target of 1%" in title
    # A check stored before convergence was recorded still gets its verdict.
    legacy = _data()
    for key in ("converged", "completeness_error", "target_error", "steps"):
        del legacy["stability"][key]
    assert stability_check.badge_parts(legacy, shown, 0.0)[0].startswith("Circles stable")


def test_stability_of_identical_and_unrelated_maps():
    import numpy as np

    rng = np.random.default_rng(0)
    first = rng.normal(size=(32, 32))
    same = stability(first, first * 2.0, [0.5])
    assert same["rank_correlation"] == pytest.approx(1.0) and same["overlaps"] == [1.0]
    other = stability(first, rng.normal(size=(32, 32)), [0.5])
    assert abs(other["rank_correlation"]) < 0.2 and other["overlaps"][0] < 0.3


RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}}};
vm.createContext(sandbox);
for (const script of process.env.CXR_SCRIPTS.split(",")) {
  vm.runInContext(fs.readFileSync(script, "utf8"), sandbox);
}
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map((call) => cxr.stabilityBadge.apply(null, call))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_badge_and_its_python_mirror_agree():
    shown = {"study": "CXR1"}
    cases = [(_data(), shown, 0.0), (_data(), shown, 0.49), (_data(), shown, 1.0), (_data("CXR2"), shown, 0.5),
             ({"study": "CXR1", "stability": None}, shown, 0.5), (None, shown, 0.5), (_data(), None, 0.5),
             (_data(overlaps=(None, 0.3, 0.1), rho=None), shown, 0.0),
             (_data(overlaps=(0.02, 0.02, 0.02), rho=0.12, converged=False), shown, 0.5),
             (dict(_data(converged=False), shown_anyway=True), shown, 0.0)]
    scripts = ",".join(str(ROOT / "assets" / name) for name in ("stability.js", "threshold.js"))
    result = subprocess.run(["node", "-e", RUNNER], input=json.dumps([list(case) for case in cases]),
                            capture_output=True, text=True, timeout=60, check=True,
                            env={**os.environ, "CXR_SCRIPTS": scripts})
    assert json.loads(result.stdout) == [stability_check.badge_parts(*case) for case in cases]
