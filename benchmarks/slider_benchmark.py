"""Sight-sensitivity slider -> circles, in headless Chromium: the dashboard against a server-round-trip baseline.

    .venv/bin/python benchmarks/slider_benchmark.py [--moves 25] [--study CXR90014] [--threshold 0.5]

Needs Debian ``chromium`` and ``chromedriver`` on PATH (as the browser tests do). Everything listens on
127.0.0.1 only; every process started here is stopped here.

Candidate: the real dashboard (``app.py`` in a subprocess, fresh temporary explanation cache). The benchmark
opens ``/?study=<id>&threshold=<tau>``, waits (up to --load-timeout s: the first explanation of a study is
computed) until the X-ray graph has circles and the ``circle-sweep`` store is filled, picks two neighbouring
slider thresholds whose circles differ (the pair nearest to tau), puts the slider on the lower one with the
keyboard, and then alternates ArrowRight / ArrowLeft on the slider handle.

Baseline, same run, same browser: a minimal Dash app started by this script (another 127.0.0.1 port) with the
same figure (read from the dashboard's ``xray-graph`` props, same pixel width), the same slider and the same
circles per threshold (from the dashboard's ``circle-sweep`` store, drawn as the dashboard draws them), where
each slider move is a normal server callback returning a ``dash.Patch()`` that sets ``layout.shapes`` (and
the summary line): one server round trip per move, the design the product rejected. Controls: the same minimal
app with the same shapes set by a clientside callback (the design the dashboard had before its live path), so
that baseline / control isolates the round trip, and the same minimal app with the same shapes set by the
dashboard's live path (a MutationObserver on the handle -> ``Plotly.update`` of ``layout.shapes``, the figure
written back to Dash once the slider rests), so that live control / dashboard isolates what the full dashboard
page adds per move. All four pages draw the circles as ``layout.shapes``.

Per move: the time from the page's ``keydown`` (capture listener, ``performance.now()``) until the drawn circle
paths (``#xray-graph .shapelayer path`` ``d`` attributes) differ from before the move AND the next frame is
painted (a ``setTimeout(0)`` queued from the first ``requestAnimationFrame`` after the change); each move is
then checked to show exactly the circles of the target threshold, and after the last move the figure Dash
stores for the graph (what later redraws, the side-by-side copy and exports start from) must hold the same
circles. Breakdown columns: when a MutationObserver saw the changed paths (a microtask, so possibly after other
work of the same task), when the X-ray graph's first Plotly call (``Plotly.react`` from dcc.Graph, or
``Plotly.update`` / ``relayout`` / ``restyle``) was made and how long its synchronous part took, and the
synchronous Plotly-call time of any other graph on the page during the move. Network: every request (and
WebSocket frame) logged by the DevTools performance log during the measured moves; request bytes = request
line + request headers + body as DevTools reports them, response bytes = ``encodedDataLength`` (headers + body
on the wire). Prints a markdown table, the ratios baseline median / dashboard median, baseline median / control
median and live control median / dashboard median, and whether the target (median <= 50 ms, <= 1 KB per move)
is met. Exits 1 if a page fails to load or a move does not land.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLIDER_ID = "sight-sensitivity"
GRAPH_ID = "xray-graph"
SWEEP_ID = "circle-sweep"
SLIDER_STEP = 0.02
WARMUP_MOVES = 4
MOVE_TIMEOUT_MS = 15000
TARGET_MEDIAN_MS = 50.0
TARGET_BYTES = 1024

# Installed once per page: a keydown stamp, the circle-path signature and the per-move watcher.
PAGE_HELPERS = r"""
if (!window.__sliderBench) {
  const bench = {t0: null, result: null, observer: null};
  bench.graphDiv = function () { return document.querySelector('#xray-graph .js-plotly-plot'); };
  bench.signature = function () {
    const paths = document.querySelectorAll('#xray-graph .shapelayer path');
    return Array.prototype.map.call(paths, function (p) { return p.getAttribute('d'); }).join('|');
  };
  bench.shapes = function () {
    const gd = bench.graphDiv();
    const shapes = gd && gd.layout && Array.isArray(gd.layout.shapes) ? gd.layout.shapes : [];
    return shapes.map(function (s) { return [s.x0, s.y0, s.x1, s.y1]; });
  };
  bench.arm = function () {
    if (bench.observer) { bench.observer.disconnect(); }
    const before = bench.signature();
    bench.t0 = null;
    bench.result = null;
    bench.reactStart = null;
    bench.reactMs = null;
    bench.otherReactMs = 0;
    bench.armed = true;
    const target = document.getElementById('xray-graph');
    bench.observer = new MutationObserver(function () {
      if (bench.result !== null || bench.t0 === null) { return; }
      const now = bench.signature();
      if (now === before) { return; }
      const tDom = performance.now();
      bench.observer.disconnect();
      bench.result = {pending: true};
      requestAnimationFrame(function () {
        setTimeout(function () {
          const tPaint = performance.now();
          bench.result = {dom_ms: tDom - bench.t0, paint_ms: tPaint - bench.t0, paths: now.split('|').length,
                          react_start_ms: bench.reactStart === null ? null : bench.reactStart - bench.t0,
                          react_ms: bench.reactMs, other_react_ms: bench.otherReactMs};
        }, 0);
      });
    });
    bench.observer.observe(target, {subtree: true, childList: true, attributes: true, characterData: true});
  };
  // Where the time goes: when the X-ray graph's first Plotly redraw call (Plotly.react, or Plotly.update /
  // relayout / restyle) is made after the key, and how long its synchronous part takes (other graphs on the page,
  // e.g. a tau chart, are counted apart). A nested call (react -> relayout inside Plotly) is timed once, outermost.
  let depth = 0;
  ['react', 'update', 'relayout', 'restyle'].forEach(function (name) {
    if (!window.Plotly || typeof window.Plotly[name] !== 'function') { return; }
    const original = window.Plotly[name];
    window.Plotly[name] = function () {
      const start = performance.now();
      const gd = arguments[0];
      const isXray = !!(gd && gd.closest && gd.closest('#xray-graph'));
      depth += 1;
      try {
        return original.apply(this, arguments);
      } finally {
        depth -= 1;
        if (depth === 0 && bench.armed && bench.t0 !== null && (bench.result === null || bench.result.pending)) {
          if (!isXray) {
            bench.otherReactMs += performance.now() - start;
          } else if (bench.reactStart === null) {
            bench.reactStart = start;
            bench.reactMs = performance.now() - start;
          }
        }
      }
    };
  });
  document.addEventListener('keydown', function () {
    if (bench.armed && bench.t0 === null) { bench.t0 = performance.now(); }
  }, true);
  window.__sliderBench = bench;
}
"""

WAIT_RESULT = r"""
const done = arguments[arguments.length - 1];
const timeoutMs = arguments[0];
const start = performance.now();
(function poll() {
  const bench = window.__sliderBench;
  if (bench.result !== null && !bench.result.pending) { bench.armed = false; done(bench.result); return; }
  if (performance.now() - start > timeoutMs) {
    bench.armed = false;
    if (bench.observer) { bench.observer.disconnect(); }
    done({error: 'timeout', keydown_seen: bench.t0 !== null});
    return;
  }
  setTimeout(poll, 5);
})();
"""

LOAD_STATE = r"""
const gd = document.querySelector('#xray-graph .js-plotly-plot');
const shapes = gd && gd._fullLayout && Array.isArray(gd._fullLayout.shapes) ? gd._fullLayout.shapes.length : -1;
const api = window.dash_component_api;
let sweepReady = false;
try {
  const sweep = api && api.getLayout ? api.getLayout(arguments[0]) : null;
  sweepReady = !!(sweep && sweep.props && sweep.props.data && Array.isArray(sweep.props.data.thresholds));
} catch (error) { sweepReady = false; }
const dashRequests = performance.getEntriesByType('resource')
  .filter(function (e) { return e.name.indexOf('_dash-update-component') >= 0; }).length;
