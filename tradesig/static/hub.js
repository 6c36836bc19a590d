"use strict";
// The trader's page of the tradesig feed hub. Protocol: docs/viewer-protocol.md (version 2).
// Chart views (bars, overlays, levels, board, markers) come from the hub, computed by tradesig's own code; this
// script only draws them and extends the bar in progress from ticks and closed minutes.
const LWC = window.LightweightCharts;
const IST_OFFSET = 19800;                     // seconds: the chart shows IST by shifting epoch times
const ANCHOR = 9 * 3600 + 15 * 60;            // 09:15 IST: bars are session-aligned
const CLOSE = 15 * 3600 + 30 * 60;            // 15:30 IST
const STEP = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600};
const INDICES = ["NIFTY", "BANKNIFTY", "SENSEX"];
const params = new URLSearchParams(location.search);
const token = params.get("token");
const publishToken = params.get("publish_token");
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; };
const num = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "–"
  : Number(x).toLocaleString("en-IN", {minimumFractionDigits: d, maximumFractionDigits: d});
const rupees = (x, d = 2) => (x === null || x === undefined) ? "–" : (x < 0 ? "−₹" : "₹") + num(Math.abs(x), d);
const signed = (x, d = 2) => (x === null || x === undefined) ? "–" : (x > 0 ? "+" : x < 0 ? "−" : "") + num(Math.abs(x), d);
const ist = (iso, sec = false) => iso ? new Date(iso).toLocaleTimeString("en-GB", {timeZone: "Asia/Kolkata",
  hour12: false, hour: "2-digit", minute: "2-digit", second: sec ? "2-digit" : undefined}) : "–";
const istEpoch = (t) => ist(new Date(t * 1000).toISOString());
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

const state = {
  symbol: params.get("symbol") || "NIFTY", interval: params.get("interval") || "5m",
  views: new Map(), ticks: {}, trade: null, chains: {}, canFlatten: false, ws: null, lastMessage: 0,
  connectedOnce: false, marketTime: null,
};
const key = (s, i) => `${s}|${i}`;
function view(symbol, interval) {
  const k = key(symbol, interval);
  if (!state.views.has(k)) {
    state.views.set(k, {symbol, interval, bars: new Map(), studies: new Map(), forming: null, levels: null,
      board: null, markers: [], loaded: false, stale: false, requested: false});
  }
  return state.views.get(k);
}
function bucket(t, interval) {            // session-aligned bucket start (epoch s) of an instant t (epoch s)
  const local = t + IST_OFFSET, day = local - (local % 86400), sec = local % 86400;
  const start = ANCHOR + Math.floor((sec - ANCHOR) / STEP[interval]) * STEP[interval];
  return day + Math.max(ANCHOR, Math.min(start, CLOSE - 60)) - IST_OFFSET;
}
function lastClosed(v) { let m = 0; for (const t of v.bars.keys()) if (t > m) m = t; return m; }
function lastStudy(v) { let m = 0; for (const t of v.studies.keys()) if (t > m) m = t; return m; }
function resumeFrom(v) {   // the last bar before the first hole of the day, or the last bar with its overlays
  const times = [...v.bars.keys()].sort((a, b) => a - b);
  let upto = times.length ? times[times.length - 1] : 0;
  for (let i = 0; i + 1 < times.length; i++) {
    if (times[i + 1] - times[i] > STEP[v.interval] && bucket(times[i + 1], v.interval) === times[i + 1] &&
        Math.floor((times[i] + IST_OFFSET) / 86400) === Math.floor((times[i + 1] + IST_OFFSET) / 86400) &&
        (times[i] + IST_OFFSET) % 86400 < CLOSE - STEP[v.interval]) { upto = times[i]; break; }
  }
  return Math.min(upto, lastStudy(v));
}

