/*
 * Researcher tools (ES2017, no libraries): the sweep chart's dashed "sight sensitivity" line follows the slider.
 *
 * No Dash callback is involved: a MutationObserver watches the aria-valuenow of the slider's handle (the
 * element of role "slider" inside #sight-sensitivity) and, once the slider has rested for 150 ms, moves that
 * one shape with Plotly.relayout — only while the chart is visible (the researcher tools panel is a
 * closed <details> by default; opening it applies the latest tau). Any Dash callback output on or near the chart
 * made dcc.Graph redraw it on every move: ~50 ms of each slider move in headless Chromium
 * (benchmarks/slider_benchmark.py). The server draws the line at the slider's tau when a study opens.
 */
(function () {
  "use strict";
  const TAU_LINE_NAME = "sight sensitivity";   // components/research_tools.py TAU_LINE_NAME
  const CHART_ID = "sweep-chart";              // components/research_tools.py SWEEP_CHART_ID
  const SLIDER_ID = "sight-sensitivity";       // components/research_tools.py SLIDER_ID
  const REST_MS = 150;
  let pendingTau = null;
  let timer = null;

  // The line sits at the tau the circles are drawn at: cxr.snapSightSensitivity of assets/threshold.js (loaded
  // after this file, called only once the page runs).
  function snapped(tau) {
    const cxr = window.dash_clientside && window.dash_clientside.cxr;
    const value = cxr && typeof cxr.snapSightSensitivity === "function" ? cxr.snapSightSensitivity(tau) : tau;
    return value === null ? tau : value;
  }

  function applyPendingTau() {
    const container = document.getElementById(CHART_ID);
    const graph = container ? container.querySelector(".js-plotly-plot") : null;
    const panel = container ? container.closest("details") : null;
    if (pendingTau === null || !graph || !graph.layout || (panel && !panel.open) || !window.Plotly) {
      return;
    }
    const index = (graph.layout.shapes || []).findIndex(function (shape) { return shape.name === TAU_LINE_NAME; });
    if (index >= 0 && graph.layout.shapes[index].x0 !== pendingTau) {
      const update = {};
      update["shapes[" + index + "].x0"] = pendingTau;
      update["shapes[" + index + "].x1"] = pendingTau;
      window.Plotly.relayout(graph, update);
    }
    pendingTau = null;
  }

  function sliderMoved(records) {
    for (const record of records) {
      const target = record.target;
      if (target.closest && target.closest("#" + SLIDER_ID)) {
        const tau = parseFloat(target.getAttribute("aria-valuenow"));
        if (Number.isFinite(tau)) {
          pendingTau = snapped(tau);
          // Debounced: Plotly.relayout makes dcc.Graph store relayoutData and redraw the chart (~50 ms), so it
          // waits until the slider rests instead of competing with the circles while dragging.
          clearTimeout(timer);
          timer = setTimeout(applyPendingTau, REST_MS);
        }
        return;
      }
    }
  }

  if (typeof document !== "undefined" && typeof MutationObserver !== "undefined") {
    new MutationObserver(sliderMoved).observe(document.documentElement, {
      attributes: true, subtree: true, attributeFilter: ["aria-valuenow"],
    });
    document.addEventListener("toggle", function () {
      const handle = document.querySelector("#" + SLIDER_ID + " [role=slider]");
      const tau = handle ? parseFloat(handle.getAttribute("aria-valuenow")) : NaN;
      if (Number.isFinite(tau)) {
        pendingTau = snapped(tau);
        setTimeout(applyPendingTau, 0);
      }
    }, true);
  }
})();