const images = gd && gd._fullLayout && Array.isArray(gd._fullLayout.images) ? gd._fullLayout.images.length : -1;
return {shapes: shapes, images: images, sweep: sweepReady, dashRequests: dashRequests,
        slider: !!document.querySelector('#sight-sensitivity [role=slider]')};
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A subprocess serving on 127.0.0.1:port, its output in a log file; stopped by its own handle."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path):
        self.name, self.port, self.log_path = name, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until_up(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up (code {self.process.returncode}):\n"
                                   + self.log_tail())
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer within {timeout_s:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 25) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        raise RuntimeError("Debian chromium and chromedriver must be on PATH")
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def nearest_index(thresholds: list[float], value: float) -> int:
    best = 0
    for index in range(1, len(thresholds)):
        if abs(thresholds[index] - value) < abs(thresholds[best] - value):
            best = index
    return best


def circle_key(circles: list[dict]) -> tuple:
    return tuple((round(c["x"], 3), round(c["y"], 3), round(c["r"], 3)) for c in circles or [])


def choose_pair(sweep: dict, value: float) -> int:
    """Lower index i of the neighbouring thresholds (i, i + 1) nearest to ``value`` whose circles differ."""
    thresholds, circles = sweep["thresholds"], sweep["circles"]
    start = nearest_index(thresholds, value)
    candidates = [i for i in range(len(thresholds) - 1) if circle_key(circles[i]) != circle_key(circles[i + 1])]
    if not candidates:
        raise RuntimeError("no two neighbouring thresholds draw different circles for this study")
    return min(candidates, key=lambda i: (abs(i - start), i))


