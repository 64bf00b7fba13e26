// The dashboard at GET /: one static page, its script and style inline, no
// build step. It reads GET /events (server-sent events, parsed from a fetch
// stream so that the token can go in an Authorization header; EventSource
// cannot send one). The token, if any, comes from the page's #token=…
// fragment, which the browser never sends to the server. Everything a peer
// or a plugin can influence (node names, plugin names, errors) is set as
// text, never as markup.
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>enet</title>
<style>
  :root { --bg: #0f1419; --panel: #182029; --line: #2a3540; --text: #d8dee4; --dim: #8b98a5; --ok: #4cc38a; --warn: #e5a93b; --bad: #ef5b5b; --a: #5ab0f6; --b: #c58af9; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 20px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 18px; }
  header .addr { color: var(--dim); font-family: ui-monospace, monospace; font-size: 13px; }
  #live { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--line); }
  #live.on { background: #1d4732; color: var(--ok); }
  #live.off { background: #4a1f1f; color: var(--bad); }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { margin: 0 0 10px; font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--dim); font-weight: 600; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; }
  .card { background: var(--bg); border-radius: 6px; padding: 8px 10px; }
  .card .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .card .k { color: var(--dim); font-size: 12px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--dim); font-weight: 500; font-size: 12px; }
  td.mono { font-family: ui-monospace, monospace; font-size: 13px; }
  .empty { color: var(--dim); font-style: italic; }
  .ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
  svg { width: 100%; height: 140px; display: block; }
  svg .grid { stroke: var(--line); stroke-width: 1; }
  svg text { fill: var(--dim); font-size: 10px; }
  .legend { font-size: 12px; color: var(--dim); margin-top: 4px; }
  .legend b { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
  .err { color: var(--bad); font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1 id="name">enet</h1>
  <span class="addr" id="addr"></span>
  <span class="addr" id="uptime"></span>
  <span id="live">connecting</span>
</header>
<main>
  <section class="wide"><h2>Now</h2><div class="cards" id="cards"></div></section>
  <section><h2>Throughput (messages/s, up to 5 min)</h2><svg id="chart-rate" viewBox="0 0 600 140" preserveAspectRatio="none"></svg>
    <div class="legend"><b style="background:var(--a)"></b>received<b style="background:var(--bad)"></b>failed</div></section>
  <section><h2>Handler latency (ms)</h2><svg id="chart-lat" viewBox="0 0 600 140" preserveAspectRatio="none"></svg>
    <div class="legend"><b style="background:var(--a)"></b>p50<b style="background:var(--b)"></b>p99 (bucket bounds)</div></section>
  <div id="reports" style="display:contents"></div>
  <section class="wide"><h2>Plugins</h2><table id="plugins"><thead><tr><th>plugin</th><th>version</th><th>status</th><th>routes</th><th>last reload</th><th>last error</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Reload history</h2><table id="history"><thead><tr><th>when</th><th>plugin</th><th>outcome</th><th>from → to</th><th>ms</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Drops and refusals</h2><table id="drops"><thead><tr><th>reason</th><th>last second</th><th>total</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Limits in force</h2><table id="limits"><tbody></tbody></table></section>
</main>
<script>
"use strict";
var token = (new URLSearchParams(location.hash.slice(1))).get("token");
var samples = [];
// Not "status": that is window.status, which turns whatever it is given into a string.
var snap = null;
var WINDOW = 300;

function el(tag, attrs, children) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
  return e;
}
function td(text, cls) { return el("td", cls ? { class: cls } : {}, [String(text)]); }
function fill(tbody, rows, cols, empty) {
  tbody.replaceChildren();
  if (!rows.length) { tbody.appendChild(el("tr", {}, [el("td", { colspan: String(cols), class: "empty" }, [empty])])); return; }
  rows.forEach(function (r) { tbody.appendChild(r); });
}
function num(n) { return n == null ? "-" : n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : n >= 100 ? String(Math.round(n)) : String(Math.round(n * 100) / 100); }
function bytes(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" : n >= 102400 ? Math.round(n / 1024) + " KiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B"; }
function dur(ms) { return ms < 1000 ? Math.round(ms) + " ms" : ms < 60000 ? (ms / 1000).toFixed(1) + " s" : ms < 3600000 ? Math.floor(ms / 60000) + " min " + Math.round(ms % 60000 / 1000) + " s" : (ms / 3600000).toFixed(1) + " h"; }
function ago(iso) { return dur(Date.now() - Date.parse(iso)) + " ago"; }
function hostPort(a) { return a ? (a.host.indexOf(":") >= 0 ? "[" + a.host + "]" : a.host) + ":" + a.port : "off"; }
function human(key, v) {
  if (typeof v === "number" && /Ms$/.test(key)) return dur(v);
  if (typeof v === "number" && /Bytes$/.test(key)) return bytes(v);
  if (v && typeof v === "object") return Object.keys(v).length ? JSON.stringify(v) : "none";
  return String(v);
}
function label(key) { return key.replace(/Ms$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase(); }

function drawChart(svg, series, colors) {
  svg.replaceChildren();
  // At least a minute wide, five at most: a fresh server's first seconds do not fill the whole width.
  var W = 600, H = 140, pad = 18, span = Math.min(WINDOW, Math.max(60, series[0].length));
  var max = 0;
  series.forEach(function (s) { s.forEach(function (v) { if (v != null && v > max) max = v; }); });
  max = max > 0 ? max * 1.15 : 1;
  var ns = "http://www.w3.org/2000/svg";
  for (var i = 0; i <= 2; i++) {
    var y = pad + (H - 2 * pad) * i / 2;
    var line = document.createElementNS(ns, "line");
    line.setAttribute("x1", "0"); line.setAttribute("x2", String(W)); line.setAttribute("y1", String(y)); line.setAttribute("y2", String(y)); line.setAttribute("class", "grid");
    svg.appendChild(line);
    var t = document.createElementNS(ns, "text");
    t.setAttribute("x", "2"); t.setAttribute("y", String(y - 3)); t.textContent = num(max * (1 - i / 2));
    svg.appendChild(t);
  }
  series.forEach(function (s, k) {
    var pts = [];
    s.forEach(function (v, j) { if (v != null) pts.push((W * (j + span - s.length) / (span - 1)).toFixed(1) + "," + (pad + (H - 2 * pad) * (1 - v / max)).toFixed(1)); });
    var p = document.createElementNS(ns, "polyline");
    p.setAttribute("points", pts.join(" ")); p.setAttribute("fill", "none"); p.setAttribute("stroke", colors[k]); p.setAttribute("stroke-width", "2"); p.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(p);
  });
}

function render() {
  if (!snap) return;
  var s = snap, last = samples[samples.length - 1] || {};
  document.getElementById("name").textContent = s.name;
  document.title = s.name + " · enet";
  document.getElementById("addr").textContent = "tcp " + hostPort(s.address.tcp) + "  udp " + hostPort(s.address.udp) + (s.workers ? "  " + s.workers.length + " workers" : "");
  document.getElementById("uptime").textContent = "pid " + s.pid + (s.uptimeSeconds != null ? ", up " + dur(s.uptimeSeconds * 1000) : "");
  var cards = [
    ["connections", s.connections, Object.keys(s.connectionsByProtocol).map(function (p) { return p + " " + s.connectionsByProtocol[p]; }).join(" · ")],
    ["messages/s", num(last.messages), "failed " + num(last.failed)],
    ["p50 / p99", last.p50Ms == null ? "-" : num(last.p50Ms) + " / " + num(last.p99Ms) + " ms", "handler time"],
    ["drops/s", num(Object.values(last.drops || {}).reduce(function (a, b) { return a + b; }, 0)), "see below"],
    ["in / out", last.bytesIn == null ? "-" : bytes(last.bytesIn) + " / " + bytes(last.bytesOut), "per second"],
    ["outbound queued", bytes(s.traffic ? s.traffic.outboundQueued : 0), "unsent to peers"],
  ];
  document.getElementById("cards").replaceChildren.apply(document.getElementById("cards"), cards.map(function (c) {
    return el("div", { class: "card", "data-card": c[0] }, [el("div", { class: "v" }, [String(c[1])]), el("div", { class: "k" }, [c[0] + " · " + c[2]])]);
  }));
  drawChart(document.getElementById("chart-rate"), [samples.map(function (x) { return x.messages; }), samples.map(function (x) { return x.failed; })], ["var(--a)", "var(--bad)"]);
  drawChart(document.getElementById("chart-lat"), [samples.map(function (x) { return x.p50Ms; }), samples.map(function (x) { return x.p99Ms; })], ["var(--a)", "var(--b)"]);

  // What plugins report: each array of rows is a table (heartbeat: the live nodes).
  var reports = document.getElementById("reports");
  reports.replaceChildren();
  Object.keys(s.plugins || {}).forEach(function (name) {
    var rep = s.plugins[name].report;
    if (!rep || typeof rep !== "object") return;
    Object.keys(rep).forEach(function (key) {
      var rows = rep[key];
      if (!Array.isArray(rows)) return;
      var cols = rows.length ? Object.keys(rows[0]) : [];
      var table = el("table", { "data-report": name + "." + key }, [el("thead", {}, [el("tr", {}, cols.map(function (c) { return el("th", {}, [label(c)]); }))]), el("tbody")]);
      fill(table.tBodies[0], rows.slice(0, 200).map(function (r) {
        return el("tr", {}, cols.map(function (c, i) { return td(human(c, r[c]), i === 0 ? "mono" : ""); }));
      }), Math.max(1, cols.length), "none");
      reports.appendChild(el("section", { class: "wide" }, [el("h2", {}, [name + " · " + key + " (" + rows.length + ")"]), table]));
    });
  });

  var plugins = Object.keys(s.plugins || {});
  fill(document.querySelector("#plugins tbody"), plugins.map(function (name) {
    var p = s.plugins[name], r = p.lastReload;
    var tr = el("tr", { "data-plugin": name }, [
      td(name, "mono"), el("td", { "data-field": "version" }, ["v" + p.version]),
      td(p.status, p.status === "active" ? "ok" : p.status === "failed" ? "bad" : "warn"), td(p.routes.join(", ") || "-", "mono"),
      td(r ? r.outcome + " " + ago(r.at) + " (" + r.ms + " ms)" : "-"), td(p.lastError || "-", p.lastError ? "err" : ""),
    ]);
    return tr;
  }), 6, "no plugins");
  var events = [];
  plugins.forEach(function (name) { (s.plugins[name].reloads || []).forEach(function (e) { events.push(e); }); });
  events.sort(function (a, b) { return Date.parse(b.at) - Date.parse(a.at); });
  fill(document.querySelector("#history tbody"), events.slice(0, 20).map(function (e) {
    return el("tr", {}, [td(ago(e.at)), td(e.plugin, "mono"), td(e.outcome, e.outcome === "failed" ? "bad" : "ok"), td((e.from || "-") + " → " + (e.to || "-")), td(e.ms)]);
  }), 5, "none yet");

  var rows = [];
  Object.keys(s.counters).forEach(function (k) {
    var m = /^(drop|refused|closed)\.(.*)$/.exec(k);
    if (!m || !s.counters[k]) return;
    var now = m[1] === "drop" ? (last.drops || {})[m[2]] || 0 : "";
    rows.push(el("tr", {}, [td(m[1] + " " + m[2], "mono"), td(now), td(s.counters[k])]));
  });
  fill(document.querySelector("#drops tbody"), rows, 3, "nothing dropped");

  var limits = [];
  function flat(o, p) { Object.keys(o || {}).forEach(function (k) { var v = o[k]; if (v && typeof v === "object" && k !== "rateLimits") flat(v, p + k + "."); else limits.push(el("tr", {}, [td(p + k, "mono"), td(human(k, v))])); }); }
  flat(s.limits, "");
  fill(document.querySelector("#limits tbody"), limits, 2, "-");
}

function setLive(on, text) { var l = document.getElementById("live"); l.className = on ? "on" : "off"; l.textContent = text; }

function onEvent(name, data) {
  if (name === "hello") { samples = data.samples.slice(-WINDOW); snap = data.status; }
  if (name === "tick") { snap = data.status; if (data.sample) { samples.push(data.sample); if (samples.length > WINDOW) samples.shift(); } }
  render();
}

function connect() {
  var headers = token ? { authorization: "Bearer " + token } : {};
  fetch("events", { headers: headers, cache: "no-store" }).then(function (res) {
    if (res.status === 401) { setLive(false, "token needed: open this page as /#token=…"); return; }
    if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
    setLive(true, "live");
    var reader = res.body.getReader(), dec = new TextDecoder(), buf = "";
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) throw new Error("stream ended");
        buf += dec.decode(r.value, { stream: true });
        var end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          var block = buf.slice(0, end); buf = buf.slice(end + 2);
          var ev = /^event: (.*)$/m.exec(block), data = /^data: (.*)$/m.exec(block);
          if (ev && data) onEvent(ev[1], JSON.parse(data[1]));
        }
        return pump();
      });
    }
    return pump();
  }).catch(function (err) {
    setLive(false, "disconnected (" + err.message + "), retrying");
    setTimeout(connect, 2000);
  });
}
connect();
</script>
</body>
</html>
`
