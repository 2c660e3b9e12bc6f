/* Coverage and station planning (issue 17): /api/v1/planning/* → map (Leaflet, vendored),
   per-zone shares, uncovered buildings, what-if stations, suggestions, saved plans, replay.
   The page holds no data; every figure comes from the API. */
"use strict";

const T = {
  "zh-CN": {
    title: "救援覆盖与站点规划", back: "响应时效考核", other_lang: "English", login: "登录",
    username: "用户名", password: "密码", hour: "时段", speeds: "路况", normal: "平峰", rush: "高峰",
    plan: "方案", today_only: "今日布局", teams_n: "新站队伍数", apply: "查询", reset: "清除假设",
    hint: "点击地图添加假设站点；点击蓝色站点可停用该队。", b0: "时限减安全余量内", b1: "时限内",
    b2: "超出时限", add: "添加站点", suggest: "推荐新站点", run: "计算", save: "保存方案",
    save_btn: "保存", zones: "分区覆盖", uncovered: "未覆盖楼栋", replay: "历史回放", from: "起始",
    to: "截止（不含）", replay_note: "回放使用与实时调度相同的派单规则（三级响应、时限、区域多起困人全局分配）；接单、现场时间按该时期实际分布抽样。",
    today: "今日", planned: "方案", elevators: "电梯数", safe: "安全余量内", within: "时限内",
    beyond: "超出", zone: "区域", rescue_code: "救援码", building: "楼栋", eta: "最快到达（分）",
    limit: "时限（分）", actual: "实际", replay_today: "回放·今日布局", replay_plan: "回放·方案",
    arr: "到场及时率", p50: "到场 P50（分）", p90: "到场 P90（分）", l23: "二/三级占比",
    missed: "超时数", loading: "计算中…", failed: "失败", saved: "已保存", off: "已停用",
    after: "覆盖率", newly: "新增覆盖", stations: "站点数",
  },
  en: {
    title: "Rescue coverage and station planning", back: "Response review", other_lang: "中文",
    login: "Sign in", username: "Username", password: "Password", hour: "Hour", speeds: "Traffic",
    normal: "normal", rush: "rush hour", plan: "Plan", today_only: "today's layout",
    teams_n: "teams per new station", apply: "Apply", reset: "Clear what-if",
    hint: "Click the map to add a hypothetical station; click a blue base to switch its team off.",
    b0: "within limit − safety margin", b1: "within limit", b2: "beyond the limit",
    add: "Add station", suggest: "Suggested stations", run: "Run", save: "Save plan",
    save_btn: "Save", zones: "Coverage by zone", uncovered: "Uncovered buildings",
    replay: "Replay of history", from: "From", to: "To (exclusive)",
    replay_note: "The replay uses the live dispatch rule (three levels, deadlines, surge planner); acceptance and on-site times are drawn from the period's own distributions.",
    today: "Today", planned: "Plan", elevators: "Elevators", safe: "Safe", within: "Within limit",
    beyond: "Beyond", zone: "Zone", rescue_code: "Rescue code", building: "Building",
    eta: "Best ETA (min)", limit: "Limit (min)", actual: "Actual", replay_today: "Replay · today",
    replay_plan: "Replay · plan", arr: "Arrival within limit", p50: "Arrival P50 (min)",
    p90: "Arrival P90 (min)", l23: "Level 2/3 share", missed: "Missed", loading: "Computing…",
    failed: "Failed", saved: "Saved", off: "switched off", after: "Coverage", newly: "Newly covered",
    stations: "Bases",
  },
};
const params = new URLSearchParams(location.search);
const LANG = params.get("lang") === "en" ? "en" : "zh-CN";
const t = (k) => (T[LANG][k] ?? k);
const COLORS = ["#2a9d3f", "#e9a400", "#d62828"];
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%");
const mins = (s) => (s === null || s === undefined ? "—" : (s / 60).toFixed(1));
const layout = { added: [], removed: [] };
let map, pointLayer, baseLayer, addedLayer, suggestLayer;