// ----------------------------------------------------------------------------------------------- the chart
let chart, candles, ema20, ema50, st, vwap, markersApi, priceLines = [];
function chartColors() {
  return {layout: {background: {color: cssVar("--panel")}, textColor: cssVar("--fg"), attributionLogo: true},
    grid: {vertLines: {color: cssVar("--line")}, horzLines: {color: cssVar("--line")}}};
}
function makeChart() {
  chart = LWC.createChart($("chart"), {autoSize: true, ...chartColors(),
    timeScale: {timeVisible: true, secondsVisible: false, borderColor: cssVar("--line")},
    rightPriceScale: {borderColor: cssVar("--line")}, crosshair: {mode: 0},
    localization: {priceFormatter: (p) => num(p)}});
  candles = chart.addSeries(LWC.CandlestickSeries, {upColor: cssVar("--up"), downColor: cssVar("--down"),
    borderVisible: false, wickUpColor: cssVar("--up"), wickDownColor: cssVar("--down")});
  const line = (color, extra = {}) => chart.addSeries(LWC.LineSeries, {color, lineWidth: 1.5,
    priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false, ...extra});
  ema20 = line(cssVar("--ema20")); ema50 = line(cssVar("--ema50"));
  st = line(cssVar("--st-up"), {lineWidth: 2});
  vwap = line(cssVar("--vwap"), {lineStyle: 2});
  markersApi = LWC.createSeriesMarkers(candles, []);
  chart.subscribeCrosshairMove((p) => legend(p && p.time ? p.time - IST_OFFSET : null));
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    chart.applyOptions(chartColors());
    candles.applyOptions({upColor: cssVar("--up"), downColor: cssVar("--down"), wickUpColor: cssVar("--up"),
      wickDownColor: cssVar("--down")});
    for (const [series, name] of [[ema20, "--ema20"], [ema50, "--ema50"], [vwap, "--vwap"]]) {
      series.applyOptions({color: cssVar(name)});
    }
    render();
  });
}
const bar = (t, o, h, l, c) => ({time: t + IST_OFFSET, open: o, high: h, low: l, close: c});
function draw(b) {          // extend the shown series by one bar; an older bar (a late closed bar) redraws all
  try { candles.update(bar(...b)); } catch (err) { render(); }
}
function candleData(v) {
  const rows = [...v.bars.values()].sort((a, b) => a[0] - b[0]).map((b) => bar(b[0], b[1], b[2], b[3], b[4]));
  const f = v.forming;
  if (f && f[0] > lastClosed(v)) rows.push(bar(...f));
  return rows;
}
function studyData(v, idx) {   // whitespace where the value is undefined (warm-up, no volume)
  const out = [];
  for (const [t, p] of [...v.studies.entries()].sort((a, b) => a[0] - b[0])) {
    const value = p[idx];
    out.push(value === null ? {time: t + IST_OFFSET} : {time: t + IST_OFFSET, value});
  }
  return out;
}
function superTrend(v) {   // a point's colour paints the segment to the next point: a flip's connector is hidden
  const pts = [...v.studies.values()].sort((a, b) => a[0] - b[0]);
  return pts.map((p, i) => {
    if (p[3] === null) return {time: p[0] + IST_OFFSET};
    const next = pts[i + 1];
    const flips = next && next[4] !== null && next[4] !== p[4];
    return {time: p[0] + IST_OFFSET, value: p[3],
      color: flips ? "rgba(0,0,0,0)" : (p[4] > 0 ? cssVar("--st-up") : cssVar("--st-down"))};
  });
}
function drawStudies(v) {
  ema20.setData(studyData(v, 1)); ema50.setData(studyData(v, 2)); st.setData(superTrend(v));
  const vw = studyData(v, 5);
  vwap.setData(vw);
  $("vwap-note").textContent = vw.some((p) => p.value !== undefined) ? "" : "(no volume: index bars carry none)";
}
function render() {
  const v = view(state.symbol, state.interval);
  $("legend-title").textContent = `${state.symbol} ${state.interval} · index points`;
  candles.setData(candleData(v));
  drawStudies(v);
  drawLevels(v); drawMarkers(v); renderBoard(v); legend(null);
  chart.timeScale().fitContent();   // the whole session so far
}
function drawLevels(v) {
  for (const pl of priceLines) candles.removePriceLine(pl);
  priceLines = [];
  const add = (price, title, color, style) => { if (price !== null && price !== undefined)
    priceLines.push(candles.createPriceLine({price, title, color, lineStyle: style, lineWidth: 1, axisLabelVisible: true})); };
  const lv = v.levels || {};
  if (lv.pivots) for (const k of ["r2", "r1", "p", "s1", "s2"]) add(lv.pivots[k], k.toUpperCase(), cssVar("--piv"), 1);
  if (lv.zones) {
    add(lv.zones.res_top, "res zone", cssVar("--zone-r"), 2); add(lv.zones.res_bottom, "", cssVar("--zone-r"), 2);
    add(lv.zones.sup_top, "sup zone", cssVar("--zone-s"), 2); add(lv.zones.sup_bottom, "", cssVar("--zone-s"), 2);
  }
}
function drawMarkers(v) {
  const first = Math.min(...v.bars.keys());
  const ms = (v.markers || []).filter((m) => m.t >= first - STEP[v.interval]).map((m) => {
    const t = bucket(m.t, v.interval) + IST_OFFSET;
    if (m.kind === "signal") {
      const bull = m.side === "bullish";
      return {time: t, position: bull ? "belowBar" : "aboveBar", shape: bull ? "arrowUp" : "arrowDown",
        color: bull ? cssVar("--up") : cssVar("--down"), text: m.text};
    }
    return {time: t, position: m.kind === "open" ? "aboveBar" : "belowBar", shape: "circle",
      color: m.kind === "open" ? cssVar("--accent") : cssVar("--muted"), text: m.text};
  }).sort((a, b) => a.time - b.time);
  markersApi.setMarkers(ms);
}
function legend(t) {
  const v = view(state.symbol, state.interval);
  let b = t !== null ? v.bars.get(t) : null;
  if (!b) { const f = v.forming; const lc = lastClosed(v); b = f && f[0] > lc ? f : v.bars.get(lc); }
  if (!b) { $("legend").textContent = v.loaded ? "no bars yet today" : "loading…"; return; }
  const p = v.studies.get(b[0]) || [];
  $("legend").textContent = `${istEpoch(b[0])} O ${num(b[1])} H ${num(b[2])} L ${num(b[3])} C ${num(b[4])}` +
    (p.length ? ` · EMA20 ${num(p[1])} EMA50 ${num(p[2])} ST ${num(p[3])}` + (p[5] !== null ? ` VWAP ${num(p[5])}` : "") : "") +
    (v.forming && b === v.forming ? " (forming)" : "");
}

