// The preview inspector: opens a session, shows the header and a curl to copy,
// and renders every traced request live from the event stream. Text from
// traces is only ever set through textContent.
(function () {
  'use strict';
  var base = location.pathname.replace(/preview\/?$/, '');
  if (base.slice(-1) !== '/') base += '/';
  var api = base + 'api/preview/';
  var metaIngest = document.querySelector('meta[name="hermes-ingest-url"]');
  var ingestUrl = (metaIngest && metaIngest.content) || (location.origin + '/');
  var STORE_KEY = 'hermes-preview-session';
  var SAMPLE = '[{"event_name":"purchase","transaction_id":"T-1001","currency":"EUR","value":30,' +
    '"user_data":{"email_address":"jane@example.com"},' +
    '"items":[{"item_id":"SKU-1","item_name":"Socks","price":15,"quantity":2}]}]';
  var source = null;
  var session = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setStatus(state, text) {
    $('status').dataset.state = state;
    $('status-text').textContent = text;
  }
  function showAlert(text) {
    $('alert').hidden = !text;
    $('alert').textContent = text || '';
  }
  function shellQuote(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }

  function curlFor(s) {
    return 'curl -X POST ' + shellQuote(ingestUrl) + ' \\\n' +
      "  -H 'Content-Type: application/json' \\\n" +
      '  -H ' + shellQuote(s.header + ': ' + s.value) + ' \\\n' +
      '  -H "Authorization: Bearer $HERMES_PREVIEW_BEARER_TOKEN" \\\n' +
      '  -d ' + shellQuote(SAMPLE);
  }

  function load() {
    try {
      var s = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
      if (s && s.session && Date.parse(s.expires_at) > Date.now() + 60000) return s;
    } catch (e) { /* a new session then */ }
    return null;
  }

  function open(forceNew) {
    var kept = forceNew ? null : load();
    if (kept) return Promise.resolve(kept);
    return fetch(api + 'sessions', { method: 'POST', cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('opening a session: HTTP ' + r.status);
      return r.json();
    }).then(function (s) {
      try { sessionStorage.setItem(STORE_KEY, JSON.stringify(s)); } catch (e) { /* private mode */ }
      return s;
    });
  }

  function start(s) {
    session = s;
    $('header-line').textContent = s.header + ': ' + s.value;
    $('curl').textContent = curlFor(s);
    $('expiry').textContent = 'The session traces requests until ' +
      new Date(s.expires_at).toLocaleString() + '.';
    render({ requests: [] });
    if (source) source.close();
    setStatus('connecting', 'Connecting…');
    source = new EventSource(api + s.session + '/stream');
    source.onopen = function () { setStatus('live', 'Live'); };
    source.onmessage = function (m) {
      setStatus('live', 'Live');
      showAlert('');
      try { render(JSON.parse(m.data)); } catch (e) { showAlert('Unreadable update: ' + e.message); }
    };
    source.addEventListener('error', function (m) {
      if (m && m.data) {
        try { showAlert('The traces cannot be read: ' + JSON.parse(m.data).error); } catch (e) { /* ignore */ }
      }
      setStatus('error', 'Reconnecting…');
    });
  }

  function statusClass(code) {
    if (code === 200) return 'ok';
    if (code === 206) return 'partial';
    return 'bad';
  }

  // Open/closed state of every <details>, by key, kept across re-renders.
  var openState = {};

  function detail(label, value, key) {
    var d = el('details', 'detail');
    d.dataset.key = key;
    if (openState[key]) d.open = true;
    d.appendChild(el('summary', null, label));
    d.appendChild(el('pre', null, typeof value === 'string' ? value : JSON.stringify(value, null, 2)));
    return d;
  }

  function renderDestination(dest, key) {
    var tr = el('tr', 'destination');
    tr.dataset.name = dest.name;
    tr.dataset.triggered = dest.triggered ? 'true' : 'false';
    tr.appendChild(el('td', 'name', dest.name));
    var fired = el('td', 'fired');
    fired.appendChild(el('span', 'badge ' + (dest.triggered ? (dest.error ? 'bad' : 'ok') : 'off'),
      dest.triggered ? (dest.error ? 'Failed' : 'Fired') : 'Not fired'));
    tr.appendChild(fired);
    tr.appendChild(el('td', 'reason', dest.reason));
    var result = el('td', 'result' + (dest.error ? ' failed' : ''));
    if (dest.error) result.textContent = dest.error;
    else if (dest.message_id) result.textContent = 'message ' + dest.message_id;
    else if (dest.triggered) result.textContent = 'built, not published (validate only)';
    else result.textContent = '–';
    if (dest.payload !== null && dest.payload !== undefined) {
      var p = detail('Payload', dest.payload, key + '/payload');
      p.classList.add('payload');
      result.appendChild(p);
    }
    if (dest.attributes) {
      var a = detail('Attributes', dest.attributes, key + '/attributes');
      a.classList.add('attributes');
      result.appendChild(a);
    }
    tr.appendChild(result);
    tr.appendChild(el('td', 'time hide-sm', dest.executionTime === null || dest.executionTime === undefined ? '–' : dest.executionTime + ' ms'));
    return tr;
  }

  function renderEvent(ev, key) {
    var box = el('div', 'event');
    box.dataset.index = ev.index;
    var head = el('div', 'event-head');
    head.appendChild(el('span', null, '#' + ev.index + ' ' + (ev.event_name || '(no event_name)')));
    head.appendChild(el('span', 'badge ' + (ev.errors.length ? 'bad' : 'ok'),
      ev.errors.length ? ev.errors.length + ' schema error' + (ev.errors.length === 1 ? '' : 's') : 'valid'));
    if (ev.quarantined) {
      var q = el('span', 'badge partial quarantined', 'Quarantined: ' + ev.quarantined);
      q.title = 'A bad row for this event went to the quarantine topic (hermes replay resends it)';
      head.appendChild(q);
    }
    box.appendChild(head);
    if (ev.errors.length) {
      var ul = el('ul', 'errors');
      ev.errors.forEach(function (e) {
        var li = el('li', 'error');
        li.appendChild(el('code', 'path', e.path));
        li.appendChild(document.createTextNode(' ' + (e.message || e.code || '')));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    var table = el('table', 'destinations');
    var cols = el('colgroup');
    ['c-name', 'c-fired', 'c-why', 'c-result', 'c-time hide-sm'].forEach(function (c) { cols.appendChild(el('col', c)); });
    table.appendChild(cols);
    var head2 = el('tr');
    ['Destination', 'Triggered', 'Why', 'Result', 'executionTime'].forEach(function (h, i) {
      head2.appendChild(el('th', i === 4 ? 'hide-sm' : null, h));
    });
    table.appendChild(head2);
    ev.destinations.forEach(function (d) {
      table.appendChild(renderDestination(d, key + '/' + ev.index + '/' + d.name));
    });
    box.appendChild(table);
    return box;
  }

  function renderRequest(req, openIt) {
    var li = el('li');
    var d = el('details', 'card request');
    d.dataset.id = req.id;
    d.dataset.key = req.id;
    d.dataset.status = req.status;
    if (openIt) d.open = true;
    var s = el('summary');
    s.appendChild(el('span', 'time', new Date(req.received_at).toLocaleTimeString()));
    s.appendChild(el('span', 'badge status ' + statusClass(req.status), req.status));
    var failedTags = 0;
    req.events.forEach(function (e) {
      e.destinations.forEach(function (t) { if (t.error) failedTags += 1; });
    });
    var n = req.events.length + (req.events_omitted || 0);
    s.appendChild(el('span', 'muted', n + ' event' + (n === 1 ? '' : 's') +
      (failedTags ? ' · ' + failedTags + ' failed tag' + (failedTags === 1 ? '' : 's') : '')));
    if (req.backfill) {
      var b = el('span', 'badge off backfill', 'Backfill');
      b.title = 'Sent with X-Hermes-Backfill: true: messages carry hermes_backfill';
      s.appendChild(b);
    }
    d.appendChild(s);
    var body = el('div', 'request-body');
    req.events.forEach(function (e) { body.appendChild(renderEvent(e, req.id)); });
    if (req.events_omitted) body.appendChild(el('div', 'omitted', req.events_omitted + ' more events not shown'));
    var resp = detail('Response', req.response, req.id + '/response');
    resp.classList.add('response');
    // A request refused before its events (400, 413, …) has only its answer to show.
    if (!req.events.length && openState[req.id + '/response'] === undefined) resp.open = true;
    body.appendChild(resp);
    d.appendChild(body);
    li.appendChild(d);
    return li;
  }

  function render(doc) {
    var list = $('requests');
    var known = {};
    Array.prototype.forEach.call(list.querySelectorAll('details'), function (d) {
      openState[d.dataset.key] = d.open;
      if (d.classList.contains('request')) known[d.dataset.id] = true;
    });
    list.textContent = '';
    doc.requests.forEach(function (req, i) {
      // A request seen before keeps its state; a new one opens when it is the newest.
      var openIt = known[req.id] ? openState[req.id] : i === 0;
      list.appendChild(renderRequest(req, openIt));
    });
    $('empty').hidden = doc.requests.length > 0;
    $('count').textContent = doc.requests.length ? '(' + doc.requests.length + ')' : '';
  }

  document.addEventListener('click', function (e) {
    var b = e.target.closest('[data-copy]');
    if (!b) return;
    var text = $(b.dataset.copy).textContent;
    var done = function () {
      b.dataset.copied = '';
      var label = b.textContent;
      b.textContent = 'Copied';
      setTimeout(function () { delete b.dataset.copied; b.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(b.dataset.copy); });
    } else {
      selectText(b.dataset.copy);
    }
  });
  function selectText(id) {
    var range = document.createRange();
    range.selectNodeContents($(id));
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  $('new-session').addEventListener('click', function () {
    open(true).then(start, function (e) { setStatus('error', 'No session'); showAlert(e.message); });
  });

  open(false).then(start, function (e) { setStatus('error', 'No session'); showAlert(e.message); });
})();
