/*
 * Where the tag finds the visitor's identity token: the property's `identity_capture` sources, in
 * their order. Finding a token proves nothing; the API verifies it on every call.
 */
var MAX_TOKEN = 4096;

export function captureToken(sources, queued) {
  var list = Array.isArray(sources) ? sources : [{ source: 'queue' }];
  for (var i = 0; i < list.length; i++) {
    var value = null;
    try {
      value = read(list[i] || {}, queued);
    } catch (e) {}
    if (typeof value === 'string' && value && value.length <= MAX_TOKEN) return value;
  }
  return null;
}

function read(src, queued) {
  var key = src.key;
  var w = window;
  if (src.source === 'queue') return queued;
  if (!key) return null;
  if (src.source === 'cookie') {
    var parts = document.cookie.split(/;\s*/);
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === key) return decodeURIComponent(parts[i].slice(eq + 1));
    }
  } else if (src.source === 'window') {
    return key.split('.').reduce(function (obj, name) {
      return obj == null ? obj : obj[name];
    }, w);
  } else if (src.source === 'data_layer') {
    var layer = w.dataLayer || [];
    for (var j = layer.length - 1; j >= 0; j--) {
      if (layer[j] && typeof layer[j] === 'object' && key in layer[j]) return layer[j][key];
    }
  } else if (src.source === 'local_storage') {
    return w.localStorage.getItem(key);
  } else if (src.source === 'query') {
    return new URLSearchParams(w.location.search).get(key);
  }
  return null;
}
