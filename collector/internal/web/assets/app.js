// Pegasus-Go collector dashboard: reads the JSON API and draws tables,
// nodes, hot partitions, the probe and per-table charts with uPlot.
"use strict";

const charts = {};          // chart id -> {plot, table}
window.pegasusCharts = {};  // chart id -> {series: [{label, points}], canvas}
let current = decodeURIComponent((location.hash.match(/table=([^&]*)/) || [])[1] || "");
let intervalMs = 5000;

const chartDefs = [
  {id: "chart-qps", series: [["read QPS", "read_qps", "#2f6fdb"], ["write QPS", "write_qps", "#d9622b"]]},
  {id: "chart-latency", series: [["read p99 ms", "read_p99_ms", "#2f6fdb"], ["write p99 ms", "write_p99_ms", "#d9622b"]]},
  {id: "chart-duplag", series: [["dup lag p99 ms", "dup_lag_p99_ms", "#7a3fc4"]]},
  {id: "chart-duppending", series: [["pending mutations", "dup_pending", "#1e7b34"]]},
];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "onclick") e.onclick = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toFixed(digits === undefined ? 1 : digits);
}

async function getJSON(path) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function selectTable(name) {
  if (name === current) return;
  current = name;
  history.replaceState(null, "", "#table=" + encodeURIComponent(name));
  for (const id of Object.keys(charts)) { charts[id].plot && charts[id].plot.destroy(); delete charts[id]; }
  refresh();
}

function renderTables(page) {
  const body = document.querySelector("#tables tbody");
  body.replaceChildren();
  for (const t of page.tables) {
    const cls = (t.read_unhealthy > 0 ? "bad" : (t.write_unhealthy > 0 || t.healthy < t.partitions ? "warn" : "good"));
    const tr = el("tr", {class: "selectable" + (t.name === current ? " selected" : ""), onclick: () => selectTable(t.name), "data-table": t.name},
      el("td", {}, t.name), el("td", {}, t.partitions),
      el("td", {class: cls}, t.healthy), el("td", {class: t.write_unhealthy ? "warn" : ""}, t.write_unhealthy),
      el("td", {class: t.read_unhealthy ? "bad" : ""}, t.read_unhealthy),
      el("td", {}, fmt(t.read_qps)), el("td", {}, fmt(t.write_qps)),
      el("td", {}, fmt(t.read_p99_ms, 2)), el("td", {}, fmt(t.write_p99_ms, 2)),
      el("td", {class: t.hot_partitions ? "bad" : ""}, t.hot_partitions), el("td", {}, fmt(t.dup_shipped_total, 0)));
    body.append(tr);
  }
}

function renderNodes(page) {
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren();
  for (const n of page.nodes) {
    const scrape = !n.up ? el("span", {class: "bad"}, "down") : (n.slow ? el("span", {class: "warn"}, "slow") : el("span", {class: "good"}, "up"));
    body.append(el("tr", {"data-node": n.address},
      el("td", {}, n.address), el("td", {}, n.role),
      el("td", {class: n.alive ? "good" : "bad"}, n.alive ? "alive" : "dead"),
      el("td", {}, scrape), el("td", {}, fmt(n.scrape_seconds * 1000, 1)),
      el("td", {}, n.role === "replica" ? fmt(n.read_qps) : "–"), el("td", {}, n.role === "replica" ? fmt(n.write_qps) : "–"),
      el("td", {}, n.has_replicas ? n.replicas : "–"), el("td", {}, n.role === "replica" ? n.primaries : "–"),
      el("td", {}, n.role === "replica" ? n.secondaries : "–"), el("td", {class: "muted"}, n.error || "")));
  }
}

function renderHotspots(page) {
  const body = document.querySelector("#hotspots tbody");
  body.replaceChildren();
  if (page.hotspots.length === 0) {
    body.append(el("tr", {}, el("td", {class: "muted", colspan: "4"}, "none")));
  }
  for (const h of page.hotspots) {
    body.append(el("tr", {class: "bad"}, el("td", {}, h.table), el("td", {}, h.partition), el("td", {}, fmt(h.avg_qps)), el("td", {}, fmt(h.z, 2))));
  }
}

