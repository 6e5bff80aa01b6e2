/*
 * The UI's state and its conversation with the widget API. One bootstrap call loads texts, topics
 * and the visitor's state; every surface (the inline container, the dialog) draws from that one
 * copy. Without a verified identity no surface shows any choice and nothing is read or written.
 */
import { post } from './api.js';
import { isPending, renderCenter, shapeOf } from './center.js';
import { createDialog } from './dialog.js';
import { guard, h, shadow } from './dom.js';
import { renderEmail } from './email.js';
import { createRequests } from './requests.js';
import { renderRights } from './rights.js';

var POLL_MS = [1000, 2000, 4000, 8000, 15000]; // while a change is pending in Braze: ~30 s in all

export function createUi(ctx) {
  var cfg = ctx.cfg;
  var s = {
    data: null, // the last bootstrap or save response
    phase: 'idle', // idle | loading | loaded | anonymous
    used: null, // the token the data was loaded with
    session: null, // a widget session from the email code
    step: 'email', // email | code
    email: '',
    busy: false,
    polls: 0,
    timer: 0,
    surfaces: [],
    dialog: null,
    saved: false, // a save happened: the receipt can be downloaded
  };

  var token = function () {
    return s.session || ctx.token();
  };
  var texts = function () {
    var local = cfg.texts || {};
    return (s.data && s.data.texts) || local[ctx.lang] || local.en || {};
  };
  // Per-property paths: a preflight (rights status reads) is checked against this property's origins.
  var url = function (path) {
    return cfg.api + '/api/public/v1/' + encodeURIComponent(cfg.property) + '/' + path;
  };
  var call = function (path, body, bearer, then) {
    body.property = cfg.property;
    return post(url(path), body, bearer).then(guard(then));
  };
  // Something went wrong: say so in the live region, and tell the page through optline:error.
  var fail = function (res, quiet) {
    var err = res.body.error || {};
    if (!quiet) announce(res.status === 429 ? texts().too_many_requests : texts().error_generic);
    ctx.emit('error', { code: err.code || (res.status ? 'http_' + res.status : 'network'), status: res.status });
  };

  function surface(panel, isDialog) {
    var sf = {
      panel: panel,
      isDialog: isDialog,
      title: h('h2', { id: 'o-title' }),
      box: h('div'),
      live: h('p', { class: 'live', role: 'status', 'aria-live': 'polite' }),
      kind: '',
      view: null,
    };
    panel.appendChild(sf.title);
    panel.appendChild(sf.box);
    panel.appendChild(sf.live);
    s.surfaces.push(sf);
    paint(sf);
    if (s.phase === 'idle') load();
    return sf;
  }

  // Draws what the state calls for: the center, the email-code form, or nothing at all.
  function paint(sf, focus) {
    var t = texts();
    var kind = s.data ? 'center' : s.phase === 'anonymous' && cfg.email_verification ? s.step : '';
    var shown = kind || s.phase === 'loading';
    sf.title.textContent = shown ? t.title || '' : '';
    if (sf.isDialog) s.dialog.closeBtn.setAttribute('aria-label', t.close || 'Close');
    else sf.panel.hidden = !shown; // nothing to show: take no room on the page
    if (kind === 'center' && sf.kind === kind && sf.view.shape === shapeOf(s.data)) {
      sf.view.update(s.data);
      extras(sf);
      return;
    }
    if (kind === sf.kind && kind !== 'center' && sf.phase === s.phase) return;
    sf.kind = kind;
    sf.phase = s.phase;
    // Replacing what holds the focus (the email form, once verified) must not drop it to <body>:
    // the next view drawn here takes it.
    var root = sf.box.getRootNode();
    if (root.activeElement && sf.box.contains(root.activeElement)) sf.refocus = true;
    sf.box.textContent = '';
    sf.view = null;
    if (kind === 'center') {
      sf.rights = renderRights(t, { request: requests.create });
      sf.receipt = h('button', { type: 'button', class: 'alt', onclick: receipt }, t.receipt_download);
      // A session from an email link may not request data (the API would answer 403): no buttons.
      var asks = !(s.data.visitor && s.data.visitor.can_request_data === false);
      sf.view = renderCenter(s.data, t, save, { actions: [sf.receipt], end: asks ? [sf.rights.el] : [] });
      extras(sf);
    } else if (kind) sf.view = renderEmail(kind, t, kind === 'code' ? verifyCode : sendCode, resend);
    else if (s.phase === 'loading') sf.box.textContent = t.loading || '';
    if (sf.view) sf.box.appendChild(sf.view.el);
    var first = sf.view && (sf.view.focus || sf.view.el.querySelector('input,button'));
    if (first && (focus || sf.refocus)) first.focus();
    if (first || !shown) sf.refocus = false;
  }

  // The parts of the center that follow the session rather than the data: receipt, requests.
  function extras(sf) {
    sf.receipt.hidden = !s.saved;
    sf.rights.update(requests.list);
  }

  function paintAll(focus) {
    s.surfaces.forEach(function (sf) {
      paint(sf, focus);
    });
  }

  function announce(text) {
    s.surfaces.forEach(function (sf) {
      sf.live.textContent = text || '';
    });
  }

  function load() {
    var bearer = token();
    clearTimeout(s.timer);
    if (!bearer) {
      s.data = null;
      s.phase = 'anonymous';
      paintAll();
      if (!cfg.email_verification) ctx.emit('error', { code: 'no_identity', status: 0 });
      if (!cfg.email_verification && s.dialog) s.dialog.close();
      return;
    }
    s.phase = 'loading';
    if (!s.data) paintAll();
    call('bootstrap', { language: ctx.lang }, bearer, function (res) {
      if (bearer !== token()) return; // the identity changed while this call was out
      if (res.ok) {
        s.data = res.body;
        s.used = bearer;
        s.phase = 'loaded';
        paintAll();
        poll();
        return;
      }
      if (res.status === 401) {
        forget();
      } else if (!s.data) {
        s.phase = 'idle'; // the API is unreachable: try again when the page asks next time
        paintAll();
      }
      fail(res, true);
    });
  }

  // The identity is not (or no longer) valid: show no choice, offer the email code if allowed.
  function forget() {
    requests.reset();
    s.saved = false;
    s.data = null;
    s.used = null;
    s.session = null;
    s.phase = 'anonymous';
    s.step = 'email';
    paintAll();
    if (!cfg.email_verification && s.dialog) s.dialog.close();
  }

  // While Braze has not confirmed a change, look again with growing pauses (and on focus).
  function poll(restart) {
    clearTimeout(s.timer);
    if (restart) s.polls = 0;
    if (!isPending(s.data) || s.polls >= POLL_MS.length) return;
    s.timer = setTimeout(
      guard(function () {
        s.polls++;
        load();
      }),
      POLL_MS[s.polls]
    );
  }

  function save(view) {
    var body = view.changes();
    if (s.busy) return;
    announce('');
    if (!body.dirty) {
      setTimeout(guard(function () { announce(texts().saved); }), 50);
      return;
    }
    s.busy = true;
    call(
      'preferences',
      { changes: body.changes, unsubscribe_all: body.unsubscribe_all, language: ctx.lang },
      token(),
      function (res) {
        s.busy = false;
        if (!res.ok) {
          if (res.status === 401) forget();
          fail(res);
          return;
        }
        s.data.topics = res.body.topics;
        s.data.unsubscribed_all = res.body.unsubscribed_all;
        view.update(s.data, true);
        s.saved = true;
        paintAll();
        announce(texts().saved);
        ctx.emit('saved', { saved: res.body.saved, changes: body.changes, unsubscribe_all: body.unsubscribe_all });
        poll(true);
      }
    );
  }

  // The consent receipt of what was saved, downloaded as a JSON file (no page, no cookie).
  function receipt() {
    announce('');
    call('receipt', { language: ctx.lang }, token(), function (res) {
      if (!res.ok) {
        if (res.status === 401) forget();
        return fail(res);
      }
      var link = h('a', {
        href: URL.createObjectURL(new Blob([JSON.stringify(res.body, null, 2)], { type: 'application/json' })),
        download: 'optline-receipt-' + res.body.consentReceiptID + '.json',
        hidden: true,
      });
      s.surfaces[0].box.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () {
        URL.revokeObjectURL(link.href);
      }, 10000);
      announce(texts().receipt_downloaded);
    });
  }

  var requests = createRequests({
    call: function (path, body, then) {
      call(path, body, token(), then);
    },
    url: url,
    token: token,
    announce: announce,
    changed: paintAll,
    fail: fail,
    forget: forget,
    erased: function () {
      s.saved = false;
      load(); // the center shows what is left: nothing
    },
  });

  function sendCode(email) {
    announce('');
    call('email-codes', { email: email, language: ctx.lang }, null, function (res) {
      if (!res.ok) return fail(res);
      s.email = email;
      s.step = 'code';
      paintAll(true);
      announce(texts().code_sent);
    });
  }

  function resend() {
    sendCode(s.email);
  }

  function verifyCode(code) {
    announce('');
    call('email-codes/verify', { email: s.email, code: code }, null, function (res) {
      if (!res.ok) {
        var err = (res.body.error || {}).code;
        if (res.status === 429 || res.status >= 500 || !res.status) return fail(res);
        if (err === 'code_expired') s.step = 'email';
        paintAll(true);
        announce(err === 'code_expired' ? texts().code_expired : texts().code_invalid);
        return fail(res, true);
      }
      s.session = res.body.session_token;
      load();
    });
  }

  window.addEventListener(
    'focus',
    guard(function () {
      if (isPending(s.data) && !s.busy) load();
    })
  );

  return {
    mount: function (el) {
      if (el.shadowRoot) return; // already ours (or someone else's)
      var root = shadow(el, cfg.theme);
      var box = h('div', { class: 'o' });
      root.appendChild(box);
      surface(box, false);
    },
    open: function (opener) {
      if (!s.dialog) {
        s.dialog = createDialog(cfg.theme, texts());
        surface(s.dialog.panel, true);
      }
      if (s.phase === 'anonymous' && !cfg.email_verification) return;
      s.dialog.open(opener);
    },
    close: function () {
      if (s.dialog) s.dialog.close();
    },
    identify: function () {
      var next = ctx.token();
      if (s.surfaces.length && next !== s.used) {
        requests.reset();
        s.saved = false;
        s.session = null;
        s.data = null;
        load();
      }
    },
  };
}