function applyI18n() {
  document.documentElement.lang = LANG;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const other = new URLSearchParams(location.search);
  other.set("lang", LANG === "en" ? "zh-CN" : "en");
  document.getElementById("lang").href = "?" + other.toString();
}

async function api(path, q, init) {
  const url = path + (q ? "?" + new URLSearchParams(q).toString() : "");
  const r = await fetch(url, Object.assign({ credentials: "same-origin" }, init || {}));
  if (r.status === 401) { showLogin(); throw new Error("401"); }
  if (r.status === 204) return null;
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || body.title || r.status);
  return body;
}
const post = (path, q, body, method) => api(path, q, { method: method || "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("app").hidden = true;
}

function localDate(d) { return new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 10); }

function query() {
  const f = document.getElementById("filters");
  const at = localDate(new Date()) + "T" + String(f.hour.value).padStart(2, "0") + ":00:00+08:00";
  return { at, speeds: f.speeds.value };
}

function table(id, cols, rows) {
  const el = document.getElementById(id);
  el.querySelector("thead").innerHTML = "<tr>" + cols.map((c) => `<th>${esc(t(c[1]))}</th>`).join("") + "</tr>";
  el.querySelector("tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => `<td>${c[2] ? c[2](r[c[0]], r) : esc(r[c[0]])}</td>`).join("") + "</tr>").join("");
}

function drawPoints(body) {
  pointLayer.clearLayers();
  for (const [lon, lat, band] of body.points) {
    L.circleMarker([lat, lon], { radius: 3, stroke: false, fillOpacity: 0.8, fillColor: COLORS[band] }).addTo(pointLayer);
  }
  baseLayer.clearLayers();
  for (const b of body.bases) {
    const off = layout.removed.includes(b.team_id);
    const m = L.circleMarker([b.lat, b.lon], { radius: 6, color: off ? "#888" : "#1d4ed8", weight: 2, fillOpacity: off ? 0.1 : 0.6 });
    m.bindTooltip(esc(b.name) + (off ? " · " + t("off") : ""));
    m.on("click", (ev) => { L.DomEvent.stopPropagation(ev); toggleTeam(b.team_id); });
    m.addTo(baseLayer);
  }
  addedLayer.clearLayers();
  layout.added.forEach((a, i) => {
    L.marker([a.lat, a.lon], { title: `${a.name} ×${a.teams}` }).bindTooltip(`${i + 1}. ${esc(a.name)} ×${a.teams}`).addTo(addedLayer);
  });
  if (!map._fitted && body.points.length) {
    map.fitBounds(L.latLngBounds(body.points.map((p) => [p[1], p[0]])).pad(0.05));
    map._fitted = true;
  }
}

function render(body) {
  drawPoints(body);
  const cols = [["k", ""], ["today", "today"]];
  if (body.plan) cols.push(["plan", "planned"]);
  const row = (key, f) => ({ k: t(key), today: f(body.today), plan: body.plan ? f(body.plan) : "" });
  const tiles = document.getElementById("plan-tiles");
  tiles.querySelector("thead").innerHTML = "<tr>" + cols.map((c) => `<th>${c[1] ? esc(t(c[1])) : ""}</th>`).join("") + "</tr>";
  const rows = [row("elevators", (x) => x.elevators), row("safe", (x) => pct(x.safe_share)), row("within", (x) => pct(x.within_share)), row("beyond", (x) => x.beyond)];
  tiles.querySelector("tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => `<td>${esc(r[c[0]])}</td>`).join("") + "</tr>").join("");
  tiles.dataset.within = body.plan ? body.plan.within_share : body.today.within_share;
  const zones = (body.plan || body.today).zones;
  table("t-zones", [["zone", "zone"], ["elevators", "elevators"], ["safe_share", "safe", pct], ["within_share", "within", pct], ["beyond", "beyond"]], zones);
  document.getElementById("unc-n").textContent = body.uncovered_n;
  table("t-uncovered", [["rescue_code", "rescue_code"], ["building", "building"], ["zone", "zone"], ["arrival_limit_min", "limit"], ["best_eta_min", "eta", (v) => (v === null ? "—" : esc(v))]], body.uncovered.slice(0, 100));
  const q = new URLSearchParams(query());
  const plan = document.querySelector("select[name=plan]").value;
  if (plan) q.set("plan", plan);
  document.getElementById("unc-exports").innerHTML = ["csv", "xlsx"].map((f) => `<a href="/api/v1/planning/coverage/uncovered.${f}?${q}" download>${f.toUpperCase()}</a>`).join(" · ");
  if (plan) {
    document.getElementById("unc-exports").innerHTML += " · " + esc(t("plan")) + " " + ["csv", "xlsx"].map((f) => `<a href="/api/v1/planning/plans/${encodeURIComponent(plan)}/export.${f}?speeds=${q.get("speeds")}" download>${f.toUpperCase()}</a>`).join(" · ");
  }
}

async function refresh() {
  const status = document.getElementById("status");
  status.textContent = t("loading");
  try {
    const q = query();
    let body;
    if (layout.added.length || layout.removed.length) body = await post("/api/v1/planning/coverage", q, layout);
    else body = await api("/api/v1/planning/coverage", q);
    render(body);
    status.textContent = "";
    document.body.dataset.ready = "1";
  } catch (e) {
    if (e.message !== "401") status.textContent = t("failed") + ": " + e.message;
  }
}

function toggleTeam(id) {
  const i = layout.removed.indexOf(id);
  if (i >= 0) layout.removed.splice(i, 1); else layout.removed.push(id);
  refresh();
}

function addStation(lon, lat) {
  const n = Math.max(1, Math.min(20, Number(document.getElementById("filters").teams.value) || 1));
  layout.added.push({ lon: Number(lon.toFixed(6)), lat: Number(lat.toFixed(6)), teams: n, name: (LANG === "en" ? "Station " : "新站") + (layout.added.length + 1) });
  refresh();
}

async function loadPlans() {
  const sel = document.querySelector("select[name=plan]");
  const keep = sel.value;
  const plans = await api("/api/v1/planning/plans");
  sel.innerHTML = `<option value="">${esc(t("today_only"))}</option>` + plans.map((p) => `<option value="${esc(p.name)}">${esc(p.name)}</option>`).join("");
  sel.value = keep;
}

async function suggest(k) {
  const status = document.getElementById("status");
  status.textContent = t("loading");
  try {
    const body = await post("/api/v1/planning/suggest", Object.assign({ k }, query()), layout);
    suggestLayer.clearLayers();
    document.getElementById("suggestions").innerHTML = body.suggestions.map((s) =>
      `<li data-lon="${s.lon}" data-lat="${s.lat}">${s.lon.toFixed(4)}, ${s.lat.toFixed(4)} · ${esc(t("newly"))} ${s.newly_covered} · ${esc(t("after"))} ${pct(s.within_share)} <button type="button" class="take">${esc(t("add"))}</button></li>`).join("");
    body.suggestions.forEach((s) => {
      L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "", html: `<b style="background:#fff;border:2px solid #7c3aed;border-radius:50%;padding:1px 5px">${s.rank}</b>` }) }).addTo(suggestLayer);
    });
    document.querySelectorAll("#suggestions .take").forEach((b) => b.addEventListener("click", () => addStation(Number(b.parentElement.dataset.lon), Number(b.parentElement.dataset.lat))));
    status.textContent = "";
    document.body.dataset.suggested = "1";
  } catch (e) { status.textContent = t("failed") + ": " + e.message; }
}

