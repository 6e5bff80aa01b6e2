/* The email-code fallback (properties with email_verification): an address, then its 6 digits. */
import { h } from './dom.js';

export function renderEmail(step, t, onSubmit, onResend) {
  var isCode = step === 'code';
  var input = h(
    'input',
    isCode
      ? { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true }
      : { type: 'email', name: 'email', autocomplete: 'email', required: true }
  );
  var form = h(
    'form',
    {
      novalidate: true,
      onsubmit: function (ev) {
        ev.preventDefault();
        var value = input.value.trim();
        if (value) onSubmit(value);
        else input.focus();
      },
    },
    [
      h('p', null, isCode ? t.code_prompt : t.email_prompt),
      h('label', { class: 'field' }, [h('span', null, isCode ? t.code_label : t.email_label), input]),
      h('div', { class: 'actions' }, [
        h('button', { type: 'submit' }, isCode ? t.code_verify : t.email_send),
        isCode ? h('button', { type: 'button', class: 'alt', onclick: onResend }, t.code_resend) : null,
      ]),
    ]
  );
  return { el: form, focus: input };
}
