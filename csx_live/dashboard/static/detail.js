// Symbol drill-down: candles from the engine's 1 s buckets (or 1 m), alert and data-gap
// markers, p(in play) and spread over time, reasons, volume and the explanation with the
// tick it was written for. Charts are TradingView lightweight-charts (vendored, Apache-2.0).
"use strict";

const detailEl = document.getElementById("detail");
const LWC = window.LightweightCharts;
const detail = { symbol: null, tf: "1s", charts: null, inflight: false, lastTs: -1, lastPoll: 0 };
const DETAIL_POLL_MS = 2000;

function detailUrlState() {
  if (!detail.symbol) return [];
  return detail.tf === "1s" ? [["sym", detail.symbol]] : [["sym", detail.symbol], ["tf", detail.tf]];
}

function chartOptions(height) {
  return {
    height, autoSize: false,
    layout: { background: { color: "#0f1419" }, textColor: "#d8dee4" },
    grid: { vertLines: { color: "#1a2129" }, horzLines: { color: "#1a2129" } },
    timeScale: { timeVisible: true, secondsVisible: true },
    rightPriceScale: { borderColor: "#222b35" },
  };
}

function makeCharts() {
  const priceBox = document.getElementById("chart-price");
  const pBox = document.getElementById("chart-p");
  const price = LWC.createChart(priceBox, { ...chartOptions(280), width: priceBox.clientWidth });
  const candles = price.addSeries(LWC.CandlestickSeries, {
    upColor: "#2fbf71", downColor: "#e5534b", borderVisible: false,
    wickUpColor: "#2fbf71", wickDownColor: "#e5534b",
  });
  const volume = price.addSeries(LWC.HistogramSeries, {
    priceScaleId: "vol", priceFormat: { type: "volume" }, color: "#2b3a4a",
    lastValueVisible: false, priceLineVisible: false, title: "10 s volume",
  });
  price.priceScale("vol").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const markers = LWC.createSeriesMarkers(candles, []);
  const pChart = LWC.createChart(pBox, {
    ...chartOptions(140), width: pBox.clientWidth, leftPriceScale: { visible: true },
  });
  const pLine = pChart.addSeries(LWC.LineSeries, {
    color: "#4c9aff", lineWidth: 2, priceFormat: { type: "percent" }, title: "p",
  });
  const spread = pChart.addSeries(LWC.LineSeries, {
    color: "#d9a64a", lineWidth: 1, priceScaleId: "left", title: "spread bps",
  });
  const resize = () => {
    price.applyOptions({ width: priceBox.clientWidth });
    pChart.applyOptions({ width: pBox.clientWidth });
  };
  window.addEventListener("resize", resize);
  return { price, candles, volume, markers, pChart, pLine, spread, resize };
}

function markersOf(body, stepS) {
  const out = [];
  const snap = (s) => s - (s % stepS);
  const first = body.candles.length ? body.candles[0].t : Infinity;
  for (const a of body.alerts) {
    const t = snap(Math.floor(a.ts_ms / 1000));
    if (t < first) continue;   // older than the candles kept: nothing to pin it to
    const up = a.direction === "UP", down = a.direction === "DOWN";
    const o = a.outcome;
    // short: a chart full of alerts stays readable; the list below has the full text
    const text = o && known(o.net_bps) ? fmtBps(o.net_bps).replace(" bps", "") : "alert";
    out.push({
      time: t, position: down ? "aboveBar" : "belowBar",
      shape: up ? "arrowUp" : down ? "arrowDown" : "circle",
      color: a.outcome && a.outcome.hit === true ? "#2fbf71" : a.outcome && a.outcome.hit === false ? "#e5534b" : "#4c9aff",
      text,
    });
  }
  for (const c of body.candles) {
    if (c.gap) out.push({ time: c.t, position: "aboveBar", shape: "square", color: "#7d8896", text: "gap" });
  }
  return out.sort((x, y) => x.time - y.time);
}

