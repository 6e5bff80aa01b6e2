/*
 * The UI part of the tag: registers itself with the loader, which creates it only when the page
 * shows the preference center. Served right after the loader, in the same file (widget/README.md).
 */
import { createUi } from './ui/controller.js';

try {
  var o = window.optline;
  if (typeof o === 'function') o('_ui', createUi);
} catch (e) {}