async function replay(from, to) {
  const status = document.getElementById("status");
  status.textContent = t("loading");
  const plan = document.querySelector("select[name=plan]").value;
  try {
    const q = { from, to, speeds: query().speeds };
    if (plan) q.plan = plan;
    const r = await api("/api/v1/planning/replay", q);
    const cols = [["actual", "actual"], ["today", "replay_today"]];
    if (r.plan) cols.push(["plan", "replay_plan"]);
    const lines = [["arr", (f) => pct(f.arrival_within_limit_rate)], ["p50", (f) => mins(f.arrival_p50_s)], ["p90", (f) => mins(f.arrival_p90_s)], ["l23", (f) => pct(f.level23_share)], ["missed", (f) => f.missed_by_zone.reduce((a, z) => a + z.missed, 0)]];
    const el = document.getElementById("t-replay");
    el.querySelector("thead").innerHTML = "<tr><th></th>" + cols.map((c) => `<th>${esc(t(c[1]))}</th>`).join("") + "</tr>";
    el.querySelector("tbody").innerHTML = lines.map(([k, f]) => `<tr><td>${esc(t(k))}</td>` + cols.map((c) => `<td>${esc(f(r[c[0]]))}</td>`).join("") + "</tr>").join("");
    status.textContent = "";
    document.body.dataset.replayed = "1";
  } catch (e) { status.textContent = t("failed") + ": " + e.message; }
}

