/*
 * The view in the address bar (ES2017, no libraries), registered by components/url_state.py (see its docstring).
 *
 * window.dash_clientside.cxr.syncView(search, study, compare, tau, defaults)
 *     -> [url search, picker value, slider value, compare value, link-message children, link-message style]
 *     URL changed (load, Back, Forward): restore the view from it; picker or switch changed: write the URL.
 * window.dash_clientside.cxr.copyLink(clicks, study, tau, compare, defaults) -> [status, link box value, style]
 * window.dash_clientside.cxr.panelLabelsFor(compare, tau, compareTau, defaults) -> the side-by-side labels
 * Pure mirrors of components/url_state.py (tests run both): restoreView, viewSearch, panelLabels.
 *
 * After the slider rests (assets/threshold.js announces "cxr:slider-rest"), the main slider's τ goes into the URL
 * with set_props on the dcc.Location (one history entry per rest, never per move), and the side-by-side labels
 * follow. τ is always snapped with cxr.snapSightSensitivity (assets/threshold.js), the rule every view uses.
 * Nothing here calls the server.
 */
(function () {
  "use strict";

  const URL_ID = "url";
  const PICKER_ID = "study-picker";
  const COMPARE_ID = "compare-mode";
  const MAIN_SLIDER_ID = "sight-sensitivity";
  const COMPARE_SLIDER_ID = "sight-sensitivity-compare";
  const VIEW_DEFAULTS_ID = "view-defaults";
  const PANEL_LABEL_ID = "panel-label";
  const COMPARE_SUFFIX = "-compare";
  const SHARE_LINK_ID = "share-link";
  const MAX_SHOWN_ID = 60;
  const HIDDEN = {display: "none"};
  const SHOWN = {display: "block"};
  const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
  const COMPARE_ON = ["1", "true", "on", "yes"];

  const namespace = (window.dash_clientside = window.dash_clientside || {});
  namespace.cxr = namespace.cxr || {};

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  function snap(value) {
    const rule = window.dash_clientside.cxr.snapSightSensitivity;  // assets/threshold.js
    return typeof rule === "function" ? rule(value) : null;
  }

  // The first non-empty value of the first name present (URLSearchParams decodes like Python's parse_qs).
  function first(query, names) {
    for (const name of names) {
      const values = query.getAll(name).filter(function (value) { return value !== ""; });
      if (values.length > 0) {
        return values[0];
      }
    }
    return null;
  }

  function parseTau(text) {
    if (text === null || !NUMBER.test(text)) {
      return null;
    }
    const value = Number(text);
    return isFinite(value) ? snap(value) : null;
  }

  function unknownStudyMessage(studyId) {
    const shown = studyId.length <= MAX_SHOWN_ID ? studyId : studyId.slice(0, MAX_SHOWN_ID - 1) + "…";
    return "No study " + shown + " here; pick one from the list.";
  }

  // The view a URL's query names (url_state.restore_view).
  function restoreView(search, studies, defaultStudy, defaultTau) {
    const query = new URLSearchParams((search || "").replace(/^\?/, ""));
    let study = first(query, ["study"]);
    const tau = parseTau(first(query, ["tau", "threshold"]));
    const compare = COMPARE_ON.indexOf((first(query, ["compare"]) || "").trim().toLowerCase()) >= 0;
    let message = null;
    if (study === null) {
      study = defaultStudy === undefined ? null : defaultStudy;
    } else if (!Array.isArray(studies) || studies.indexOf(study) < 0) {
      message = unknownStudyMessage(study);
      study = null;
    }
    return {study: study, tau: tau === null ? snap(defaultTau) : tau, compare: compare, message: message};
  }

  // Like Python's urllib.parse.quote_plus(value, safe=""): letters, digits and _.-~ stay, spaces become "+".
  function encodePart(value) {
    return encodeURIComponent(value).replace(/[!'()*]/g, function (character) {
      return "%" + character.charCodeAt(0).toString(16).toUpperCase();
    }).replace(/%20/g, "+");
  }

  // ?study=<id>&tau=<snapped, 2 decimals>[&compare=1] (url_state.view_search).
  function viewSearch(study, tau, compare) {
    return "?study=" + encodePart(study) + "&tau=" + snap(tau).toFixed(2) + (compare ? "&compare=1" : "");
  }

  // The side-by-side panels' labels (url_state.panel_labels).
  function panelLabels(mainTau, compareTau, defaultTau) {
    const main = snap(mainTau);
    const second = snap(compareTau);
    const defaultValue = snap(defaultTau);
    function label(tau, other) {
      if (tau === null) {
        return "";
      }
      let note;
      if (tau === defaultValue) {
        note = "default";
      } else if (other === null || tau === other) {
        note = "same τ";
      } else {
        note = tau < other ? "more regions" : "fewer regions";
      }
      return "τ " + tau.toFixed(2) + " (" + note + ")";
    }
    return [label(main, second), label(second, main)];
  }

  function defaultsOf(defaults) {
    return {studies: (defaults && defaults.studies) || [], study: defaults ? defaults.default_study : null,
            tau: defaults ? defaults.tau : null};
  }

  function shareable(study, defaults) {
    return typeof study === "string" && defaultsOf(defaults).studies.indexOf(study) >= 0;
  }

  // True when search already names this view (so nothing is pushed twice; "tau=0.3" names 0.30 too).
  function sameView(search, study, tau, compare, defaults) {
    const named = restoreView(search, defaultsOf(defaults).studies, defaultsOf(defaults).study, defaultsOf(defaults).tau);
    return named.study === study && named.tau === snap(tau) && named.compare === Boolean(compare);
  }

  function triggeredIds() {
    const context = window.dash_clientside.callback_context;
    return context && Array.isArray(context.triggered) ? context.triggered.map(function (item) { return item.prop_id; })
      : [];
  }

  // The one URL <-> view callback (its argument order: inputs search, study, compare; states tau, defaults).
  function syncView(search, study, compare, tau, defaults) {
    const triggered = triggeredIds();
    const byUser = triggered.indexOf(PICKER_ID + ".value") >= 0 || triggered.indexOf(COMPARE_ID + ".value") >= 0;
    const byUrl = triggered.indexOf(URL_ID + ".search") >= 0 || !byUser;
    const nothing = noUpdate();
    if (byUrl) {
      if (typeof search !== "string") {
        return [nothing, nothing, nothing, nothing, nothing, nothing];  // dcc.Location has not read the address yet
      }
      const known = defaultsOf(defaults);
      const view = restoreView(search, known.studies, known.study, known.tau);
      return [
        nothing,
        view.study === (study === undefined ? null : study) ? nothing : view.study,
        view.tau === null || view.tau === snap(tau) ? nothing : view.tau,
        view.compare === Boolean(compare) ? nothing : view.compare,
        view.message === null ? null : view.message,
        view.message === null ? HIDDEN : SHOWN,
      ];
    }
    // The user picked a study (or an upload) or flipped the switch: a new history entry, unless nothing changed.
    if (!shareable(study, defaults) || snap(tau) === null || sameView(search, study, tau, compare, defaults)) {
      return [nothing, nothing, nothing, nothing, null, HIDDEN];
    }
    return [viewSearch(study, tau, compare), nothing, nothing, nothing, null, HIDDEN];
  }

  function dashProps(id) {
    const api = window.dash_component_api;
    try {
      const node = api && api.getLayout ? api.getLayout(id) : null;
      return node && node.props ? node.props : null;
    } catch (error) {
      return null;
    }
  }

  function setProps(id, props) {
    if (window.dash_clientside && typeof window.dash_clientside.set_props === "function") {
      window.dash_clientside.set_props(id, props);
    }
  }

  function handleValue(sliderId) {
    const handle = document.querySelector("#" + sliderId + " [role=slider]");
    const value = handle ? parseFloat(handle.getAttribute("aria-valuenow")) : NaN;
    return Number.isFinite(value) ? value : null;
  }

  // The slider rested (assets/threshold.js): the main τ into the URL, both τ into the side-by-side labels.
  function sliderRested(event) {
    const detail = event.detail || {};
    const container = detail.control ? detail.control.querySelector(".dash-slider-container") : null;
    const sliderId = container ? container.id : null;
    const defaults = (dashProps(VIEW_DEFAULTS_ID) || {}).data;
    const compare = Boolean((dashProps(COMPARE_ID) || {}).value);
    if (sliderId === MAIN_SLIDER_ID) {
      const study = (dashProps(PICKER_ID) || {}).value;
      if (shareable(study, defaults) && snap(detail.tau) !== null &&
          !sameView(window.location.search, study, detail.tau, compare, defaults)) {
        setProps(URL_ID, {search: viewSearch(study, detail.tau, compare)});  // dcc.Location pushes the entry
      }
    }
    if (compare) {
      const labels = panelLabels(handleValue(MAIN_SLIDER_ID), handleValue(COMPARE_SLIDER_ID), defaultsOf(defaults).tau);
      setProps(PANEL_LABEL_ID, {children: labels[0]});
      setProps(PANEL_LABEL_ID + COMPARE_SUFFIX, {children: labels[1]});
    }
  }

  // Side by side switched: the panels' labels, shown only while it is on.
  function panelLabelsFor(compare, tau, compareTau, defaults) {
    if (!compare) {
      return ["", "", HIDDEN, HIDDEN];
    }
    const labels = panelLabels(tau, compareTau, defaultsOf(defaults).tau);
    return [labels[0], labels[1], SHOWN, SHOWN];
  }

  // "Copy link": the current view's link to the clipboard, and into the read-only box (the fallback).
  function copyLink(clicks, study, tau, compare, defaults) {
    if (!shareable(study, defaults)) {
      const reason = study ? "An upload stays in this page: it cannot be shared by link." : "Pick a study first.";
      return [reason, "", HIDDEN];
    }
    const link = window.location.origin + window.location.pathname + viewSearch(study, tau, compare);
    const shown = Object.assign({}, SHOWN, {width: "auto", minWidth: "22em", flex: "1 1 auto"});
    function fallback() {
      setTimeout(function () {
        const box = document.getElementById(SHARE_LINK_ID);
        if (box) {
          box.focus();
          box.select();
        }
      }, 0);
      return ["Copy the link from the box:", link, shown];
    }
    const clipboard = typeof navigator !== "undefined" ? navigator.clipboard : null;
    if (!clipboard || typeof clipboard.writeText !== "function") {
      return fallback();
    }
    return clipboard.writeText(link).then(function () {
      return ["Link copied.", link, shown];
    }, fallback);
  }

  // The slider handles get an accessible name (dcc.Slider has no prop for it): the control's label, and which panel.
  function labelSliders() {
    if (typeof document === "undefined") {
      return 0;
    }
    let missing = 0;
    document.querySelectorAll(".threshold-control").forEach(function (control) {
      const handle = control.querySelector("[role=slider]");
      if (!handle) {
        missing += 1;
        return;
      }
      if (!handle.getAttribute("aria-label")) {
        const label = control.querySelector("label");
        const second = (control.dataset.cxrGraph || "").endsWith(COMPARE_SUFFIX);
        handle.setAttribute("aria-label", (label ? label.textContent.trim() : "Sight sensitivity τ") +
          (second ? ", second panel" : ""));
      }
    });
    return document.querySelectorAll(".threshold-control").length === 0 ? 1 : missing;
  }

  if (typeof document !== "undefined" && typeof MutationObserver !== "undefined") {
    document.addEventListener("cxr:slider-rest", sliderRested);
    document.addEventListener("focusin", function (event) {
      if (event.target && event.target.getAttribute && event.target.getAttribute("role") === "slider") {
        labelSliders();
      }
    });
    // Until the sliders have rendered; then it stops (slider moves never run it).
    const labeller = new MutationObserver(function () {
      if (labelSliders() === 0) {
        labeller.disconnect();
      }
    });
    labeller.observe(document.documentElement, {childList: true, subtree: true});
  }

  Object.assign(namespace.cxr, {
    syncView: syncView,
    copyLink: copyLink,
    panelLabelsFor: panelLabelsFor,
    restoreView: restoreView,
    viewSearch: viewSearch,
    panelLabels: panelLabels,
  });
})();
