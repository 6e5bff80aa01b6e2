/* Live progress of a sync run on its admin page (CSP: script-src 'self', no inline code).
   The page includes this file only while the run is queued or running. Every 2 s it reads the
   run's JSON and updates the status, counts and progress in place; when the run has finished it
   reloads the page once, which then shows the outcome, errors and preview without this script.
   Without JavaScript the page's "Refresh" link does the same by hand. */
(function () {
  "use strict";
  var INTERVAL = 2000;
  var root = document.querySelector("[data-progress-url]");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-progress-url");
  var MAX_FAILURES = 5; // then stop quietly: the "Refresh" link still works
  var failures = 0;
  var TONES = { succeeded: "badge--ok", failed: "badge--bad", queued: "badge--live", running: "badge--live" };

  function setStatus(status) {
    var badge = root.querySelector("[data-run-status]");
    if (!badge || badge.textContent === status) {
      return;
    }
    badge.textContent = status;
    badge.className = "badge" + (TONES[status] ? " " + TONES[status] : "");
  }

  function setCounts(counts) {
    Object.keys(counts || {}).forEach(function (key) {
      var cell = root.querySelector('[data-count="' + key + '"]');
      if (cell) {
        cell.textContent = String(counts[key]);
      }
    });
  }

  function setProgress(progress) {
    var list = root.querySelector("[data-run-progress]");
    var names = Object.keys(progress || {});
    if (!list || !names.length) {
      return;
    }
    var fragment = document.createDocumentFragment();
    names.forEach(function (name) {
      var item = document.createElement("div");
      var term = document.createElement("dt");
      var value = document.createElement("dd");
      term.textContent = name.replace(/_/g, " ");
      value.textContent = String(progress[name]);
      item.appendChild(term);
      item.appendChild(value);
      fragment.appendChild(item);
    });
    list.replaceChildren(fragment);
  }

  function schedule() {
    window.setTimeout(poll, INTERVAL);
  }

  function failed() {
    failures += 1;
    if (failures < MAX_FAILURES) {
      schedule();
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        // Not JSON (an expired session answers with the sign-in page): treat as a failure.
        return response.ok && type.indexOf("application/json") === 0 ? response.json() : null;
      })
      .then(function (run) {
        if (!run) {
          failed();
          return;
        }
        failures = 0;
        setStatus(run.status);
        setCounts(run.counts);
        setProgress(run.progress);
        if (run.live) {
          schedule();
        } else {
          window.location.reload();
        }
      })
      .catch(failed);
  }

  schedule();
})();