def expected_boxes(circles: list[dict]) -> list[list[float]]:
    return [[c["x"] - c["r"], c["y"] - c["r"], c["x"] + c["r"], c["y"] + c["r"]] for c in circles or []]


def boxes_match(drawn: list, expected: list) -> bool:
    return len(drawn) == len(expected) and all(
        all(isinstance(a, (int, float)) and abs(a - b) < 1e-6 for a, b in zip(box, want, strict=False))
        for box, want in zip(drawn, expected, strict=True))


def slider_value(driver) -> float | None:
    return driver.execute_script(
        "const c = window.dash_component_api.getLayout(arguments[0]); return c && c.props ? c.props.value : null;",
        SLIDER_ID)


def focus_handle(driver):
    from selenium.webdriver.common.by import By

    handle = driver.find_element(By.CSS_SELECTOR, f"#{SLIDER_ID} [role=slider]")
    driver.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});"
        "arguments[1].focus({preventScroll: true});", GRAPH_ID, handle)
    return handle


def press(driver, handle, key) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    if driver.execute_script("return document.activeElement !== arguments[0];", handle):
        driver.execute_script("arguments[0].focus({preventScroll: true});", handle)
    ActionChains(driver).send_keys(key).perform()


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def wait_network_quiet(driver, quiet_s: float = 2.0, timeout_s: float = 60.0) -> None:
    """Until no new resource entry has appeared for ``quiet_s`` (background-callback polling has finished)."""
    deadline = time.monotonic() + timeout_s
    last = driver.execute_script("return performance.getEntriesByType('resource').length")
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = driver.execute_script("return performance.getEntriesByType('resource').length")
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise RuntimeError("the page kept making requests; cannot isolate the slider moves")


def move_to(driver, handle, sweep: dict, index: int, timeout_s: float = 30.0) -> None:
    """Unmeasured keyboard moves until the slider sits on thresholds[index] and its circles are drawn."""
    from selenium.webdriver.common.keys import Keys

    thresholds = sweep["thresholds"]
    for _ in range(len(thresholds) + 5):
        value = slider_value(driver)
        current = nearest_index(thresholds, value if isinstance(value, (int, float)) else 0.0)
        if current == index:
            break
        press(driver, handle, Keys.ARROW_RIGHT if current < index else Keys.ARROW_LEFT)
        wait_for(lambda value=value: slider_value(driver) != value, 10, "the slider to move")
    else:
        raise RuntimeError("could not put the slider on the chosen threshold")
    want = expected_boxes(sweep["circles"][index])
    wait_for(lambda: boxes_match(driver.execute_script("return window.__sliderBench.shapes()"), want), timeout_s,
             f"the circles of tau = {thresholds[index]:.2f}")


