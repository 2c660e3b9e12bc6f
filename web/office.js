/* Office review page: filters → /api/v1/reports/* → tiles, charts (Chart.js, vendored), tables.
   The page holds no data; every figure comes from the API (same numbers as the exports). */
"use strict";

const T = {
  "zh-CN": {
    title: "电梯困人应急救援 · 响应时效考核", other_lang: "English", login: "登录", username: "用户名",
    password: "密码", from: "起始", to: "截止（不含）", area: "区域", city: "全市", apply: "查询",
    c_hist: "响应时间分布（派单→接单，秒）", c_trend: "按月趋势：到场及时率 / 3分钟响应率",
    c_district: "各区对比：困人率（每百台每月）与到场及时率", c_hour: "时段热度（按接警小时，困人数）",
    t_elev: "隐患电梯（同一自然月困人≥3次，挂牌督办候选）", t_comp: "维保单位排名", t_units: "使用单位排名",
    t_district: "分区汇总", sort: "排序", by_rate: "按困人率", by_late: "按超时到场",
    note: "口径：见 docs/kpis.md。所有指标按时间线计算；每项注明样本数 n。",
    entrapments: "困人数", reports: "报警数", r3: "3分钟响应率", arr: "到场及时率", arr_p50: "到场时间 P50",
    arr_p90: "到场时间 P90", onsite: "现场救援 P50", total: "总被困时长 P50", rate: "困人率（每百台每月）",
    l1: "一级响应占比", fa: "误报率", cb: "24小时回访率", esc: "升级次数", late: "超时到场",
    month: "月份", rescue_code: "救援码", address: "地址", district: "区域", company: "维保单位",
    use_unit: "使用单位", three_no: "三无", name: "名称", elevators: "电梯数", n: "样本",
    loading: "加载中…", failed: "加载失败", min: "分", s: "秒", key: "分组", count: "次数",
    logout: "退出", logout_switch: "退出并换账号登录", denied_title: "无权查看本页面",
    denied_text: "本页面（响应时效考核）仅供监管部门账号（office）、值班主管和系统管理员查看。当前登录的是{role}账号 {user}，请退出后用有权限的账号登录。",
    role_operator: "调度员", role_crew: "救援队", role_supervisor: "值班主管", role_office: "监管部门", role_admin: "管理员",
    login_failed: "用户名或密码错误", login_throttled: "登录尝试过多，请稍后再试",
    stale: "以下为上一次查询的数据（已置灰）", trend_note: "空心红点：该月样本少于 30 起，比率波动大；悬停可看样本数 n",
    small_n: "样本少",
  },
  en: {
    title: "Elevator entrapment rescue · response review", other_lang: "中文", login: "Sign in",
    username: "Username", password: "Password", from: "From", to: "To (exclusive)", area: "Area",
    city: "Whole city", apply: "Apply", c_hist: "Response time (offer → acknowledgement, s)",
    c_trend: "Monthly trend: arrival within limit / 3-minute response",
    c_district: "Districts: entrapments per 100 per month and arrival within limit",
    c_hour: "Hour of day (entrapments by hour received)",
    t_elev: "Hidden-danger elevators (≥ 3 entrapments in a calendar month)",
    t_comp: "Maintenance companies", t_units: "Use units", t_district: "By district",
    sort: "Sort", by_rate: "by entrapment rate", by_late: "by late arrivals",
    note: "Definitions: docs/kpis.md. Every figure is computed from the timeline and states its n.",
    entrapments: "Entrapments", reports: "Reports", r3: "3-min response rate",
    arr: "Arrival within limit", arr_p50: "Arrival P50", arr_p90: "Arrival P90",
    onsite: "On-site P50", total: "Total trapped P50", rate: "Per 100 elevators / month",
    l1: "Level-1 share", fa: "False-alarm share", cb: "Callback ≤ 24 h", esc: "Escalations",
    late: "Late arrivals", month: "Month", rescue_code: "Rescue code", address: "Address",
    district: "District", company: "Maintenance company", use_unit: "Use unit", three_no: "三无",
    name: "Name", elevators: "Elevators", n: "n", loading: "Loading…", failed: "Failed",
    min: "min", s: "s", key: "Group", count: "count",
    logout: "Sign out", logout_switch: "Sign out and use another account", denied_title: "You may not see this page",
    denied_text: "This page (response review) is for office (market-supervision / emergency office) accounts, supervisors and administrators. You are signed in as {user} ({role}); sign out and sign in with an account that may see it.",
    role_operator: "operator", role_crew: "crew", role_supervisor: "supervisor", role_office: "office", role_admin: "administrator",
    login_failed: "Wrong user name or password", login_throttled: "Too many attempts; try again later",
    stale: "the figures below are from the previous query (greyed out)",
    trend_note: "Hollow red points: fewer than 30 cases that month, the rate is noisy; hover for n",
    small_n: "small n",
  },
};
const params = new URLSearchParams(location.search);
const LANG = params.get("lang") === "en" ? "en" : "zh-CN";
const t = (k) => (T[LANG][k] ?? k);
const charts = {};

