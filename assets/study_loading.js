/*
 * One study on screen (ES2017, no libraries), components/study_loading.py (see its docstring).
 *
 * Every panel named in the loading label's data-cxr-panels ({panel id: study tag id}) draws only content tagged
 * with the picked study: while its tag (a hidden element whose text is the study id, written in the same response
 * as the panel's content) is not the picked study, the panel has data-cxr-loading="Loading CXR90015…", which
 * study_loading.css turns into a loading state (its content hidden, that text in its place). <body> has the class
 * cxr-study-stale, and the label at the top says the same, while any panel on the page is loading.
 * The state is applied
 *   - by a MutationObserver on the picker's own DOM: in the very frame the picker shows the new name, before any
 *     Dash callback runs (Dash holds a callback on the picker back behind the callbacks in flight);
 *   - by a MutationObserver on the study tags: in the very frame a panel's content and its tag land.
 * window.dash_clientside.cxr.explanationReady(ready, picked, shown) passes each phase of a background job
 * (explanation-phase) and its end (explanation-ready) on only while its study is still the picked one (older jobs
 * are dropped), each once: to the study callback (study-refresh, with set_props) for the circles, or when the study
 * is not drawn yet; to the evidence callback (evidence-refresh) for the evidence of a study already drawn.
 * window.dash_clientside.cxr.storeTag(data, shown) is the tag of a panel drawn in the browser from a store.
 * Python mirrors: components/study_loading.py (loading_state, store_tag, study_title); the constants repeat it.
 */
