/*
 * Side-by-side mode of the chest X-ray viewer (ES2017, no libraries), registered by components/study_view.py.
 *
 * window.dash_clientside.cxr.compareLayout(compareOn, sweep, mainFigure)
 *   -> [viewer column lg, compare column style, details column lg, compare figure, compare sweep]
 * With the mode on, the second viewer gets a copy of the main viewer's figure and circle sweep: the radiograph
 * already in the browser is reused, nothing is fetched. The sweep copy makes cxr.redrawCircles draw the circles at
 * the second slider's tau; that slider's moves are then drawn by the live path in threshold.js.
 */
(function () {
  "use strict";
  const namespace = (window.dash_clientside = window.dash_clientside || {});
  namespace.cxr = namespace.cxr || {};

  namespace.cxr.compareLayout = function (compareOn, sweep, mainFigure) {
    const noUpdate = window.dash_clientside.no_update;
    // The graphs size themselves to their columns only on a window resize: send one after the columns change.
    setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 50);
    if (!compareOn) {
      return [7, { display: "none" }, 5, noUpdate, noUpdate];
    }
    const figure = mainFigure ? JSON.parse(JSON.stringify(mainFigure)) : noUpdate;
    return [6, { display: "block" }, 12, figure, sweep || null];
  };
})();
