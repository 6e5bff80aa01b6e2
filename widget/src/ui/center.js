/*
 * The preference center itself: topics × channels as native checkboxes, unsubscribe-from-all, one
 * "Save preferences" button. Built once per set of topics, then updated in place so focus and
 * unsaved ticks survive a refresh.
 */
import { h } from './dom.js';

// `extra`: nodes the controller adds, {actions: [...] beside Save, end: [...] after the form's end}.
export function renderCenter(data, t, onSave, extra) {
  extra = extra || {};
  var boxes = {}; // "topic/channel" -> {input, badge, was}
  var all;
  var topics = (data.topics || []).map(function (topic, i) {
    var channels = (topic.channels || []).map(function (ch, j) {
      var badgeId = 'o-b' + i + '-' + j;
      var badge = h('span', { class: 'badge', id: badgeId });
      var input = h('input', {
        type: 'checkbox',
        'aria-label': topic.name + ' — ' + ch.label,
        'aria-describedby': badgeId,
        onchange: function () {
          if (input.checked) all.checked = false;
        },
      });
      boxes[topic.code + '/' + ch.channel] = { input: input, badge: badge, sub: topic.code, ch: ch.channel };
      return h('label', { class: 'ch' }, [input, h('span', null, ch.label), badge]);
    });
    return h('fieldset', { class: 'topic' }, [
      h('legend', null, topic.name),
      topic.description ? h('p', { class: 'muted' }, topic.description) : null,
      h('div', { class: 'chs' }, channels),
    ]);
  });
  all = h('input', {
    type: 'checkbox',
    'aria-describedby': 'o-all',
    onchange: function () {
      if (!all.checked) return;
      for (var key in boxes) boxes[key].input.checked = false;
    },
  });
  var form = h(
    'form',
    {
      novalidate: true,
      onsubmit: function (ev) {
        ev.preventDefault();
        onSave(view);
      },
    },
    [
      t.intro ? h('p', null, t.intro) : null,
      h('div', { class: 'topics' }, topics),
      h('div', { class: 'all' }, [
        h('label', null, [all, h('span', null, t.unsubscribe_all)]),
        h('p', { class: 'muted', id: 'o-all' }, t.unsubscribe_all_hint),
      ]),
      h('div', { class: 'actions' }, [h('button', { type: 'submit' }, t.save)].concat(extra.actions || [])),
    ].concat(extra.end || []) // the access and erasure requests (ui/rights.js)
  );

  var view = {
    el: form,
    shape: shapeOf(data),
    // Shows the server's state; `force` also overwrites ticks the visitor has not saved yet.
    update: function (next, force) {
      eachChannel(next, function (topic, ch) {
        var box = boxes[topic.code + '/' + ch.channel];
        var on = ch.state === 'subscribed';
        if (force || box.input.checked === box.was) box.input.checked = on;
        box.was = on;
        box.badge.textContent = ch.sync_status === 'pending' ? t.pending : '';
      });
      if (force || all.checked === all.was) all.checked = !!next.unsubscribed_all;
      all.was = !!next.unsubscribed_all;
    },
    // What a save sends: the ticks that differ from the server's state.
    changes: function () {
      var out = [];
      for (var key in boxes) {
        var box = boxes[key];
        if (box.input.checked !== box.was) {
          out.push({
            subscription: box.sub,
            channel: box.ch,
            state: box.input.checked ? 'subscribed' : 'unsubscribed',
          });
        }
      }
      return { changes: out, unsubscribe_all: all.checked, dirty: out.length > 0 || all.checked !== all.was };
    },
  };
  view.update(data, true);
  return view;
}

// The topics and channels a view was built for; a different shape means building it anew.
export function shapeOf(data) {
  var keys = [];
  eachChannel(data, function (topic, ch) {
    keys.push(topic.code + '/' + ch.channel + '/' + topic.name + '/' + ch.label);
  });
  return keys.join('|');
}

function eachChannel(data, fn) {
  (data.topics || []).forEach(function (topic) {
    (topic.channels || []).forEach(function (ch) {
      fn(topic, ch);
    });
  });
}

export function isPending(data) {
  var pending = false;
  eachChannel(data || {}, function (topic, ch) {
    if (ch.sync_status === 'pending') pending = true;
  });
  return pending;
}