(function () {
  "use strict";
  const STALE_CLASS = "cxr-study-stale";
  const TAG_CLASS = "cxr-study-tag";
  const LOADING_ATTRIBUTE = "data-cxr-loading";
  const IMAGE_LOADING_ATTRIBUTE = "data-cxr-image-loading";
  const PROBABILITY_SEPARATOR = " · P(abnormal) ";
  const UPLOADED_LABEL_PREFIX = "Uploaded: ";
  const STUDY_REFRESH_ID = "study-refresh";
  const EVIDENCE_REFRESH_ID = "evidence-refresh";
  const CIRCLES_PHASE = "circles";
  const LABEL_ID = "study-loading";
  const LABEL_TEXT_ID = "study-loading-text";

  function studyTitle(picked, options) {
    if (typeof picked !== "string") {
      return "";
    }
    const list = Array.isArray(options) ? options : [];
    for (const option of list) {
      if (option && typeof option === "object" && option.value === picked) {
        // (The worklist may put a review mark in front of the label: an upload is found by its prefix anywhere.)
        const label = String(option.label === undefined ? picked : option.label).split(PROBABILITY_SEPARATOR)[0];
        const upload = label.indexOf(UPLOADED_LABEL_PREFIX);
        if (upload >= 0) {
          return label.slice(upload + UPLOADED_LABEL_PREFIX.length);
        }
        return picked;
      }
    }
    return picked;
  }

  // The panels whose content is tagged with another study than the picked one, and what stands in their place.
  function loadingState(picked, tags, options) {
    const wanted = typeof picked === "string" ? picked : "";
    const panels = Object.keys(tags || {}).filter(function (panel) {
      return (typeof tags[panel] === "string" ? tags[panel] : "") !== wanted;
    });
    const title = studyTitle(picked, options);
    const label = panels.length ? (title ? "Loading " + title + "…" : "Loading…") : "";
    return {panels: panels, label: label};
  }

  function storeTag(data, shown) {
    const study = shown && typeof shown === "object" && !Array.isArray(shown) && typeof shown.study === "string" ?
      shown.study : null;
    if (data === null || data === undefined ||
        (typeof data === "object" && !Array.isArray(data) && data.study === study && study !== null)) {
      return study === null ? "" : study;
    }
    return "";
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

  function panelsOf(label) {
    try {
      const panels = JSON.parse(label.dataset.cxrPanels || "{}");
      return panels && typeof panels === "object" ? panels : {};
    } catch (error) {
      return {};
    }
  }

  // The state of the moment: the picker's value in Dash, each panel's tag as the page shows it now.
  function applyNow(label, panels) {
    const picker = dashProps(label.dataset.cxrPicker);
    if (!picker) {
      return;
    }
    const tags = {};
    Object.keys(panels).forEach(function (panel) {
      const tag = document.getElementById(panels[panel]);
      if (document.getElementById(panel)) {
        tags[panel] = tag ? tag.textContent : "";
      }
    });
    const state = loadingState(picker.value, tags, picker.options);
    Object.keys(tags).forEach(function (panel) {
      const element = document.getElementById(panel);
      if (state.panels.indexOf(panel) >= 0) {
        if (element.getAttribute(LOADING_ATTRIBUTE) !== state.label) {
          element.setAttribute(LOADING_ATTRIBUTE, state.label);
        }
      } else if (element.hasAttribute(LOADING_ATTRIBUTE)) {
        element.removeAttribute(LOADING_ATTRIBUTE);
      }
    });
    // The label speaks for the panels on the page: not the hidden side-by-side column, a closed section, or the
    // "cancelled" notice while it is not shown.
    const onPage = state.panels.filter(function (panel) {
      const element = document.getElementById(panel);
      return typeof element.checkVisibility === "function" ? element.checkVisibility() : element.offsetParent !== null;
    });
    const said = onPage.length ? state.label : "";
    const text = document.getElementById(LABEL_TEXT_ID);
    if (text && text.textContent !== said) {
      text.textContent = said;
    }
    document.body.classList.toggle(STALE_CLASS, onPage.length > 0);
  }

  let handedOver = "";  // the job phase passed on last (Dash may hand the same progress value over again)

  function explanationReady(ready, picked, shown) {
    const clientside = window.dash_clientside || {};
    if (!ready || typeof ready !== "object" || ready.study !== picked) {
      return clientside.no_update;  // a job for a study that is no longer picked: dropped
    }
    const key = JSON.stringify([ready.study, ready.request, ready.phase, ready.finished]);
    if (key === handedOver) {
      return clientside.no_update;
    }
    handedOver = key;
    const drawn = Boolean(shown && typeof shown === "object" && shown.study === picked && shown.drawn === true);
    const target = ready.phase === CIRCLES_PHASE || !drawn ? STUDY_REFRESH_ID : EVIDENCE_REFRESH_ID;
    if (typeof clientside.set_props === "function") {
      clientside.set_props(target, {data: ready});
    }
    return ready.finished === undefined ? null : ready.finished;
  }

  // shown-study -> shown-study-painted (components/study_loading.py SHOWN_STUDY_PAINTED_ID, whose id is handed in):
  // set after the next painted frame (requestAnimationFrame, then a task), or after the loading label's
  // data-cxr-paint-fallback-ms when no frame comes (a hidden tab). A newer value replaces one still waiting.
  let paintRelay = null;

  function relayAfterPaint(shown, paintedId) {
    const clientside = window.dash_clientside || {};
    if (typeof clientside.set_props !== "function" || typeof requestAnimationFrame !== "function") {
      return shown;  // no way to wait: at once
    }
    if (paintRelay !== null) {
      paintRelay.cancel();
    }
    const label = typeof document !== "undefined" ? document.getElementById(LABEL_ID) : null;
    const fallback = label ? parseInt(label.dataset.cxrPaintFallbackMs, 10) : NaN;
    let done = false;
    const relay = {};
    const send = function () {
      if (done) { return; }
      done = true;
      relay.cancel();
      paintRelay = null;
      clientside.set_props(paintedId, {data: shown});
    };
    const frame = requestAnimationFrame(function () { relay.task = setTimeout(send, 0); });
    const late = setTimeout(send, Number.isFinite(fallback) ? fallback : 0);
    relay.cancel = function () {
      done = true;
      cancelAnimationFrame(frame);
      clearTimeout(late);
      if (relay.task !== undefined) { clearTimeout(relay.task); }
    };
    paintRelay = relay;
    return clientside.no_update;
  }

  // Watch the picker and the tags once the page has rendered them (Dash renders the layout after the assets load).
  function watch() {
    const label = document.getElementById(LABEL_ID);
    const picker = label ? document.getElementById(label.dataset.cxrPicker) : null;
    if (!label || !picker) {
      return false;
    }
    const panels = panelsOf(label);
    const update = function () { applyNow(label, panels); };
    new MutationObserver(update).observe(picker, {childList: true, subtree: true, characterData: true});
    const tags = new MutationObserver(update);
    document.querySelectorAll("." + TAG_CLASS).forEach(function (tag) {
      tags.observe(tag, {childList: true, subtree: true, characterData: true});
    });
    update();
    return true;
  }

  // An image of a figure (the radiograph, an overlay) whose file is still loading is hidden until it has loaded: an
  // SVG <image> keeps drawing its previous file meanwhile, which would put the previous study's film under the new
  // study's circles. Plotly sets the new URL at once; its load (or error) event clears the mark.
  const XLINK = "http://www.w3.org/1999/xlink";

  function imageSource(image) {
    return image.getAttributeNS(XLINK, "href") || image.getAttribute("href") || "";
  }

  function markLoading(image) {
    const source = imageSource(image);
    if (source && source.slice(0, 5) !== "data:") {
      image.setAttribute(IMAGE_LOADING_ATTRIBUTE, "");
    } else {
      image.removeAttribute(IMAGE_LOADING_ATTRIBUTE);  // a data URI is drawn as it is set
    }
  }

  function watchImages() {
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.type === "attributes" && record.attributeName === "href" && record.target.localName === "image") {
          markLoading(record.target);
        }
        Array.prototype.forEach.call(record.addedNodes || [], function (node) {
          if (node.nodeType !== 1) { return; }
          (node.localName === "image" ? [node] : Array.from(node.querySelectorAll("image"))).forEach(markLoading);
        });
      });
    // (No attributeFilter: it never matches a namespaced attribute, and Plotly sets xlink:href.)
    }).observe(document.documentElement, {subtree: true, childList: true, attributes: true});
    const loaded = function (event) {
      if (event.target && event.target.localName === "image") {
        event.target.removeAttribute(IMAGE_LOADING_ATTRIBUTE);
      }
    };
    document.addEventListener("load", loaded, true);
    document.addEventListener("error", loaded, true);
  }

  if (typeof document !== "undefined" && typeof MutationObserver !== "undefined" && document.documentElement) {
    watchImages();
    const waiting = new MutationObserver(function () {
      if (watch()) {
        waiting.disconnect();
      }
    });
    waiting.observe(document.documentElement, {childList: true, subtree: true});
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {
    explanationReady: explanationReady,
    loadingState: loadingState,
    relayAfterPaint: relayAfterPaint,
    storeTag: storeTag,
    studyTitle: studyTitle,
  });
})();
