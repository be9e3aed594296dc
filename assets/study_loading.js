/*
 * Switching studies (ES2017, no libraries), components/study_loading.py.
 *
 * While the picked study is not the one the page shows (the shown-study store, set by the study callback in the
 * same response as the radiograph, prediction and report), <body> has the class cxr-study-stale: the columns
 * named by the label's data-cxr-columns are dimmed and not clickable, and the label says "Loading CXR90015…".
 * While the word heatmap, strongest words and sweep chart (data-cxr-details; filled by a second callback, which
 * sets details-study) are not the picked study's, <body> has cxr-details-stale, which dims them.
 * The state is applied
 *   - by a MutationObserver on the picker's own DOM: in the very frame the picker shows the new name, before any
 *     Dash callback runs (Dash holds a callback on the picker back behind the callbacks in flight);
 *   - by window.dash_clientside.cxr.studyShown(), the clientside callbacks on shown-study and on details-study:
 *     when a response lands (a response for an older pick leaves it dimmed).
 * window.dash_clientside.cxr.explanationReady(ready, picked) passes a finished background job on to the study
 * callback (study-refresh, with set_props) only while its study is still the picked one: older jobs are dropped.
 * Python mirrors: components/study_loading.py (loading_state, study_title); the constants repeat it.
 */
(function () {
  "use strict";
  const STALE_CLASS = "cxr-study-stale";
  const DETAILS_STALE_CLASS = "cxr-details-stale";
  const LABEL_SEPARATOR = " — ";
  const PROBABILITY_SEPARATOR = " · P(abnormal) ";
  const UPLOADED_LABEL_PREFIX = "Uploaded: ";
  const STUDY_REFRESH_ID = "study-refresh";
  const LABEL_ID = "study-loading";
  const LABEL_TEXT_ID = "study-loading-text";
  const RULE_ID = "cxr-study-stale-rule";

  function studyTitle(picked, options) {
    if (typeof picked !== "string") {
      return "";
    }
    const list = Array.isArray(options) ? options : [];
    for (const option of list) {
      if (option && typeof option === "object" && option.value === picked) {
        const label = String(option.label === undefined ? picked : option.label).split(PROBABILITY_SEPARATOR)[0];
        if (label.startsWith(UPLOADED_LABEL_PREFIX)) {
          return label.slice(UPLOADED_LABEL_PREFIX.length);
        }
        return label.split(LABEL_SEPARATOR)[0];
      }
    }
    return picked;
  }

  function studyOf(marker) {
    return marker && typeof marker === "object" && !Array.isArray(marker) && marker.study !== undefined ?
      marker.study : null;
  }

  function loadingState(picked, shown, details, options) {
    const pickedStudy = typeof picked === "string" && picked !== "";
    const stale = pickedStudy && picked !== studyOf(shown);
    return {stale: stale, details_stale: pickedStudy && picked !== studyOf(details),
            label: stale ? "Loading " + studyTitle(picked, options) + "…" : ""};
  }

  function dashProps(id) {
    const api = window.dash_component_api;
    try {
      const node = id && api && api.getLayout ? api.getLayout(id) : null;
      return node && node.props ? node.props : null;
    } catch (error) {
      return null;
    }
  }

  // The dimming rules, built from the ids the label names (one <style>, installed once).
  function installRule(label) {
    if (document.getElementById(RULE_ID)) {
      return;
    }
    function rule(className, ids) {
      const selectors = (ids || "").split(/\s+/).filter(Boolean).map(function (id) {
        return "body." + className + " #" + id;
      });
      return selectors.length ? selectors.join(", ") + " { opacity: 0.35; pointer-events: none; }\n" : "";
    }
    const style = document.createElement("style");
    style.id = RULE_ID;
    style.textContent = rule(STALE_CLASS, label.dataset.cxrColumns) + rule(DETAILS_STALE_CLASS,
                                                                           label.dataset.cxrDetails);
    document.head.appendChild(style);
  }

  function apply(picked, shown, details, options) {
    const state = loadingState(picked, shown, details, options);
    const text = document.getElementById(LABEL_TEXT_ID);
    if (text && text.textContent !== state.label) {
      text.textContent = state.label;
    }
    document.body.classList.toggle(STALE_CLASS, state.stale);
    document.body.classList.toggle(DETAILS_STALE_CLASS, state.details_stale);
    return state;
  }

  // From the Dash state of the moment (the picker's value is in the store before the picker shows it).
  function applyNow(label) {
    const picker = dashProps(label.dataset.cxrPicker);
    const shown = dashProps(label.dataset.cxrShown);
    const details = dashProps(label.dataset.cxrDetailsShown);
    if (picker) {
      apply(picker.value, shown ? shown.data : null, details ? details.data : null, picker.options);
    }
  }

  // A study response (shown-study) or its words (details-study) landed: apply the state of the moment.
  function studyShown() {
    const label = typeof document !== "undefined" ? document.getElementById(LABEL_ID) : null;
    if (label) {
      applyNow(label);
    }
    return window.dash_clientside.no_update;
  }

  function explanationReady(ready, picked) {
    const clientside = window.dash_clientside || {};
    if (!ready || typeof ready !== "object" || ready.study !== picked) {
      return clientside.no_update;  // a job for a study that is no longer picked: dropped
    }
    if (typeof clientside.set_props === "function") {
      clientside.set_props(STUDY_REFRESH_ID, {data: ready});
    }
    return ready.finished === undefined ? null : ready.finished;
  }

  // Watch the picker once the page has rendered it (Dash renders the layout after the assets load).
  function watch() {
    const label = document.getElementById(LABEL_ID);
    const picker = label ? document.getElementById(label.dataset.cxrPicker) : null;
    if (!label || !picker) {
      return false;
    }
    installRule(label);
    new MutationObserver(function () { applyNow(label); }).observe(picker, {
      childList: true, subtree: true, characterData: true,
    });
    applyNow(label);
    return true;
  }

  if (typeof document !== "undefined" && typeof MutationObserver !== "undefined" && document.documentElement) {
    const waiting = new MutationObserver(function () {
      if (watch()) {
        waiting.disconnect();
      }
    });
    waiting.observe(document.documentElement, {childList: true, subtree: true});
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {
    studyShown: studyShown,
    explanationReady: explanationReady,
    loadingState: loadingState,
    studyTitle: studyTitle,
  });
})();
