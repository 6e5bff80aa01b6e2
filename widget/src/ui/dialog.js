/*
 * Dialog mode: a modal <dialog> in its own shadow root. Focus moves inside, Tab and Shift+Tab stay
 * inside, Escape closes, and focus returns to the element that opened it.
 */
import { focusables, guard, h, shadow } from './dom.js';

export function createDialog(theme, t) {
  var host = h('div', { 'data-optline-dialog': true });
  var root = shadow(host, theme);
  var closeBtn = h('button', { type: 'button', class: 'x', 'aria-label': t.close || 'Close', onclick: close }, '×');
  var dlg = h('dialog', { 'aria-modal': 'true', 'aria-labelledby': 'o-title' }, h('div', { class: 'o' }, closeBtn));
  var opener = null;
  root.appendChild(dlg);
  document.body.appendChild(host);

  dlg.addEventListener(
    'cancel',
    guard(function (ev) {
      ev.preventDefault(); // Escape: close through close() so focus goes back to the opener
      close();
    })
  );
  dlg.addEventListener(
    'keydown',
    guard(function (ev) {
      if (ev.key !== 'Tab') return;
      var items = focusables(dlg);
      var first = items[0];
      var last = items[items.length - 1];
      var active = root.activeElement;
      if (ev.shiftKey ? active === first || !active : active === last) {
        ev.preventDefault();
        (ev.shiftKey ? last : first).focus();
      }
    })
  );

  function open(from) {
    opener = from && from !== document.body ? from : null;
    if (!dlg.open) {
      if (dlg.showModal) dlg.showModal();
      else dlg.setAttribute('open', '');
    }
    var items = focusables(dlg);
    (items[1] || items[0]).focus(); // the first choice when there is one, else the close button
  }

  function close() {
    if (!dlg.open) return;
    if (dlg.close) dlg.close();
    else dlg.removeAttribute('open');
    try {
      if (opener && opener.isConnected) opener.focus();
    } catch (e) {}
  }

  return { host: host, panel: dlg.firstChild, closeBtn: closeBtn, open: open, close: close, isOpen: function () { return dlg.open; } };
}