// ----------------------------------------------------------------------------------------------- live data
function onHistory(m) {
  const v = view(m.symbol, m.interval);
  if (m.since === null) {   // the whole view: keep only bars that closed after the hub computed it
    const newest = m.bars.length ? m.bars[m.bars.length - 1][0] : 0;
    const later = [...v.bars.values()].filter((b) => b[0] > newest);
    v.bars.clear(); v.studies.clear();
    for (const b of later) v.bars.set(b[0], b);
  }
  for (const b of m.bars) v.bars.set(b[0], b);
  for (const p of m.studies) v.studies.set(p[0], p);
  if (m.forming && (!v.forming || m.forming[0] >= v.forming[0])) v.forming = m.forming;
  v.levels = m.levels; v.board = m.board; v.markers = m.markers; v.loaded = true; v.stale = false; v.day = m.day;
  v.requested = false;
  if (v.again) { v.again = false; v.stale = true; if (v.symbol === state.symbol && v.interval === state.interval) requestView(); }
  if (v.symbol === state.symbol && v.interval === state.interval) render();
}
function onView(m) {
  const v = state.views.get(key(m.symbol, m.interval));
  if (!v) return;
  for (const p of m.studies) v.studies.set(p[0], p);
  if (m.board) v.board = m.board;
  if (v.symbol === state.symbol && v.interval === state.interval) { drawStudies(v); renderBoard(v); }
}
const dayOf = (t) => new Date((t + IST_OFFSET) * 1000).toISOString().slice(0, 10);   // IST date of epoch s
function onBar(m) {
  const t = Math.floor(new Date(m.ts).getTime() / 1000);
  for (const v of state.views.values()) {
    if (v.symbol !== m.symbol) continue;
    if (!v.loaded) {   // its history is on the way and may predate this bar: keep the bar
      if (v.interval === (m.interval || "1m")) v.bars.set(t, [t, m.open, m.high, m.low, m.close, m.volume]);
      continue;
    }
    if (v.day && dayOf(t) !== v.day) {   // a new market day (or the feed learnt the replayed day): afresh
      Object.assign(v, {bars: new Map(), studies: new Map(), forming: null, loaded: false, requested: false,
        day: null});
      if (v.symbol === state.symbol && v.interval === state.interval) { requestView(); render(); }
      continue;
    }
    if (v.interval === (m.interval || "1m")) {
      const fresh = t >= lastClosed(v);
      if ((lastClosed(v) && t - lastClosed(v) > STEP[v.interval] && t - lastClosed(v) < 6 * 3600) ||
          (!fresh && !v.bars.has(t))) {
        // bars coalesced away while this page was behind, or a backfilled minute (the feed republishes only the
        // newest few of a backfill, after this page resynchronised): ask for what it lacks
        v.stale = true;
        if (v.symbol === state.symbol && v.interval === state.interval) requestView();
      }
      v.bars.set(t, [t, m.open, m.high, m.low, m.close, m.volume]);
      if (v.forming && v.forming[0] <= t) v.forming = null;
      if (v.symbol === state.symbol && v.interval === state.interval) {
        if (fresh && !v.forming) { draw([t, m.open, m.high, m.low, m.close]); chart.timeScale().fitContent(); }
        else render();
      }
    } else if ((m.interval || "1m") === "1m" && STEP[v.interval] > 60) {
      const b = bucket(t, v.interval);
      if (b <= lastClosed(v)) continue;
      const f = v.forming;
      v.forming = f && f[0] === b ? [b, f[1], Math.max(f[2], m.high), Math.min(f[3], m.low), m.close]
        : [b, m.open, m.high, m.low, m.close];
      if (v.symbol === state.symbol && v.interval === state.interval) draw(v.forming);
    }
  }
}
function onTick(m) {
  state.ticks[m.symbol] = m;
  if (!INDICES.includes(m.symbol) || m.ltp === null || m.ltp === undefined) return;
  const tab = $(`tab-${m.symbol}`);
  if (tab) {
    tab.querySelector(".px").textContent = num(m.ltp);
    const c = tab.querySelector(".chg"); c.textContent = signed(m.change) + "%";
    c.className = "chg " + ((m.change || 0) >= 0 ? "up" : "down");
  }
  const when = m.ts ? Math.floor(new Date(m.ts).getTime() / 1000) : (state.marketTime || 0);
  if (!when) return;
  for (const v of state.views.values()) {
    if (v.symbol !== m.symbol || !v.loaded) continue;
    const b = bucket(when, v.interval);
    if (b <= lastClosed(v)) continue;
    const f = v.forming;
    v.forming = f && f[0] === b ? [b, f[1], Math.max(f[2], m.ltp), Math.min(f[3], m.ltp), m.ltp]
      : [b, m.ltp, m.ltp, m.ltp, m.ltp];
    if (v.symbol === state.symbol && v.interval === state.interval) { draw(v.forming); legend(null); }
  }
}