function renderDetail(body) {
  const ch = detail.charts || (detail.charts = makeCharts());
  const stepS = body.timeframe === "1m" ? 60 : 1;
  ch.candles.setData(body.candles.map((c) => ({ time: c.t, open: c.o, high: c.h, low: c.l, close: c.c })));
  ch.volume.setData(body.candles.filter((c) => known(c.qvol_10s)).map((c) => ({ time: c.t, value: c.qvol_10s })));
  const marks = markersOf(body, stepS);
  ch.markers.setMarkers(marks);
  ch.pLine.setData(body.candles.filter((c) => known(c.p)).map((c) => ({ time: c.t, value: 100 * c.p })));
  ch.spread.setData(body.candles.filter((c) => known(c.spread_bps)).map((c) => ({ time: c.t, value: c.spread_bps })));
  const box = document.getElementById("chart-price");
  box.dataset.candles = String(body.candles.length);
  box.dataset.markers = String(marks.filter((m) => m.text !== "gap").length);
  box.dataset.gaps = String(marks.length - Number(box.dataset.markers));
  if (detail.lastTs < 0) { ch.price.timeScale().fitContent(); ch.pChart.timeScale().fitContent(); }
  detail.lastTs = body.ts_ms;

  const last = body.candles[body.candles.length - 1];
  const r = body.row;
  const stats = [
    ["rank", r ? String(r.rank) : "not in the top"],
    ["p(in play)", r ? fmtPct(r.p_inplay) : "–"],
    ["direction", r ? fmtDir(r.direction) + (known(r.direction_confidence) ? ` (${fmtPct(r.direction_confidence)})` : "") : "–"],
    ["backtest net edge", r ? fmtBps(r.backtest_net_edge_bps) : "–"],
    ["last", last ? String(last.c) : "–"],
    ["spread", last && known(last.spread_bps) ? last.spread_bps.toFixed(2) + " bps" : "unknown"],
    ["volume 10 s", last && known(last.qvol_10s) ? Math.round(last.qvol_10s).toLocaleString("en-US") + " USDT" : "unknown"],
    ["candles", `${body.candles.length} × ${body.timeframe}`],
  ];
  document.getElementById("d-stats").replaceChildren(...stats.flatMap(([k, v]) => [el("dt", "", k), el("dd", "", v)]));
  document.getElementById("d-reasons").replaceChildren(...(r ? r.reasons : []).map((x) => {
    const chip = el("span", "chip", x.label); chip.title = x.code; return chip;
  }));
  const expl = document.getElementById("d-expl");
  const w = r && r.explanation_for;
  if (r && (r.explanation || r.explanation_older) && w) {
    expl.replaceChildren(
      el("span", "meta", `${r.explanation ? "current" : "older"} · ${w.source}, written for tick ${fmtTime(w.ts_ms)} ` +
        `(${fmtDur(w.age_s)} before this tick; ${fmtPct(w.p_inplay)} ${fmtDir(w.direction)}, edge ${fmtBps(w.backtest_net_edge_bps)}): `),
      el("span", "", r.explanation || r.explanation_older));
  } else {
    expl.replaceChildren(el("span", "muted", r ? "no explanation yet" : "no explanation: not in the top"));
  }
  document.getElementById("d-alerts").replaceChildren(
    ...body.alerts.slice(0, 20).map((a) => alertItem(a, alertState.horizonS, body.ts_ms, false)));
  setText(document.getElementById("d-note"), body.candles.length
    ? `tick ${fmtTime(body.ts_ms)} · candles are kept while the symbol is ranked or alerted`
    : "no candles yet: they are kept while the symbol is ranked or alerted");
}

async function pollDetail(force) {
  if (!detail.symbol || detail.inflight) return;
  const now = performance.now();
  if (!force && now - detail.lastPoll < DETAIL_POLL_MS) return;
  detail.inflight = true;
  detail.lastPoll = now;
  const symbol = detail.symbol, tf = detail.tf;
  try {
    const res = await fetch(`/api/dashboard/symbol/${encodeURIComponent(symbol)}?tf=${tf}`, { cache: "no-store" });
    if (symbol !== detail.symbol || tf !== detail.tf) return;
    if (!res.ok) {
      setText(document.getElementById("d-note"), res.status === 404
        ? "no history for this symbol yet" : `could not load (${res.status})`);
      return;
    }
    renderDetail(await res.json());
  } catch {
    // a lost runner is reported by the stream; the next view polls again
  } finally {
    detail.inflight = false;
  }
}

function openDetail(symbol) {
  if (detail.symbol !== symbol) detail.lastTs = -1;
  detail.symbol = symbol;
  detailEl.hidden = false;
  setText(document.getElementById("d-symbol"), symbol);
  for (const b of detailEl.querySelectorAll("[data-tf]")) b.classList.toggle("on", b.dataset.tf === detail.tf);
  if (detail.charts) detail.charts.resize();
  writeUrl();
  pollDetail(true);
}

function closeDetail() {
  detail.symbol = null;
  detailEl.hidden = true;
  writeUrl();
}

function onViewDetail() { pollDetail(false); }

function initDetail(params) {
  document.getElementById("d-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && detail.symbol) closeDetail(); });
  for (const b of detailEl.querySelectorAll("[data-tf]")) {
    b.addEventListener("click", () => { detail.tf = b.dataset.tf; detail.lastTs = -1; openDetail(detail.symbol); });
  }
  if (params.get("tf") === "1m") detail.tf = "1m";
  const sym = params.get("sym");
  if (sym) openDetail(sym.toUpperCase());
}
