// Hive's live dashboard: polls the node's /api/cluster (the cluster view gathered over NATS) every two
// seconds and redraws. Rates (tasks done per second) come from the difference between two polls; KPI samples
// and their trends come from each node's `kpis` status section. Plain browser JavaScript, no build step.
(function () {
  'use strict';
  const POLL_MS = 2000;
  const KEEP = 150;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const num = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v).toFixed(digits));
  const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)} %`);
  const dur = (ms) => {
    const s = Math.floor(ms / 1000);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  };

  function level(def, v) {
    if (def === undefined || v === null || v === undefined || !Number.isFinite(v)) return 'ok';
    const worse = (limit) => limit !== undefined && limit !== null && (def.bad === 'above' ? v >= limit : v <= limit);
    if (worse(def.crit)) return 'crit';
    if (worse(def.warn)) return 'warn';
    return 'ok';
  }

  function fmtKpi(def, v) {
    if (v === null || v === undefined) return '–';
    if (def.unit === 'ratio') return pct(v);
    if (def.unit === 'ms') return `${num(v, v < 10 ? 2 : 1)} ms`;
    if (def.unit === 'MB') return `${num(v, 0)} MB`;
    if (def.unit === 'cores') return `${num(v * 100, 0)} %`;
    if (def.unit === '') return num(v, 0);
    return `${num(v, 1)} ${def.unit}`;
  }

  const lastSample = (n) => {
    const s = n.extra && n.extra.kpis && n.extra.kpis.samples;
    return s && s.length > 0 ? s[s.length - 1] : undefined;
  };

  // ------------------------------------------------------------------ charts
  const charts = {};
  const history = { t: [], nodes: [], message: {}, search: {}, memory: {}, done: {} };
  let prevDone;
  let prevAt;

  function chart(id, series) {
    const el = $(id);
    const width = Math.max(300, el.parentElement.clientWidth - 16);
    const opts = {
      width,
      height: 160,
      legend: { show: true },
      scales: { x: { time: true } },
      series: [{}, ...series.map((label, i) => ({ label, stroke: ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#b58100', '#57606a'][i % 6], width: 2, spanGaps: true }))],
      axes: [{}, { size: 50 }],
    };
    return new uPlot(opts, [[], ...series.map(() => [])], el);
  }

  function drawChart(key, id, perNode) {
    const names = Object.keys(perNode).sort();
    const sig = names.join('|');
    if (charts[key] === undefined || charts[key].sig !== sig) {
      if (charts[key] !== undefined) charts[key].plot.destroy();
      charts[key] = { sig, plot: chart(id, names) };
    }
    charts[key].plot.setData([history.t.slice(), ...names.map((n) => perNode[n].slice())]);
  }

  function record(view) {
    const now = view.at / 1000;
    history.t.push(now);
    const names = view.nodes.map((n) => n.node);
    for (const key of ['message', 'search', 'memory']) {
      for (const n of names) if (history[key][n] === undefined) history[key][n] = history.t.slice(0, -1).map(() => null);
    }
    for (const n of view.nodes) {
      const s = lastSample(n);
      history.message[n.node].push(s ? s.messageP95Ms : null);
      history.search[n.node].push(s ? s.searchP95Ms : null);
      history.memory[n.node].push(n.memory.rssBytes / 1048576);
    }
    // tasks done per second, per pool, from the difference with the previous poll (of the durable cluster-wide totals)
    const done = {};
    for (const n of view.nodes) for (const p of (n.extra && n.extra.pools) || []) done[p.pool] = Math.max(done[p.pool] || 0, (p.cluster || p).done);
    for (const pool of Object.keys(done)) if (history.done[pool] === undefined) history.done[pool] = history.t.slice(0, -1).map(() => null);
    for (const pool of Object.keys(history.done)) {
      const before = prevDone && prevDone[pool];
      const dt = prevAt === undefined ? 0 : now - prevAt;
      history.done[pool].push(before !== undefined && dt > 0 && done[pool] !== undefined ? Math.max(0, done[pool] - before) / dt : null);
    }
    prevDone = done;
    prevAt = now;
    for (const key of ['message', 'search', 'memory', 'done']) {
      for (const n of Object.keys(history[key])) {
        const arr = history[key][n];
        while (arr.length < history.t.length) arr.push(null);
      }
    }
    if (history.t.length > KEEP) {
      history.t.shift();
      for (const key of ['message', 'search', 'memory', 'done']) for (const n of Object.keys(history[key])) history[key][n].shift();
    }
  }

  // ------------------------------------------------------------------ tables
  function renderKpis(view) {
    const tiles = view.kpis.map((def) => {
      let worst = null;
      let where = '';
      for (const n of view.nodes) {
        const s = lastSample(n);
        const v = s ? s[def.id] : null;
        if (v === null || v === undefined) continue;
        if (worst === null || (def.bad === 'above' ? v > worst : v < worst)) {
          worst = v;
          where = n.node;
        }
      }
      const lvl = level(def, worst);
      const limits = def.warn !== undefined ? `warn ${fmtKpi(def, def.warn)} · crit ${fmtKpi(def, def.crit)}` : 'no alert';
      return `<div class="tile ${lvl}" data-kpi="${esc(def.id)}" data-level="${lvl}" title="${esc(def.source)}"><div class="l">${esc(def.label)}</div><div class="v">${esc(fmtKpi(def, worst))}</div><div class="l">${esc(where)} · ${esc(limits)}</div></div>`;
    });
    $('kpis').innerHTML = tiles.join('');
  }

  function kpiCell(view, id, v) {
    const def = view.kpis.find((k) => k.id === id);
    return `<td class="${level(def, v)}">${esc(fmtKpi(def, v))}</td>`;
  }

  function renderNodes(view) {
    $('node-count').textContent = `(${view.nodes.length} up)`;
    $('nodes').tBodies[0].innerHTML = view.nodes
      .map((n) => {
        const s = lastSample(n) || {};
        const kinds = {};
        for (const a of n.actors) kinds[a.kind] = (kinds[a.kind] || 0) + 1;
        const byKind = Object.keys(kinds).sort().map((k) => `${esc(k)} ${kinds[k]}`).join(', ') + (n.truncated ? ' …' : '');
        const breakers = n.extra && n.extra.breakers ? Object.entries(n.extra.breakers).filter(([, st]) => st !== 'closed') : [];
        return `<tr data-node="${esc(n.node)}"><td>${esc(n.node)}</td><td><span class="badge ok">up</span></td><td>${dur(n.uptimeMs)}</td><td class="actors">${n.actorCount}</td><td class="small">${byKind}</td>${kpiCell(view, 'memoryMb', n.memory.rssBytes / 1048576)}${kpiCell(view, 'cpu', s.cpu)}${kpiCell(view, 'messageP95Ms', s.messageP95Ms)}${kpiCell(view, 'compressionSavings', s.compressionSavings)}<td>${breakers.length === 0 ? '<span class="ok">all closed</span>' : breakers.map(([k, st]) => `<span class="crit">${esc(k)} ${esc(st)}</span>`).join(' ')}</td></tr>`;
      })
      .join('');
  }

  function renderPools(view) {
    const pools = {};
    for (const n of view.nodes) {
      for (const p of (n.extra && n.extra.pools) || []) {
        const a = (pools[p.pool] = pools[p.pool] || { pool: p.pool, size: 0, target: 0, busy: 0, capacity: 0, queued: 0, done: 0, failed: 0, deadLettered: 0, breakers: [], decisions: [] });
        a.size += p.size;
        a.target = Math.max(a.target, p.target);
        a.busy += p.busy;
        a.capacity += p.capacity;
        a.queued = Math.max(a.queued, p.queued);
        // done, failed, dead-lettered: durable cluster-wide totals (nodes that are gone included), freshest read wins
        const c = p.cluster || p;
        a.done = Math.max(a.done, c.done);
        a.failed = Math.max(a.failed, c.failed);
        a.deadLettered = Math.max(a.deadLettered, c.deadLettered);
        if (p.breaker !== 'closed' && p.breaker !== 'off') a.breakers.push(`${n.node}: ${p.breaker}`);
        a.decisions.push(...p.decisions);
      }
    }
    const rows = Object.values(pools).sort((x, y) => x.pool.localeCompare(y.pool));
    $('pools').tBodies[0].innerHTML =
      rows
        .map((p) => {
          const util = p.capacity === 0 ? 0 : p.busy / p.capacity;
          const d = p.decisions.sort((x, y) => x.at - y.at).slice(-1)[0];
          const decision = d ? `${new Date(d.at).toLocaleTimeString()}: ${d.from} → ${d.to} (${esc(d.reason)})` : '–';
          return `<tr data-pool="${esc(p.pool)}"><td>${esc(p.pool)}</td><td>${p.size} / ${p.target}</td><td class="${util >= 0.95 ? 'crit' : util >= 0.85 ? 'warn' : 'ok'}">${pct(util)}</td><td>${p.busy}</td><td>${p.queued}</td><td class="done">${p.done}</td><td class="${p.failed > 0 ? 'warn' : ''}">${p.failed}</td><td class="${p.deadLettered > 0 ? 'crit' : ''}">${p.deadLettered}</td><td>${p.breakers.length === 0 ? '<span class="ok">closed</span>' : `<span class="crit">${esc(p.breakers.join(', '))}</span>`}</td><td class="small">${decision}</td></tr>`;
        })
        .join('') || '<tr><td colspan="10" class="muted">no pools</td></tr>';
  }

  function renderMemory(view) {
    const rows = view.nodes.filter((n) => n.extra && n.extra.memory);
    $('memory').tBodies[0].innerHTML =
      rows
        .map((n) => {
          const m = n.extra.memory;
          const k = n.extra.kpis || {};
          const s = lastSample(n) || {};
          const mem = k.memory || {};
          const hit = m.cache ? m.cache.hitRate : s.cacheHitRate;
          return `<tr><td>${esc(n.node)}</td><td>${esc(m.store || m.backend || '')}</td><td class="${m.state === 'ready' ? 'ok' : 'warn'}">${esc(m.state)}</td><td>${mem.documents ?? '–'}</td><td>${num(s.ingestDocsPerS, 0)} docs/s</td>${kpiCell(view, 'searchP95Ms', s.searchP95Ms)}${kpiCell(view, 'cacheHitRate', hit)}<td>${mem.queued ?? '–'}</td><td class="${m.breaker === 'open' ? 'crit' : m.breaker === 'half-open' ? 'warn' : 'ok'}">${esc(m.breaker)}</td></tr>`;
        })
        .join('') || '<tr><td colspan="9" class="muted">no node runs memory</td></tr>';
  }

  function renderVirtual(view) {
    const rows = [];
    for (const n of view.nodes) {
      for (const a of n.actors) {
        // node status lists a virtual actor as <kind>/<key> (a plain actor id is one token, never with "/")
        const i = a.id.indexOf('/');
        if (i > 0) rows.push(`<tr><td>${esc(a.id.slice(0, i))}</td><td>${esc(a.id.slice(i + 1))}</td><td>${esc(n.node)}</td><td>${a.mailboxDepth}</td><td>${a.handled}</td></tr>`);
        if (rows.length >= 200) break;
      }
    }
    $('virtual').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="5" class="muted">no virtual actor is active</td></tr>';
  }

  function render(view) {
    $('cluster').textContent = view.cluster;
    $('meta').textContent = `served by ${view.servedBy} · updated ${new Date(view.at).toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    record(view);
    renderKpis(view);
    renderNodes(view);
    renderPools(view);
    renderMemory(view);
    renderVirtual(view);
    drawChart('message', 'chart-message', history.message);
    drawChart('search', 'chart-search', history.search);
    drawChart('memory', 'chart-memory', history.memory);
    drawChart('done', 'chart-done', history.done);
  }

  async function poll() {
    try {
      const res = await fetch('/api/cluster', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      render(await res.json());
    } catch (err) {
      $('meta').innerHTML = `<span class="crit">cannot reach the node: ${esc(err.message)}</span> (retrying)`;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