def network_from_log(entries: list[dict]) -> dict:
    """Requests, request bytes and response bytes from DevTools performance-log entries (data: URLs excluded)."""
    requests: dict[str, dict] = {}
    ws_sent = ws_received = ws_frames = 0
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            request = params["request"]
            if request["url"].startswith(("data:", "blob:")):
                continue
            headers = request.get("headers") or {}
            body = request.get("postData") or ""
            if not body and request.get("postDataEntries"):
                body = "".join(part.get("bytes", "") for part in request["postDataEntries"])
            sent = len(f"{request['method']} {request['url']} HTTP/1.1\r\n".encode())
            sent += sum(len(f"{k}: {v}\r\n".encode()) for k, v in headers.items()) + 2 + len(body.encode())
            requests[params["requestId"]] = {"url": request["url"], "sent": sent, "received": 0}
        elif method == "Network.requestWillBeSentExtraInfo" and params.get("requestId") in requests:
            headers = params.get("headers") or {}
            record = requests[params["requestId"]]
            record["extra_headers"] = sum(len(f"{k}: {v}\r\n".encode()) for k, v in headers.items())
        elif method == "Network.loadingFinished" and params.get("requestId") in requests:
            requests[params["requestId"]]["received"] = int(params.get("encodedDataLength") or 0)
        elif method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
            size = len((params.get("response") or {}).get("payloadData", "").encode())
            ws_frames += 1
            if method.endswith("Sent"):
                ws_sent += size
            else:
                ws_received += size
    sent = sum(r["sent"] for r in requests.values()) + ws_sent
    received = sum(r["received"] for r in requests.values()) + ws_received
    dash_calls = sum("_dash-update-component" in r["url"] for r in requests.values())
    return {"requests": len(requests), "dash_requests": dash_calls, "ws_frames": ws_frames, "sent": sent,
            "received": received, "urls": sorted({r["url"] for r in requests.values()})}


def measure(driver, url: str, sweep_hint: dict | None, args, load_timeout_s: float) -> dict:
    """Open ``url``, wait for the circles, run the warm-up and measured moves; timings and network per move."""
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    if sweep_hint is None:  # the dashboard: circles drawn and the sweep store filled
        def loaded(state):
            return state["shapes"] > 0 and state["sweep"] and state["slider"]
    else:  # the baseline: the radiograph drawn (it has no sweep store; the sweep comes from the dashboard)
        def loaded(state):
            return state["images"] > 0 and state["slider"]
    wait_for(lambda: loaded(driver.execute_script(LOAD_STATE, SWEEP_ID)), load_timeout_s, f"circles on {url}",
             interval_s=0.5)
    wait_network_quiet(driver)
    driver.execute_script(PAGE_HELPERS)
    sweep = sweep_hint or driver.execute_script(
        "return window.dash_component_api.getLayout(arguments[0]).props.data;", SWEEP_ID)
    low = choose_pair(sweep, args.threshold)
    handle = focus_handle(driver)
    move_to(driver, handle, sweep, low)
    targets = [low + 1, low]
    keys = [Keys.ARROW_RIGHT, Keys.ARROW_LEFT]
    wait_network_quiet(driver, quiet_s=1.0)
    driver.get_log("performance")  # discard everything logged before the measured moves
    times, dom_times, react_starts, react_times, other_react = [], [], [], [], []
    for move in range(WARMUP_MOVES + args.moves):
        if move == WARMUP_MOVES:
            driver.get_log("performance")  # the warm-up moves' network is not counted
        target = targets[move % 2]
        driver.execute_script("window.__sliderBench.arm();")
        press(driver, handle, keys[move % 2])
        result = driver.execute_async_script(WAIT_RESULT, MOVE_TIMEOUT_MS)
        if "error" in result:
            raise RuntimeError(f"move {move + 1}: circles did not change within {MOVE_TIMEOUT_MS} ms "
                               f"(keydown seen: {result.get('keydown_seen')})")
        want = expected_boxes(sweep["circles"][target])
        wait_for(lambda want=want: boxes_match(driver.execute_script("return window.__sliderBench.shapes()"), want), 10,
                 f"move {move + 1} to land on tau = {sweep['thresholds'][target]:.2f}")
        if move >= WARMUP_MOVES:
            times.append(result["paint_ms"])
            dom_times.append(result["dom_ms"])
            if result.get("react_ms") is not None:
                react_starts.append(result["react_start_ms"])
                react_times.append(result["react_ms"])
            other_react.append(result.get("other_react_ms") or 0.0)
        time.sleep(0.15)
    time.sleep(0.5)
    network = network_from_log(driver.get_log("performance"))
    want = expected_boxes(sweep["circles"][targets[(WARMUP_MOVES + args.moves - 1) % 2]])
    stored = ("const f = window.dash_component_api.getLayout(arguments[0]).props.figure;"
              "return ((f && f.layout && f.layout.shapes) || []).map(s => [s.x0, s.y0, s.x1, s.y1]);")
    wait_for(lambda: boxes_match(driver.execute_script(stored, GRAPH_ID), want), 10,
             "the figure stored by Dash to hold the circles of the last move")
    severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return {"times": times, "dom_times": dom_times, "react_starts": react_starts, "react_times": react_times,
            "other_react": other_react, "network": network, "sweep": sweep, "low": low, "severe": severe}


