(function () {
  'use strict';

  // API URLs from where the page is: `/`, `/dashboard` and `/dashboard/` all work.
  var path = location.pathname;
  var base = path.charAt(path.length - 1) === '/' ? path : path + '/';
  var API = base + 'api/items';
  var STREAM = API + '/stream';
  var TOP = 10;

  var meta = document.querySelector('meta[name="hermes-ingest-url"]');
  var configuredIngest = meta && meta.content ? meta.content : '';
  var INGEST = configuredIngest || location.origin + '/';

  var $ = function (id) { return document.getElementById(id); };
  var body = document.body;

  // ---- formatting -----------------------------------------------------------------

  var integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var relative = typeof Intl.RelativeTimeFormat === 'function'
    ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' })
    : null;
  var absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  var clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
  var currencies = {};

  function money(value, currency) {
    // A stored amount that is not finite comes as "Infinity", "-Infinity" or
    // "NaN" (JSON has no such numbers): shown as such, never as 0.
    var v = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : 0;
    // XXX is ISO 4217's "no currency": sales that named none show as plain amounts.
    if (typeof currency === 'string' && /^[A-Za-z]{3}$/.test(currency) && currency.toUpperCase() !== 'XXX') {
      var code = currency.toUpperCase();
      if (!(code in currencies)) {
        try {
          currencies[code] = new Intl.NumberFormat(undefined, { style: 'currency', currency: code });
        } catch (e) {
          currencies[code] = null;
        }
      }
      if (currencies[code]) return currencies[code].format(v);
      return decimal.format(v) + '\u00a0' + code;
    }
    return decimal.format(v);
  }

  function count(value) {
    return integer.format(typeof value === 'number' && isFinite(value) ? value : 0);
  }

  function ago(iso) {
    if (!iso) return '—';
    var t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    var s = Math.round((t - Date.now()) / 1000);
    if (!relative) return absolute.format(new Date(t));
    if (s > -45) return s > -5 ? 'just now' : relative.format(s, 'second');
    var m = Math.round(s / 60);
    if (m > -60) return relative.format(m, 'minute');
    var h = Math.round(m / 60);
    if (h > -24) return relative.format(h, 'hour');
    return relative.format(Math.round(h / 24), 'day');
  }

  function text(value) {
    if (value === null || value === undefined || value === '') return '';
    return String(value);
  }

  function hasCost(item) {
    return item.cost !== undefined && item.cost !== null;
  }

  // Amounts come as { "DKK": 150, "EUR": 20 }: one figure per currency, never summed.
  function codes(amounts) {
    return amounts && typeof amounts === 'object' ? Object.keys(amounts).sort() : [];
  }

  function hasAmounts(amounts) {
    return codes(amounts).length > 0;
  }

  // Fills `el` with one span per currency (`data-currency`), or one plain
  // figure when `plain` (a single-currency shop: the header names the currency).
  function putAmounts(el, amounts, plain) {
    var list = codes(amounts);
    if (!list.length) list = [''];
    var key = plain ? 'plain' : 'multi';
    var texts = list.map(function (c) {
      var v = c ? amounts[c] : 0;
      return plain ? money(v, null) : money(v, c || null);
    });
    var signature = key + '|' + list.join(',') + '|' + texts.join('|');
    if (el.getAttribute('data-amounts') === signature) return false;
    el.setAttribute('data-amounts', signature);
    el.textContent = '';
    list.forEach(function (c, i) {
      var span = document.createElement('span');
      span.className = 'amount';
      if (c) span.setAttribute('data-currency', c);
      span.textContent = texts[i];
      el.appendChild(span);
    });
    el.title = texts.join(' \u00b7 ');
    return true;
  }

  // ---- connection indicator ---------------------------------------------------------

  var statusEl = $('status');
  var statusText = $('status-text');
  var LABELS = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    degraded: 'Store unavailable'
  };

  function setStatus(state) {
    statusEl.setAttribute('data-state', state);
    statusText.textContent = LABELS[state] || state;
  }

  function showAlert(message) {
    $('alert-text').textContent = message || '';
    $('alert').hidden = false;
    setStatus('degraded');
  }

  function hideAlert() {
    $('alert').hidden = true;
  }

  // ---- empty state --------------------------------------------------------------------

  function curlCommand() {
    var event = '[{"event_name":"purchase","transaction_id":"T-1001","value":210,"currency":"DKK",\n' +
      '    "items":[{"item_id":"123","item_name":"Blazer","item_category":"Apparel","price":150,"quantity":1},\n' +
      '             {"item_id":"456","item_name":"T-Shirt","item_category":"Apparel","price":30,"quantity":2}]}]';
    return "curl -X POST '" + INGEST + "' \\\n" +
      "  -H 'Content-Type: application/json' \\\n" +
      "  -d '" + event + "'";
  }

  $('curl').textContent = curlCommand();
  if (!configuredIngest && base === '/') {
    // Served on its own (not under `hermes dev`): the ingest function lives elsewhere.
    $('hint').insertAdjacentText('beforeend',
      ' Set [dashboard] ingest_url to show your ingest function\u2019s address here.');
  }

  $('copy').addEventListener('click', function () {
    var button = this;
    var done = function (ok) {
      button.textContent = ok ? 'Copied' : 'Select and copy';
      setTimeout(function () { button.textContent = 'Copy'; }, 1600);
    };
    var value = curlCommand();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { done(true); }, function () { done(false); });
    } else {
      var range = document.createRange();
      range.selectNodeContents($('curl'));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      done(ok);
    }
  });

  // ---- rendering ------------------------------------------------------------------------

  var last = null;
  var updates = 0;
  var metric = 'counter';
  var rows = {};
  var previous = {};

  function bump(el) {
    el.classList.remove('bump');
    void el.offsetWidth; // restart the animation
    el.classList.add('bump');
  }

  function setKpiAmounts(id, amounts, code) {
    var el = $(id);
    var had = el.hasAttribute('data-amounts');
    // One currency: the figure names it, as a single-currency shop always saw.
    var changed = code !== undefined && code !== null
      ? putAmounts(el, singleAmount(amounts, code), false)
      : putAmounts(el, amounts, false);
    el.classList.toggle('multi', codes(amounts).length > 1 && (code === undefined || code === null));
    if (changed && had) {
      bump(el);
      setTimeout(function () { el.classList.remove('bump'); }, 700);
    }
  }

  function singleAmount(amounts, code) {
    var out = {};
    out[code] = amounts && typeof amounts[code] === 'number' ? amounts[code] : 0;
    return out;
  }

  function setKpi(id, value) {
    var el = $(id);
    if (el.textContent !== value) {
      var had = el.textContent !== '–';
      el.textContent = value;
      el.title = value;
      if (had) {
        bump(el);
        setTimeout(function () { el.classList.remove('bump'); }, 700);
      }
    }
  }

  function cell(tr, key, className) {
    var td = document.createElement('td');
    td.className = className;
    td.setAttribute('data-col', key);
    tr.appendChild(td);
    return td;
  }

  function makeRow(id) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-item-id', id);
    cell(tr, 'item_id', 'id');
    cell(tr, 'item_name', 'name');
    cell(tr, 'item_category', 'cat');
    cell(tr, 'counter', 'num strong');
    cell(tr, 'revenue', 'num');
    cell(tr, 'profit', 'num');
    cell(tr, 'last_event_at', 'num time');
    tr.addEventListener('animationend', function () { tr.classList.remove('bump'); });
    return tr;
  }

  function put(td, value, title) {
    if (td.textContent !== value) td.textContent = value;
    if (title !== undefined && td.title !== title) td.title = title;
  }

  // With one currency across the shop, the rows show plain amounts and the
  // headers name the currency; with several, each amount names its own.
  var common = null;

  function renderRow(tr, item) {
    var c = tr.children;
    put(c[0], text(item.item_id), text(item.item_id));
    put(c[1], text(item.item_name) || '—', text(item.item_name));
    var category = text(item.item_category);
    if (category) {
      if (!c[2].firstChild || c[2].firstChild.nodeType !== 1 || c[2].firstChild.textContent !== category) {
        c[2].textContent = '';
        var pill = document.createElement('span');
        pill.className = 'pill';
        pill.textContent = category;
        c[2].appendChild(pill);
      }
    } else {
      put(c[2], '—');
    }
    put(c[3], count(item.counter));
    putAmounts(c[4], item.revenue, common !== null);
    if (hasCost(item) || hasAmounts(item.profit)) {
      putAmounts(c[5], item.profit, common !== null);
      c[5].classList.remove('unknown');
    } else {
      c[5].removeAttribute('data-amounts');
      put(c[5], '—', 'No cost known for this item (add it to the catalog)');
      c[5].classList.add('unknown');
    }
    put(c[6], ago(item.last_event_at),
      item.last_event_at && !isNaN(Date.parse(item.last_event_at))
        ? absolute.format(new Date(Date.parse(item.last_event_at))) : '');
    c[6].setAttribute('data-time', item.last_event_at || '');
  }

  // Every currency the shop sold in, in code order.
  function shopCurrencies(totals) {
    var seen = {};
    codes(totals.revenue).concat(codes(totals.profit)).forEach(function (c) { seen[c] = true; });
    return Object.keys(seen).sort();
  }

  function renderTable(items, totals) {
    var tbody = $('rows');
    var all = shopCurrencies(totals);
    common = all.length <= 1 ? (all[0] || 'XXX') : null;
    var named = common && common !== 'XXX' ? ' (' + common + ')' : '';
    put($('head-revenue'), 'Revenue' + named);
    put($('head-profit'), 'Profit' + named);
    var seen = {};
    var frag = [];
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var id = text(item.item_id);
      seen[id] = true;
      var tr = rows[id];
      if (!tr) {
        tr = rows[id] = makeRow(id);
      }
      renderRow(tr, item);
      if (previous[id] !== undefined && previous[id] !== item.counter) bump(tr);
      previous[id] = item.counter;
      frag.push(tr);
    }
    Object.keys(rows).forEach(function (id) {
      if (!seen[id]) {
        rows[id].remove();
        delete rows[id];
        delete previous[id];
      }
    });
    // Order the rows as the document does (moves only what moved).
    for (var j = 0; j < frag.length; j++) {
      if (tbody.children[j] !== frag[j]) tbody.insertBefore(frag[j], tbody.children[j] || null);
    }
    var newest = null;
    items.forEach(function (it) {
      if (it.last_event_at && (!newest || Date.parse(it.last_event_at) > Date.parse(newest))) newest = it.last_event_at;
    });
    var n = totals.items || items.length;
    put($('total-items'), '(' + count(n) + (n === 1 ? ' item)' : ' items)'));
    put($('total-counter'), count(totals.counter));
    putAmounts($('total-revenue'), totals.revenue, common !== null);
    putAmounts($('total-profit'), totals.profit, common !== null);
    put($('total-last'), ago(newest));
    $('total-last').setAttribute('data-time', newest || '');
    // The document holds the top items by counter (GET /api/items?limit=N);
    // its totals are over every item.
    var shown = items.length;
    put($('table-title'), shown < n ? 'Top items' : 'All items');
    put($('table-count'), shown < n
      ? 'showing ' + count(shown) + ' of ' + count(n) + ' items'
      : count(n) + (n === 1 ? ' item' : ' items'));
    $('table-count').setAttribute('data-shown', String(shown));
    $('table-count').setAttribute('data-items', String(n));
  }

  // `metric` is 'counter' or 'revenue:<CUR>': revenue ranks within one currency.
  function metricOf(item) {
    if (metric === 'counter') return typeof item.counter === 'number' ? item.counter : 0;
    var code = metric.slice('revenue:'.length);
    var v = item.revenue && item.revenue[code];
    return typeof v === 'number' && isFinite(v) ? v : 0;
  }

  // The rank buttons: Units, then Revenue once per currency (just "Revenue" for one).
  var buttonsFor = null;

  function renderMetricButtons(totals) {
    var all = codes(totals.revenue);
    var signature = all.join(',');
    if (buttonsFor === signature) return;
    buttonsFor = signature;
    var group = document.querySelector('.segmented');
    var wanted = ['counter'].concat(all.map(function (c) { return 'revenue:' + c; }));
    if (wanted.indexOf(metric) < 0) metric = 'counter';
    group.textContent = '';
    wanted.forEach(function (m) {
      var b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('data-metric', m);
      b.setAttribute('aria-pressed', String(m === metric));
      var code = m.slice('revenue:'.length);
      b.textContent = m === 'counter' ? 'Units'
        : all.length > 1 ? code : 'Revenue';
      if (m !== 'counter') b.title = 'Rank by revenue in ' + code;
      group.appendChild(b);
    });
  }

  function renderChart(items) {
    var chart = $('chart');
    var sorted = items.slice().sort(function (a, b) {
      return metricOf(b) - metricOf(a) || (b.counter || 0) - (a.counter || 0);
    }).slice(0, TOP);
    var max = 0;
    sorted.forEach(function (it) { max = Math.max(max, metricOf(it)); });
    while (chart.children.length > sorted.length) chart.removeChild(chart.lastChild);
    sorted.forEach(function (item, i) {
      var bar = chart.children[i];
      if (!bar) {
        bar = document.createElement('div');
        bar.className = 'bar';
        bar.innerHTML = '<div class="bar-label"></div><div class="bar-value"></div>' +
          '<div class="bar-track"><div class="bar-fill"></div></div>';
        chart.appendChild(bar);
      }
      var label = bar.children[0];
      var name = text(item.item_name) || text(item.item_id);
      label.textContent = name;
      if (item.item_name) {
        var id = document.createElement('span');
        id.className = 'muted';
        id.textContent = text(item.item_id);
        label.appendChild(id);
      }
      label.title = name;
      bar.setAttribute('data-item-id', text(item.item_id));
      bar.children[1].textContent = metric === 'counter' ? count(item.counter)
        : money(metricOf(item), common === null ? metric.slice('revenue:'.length) : common);
      var pct = max > 0 ? Math.max(2, (Math.max(0, metricOf(item)) / max) * 100) : 0;
      bar.children[2].firstChild.style.width = pct.toFixed(2) + '%';
    });
  }

  function render(doc) {
    if (!doc || !Array.isArray(doc.items)) return;
    last = doc;
    updates += 1;
    var items = doc.items;
    var totals = doc.totals || {};
    setKpi('kpi-counter', count(totals.counter));
    var all = shopCurrencies(totals);
    var only = all.length <= 1 ? (all[0] || 'XXX') : null;
    setKpiAmounts('kpi-revenue', totals.revenue || {}, only);
    setKpiAmounts('kpi-profit', totals.profit || {}, only);
    setKpi('kpi-items', count(totals.items !== undefined ? totals.items : items.length));
    var empty = items.length === 0;
    $('empty').hidden = !empty;
    $('content').hidden = empty;
    if (!empty) {
      renderTable(items, totals);
      renderMetricButtons(totals);
      renderChart(items);
    }
    body.setAttribute('data-state', empty ? 'empty' : 'items');
    body.setAttribute('data-updates', String(updates));
    var now = new Date();
    $('updated').textContent = clock.format(now);
    $('updated').setAttribute('datetime', now.toISOString());
  }

  // Relative times age without new data.
  setInterval(function () {
    var cells = document.querySelectorAll('[data-time]');
    for (var i = 0; i < cells.length; i++) {
      var t = cells[i].getAttribute('data-time');
      if (t) put(cells[i], ago(t));
    }
  }, 1000);

  // One listener for the rank buttons, which are rebuilt as currencies appear.
  document.querySelector('.segmented').addEventListener('click', function (e) {
    var button = e.target && e.target.closest ? e.target.closest('button[data-metric]') : null;
    if (!button) return;
    var m = button.getAttribute('data-metric');
    metric = m === 'counter' || /^revenue:[A-Z]{3}$/.test(m) ? m : 'counter';
    Array.prototype.forEach.call(document.querySelectorAll('.segmented button'), function (b) {
      b.setAttribute('aria-pressed', String(b === button));
    });
    if (last) renderChart(last.items);
  });

  // ---- pipeline health (hermes dev only: on Google Cloud, Cloud Monitoring has it) ----------

  var HEALTH = base + 'api/health';
  var QUARANTINE_REASONS = { schema: 'failed the schema', destination: 'refused by a destination' };

  function healthRow(tbody, label, value, spark) {
    var tr = document.createElement('tr');
    var name = document.createElement('td');
    name.textContent = label;
    if (spark) {
      var max = Math.max.apply(null, spark.concat([1]));
      var s = document.createElement('span');
      s.className = 'spark';
      s.setAttribute('aria-hidden', 'true');
      spark.forEach(function (n) {
        var bar = document.createElement('i');
        bar.style.height = Math.round((n / max) * 16) + 'px';
        s.appendChild(bar);
      });
      name.appendChild(s);
    }
    var td = document.createElement('td');
    td.className = 'num';
    td.textContent = value;
    tr.appendChild(name);
    tr.appendChild(td);
    tbody.appendChild(tr);
    return tr;
  }

  function renderHealth(h) {
    var events = $('health-events');
    events.textContent = '';
    var per = h.events_per_minute || {};
    var names = Object.keys(per).sort();
    names.forEach(function (n) {
      var counts = Array.isArray(per[n]) ? per[n] : [];
      var tr = healthRow(events, n, count(counts.length ? counts[counts.length - 1] : 0) + '/min', counts);
      tr.setAttribute('data-event-name', n);
      tr.title = count(counts.reduce(function (a, b) { return a + b; }, 0)) + ' in 10 minutes';
    });
    if (!names.length) healthRow(events, 'No events yet', '');
    var rejected = $('health-rejected');
    rejected.textContent = '';
    var r = h.rejected_last_hour || {};
    var f = h.refused_last_hour || {};
    Object.keys(r).sort().forEach(function (code) {
      healthRow(rejected, 'schema: ' + code, count(r[code])).setAttribute('data-code', code);
    });
    Object.keys(f).sort().forEach(function (status) {
      healthRow(rejected, 'request refused: HTTP ' + status, count(f[status])).setAttribute('data-status', status);
    });
    if (!Object.keys(r).length && !Object.keys(f).length) healthRow(rejected, 'Nothing rejected', '');
    // Bad rows kept by the quarantine, per reason; null when it is off (no [quarantine]).
    var q = h.quarantined_last_hour;
    var on = !!q && typeof q === 'object';
    var quarantined = $('health-quarantined');
    quarantined.textContent = '';
    $('health-quarantine').hidden = !on;
    if (on) {
      var known = ['schema', 'destination'];
      var reasons = known.filter(function (k) { return k in q; })
        .concat(Object.keys(q).filter(function (k) { return known.indexOf(k) < 0; }).sort());
      reasons.forEach(function (reason) {
        var label = QUARANTINE_REASONS[reason] || reason;
        healthRow(quarantined, label, count(q[reason])).setAttribute('data-reason', reason);
      });
    }
    $('health-dead').textContent = count(h.dead_letters);
    $('health-pending').textContent = count(h.pending) + ' waiting for delivery';
    $('health').hidden = false;
  }

  function pollHealth() {
    fetch(HEALTH, { cache: 'no-store' }).then(function (r) {
      // Not served (the dashboard on its own): no health card, no more polling.
      if (r.status === 404) return false;
      return r.json().then(function (h) { if (r.ok) renderHealth(h); return true; });
    }).catch(function () { return true; }).then(function (again) {
      if (again) setTimeout(pollHealth, 2000);
    });
  }
  pollHealth();

  // ---- live updates -----------------------------------------------------------------------

  var retryMs = 1000;
  var source = null;

  function connect() {
    setStatus(last ? 'reconnecting' : 'connecting');
    source = new EventSource(STREAM);
    source.onopen = function () {
      retryMs = 1000;
      if ($('alert').hidden) setStatus('live');
    };
    source.onmessage = function (e) {
      var doc;
      try { doc = JSON.parse(e.data); } catch (err) { return; }
      hideAlert();
      setStatus('live');
      render(doc);
    };
    source.addEventListener('error', function (e) {
      if (e && typeof e.data === 'string') {
        // The server's own `error` event: the store cannot be read.
        var message = '';
        try { message = JSON.parse(e.data).error || ''; } catch (err) { message = e.data; }
        showAlert(message);
        return;
      }
      // The connection dropped: EventSource retries by itself unless it gave up.
      setStatus('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    });
  }

  function poll() {
    fetch(API, { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (doc) {
        if (!r.ok) throw new Error(doc && doc.error ? doc.error : 'HTTP ' + r.status);
        hideAlert();
        setStatus('live');
        render(doc);
      });
    }).catch(function (err) {
      if (last) showAlert(String(err && err.message ? err.message : err)); else setStatus('reconnecting');
    }).then(function () { setTimeout(poll, 2000); });
  }

  if (typeof EventSource === 'function') {
    connect();
  } else {
    poll();
  }
})();