function applyI18n() {
  document.documentElement.lang = LANG;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const other = new URLSearchParams(location.search);
  other.set("lang", LANG === "en" ? "zh-CN" : "en");
  document.getElementById("lang").href = "?" + other.toString();
}

const OFFICE_ROLES = new Set(["office", "supervisor", "admin"]);
const SMALL_N = 30;

async function signOut() {
  try { await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" }); } catch (e) { /* offline */ }
  location.reload();
}

function showDenied(me) {
  document.getElementById("app").hidden = true;
  document.getElementById("denied").hidden = false;
  document.getElementById("denied-text").textContent = t("denied_text")
    .replace("{role}", t("role_" + me.role)).replace("{user}", me.display_name || me.username);
  document.body.dataset.ready = "denied";
}

async function api(path, q) {
  const url = path + (q ? "?" + new URLSearchParams(q).toString() : "");
  const r = await fetch(url, { credentials: "same-origin" });
  if (r.status === 401) { showLogin(); throw new Error("401"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || body.title || r.status);
  return body;
}

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("app").hidden = true;
}

const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%");
const mins = (s) => (s === null || s === undefined ? "—" : (s / 60).toFixed(1) + " " + t("min"));
const secs = (s) => (s === null || s === undefined ? "—" : Math.round(s) + " " + t("s"));
const num = (x, d = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));

function localDate(d) {
  const z = new Date(d.getTime() + 8 * 3600e3);
  return z.toISOString().slice(0, 10);
}

function query() {
  const f = new FormData(document.getElementById("filters"));
  const q = { from: f.get("from") + "T00:00:00+08:00", to: f.get("to") + "T00:00:00+08:00" };
  if (f.get("district")) q.district = f.get("district");
  return q;
}

function tile(label, value, n, cls) {
  return `<div class="tile ${cls || ""}" data-kpi="${label}"><div class="k">${t(label)}</div>` +
    `<div class="v">${value}</div><div class="n">n = ${n ?? "—"}</div></div>`;
}

function renderTiles(r) {
  const arrCls = r.arrival_within_limit_rate === null ? "" : r.arrival_within_limit_rate >= 0.95 ? "ok" : "bad";
  const r3Cls = r.response_3min_rate === null ? "" : r.response_3min_rate >= 0.9 ? "ok" : "bad";
  document.getElementById("tiles").innerHTML = [
    tile("entrapments", r.entrapments, r.reports),
    tile("r3", pct(r.response_3min_rate), r.response_3min_n, r3Cls),
    tile("arr", pct(r.arrival_within_limit_rate), r.arrival_within_limit_n, arrCls),
    tile("arr_p50", mins(r.arrival_time.p50), r.arrival_time.n),
    tile("arr_p90", mins(r.arrival_time.p90), r.arrival_time.n),
    tile("onsite", mins(r.onsite_time.p50), r.onsite_time.n),
    tile("total", mins(r.total_time.p50), r.total_time.n),
    tile("rate", num(r.entrapment_rate_per_100_per_month, 3), r.elevators_in_service),
    tile("l1", pct(r.level_share["1"]), r.level_n),
    tile("fa", pct(r.false_alarm_share), r.reports),
    tile("cb", pct(r.callback_24h_rate), r.callback_24h_n),
    tile("late", r.late_arrivals, r.arrival_within_limit_n),
  ].join("");
}

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: true }, config.options || {});
  charts[id] = new Chart(document.getElementById(id), config);
}

function renderHistogram(h) {
  chart("c-hist", {
    type: "bar",
    data: { labels: h.bins.map((b) => `${b.from_s}–${b.to_s}`),
            datasets: [{ label: `${t("count")} (n = ${h.n})`, data: h.bins.map((b) => b.count),
                         backgroundColor: h.bins.map((b) => (b.to_s <= 180 ? "#2e7d32" : "#c62828")) }] },
    options: { scales: { y: { beginAtZero: true } } },
  });
}

