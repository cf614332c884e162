// Alert history: paged, searchable, each alert with its outcome at t+H once resolved;
// acknowledgements live in this browser (localStorage); notification and sound are opt-in.
"use strict";

const ALERT_PAGE = 15;
const ACK_KEY = "csx.acked";
const ACK_MAX = 2000;
const alertsEl = document.getElementById("alerts");
const alertQEl = document.getElementById("alert-q");
const alertPageEl = document.getElementById("alert-page");
const alertCountEl = document.getElementById("alert-count");
const alertPrevEl = document.getElementById("alert-prev");
const alertNextEl = document.getElementById("alert-next");
const notifyEl = document.getElementById("alert-notify");
const soundEl = document.getElementById("alert-sound");
const alertState = {
  list: [],            // newest first
  horizonS: null,
  page: 0,
  key: "",
  served: true,        // false: the server keeps no history, page through view.alerts
  fetching: false,
  again: false,
  seen: null,          // alert keys already announced (null until the first view)
};
let acked = new Set();

function alertKey(a) { return `${a.symbol}@${a.ts_ms}`; }

function loadAcks() {
  try { acked = new Set(JSON.parse(localStorage.getItem(ACK_KEY) || "[]")); } catch { acked = new Set(); }
}
function saveAcks() {
  localStorage.setItem(ACK_KEY, JSON.stringify([...acked].slice(-ACK_MAX)));
}

function fmtOutcome(a, horizonS, nowMs) {
  if (a.direction === "EITHER") return ["no direction called: not a trade", "none"];
  const o = a.outcome;
  if (o) {
    if (o.hit === null || o.hit === undefined) return ["outcome unknown", "none"];
    return [`${o.hit ? "hit" : "miss"} ${fmtBps(o.net_bps)}`, o.hit ? "hit" : "miss"];
  }
  if (known(horizonS) && nowMs - a.ts_ms > 2000 * horizonS) return ["unresolved (data gap)", "none"];
  return ["pending", "pending"];
}

function alertItem(a, horizonS, nowMs, withAck) {
  const li = el("li");
  li.dataset.key = alertKey(a);
  if (acked.has(alertKey(a))) li.classList.add("acked");
  const [outcomeText, outcomeClass] = fmtOutcome(a, horizonS, nowMs);
  const sym = el("button", "symlink", a.symbol);
  sym.type = "button";
  sym.addEventListener("click", () => openDetail(a.symbol));
  li.append(el("span", "t", fmtTime(a.ts_ms)), sym,
    el("span", "", ` ${fmtPct(a.p_inplay)} ${fmtDir(a.direction)} · edge ${fmtBps(a.backtest_net_edge_bps)} `),
    ...a.reasons.map((x) => el("span", "chip", x.label)),
    el("span", "outcome " + outcomeClass, outcomeText));
  if (withAck) {
    const ack = el("button", "ack", acked.has(alertKey(a)) ? "acked" : "ack");
    ack.type = "button";
    ack.title = "acknowledge (kept in this browser)";
    ack.addEventListener("click", () => {
      const k = alertKey(a);
      if (acked.has(k)) acked.delete(k); else acked.add(k);
      saveAcks();
      renderAlertPage();
    });
    li.append(ack);
  }
  return li;
}

function alertMatches(a, q) {
  if (!q) return true;
  const o = a.outcome;
  const hay = [a.symbol, fmtTime(a.ts_ms), a.direction, fmtDir(a.direction),
    o && o.hit === true ? "hit" : "", o && o.hit === false ? "miss" : "",
    ...a.reasons.flatMap((x) => [x.code, x.label])].join(" ").toLowerCase();
  return q.split(/\s+/).every((word) => hay.includes(word));
}