def page_data(driver) -> dict:
    """The dashboard's figure, graph config/style/size and per-threshold shapes, for the baseline app."""
    return driver.execute_script(
        """
        const api = window.dash_component_api;
        const graph = api.getLayout(arguments[0]).props;
        const sweep = api.getLayout(arguments[1]).props.data;
        const slider = api.getLayout(arguments[2]).props;
        const cxr = window.dash_clientside && window.dash_clientside.cxr;
        const shapes = sweep.circles.map(function (circles) {
          if (cxr && cxr.circleShapes) { return cxr.circleShapes(circles || []); }
          return (circles || []).map(function (c) {
            return {type: 'circle', xref: 'x', yref: 'y', x0: c.x - c.r, x1: c.x + c.r, y0: c.y - c.r,
                    y1: c.y + c.r, line: {color: '#FFB000', width: 2.5}, layer: 'above'};
          });
        });
        const box = document.getElementById(arguments[0]).getBoundingClientRect();
        return {figure: graph.figure, config: graph.config || {}, style: graph.style || {},
                width: box.width, thresholds: sweep.thresholds, shapes: shapes,
                slider: {min: slider.min, max: slider.max, step: slider.step, marks: slider.marks || null,
                         value: slider.value}};
        """, GRAPH_ID, SWEEP_ID, SLIDER_ID)


# The control's clientside update: the nearest threshold's precomputed shapes into layout.shapes (nothing else).
CONTROL_UPDATE = """
function (value, store, figure) {
    const thresholds = store.thresholds;
    let best = 0;
    for (let i = 1; i < thresholds.length; i += 1) {
        if (Math.abs(thresholds[i] - value) < Math.abs(thresholds[best] - value)) { best = i; }
    }
    const shapes = store.shapes[best];
    const layout = Object.assign({}, figure.layout, {shapes: shapes});
    return [Object.assign({}, figure, {layout: layout}),
            shapes.length + ' circles at \u03c4 = ' + thresholds[best].toFixed(2)];
}
"""


# The live control's script (an asset of the minimal app): the dashboard's live path (assets/threshold.js) on the
# minimal page. A MutationObserver on the handle's aria-valuenow sets layout.shapes with one Plotly.update; once
# the slider has rested for 150 ms the figure Dash stores (and the summary) are written back with set_props.
LIVE_CONTROL_JS = """
(function () {
  let timer = null;
  function shapesAt(value) {
    const store = window.dash_component_api.getLayout('control-shapes').props.data;
    let best = 0;
    for (let i = 1; i < store.thresholds.length; i += 1) {
      if (Math.abs(store.thresholds[i] - value) < Math.abs(store.thresholds[best] - value)) { best = i; }
    }
    return {shapes: store.shapes[best], text: store.shapes[best].length + ' circles at \u03c4 = ' +
            store.thresholds[best].toFixed(2)};
  }
  new MutationObserver(function (records) {
    for (const record of records) {
      if (record.target.getAttribute('role') !== 'slider' || !record.target.closest('#sight-sensitivity')) {
        continue;
      }
      const value = parseFloat(record.target.getAttribute('aria-valuenow'));
      const gd = document.querySelector('#xray-graph .js-plotly-plot');
      if (!window.Plotly || !gd || !gd.layout) { return; }  // the slider's first render, before the graph
      const found = shapesAt(value);
      window.Plotly.update(gd, {}, {shapes: found.shapes});
      clearTimeout(timer);
      timer = setTimeout(function () {
        const figure = window.dash_component_api.getLayout('xray-graph').props.figure;
        const layout = Object.assign({}, figure.layout, {shapes: found.shapes});
        window.dash_clientside.set_props('xray-graph', {figure: Object.assign({}, figure, {layout: layout})});
        window.dash_clientside.set_props('circle-summary', {children: found.text});
      }, 150);
      return;
    }
  }).observe(document.documentElement, {attributes: true, subtree: true, attributeFilter: ['aria-valuenow']});
})();
"""


