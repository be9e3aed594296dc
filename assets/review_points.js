/*
 * The review panel in the browser (components/review_panel.py, components/worklist.py):
 *
 * window.dash_clientside.cxrReview.drawCrosses - the reviewer's finding points drawn as crosses on the radiograph
 *   (a Plotly trace named "finding points", added to the drawn plot and added again whenever the figure is
 *   replaced); returns the number of crosses drawn.
 * "Add a point" (#review-add-point) arms the radiograph: the next press on it becomes a point in original-image
 *   pixels, sent to the server through the review-clicked-point store (dash_clientside.set_props), and does
 *   nothing else (no pan, no what-if); Escape disarms.
 * window.dash_clientside.cxrReview.drawCircleChoices - agree / on something else per circle at the slider's tau,
 *   drawn in the browser so that moving the slider never calls the server.
 * window.dash_clientside.cxrReview.circleMarks - the circle choices as {tau, verdicts}, only when they differ from
 *   the stored review (a redraw at another tau is not a change, so it saves nothing).
 * Keyboard shortcuts (components.review_keys.KEYBOARD_SHORTCUTS), ignored while typing in a field.
 */
(function () {
  "use strict";
  const TRACE_NAME = "finding points";
  const GRAPH_ID = "xray-graph";
  const ARMED_CLASS = "review-point-armed";
  let currentStudy = null;
  let armed = false;
  let nonce = 0;

  function plotDiv() {
    const holder = document.getElementById(GRAPH_ID);
    return holder ? holder.querySelector(".js-plotly-plot") : null;
  }

  function crossTrace(points) {
    return {
      type: "scatter", mode: "markers+text", name: TRACE_NAME, showlegend: false, hoverinfo: "text",
      x: points.map(function (p) { return p[0]; }),
      y: points.map(function (p) { return p[1]; }),
      text: points.map(function (p, i) { return String(i + 1) + (p[2] ? " " + p[2] : ""); }),
      textposition: "top right", textfont: {color: "#ffd43b", size: 12},
      marker: {symbol: "x-thin-open", size: 16, color: "#ffd43b", line: {width: 3, color: "#ffd43b"}},
    };
  }

  function drawCrosses(draft, _figure) {
    currentStudy = draft && draft.study ? draft.study : null;
    const gd = plotDiv();
    if (!gd || !window.Plotly || !gd.data) { return window.dash_clientside.no_update; }
    const points = draft && Array.isArray(draft.points) ? draft.points : [];
    const old = [];
    gd.data.forEach(function (trace, index) { if (trace.name === TRACE_NAME) { old.push(index); } });
    if (old.length) { window.Plotly.deleteTraces(gd, old); }
    const hasImage = gd.layout && Array.isArray(gd.layout.images) && gd.layout.images.length > 0;
    if (points.length && hasImage) { window.Plotly.addTraces(gd, crossTrace(points)); }
    return points.length;
  }

  function setArmed(value) {
    armed = value;
    const holder = document.getElementById(GRAPH_ID);
    if (holder) { holder.classList.toggle(ARMED_CLASS, armed); }
    const button = document.getElementById("review-add-point");
    if (button) { button.textContent = armed ? "Click the finding on the radiograph…" : "Add a point"; }
  }

  // While armed, the press on the radiograph is the point and nothing else: it is taken on mousedown, in the
  // capture phase, and that press's mouseup and click never reach Plotly (no pan, no what-if region removal).
  let swallowing = false;

  function onRadiograph(target) {
    return target instanceof Element && target.closest("#" + GRAPH_ID) !== null;
  }

  document.addEventListener("click", function (event) {
    const target = event.target;
    if (swallowing && onRadiograph(target)) {
      swallowing = false;
      event.stopPropagation();
      event.preventDefault();
      return;
    }
    if (target instanceof Element && target.closest("#review-add-point")) { setArmed(!armed); }
  }, true);

  document.addEventListener("mouseup", function (event) {
    if (swallowing && onRadiograph(event.target)) { event.stopPropagation(); event.preventDefault(); }
  }, true);

  document.addEventListener("mousedown", function (event) {
    if (!armed || event.button !== 0 || !onRadiograph(event.target)) { return; }
    const gd = plotDiv();
    const layer = gd ? gd.querySelector(".nsewdrag") : null;
    if (!layer || !gd._fullLayout || !currentStudy) { return; }
    const box = layer.getBoundingClientRect();
    if (event.clientX < box.left || event.clientX > box.right || event.clientY < box.top ||
        event.clientY > box.bottom) { return; }
    event.stopPropagation();
    event.preventDefault();
    swallowing = true;
    const x = gd._fullLayout.xaxis.p2c(event.clientX - box.left);
    const y = gd._fullLayout.yaxis.p2c(event.clientY - box.top);
    nonce += 1;
    setArmed(false);
    window.dash_clientside.set_props("review-clicked-point",
                                     {data: {x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10,
                                             study: currentStudy, nonce: nonce}});
  }, true);

  function typing(element) {
    return element && (element.tagName === "INPUT" || element.tagName === "TEXTAREA" ||
                       element.tagName === "SELECT" || element.isContentEditable);
  }

  function choose(groupId, value) {
    const input = document.querySelector("#" + groupId + " input[value='" + value + "']");
    if (input) { input.click(); }
  }

  function press(buttonId) {
    const button = document.getElementById(buttonId);
    if (button) { button.click(); }
  }

  const KEYS = {
    "j": function () { press("worklist-next"); },
    "k": function () { press("worklist-previous"); },
    "u": function () { press("worklist-next-unreviewed"); },
    "1": function () { choose("review-verdict", "helpful"); },
    "2": function () { choose("review-verdict", "partly"); },
    "3": function () { choose("review-verdict", "misleading"); },
    "n": function () { choose("review-label", "normal"); },
    "a": function () { choose("review-label", "abnormal"); },
    "s": function () { choose("review-label", "unsure"); },
    "p": function () { setArmed(true); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && armed) { setArmed(false); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) { return; }
    const action = KEYS[event.key.toLowerCase()];
    if (action) { action(); event.preventDefault(); }
  });

  // Index of the threshold nearest to value (ties: the lower index), -1 when none. Mirrors
  // components.threshold_control.nearest_threshold_index.
  function nearestIndex(thresholds, value) {
    if (!Array.isArray(thresholds) || !thresholds.length || typeof value !== "number" || !isFinite(value)) {
      return -1;
    }
    let best = 0;
    for (let i = 1; i < thresholds.length; i += 1) {
      if (Math.abs(thresholds[i] - value) < Math.abs(thresholds[best] - value)) { best = i; }
    }
    return best;
  }

  function marksAt(draft, tau) {
    const marks = {};
    ((draft && draft.circles) || []).forEach(function (mark) {
      if (Math.abs(mark[0] - tau) <= 1e-6) { marks[mark[1]] = mark[2]; }
    });
    return marks;
  }

  function small(text) {
    return {type: "Small", namespace: "dash_html_components", props: {children: text, className: "text-muted"}};
  }

  // [the choices, their study tag]: the circles are the shown study's (the sweep comes with it); the choices are
  // tagged with it only when the marks are that study's too, so that the previous study's circles or marks are
  // never shown under the new one (components.study_loading hides them until then).
  function drawCircleChoices(draft, value, sweep, shown) {
    const study = shown && typeof shown === "object" && typeof shown.study === "string" ? shown.study : "";
    if (!draft) { return [[], study]; }
    const tag = draft.study === study ? study : "";
    const at = nearestIndex(sweep && sweep.thresholds, value);
    if (at < 0) { return [[small("The circles appear with the explanation.")], tag]; }
    const tau = sweep.thresholds[at];
    const count = (sweep.circles[at] || []).length;
    if (!count) { return [[small("No circle at \u03c4 = " + tau.toFixed(2) + ".")], tag]; }
    const marks = marksAt(draft, tau);
    const rows = [];
    for (let index = 0; index < count; index += 1) {
      rows.push({type: "Div", namespace: "dash_html_components", props: {
        className: "d-flex align-items-center", children: [
          {type: "Span", namespace: "dash_html_components",
           props: {children: "Circle " + (index + 1), className: "me-2 small fw-semibold"}},
          {type: "RadioItems", namespace: "dash_bootstrap_components", props: {
            id: {type: "review-circle", index: index}, inline: true, className: "small",
            value: marks[index] || null,
            options: [{label: "agree", value: "agree"}, {label: "on something else", value: "other"}]}},
        ]}});
    }
    return [rows, tag];
  }

  function circleMarks(values, ids, draft, value, sweep) {
    const noUpdate = window.dash_clientside.no_update;
    const at = nearestIndex(sweep && sweep.thresholds, value);
    if (!draft || at < 0 || !Array.isArray(ids) || !ids.length) { return noUpdate; }
    const tau = sweep.thresholds[at];
    const stored = marksAt(draft, tau);
    const verdicts = {};
    let changed = false;
    ids.forEach(function (id, position) {
      const verdict = values[position] || null;
      verdicts[id.index] = verdict;
      if ((stored[id.index] || null) !== verdict) { changed = true; }
    });
    return changed ? {study: draft.study, tau: tau, verdicts: verdicts} : noUpdate;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.cxrReview = {drawCrosses: drawCrosses, drawCircleChoices: drawCircleChoices,
                                      circleMarks: circleMarks};
}());
