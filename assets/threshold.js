/*
 * Clientside callbacks of the chest X-ray viewer (ES2017, no libraries).
 *
 * window.dash_clientside.cxr.updateCircles  - sight-sensitivity tau -> circles on the radiograph (the figure)
 *     (Python mirror: apply_sight_sensitivity); redrawCircles calls it in the argument order of the clientside
 *     callback registered by components/threshold_control.py (sweep / overlay toggles / opacity changed), and
 *     redrawCirclesTagged, the one registered, adds the summary's study tag (figureStudy: figure_study).
 * Slider moves are drawn by the live path below (a MutationObserver on the slider handle), not by a callback.
 * window.dash_clientside.cxr.windowStyle    - contrast / brightness / invert of the radiograph only
 *     (registered by components/xray_view.py; Python mirrors: window_transfer, window_style).
 *
 * The constants below repeat components/xray_view.py; tests/components check that both agree.
 * Nothing here talks to the server: the circles for every threshold arrive once per study in the
 * circle-sweep store, and the radiograph (layout.images[0]) is reused unchanged on every slider move.
 */
(function () {
  "use strict";

  const CIRCLE_PALETTE = ["#FFB000", "#FE6100", "#DC267F", "#648FFF", "#3DC9A3", "#A98BF5"];
  const CIRCLE_DASHES = ["solid", "dash", "dot", "dashdot"];
  const CIRCLE_LINE_WIDTH = 2.5;
  const CIRCLE_LABEL_SIZE = 13;
  const POINT_OPACITY = 0.85;
  const STRENGTH_TOLERANCE = 1e-9;
  // The sweep grid (cxrmodel.detection.SLIDER_STEP; tests check both agree): every view snaps tau to it.
  const SLIDER_STEP = 0.02;
  const SLIDER_DECIMALS = 2;
  const RADIOGRAPH_IMAGE_NAME = "radiograph";
  const OVERLAY_IMAGE_NAME = "attribution overlay";
  const TRUTH_IMAGE_NAME = "lesion outlines";
  const CIRCLE_TRACE_NAME = "circle centres";
  const POINTS_TRACE_NAME = "signal points";
  const OVERLAY_CIRCLES = "circles";
  const OVERLAY_HEATMAP = "heatmap";
  const OVERLAY_POINTS = "points";
  const OVERLAY_TRUTH = "truth";
  // Window/level: the frame div carries --xray-filter = url(#cxr-window-<frame id>), an SVG filter kept by
  // windowStyle; this rule applies it to the FIRST image of the plot's image layer (the radiograph) only, so the
  // circles, markers and heatmap overlay are never filtered. (url() references to SVG filters work on SVG
  // elements in every browser; support for CSS filter functions such as contrast() on SVG elements has lagged.)
  const WINDOW_RULE = ".cxr-xray-frame .imagelayer image:first-of-type { filter: var(--xray-filter, none); }";
  const WINDOW_FILTER_PREFIX = "cxr-window-";
  const SVG_NAMESPACE = "http://www.w3.org/2000/svg";

  function installWindowRule() {
    if (typeof document === "undefined" || document.getElementById("cxr-window-rule")) {
      return;
    }
    const style = document.createElement("style");
    style.id = "cxr-window-rule";
    style.textContent = WINDOW_RULE;
    document.head.appendChild(style);
  }

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  // Index of the threshold closest to value; ties go to the lower index; -1 when there is none.
  function nearestThresholdIndex(thresholds, value) {
    if (!Array.isArray(thresholds) || thresholds.length === 0 || typeof value !== "number" || !isFinite(value)) {
      return -1;
    }
    let best = 0;
    for (let index = 1; index < thresholds.length; index += 1) {
      if (Math.abs(thresholds[index] - value) < Math.abs(thresholds[best] - value)) {
        best = index;
      }
    }
    return best;
  }

  /*
   * tau as every view uses it (Python mirror: threshold_control.snap_sight_sensitivity): clamped to [0, 1] and
   * rounded to the nearest slider threshold, halves up (what the slider's own number box does on blur), so the
   * circles, the summary, the sweep chart's line, the exports and the URL always name the same threshold.
   * null when value is not a finite number.
   */
  function snapSightSensitivity(value) {
    if (typeof value !== "number" || !isFinite(value)) {
      return null;
    }
    const quotient = Math.min(1, Math.max(0, value)) / SLIDER_STEP;
    let index = Math.floor(quotient);
    if (quotient - index >= 0.5) {
      index += 1;
    }
    return Number((index * SLIDER_STEP).toFixed(SLIDER_DECIMALS));
  }

  function circleColour(rank) {
    return CIRCLE_PALETTE[(rank - 1) % CIRCLE_PALETTE.length];
  }

  // The outline's dash: the next style each time the colours start over (palette.circle_dash).
  function circleDash(rank) {
    return CIRCLE_DASHES[Math.floor((rank - 1) / CIRCLE_PALETTE.length) % CIRCLE_DASHES.length];
  }

  // Same shapes as xray_view.circle_shapes: rank-coloured circle outlines labelled with their rank.
  function circleShapes(circles) {
    return circles.map(function (circle, index) {
      const colour = circleColour(index + 1);
      return {
        type: "circle", xref: "x", yref: "y",
        x0: circle.x - circle.r, x1: circle.x + circle.r, y0: circle.y - circle.r, y1: circle.y + circle.r,
        line: {color: colour, width: CIRCLE_LINE_WIDTH, dash: circleDash(index + 1)},
        fillcolor: "rgba(0,0,0,0)", layer: "above",
        label: {text: String(index + 1), textposition: "top left", font: {color: colour, size: CIRCLE_LABEL_SIZE}},
      };
    });
  }

  function circleHoverText(rank, circle) {
    return "<b>Circle " + rank + "</b><br>" + (circle.mass * 100).toFixed(1) + "% of positive attribution" +
      "<br>" + circle.points + " signal pixels<br>radius " + circle.r.toFixed(1) + " px";
  }

  // Values of the circle-centre hover markers (xray_view.circle_marker_values).
  function circleMarkers(circles) {
    return {
      x: circles.map(function (circle) { return circle.x; }),
      y: circles.map(function (circle) { return circle.y; }),
      hovertext: circles.map(function (circle, index) { return circleHoverText(index + 1, circle); }),
      bordercolor: circles.map(function (circle, index) { return circleColour(index + 1); }),
    };
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function summaryText(circleCount, signals, tau) {
    const circlesPart = plural(circleCount, "circle");
    const signalsPart = typeof signals === "number" ? " · " + plural(signals, "signal pixel") : "";
    return circlesPart + signalsPart + " at τ = " + tau.toFixed(2);
  }

  /*
   * The prediction card's deletion line at threshold index (Python mirror: components.evidence_view
   * .region_evidence_text): what P(abnormal) and the log-odds become with that tau's circles removed, beside
   * same-size random regions.
   */

  // cxrmodel/explain/evidence_text.py, mirrored: effects said in log-odds (the model output before its sigmoid).
  const SMALLEST_LOG_ODDS_CHANGE = 0.05;
  const REMOVAL_LABELS = {
    imputation: "filled in from the pixels around them",
    surroundings: "filled with their blurred surroundings",
    reference: "pasted over with the reference image",
  };
  const RAISED_TEXT = "Removing them raises the log-odds instead of lowering them, so this check gives the " +
    "circles no support here.";

  function removalLabel(removal) {
    return REMOVAL_LABELS[removal || ""] || removal || "removed";
  }

  function logOddsPhrase(before, after) {
    const change = after - before;
    if (change <= -SMALLEST_LOG_ODDS_CHANGE) {
      if (before > 0 && after >= 0) {
        return "takes away " + (-change).toFixed(1) + " of the study's " + before.toFixed(1) + " log-odds";
      }
      return "lowers the log-odds from " + before.toFixed(1) + " to " + after.toFixed(1);
    }
    if (change >= SMALLEST_LOG_ODDS_CHANGE) {
      return "raises the log-odds from " + before.toFixed(1) + " to " + after.toFixed(1);
    }
    return "leaves the log-odds at " + before.toFixed(1);
  }

  function controlPhrase(before, after) {
    const change = after - before;
    if (change <= -SMALLEST_LOG_ODDS_CHANGE) {
      return "take " + (-change).toFixed(1);
    }
    if (change >= SMALLEST_LOG_ODDS_CHANGE) {
      return "add " + change.toFixed(1);
    }
    return "leave them as they are";
  }

  // sweep.evidence = {probability, log_odds, removal, regions: [[circles, P removed, P random, log-odds removed,
  // log-odds random] or null, ...]}; null without it.
  function regionEvidenceText(sweep, index, tau) {
    const shipped = sweep && sweep.evidence;
    if (!shipped || !Array.isArray(shipped.regions) || index < 0 || index >= shipped.regions.length ||
        !shipped.regions[index]) {
      // Being computed, cancelled or not computed for these settings: said by the server (evidence_view).
      return (sweep && sweep.evidence_missing_text) || "";
    }
    const row = shipped.regions[index];
    const circles = row[0];
    if (circles === 0) {
      return "No circle at τ = " + tau.toFixed(2) + ": nothing to remove.";
    }
    const noun = circles === 1 ? "the circled region" : "the " + circles + " circled regions";
    const probability = shipped.probability;
    const logOdds = shipped.log_odds;
    const removedLogOdds = row[3];
    const moved = Math.abs(removedLogOdds - logOdds) >= SMALLEST_LOG_ODDS_CHANGE;
    let lead;
    if (probability.toFixed(2) === row[1].toFixed(2)) {
      lead = "P stays " + probability.toFixed(2) + (moved ? ", but removing" : "; removing");
    } else {
      lead = "P " + probability.toFixed(2) + " → " + row[1].toFixed(2) + ": removing";
    }
    let sentence = lead + " " + noun + " " + logOddsPhrase(logOdds, removedLogOdds) + "; same-size random regions " +
      controlPhrase(logOdds, row[4]) + " (regions " + removalLabel(shipped.removal) + ").";
    if (removedLogOdds - logOdds >= SMALLEST_LOG_ODDS_CHANGE) {
      sentence += " " + RAISED_TEXT;
    }
    return sentence;
  }

  // The control's evidence element (data-cxr-evidence), rewritten for tau; nothing when it has none.
  function updateEvidence(control, sweep, tau) {
    const id = control && control.dataset ? control.dataset.cxrEvidence : null;
    if (!id || !document.getElementById(id) || !sweep) {
      return;
    }
    const thresholds = Array.isArray(sweep.thresholds) ? sweep.thresholds : [];
    const snapped = snapSightSensitivity(tau);
    const index = nearestThresholdIndex(thresholds, snapped === null ? tau : snapped);
    const text = regionEvidenceText(sweep, index, index >= 0 ? thresholds[index] : tau);
    const element = document.getElementById(id);
    if (element.textContent !== text) {
      setProps(id, {children: text});
    }
  }

  /*
   * Slider, sweep store, overlay toggles or heatmap opacity changed: returns [figure, summary].
   * The figure is a shallow copy: new layout.shapes, new circle-marker and signal-point traces, overlay image
   * visibility/opacity, lesion outline visibility; every other object (the radiograph's data URI included) is
   * reused as it is.
   */
  function updateCircles(value, sweep, toggles, opacity, figure) {
    const shown = Array.isArray(toggles) ? toggles : [];
    const showCircles = shown.indexOf(OVERLAY_CIRCLES) >= 0;
    const showHeatmap = shown.indexOf(OVERLAY_HEATMAP) >= 0;
    const showPoints = shown.indexOf(OVERLAY_POINTS) >= 0;
    const showTruth = shown.indexOf(OVERLAY_TRUTH) >= 0;

    const thresholds = sweep && Array.isArray(sweep.thresholds) ? sweep.thresholds : [];
    const snapped = snapSightSensitivity(value);
    const index = nearestThresholdIndex(thresholds, snapped === null ? value : snapped);
    const circles = index >= 0 && Array.isArray(sweep.circles) ? (sweep.circles[index] || []) : [];
    const tau = index >= 0 ? thresholds[index] : (typeof value === "number" ? value : 0);
    const signals = index >= 0 && Array.isArray(sweep.signals) ? sweep.signals[index] : undefined;
    const summary = index >= 0 ? summaryText(circles.length, signals, tau) : "";
    const images = figure && figure.layout && Array.isArray(figure.layout.images) ? figure.layout.images : [];
    if (!images.some(function (image) { return image.name === RADIOGRAPH_IMAGE_NAME; })) {
      return [noUpdate(), summary];  // No study drawn yet (placeholder figure).
    }
    const drawn = showCircles ? circles : [];
    const markers = circleMarkers(drawn);

    const data = (figure.data || []).map(function (trace) {
      if (trace.name === CIRCLE_TRACE_NAME) {
        const hoverlabel = Object.assign({}, trace.hoverlabel, {bordercolor: markers.bordercolor});
        return Object.assign({}, trace, {
          x: markers.x, y: markers.y, hovertext: markers.hovertext, hoverlabel: hoverlabel,
        });
      }
      if (trace.name === POINTS_TRACE_NAME) {
        const strengths = Array.isArray(trace.customdata) ? trace.customdata : [];
        const pointOpacity = strengths.map(function (strength) {
          return strength >= tau - STRENGTH_TOLERANCE ? POINT_OPACITY : 0;
        });
        const marker = Object.assign({}, trace.marker, {opacity: pointOpacity});
        return Object.assign({}, trace, {visible: showPoints, marker: marker});
      }
      return trace;
    });
    const newImages = images.map(function (image) {
      if (image.name === TRUTH_IMAGE_NAME) {
        return Object.assign({}, image, {visible: showTruth});
      }
      if (image.name !== OVERLAY_IMAGE_NAME) {
        return image;
      }
      const update = {visible: showHeatmap};
      if (typeof opacity === "number" && isFinite(opacity)) {
        update.opacity = Math.min(1, Math.max(0, opacity));
      }
      return Object.assign({}, image, update);
    });
    const layout = Object.assign({}, figure.layout, {shapes: circleShapes(drawn), images: newImages});
    const redrawn = Object.assign({}, figure, {data: data, layout: layout});
    // The study's own figure is usually drawn at this tau with these toggles already: leaving it as it is spares
    // Plotly a second draw and Dash a second update of every component while the study opens.
    return [sameDrawing(redrawn, figure) ? noUpdate() : redrawn, summary];
  }

  // JSON with every object's keys in order (the server's figures come with sorted keys, these are built in
  // another order).
  function canonicalJson(value) {
    if (Array.isArray(value)) {
      return "[" + value.map(canonicalJson).join(",") + "]";
    }
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().filter(function (key) { return value[key] !== undefined; })
        .map(function (key) { return JSON.stringify(key) + ":" + canonicalJson(value[key]); }).join(",") + "}";
    }
    return JSON.stringify(value === undefined ? null : value);
  }

  // What a figure shows: the per-point opacities of hidden signal points do not show (they are set again when the
  // points are toggled on, which redraws through this callback).
  function drawing(figure) {
    const data = (figure.data || []).map(function (trace) {
      if (trace.name !== POINTS_TRACE_NAME || trace.visible) {
        return trace;
      }
      return Object.assign({}, trace, {marker: Object.assign({}, trace.marker, {opacity: null})});
    });
    return canonicalJson(Object.assign({}, figure, {data: data}));
  }

  function sameDrawing(redrawn, figure) {
    return drawing(redrawn) === drawing(figure);
  }

  // The Dash callback's argument order (inputs, then states): sweep, toggles or opacity changed.
  function redrawCircles(sweep, toggles, opacity, figure, value) {
    if (typeof document !== "undefined") {
      // Every evidence line follows its own control's sweep and tau (this callback may be another control's).
      afterPaint(function () {
        Array.prototype.forEach.call(document.querySelectorAll(".threshold-control[data-cxr-evidence]"),
          function (control) {
            const props = dashProps(control.dataset.cxrSweep);
            const handle = control.querySelector("[role=slider]");
            const tau = handle ? parseFloat(handle.getAttribute("aria-valuenow")) : NaN;
            if (props && props.data && Number.isFinite(tau)) {
              updateEvidence(control, props.data, tau);
            }
          });
      });
    }
    return updateCircles(value, sweep, toggles, opacity, figure);
  }

  // The study a viewer figure draws (the uirevision of a figure with a radiograph), or "" for a placeholder
  // (threshold_control.figure_study).
  function figureStudy(figure) {
    const layout = figure && figure.layout ? figure.layout : {};
    const drawn = (Array.isArray(layout.images) ? layout.images : []).some(function (image) {
      return image && image.name === RADIOGRAPH_IMAGE_NAME;
    });
    return drawn && typeof layout.uirevision === "string" ? layout.uirevision : "";
  }

  // redrawCircles and the summary's study tag (components/study_loading.py), written in the same callback.
  function redrawCirclesTagged(sweep, toggles, opacity, figure, value) {
    return redrawCircles(sweep, toggles, opacity, figure, value).concat([figureStudy(figure)]);
  }

  function numberOr(value, fallback) {
    return typeof value === "number" && isFinite(value) ? value : fallback;
  }

  // v -> slope * v + intercept of CSS invert(1) contrast(c) brightness(b), in that order (window_transfer).
  function windowTransfer(contrast, brightness, invert) {
    const c = numberOr(contrast, 1);
    const b = numberOr(brightness, 1);
    const slopeIn = invert ? -1 : 1;
    const interceptIn = invert ? 1 : 0;
    return {slope: b * c * slopeIn, intercept: b * (c * interceptIn + 0.5 - 0.5 * c)};
  }

  // Creates or updates <filter id=filterId> (one linear feComponentTransfer, sRGB) in a hidden <svg>.
  function ensureWindowFilter(filterId, transfer) {
    if (typeof document === "undefined") {
      return;
    }
    let holder = document.getElementById("cxr-window-filters");
    if (!holder) {
      holder = document.createElementNS(SVG_NAMESPACE, "svg");
      holder.setAttribute("id", "cxr-window-filters");
      holder.setAttribute("aria-hidden", "true");
      holder.setAttribute("width", "0");
      holder.setAttribute("height", "0");
      holder.setAttribute("style", "position:absolute;width:0;height:0;overflow:hidden");
      document.body.appendChild(holder);
    }
    let filter = document.getElementById(filterId);
    if (!filter) {
      filter = document.createElementNS(SVG_NAMESPACE, "filter");
      filter.setAttribute("id", filterId);
      filter.setAttribute("color-interpolation-filters", "sRGB");
      const component = document.createElementNS(SVG_NAMESPACE, "feComponentTransfer");
      ["feFuncR", "feFuncG", "feFuncB"].forEach(function (name) {
        const channel = document.createElementNS(SVG_NAMESPACE, name);
        channel.setAttribute("type", "linear");
        component.appendChild(channel);
      });
      filter.appendChild(component);
      holder.appendChild(filter);
    }
    Array.prototype.forEach.call(filter.firstChild.childNodes, function (channel) {
      channel.setAttribute("slope", String(transfer.slope));
      channel.setAttribute("intercept", String(transfer.intercept));
    });
  }

  // Contrast / brightness / invert changed: update this viewer's SVG filter, return the frame's style.
  function windowStyle(contrast, brightness, invert, frameId) {
    const transfer = windowTransfer(contrast, brightness, invert);
    if (transfer.slope === 1 && transfer.intercept === 0) {
      return {"--xray-filter": "none"};
    }
    const filterId = WINDOW_FILTER_PREFIX + (frameId || "xray-frame");
    ensureWindowFilter(filterId, transfer);
    return {"--xray-filter": "url(#" + filterId + ")"};
  }

  /*
   * Live path: the slider's handle -> circles, without waiting for Dash.
   *
   * A Dash callback on the slider's value cost ~20-30 ms of renderer work per move (callback dispatch, loading
   * states, outputs) before the figure was even handed to Plotly, and the figure's Plotly.react (~15 ms) redraws
   * every trace (BENCHMARKS.md, slider section). Instead a MutationObserver watches the aria-valuenow of the
   * handle (role "slider") inside each .threshold-control, whose data-cxr-* attributes name the graph, sweep
   * store, overlay toggles, heatmap opacity and summary it drives. Per move it moves only the circles
   * (layout.shapes; plus the signal points' opacity when they are shown) with one Plotly.update, which dcc.Graph
   * does not listen to. The summary line follows after the frame is painted; once the slider has rested for
   * LIVE_REST_MS the whole figure (circle-centre hover markers included) is written back to Dash with set_props,
   * so that the stored figure, the side-by-side copy and every later redraw agree with tau.
   */
  const LIVE_REST_MS = 150;
  const liveTimers = {};

  function dashProps(id) {
    const api = window.dash_component_api;
    try {
      const node = id && api && api.getLayout ? api.getLayout(id) : null;
      return node && node.props ? node.props : null;
    } catch (error) {
      return null;
    }
  }

  function liveState(control) {
    const ids = control.dataset;
    const graph = dashProps(ids.cxrGraph);
    const sweep = dashProps(ids.cxrSweep);
    const toggles = dashProps(ids.cxrToggles);
    const opacity = dashProps(ids.cxrOpacity);
    if (!graph || !sweep) {
      return null;
    }
    return {figure: graph.figure, sweep: sweep.data, toggles: toggles ? toggles.value : [],
            opacity: opacity ? opacity.value : undefined};
  }

  function setProps(id, props) {
    if (id && window.dash_clientside && typeof window.dash_clientside.set_props === "function") {
      window.dash_clientside.set_props(id, props);
    }
  }

  // After the next painted frame (the first animation frame, then a task).
  function afterPaint(callback) {
    requestAnimationFrame(function () { setTimeout(callback, 0); });
  }

  function liveRedraw(control, tau) {
    const ids = control.dataset;
    const state = liveState(control);
    const container = document.getElementById(ids.cxrGraph);
    const gd = container ? container.querySelector(".js-plotly-plot") : null;
    if (!state || !gd || !gd.layout || !window.Plotly) {
      return;
    }
    const result = updateCircles(tau, state.sweep, state.toggles, state.opacity, state.figure);
    const figure = result[0];
    if (figure === noUpdate() || !figure || !figure.layout) {
      return;
    }
    const traceUpdate = {};
    const indices = [];
    (figure.data || []).forEach(function (trace, index) {
      if (trace.name === POINTS_TRACE_NAME && trace.visible && gd.data[index] && gd.data[index].name === trace.name) {
        traceUpdate["marker.opacity"] = [trace.marker.opacity];
        indices.push(index);
      }
    });
    window.Plotly.update(gd, traceUpdate, {shapes: figure.layout.shapes}, indices);
    const summary = result[1];
    afterPaint(function () {
      setProps(ids.cxrSummary, {children: summary});
      updateEvidence(control, state.sweep, tau);
    });
    clearTimeout(liveTimers[ids.cxrGraph]);
    liveTimers[ids.cxrGraph] = setTimeout(function () { liveSync(control); }, LIVE_REST_MS);
  }

  // The slider rested: the figure Dash stores (and redraws from) gets the circles of the slider's tau.
  function liveSync(control) {
    const handle = control.querySelector("[role=slider]");
    const tau = handle ? parseFloat(handle.getAttribute("aria-valuenow")) : NaN;
    const state = liveState(control);
    if (!state || !Number.isFinite(tau)) {
      return;
    }
    const result = updateCircles(tau, state.sweep, state.toggles, state.opacity, state.figure);
    if (result[0] !== noUpdate()) {
      setProps(control.dataset.cxrGraph, {figure: result[0]});
    }
    setProps(control.dataset.cxrSummary, {children: result[1]});
    updateEvidence(control, state.sweep, tau);
    // Who else follows a rested slider listens here (assets/url_state.js: the URL, the side-by-side labels).
    document.dispatchEvent(new CustomEvent("cxr:slider-rest", {detail: {control: control, tau: tau}}));
  }

  function sliderMoved(records) {
    const seen = [];
    for (const record of records) {
      const control = record.target.closest ? record.target.closest(".threshold-control[data-cxr-graph]") : null;
      if (control && seen.indexOf(control) < 0 && record.target.getAttribute("role") === "slider") {
        seen.push(control);
        const tau = parseFloat(record.target.getAttribute("aria-valuenow"));  // the current value, not the record's
        if (Number.isFinite(tau)) {
          liveRedraw(control, tau);
        }
      }
    }
  }

  if (typeof document !== "undefined" && typeof MutationObserver !== "undefined") {
    new MutationObserver(sliderMoved).observe(document.documentElement, {
      attributes: true, subtree: true, attributeFilter: ["aria-valuenow"],
    });
  }

  /*
   * The slider's number box: what is typed there (0.45, 2, -1) is committed as the snapped tau (0.46, 1, 0).
   * dcc.Slider keeps a typed value that is off its step or out of range in its own state only (the handle and
   * aria-valuenow follow it, its `value` prop keeps the last valid keystroke, e.g. 0.4 of 0.45), so on commit
   * (change: Enter or spinner; focusout: after the slider's own blur handler) the prop is set to the snapped
   * tau, which moves the box, the handle and every view to it; while typing, the views already draw the snapped
   * tau (updateCircles snaps).
   */
  function commitTypedThreshold(event) {
    const input = event.target;
    if (!input || input.tagName !== "INPUT" || input.type !== "number" || !input.closest) {
      return;
    }
    const container = input.closest(".dash-slider-container[id]");
    if (!container || !input.closest(".threshold-control[data-cxr-graph]")) {
      return;
    }
    setTimeout(function () {
      const props = dashProps(container.id);
      const typed = parseFloat(input.value);
      const snapped = snapSightSensitivity(Number.isFinite(typed) ? typed : (props ? props.value : null));
      if (snapped !== null && (!props || props.value !== snapped || parseFloat(input.value) !== snapped)) {
        setProps(container.id, {value: snapped});
      }
    }, 0);
  }

  if (typeof document !== "undefined" && typeof document.addEventListener === "function") {
    document.addEventListener("change", commitTypedThreshold, true);
    document.addEventListener("focusout", commitTypedThreshold, true);
  }

  installWindowRule();
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {
    updateCircles: updateCircles,
    redrawCircles: redrawCircles,
    redrawCirclesTagged: redrawCirclesTagged,
    figureStudy: figureStudy,
    windowStyle: windowStyle,
    windowTransfer: windowTransfer,
    nearestThresholdIndex: nearestThresholdIndex,
    snapSightSensitivity: snapSightSensitivity,
    regionEvidenceText: regionEvidenceText,
    circleShapes: circleShapes,
    circleMarkers: circleMarkers,
  });
})();