async function start() {
  applyI18n();
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(new FormData(ev.target)), credentials: "same-origin" });
    if (!r.ok) { document.getElementById("login-error").textContent = (await r.json()).title; return; }
    location.reload();
  });
  let me;
  try { me = await api("/api/v1/auth/me"); } catch (e) { return; }
  document.getElementById("who").textContent = `${me.display_name || me.username} · ${me.region || ""}`;
  document.getElementById("app").hidden = false;
  const f = document.getElementById("filters");
  f.hour.innerHTML = Array.from({ length: 24 }, (_, h) => `<option value="${h}">${String(h).padStart(2, "0")}:00</option>`).join("");
  f.hour.value = String(new Date(Date.now() + 8 * 3600e3).getUTCHours());
  map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([37.85, 112.55], 11);
  try {  // our own roads and districts (WGS-84, offline), as on the console
    const r = await fetch("/api/v1/geo/basemap", { credentials: "same-origin" });
    if (r.ok) {
      L.geoJSON(await r.json(), {
        style: (f) => (f.properties.kind === "district"
          ? { color: "#7d8a96", weight: 1.5, dashArray: "6 4", fillColor: "#dfe6ec", fillOpacity: 0.3 }
          : { color: "#b8c0c8", weight: Math.max(0.5, 3 - (f.properties.rank || 3) * 0.7) }),
        interactive: false,
      }).addTo(map);
      map.attributionControl.addAttribution("© OpenStreetMap contributors");
    }
  } catch (e) { console.warn("basemap", e); }
  pointLayer = L.layerGroup().addTo(map);
  baseLayer = L.layerGroup().addTo(map);
  addedLayer = L.layerGroup().addTo(map);
  suggestLayer = L.layerGroup().addTo(map);
  map.on("click", (ev) => addStation(ev.latlng.lng, ev.latlng.lat));
  f.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  f.plan.addEventListener("change", async () => {
    const p = f.plan.value ? await api("/api/v1/planning/plans/" + encodeURIComponent(f.plan.value)) : { added: [], removed: [] };
    layout.added = p.added.slice(); layout.removed = p.removed.slice();
    refresh();
  });
  document.getElementById("reset").addEventListener("click", () => { layout.added = []; layout.removed = []; refresh(); });
  document.getElementById("add-form").addEventListener("submit", (ev) => { ev.preventDefault(); addStation(Number(ev.target.lon.value), Number(ev.target.lat.value)); });
  document.getElementById("suggest-form").addEventListener("submit", (ev) => { ev.preventDefault(); suggest(Number(ev.target.k.value) || 5); });
  document.getElementById("save-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = ev.target.name.value.trim();
    try {
      await post("/api/v1/planning/plans/" + encodeURIComponent(name), null, layout, "PUT");
      await loadPlans();
      document.getElementById("status").textContent = t("saved");
    } catch (e) { document.getElementById("status").textContent = t("failed") + ": " + e.message; }
  });
  const rf = document.getElementById("replay-form");
  const end = new Date(Date.now() + 86400e3);
  rf.to.value = params.get("to") || localDate(end);
  rf.from.value = params.get("from") || localDate(new Date(end.getTime() - 90 * 86400e3));
  rf.addEventListener("submit", (ev) => { ev.preventDefault(); replay(rf.from.value, rf.to.value); });
  await loadPlans();
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
