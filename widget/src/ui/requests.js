/*
 * The visitor's rights requests (access, erasure): created with one POST, then followed with
 * polite GETs — growing pauses, slower while the page is hidden, stopping when the request is
 * done (or after about half an hour). The view (ui/rights.js) shows and announces each status.
 */
import { get } from './api.js';
import { guard } from './dom.js';

var WAIT_MS = [2000, 3000, 5000, 8000, 13000, 20000, 30000];
var HIDDEN_MS = 60000;
var MAX_POLLS = 60;

// env: call(path, body, then), url(path), token(), announce(text), changed(), fail(res), forget(),
// erased()
export function createRequests(env) {
  var list = {}; // type -> {id, status, url, polls, timer}

  function set(type, body) {
    var r = list[type] || (list[type] = { polls: 0 });
    var before = r.status;
    r.id = body.id || r.id;
    r.status = body.status;
    r.url = body.download_url || null;
    env.changed();
    if (type === 'erasure' && r.status === 'completed' && before !== 'completed') env.erased();
    follow(type);
  }

  function follow(type) {
    var r = list[type];
    clearTimeout(r.timer);
    if (r.status === 'completed' || r.status === 'failed' || r.polls >= MAX_POLLS) return;
    var wait = document.hidden ? HIDDEN_MS : WAIT_MS[Math.min(r.polls, WAIT_MS.length - 1)];
    r.timer = setTimeout(
      guard(function () {
        r.polls++;
        check(type);
      }),
      wait
    );
  }

  function check(type) {
    var r = list[type];
    get(env.url('rights-requests/' + encodeURIComponent(r.id)), env.token()).then(
      guard(function (res) {
        if (list[type] !== r) return; // forgotten meanwhile
        if (res.ok) return set(type, res.body);
        if (res.status === 401) return env.forget();
        if (res.status === 429) r.polls = Math.max(r.polls, WAIT_MS.length - 1);
        follow(type);
      })
    );
  }

  return {
    list: list,
    create: function (type) {
      env.announce('');
      env.call('rights-requests', { type: type, confirm: type === 'erasure' }, function (res) {
        if (!res.ok) {
          if (res.status === 401) env.forget();
          return env.fail(res);
        }
        var r = list[type];
        if (r) {
          r.polls = 0;
          r.seq = (r.seq || 0) + 1;
        }
        set(type, res.body);
      });
    },
    reset: function () {
      for (var type in list) {
        clearTimeout(list[type].timer);
        delete list[type];
      }
    },
  };
}