// ---------------------------------------------------------------------------------------------------- board
function renderBoard(v) {
  const body = $("board").tBodies[0];
  body.innerHTML = "";
  const b = v.board;
  $("board-when").textContent = b ? `${state.symbol} ${b.interval} · bar ${istEpoch(Date.parse(b.ts) / 1000)} IST` : "";
  $("board-head").innerHTML = "";
  if (!b) { $("board-head").textContent = v.loaded ? "no closed bar yet" : "loading…"; return; }
  const head = $("board-head");
  head.append(el("span", `verdict ${b.label}`, b.label.replace("_", " ")),
    el("span", "", `score ${signed(b.score, 1)}`), el("span", "muted", `${b.available}/13 available`),
    el("span", "muted", `close ${num(b.close)} pts`));
  if (b.note) head.append(el("span", "muted", b.note));
  for (const s of b.signals) {
    const tr = document.createElement("tr");
    tr.dataset.signal = s.name;
    const reason = el("td", "reason", s.reason); reason.title = s.reason;
    const stcell = el("td"); stcell.append(el("span", `st ${s.call}`, s.call));
    tr.append(el("td", "", s.name), stcell, el("td", "", s.call === "BUY" || s.call === "SELL"
      ? `${Math.round(s.confidence * 100)}%` : "–"), reason);
    body.append(tr);
  }
}

