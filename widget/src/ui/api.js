/*
 * The public widget API (PRODUCT 1.7): JSON over fetch, no cookies, a timeout; never rejects.
 * POSTs carry the token in the body as text/plain: a CORS "simple request", so rendering the
 * center costs the tag and one bootstrap call, with no preflight (PRODUCT §4). GETs (a rights
 * request's status) send it as Authorization: Bearer, never in the URL.
 */
var TIMEOUT_MS = 15000;

export function post(url, body, token) {
  if (token) body.token = token;
  return send(url, 'POST', { 'Content-Type': 'text/plain;charset=UTF-8' }, JSON.stringify(body));
}

export function get(url, token) {
  return send(url, 'GET', token ? { Authorization: 'Bearer ' + token } : {});
}

function send(url, method, headers, body) {
  var ctl = typeof AbortController === 'function' ? new AbortController() : null;
  var timer = setTimeout(function () {
    if (ctl) ctl.abort();
  }, TIMEOUT_MS);
  var done = function (result) {
    clearTimeout(timer);
    return result;
  };
  try {
    return fetch(url, {
      method: method,
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      headers: headers,
      body: body,
      signal: ctl ? ctl.signal : undefined,
    })
      .then(function (res) {
        return res
          .json()
          .catch(function () {
            return {};
          })
          .then(function (json) {
            return { ok: res.ok, status: res.status, body: json || {} };
          });
      })
      .catch(function () {
        return { ok: false, status: 0, body: {} };
      })
      .then(done);
  } catch (e) {
    return Promise.resolve(done({ ok: false, status: 0, body: {} }));
  }
}
