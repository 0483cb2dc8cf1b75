// Roster UI: a small single-page app over the native HTTP API. Pages are
// hash routes (#/services, #/services/NAME, #/members, #/leases). Lists stay
// live through blocking queries and the instance list's event stream; each
// update patches the rows it changes (keyed by name or id), and only one page
// of rows is ever in the document, so 10,000 services cost no more to show
// than 100.
'use strict';

(() => {
  const PAGE_SIZE = 100;
  const POLL_MS = 2000;
  const main = document.getElementById('main');
  const conn = document.getElementById('conn');
  const toast = document.getElementById('toast');
  const dialog = document.getElementById('confirm');

  // ---- DOM helpers (text only: nothing from the server is parsed as HTML)

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // setText changes a node's text only when it differs, so an update that
  // changes nothing touches nothing.
  function setText(node, text) {
    text = String(text);
    if (node.textContent !== text) node.textContent = text;
  }

  function fmt(n) { return Number(n).toLocaleString('en-US'); }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }

  function setConn(ok, why) {
    setText(conn, ok ? 'Live' : 'Disconnected: ' + (why || 'retrying'));
    conn.dataset.ok = ok ? 'true' : 'false';
  }

  let toastTimer = 0;
  function say(message, ok) {
    toast.textContent = message;
    toast.classList.toggle('ok', !!ok);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 5000);
  }

  // ---- API helpers

  async function request(method, path, signal, send) {
    const init = { method, signal, headers: { Accept: 'application/json' } };
    if (send !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(send);
    }
    const r = await fetch(path, init);
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) {
      const msg = body && body.error ? body.error : r.status + ' ' + r.statusText;
      throw new Error(msg);
    }
    return { body, index: Number(r.headers.get('X-Roster-Index') || 0) };
  }

  // watch runs a blocking query loop on path and calls onData with every
  // answer (a timed-out wait answers the same state again; the row patching
  // makes that free).
  async function watch(path, onData, signal) {
    let index = 0;
    while (!signal.aborted) {
      try {
        const sep = path.includes('?') ? '&' : '?';
        const url = index > 0 ? path + sep + 'index=' + index + '&wait=55s' : path;
        const res = await request('GET', url, signal);
        setConn(true);
        onData(res.body, res.index);
        // An index that went backwards (a restore on another cluster, a new
        // dev server) restarts the loop; index 0 has nothing to block on.
        index = res.index < index ? 0 : res.index;
        if (index === 0) await sleep(POLL_MS, signal);
      } catch (e) {
        if (signal.aborted) return;
        setConn(false, e.message);
        await sleep(POLL_MS, signal);
      }
    }
  }

  // poll calls fn now and every POLL_MS until signal aborts.
  async function poll(fn, signal) {
    while (!signal.aborted) {
      try {
        await fn();
        setConn(true);
      } catch (e) {
        if (signal.aborted) return;
        setConn(false, e.message);
      }
      await sleep(POLL_MS, signal);
    }
  }

  // ---- Keyed rows and paging

  // syncRows makes tbody show exactly items, in order, reusing the row of
  // each key that was there before (update patches it) and making rows only
  // for new keys.
  function syncRows(tbody, items, key, make, update) {
    const old = tbody.rows_ || new Map();
    const next = new Map();
    let prev = null;
    for (const it of items) {
      const k = key(it);
      let tr = old.get(k);
      if (tr) update(tr, it); else tr = make(it);
      next.set(k, tr);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (tr !== want) tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const [k, tr] of old) if (!next.has(k)) tr.remove();
    tbody.rows_ = next;
  }

  function pager(onMove) {
    const prev = el('button', { type: 'button', text: 'Previous page', onclick: () => onMove(-1) });
    const next = el('button', { type: 'button', text: 'Next page', onclick: () => onMove(1) });
    const label = el('span', { 'aria-live': 'polite' });
    const box = el('div', { class: 'pager' }, prev, label, next);
    return {
      box,
      show(page, total) {
        const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
        const from = total === 0 ? 0 : page * PAGE_SIZE + 1;
        const to = Math.min(total, (page + 1) * PAGE_SIZE);
        setText(label, total === 0 ? 'none' : fmt(from) + '–' + fmt(to) + ' of ' + fmt(total));
        prev.disabled = page === 0;
        next.disabled = page >= pages - 1;
        box.hidden = pages <= 1;
      },
    };
  }

  function clampPage(page, total) {
    return Math.max(0, Math.min(page, Math.ceil(total / PAGE_SIZE) - 1));
  }

  function cell(label, cls) { return el('td', { 'data-label': label, class: cls }); }

  function badge(status) { return el('span', { class: 'badge ' + status, text: status }); }

  function setBadge(td, status, cls) {
    const b = td.firstChild;
    if (b && b.textContent === status) return;
    td.replaceChildren(el('span', { class: 'badge ' + (cls || status), text: status }));
  }

  function setTags(td, tags) {
    const key = (tags || []).join('\u0000');
    if (td.dataset.key === key) return;
    td.dataset.key = key;
    td.replaceChildren(...(tags || []).map((t) => el('span', { class: 'tag', text: t })));
  }

  function setCount(td, n) {
    setText(td, fmt(n));
    td.classList.toggle('zero', n === 0);
  }

  function table(caption, headers, cards) {
    const thead = el('thead', null, el('tr', null,
      ...headers.map(([h, cls]) => el('th', { scope: 'col', class: cls, text: h }))));
    const tbody = el('tbody');
    const t = el('table', { class: cards ? 'cards' : undefined },
      el('caption', { class: 'skip', text: caption }), thead, tbody);
    return { wrap: el('div', { class: 'table-wrap' }, t), tbody };
  }

  function filterBox(label, placeholder, onInput) {
    const input = el('input', { type: 'search', placeholder, autocomplete: 'off', spellcheck: 'false' });
    let t = 0;
    input.addEventListener('input', () => { clearTimeout(t); t = setTimeout(onInput, 80); });
    return { label: el('label', null, label, input), input };
  }

  function select(label, options, onChange) {
    const s = el('select', { onchange: onChange },
      ...options.map(([v, text]) => el('option', { value: v, text })));
    return { label: el('label', null, label, s), input: s };
  }

  // ---- Services page

  function servicesPage(signal) {
    let all = [];
    let page = 0;
    const summary = el('p', { class: 'summary' });
    const filter = filterBox('Filter services', 'name or tag', () => { page = 0; render(); });
    const status = select('Show', [['all', 'all services'], ['critical', 'with critical instances'],
      ['warning', 'with warning instances'], ['unhealthy', 'with no passing instance']], () => { page = 0; render(); });
    const t = table('Services', [['Service'], ['Instances', 'num'], ['Passing', 'num'], ['Warning', 'num'],
      ['Critical', 'num'], ['Tags']], true);
    const pg = pager((d) => { page += d; render(); });
    const empty = el('p', { class: 'empty', hidden: true });
    main.replaceChildren(el('h1', { text: 'Services' }), summary,
      el('div', { class: 'controls', role: 'search' }, filter.label, status.label), t.wrap, empty, pg.box);

    function makeRow(s) {
      const link = el('a', { href: '#/services/' + encodeURIComponent(s.name), text: s.name });
      const tr = el('tr', { 'data-service': s.name },
        el('td', { class: 'primary', 'data-label': 'Service' }, link),
        cell('Instances', 'num'), cell('Passing', 'num'), cell('Warning', 'num'), cell('Critical', 'num'),
        cell('Tags'));
      updateRow(tr, s);
      return tr;
    }
    function updateRow(tr, s) {
      const c = tr.cells;
      setCount(c[1], s.instances);
      setCount(c[2], s.passing);
      setCount(c[3], s.warning);
      setCount(c[4], s.critical);
      setTags(c[5], s.tags);
      tr.dataset.health = s.critical > 0 ? 'critical' : s.warning > 0 ? 'warning' : 'passing';
    }
    function matches(s, q, st) {
      if (st === 'critical' && s.critical === 0) return false;
      if (st === 'warning' && s.warning === 0) return false;
      if (st === 'unhealthy' && (s.passing > 0 || s.instances === 0)) return false;
      if (!q) return true;
      if (s.name.includes(q)) return true;
      return (s.tags || []).some((tag) => tag.toLowerCase().includes(q));
    }
    function render() {
      const q = filter.input.value.trim().toLowerCase();
      const st = status.input.value;
      const shown = q || st !== 'all' ? all.filter((s) => matches(s, q, st)) : all;
      page = clampPage(page, shown.length);
      syncRows(t.tbody, shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE), (s) => s.name, makeRow, updateRow);
      pg.show(page, shown.length);
      empty.hidden = shown.length > 0;
      setText(empty, all.length === 0 ? 'No services are registered.' : 'No service matches the filter.');
    }
    watch('/v1/services', (body) => {
      all = body.services || [];
      const sum = all.reduce((a, s) => {
        a.i += s.instances; a.p += s.passing; a.w += s.warning; a.c += s.critical; return a;
      }, { i: 0, p: 0, w: 0, c: 0 });
      setText(summary, fmt(all.length) + ' services, ' + fmt(sum.i) + ' instances: ' + fmt(sum.p) +
        ' passing, ' + fmt(sum.w) + ' warning, ' + fmt(sum.c) + ' critical (index ' + fmt(body.index) + ')');
      render();
    }, signal);
  }

  // ---- One service's instances (live through the event stream)

  function instancesPage(name, signal) {
    let all = [];
    let page = 0;
    let first = true;
    const seen = new Map(); // id -> {modify, at}: when this page saw it change
    const summary = el('p', { class: 'summary', text: 'Connecting…' });
    const filter = filterBox('Filter instances', 'id, address, tag or output', () => { page = 0; render(); });
    const status = select('Status', [['any', 'any'], ['passing', 'passing'], ['warning', 'warning'],
      ['critical', 'critical']], () => { page = 0; render(); });
    const t = table('Instances of ' + name, [['ID'], ['Status'], ['Address'], ['Output'], ['Tags'], ['Meta'],
      ['TTL'], ['Last change'], ['Actions']], true);
    const pg = pager((d) => { page += d; render(); });
    const empty = el('p', { class: 'empty', hidden: true });
    main.replaceChildren(
      el('p', null, el('a', { href: '#/services', text: '← All services' })),
      el('h1', { text: name }), summary,
      el('div', { class: 'controls', role: 'search' }, filter.label, status.label), t.wrap, empty, pg.box);

    function makeRow(inst) {
      const btn = el('button', { type: 'button', class: 'danger', text: 'Deregister',
        'aria-label': 'Deregister ' + inst.id, onclick: () => deregister(name, inst.id) });
      // The maintenance button reads the row's current state when clicked.
      const mbtn = el('button', { type: 'button', class: 'maint', onclick: () =>
        maintenance(name, inst.id, tr.dataset.maintenance === undefined) });
      const tr = el('tr', { 'data-id': inst.id },
        el('td', { class: 'primary wrap', 'data-label': 'ID', text: inst.id }),
        cell('Status'), cell('Address', 'wrap'), cell('Output', 'wrap'), cell('Tags'), cell('Meta', 'wrap'),
        cell('TTL'), cell('Last change'), el('td', { 'data-label': 'Actions' }, btn, ' ', mbtn));
      updateRow(tr, inst);
      return tr;
    }
    function updateRow(tr, inst) {
      const c = tr.cells;
      setBadge(c[1], inst.status);
      tr.dataset.status = inst.status;
      setText(c[2], inst.address + ':' + inst.port);
      setText(c[3], inst.maintenance ? 'In maintenance: ' + inst.maintenance +
        (inst.output ? ' · ' + inst.output : '') : inst.output || '');
      if (inst.maintenance) tr.dataset.maintenance = inst.maintenance;
      else delete tr.dataset.maintenance;
      const mbtn = c[8].querySelector('button.maint');
      const mlabel = inst.maintenance ? 'End maintenance' : 'Maintenance';
      setText(mbtn, mlabel);
      mbtn.setAttribute('aria-label', mlabel + ' ' + inst.id);
      setTags(c[4], inst.tags);
      const meta = Object.entries(inst.meta || {}).map(([k, v]) => k + '=' + v);
      setTags(c[5], meta);
      setText(c[6], inst.ttl ? inst.ttl + (inst.deregister_after ? ', removed ' + inst.deregister_after +
        ' after critical' : '') : 'no lease');
      const s = seen.get(inst.id);
      setText(c[7], 'index ' + fmt(inst.modify_index) + (s && s.at ? ' · seen ' + s.at : ''));
      if (tr.dataset.modify && tr.dataset.modify !== String(inst.modify_index)) {
        tr.classList.remove('changed');
        void tr.offsetWidth; // restart the highlight
        tr.classList.add('changed');
      }
      tr.dataset.modify = String(inst.modify_index);
    }
    function matches(inst, q, st) {
      if (st !== 'any' && inst.status !== st) return false;
      if (!q) return true;
      return inst.id.toLowerCase().includes(q) || inst.address.toLowerCase().includes(q) ||
        (inst.output || '').toLowerCase().includes(q) ||
        (inst.tags || []).some((tag) => tag.toLowerCase().includes(q));
    }
    function render() {
      const q = filter.input.value.trim().toLowerCase();
      const st = status.input.value;
      const shown = q || st !== 'any' ? all.filter((i) => matches(i, q, st)) : all;
      page = clampPage(page, shown.length);
      syncRows(t.tbody, shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE), (i) => i.id, makeRow, updateRow);
      pg.show(page, shown.length);
      empty.hidden = shown.length > 0;
      setText(empty, all.length === 0 ? 'No instances are registered.' : 'No instance matches the filter.');
    }
    function apply(list) {
      all = list.instances || [];
      const now = new Date().toLocaleTimeString();
      const counts = { passing: 0, warning: 0, critical: 0 };
      for (const inst of all) {
        counts[inst.status] = (counts[inst.status] || 0) + 1;
        const s = seen.get(inst.id);
        if (!s) seen.set(inst.id, { modify: inst.modify_index, at: first ? '' : now });
        else if (s.modify !== inst.modify_index) seen.set(inst.id, { modify: inst.modify_index, at: now });
      }
      for (const id of seen.keys()) if (!all.some((i) => i.id === id)) seen.delete(id);
      first = false;
      setText(summary, fmt(all.length) + ' instances: ' + fmt(counts.passing) + ' passing, ' +
        fmt(counts.warning) + ' warning, ' + fmt(counts.critical) + ' critical (index ' + fmt(list.index) + ')');
      render();
    }
    const es = new EventSource('/v1/services/' + encodeURIComponent(name) + '/instances?status=any');
    es.addEventListener('instances', (e) => { setConn(true); apply(JSON.parse(e.data)); });
    es.addEventListener('open', () => setConn(true));
    es.addEventListener('error', () => setConn(false, 'stream interrupted, reconnecting'));
    signal.addEventListener('abort', () => es.close(), { once: true });
  }

  // The confirmation dialog. Its buttons answer directly; Escape or any
  // other close answers no. A close event can arrive late (events are
  // queued), so it counts only while the dialog is still closed: a stale one
  // must not answer the next question.
  let answer = null;
  function settle(yes) {
    const a = answer;
    answer = null;
    if (a) a(yes);
  }
  document.getElementById('confirm-ok').addEventListener('click', (e) => {
    e.preventDefault(); settle(true); dialog.close('ok');
  });
  dialog.querySelector('button[value="cancel"]').addEventListener('click', (e) => {
    e.preventDefault(); settle(false); dialog.close('cancel');
  });
  dialog.addEventListener('cancel', () => settle(false));
  dialog.addEventListener('close', () => { if (!dialog.open) settle(false); });

  const reasonLabel = document.getElementById('confirm-reason-label');
  const reasonInput = document.getElementById('confirm-reason');

  // confirmAction asks a yes/no question; withReason also shows the reason
  // field (read it from reasonInput after a yes).
  function confirmAction(text, okLabel, withReason) {
    settle(false);
    reasonLabel.hidden = !withReason;
    reasonInput.value = '';
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      answer = resolve;
      if (!dialog.open) dialog.showModal();
    });
  }

  async function deregister(service, id) {
    const ok = await confirmAction('Deregister instance ' + id + ' of ' + service + '? Its heartbeats will ' +
      'answer 410 for ten minutes, so a client library stops renewing instead of registering it again.',
    'Deregister');
    if (!ok) return;
    try {
      await request('DELETE', '/v1/services/' + encodeURIComponent(service) + '/instances/' +
        encodeURIComponent(id), new AbortController().signal);
      say('Deregistered ' + id + '.', true);
    } catch (e) {
      say('Deregister ' + id + ' failed: ' + e.message);
    }
  }

  async function maintenance(service, id, enable) {
    const ok = await confirmAction(enable
      ? 'Put instance ' + id + ' of ' + service + ' in maintenance? It is left out of lookups, DNS and ' +
        'Prometheus SD (shown critical) until maintenance ends, whatever its heartbeats say.'
      : 'End maintenance of instance ' + id + ' of ' + service + '? Its own status applies again.',
    enable ? 'Start maintenance' : 'End maintenance', enable);
    if (!ok) return;
    const body = { enable };
    if (enable && reasonInput.value.trim()) body.reason = reasonInput.value.trim();
    try {
      await request('PUT', '/v1/services/' + encodeURIComponent(service) + '/instances/' +
        encodeURIComponent(id) + '/maintenance', new AbortController().signal, body);
      say((enable ? 'Maintenance started for ' : 'Maintenance ended for ') + id + '.', true);
    } catch (e) {
      say('Maintenance of ' + id + ' failed: ' + e.message);
    }
  }

  // ---- Members page

  function membersPage(signal) {
    const local = el('dl', { class: 'facts' });
    const t = table('Cluster members', [['Name'], ['Raft role'], ['Gossip'], ['Health'], ['Last contact'],
      ['Log index', 'num'], ['HTTP'], ['Raft address'], ['Version']], true);
    main.replaceChildren(el('h1', { text: 'Members' }), t.wrap,
      el('p', { class: 'note', text: 'Health, last contact and log index are the leader\u2019s view ' +
        '(GET /v1/cluster/health): how long ago it last heard from each server and the last log ' +
        'index that server reported.' }),
      el('h2', { text: 'Raft, as this server sees it' }), local);
    let members = [];
    let health = new Map(); // Raft id -> the leader's view of that server

    function makeRow(m) {
      const tr = el('tr', { 'data-member': m.name },
        el('td', { class: 'primary', 'data-label': 'Name' }), cell('Raft role'), cell('Gossip'), cell('Health'),
        cell('Last contact'), cell('Log index', 'num'), cell('HTTP', 'nowrap'), cell('Raft address', 'nowrap'),
        cell('Version'));
      updateRow(tr, m);
      return tr;
    }
    function updateRow(tr, m) {
      const c = tr.cells;
      const h = health.get(m.id);
      setText(c[0], m.name + (m.id && m.id !== m.name ? ' (' + m.id + ')' : ''));
      setBadge(c[1], m.raft_role, m.raft_role === 'leader' ? 'leader' : 'other');
      setBadge(c[2], m.state, m.state === 'alive' ? 'passing' : m.state === 'suspect' ? 'warning' : 'critical');
      if (h) setBadge(c[3], h.healthy ? 'healthy' : 'unhealthy', h.healthy ? 'passing' : 'critical');
      else setText(c[3], '—');
      c[3].title = h && h.reason ? h.reason : '';
      setText(c[4], h ? (m.raft_role === 'leader' ? 'is the leader' : h.last_contact) : '—');
      setText(c[5], h ? fmt(h.last_index) : '—');
      tr.dataset.role = m.raft_role;
      tr.dataset.healthy = h ? String(h.healthy) : '';
      if (c[6].dataset.addr !== m.http_addr) {
        c[6].dataset.addr = m.http_addr;
        c[6].replaceChildren(m.http_addr
          ? el('a', { href: 'http://' + m.http_addr + '/ui/#/members', text: m.http_addr }) : '');
      }
      setText(c[7], m.raft_addr || '');
      setText(c[8], m.version || '');
    }
    function render() { syncRows(t.tbody, members, (m) => m.name, makeRow, updateRow); }
    watch('/v1/cluster/members', (body) => {
      members = (body.members || []).slice().sort((a, b) => a.name.localeCompare(b.name));
      render();
    }, signal);
    poll(async () => {
      try {
        const res = await request('GET', '/v1/cluster/health', signal);
        health = new Map((res.body.servers || []).map((s) => [s.id, s]));
      } catch (e) {
        if (signal.aborted) return;
        health = new Map(); // no leader to ask: shown as unknown
      }
      render();
    }, signal);

    const facts = {};
    for (const [k, label] of [['state', 'State'], ['leader', 'Leader'], ['term', 'Term'],
      ['last_contact', 'Last contact with the leader'], ['commit_index', 'Commit index'],
      ['applied_index', 'Applied index'], ['lag', 'Apply lag (entries)'], ['voters', 'Raft servers']]) {
      facts[k] = el('dd');
      local.append(el('dt', { text: label }), facts[k]);
    }
    poll(async () => {
      const [raft, leader] = await Promise.all([request('GET', '/v1/cluster/raft', signal),
        request('GET', '/v1/cluster/leader', signal)]);
      const r = raft.body;
      const l = leader.body;
      setText(facts.state, r.state);
      setText(facts.leader, l.known ? l.id + ' at ' + (l.http_addr || l.raft_addr) : 'none known');
      setText(facts.term, fmt(r.term));
      setText(facts.last_contact, r.state === 'leader' ? 'is the leader' : r.last_contact || 'never');
      setText(facts.commit_index, fmt(r.commit_index));
      setText(facts.applied_index, fmt(r.applied_index));
      setText(facts.lag, fmt(Math.max(0, r.commit_index - r.applied_index)));
      setText(facts.voters, (r.servers || []).map((s) => s.id + ' (' + s.suffrage.toLowerCase() +
        (s.leader ? ', leader' : '') + ')').join(', '));
    }, signal);
  }

  // ---- Leases page

  function leasesPage(signal) {
    const where = el('p', { class: 'note' });
    const paused = el('p', { class: 'alert', role: 'alert', hidden: true });
    const dl = el('dl', { class: 'facts' });
    main.replaceChildren(el('h1', { text: 'Leases' }), where, paused, dl);
    const facts = {};
    for (const [k, label] of [['armed', 'Armed'], ['leases', 'Leases held'], ['pending', 'Expiries pending'],
      ['paused', 'Expiry paused'], ['paused_since', 'Paused since'], ['expired_total', 'Expired (total)'],
      ['reaped_total', 'Removed after deregister_after (total)']]) {
      facts[k] = el('dd');
      dl.append(el('dt', { text: label }), facts[k]);
    }
    poll(async () => {
      const [leases, leader] = await Promise.all([request('GET', '/v1/cluster/leases', signal),
        request('GET', '/v1/cluster/leader', signal)]);
      const s = leases.body;
      const l = leader.body;
      if (s.leader) {
        setText(where, 'This server leads: this is the cluster\u2019s lease table.');
      } else if (where.dataset.leader !== String(l.http_addr)) {
        where.dataset.leader = String(l.http_addr);
        where.replaceChildren('This server is not the leader; only the leader holds leases. ',
          l.http_addr ? el('a', { href: 'http://' + l.http_addr + '/ui/#/leases', text: 'Open the leader\u2019s lease table' })
            : 'No leader is known.');
      }
      dl.hidden = !s.leader;
      setText(facts.armed, s.armed ? 'yes' : 'no: re-arming every lease after an election');
      setText(facts.leases, fmt(s.leases));
      setText(facts.pending, fmt(s.pending));
      setText(facts.paused, s.paused ? 'yes' : 'no');
      setText(facts.paused_since, s.paused_since || '—');
      setText(facts.expired_total, fmt(s.expired_total));
      setText(facts.reaped_total, fmt(s.reaped_total));
      paused.hidden = !s.paused;
      setText(paused, s.paused ? 'Mass-expiry protection is holding expiries back: ' + (s.pause_reason || '') : '');
    }, signal);
  }

  // ---- Routing

  let current = null;
  function route() {
    if (current) current.abort();
    toast.hidden = true;
    current = new AbortController();
    const path = (location.hash.replace(/^#/, '') || '/services').split('/').filter(Boolean);
    const section = path[0] || 'services';
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.nav === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    let title = 'Services';
    if (section === 'services' && path[1]) {
      const name = decodeURIComponent(path[1]);
      title = name;
      instancesPage(name, current.signal);
    } else if (section === 'members') {
      title = 'Members';
      membersPage(current.signal);
    } else if (section === 'leases') {
      title = 'Leases';
      leasesPage(current.signal);
    } else {
      servicesPage(current.signal);
    }
    document.title = title + ' · Roster';
  }
  window.addEventListener('hashchange', () => { route(); main.focus(); });
  route();
})();
