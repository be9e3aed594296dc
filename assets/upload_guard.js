/*
 * The upload form's X-ray choice (ES2017, no libraries): a new choice replaces the previous one at once.
 *
 * dcc.Upload fires nothing for a file over its max_size (react-dropzone rejects it silently), so the previous
 * file's contents stayed and Analyze explained that one. This script listens (capture phase, before
 * react-dropzone) to the file input's `change` and the drop zone's `drop` inside every `.upload-guard`, whose
 * data-cxr-* attributes give the cap and the ids (components/upload_panel.py), and on each new file:
 *   - clears the previous choice (upload contents and filename) with dash_clientside.set_props, so Analyze can
 *     only ever send the file chosen last (an accepted file's contents arrive when dcc.Upload has read it);
 *   - over the cap: says so, with the size, the limit and what to do (oversizeMessage; Python mirror
 *     components.upload_panel.oversize_message), and the name line is emptied;
 *   - otherwise: "Reading <name>…" until dcc.Upload's contents arrive ("Chosen: <name>", a server callback).
 */
(function () {
  "use strict";
  const GUARD_SELECTOR = ".upload-guard[data-cxr-max-bytes]";
  const MEGABYTE = 1048576;

  function oversizeMessage(filename, size, limitText) {
    return "X-ray file not used: \u201c" + filename + "\u201d is " + (size / MEGABYTE).toFixed(1) + " MB, over the " +
      limitText + " MB limit. The previously chosen file was cleared too. Choose a smaller file, for example the " +
      "X-ray exported as PNG or JPEG.";
  }

  function setProps(id, props) {
    const clientside = window.dash_clientside;
    if (id && clientside && typeof clientside.set_props === "function") {
      clientside.set_props(id, props);
    }
  }

  function warning(message) {
    return {namespace: "dash_bootstrap_components", type: "Alert",
            props: {children: message, color: "warning", dismissable: true, className: "py-2 mb-0"}};
  }

  function fileChosen(guard, file) {
    const ids = guard.dataset;
    const limit = parseInt(ids.cxrMaxBytes, 10);
    setProps(ids.cxrUpload, {contents: null, filename: null, last_modified: null});
    if (Number.isFinite(limit) && file.size > limit) {
      setProps(ids.cxrName, {children: ""});
      setProps(ids.cxrStatus, {children: warning(oversizeMessage(file.name, file.size, ids.cxrMaxLabel))});
      return;
    }
    setProps(ids.cxrName, {children: "Reading " + file.name + "…"});
    setProps(ids.cxrStatus, {children: null});
  }

  function guardOf(target) {
    return target && target.closest ? target.closest(GUARD_SELECTOR) : null;
  }

  function onChange(event) {
    const target = event.target;
    const guard = guardOf(target);
    if (guard && target.tagName === "INPUT" && target.type === "file" && target.files && target.files.length) {
      fileChosen(guard, target.files[0]);
    }
  }

  function onDrop(event) {
    const guard = guardOf(event.target);
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (guard && files && files.length) {
      fileChosen(guard, files[0]);
    }
  }

  if (typeof document !== "undefined" && typeof document.addEventListener === "function") {
    document.addEventListener("change", onChange, true);
    document.addEventListener("drop", onDrop, true);
  }
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cxr = Object.assign({}, window.dash_clientside.cxr, {oversizeMessage: oversizeMessage});
})();