// -------------------------------------------------------------------------------------------------- trading
function renderTrade() {
  const tr = state.trade;
  const risk = $("risk"), baskets = $("baskets"), orders = $("orders").tBodies[0];
  risk.innerHTML = ""; baskets.innerHTML = ""; orders.innerHTML = "";
  if (!tr) { risk.textContent = "no trading data"; renderFlatten(); return; }
  const modes = Object.keys(tr.engines);
  $("trade-mode").textContent = modes.length ? modes.join(", ") : "no engine has run today";
  const r = tr.risk;
  const row = (label, value, cls = "") => { const d = el("div", "", label + " "); d.append(el("b", cls, value)); risk.append(d); };
  row("positions", `${r.open_positions}/${r.max_positions}`);
  row("day P&L", `${rupees(r.day_pnl)} / max loss ${rupees(-r.max_daily_loss, 0)}`,
    r.loss_breached ? "kill" : (r.day_pnl >= 0 ? "up" : "down"));
  const cd = Object.entries(r.cooldown_until || {});
  row("cooldown", cd.length ? cd.map(([s, t]) => `${s} until ${ist(t)}`).join(", ") : "none");
  row("kill switch", tr.kill_switch ? `ENGAGED (${tr.kill_switch.reason || ""})` : "off", tr.kill_switch ? "kill" : "");
  for (const [mode, e] of Object.entries(tr.engines)) {
    if (e.error) { baskets.append(el("div", "down", `${mode}: ${e.error}`)); continue; }
    const sum = el("div", "", `${mode}: realised ${rupees(e.realised)} · unrealised ${rupees(e.unrealised)} · ` +
      `charges ${rupees(e.charges_total)} · closed today ${e.closed_today.length}`);
    baskets.append(sum);
    for (const p of e.open) {
      const box = el("div", "basket"); box.dataset.basket = p.id;
      const u = p.unrealised;
      const head = el("div", "head");
      head.append(el("span", "", `${p.symbol} ${p.signal} ${p.side} · ${p.lots} lot(s) · ${p.id}`),
        el("span", `pnl ${u === null ? "" : u >= 0 ? "up" : "down"}`, `${rupees(u)}`));
      const t = document.createElement("table");
      t.innerHTML = "<thead><tr><th>leg</th><th>qty</th><th>entry ₹</th><th>last ₹</th></tr></thead>";
      const tb = document.createElement("tbody");
      for (const [role, sym, qty, entry, last] of [["SELL", p.main, p.main_qty, p.main_entry, p.main_last],
        ["BUY", p.hedge, p.hedge_qty, p.hedge_entry, p.hedge_last]]) {
        const r2 = document.createElement("tr");
        r2.append(el("td", "", `${role} ${sym}`), el("td", "", String(qty)), el("td", "", num(entry)),
          el("td", "last", num(last)));
        tb.append(r2);
      }
      t.append(tb);
      box.append(head, t, el("div", "muted", `charges ${rupees(p.charges)} · stop ${num(p.stop_loss)} pts · ` +
        `opened ${ist(p.opened_at)} IST` + (p.modelled ? " · premiums modelled" : "") +
        (p.price_source ? ` · prices: ${p.price_source}` : "")));
      baskets.append(box);
    }
  }
  for (const o of tr.orders.slice(-30).reverse()) {
    const r3 = document.createElement("tr");
    r3.append(el("td", "", ist(o.order_timestamp)), el("td", "", o.tradingsymbol || ""),
      el("td", o.transaction_type === "BUY" ? "up" : "down", o.transaction_type || ""), el("td", "", String(o.quantity ?? "")),
      el("td", "", String(o.filled_quantity ?? "")), el("td", "", num(o.average_price)), el("td", "", o.status || ""));
    orders.append(r3);
  }
  renderFlatten();
}
let flattenArmed = false, flattenOutcome = "";
function renderFlatten() {
  const box = $("flatten-box");
  box.innerHTML = "";
  if (!state.canFlatten) return;                      // only for clients holding the publish token
  const modes = state.trade ? Object.keys(state.trade.engines) : [];
  const mode = modes.includes("live") ? "live" : "paper";
  if (!flattenArmed) {
    const b = el("button", "danger", "Emergency flatten…"); b.id = "flatten";
    b.onclick = () => { flattenArmed = true; renderFlatten(); };
    box.append(b);
  } else {
    box.append(el("span", "kill", `Square off every ${mode} position and block new entries? `));
    const yes = el("button", "danger", `Confirm flatten (${mode})`); yes.id = "flatten-confirm";
    yes.onclick = () => { flattenArmed = false; flattenOutcome = "flattening…";
      send({type: "flatten", mode, confirm: true}); renderFlatten(); };
    const no = el("button", "", "Cancel"); no.id = "flatten-cancel";
    no.onclick = () => { flattenArmed = false; renderFlatten(); };
    box.append(yes, " ", no);
  }
  const out = el("span", "", flattenOutcome); out.id = "flatten-result";
  box.append(out);
}

