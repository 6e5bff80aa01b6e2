/* The UI language: the page's <html lang>, else the browser's, when the property offers it. */
export function pickLanguage(offered, doc, nav) {
  var langs = Array.isArray(offered) && offered.length ? offered : ['en'];
  var wanted = [doc.documentElement.lang].concat(nav.languages || [nav.language]);
  for (var i = 0; i < wanted.length; i++) {
    var primary = String(wanted[i] || '').toLowerCase().split('-')[0];
    if (langs.indexOf(primary) >= 0) return primary;
  }
  return langs[0];
}
