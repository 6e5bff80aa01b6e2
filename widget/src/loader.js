/*
 * The Optline loader: the part of the tag every page runs. It replays the `optline()` queue of the
 * embed snippet, puts the real `optline` function in its place (the only global the tag defines),
 * and starts the UI only when the page asks for it: a `[data-optline-preferences]` container, or
 * `optline('open')`. Nothing in here may throw into the host page.
 */
import { emit } from './events.js';
import { captureToken } from './identity.js';
import { pickLanguage } from './language.js';

// The tag endpoint replaces this quoted placeholder with the property's public configuration
// (a JSON object). Served as a plain file, it stays a string and the loader stays idle.
start('__OPTLINE_CONFIG__');

function start(cfg) {
  try {
    var w = window;
    var d = document;
    var prev = w.optline;
    if (!cfg || typeof cfg !== 'object' || (prev && prev.v)) return; // idle, or a second copy
    var st = { id: null, make: null, ui: null, open: false, opener: null, waiting: false };
    var ctx = {
      cfg: cfg,
      lang: pickLanguage(cfg.languages, d, navigator),
      emit: emit,
      // Looked up each time the UI needs it: a cookie or dataLayer entry may appear after load.
      token: function () {
        return captureToken(cfg.identity_capture, st.id);
      },
    };

    var ui = function () {
      if (!st.ui && st.make) st.ui = st.make(ctx);
      return st.ui;
    };

    // Starts what the page asked for, once the UI code has arrived and the DOM is parsed.
    var flush = function () {
      try {
        if (!st.make) return;
        if (d.readyState === 'loading') {
          if (!st.waiting) d.addEventListener('DOMContentLoaded', flush);
          st.waiting = true;
          return;
        }
        var box = d.querySelector('[data-optline-preferences]');
        if (box) ui().mount(box);
        if (st.open) {
          st.open = false;
          ui().open(st.opener);
        }
      } catch (e) {}
    };

    var run = function (args) {
      var cmd = args[0];
      var arg = args[1];
      if (cmd === 'identify') {
        st.id = typeof arg === 'string' && arg ? arg : null;
        if (st.ui) st.ui.identify();
      } else if (cmd === 'open') {
        st.open = true;
        st.opener = d.activeElement;
        flush();
      } else if (cmd === 'close') {
        st.open = false;
        if (st.ui) st.ui.close();
      } else if (cmd === '_ui' && typeof arg === 'function' && !st.make) {
        // Internal: the UI part of the tag registers itself here (see widget/README.md).
        st.make = arg;
        flush();
      }
    };

    var optline = function () {
      try {
        run(arguments);
      } catch (e) {}
    };
    optline.v = __VERSION__;
    var queue = (prev && prev.q) || [];
    for (var i = 0; i < queue.length; i++) optline.apply(null, queue[i]);
    w.optline = optline;
    emit('ready', { property: cfg.property, language: ctx.lang });
  } catch (e) {}
}
