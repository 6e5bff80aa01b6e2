/* DOM helpers: element building (text only, never HTML), shadow roots with the widget's CSS. */
import css from './styles.css';

var sheet = null;

// Runs a handler without letting an exception reach the host page.
export function guard(fn) {
  return function (ev) {
    try {
      return fn(ev);
    } catch (e) {}
  };
}

// h('label', {class: 'ch', onchange: fn}, [child, 'text']) — attributes, listeners, children.
export function h(tag, props, kids) {
  var el = document.createElement(tag);
  for (var k in props || {}) {
    var v = props[k];
    if (v == null || v === false) continue;
    if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), guard(v));
    else if (k === 'checked') el.checked = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  [].concat(kids == null ? [] : kids).forEach(function (kid) {
    if (kid != null) el.appendChild(typeof kid === 'object' ? kid : document.createTextNode(kid));
  });
  return el;
}

/*
 * An open shadow root on `host`, with the CSS adopted as a constructed stylesheet (allowed by a
 * strict host CSP without 'unsafe-inline'), or a <style> element where that is unsupported. The
 * property's theme becomes --optline-<name> custom properties on the host.
 */
export function shadow(host, theme) {
  var root = host.attachShadow({ mode: 'open' });
  try {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.appendChild(h('style', null, css));
  }
  for (var name in theme || {}) {
    if (/^[a-z][a-z0-9-]*$/.test(name)) host.style.setProperty('--optline-' + name, theme[name]);
  }
  return root;
}

// The elements that take focus inside a container, in document order (not hidden ones).
export function focusables(root) {
  return [].filter.call(root.querySelectorAll('button,input,select,textarea,a[href]'), function (el) {
    return !el.disabled && el.getClientRects().length > 0;
  });
}
