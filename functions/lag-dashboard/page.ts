/** The dashboard page: plain HTML and a small script that polls /api/lag every 2 s and draws SVG charts. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Consumer lag</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2430; background: #f7f8fa; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 8px; }
  .muted { color: #6b7380; } .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
  .card { background: #fff; border: 1px solid #e3e6ea; border-radius: 8px; padding: 14px 16px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 2px 6px; border-bottom: 1px solid #f0f1f3; } th:first-child, td:first-child { text-align: left; }
  .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; margin-left: 6px; }
  .up { background: #e3f6e8; color: #1a7f37; } .down { background: #fdecec; color: #b42318; } .zero { background: #eef1f5; color: #4b5563; }
  .warn { background: #fff4e5; color: #b54708; } .cluster { margin-top: 8px; padding-top: 6px; border-top: 1px dashed #e3e6ea; }
  .big { font-size: 28px; font-weight: 600; } .reason { font-family: ui-monospace, monospace; font-size: 12px; text-align: left; }
  svg { width: 100%; height: 180px; background: #fff; }
</style>
</head>
<body>
<h1>Consumer lag</h1>
<div class="muted">Offsets read from Kafka every 2 s by an admin client that only reads. Model: what KEDA's Kafka scaler would choose now, from each ScaledObject (<span id="source">keda/&lt;service&gt;.scaledobject.yaml</span>). <span id="updated"></span></div>
<div class="grid" style="margin-top:16px">
  <div class="card"><h2>Lag per consumer (last 10 min)</h2><svg id="lagChart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div id="legend" class="muted"></div></div>
  <div class="card"><h2>Consume rate, events/s (last 10 min)</h2><svg id="rateChart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg></div>
</div>
<div id="consumers" class="grid" style="margin-top:16px"></div>
<script>
const colours = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed"];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function chart(svg, history, key, services) {
  const w = 600, h = 180, pad = 24;
  const values = history.flatMap((s) => services.map((name) => s[key][name] ?? 0));
  const max = Math.max(1, ...values);
  const t0 = history.length ? history[0].at : 0, t1 = history.length ? history[history.length - 1].at : 1;
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - 2 * pad);
  const y = (v) => h - pad - (v / max) * (h - 2 * pad);
  let out = '<line x1="' + pad + '" y1="' + (h - pad) + '" x2="' + (w - pad) + '" y2="' + (h - pad) + '" stroke="#ccd"/>';
  out += '<text x="' + pad + '" y="14" font-size="11" fill="#6b7380">max ' + Math.round(max) + '</text>';
  services.forEach((name, i) => {
    const pts = history.map((s) => x(s.at).toFixed(1) + "," + y(s[key][name] ?? 0).toFixed(1)).join(" ");
    out += '<polyline fill="none" stroke-width="2" stroke="' + colours[i % colours.length] + '" points="' + pts + '"/>';
  });
  svg.innerHTML = out;
}
function clusterBlock(c) {
  const k = c.cluster;
  if (!k) return "";
  const conditions = k.conditions.map((x) => '<span class="pill ' + (x.status === "True" ? "up" : "zero") + '" title="' + esc(x.message ?? "") + '">' + esc(x.type) + " " + esc(x.status) + "</span>").join("");
  const d = k.deployment;
  const deployment = d ? '<span data-role="deployment">Deployment: ' + d.desired + " asked, " + d.replicas + " started, " + d.ready + " ready</span>" : "no Deployment";
  const hpa = k.hpa ? " &nbsp; HPA wants " + k.hpa.desired : "";
  const rows = c.keda.triggers.map((t, i) => {
    const f = k.keda.find((x) => x.triggerIndex === i);
    return "<tr><td>" + esc(t.topic) + '</td><td data-role="model-metric">' + t.metric + '</td><td data-role="keda-metric">' + (f ? f.value : "–") + "</td><td>" + (t.active ? "yes" : "no") + "</td><td>" + (f && f.active !== undefined ? (f.active ? "yes" : "no") : "–") + "</td></tr>";
  }).join("");
  const verdict = k.mismatch
    ? '<span class="pill warn" data-role="mismatch">mismatch: ' + esc(k.mismatch) + "</span>"
    : k.compared
      ? '<span class="pill up" data-role="agree">KEDA and the model agree</span>'
      : '<span class="pill zero" data-role="moving">lag moving: KEDA&#39;s figures are from its last poll</span>';
  return '<div class="cluster" data-role="cluster"><h2>KEDA, as it reports itself' + verdict + "</h2><div>" + conditions + "</div><div>" + deployment + hpa + "</div>"
    + "<table><tr><th>trigger topic</th><th>model metric</th><th>KEDA metric</th><th>model active</th><th>KEDA active</th></tr>" + rows + "</table></div>";
}
function render(data) {
  const services = data.consumers.map((c) => c.service);
  if (data.consumers.some((c) => c.cluster)) document.getElementById("source").textContent = "read from the API server";
  document.getElementById("updated").textContent = "Updated " + new Date(data.at).toLocaleTimeString() + ".";
  chart(document.getElementById("lagChart"), data.history, "lag", services);
  chart(document.getElementById("rateChart"), data.history, "rate", services);
  document.getElementById("legend").innerHTML = services.map((s, i) => '<span style="color:' + colours[i % colours.length] + '">&#9632; ' + esc(s) + "</span>").join(" &nbsp; ");
  document.getElementById("consumers").innerHTML = data.consumers.map((c) => {
    const state = c.running ? '<span class="pill up">running: ' + c.members + " member(s)</span>" : '<span class="pill down">not running</span>';
    const keda = c.keda.atZero ? '<span class="pill zero">model: at zero</span>' : '<span class="pill up">model: ' + c.keda.replicas + " replica(s)</span>";
    const rows = c.partitions.map((p) => "<tr><td>" + esc(p.topic) + "/" + p.partition + "</td><td>" + (p.committed ?? "none") + "</td><td>" + p.logEnd + "</td><td>" + p.lag + "</td></tr>").join("");
    const triggers = c.keda.triggers.map((t) => "<tr><td>" + esc(t.topic) + "</td><td>" + t.lag + "</td><td>" + c.keda.lagThreshold[t.topic] + "</td><td>" + c.keda.activationLagThreshold[t.topic] + "</td><td>" + esc(c.keda.offsetResetPolicy[t.topic]) + "</td><td>" + t.wantedReplicas + "</td></tr>").join("");
    const reasons = c.deadLetters.newest.map((d) => '<tr><td>' + esc(d.at.slice(11, 19)) + '</td><td class="reason">' + esc(d.kind) + (d.eventId ? " " + esc(d.eventId) : "") + ": " + esc(d.reason) + "</td></tr>").join("") || '<tr><td class="muted" colspan="2">none seen since the dashboard started</td></tr>';
    return '<div class="card" data-service="' + esc(c.service) + '"><h2>' + esc(c.service) + state + keda + "</h2>"
      + '<div>Total lag <span class="big" data-role="total-lag">' + c.totalLag + "</span> &nbsp; consume rate " + c.consumeRate.toFixed(1) + " /s</div>"
      + '<div class="muted">replicas ' + c.keda.minReplicaCount + "–" + c.keda.maxReplicaCount + ", polling " + c.keda.pollingInterval + " s, cooldown " + c.keda.cooldownPeriod + " s" + (c.keda.active ? ", active" : ", inactive") + "</div>"
      + "<table><tr><th>trigger topic</th><th>lag</th><th>threshold</th><th>activation</th><th>reset</th><th>wants</th></tr>" + triggers + "</table>"
      + clusterBlock(c)
      + "<table style='margin-top:8px'><tr><th>partition</th><th>committed</th><th>log end</th><th>lag</th></tr>" + rows + "</table>"
      + "<h2 style='margin-top:10px'>Dead letters: <span data-role='dlq-pending'>" + c.deadLetters.pending + "</span> not acknowledged, <span data-role='dlq-depth'>" + c.deadLetters.depth + "</span> in " + esc(c.deadLetters.topic) + "</h2><table>" + reasons + "</table></div>";
  }).join("");
}
async function poll() {
  try { render(await (await fetch("/api/lag")).json()); } catch (e) { document.getElementById("updated").textContent = "Not updated: " + e; }
  setTimeout(poll, 2000);
}
poll();
</script>
</body>
</html>`;
