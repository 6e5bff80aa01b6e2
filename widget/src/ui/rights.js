/*
 * "Your data": ask for a copy (access) or for deletion (erasure, after a second, explicit
 * confirmation), and see how the request is going. The controller owns the requests; this view
 * draws them, in a status region of their own. Focus: the confirmation takes it (on Cancel, the
 * safe choice) and gives it back to "Delete my data" when it closes.
 */
import { h } from './dom.js';

export function renderRights(t, act) {
  var access = h(
    'button',
    { type: 'button', class: 'alt', onclick: function () { act.request('access'); } },
    t.access_request
  );
  var erase = h('button', { type: 'button', class: 'alt', onclick: ask }, t.erasure_request);
  var no = h('button', { type: 'button', class: 'alt', onclick: close }, t.erasure_cancel);
  var yes = h('button', { type: 'button', class: 'danger', onclick: confirm }, t.erasure_confirm);
  var box = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'o-ep', hidden: true }, [
    h('p', { id: 'o-ep' }, t.erasure_confirm_prompt),
    h('div', { class: 'actions' }, [yes, no]),
  ]);
  // A polite live region of its own: each line is announced when it changes, and stays.
  var status = h('div', { class: 'rs', role: 'status' });
  var lines = {};
  var el = h('section', { class: 'rights', 'aria-labelledby': 'o-rt' }, [
    h('h3', { id: 'o-rt' }, t.rights_title),
    h('p', { class: 'muted' }, t.rights_hint),
    h('div', { class: 'actions' }, [access, erase]),
    box,
    status,
  ]);

  function ask() {
    box.hidden = false;
    no.focus();
  }
  function close() {
    box.hidden = true;
    erase.focus();
  }
  function confirm() {
    close();
    act.request('erasure');
  }

  return {
    el: el,
    // Shows each request's state: one line per request (touched only when it changes, so the
    // live region speaks once), with a link once the data is ready.
    update: function (requests) {
      ['access', 'erasure'].forEach(function (type) {
        var r = requests[type];
        var url = r && type === 'access' && r.status === 'completed' ? r.url : null;
        var key = r ? r.status + '|' + url + '|' + r.seq : ''; // seq: asked again, say it again
        var line = lines[type];
        if ((line ? line.key : '') === key) return;
        if (line) line.remove();
        delete lines[type];
        if (!r) return;
        line = h('p', null, statusText(t, type, r.status));
        if (url) line.append(' ', h('a', { href: url, rel: 'noreferrer' }, t.rights_download));
        line.key = key;
        lines[type] = line;
        status.appendChild(line);
      });
    },
  };
}

function statusText(t, type, status) {
  if (status === 'completed') return type === 'access' ? t.rights_access_ready : t.rights_erasure_done;
  if (status === 'failed') return t.rights_failed;
  return status === 'in_progress' ? t.rights_in_progress : t.rights_received;
}
