/*
 * "Show anyway" for a study the model cannot judge (ES2017, no libraries), registered by
 * components/distribution_gate.py.
 *
 * window.dash_clientside.cxr.showAnyway(clicks, ids) -> the shown-anyway store's value, {"study": id}
 * (pattern-matching ALL: one entry per Show anyway button on the page, at most one). The study comes from the
 * pressed button's own id, so the store never names a study other than the one whose button was pressed. The
 * withheld numbers are not in the page: the server draws them (stamped "Shown anyway") once the store names
 * the study, and the exports read the same store.
 */
(function () {
  "use strict";

  function showAnyway(clicks, ids) {
    const noUpdate = window.dash_clientside.no_update;
    const list = Array.isArray(clicks) ? clicks : [];
    const pressed = list.findIndex(function (count) { return typeof count === "number" && count > 0; });
    const id = pressed >= 0 && Array.isArray(ids) ? ids[pressed] : null;
    if (!id || typeof id.study !== "string" || !id.study) {
      return noUpdate;
    }
    return {study: id.study};
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {showAnyway: showAnyway});
})();