// ---------------------------------------------------------------------------------------------------- chain
function renderChain() {
  const c = state.chains[state.symbol];
  const body = $("chain").tBodies[0];
  body.innerHTML = "";
  $("chain-title").textContent = c ? `${state.symbol} · spot ${num(c.spot)} pts` +
    (state.source === "sim" ? " · quotes from the sim" : "") : "";
  if (!c || !c.rows.length) { $("pcr").textContent = "no option chain subscribed for this index"; return; }
  for (const r of c.rows) {
    const tr = document.createElement("tr");
    if (r.strike === c.atm) tr.className = "atm";
    const ce = r.ce || {}, pe = r.pe || {};
    tr.append(el("td", "", num(ce.oi, 0)), el("td", "", num(ce.ltp)), el("td", "k-strike", num(r.strike, 0)),
      el("td", "", num(pe.ltp)), el("td", "", num(pe.oi, 0)));
    body.append(tr);
  }
  $("pcr").textContent = `PCR (put OI / call OI, subscribed chain): ${c.pcr === null ? "–" : num(c.pcr, 3)}`;
}

// -------------------------------------------------------------------------------------------------- signals
function onSignal(s, prepend = true) {
  const li = el("li");
  if (s.source === "board" || (s.label && !s.signal)) {
    li.append(el("span", s.label, `${s.symbol} ${s.interval || ""} board ${String(s.label).replace("_", " ")}`),
      ` score ${signed(s.score, 1)} · bar ${ist(s.ts)} IST`);
  } else {
    const bull = s.side === "bullish";
    li.append(el("span", bull ? "up" : "down", `${s.signal || "?"} ${s.symbol || ""} ${s.side || ""}`),
      ` · bar ${ist(s.bar_ts)} IST · entry ${num(s.entry_price)} pts · stop ${num(s.stop_loss)} pts` +
      (s.option ? ` · sell ${s.option.option_type} ${num(s.option.strike, 0)}` : ""));
    if (s.symbol && s.bar_ts) {  // a fired S1–S8 signal is a marker at once (the events log confirms it)
      for (const v of state.views.values()) {
        if (v.symbol !== s.symbol) continue;
        const k = s.key || `${s.symbol}|${s.signal}|${s.bar_ts}`;
        if (!v.markers.some((m) => m.key === k)) v.markers.push({t: Date.parse(s.entry_ts || s.bar_ts) / 1000 - 1,
          kind: "signal", side: s.side, text: s.signal, key: k});
      }
      if (s.symbol === state.symbol) drawMarkers(view(state.symbol, state.interval));
    }
  }
  const list = $("signals");
  if (prepend) list.prepend(li); else list.append(li);
  while (list.children.length > 60) list.lastChild.remove();
}