function renderProbe(page) {
  const box = document.getElementById("probe");
  const p = page.probe;
  if (!p) { box.textContent = "disabled"; return; }
  box.replaceChildren();
  const parts = [`${p.partitions} partitions, ${p.rounds} rounds`];
  for (const op of ["set", "get"]) {
    const o = p.ops[op] || {};
    parts.push(`${op}: ${fmt((o.success_ratio || 0) * 100, 1)}% ok in the last round, slowest ${fmt(o.max_latency_ms, 2)} ms, ${o.failures || 0} of ${o.requests || 0} failed in total`);
  }
  box.append(el("div", {class: p.last_error ? "warn" : "good"}, parts.join(" · ")));
  if (p.last_error) box.append(el("div", {class: "bad"}, p.last_error));
}

function renderPartitions(tp) {
  const box = document.getElementById("partitions");
  box.replaceChildren();
  for (const s of tp.scores || []) {
    box.append(el("span", {class: "p" + (s.hot ? " hot" : ""), title: `z=${fmt(s.z, 2)}`}, `${s.partition}: ${fmt(s.avg_qps)}`));
  }
}

function drawChart(def, hist) {
  const box = document.getElementById(def.id);
  const cols = def.series.map(s => hist[s[1]] || []);
  const counts = cols.map(c => c.filter(v => v !== null && v !== undefined).length);
  const info = {series: def.series.map((s, i) => ({label: s[0], points: counts[i]})), canvas: null};
  window.pegasusCharts[def.id] = info;
  const empty = box.querySelector(".empty");
  if (counts.every(n => n === 0)) {
    if (charts[def.id]) { charts[def.id].plot.destroy(); delete charts[def.id]; }
    if (!empty) box.append(el("div", {class: "empty"}, "no data reported yet"));
    return;
  }
  if (empty) empty.remove();
  const data = [hist.time, ...cols];
  let c = charts[def.id];
  if (!c) {
    const opts = {
      width: Math.max(400, box.clientWidth - 10), height: 200,
      scales: {x: {time: true}},
      series: [{}, ...def.series.map(s => ({label: s[0], stroke: s[2], width: 2, spanGaps: false}))],
      axes: [{}, {size: 60}],
    };
    c = charts[def.id] = {plot: new uPlot(opts, data, box)};
  } else {
    c.plot.setData(data);
  }
  info.canvas = box.querySelector("canvas");
}

async function refresh() {
  let page;
  try {
    page = await getJSON("/api/cluster");
  } catch (e) {
    document.getElementById("status").textContent = "collector unreachable: " + e.message;
    return;
  }
  intervalMs = Math.max(1000, page.interval_seconds * 1000);
  document.getElementById("cluster").textContent = page.cluster;
  const down = page.nodes.filter(n => !n.up).length;
  const slow = page.nodes.filter(n => n.up && n.slow).length;
  document.getElementById("status").textContent =
    `round ${page.round} at ${page.round_started ? new Date(page.round_started).toLocaleTimeString() : "–"}` +
    ` · meta leader ${page.meta_leader || "unknown"} · ${page.tables.length} tables · ${page.nodes.length} nodes` +
    (down ? ` · ${down} down` : "") + (slow ? ` · ${slow} slow` : "") +
    (page.discovery_error ? ` · discovery failed: ${page.discovery_error}` : "");
  if (!current && page.tables.length) {
    const t = page.tables.find(t => !t.name.startsWith("__")) || page.tables[0];
    current = t.name;
  }
  document.getElementById("current-table").textContent = current || "–";
  renderTables(page);
  renderNodes(page);
  renderHotspots(page);
  renderProbe(page);
  if (!current) return;
  try {
    const [hist, tp] = await Promise.all([
      getJSON("/api/tables/" + encodeURIComponent(current) + "/history"),
      getJSON("/api/tables/" + encodeURIComponent(current)),
    ]);
    for (const def of chartDefs) drawChart(def, hist);
    renderPartitions(tp);
  } catch (e) {
    document.getElementById("current-table").textContent = current + " (" + e.message + ")";
  }
}

async function loop() {
  await refresh();
  setTimeout(loop, intervalMs);
}
loop();