function renderAlertPage() {
  const q = alertQEl.value.trim().toLowerCase();
  const hits = alertState.list.filter((a) => alertMatches(a, q));
  const pages = Math.max(1, Math.ceil(hits.length / ALERT_PAGE));
  alertState.page = Math.min(alertState.page, pages - 1);
  const start = alertState.page * ALERT_PAGE;
  const nowMs = lastView ? lastView.ts_ms : Date.now();
  alertsEl.replaceChildren(...hits.slice(start, start + ALERT_PAGE)
    .map((a) => alertItem(a, alertState.horizonS, nowMs, true)));
  setText(alertPageEl, `page ${alertState.page + 1} of ${pages}`);
  setText(alertCountEl, q ? `${hits.length} of ${alertState.list.length}` : `${alertState.list.length}`);
  alertPrevEl.disabled = alertState.page === 0;
  alertNextEl.disabled = alertState.page >= pages - 1;
}

async function fetchAlerts() {
  if (alertState.fetching) { alertState.again = true; return; }
  alertState.fetching = true;
  try {
    const res = await fetch("/api/dashboard/alerts", { cache: "no-store" });
    if (res.status === 404) {
      alertState.served = false;
      if (lastView) { alertState.list = viewAlerts(lastView); renderAlertPage(); }
      return;
    }
    if (!res.ok) return;
    const body = await res.json();
    alertState.list = body.alerts;
    alertState.horizonS = body.horizon_s;
    renderAlertPage();
  } catch {
    // the stream's own reconnect reports a lost runner; the next view retries
  } finally {
    alertState.fetching = false;
    if (alertState.again) { alertState.again = false; fetchAlerts(); }
  }
}

// Each view carries the latest alerts (with outcomes): when they change, refresh the list.
function onViewAlerts(view) {
  const key = view.alerts.map((a) => alertKey(a) + (a.outcome ? (a.outcome.hit ? "h" : "m") : "")).join("|");
  announce(view.alerts);
  if (key === alertState.key) return;
  alertState.key = key;
  if (alertState.served) fetchAlerts();
  else { alertState.list = viewAlerts(view); renderAlertPage(); }
}

function viewAlerts(view) { return [...view.alerts].sort((a, b) => b.ts_ms - a.ts_ms); }

// Browser notification and sound for alerts that arrive while the page is open (opt-in).
function announce(alerts) {
  const fresh = [];
  const first = alertState.seen === null;
  if (first) alertState.seen = new Set();
  for (const a of alerts) {
    const k = alertKey(a);
    if (!alertState.seen.has(k)) { alertState.seen.add(k); if (!first) fresh.push(a); }
  }
  if (!fresh.length) return;
  if (soundEl.checked) beep();
  if (notifyEl.checked && "Notification" in window && Notification.permission === "granted") {
    for (const a of fresh.slice(0, 3)) {
      new Notification(`${a.symbol} in play ${fmtPct(a.p_inplay)}`, {
        body: `${fmtDir(a.direction)} · edge ${fmtBps(a.backtest_net_edge_bps)} · ${a.reasons.map((x) => x.label).join(", ")}`,
        tag: alertKey(a),
      });
    }
  }
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.05;
    osc.connect(gain).connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.15);
  } catch { /* no audio device: the visual list still updates */ }
}

function initAlerts() {
  loadAcks();
  notifyEl.checked = localStorage.getItem("csx.notify") === "1";
  soundEl.checked = localStorage.getItem("csx.sound") === "1";
  notifyEl.addEventListener("change", async () => {
    if (notifyEl.checked && "Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    localStorage.setItem("csx.notify", notifyEl.checked ? "1" : "0");
  });
  soundEl.addEventListener("change", () => localStorage.setItem("csx.sound", soundEl.checked ? "1" : "0"));
  alertQEl.addEventListener("input", () => { alertState.page = 0; renderAlertPage(); });
  alertPrevEl.addEventListener("click", () => { alertState.page -= 1; renderAlertPage(); });
  alertNextEl.addEventListener("click", () => { alertState.page += 1; renderAlertPage(); });
  renderAlertPage();
}
