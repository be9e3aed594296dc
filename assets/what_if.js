/*
 * The what-if card's browser side (components/what_if.py):
 *   strikeWords(struck, figure)        - the report heatmap with the struck words drawn <s>struck</s>
 *                                        (cells carry their word index as customdata);
 *   markRemovedCircles(removed, figure) - a "removed regions" trace: a grey cross on each removed circle's centre
 *                                        (a trace, not a shape, so the slider's redraw of the circles keeps it).
 */
(function () {
  "use strict";

  const REMOVED_TRACE_NAME = "removed regions";
  const STRUCK = /^<s>(.*)<\/s>$/;

  function strikeWords(struck, figure) {
    if (!figure || !Array.isArray(figure.data)) {
      return window.dash_clientside.no_update;
    }
    const set = new Set(Array.isArray(struck) ? struck : []);
    const data = figure.data.map(function (trace) {
      if (!Array.isArray(trace.text) || !Array.isArray(trace.customdata)) {
        return trace;
      }
      const text = trace.text.map(function (row, r) {
        return row.map(function (label, c) {
          if (!label) {
            return label;
          }
          const plain = STRUCK.test(label) ? label.replace(STRUCK, "$1") : label;
          const index = trace.customdata[r] ? trace.customdata[r][c] : null;
          return set.has(index) ? "<s>" + plain + "</s>" : plain;
        });
      });
      return Object.assign({}, trace, {text: text});
    });
    return Object.assign({}, figure, {data: data});
  }

  function markRemovedCircles(removed, figure) {
    if (!figure || !Array.isArray(figure.data)) {
      return window.dash_clientside.no_update;
    }
    const circles = Array.isArray(removed) ? removed : [];
    const data = figure.data.filter(function (trace) { return trace.name !== REMOVED_TRACE_NAME; });
    if (circles.length) {
      data.push({
        type: "scatter", mode: "markers", name: REMOVED_TRACE_NAME, showlegend: false,
        x: circles.map(function (c) { return c.x; }), y: circles.map(function (c) { return c.y; }),
        marker: {symbol: "x-thin", size: 18, line: {width: 3, color: "#adb5bd"}},
        hovertext: circles.map(function () { return "removed in the what-if (click the circle to restore)"; }),
        hoverinfo: "text",
      });
    }
    return Object.assign({}, figure, {data: data});
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {
    strikeWords: strikeWords,
    markRemovedCircles: markRemovedCircles,
  });
})();
