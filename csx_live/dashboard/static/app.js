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
const alertsEl = document.getElementById("alerts");
let lastView = null;
let lastAlertKey = "";

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
  const cells = {
    rank: el("td", "rank"), sym: el("td", "sym", symbol), p: el("td", "p"),
    dir: el("td", "dir"), edge: el("td", "edge"), why: el("td", "why"),
    spark: el("td", "spark"), top: el("td", "top"), expl: el("td", "expl"),
  };
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

function updateRow(entry, r) {
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
  setText(c.top, fmtDur(r.time_in_top_s));
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

function renderRanks(view) {
  const q = filterEl.value.trim().toLowerCase();
  const cap = parseInt(capEl.value, 10);
  const wanted = view.ranks.filter((r) => matches(r, q)).slice(0, cap);
  const keep = new Set(wanted.map((r) => r.symbol));
  for (const [sym, entry] of rowsBySymbol) {
    if (!keep.has(sym)) { entry.tr.remove(); rowsBySymbol.delete(sym); }
  }
  let cursor = tbody.firstChild;
  for (const r of wanted) {
    let entry = rowsBySymbol.get(r.symbol);
    if (!entry) { entry = makeRow(r.symbol); rowsBySymbol.set(r.symbol, entry); }
    updateRow(entry, r);
    if (entry.tr !== cursor) tbody.insertBefore(entry.tr, cursor);
    else cursor = cursor.nextSibling;
  }
  setText(shownEl, `${wanted.length} shown of ${view.ranks.length} ranked · universe ${view.universe_size}`);
}

function renderAlerts(view) {
  const key = view.alerts.map((a) => a.ts_ms + a.symbol).join("|");
  if (key === lastAlertKey) return;
  lastAlertKey = key;
  const items = [...view.alerts].sort((a, b) => b.ts_ms - a.ts_ms).slice(0, 100).map((a) => {
    const li = el("li");
    li.append(el("span", "t", fmtTime(a.ts_ms)), el("b", "", a.symbol),
      el("span", "", ` ${fmtPct(a.p_inplay)} ${fmtDir(a.direction)} · edge ${fmtBps(a.backtest_net_edge_bps)} `),
      ...a.reasons.map((x) => el("span", "chip", x.label)));
    return li;
  });
  alertsEl.replaceChildren(...items);
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
  renderHealth(view);
  renderState(view);
  renderRanks(view);
  renderAlerts(view);
}

filterEl.addEventListener("input", () => lastView && renderRanks(lastView));
capEl.addEventListener("change", () => lastView && renderRanks(lastView));

function connect() {
  const source = new EventSource("/api/stream");
  source.addEventListener("view", (e) => render(JSON.parse(e.data)));
  source.onopen = () => { if (!lastView) setText(emptyEl, "Connected, waiting for the first tick…"); };
  source.onerror = () => {
    bannerEl.hidden = false;
    setText(bannerEl, "Disconnected from the runner — reconnecting…");
    // EventSource retries by itself; if the browser gave up, start again.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}
connect();
