/*
 * "Show anyway" for a study the model cannot judge (ES2017, no libraries), registered by
 * components/distribution_gate.py.
 *
 * window.dash_clientside.cxr.showAnyway(clicks, sweeps) -> [withheld styles, button styles, circle sweep]
 * (pattern-matching ALL: one entry per withheld prediction on the page, at most one). Once the button is pressed
 * the hidden prediction is shown, the button hides, and the withheld circle sweep goes to the slider's store,
 * which draws the circles at the slider's tau (assets/threshold.js).
 */
(function () {
  "use strict";

  function showAnyway(clicks, sweeps) {
    const noUpdate = window.dash_clientside.no_update;
    const list = Array.isArray(clicks) ? clicks : [];
    const pressed = list.findIndex(function (count) { return typeof count === "number" && count > 0; });
    if (pressed < 0) {
      return [list.map(function () { return noUpdate; }), list.map(function () { return noUpdate; }), noUpdate];
    }
    const sweep = Array.isArray(sweeps) && sweeps[pressed] ? sweeps[pressed] : noUpdate;
    return [list.map(function () { return {display: "block"}; }), list.map(function () { return {display: "none"}; }),
            sweep];
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {showAnyway: showAnyway});
})();
