// Earshot insight dashboard: polls GET /v1/insight/dashboard every 5 s and
// draws it. Plain browser JS, no build step; charts with the vendored uPlot.
//
// The response is proto3 JSON of earshot.insight.v1.Dashboard: lowerCamelCase
// names, 64-bit integers as strings, fields at their default value omitted
// (read as 0 / "" / []), enums by name (numbers are accepted too).
//
// Test contract (data-testid): volume-total, queue-open, escalations-open,
// incidents-open, goodwill-index, driver-row (one per driver), status ("live"
// after a successful poll); body[data-rendered] counts successful renders.
(function () {
  'use strict';

  var API = '/v1/insight/dashboard';
  var POLL_MS = 5000;
  var TIMEOUT_MS = 10000;
  var TOKEN_KEY = 'earshot.insight.token';

  var CHANNELS = ['CHANNEL_UNSPECIFIED', 'CHANNEL_X', 'CHANNEL_FACEBOOK', 'CHANNEL_INSTAGRAM',
    'CHANNEL_REVIEW', 'CHANNEL_EMAIL', 'CHANNEL_CHAT', 'CHANNEL_PHONE', 'CHANNEL_WEB_FORM',
    'CHANNEL_WHATSAPP'];
  var INTENTS = ['INTENT_UNSPECIFIED', 'INTENT_HELP_REQUEST', 'INTENT_COMPLAINT', 'INTENT_QUESTION',
    'INTENT_PRAISE', 'INTENT_IDEA', 'INTENT_SALES_LEAD', 'INTENT_OTHER'];
  var SLA_DUE = ['SLA_DUE_UNSPECIFIED', 'SLA_DUE_BREACHED', 'SLA_DUE_WITHIN_1H', 'SLA_DUE_WITHIN_4H',
    'SLA_DUE_WITHIN_24H', 'SLA_DUE_LATER', 'SLA_DUE_NO_CLOCK'];
  var QUEUE_BUCKETS = [
    { due: 'SLA_DUE_BREACHED', label: 'Breached', color: '#dc2626' },
    { due: 'SLA_DUE_WITHIN_1H', label: '< 1 h', color: '#ea580c' },
    { due: 'SLA_DUE_WITHIN_4H', label: '< 4 h', color: '#f59e0b' },
    { due: 'SLA_DUE_WITHIN_24H', label: '< 24 h', color: '#84cc16' },
    { due: 'SLA_DUE_LATER', label: 'Later', color: '#16a34a' },
    { due: 'SLA_DUE_NO_CLOCK', label: 'No clock', color: '#9ca3af' }
  ];
  var CHANNEL_NAMES = { X: 'X', WHATSAPP: 'WhatsApp', UNSPECIFIED: 'Other' };
  var COMPONENT_NAMES = {
    net_sentiment: 'Net sentiment',
    recovery: 'Recovery',
    no_repeat: 'No repeat contact',
    sla: 'SLA met'
  };
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  // ---------------------------------------------------------------- helpers

  function $(id) { return document.getElementById(id); }

  // A proto3 JSON number: numbers, numeric strings ("12"), missing → 0.
  function num(v) {
    if (v === undefined || v === null || v === '') return 0;
    var n = typeof v === 'number' ? v : Number(v);
    return isFinite(n) ? n : 0;
  }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  // An enum by name or number; missing → its zero value.
  function enumName(v, names) {
    if (v === undefined || v === null || v === '') return names[0];
    if (typeof v === 'number' || /^\d+$/.test(String(v))) return names[Number(v)] || String(v);
    return String(v);
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'style') node.style.cssText = v; // CSSOM, fine under a CSP without 'unsafe-inline'
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }
  function replaceChildren(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (c) { node.appendChild(c); });
  }
  function setText(id, text) { $(id).textContent = text; }

  function int(n) { return String(Math.round(n)); }
  function pct(x, digits) { return (100 * x).toFixed(digits === undefined ? 1 : digits) + '%'; }
  function clamp(x, lo, hi) { return Math.min(hi, Math.max(lo, x)); }
  function sum(xs) { return xs.reduce(function (a, b) { return a + b; }, 0); }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function capitalise(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

  function prettyChannel(name) {
    var s = name.replace(/^CHANNEL_/, '');
    if (CHANNEL_NAMES[s]) return CHANNEL_NAMES[s];
    return capitalise(s.toLowerCase().replace(/_/g, ' '));
  }
  function prettyIntent(name) {
    var s = name.replace(/^INTENT_/, '');
    if (s === 'UNSPECIFIED') return '';
    return capitalise(s.toLowerCase().replace(/_/g, ' '));
  }
  function prettyComponent(name) {
    return COMPONENT_NAMES[name] || capitalise(name.replace(/_/g, ' '));
  }
  function severityLabel(s) {
    return str(s).replace(/^SEVERITY_/, '') || 'Unspecified';
  }

  // Times: everything the server counts by day or hour is UTC, so is the page.
  function fmtUtcDateTime(d) {
    return d.getUTCDate() + ' ' + MONTHS[d.getUTCMonth()] + ' ' + d.getUTCFullYear() + ', ' +
      pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds()) + ' UTC';
  }
  function fmtHour(sec) {
    var d = new Date(sec * 1000);
    return pad2(d.getUTCHours()) + ':00';
  }
  function fmtDaySec(sec) {
    var d = new Date(sec * 1000);
    return d.getUTCDate() + ' ' + MONTHS[d.getUTCMonth()];
  }
  function fmtDay(day) {
    day = obj(day);
    if (!num(day.year) || !num(day.month)) return '';
    return (num(day.day) || 1) + ' ' + MONTHS[clamp(num(day.month), 1, 12) - 1];
  }
  function fmtRange(range) {
    range = obj(range);
    var from = fmtDay(range.from), to = fmtDay(range.to);
    if (!from || !to) return '';
    var year = num(obj(range.to).year);
    return from === to ? from + ' ' + year : from + ' – ' + to + ' ' + year;
  }
  function parseTimestamp(v) {
    if (typeof v === 'string') {
      var t = Date.parse(v);
      if (!isNaN(t)) return new Date(t);
    }
    if (v && typeof v === 'object' && 'seconds' in v) return new Date(num(v.seconds) * 1000);
    return null;
  }

  function fmtCount(x) {
    return Math.abs(x - Math.round(x)) < 1e-9 ? int(x) : x.toFixed(1);
  }

  // --------------------------------------------------------------- token

  var memoryToken = '';
  function loadToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return memoryToken; }
  }
  function saveToken(t) {
    memoryToken = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: keep it in memory */ }
  }
  // #token=... is read once, kept, and taken out of the visible URL.
  function tokenFromFragment() {
    var hash = location.hash.replace(/^#/, '');
    if (!hash) return '';
    var params = new URLSearchParams(hash);
    var t = params.get('token');
    if (t === null) return '';
    params.delete('token');
    var rest = params.toString();
    try {
      history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    } catch (e) { /* ignore */ }
    return t.trim();
  }

  // --------------------------------------------------------------- status

  function setStatus(state, text, message) {
    var box = $('status-box');
    box.dataset.state = state;
    setText('status', text);
    setText('status-message', message || '');
    box.title = message || '';
  }

  function showTokenForm(message) {
    $('token-panel').hidden = false;
    $('change-token').hidden = true;
    $('grid').classList.toggle('locked', true);
    var err = $('token-error');
    err.hidden = !message;
    err.textContent = message || '';
    var input = $('token-input');
    input.value = '';
    try { input.focus(); } catch (e) { /* ignore */ }
  }
  function hideTokenForm() {
    $('token-panel').hidden = true;
    $('change-token').hidden = false;
    $('grid').classList.toggle('locked', false);
  }

  // ----------------------------------------------------------------- polling

  var token = '';
  var timer = null;
  var inFlight = null;
  var renders = 0;
  var generation = 0; // bumps when the token changes so stale answers are dropped

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }
  function stopPolling() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (inFlight) inFlight.abort();
    inFlight = null;
  }

  function errorMessage(body, status, statusText) {
    if (body && typeof body === 'object' && body.message) return String(body.message);
    if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 200);
    return 'HTTP ' + status + (statusText ? ' ' + statusText : '');
  }

  function poll() {
    timer = null;
    if (!token) { stopPolling(); return; }
    var gen = generation;
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    inFlight = ctrl;
    var killer = ctrl ? setTimeout(function () { ctrl.abort(); }, TIMEOUT_MS) : null;
    var status = 0;
    fetch(API, {
      method: 'GET',
      headers: { 'Authorization': 'Bearer ' + token, 'Accept': 'application/json' },
      cache: 'no-store',
      credentials: 'same-origin',
      signal: ctrl ? ctrl.signal : undefined
    }).then(function (res) {
      status = res.status;
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : {}; } catch (e) { body = text; }
        return { res: res, body: body };
      });
    }).then(function (r) {
      if (gen !== generation) return;
      if (r.res.status === 401 || r.res.status === 403) {
        var msg = errorMessage(r.body, r.res.status, r.res.statusText);
        token = '';
        saveToken('');
        stopPolling();
        setStatus('error', 'error', msg);
        showTokenForm(msg);
        return;
      }
      if (!r.res.ok) throw new Error(errorMessage(r.body, r.res.status, r.res.statusText));
      if (!r.body || typeof r.body !== 'object') throw new Error('the answer is not JSON');
      render(r.body);
      renders += 1;
      document.body.dataset.rendered = String(renders);
      setStatus('live', 'live', '');
      schedule(POLL_MS);
    }).catch(function (e) {
      if (gen !== generation) return;
      var msg = e && e.name === 'AbortError' ? 'no answer in ' + (TIMEOUT_MS / 1000) + ' s'
        : (e && e.message) || String(e);
      if (status === 0 && e instanceof TypeError) msg = 'cannot reach the server (' + msg + ')';
      setStatus('error', 'error', msg);
      if (typeof console !== 'undefined') console.error('dashboard poll failed:', e);
      schedule(POLL_MS);
    }).then(function () {
      if (killer) clearTimeout(killer);
      if (inFlight === ctrl) inFlight = null;
    });
  }

  function useToken(t) {
    generation += 1;
    stopPolling();
    token = t;
    saveToken(t);
    if (!t) {
      setStatus('signed-out', 'signed out', 'a token is needed');
      showTokenForm('');
      return;
    }
    hideTokenForm();
    setStatus('connecting', 'connecting', '');
    poll();
  }

  // ------------------------------------------------------------------- render

  function render(d) {
    var asOf = parseTimestamp(d.asOf) || new Date();
    var asOfEl = $('as-of');
    asOfEl.textContent = fmtUtcDateTime(asOf);
    asOfEl.setAttribute('datetime', asOf.toISOString());
    asOfEl.title = 'Your time: ' + asOf.toLocaleString();

    renderVolume(arr(d.volumeToday));
    renderHourly(arr(d.mentionsHourly).map(num), asOf);
    renderQueue(arr(d.openQueue));
    renderEscalations(obj(d.escalations), asOf);
    renderDrivers(arr(d.topDrivers), obj(d.driversRange), asOf);
    renderGoodwill(obj(d.goodwill), obj(d.goodwillRange));
  }

  // Today's volume by channel: CSS bars, mentions and cases opened.
  function renderVolume(rows) {
    var channels = rows.map(function (r) {
      r = obj(r);
      return { channel: enumName(r.channel, CHANNELS), mentions: num(r.mentions), cases: num(r.casesOpened) };
    });
    var totalMentions = sum(channels.map(function (c) { return c.mentions; }));
    var totalCases = sum(channels.map(function (c) { return c.cases; }));
    setText('volume-total', int(totalMentions));
    setText('volume-cases', int(totalCases));
    var max = Math.max.apply(null, [1].concat(channels.map(function (c) { return Math.max(c.mentions, c.cases); })));
    var box = $('channel-bars');
    if (!channels.length) {
      replaceChildren(box, [el('div', { class: 'empty', text: 'Nothing heard yet today.' })]);
      return;
    }
    function bar(kind, value) {
      var w = value > 0 ? Math.max(0.8, 100 * value / max) : 0;
      return el('span', { class: 'hbar-fill ' + kind + (value ? '' : ' zero'), style: 'width: ' + w.toFixed(2) + '%' });
    }
    var rowsOut = [el('div', { class: 'channel-head', 'aria-hidden': 'true' },
      el('span'), el('span'), el('span', { text: 'mentions' }), el('span', { text: 'cases' }))];
    channels.forEach(function (c) {
      var name = prettyChannel(c.channel);
      rowsOut.push(el('div', { class: 'channel-row', 'data-testid': 'channel-row', 'data-channel': c.channel,
        title: name + ': ' + int(c.mentions) + ' mentions, ' + int(c.cases) + ' cases opened today' },
        el('div', { class: 'channel-name', text: name }),
        el('div', { class: 'channel-tracks' }, bar('mentions', c.mentions), bar('cases', c.cases)),
        el('span', { class: 'channel-num mentions', 'data-testid': 'channel-mentions', text: int(c.mentions) }),
        el('span', { class: 'channel-num cases', 'data-testid': 'channel-cases', text: int(c.cases) })));
    });
    replaceChildren(box, rowsOut);
  }

  // uPlot charts are made once and fed new data; they follow their box's width.
  var charts = {};
  // A chart in a .fill box takes the box's height too (the box grows with
  // its panel; the chart itself is positioned out of the flow).
  function chartSize(box, minHeight) {
    var w = Math.max(200, Math.floor(box.clientWidth || 400));
    var h = Math.max(minHeight, Math.floor(box.clientHeight || 0));
    return { width: w, height: h };
  }
  function makeChart(key, box, opts, data) {
    if (typeof uPlot !== 'function') {
      replaceChildren(box, [el('div', { class: 'empty', text: 'Chart library missing.' })]);
      return null;
    }
    var minHeight = opts.height;
    var size = chartSize(box, minHeight);
    opts.width = size.width;
    opts.height = size.height;
    var u = new uPlot(opts, data, box);
    charts[key] = u;
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(function () {
        var s = chartSize(box, minHeight);
        if (s.width !== u.width || s.height !== u.height) u.setSize(s);
      }).observe(box);
    }
    return u;
  }
  function niceMax(u, min, max) {
    var top = Math.max(4, max);
    var mag = Math.pow(10, Math.floor(Math.log10(top)));
    var steps = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * mag >= top * 1.08) return [0, steps[i] * mag];
    }
    return [0, 10 * mag];
  }
  var AXIS = {
    stroke: '#667085',
    font: '11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
    grid: { stroke: '#eef0f3', width: 1 },
    ticks: { stroke: '#e3e6eb', width: 1, size: 4 }
  };
  var INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];
  function axis(extra) {
    var a = {};
    Object.keys(AXIS).forEach(function (k) { a[k] = AXIS[k]; });
    Object.keys(extra || {}).forEach(function (k) { a[k] = extra[k]; });
    return a;
  }

  // Mentions per hour, last 24 h: an area chart.
  var hourly = { xs: [], ys: [] };
  function hourlyReadout(i) {
    var n = hourly.ys.length;
    if (!n) { setText('hourly-readout', '\u00a0'); return; }
    if (i === null || i === undefined || i < 0) i = n - 1;
    var label = i === n - 1 ? 'This hour (' + fmtHour(hourly.xs[i]) + ')' : fmtHour(hourly.xs[i]) + '–' + fmtHour(hourly.xs[i] + 3600);
    setText('hourly-readout', label + ': ' + int(hourly.ys[i]) + ' mentions');
  }
  function renderHourly(values, asOf) {
    var ys = values.slice(-24);
    while (ys.length < 24) ys.unshift(0);
    var current = Math.floor(asOf.getTime() / 3600000) * 3600;
    var xs = ys.map(function (_, i) { return current - (ys.length - 1 - i) * 3600; });
    hourly = { xs: xs, ys: ys };
    setText('hourly-total', int(sum(ys)));
    var peak = Math.max.apply(null, ys);
    var peakAt = ys.lastIndexOf(peak);
    $('hourly-peak').textContent = int(peak) + (peak > 0 ? ' at ' + fmtHour(xs[peakAt]) : '');
    var data = [xs, ys];
    var box = $('hourly-chart');
    box.setAttribute('aria-label', 'Mentions per hour, last 24 hours, oldest first: ' + ys.map(int).join(', '));
    if (charts.hourly) { charts.hourly.setData(data); hourlyReadout(charts.hourly.cursor.idx); return; }
    makeChart('hourly', box, {
      height: 170,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      padding: [8, 18, 0, 0],
      scales: { x: { time: false }, y: { range: niceMax } },
      axes: [
        axis({
          values: function (u, splits) { return splits.map(fmtHour); },
          incrs: [3600 * 3, 3600 * 4, 3600 * 6],
          space: 50,
          size: 30
        }),
        axis({ incrs: INT_INCRS, size: 42, values: function (u, s) { return s.map(int); } })
      ],
      series: [
        {},
        {
          label: 'Mentions', stroke: '#4f46e5', width: 2, fill: 'rgba(79, 70, 229, 0.13)',
          points: { show: false }
        }
      ],
      hooks: { setCursor: [function (u) { hourlyReadout(u.cursor.idx); }] }
    }, data);
    hourlyReadout(null);
  }

  // Open queue by SLA due time: one coloured column per bucket.
  function renderQueue(rows) {
    var counts = {};
    rows.forEach(function (r) {
      r = obj(r);
      var due = enumName(r.due, SLA_DUE);
      counts[due] = (counts[due] || 0) + num(r.cases);
    });
    var total = sum(Object.keys(counts).map(function (k) { return counts[k]; }));
    setText('queue-open', int(total));
    setText('queue-breached', int(counts.SLA_DUE_BREACHED || 0));
    var max = Math.max.apply(null, [1].concat(QUEUE_BUCKETS.map(function (b) { return counts[b.due] || 0; })));
    replaceChildren($('queue-bars'), QUEUE_BUCKETS.map(function (b) {
      var n = counts[b.due] || 0;
      var h = n > 0 ? Math.max(2, 100 * n / max) : 0;
      return el('div', { class: 'qcol' + (n ? '' : ' zero'), 'data-testid': 'queue-bucket', 'data-due': b.due,
        title: b.label + ': ' + int(n) + ' open cases' },
        el('div', { class: 'qnum', 'data-testid': 'queue-bucket-count', text: int(n) }),
        el('div', { class: 'qbar-area', style: 'height: calc(100% - 48px)' },
          el('div', { class: 'qbar', style: 'height: ' + h.toFixed(2) + '%; background: ' + b.color })),
        el('div', { class: 'qlabel', style: 'border-top-color: ' + b.color, text: b.label }));
    }));
  }

  // Escalations & incidents: big numbers, severities, raised/incidents per day.
  var daily = { xs: [], raised: [], incidents: [] };
  function escalationsReadout(i) {
    var n = daily.xs.length;
    if (!n) return;
    if (i === null || i === undefined || i < 0) {
      setText('escalations-readout', '14 days: ' + int(sum(daily.raised)) + ' raised · ' + int(sum(daily.incidents)) + ' incidents');
      return;
    }
    var day = i === n - 1 ? 'Today' : fmtDaySec(daily.xs[i]);
    setText('escalations-readout', day + ': ' + int(daily.raised[i]) + ' raised · ' + int(daily.incidents[i]) + ' incidents');
  }
  function fit14(values) {
    var ys = values.slice(-14);
    while (ys.length < 14) ys.unshift(0);
    return ys;
  }
  function renderEscalations(e, asOf) {
    var open = num(e.open), unacked = num(e.unacknowledged), incidents = num(e.openIncidents);
    setText('escalations-open', int(open));
    setText('escalations-unacknowledged', int(unacked));
    setText('incidents-open', int(incidents));
    $('escalations-unacknowledged').classList.toggle('nonzero', unacked > 0);
    $('incidents-open').classList.toggle('nonzero', incidents > 0);

    var sevs = arr(e.openBySeverity).map(function (s) {
      s = obj(s);
      return { name: severityLabel(s.severity), open: num(s.open) };
    }).sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
    var sevBox = $('severities');
    if (!sevs.length) {
      replaceChildren(sevBox, [el('span', { class: 'muted small', text: open ? '' : 'No open escalations.' })]);
    } else {
      replaceChildren(sevBox, sevs.map(function (s) {
        var m = /SEV(\d)/.exec(s.name);
        var cls = m && +m[1] >= 1 && +m[1] <= 4 ? 'sev-' + m[1] : 'sev-x';
        return el('span', { class: 'sev ' + cls, 'data-testid': 'severity', 'data-severity': s.name, title: s.name + ': ' + int(s.open) + ' open' },
          el('span', { class: 'sev-name', text: s.name }),
          el('span', { class: 'sev-count', text: int(s.open) }),
          el('span', { class: 'muted', text: 'open' }));
      }));
    }

    var raised = fit14(arr(e.raisedDaily).map(num));
    var inc = fit14(arr(e.incidentsDaily).map(num));
    var today = Math.floor(asOf.getTime() / 86400000) * 86400;
    var xs = raised.map(function (_, i) { return today - (raised.length - 1 - i) * 86400; });
    daily = { xs: xs, raised: raised, incidents: inc };
    var data = [xs, raised, inc];
    var box = $('escalations-chart');
    box.setAttribute('aria-label', 'Per day over 14 days, oldest first. Raised: ' + raised.map(int).join(', ') +
      '. Incidents: ' + inc.map(int).join(', '));
    if (charts.escalations) { charts.escalations.setData(data); escalationsReadout(charts.escalations.cursor.idx); return; }
    var bars = uPlot.paths && uPlot.paths.bars;
    makeChart('escalations', box, {
      height: 130,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      padding: [8, 18, 0, 0],
      scales: {
        x: { time: false, range: function (u, min, max) { return [min - 43200, max + 43200]; } },
        y: { range: niceMax }
      },
      axes: [
        axis({
          values: function (u, splits) { return splits.map(fmtDaySec); },
          incrs: [86400, 86400 * 2, 86400 * 3, 86400 * 7],
          space: 46,
          size: 30
        }),
        axis({ incrs: INT_INCRS, size: 34, values: function (u, s) { return s.map(int); } })
      ],
      series: [
        {},
        { label: 'Raised', stroke: '#d97706', fill: 'rgba(217, 119, 6, 0.85)', width: 0,
          paths: bars ? bars({ size: [0.36, 18], align: -1, gap: 1 }) : undefined, points: { show: false } },
        { label: 'Incidents', stroke: '#dc2626', fill: 'rgba(220, 38, 38, 0.85)', width: 0,
          paths: bars ? bars({ size: [0.36, 18], align: 1, gap: 1 }) : undefined, points: { show: false } }
      ],
      hooks: { setCursor: [function (u) { escalationsReadout(u.cursor.idx); }] }
    }, data);
    escalationsReadout(null);
  }

  // Top drivers: a table with a trend arrow and an inline SVG sparkline.
  function driverLabel(key) {
    key = obj(key);
    return {
      topic: str(key.topic) || '(no topic)',
      intent: prettyIntent(enumName(key.intent, INTENTS)),
      intentName: enumName(key.intent, INTENTS),
      rule: str(key.ruleId)
    };
  }
  function trendOf(z) {
    if (z > 1.96) return { cls: 'rising', text: '▲ rising' };
    if (z < -1.96) return { cls: 'falling', text: '▼ falling' };
    return { cls: 'steady', text: '– steady' };
  }
  var TREND_COLORS = { rising: '#dc2626', falling: '#16a34a', steady: '#4f46e5' };
  function sparkline(values, cls) {
    var w = 132, h = 30, padY = 3;
    var svg = svgEl('svg', { class: 'spark', width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, 'aria-hidden': 'true' });
    if (!values.length) return svg;
    var max = Math.max.apply(null, values.concat([1]));
    var step = values.length > 1 ? (w - 4) / (values.length - 1) : 0;
    var pts = values.map(function (v, i) {
      var x = 2 + i * step;
      var y = h - padY - (h - 2 * padY) * (v / max);
      return [x, y];
    });
    var line = pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' ');
    var color = TREND_COLORS[cls] || TREND_COLORS.steady;
    svg.appendChild(svgEl('polygon', {
      points: '2,' + (h - padY) + ' ' + line + ' ' + pts[pts.length - 1][0].toFixed(1) + ',' + (h - padY),
      fill: color, 'fill-opacity': 0.12, stroke: 'none'
    }));
    svg.appendChild(svgEl('polyline', { points: line, fill: 'none', stroke: color, 'stroke-width': 1.6, 'stroke-linejoin': 'round', 'stroke-linecap': 'round' }));
    var last = pts[pts.length - 1];
    svg.appendChild(svgEl('circle', { cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 2.4, fill: color }));
    return svg;
  }
  function renderDrivers(drivers, range, asOf) {
    var r = fmtRange(range);
    var to = obj(range.to);
    var lastDay = !num(to.year) ? 'last' :
      (num(to.year) === asOf.getUTCFullYear() && num(to.month) === asOf.getUTCMonth() + 1 && num(to.day) === asOf.getUTCDate())
        ? 'today' : fmtDay(to) + ':';
    setText('drivers-range', r ? '· ' + r : '');
    var body = $('drivers-body');
    if (!drivers.length) {
      replaceChildren(body, [el('tr', null, el('td', { colspan: 7, class: 'empty', text: 'No contacts in the range.' }))]);
      return;
    }
    var maxShare = Math.max.apply(null, drivers.map(function (dr) { return num(obj(dr).share); }).concat([0.0001]));
    replaceChildren(body, drivers.map(function (dr) {
      dr = obj(dr);
      var k = driverLabel(dr.key);
      var contacts = num(dr.contacts), share = num(dr.share), prevShare = num(dr.previousShare);
      var prev = num(dr.previousContacts), z = num(dr.trendZ);
      var recurrent = num(dr.recurrent), recRate = num(dr.recurrenceRate), negative = num(dr.negative);
      var days = arr(dr.daily).map(num);
      var t = trendOf(z);
      var label = [k.topic, k.intent, k.rule].filter(Boolean).join(' × ');
      var delta = (share - prevShare) * 100;
      return el('tr', { 'data-testid': 'driver-row', 'data-topic': k.topic, 'data-intent': k.intentName, 'data-rule': k.rule, title: label },
        el('td', null,
          el('div', { class: 'driver-topic', 'data-testid': 'driver-label', text: k.topic }),
          el('div', { class: 'driver-meta' },
            k.intent ? el('span', { class: 'chip intent-' + k.intent.toLowerCase().replace(/ /g, '-'), text: k.intent }) : null,
            k.rule ? el('span', { class: 'chip rule', title: 'listening rule', text: 'rule ' + k.rule } ) : null)),
        el('td', { class: 'num' },
          el('span', { 'data-testid': 'driver-contacts', text: int(contacts) }),
          el('span', { class: 'sub', text: 'prev ' + int(prev) })),
        el('td', { class: 'num' },
          el('span', { 'data-testid': 'driver-share', text: pct(share) }),
          el('span', { class: 'share-bar' }, el('span', { style: 'width: ' + (100 * share / maxShare).toFixed(1) + '%' })),
          el('span', { class: 'sub', text: 'prev ' + pct(prevShare) })),
        el('td', null,
          el('span', { class: 'trend ' + t.cls, 'data-testid': 'driver-trend', 'data-trend': t.cls, title: 'z = ' + z.toFixed(2), text: t.text }),
          el('span', { class: 'sub', text: (delta >= 0 ? '+' : '−') + Math.abs(delta).toFixed(1) + ' pp · z ' + z.toFixed(1) })),
        el('td', { class: 'num' },
          el('span', { text: pct(recRate, 0) }),
          el('span', { class: 'sub', text: int(recurrent) + ' repeat' })),
        el('td', { class: 'num' },
          el('span', { text: int(negative) }),
          el('span', { class: 'sub', text: contacts ? pct(negative / contacts, 0) : '—' })),
        el('td', { title: 'Contacts per day, oldest first: ' + days.map(int).join(', ') },
          el('div', { class: 'spark-cell' }, sparkline(days, t.cls),
            days.length ? el('span', { class: 'spark-last', text: lastDay + ' ' + int(days[days.length - 1]) }) : null)));
    }));
  }

  // Goodwill Index: big number, 95% interval, 0–100 gauge, components.
  function renderGoodwill(g, range) {
    var index = num(g.index), low = num(g.low), high = num(g.high);
    var r = fmtRange(range);
    setText('goodwill-range', r ? '· ' + r : '');
    setText('goodwill-index', index.toFixed(1));
    setText('goodwill-low', low.toFixed(1));
    setText('goodwill-high', high.toFixed(1));
    var lo = clamp(Math.min(low, high), 0, 100), hi = clamp(Math.max(low, high), 0, 100);
    var band = $('gauge-band');
    band.style.left = lo + '%';
    band.style.width = (hi - lo) + '%';
    band.hidden = !(hi > lo);
    $('gauge-marker').style.left = clamp(index, 0, 100) + '%';
    $('gauge-marker').hidden = false;
    $('goodwill-gauge').setAttribute('aria-label', 'Goodwill Index ' + index.toFixed(1) + ' of 100, 95% interval ' +
      low.toFixed(1) + ' to ' + high.toFixed(1));

    var comps = arr(g.components).map(obj);
    var box = $('goodwill-components');
    if (!comps.length) {
      replaceChildren(box, [el('div', { class: 'empty', text: 'No components reported.' })]);
    } else {
      replaceChildren(box, comps.map(function (c) {
        var name = str(c.name), raw = num(c.raw), sample = num(c.sample), succ = num(c.successes);
        var tip = prettyComponent(name) + ': raw ' + pct(raw) + ' (' + fmtCount(succ) + ' of ' + int(sample) + ')' +
          ', shrunk ' + pct(num(c.shrunk)) + ', prior ' + pct(num(c.prior)) + ', weight ' + num(c.weight).toFixed(2);
        return el('div', { class: 'comp', 'data-testid': 'goodwill-component', 'data-name': name, title: tip },
          el('span', { class: 'comp-name' }, prettyComponent(name),
            el('span', { class: 'sub', text: 'weight ' + num(c.weight).toFixed(2) })),
          el('span', { class: 'comp-track' }, el('span', { class: 'comp-fill', style: 'display:block; width: ' + (100 * clamp(raw, 0, 1)).toFixed(1) + '%' })),
          el('span', { class: 'comp-raw', 'data-testid': 'goodwill-component-raw', text: pct(raw) }),
          el('span', { class: 'comp-sample', text: fmtCount(succ) + ' of ' + int(sample) }));
      }));
    }
    var formula = str(g.formula);
    var extra = g.priorStrength !== undefined ? '\nprior strength: ' + num(g.priorStrength) : '';
    $('goodwill-formula-box').hidden = !formula;
    setText('goodwill-formula', formula + extra);
  }

  // -------------------------------------------------------------------- start

  function start() {
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var t = $('token-input').value.trim();
      if (!t) { showTokenForm('Enter a token.'); return; }
      $('token-input').value = '';
      useToken(t);
    });
    $('change-token').addEventListener('click', function () {
      generation += 1;
      stopPolling();
      token = '';
      saveToken('');
      setStatus('signed-out', 'signed out', '');
      showTokenForm('');
    });
    document.addEventListener('visibilitychange', function () {
      // Catch up at once when the tab comes back.
      if (document.visibilityState === 'visible' && token && timer) schedule(0);
    });
    window.addEventListener('hashchange', function () {
      // A link with #token=... opened on the page already showing.
      var t = tokenFromFragment();
      if (t) useToken(t);
    });
    var fromUrl = tokenFromFragment();
    useToken(fromUrl || loadToken());
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