/* A month with few cases can swing the rate: n in the tooltip, hollow red points when n < 30. */
function renderTrend(rows) {
  const series = (label, rateKey, nKey, color) => {
    const ns = rows.map((r) => r[nKey]);
    const small = ns.map((n) => n != null && n < SMALL_N);
    return { label, data: rows.map((r) => r[rateKey]), borderColor: color, ns,
             pointRadius: small.map((x) => (x ? 6 : 3)),
             pointBackgroundColor: small.map((x) => (x ? "#fff" : color)),
             pointBorderColor: small.map((x) => (x ? "#c62828" : color)),
             pointBorderWidth: small.map((x) => (x ? 2 : 1)) };
  };
  chart("c-trend", {
    type: "line",
    data: { labels: rows.map((r) => r.key), datasets: [
      series(t("arr"), "arrival_within_limit_rate", "arrival_within_limit_n", "#0b6bcb"),
      series(t("r3"), "response_3min_rate", "response_3min_n", "#ef6c00"),
    ] },
    options: { scales: { y: { min: 0, max: 1, ticks: { callback: (v) => v * 100 + "%" } } },
      plugins: { tooltip: { callbacks: { label: (c) => {
        const n = c.dataset.ns[c.dataIndex];
        return `${c.dataset.label}: ${pct(c.raw)} (n = ${n ?? "—"}${n != null && n < SMALL_N ? ", " + t("small_n") : ""})`;
      } } } } },
  });
  document.getElementById("c-trend").dataset.smallN = rows
    .filter((r) => r.arrival_within_limit_n != null && r.arrival_within_limit_n < SMALL_N).map((r) => r.key).join(",");
}

function renderDistricts(rows) {
  chart("c-district", {
    type: "bar",
    data: { labels: rows.map((r) => r.key), datasets: [
      { label: t("rate"), data: rows.map((r) => r.entrapment_rate_per_100_per_month), backgroundColor: "#5c8fd6", yAxisID: "y" },
      { label: t("arr"), data: rows.map((r) => r.arrival_within_limit_rate), type: "line", borderColor: "#2e7d32", yAxisID: "y1" },
    ] },
    options: { scales: { y: { beginAtZero: true }, y1: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false } } } },
  });
}

function renderHours(rows) {
  const byHour = Object.fromEntries(rows.map((r) => [r.key, r.entrapments]));
  const labels = [...Array(24).keys()].map((h) => String(h).padStart(2, "0"));
  const values = labels.map((h) => byHour[h] || 0);
  const max = Math.max(1, ...values);
  chart("c-hour", {
    type: "bar",
    data: { labels, datasets: [{ label: t("entrapments"), data: labels.map(() => 1),
      backgroundColor: values.map((v) => `rgba(198, 40, 40, ${0.08 + 0.92 * v / max})`),
      barPercentage: 1, categoryPercentage: 1 }] },
    options: { plugins: { legend: { display: false },
      tooltip: { callbacks: { label: (c) => `${t("entrapments")}: ${values[c.dataIndex]}` } } },
      scales: { y: { display: false, max: 1 } } },
  });
}

function table(id, cols, rows) {
  const el = document.getElementById(id);
  el.querySelector("thead").innerHTML = "<tr>" + cols.map((c) => `<th>${t(c[1])}</th>`).join("") + "</tr>";
  el.querySelector("tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => {
    const v = c[2] ? c[2](r[c[0]], r) : (r[c[0]] ?? "—");
    return `<td class="${typeof r[c[0]] === "number" ? "num" : ""}">${v}</td>`;
  }).join("") + "</tr>").join("");
}

function exportLinks(q) {
  document.querySelectorAll(".exports").forEach((el) => {
    const qq = Object.assign({ lang: LANG }, q);
    if (el.dataset.group) qq.group_by = el.dataset.group;
    if (el.dataset.table === "companies") qq.sort = document.getElementById("comp-sort").value;
    const s = new URLSearchParams(qq).toString();
    el.innerHTML = ["csv", "xlsx"].map((f) =>
      `<a href="/api/v1/reports/export/${el.dataset.table}.${f}?${s}" download>${f.toUpperCase()}</a>`).join("");
  });
}

const esc = (s) => String(s ?? "—").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