def serve_baseline(data_path: Path, port: int, mode: str) -> None:
    """A minimal app (run in a subprocess by the benchmark) with the dashboard's figure and slider.

    ``mode == "server"``: the baseline, every slider move is a server callback returning a ``dash.Patch``.
    ``mode == "clientside"``: a control, the same page with the same shapes set by a clientside callback.
    ``mode == "live"``: a control, the same page with the same shapes set by the dashboard's live path (no
    callback per move; ``LIVE_CONTROL_JS``).
    """
    from dash import Dash, Input, Output, Patch, State, dcc, html

    data = json.loads(data_path.read_text())
    thresholds, shapes = data["thresholds"], data["shapes"]
    empty_assets = Path(tempfile.mkdtemp(prefix="slider-baseline-assets-"))
    if mode == "live":
        (empty_assets / "live.js").write_text(LIVE_CONTROL_JS)
    app = Dash(__name__, title="slider baseline: server round trip per move", assets_folder=str(empty_assets))
    slider = data["slider"]
    marks = {float(k) if "." in k else int(k): v for k, v in (slider["marks"] or {}).items()} or None
    app.layout = html.Div(
        [
            dcc.Slider(id=SLIDER_ID, min=slider["min"], max=slider["max"], step=slider["step"],
                       value=slider["value"], marks=marks, updatemode="drag",
                       tooltip={"placement": "bottom", "template": "τ = {value}"}),
            html.Div(id="circle-summary"),
            html.Div(dcc.Graph(id=GRAPH_ID, figure=data["figure"], config=data["config"], style=data["style"]),
                     style={"width": f"{data['width']:.0f}px"}),
            dcc.Store(id="control-shapes", data={"thresholds": thresholds, "shapes": shapes} if mode != "server"
                      else None),
        ],
        style={"padding": "12px"},
    )
    if mode == "live":
        app.run(host="127.0.0.1", port=port, debug=False)
        return
    if mode != "server":
        app.clientside_callback(CONTROL_UPDATE, Output(GRAPH_ID, "figure"), Output("circle-summary", "children"),
                                Input(SLIDER_ID, "value"), State("control-shapes", "data"), State(GRAPH_ID, "figure"),
                                prevent_initial_call=True)
        app.run(host="127.0.0.1", port=port, debug=False)
        return

    @app.callback(Output(GRAPH_ID, "figure"), Output("circle-summary", "children"),
                  Input(SLIDER_ID, "value"), prevent_initial_call=True)
    def move(value):
        index = nearest_index(thresholds, value if isinstance(value, (int, float)) else 0.0)
        patch = Patch()
        patch["layout"]["shapes"] = shapes[index]
        return patch, f"{len(shapes[index])} circles at τ = {thresholds[index]:.2f}"

    app.run(host="127.0.0.1", port=port, debug=False)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _median_or_na(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "n/a"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def row(name: str, result: dict, moves: int) -> str:
    times, network = result["times"], result["network"]
    return (f"| {name} | {statistics.median(times):.1f} | {percentile(times, 0.9):.1f} | "
            f"{statistics.median(result['dom_times']):.1f} | {_median_or_na(result['react_starts'])} | "
            f"{_median_or_na(result['react_times'])} | {_median_or_na(result['other_react'])} | "
            f"{network['requests'] / moves:.2f} | "
            f"{network['dash_requests'] / moves:.2f} | {network['sent'] / moves:.0f} | "
            f"{network['received'] / moves:.0f} |")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=25, help="measured slider moves per page (default 25)")
    parser.add_argument("--study", default="CXR90014", help="demo study id (default CXR90014)")
    parser.add_argument("--threshold", type=float, default=0.5, help="sight sensitivity to open at (default 0.5)")
    parser.add_argument("--load-timeout", type=float, default=180.0, help="seconds to wait for the first circles")
    parser.add_argument("--serve-baseline", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-mode", choices=("server", "clientside", "live"), default="server",
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.port, args.baseline_mode)
        return 0
    if args.moves < 1:
        print("error: --moves must be >= 1", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="slider-benchmark-"))
    servers: list[Server] = []
    driver = None
    browser_version = "?"
    try:
        dashboard_port = free_port()
        dashboard = Server("dashboard", [sys.executable, "app.py", "--no-warm-up", "--port", str(dashboard_port),
                                         "--cache-dir", str(work / "cache")], dashboard_port, work / "dashboard.log")
        servers.append(dashboard)
        dashboard.wait_until_up(args.load_timeout)
        driver = start_browser()
        query = f"/?study={args.study}&threshold={args.threshold:g}"
        started = time.monotonic()
        candidate = measure(driver, dashboard.url + query, None, args, args.load_timeout)
        first_load_s = time.monotonic() - started
        data = page_data(driver)
        data_path = work / "baseline.json"
        data_path.write_text(json.dumps(data))
        minimal = {}
        for mode in ("server", "clientside", "live"):
            port = free_port()
            server = Server(f"minimal app ({mode})", [sys.executable, str(Path(__file__).resolve()), "--serve-baseline",
                                                       str(data_path), "--port", str(port), "--baseline-mode", mode],
                            port, work / f"minimal-{mode}.log")
            servers.append(server)
            server.wait_until_up(60)
            minimal[mode] = measure(driver, server.url + "/", candidate["sweep"], args, 60)
            server.stop()
        baseline, control, live = minimal["server"], minimal["clientside"], minimal["live"]
    except Exception as error:  # noqa: BLE001 - a benchmark reports what failed and exits non-zero
        print(f"error: {error}", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name} log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            browser_version = driver.capabilities.get("browserVersion", "?")
            driver.quit()
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    sweep, low = candidate["sweep"], candidate["low"]
    thresholds = sweep["thresholds"]
    load = os.getloadavg()
    print(f"# slider benchmark, {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, "
          f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, headless Chromium {browser_version}")
    print(f"# study {args.study}, opened at tau = {args.threshold:g} (first circles after {first_load_s:.1f} s); "
          f"moves alternate tau = {thresholds[low]:.2f} ({plural(len(sweep['circles'][low]), 'circle')}) <-> "
          f"{thresholds[low + 1]:.2f} ({plural(len(sweep['circles'][low + 1]), 'circle')}); "
          f"{args.moves} measured moves after {WARMUP_MOVES} warm-up moves per page")
    print()
    print("| page | median ms | p90 ms | median ms to DOM change | median ms to the X-ray graph's Plotly call | "
          "median ms in that call | median ms in other graphs' Plotly calls | requests / move | "
          "_dash-update-component / move | bytes sent / move | bytes received / move |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(row("dashboard (clientside sweep, live path)", candidate, args.moves))
    print(row("baseline: minimal app, server Patch per move", baseline, args.moves))
    print(row("control: same minimal app, clientside callback sets the shapes", control, args.moves))
    print(row("control: same minimal app, the dashboard's live path (Plotly.update)", live, args.moves))
    print()
    ratio = statistics.median(baseline["times"]) / statistics.median(candidate["times"])
    print(f"ratio baseline median / dashboard median: {ratio:.2f}x")
    transport = statistics.median(baseline["times"]) / statistics.median(control["times"])
    print(f"ratio baseline median / control median (same page, server round trip vs none): {transport:.2f}x")
    overhead = statistics.median(live["times"]) / statistics.median(candidate["times"])
    print(f"ratio live-path control median / dashboard median (same drawing path, minimal vs full page): "
          f"{overhead:.2f}x")
    candidate_bytes = (candidate["network"]["sent"] + candidate["network"]["received"]) / args.moves
    median = statistics.median(candidate["times"])
    met = median <= TARGET_MEDIAN_MS and candidate_bytes <= TARGET_BYTES
    print(f"target (median <= {TARGET_MEDIAN_MS:.0f} ms, <= {TARGET_BYTES} bytes per move): "
          f"{'met' if met else 'NOT met'} (median {median:.1f} ms, {candidate_bytes:.0f} bytes per move)")
    for name, result in (("dashboard", candidate), ("baseline", baseline), ("control", control), ("live", live)):
        if result["network"]["urls"]:
            print(f"{name} requests during the moves: {', '.join(result['network']['urls'])}")
        if result["severe"]:
            print(f"{name} console errors: {len(result['severe'])} (first: {result['severe'][0][:200]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
