"""The run page's live-progress script, run in Node against a stand-in DOM: it polls the run's
JSON, updates status, counts and progress in place, reloads once the run has finished, and
gives up quietly when the answers are not JSON (an expired session)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "static" / "admin" / "run_progress.js"
HARNESS = r"""
const fs = require("fs");
const answers = JSON.parse(process.argv[2]);
function element(attrs) {
  return {
    textContent: "", className: "badge badge--live", children: [], attrs: attrs || {},
    getAttribute(name) { return this.attrs[name]; },
    appendChild(child) { this.children.push(child); },
    replaceChildren(fragment) { this.children = fragment.items; },
  };
}
const root = element({"data-progress-url": "/admin/runs/7.json"});
const parts = {
  "[data-run-status]": element(), '[data-count="checked"]': element(),
  "[data-run-progress]": element(),
};
root.querySelector = (selector) => parts[selector] || null;
const timers = [], fetched = [], seen = [];
let reloads = 0;
global.document = {
  querySelector: (s) => (s === "[data-progress-url]" ? root : null),
  createDocumentFragment: () => ({ items: [], appendChild(c) { this.items.push(c); } }),
  createElement: () => element(),
};
global.window = { fetch: true, setTimeout: (f, ms) => timers.push([f, ms]),
                  location: { reload: () => { reloads += 1; } } };
global.fetch = (url) => {
  fetched.push(url);
  const answer = answers.shift();
  return Promise.resolve({
    ok: true,
    headers: { get: () => answer.type },
    json: () => Promise.resolve(answer.body),
  });
};
new Function(fs.readFileSync(process.argv[1], "utf8"))();
(async () => {
  while (timers.length) {
    const [tick, ms] = timers.shift();
    tick();
    await new Promise((resolve) => setImmediate(resolve));
    seen.push({
      ms, status: parts["[data-run-status]"].textContent,
      tone: parts["[data-run-status]"].className,
      checked: parts['[data-count="checked"]'].textContent,
      progress: parts["[data-run-progress]"].children.map(
        (item) => item.children.map((c) => c.textContent).join("=")),
    });
  }
  console.log(JSON.stringify({ fetched, seen, reloads }));
})();
"""


def run_script(answers: list[dict[str, object]]) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "-e", HARNESS, str(SCRIPT), json.dumps(answers)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    out: dict[str, object] = json.loads(result.stdout)
    return out


def test_it_updates_in_place_then_reloads_once_finished() -> None:
    json_type = "application/json"
    out = run_script(
        [
            {"type": json_type, "body": {"status": "running", "live": True,
             "counts": {"checked": 5}, "progress": {"phase": "reading files", "files_done": 1}}},
            {"type": json_type, "body": {"status": "succeeded", "live": False,
             "counts": {"checked": 9}, "progress": {"phase": "done"}}},
        ]
    )  # fmt: skip
    assert out["fetched"] == ["/admin/runs/7.json", "/admin/runs/7.json"]
    first, second = out["seen"]  # type: ignore[misc]
    assert first == {
        "ms": 2000,
        "status": "running",
        "tone": "badge badge--live",
        "checked": "5",
        "progress": ["phase=reading files", "files done=1"],
    }
    assert (second["status"], second["tone"], second["checked"]) == (
        "succeeded", "badge badge--ok", "9"
    )  # fmt: skip
    assert out["reloads"] == 1


def test_it_stops_after_repeated_answers_that_are_not_json() -> None:
    sign_in_page = {"type": "text/html; charset=utf-8", "body": None}
    out = run_script([sign_in_page] * 8)
    assert len(out["fetched"]) == 5  # type: ignore[arg-type]
    assert out["reloads"] == 0
