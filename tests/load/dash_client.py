"""A minimal HTTP client for a served Dash page: one instance = one browser page load (its own session).

Speaks the renderer's protocol, as Dash 4.4 serves it: the per-page ``end_id`` token from the index page's
``_dash-config``, ``/_dash-layout`` for the layout (and this page's ``session-id``), and
``/_dash-update-component`` for callbacks — background callbacks included (first POST starts the job and returns
signed ``cacheKey``/``job`` handles, later POSTs with those handles poll until the result is there).
Used by the concurrency tests and the load benchmark; standard library only.
"""

from __future__ import annotations

import html
import json
import re
import time
import urllib.parse
import urllib.request

_CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


def find_component(component, component_id):
    """The component with ``component_id`` in a layout as Dash serves it (JSON), or None."""
    if isinstance(component, dict):
        if component.get("props", {}).get("id") == component_id:
            return component
        for value in component.get("props", {}).values():
            found = find_component(value, component_id)
            if found:
                return found
    if isinstance(component, list):
        for item in component:
            found = find_component(item, component_id)
            if found:
                return found
    return None


class DashPage:
    """One page load of a served Dash app."""

    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        index = self._request("GET", "/").decode("utf-8")
        config = json.loads(html.unescape(_CONFIG.search(index).group(1)))
        self.end_id = config.get("end_id")
        self.layout = json.loads(self._request("GET", "/_dash-layout"))
        self.dependencies = json.loads(self._request("GET", "/_dash-dependencies"))
        store = find_component(self.layout, "session-id")
        self.session_id = store["props"]["data"] if store else None

    def _request(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return response.read()

    def component(self, component_id: str) -> dict | None:
        """A component of the initial layout."""
        return find_component(self.layout, component_id)

    def callback_spec(self, first_output: str) -> dict:
        """The dependency entry whose FIRST output is ``first_output`` (e.g. ``"xray-graph.figure"``)."""
        for spec in self.dependencies:
            if spec.get("clientside_function"):
                continue  # runs in the browser only
            if spec["output"].strip(".").split("...")[0].split("@")[0] == first_output:
                return spec
        raise KeyError(first_output)

    def call(self, first_output: str, inputs: dict, state: dict | None = None, changed: str | None = None) -> dict:
        """Run a callback; ``inputs`` / ``state`` map ``"id.property"`` to values. Returns ``{"id": {prop: value}}``.

        Background callbacks are polled until their result arrives (or ``timeout`` passes).
        """
        spec = self.callback_spec(first_output)
        outputs = []
        for part in spec["output"].strip(".").split("..."):
            component_id, prop = part.split(".", 1)
            outputs.append({"id": component_id, "property": prop})

        def values(entries, given):
            listed = []
            for entry in entries:
                key = f"{entry['id']}.{entry['property']}"
                listed.append({"id": entry["id"], "property": entry["property"], "value": (given or {}).get(key)})
            return listed

        body = {
            "output": spec["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": values(spec["inputs"], inputs),
            "state": values(spec["state"], state),
            "changedPropIds": [changed or next(iter(inputs))],
        }
        query = {"endId": self.end_id} if self.end_id else {}
        deadline = time.monotonic() + self.timeout
        while True:
            path = "/_dash-update-component" + ("?" + urllib.parse.urlencode(query) if query else "")
            raw = self._request("POST", path, body)
            if not raw:
                return {}  # 204: the callback (or the finished job) updated nothing
            answer = json.loads(raw)
            if "response" in answer:
                return answer["response"]
            if "cacheKey" in answer and "job" in answer:
                query.update(cacheKey=answer["cacheKey"], job=answer["job"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"callback {first_output} gave no result within {self.timeout} s")
            time.sleep(0.25)
