/*
 * The view in the address bar (ES2017, no libraries), registered by components/url_state.py (see its docstring).
 *
 * window.dash_clientside.cxr.syncView(search, study, compare, tau, defaults, options)
 *     -> [url search, picker value, slider value, compare value, link-message children, link-message style,
 *         link-note children, link-note style]
 *     URL changed (load, Back, Forward): restore the view from it (a τ moved onto the slider's range or grid is
 *     said once in link-note, and the address is replaced by the one naming the τ shown); picker or switch
 *     changed: write the URL (?study=<id>… for a bundled study, ?upload=<id>… for an upload of this page).
 * window.dash_clientside.cxr.copyLink(clicks, study, tau, compare, defaults) -> [status, link box value, style]
 * window.dash_clientside.cxr.panelLabelsFor(compare, tau, compareTau, defaults) -> the side-by-side labels
 * Pure mirrors of components/url_state.py (tests run both): restoreView, tauNote, viewSearch, panelLabels.
 * The slider's range and grid come from the page (view-defaults' tau_range: threshold_control.SLIDER_RANGE).
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
  const MAX_SHOWN_TAU = 12;
  const UPLOAD_PARAMETER = "upload";
  const UPLOAD_GONE_MESSAGE = "The upload this address named is gone: an upload stays only in the page it was " +
    "analyzed in, and a reload or another browser does not have it. Upload it again, or pick a study from the list.";
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

  // Python's format(value, "g") for the slider's range and step (0, 1, 0.02).
  function general(value) {
    return String(Number(value));
  }

  // What the page says when a link's τ opened at another τ than it names (url_state.tau_note).
  function tauNote(text, tau, range) {
    if (text === null || tau === null || !range) {
      return null;
    }
    const value = Number(text);
    const inside = value >= range.min && value <= range.max;
    if (inside && value === tau) {
      return null;
    }
    let written = text.trim();
    written = written.length <= MAX_SHOWN_TAU ? written : written.slice(0, MAX_SHOWN_TAU - 1) + "…";
    const where = inside ? "between the slider's steps" : "outside the slider's range";
    return "τ " + written + " from the link is " + where + " (" + general(range.min) + "–" + general(range.max) +
      " in steps of " + general(range.step) + "): shown at τ " + tau.toFixed(2) + ".";
  }

  // The view a URL's query names (url_state.restore_view).
  function restoreView(search, studies, defaultStudy, defaultTau, uploads, range) {
    const query = new URLSearchParams((search || "").replace(/^\?/, ""));
    let study = first(query, ["study"]);
    const tauText = first(query, ["tau", "threshold"]);
    const tau = parseTau(tauText);
    const compare = COMPARE_ON.indexOf((first(query, ["compare"]) || "").trim().toLowerCase()) >= 0;
    let message = null;
    if (study === null && query.has(UPLOAD_PARAMETER)) {
      const upload = first(query, [UPLOAD_PARAMETER]);
      if (Array.isArray(uploads) && upload !== null && uploads.indexOf(upload) >= 0) {
        study = upload;
      } else {
        message = UPLOAD_GONE_MESSAGE;
      }
    } else if (study === null) {
      study = defaultStudy === undefined ? null : defaultStudy;
    } else if (!Array.isArray(studies) || studies.indexOf(study) < 0) {
      message = unknownStudyMessage(study);
      study = null;
    }
    return {study: study, tau: tau === null ? snap(defaultTau) : tau, compare: compare, message: message,
            note: tauNote(tauText, tau, range)};
  }

  // Like Python's urllib.parse.quote_plus(value, safe=""): letters, digits and _.-~ stay, spaces become "+".
  function encodePart(value) {
    return encodeURIComponent(value).replace(/[!'()*]/g, function (character) {
      return "%" + character.charCodeAt(0).toString(16).toUpperCase();
    }).replace(/%20/g, "+");
  }

  // ?study=<id>&tau=<snapped, 2 decimals>[&compare=1], ?upload=<id>&… for an upload (url_state.view_search).
  function viewSearch(study, tau, compare, upload) {
    return "?" + (upload ? UPLOAD_PARAMETER : "study") + "=" + encodePart(study) + "&tau=" + snap(tau).toFixed(2) +
      (compare ? "&compare=1" : "");
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
            tau: defaults ? defaults.tau : null, range: defaults ? defaults.tau_range : null};
  }

  function shareable(study, defaults) {
    return typeof study === "string" && defaultsOf(defaults).studies.indexOf(study) >= 0;
  }

  // The uploads of this page: the picker's options that are not bundled studies (upload_panel adds them).
  function uploadsOf(options, defaults) {
    const studies = defaultsOf(defaults).studies;
    return (Array.isArray(options) ? options : []).map(function (option) { return option && option.value; })
      .filter(function (value) { return typeof value === "string" && studies.indexOf(value) < 0; });
  }

  // The address can name it: a bundled study, or an upload of this page.
  function addressable(study, defaults, options) {
    return shareable(study, defaults) || uploadsOf(options, defaults).indexOf(study) >= 0;
  }

  function searchFor(study, tau, compare, defaults) {
    return viewSearch(study, tau, compare, !shareable(study, defaults));
  }

  // True when search already names this view (so nothing is pushed twice; "tau=0.3" names 0.30 too).
  function sameView(search, study, tau, compare, defaults, options) {
    const known = defaultsOf(defaults);
    const named = restoreView(search, known.studies, known.study, known.tau, uploadsOf(options, defaults), known.range);
    return named.study === study && named.tau === snap(tau) && named.compare === Boolean(compare);
  }

  // The address this script wrote in place of a link's (replaceAddress), until dcc.Location reports it back.
  let replacedSearch = null;

  // The address bar names the τ shown, without a new history entry. After dcc.Location has taken in the link
  // (it pushes an entry of its own when its props and the address differ), then dcc.Location is told the new
  // address, which it finds already there (so it pushes nothing).
  function replaceAddress(search) {
    if (typeof history === "undefined" || !history.replaceState || typeof window.location === "undefined") {
      return;
    }
    replacedSearch = search;
    setTimeout(function () {
      history.replaceState(history.state, "", window.location.pathname + search + window.location.hash);
      setProps(URL_ID, {search: search, href: window.location.href});
    }, 0);
  }

  function triggeredIds() {
    const context = window.dash_clientside.callback_context;
    return context && Array.isArray(context.triggered) ? context.triggered.map(function (item) { return item.prop_id; })
      : [];
  }

  // The one URL <-> view callback (its argument order: inputs search, study, compare; states tau, defaults,
  // the picker's options).
  function syncView(search, study, compare, tau, defaults, options) {
    const triggered = triggeredIds();
    const byUser = triggered.indexOf(PICKER_ID + ".value") >= 0 || triggered.indexOf(COMPARE_ID + ".value") >= 0;
    const byUrl = triggered.indexOf(URL_ID + ".search") >= 0 || !byUser;
    const nothing = noUpdate();
    if (byUrl) {
      if (typeof search !== "string") {
        // dcc.Location has not read the address yet
        return [nothing, nothing, nothing, nothing, nothing, nothing, nothing, nothing];
      }
      if (search === replacedSearch) {
        replacedSearch = null;
        return [nothing, nothing, nothing, nothing, nothing, nothing, nothing, nothing];  // restored: the note stays
      }
      const known = defaultsOf(defaults);
      const view = restoreView(search, known.studies, known.study, known.tau, uploadsOf(options, defaults),
                               known.range);
      if (view.note !== null && view.study !== null) {
        replaceAddress(searchFor(view.study, view.tau, view.compare, defaults));
      }
      return [
        nothing,
        view.study === (study === undefined ? null : study) ? nothing : view.study,
        view.tau === null || view.tau === snap(tau) ? nothing : view.tau,
        view.compare === Boolean(compare) ? nothing : view.compare,
        view.message === null ? null : view.message,
        view.message === null ? HIDDEN : SHOWN,
        view.note,
        view.note === null ? HIDDEN : SHOWN,
      ];
    }
    // The user picked a study (or an upload) or flipped the switch: a new history entry, unless nothing changed.
    if (!addressable(study, defaults, options) || snap(tau) === null ||
        sameView(search, study, tau, compare, defaults, options)) {
      return [nothing, nothing, nothing, nothing, null, HIDDEN, null, HIDDEN];
    }
    return [searchFor(study, tau, compare, defaults), nothing, nothing, nothing, null, HIDDEN, null, HIDDEN];
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
      const picker = dashProps(PICKER_ID) || {};
      if (addressable(picker.value, defaults, picker.options) && snap(detail.tau) !== null &&
          !sameView(window.location.search, picker.value, detail.tau, compare, defaults, picker.options)) {
        // dcc.Location pushes the entry
        setProps(URL_ID, {search: searchFor(picker.value, detail.tau, compare, defaults)});
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
    tauNote: tauNote,
    viewSearch: viewSearch,
    panelLabels: panelLabels,
  });
})();
