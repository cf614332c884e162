// CryptoScreener-X dashboard. Every string from the server is untrusted: it is only ever
// written with textContent, never parsed as HTML.
"use strict";

const rowsBySymbol = new Map();   // symbol -> {tr, cells, last}
const tbody = document.querySelector("#ranks tbody");
const emptyEl = document.getElementById("empty");
const bannerEl = document.getElementById("banner");
const filterEl = document.getElementById("filter");
const capEl = document.getElementById("cap");
const shownEl = document.getElementById("shown");
const dirEl = document.getElementById("f-dir");
const reasonEl = document.getElementById("f-reason");
const pminEl = document.getElementById("f-pmin");
const staleEl = document.getElementById("stale");
let lastView = null;
let lastViewAt = 0;            // performance.now() of the last view received
const sortState = { key: "rank", dir: 1 };
const reasonsSeen = new Map(); // code -> label, for the reason filter
const STALE_MS = 10000;        // no view for this long: the page says "stale"

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtPct(p) { return (100 * p).toFixed(1) + "%"; }
// null is "unknown" (the backtest does not back a number), never 0
function fmtBps(x) {
  if (x === null || x === undefined) return "unknown";
  return (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(1) + " bps";
}
function known(v) { return v !== null && v !== undefined; }
function fmtDir(d) {
  return d === "UP" ? "\u25b2 up" : d === "DOWN" ? "\u25bc down" : "\u2195 either way";
}
function dirClass(d) { return d === "UP" ? "up" : d === "DOWN" ? "down" : "either"; }
function fmtDur(s) {
  if (s < 60) return Math.round(s) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(Math.round(s % 60)).padStart(2, "0");
  return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0");
}
function fmtTime(ms) { return new Date(ms).toISOString().substring(11, 19); }

function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

function drawSpark(canvas, a, b) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const line = (values, color) => {
    if (!values || values.length < 2) return;
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const span = hi - lo || 1;
    ctx.strokeStyle = color; ctx.lineWidth = 1.2; ctx.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (canvas.width - 2) + 1;
      const y = canvas.height - 1 - ((v - lo) / span) * (canvas.height - 2);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  line(b, "#7d8896");
  line(a, "#4c9aff");
}

function makeRow(symbol) {
  const tr = el("tr");
  tr.dataset.symbol = symbol;
  tr.addEventListener("click", () => openDetail(symbol));
  const cells = {
    rank: el("td", "rank"), sym: el("td", "sym"), p: el("td", "p"),
    dir: el("td", "dir"), edge: el("td", "edge"), why: el("td", "why"),
    spark: el("td", "spark opt"), top: el("td", "top opt"), expl: el("td", "expl"),
  };
  const link = el("button", "symlink", symbol);
  link.type = "button";
  link.title = `open ${symbol}: chart, probability, reasons, alerts`;
  cells.sym.append(link);
  cells.bar = el("span", "bar");
  cells.ptext = el("span");
  cells.p.append(cells.bar, cells.ptext);
  cells.explMeta = el("span", "meta");
  cells.explText = el("span");
  cells.expl.append(cells.explMeta, cells.explText);
  cells.canvas = el("canvas");
  cells.canvas.width = 90; cells.canvas.height = 22;
  cells.spark.append(cells.canvas);
  for (const k of ["rank", "sym", "p", "dir", "edge", "why", "spark", "top", "expl"]) tr.append(cells[k]);
  return { tr, cells, last: null };
}

function updateRow(entry, r, allRanked) {
  const c = entry.cells, prev = entry.last;
  if (prev && prev.rank !== r.rank) {
    entry.tr.classList.add("flash");
    setTimeout(() => entry.tr.classList.remove("flash"), 900);
  }
  setText(c.rank, String(r.rank));
  setText(c.ptext, fmtPct(r.p_inplay));
  c.bar.style.width = Math.round(40 * r.p_inplay) + "px";
  setText(c.dir, fmtDir(r.direction));
  c.dir.className = "dir " + dirClass(r.direction);
  c.dir.title = known(r.direction_confidence)
    ? `direction confidence ${fmtPct(r.direction_confidence)}` : "direction confidence unknown";
  setText(c.edge, fmtBps(r.backtest_net_edge_bps));
  c.edge.className = "edge" + (known(r.backtest_net_edge_bps) ? "" : " unknown");
  const reasonKey = r.reasons.map((x) => x.code).join(",");
  if (!prev || prev.reasonKey !== reasonKey) {
    c.why.replaceChildren(...r.reasons.map((x) => {
      const chip = el("span", "chip", x.label);
      chip.title = x.code;
      return chip;
    }));
  }
  setText(c.top, allRanked ? "all" : fmtDur(r.time_in_top_s));
  c.top.title = allRanked ? "every symbol is ranked (universe no larger than top-K)" : "";
  renderExplanation(c, r);
  const sparkKey = r.spark_p.length + ":" + r.spark_p[r.spark_p.length - 1] + ":" + r.spark_px[r.spark_px.length - 1];
  if (!prev || prev.sparkKey !== sparkKey) drawSpark(c.canvas, r.spark_p, r.spark_px);
  entry.last = { rank: r.rank, reasonKey, sparkKey };
}

// An explanation is shown as the row's only while it matches the row at this tick (the
// server decides); an older one is shown with its age and the numbers it was written for.
function renderExplanation(c, r) {
  const w = r.explanation_for;
  if (r.explanation) {
    setText(c.explText, r.explanation);
    setText(c.explMeta, "");
    c.expl.className = "expl";
  } else if (r.explanation_older && w) {
    setText(c.explMeta,
      `older (${fmtDur(w.age_s)} ago, written for ${fmtPct(w.p_inplay)} ` +
      `${fmtDir(w.direction)}, edge ${fmtBps(w.backtest_net_edge_bps)}): `);
    setText(c.explText, r.explanation_older);
    c.expl.className = "expl older";
  } else {
    setText(c.explMeta, "");
    setText(c.explText, "");
    c.expl.className = "expl";
  }
  c.expl.title = w ? `${w.source}, written for tick ${fmtTime(w.ts_ms)} (${fmtDur(w.age_s)} ago)` : "";
}

function matches(r, q) {
  if (!q) return true;
  if (r.symbol.toLowerCase().includes(q)) return true;
  return r.reasons.some((x) => x.label.toLowerCase().includes(q) || x.code.toLowerCase().includes(q));
}

function passesFilters(r, f) {
  if (f.dir && r.direction !== f.dir) return false;
  if (f.reason && !r.reasons.some((x) => x.code === f.reason)) return false;
  if (f.pmin > 0 && 100 * r.p_inplay < f.pmin) return false;
  return matches(r, f.q);
}

function currentFilters() {
  const pmin = parseFloat(pminEl.value);
  return {
    q: filterEl.value.trim().toLowerCase(), dir: dirEl.value, reason: reasonEl.value,
    pmin: Number.isFinite(pmin) ? pmin : 0,
  };
}

const DIR_ORDER = { UP: 0, DOWN: 1, EITHER: 2 };
// Sort keys: a value per row; null sorts last whatever the direction (unknown is not 0).
const SORT_KEYS = {
  rank: (r) => r.rank,
  symbol: (r) => r.symbol,
  p: (r) => r.p_inplay,
  dir: (r) => DIR_ORDER[r.direction] ?? 3,
  edge: (r) => (known(r.backtest_net_edge_bps) ? r.backtest_net_edge_bps : null),
  why: (r) => (r.reasons.length ? r.reasons[0].label : null),
  top: (r) => r.time_in_top_s,
  expl: (r) => r.explanation || r.explanation_older || null,
};

// Stable across live updates: ties (and equal values) keep rank order.
function sortRows(rows) {
  const get = SORT_KEYS[sortState.key] || SORT_KEYS.rank;
  return rows.map((r) => [get(r), r]).sort((a, b) => {
    const [x, y] = [a[0], b[0]];
    if (x === null && y !== null) return 1;
    if (y === null && x !== null) return -1;
    if (x !== null && y !== null && x !== y) {
      const c = typeof x === "string" ? x.localeCompare(y) : x - y;
      if (c) return c * sortState.dir;
    }
    return a[1].rank - b[1].rank;
  }).map((pair) => pair[1]);
}

function renderSortHeaders() {
  for (const th of document.querySelectorAll("#ranks th[data-sort]")) {
    const on = th.dataset.sort === sortState.key;
    th.className = on ? (sortState.dir > 0 ? "sorted asc" : "sorted desc") : "";
    th.setAttribute("aria-sort", on ? (sortState.dir > 0 ? "ascending" : "descending") : "none");
  }
}

function noteReasons(view) {
  let added = false;
  for (const r of view.ranks) for (const x of r.reasons) {
    if (!reasonsSeen.has(x.code)) { reasonsSeen.set(x.code, x.label); added = true; }
  }
  if (!added) return;
  const chosen = reasonEl.value || urlParams().get("reason") || "";
  if (chosen && !reasonsSeen.has(chosen)) reasonsSeen.set(chosen, chosen);
  const options = [...reasonsSeen].sort((a, b) => a[1].localeCompare(b[1]))
    .map(([code, label]) => { const o = el("option", "", label); o.value = code; return o; });
  const any = el("option", "", "any"); any.value = "";
  reasonEl.replaceChildren(any, ...options);
  reasonEl.value = chosen;
}

function renderRanks(view) {
  noteReasons(view);
  const cap = parseInt(capEl.value, 10);
  const f = currentFilters();
  const wanted = sortRows(view.ranks.filter((r) => passesFilters(r, f))).slice(0, cap);
  const keep = new Set(wanted.map((r) => r.symbol));
  for (const [sym, entry] of rowsBySymbol) {
    if (!keep.has(sym)) { entry.tr.remove(); rowsBySymbol.delete(sym); }
  }
  // Every symbol is in the top when the universe is no larger than top-K: time in top then
  // only says how long the runner has been up, so it is not shown as if it meant something.
  const allRanked = view.universe_size > 0 && view.ranks.length >= view.universe_size;
  let cursor = tbody.firstChild;
  for (const r of wanted) {
    let entry = rowsBySymbol.get(r.symbol);
    if (!entry) { entry = makeRow(r.symbol); rowsBySymbol.set(r.symbol, entry); }
    updateRow(entry, r, allRanked);
    if (entry.tr !== cursor) tbody.insertBefore(entry.tr, cursor);
    else cursor = cursor.nextSibling;
  }
  renderSortHeaders();
  setText(shownEl, `${wanted.length} shown of ${view.ranks.length} ranked · universe ${view.universe_size}`);
}

function renderHealth(view) {
  const h = view.health;
  const pill = document.querySelector('[data-h="ready"]');
  setText(pill, h.ready ? "READY" : "NOT READY");
  pill.className = "pill " + (h.ready ? "ok" : "bad");
  pill.title = h.not_ready_reasons.join(", ");
  const set = (k, v) => setText(document.querySelector(`[data-h="${k}"]`), v);
  set("connections", String(h.connections));
  set("frames_per_s", h.frames_per_s.toFixed(0));
  set("dropped_total", String(h.dropped_total));
  set("malformed_total", String(h.malformed_total));
  set("tick_p99_ms", h.tick_p99_ms.toFixed(1) + " ms");
  set("model", h.model_version ? `v${h.model_version}${h.model_alias ? " @" + h.model_alias : ""}` : "none");
  set("data_age_s", h.data_age_s === null ? "–" : h.data_age_s.toFixed(1) + " s");
  set("ts", fmtTime(view.ts_ms));
  const num = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
  const rows = (h.live_outcomes || []).map(
    (o) => `${o.role}: Brier ${num(o.brier)} ECE ${num(o.ece)} top-K hit ${num(o.topk_hit_rate)} (n ${o.resolved_total})`
  );
  set("outcomes", rows.length ? rows.join(" · ") : "–");
  set("warm", known(h.warm_symbols) && known(h.scored_universe)
    ? (h.warm_symbols < h.scored_universe
      ? `warming up: ${h.warm_symbols} of ${h.scored_universe} symbols warm`
      : `${h.warm_symbols} of ${h.scored_universe} symbols warm`)
    : "unknown");
  renderPromise(h);
}

function fmtRate(v) { return known(v) ? fmtPct(v) : "unknown"; }
function fmtCi(ci, f) { return ci ? ` [${f(ci[0])}, ${f(ci[1])}]` : ""; }

// What the backtest promised for alerts next to what resolved live alerts did.
function renderPromise(h) {
  const p = h.promise, r = h.realised;
  const promised = p
    ? `hit ${fmtRate(p.hit_rate)}${fmtCi(p.hit_rate_ci, fmtPct)} · net ${fmtBps(p.net_bps)}${fmtCi(p.net_bps_ci, fmtBps)}`
    : "unknown";
  const realised = r
    ? `n ${r.n} · hit ${fmtRate(r.hit_rate)} · net ${fmtBps(r.net_bps)}`
    : "unknown";
  const set = (k, v) => setText(document.querySelector(`[data-h="${k}"]`), v);
  set("promise", promised);
  set("realised", realised + (r && r.diverged ? " · DIVERGED from the promise" : ""));
  document.getElementById("promise").className = "promise" + (r && r.diverged ? " diverged" : "");
  document.querySelector('[data-h="promise"]').title = p && p.source ? p.source : "";
}

function renderState(view) {
  const h = view.health;
  let banner = "";
  if (!h.model_version) banner = "No model loaded: scores come from the baseline scorer (or none).";
  if (h.feed_stale) banner = "Feed stale: no market data recently — ranks are frozen.";
  else if (h.warming_up) {
    banner = known(h.warm_symbols) && known(h.scored_universe)
      ? `Warming up: ${h.warm_symbols} of ${h.scored_universe} symbols warm (feature windows are still filling).`
      : "Warming up: feature windows are still filling.";
  }
  bannerEl.hidden = !banner;
  setText(bannerEl, banner);
  emptyEl.hidden = view.ranks.length > 0;
  if (!view.ranks.length) setText(emptyEl, h.warming_up ? "Warming up…" : "Nothing in play right now.");
}

function render(view) {
  lastView = view;
  lastViewAt = performance.now();
  renderHealth(view);
  renderState(view);
  renderRanks(view);
  onViewAlerts(view);
  onViewDetail(view);
}

// ---- URL state: the filters, the sort and the open symbol survive a reload -------------
function urlParams() { return new URLSearchParams(window.location.search); }

function readUrl() {
  const u = urlParams();
  filterEl.value = u.get("q") || "";
  dirEl.value = ["UP", "DOWN", "EITHER"].includes(u.get("dir")) ? u.get("dir") : "";
  const reason = u.get("reason") || "";
  if (reason) {
    const o = el("option", "", reason); o.value = reason; reasonEl.append(o);
    reasonEl.value = reason;
  }
  pminEl.value = u.get("pmin") || "";
  if (["20", "50", "100", "500"].includes(u.get("cap"))) capEl.value = u.get("cap");
  if (SORT_KEYS[u.get("sort")]) sortState.key = u.get("sort");
  sortState.dir = u.get("order") === "desc" ? -1 : 1;
  return u;
}

function writeUrl() {
  const u = new URLSearchParams();
  const put = (k, v, dflt) => { if (v && v !== dflt) u.set(k, v); };
  put("q", filterEl.value.trim(), "");
  put("dir", dirEl.value, "");
  put("reason", reasonEl.value, "");
  put("pmin", pminEl.value, "");
  put("cap", capEl.value, "50");
  put("sort", sortState.key, "rank");
  put("order", sortState.dir < 0 ? "desc" : "asc", "asc");
  for (const [k, v] of detailUrlState()) u.set(k, v);
  const qs = u.toString();
  history.replaceState(null, "", qs ? "?" + qs : window.location.pathname);
}

function rerender() { writeUrl(); if (lastView) renderRanks(lastView); }

// ---- the stream: reconnect with capped, jittered backoff, reset on success -------------
let source = null;
let attempt = 0;
let retryTimer = null;

function connect() {
  retryTimer = null;
  source = new EventSource("/api/stream");
  source.addEventListener("view", (e) => { attempt = 0; render(JSON.parse(e.data)); });
  source.onopen = () => { if (!lastView) setText(emptyEl, "Connected, waiting for the first tick…"); };
  source.onerror = () => {
    bannerEl.hidden = false;
    setText(bannerEl, "Disconnected from the runner — reconnecting…");
    source.close();
    const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 10);
    if (!retryTimer) retryTimer = setTimeout(connect, delay);
  };
}

function watchStale() {
  const age = lastViewAt ? performance.now() - lastViewAt : 0;
  const stale = lastViewAt > 0 && age > STALE_MS;
  staleEl.hidden = !stale;
  if (stale) setText(staleEl, `stale: no update for ${fmtDur(age / 1000)}`);
  document.body.classList.toggle("is-stale", stale);
}

function boot() {
  readUrl();
  filterEl.addEventListener("input", rerender);
  for (const c of [dirEl, reasonEl, pminEl, capEl]) {
    c.addEventListener("change", rerender);
    c.addEventListener("input", rerender);
  }
  for (const th of document.querySelectorAll("#ranks th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      if (sortState.key === key) sortState.dir = -sortState.dir;
      else { sortState.key = key; sortState.dir = key === "p" || key === "edge" || key === "top" ? -1 : 1; }
      rerender();
    });
  }
  renderSortHeaders();
  initAlerts();
  initDetail(urlParams());
  writeUrl();
  setInterval(watchStale, 1000);
  // Close the stream when the page goes, so the server sees a clean end.
  window.addEventListener("pagehide", () => { if (source) source.close(); });
  connect();
}
window.addEventListener("DOMContentLoaded", boot);
