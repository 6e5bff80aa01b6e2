/* The tag's DOM events (optline:ready, optline:saved, optline:error), dispatched on document. */
export function emit(name, detail) {
  try {
    document.dispatchEvent(new CustomEvent('optline:' + name, { detail: detail }));
  } catch (e) {}
}