// --------------------------------------------------------------------------------------------- health, ws
function onStatus(s) {
  if (s.source && s.source !== state.source) { state.source = s.source; renderChain(); }
  if (s.phase) $("phase").textContent = s.phase;
  const up = $("upstream");
  up.textContent = s.connected ? "connected" : (s.waiting_for_token ? "token expired" : (s.polling ? "polling" : "down"));
  up.className = "pill " + (s.connected ? "ok" : (s.polling ? "warn" : "bad"));
  if (s.market_time) { state.marketTime = Math.floor(Date.parse(s.market_time) / 1000); $("mtime").textContent = ist(s.market_time, true); }
  if (s.ticks_per_s !== undefined) $("rate").textContent = num(s.ticks_per_s, 1);
  if (s.gaps !== undefined) $("gaps").textContent = s.gaps;
  if (s.reconnects !== undefined) $("reconnects").textContent = s.reconnects;
  if (s.last_tick_age_s !== undefined) $("age").textContent = s.last_tick_age_s === null ? "–" : num(s.last_tick_age_s, 1) + " s";
  if (s.token_expiry) $("expiry").textContent = new Date(s.token_expiry).toLocaleString("en-GB",
    {timeZone: "Asia/Kolkata", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hour12: false});
}
function send(msg) { if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(msg)); }
function requestView() {          // a browser asks for a view's history once; later only what it lacks
  const v = view(state.symbol, state.interval);
  if (v.requested) { if (v.stale) v.again = true; return; }   // one request in flight: ask again after it
  if (v.loaded && !v.stale) return;
  v.requested = true;
  send({type: "history", symbol: state.symbol, interval: state.interval,
    ...(v.loaded ? {since: resumeFrom(v)} : {})});
}
function select(symbol, interval) {
  state.symbol = symbol; state.interval = interval;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-pressed", b.dataset.symbol === symbol);
  for (const b of document.querySelectorAll("#intervals button")) b.setAttribute("aria-pressed", b.dataset.interval === interval);
  const v = view(symbol, interval);
  if (v.loaded) v.stale = true;   // overlays of bars closed while another view was shown: ask for those only
  requestView();
  render(); renderChain();
}
function onSnapshot(m) {
  onStatus({phase: m.phase, connected: m.connected, market_time: m.market_time});
  Object.values(m.ticks).forEach(onTick);
  state.canFlatten = Boolean(m.can_flatten);
  state.trade = m.trade || null; state.chains = m.chain || {};
  $("signals").innerHTML = ""; m.signals.forEach((s) => onSignal(s, true));
  for (const v of state.views.values()) { v.stale = true; v.requested = false; }  // resynchronise: ask for what is missing
  renderTrade(); renderChain();
  if (!m.dashboard) { $("legend").textContent = "this hub serves no chart data"; return; }
  requestView();
}
function connect(delay) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams();
  if (token) q.set("token", token);
  if (publishToken) q.set("publish_token", publishToken);
  q.set("symbols", INDICES.join(","));   // option ticks reach the page as the hub's chain ladder, not one by one
  q.set("batch", "1");                   // conflated ticks as "ticks" batches (protocol 3)
  const ws = new WebSocket(`${scheme}//${location.host}/ws?${q}`);
  state.ws = ws;
  ws.onopen = () => { $("conn").textContent = "connected"; $("conn").className = "pill ok"; delay = 1000;
    state.lastMessage = Date.now(); };
  ws.onclose = () => {
    $("conn").textContent = "reconnecting"; $("conn").className = "pill bad";
    if (state.ws === ws) state.ws = null;
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay * (0.75 + Math.random() / 2));
  };
  ws.onmessage = (ev) => {
    state.lastMessage = Date.now();
    const m = JSON.parse(ev.data);
    switch (m.type) {
      case "snapshot": onSnapshot(m); break;
      case "history": onHistory(m); break;
      case "view": onView(m); break;
      case "tick": onTick(m); break;
      case "ticks": m.ticks.forEach(onTick); break;
      case "bar": onBar(m); break;
      case "status": onStatus(m); break;
      case "signal": onSignal(m); break;
      case "trade": state.trade = m; renderTrade(); break;
      case "chain": state.chains[m.symbol] = m; if (m.symbol === state.symbol) renderChain(); break;
      case "markers":
        for (const v of state.views.values()) if (v.symbol === m.symbol) v.markers = m.markers;
        if (m.symbol === state.symbol) drawMarkers(view(state.symbol, state.interval)); break;
      case "flatten_result":
        flattenOutcome = (m.ok ? "done: " : "FAILED: ") + m.message; renderFlatten(); break;
      case "error":
        if (String(m.message).startsWith("history")) for (const v of state.views.values()) v.requested = false;
        if (String(m.message).startsWith("flatten")) { flattenOutcome = m.message; renderFlatten(); }
        break;
    }
  };
}
setInterval(() => {   // neither data nor heartbeats for 15 s: the hub is gone, reconnect
  if (state.ws && state.ws.readyState === 1 && Date.now() - state.lastMessage > 15000) state.ws.close();
}, 2000);

for (const s of INDICES) {
  const b = el("button", "tab"); b.id = `tab-${s}`; b.dataset.symbol = s;
  b.append(el("span", "", s), el("span", "px", ""), el("span", "chg", ""));
  b.onclick = () => select(s, state.interval);
  $("tabs").append(b);
}
for (const i of Object.keys(STEP)) {
  const b = el("button", "", i); b.dataset.interval = i; b.onclick = () => select(state.symbol, i);
  $("intervals").append(b);
}
makeChart();
select(state.symbol, state.interval);
connect(1000);
window.tradesigPage = {state, view, lastClosed, get series() { return candles; }};   // for tests and the curious: read-only use