async function loadCompanies(q) {
  const comp = await api("/api/v1/reports/rankings/companies", Object.assign({ sort: document.getElementById("comp-sort").value, limit: 20 }, q));
  table("t-companies", [["name", "company", esc], ["elevators", "elevators"], ["entrapments", "entrapments"],
    ["entrapment_rate_per_100_per_month", "rate", (v) => num(v, 3)], ["late_arrivals", "late"],
    ["arrival_within_limit_rate", "arr", pct], ["arrival_p90_s", "arr_p90", mins]], comp.rows);
}

async function refresh() {
  const status = document.getElementById("status");
  status.textContent = t("loading"); status.className = "";
  const q = query();
  try {
    const [all, months, districts, hours, hist, elev, units] = await Promise.all([
      api("/api/v1/reports/summary", q),
      api("/api/v1/reports/summary", Object.assign({ group_by: "month" }, q)),
      api("/api/v1/reports/summary", Object.assign({ group_by: "district" }, q)),
      api("/api/v1/reports/summary", Object.assign({ group_by: "hour" }, q)),
      api("/api/v1/reports/histogram", Object.assign({ metric: "response_time", bin_s: 30 }, q)),
      api("/api/v1/reports/rankings/elevators", q),
      api("/api/v1/reports/rankings/use-units", Object.assign({ limit: 20 }, q)),
    ]);
    renderTiles(all.rows[0]);
    renderHistogram(hist);
    renderTrend(months.rows);
    renderDistricts(districts.rows);
    renderHours(hours.rows);
    table("t-elevators", [["month", "month"], ["rescue_code", "rescue_code"], ["district", "district"],
      ["address", "address", esc], ["maintenance_company", "company", esc], ["use_unit", "use_unit", esc],
      ["entrapments", "entrapments"], ["three_no", "three_no", (v) => (v ? '<span class="flag">三无</span>' : "")]], elev.rows);
    table("t-units", [["name", "use_unit", esc], ["elevators", "elevators"], ["entrapments", "entrapments"],
      ["entrapment_rate_per_100_per_month", "rate", (v) => num(v, 3)], ["late_arrivals", "late"]], units.rows);
    table("t-summary", [["key", "district"], ["entrapments", "entrapments"], ["elevators_in_service", "elevators"],
      ["entrapment_rate_per_100_per_month", "rate", (v) => num(v, 3)],
      ["response_3min_rate", "r3", pct], ["arrival_within_limit_rate", "arr", pct],
      ["arrival_time", "arr_p50", (v) => mins(v.p50)], ["arrival_time", "arr_p90", (v) => mins(v.p90)],
      ["false_alarm_share", "fa", pct]], districts.rows);
    await loadCompanies(q);
    exportLinks(q);
    status.textContent = `${all.from.slice(0, 10)} – ${all.to.slice(0, 10)}`;
    document.getElementById("app").classList.remove("stale");
    document.body.dataset.ready = "1";
  } catch (e) {
    if (e.message === "401") return;
    // the previous figures stay for comparison but are greyed out, with the error above them
    document.getElementById("app").classList.add("stale");
    status.className = "error";
    status.textContent = `${t("failed")}: ${e.message} · ${t("stale")}`;
    document.body.dataset.ready = "error";
  }
}

async function start() {
  applyI18n();
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(new FormData(ev.target)), credentials: "same-origin" });
    if (!r.ok) { document.getElementById("login-error").textContent = t(r.status === 429 ? "login_throttled" : "login_failed"); return; }
    location.reload();
  });
  let me;
  try { me = await api("/api/v1/auth/me"); } catch (e) { return; }
  document.getElementById("who").textContent = `${me.display_name || me.username} · ${me.region || t("city")}`;
  document.getElementById("logout").hidden = false;
  document.getElementById("logout").addEventListener("click", signOut);
  document.getElementById("denied-logout").addEventListener("click", signOut);
  if (!OFFICE_ROLES.has(me.role)) { showDenied(me); return; }
  document.getElementById("app").hidden = false;
  const zones = await api("/api/v1/reports/zones");
  const sel = document.querySelector("select[name=district]");
  sel.innerHTML = (me.region ? "" : `<option value="">${t("city")}</option>`) +
    zones.map((z) => `<option value="${esc(z.name)}">${esc(LANG === "en" ? z.name_en : z.name)}</option>`).join("");
  const f = document.getElementById("filters");
  const end = new Date(Date.now() + 86400e3);
  f.to.value = params.get("to") || localDate(end);
  f.from.value = params.get("from") || localDate(new Date(end.getTime() - 90 * 86400e3));
  if (params.get("district")) sel.value = params.get("district");
  f.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  document.getElementById("comp-sort").addEventListener("change", () => { loadCompanies(query()); exportLinks(query()); });
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
