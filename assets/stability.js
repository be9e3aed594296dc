/*
 * The stability badge (components/stability_check.py; Python mirror: badge_parts), drawn in the browser for the
 * study shown at the slider's tau: "Circles stable under a second reference (overlap 0.62, ρ 0.71)".
 * Uses cxr.snapSightSensitivity and cxr.nearestThresholdIndex of assets/threshold.js at call time.
 */
(function () {
  "use strict";

  const STABLE_OVERLAP = 0.5;
  const UNSTABLE_OVERLAP = 0.2;
  const COLOURS = {stable: "success", partly: "warning", unstable: "danger"};
  const HIDDEN = {display: "none"};
  const SHOWN = {display: "inline-block"};
  const SHOWN_ANYWAY_PREFIX = "Shown anyway: ";  // a study the model cannot judge, shown anyway (stamped)
  const NOT_CONVERGED_TEXT = "did not converge: no verdict";  // cxrmodel.explain.evidence.NOT_CONVERGED_TEXT

  function verdict(overlap, rho) {
    const values = [overlap, rho].filter(function (value) { return typeof value === "number"; });
    if (values.length === 0) {
      return "unstable";
    }
    const lowest = Math.min.apply(null, values);
    if (lowest >= STABLE_OVERLAP) {
      return "stable";
    }
    return lowest < UNSTABLE_OVERLAP ? "unstable" : "partly";
  }

  function fixed(value) {
    return typeof value === "number" ? value.toFixed(2) : "n/a";
  }

  // Python's f"{value:.0%}".
  function percent(value) {
    return (100 * value).toFixed(0) + "%";
  }

  function stabilityBadge(data, shown, value) {
    const cxr = window.dash_clientside.cxr;
    const study = shown && typeof shown === "object" ? shown.study : null;
    if (!study || !data || typeof data !== "object" || data.study !== study || data.gated) {
      return ["", "", "", HIDDEN];
    }
    const checked = data.stability;
    if (!checked) {
      return ["", "", "", SHOWN];
    }
    const tau = cxr.snapSightSensitivity(value);
    const index = cxr.nearestThresholdIndex(checked.thresholds, tau === null ? 0 : tau);
    const overlap = index >= 0 ? checked.overlaps[index] : null;
    const rho = checked.rank_correlation;
    const word = verdict(overlap, rho);
    const title = "Against the " + checked.reference + " reference image: signal-pixel overlap " + fixed(overlap) +
      " at τ = " + checked.thresholds[index].toFixed(2) + ", rank correlation of the two maps " + fixed(rho) +
      " (stable: both ≥ " + STABLE_OVERLAP + "; unstable: either < " + UNSTABLE_OVERLAP + ").";
    const stamp = data.shown_anyway ? SHOWN_ANYWAY_PREFIX : "";
    if (checked.converged === false) {
      return [stamp + "Stability check " + NOT_CONVERGED_TEXT, "badge bg-secondary stability-not-converged",
              "Explained again with the " + checked.reference + " reference image, the attributions did not add up " +
              "to the change in P: completeness error " + percent(checked.completeness_error) + " after " +
              checked.steps + " steps, against a target of " + percent(checked.target_error) + ". Maps that do " +
              "not add up are not a second story to compare the circles with, so the check gives no verdict.",
              HIDDEN];
    }
    return [stamp + "Circles " + word + " under a second reference (overlap " + fixed(overlap) + ", ρ " + fixed(rho) +
            ")",
            "badge bg-" + COLOURS[word] + " stability-" + word, title, HIDDEN];
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {stabilityBadge: stabilityBadge});
})();
