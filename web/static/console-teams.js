/* The console's team panel (issue 13): every team with company, level, duty, readiness, current
 * job and GPS age; filter and search; supervisors and admins change duty with a reason.
 * Fed by the console's stream (snapshot rows, then live team rows); the rows are the server's
 * team rows, so a live update simply replaces one. */
"use strict";

const TeamPanel = (() => {
  const R = Rescue;
  const $ = (s) => document.querySelector(s);
  R.addText({
    "zh-CN": {
      tp_title: "救援队", tp_search: "搜索队伍、单位、编号、电话", tp_all: "全部", tp_on: "上班",
      tp_off: "下班", tp_available: "空闲", tp_job: "有任务", tp_name: "队伍", tp_company: "单位",
      tp_level: "级别", tp_duty: "值班", tp_ready: "状态", tp_current: "当前任务", tp_gps: "GPS",
      tp_on_duty: "上班", tp_off_duty: "下班", tp_retired: "已注销", tp_set_on: "设为上班",
      tp_set_off: "设为下班", tp_reason: "原因（必填）", tp_ok: "确定", tp_cancel: "取消",
      tp_none: "没有符合条件的队伍", tp_no_gps: "无定位", tp_ago_s: "刚刚", tp_ago_m: "分钟前",
      tp_ago_h: "小时前", tp_base: "（驻地）", tp_roster: "排班",
      k_maintenance_company: "维保 1/2级", k_rescue_station: "救援站 2级", k_fire_brigade: "消防 3级",
      src_crew: "本队", src_supervisor: "主管", src_roster: "排班", src_import: "导入",
    },
    en: {
      tp_title: "Teams", tp_search: "Search team, company, code, phone", tp_all: "All", tp_on: "On duty",
      tp_off: "Off duty", tp_available: "Available", tp_job: "On a job", tp_name: "Team",
      tp_company: "Company", tp_level: "Level", tp_duty: "Duty", tp_ready: "Readiness",
      tp_current: "Current job", tp_gps: "GPS", tp_on_duty: "on duty", tp_off_duty: "off duty",
      tp_retired: "retired", tp_set_on: "Put on duty", tp_set_off: "Put off duty",
      tp_reason: "Reason (required)", tp_ok: "OK", tp_cancel: "Cancel", tp_none: "No team matches",
      tp_no_gps: "no fix", tp_ago_s: "just now", tp_ago_m: "min ago", tp_ago_h: "h ago",
      tp_base: "(base)", tp_roster: "Roster",
      k_maintenance_company: "maint. L1/2", k_rescue_station: "station L2", k_fire_brigade: "fire L3",
      src_crew: "crew", src_supervisor: "supervisor", src_roster: "roster", src_import: "import",
    },
  });
  const st = { teams: new Map(), me: null, editing: null, error: "", now: () => Date.now(), select: null };

  function mayChange() { return !!st.me && ["supervisor", "admin"].includes(st.me.role); }
  function gpsAge(t) {
    const warn = t.gps_status === "denied" || t.gps_status === "unavailable"
      ? ` <span class="flag gps-${t.gps_status}">${R.t("gps_status_" + t.gps_status)}</span>` : "";
    return gpsText(t) + warn;
  }
  function gpsText(t) {
    if (!t.position_at) return `<span class="muted">${R.t("tp_no_gps")}</span>`;
    const s = Math.max(0, (st.now() - Date.parse(t.position_at)) / 1000);
    const txt = s < 60 ? R.t("tp_ago_s") : s < 3600 ? `${Math.floor(s / 60)} ${R.t("tp_ago_m")}`
      : `${Math.floor(s / 3600)} ${R.t("tp_ago_h")}`;
    return `<span class="${t.position_source === "gps" ? "" : "muted"}">${txt}${t.position_source === "gps" ? "" : " " + R.t("tp_base")}</span>`;
  }
  function dutyCell(t) {
    const badge = t.retired ? `<span class="duty-badge retired">${R.t("tp_retired")}</span>`
      : `<span class="duty-badge ${t.on_duty ? "on" : "off"}">${R.t(t.on_duty ? "tp_on_duty" : "tp_off_duty")}</span>`;
    const c = t.last_duty_change;
    const why = c ? `${R.t("src_" + c.source)} ${c.actor} ${R.hhmm(c.at)}${c.reason ? " · " + c.reason : ""}` : "";
    const roster = t.roster ? `<small class="muted">${R.t("tp_roster")} ${R.esc(t.roster)}</small>` : "";
    return `${badge}${why ? `<small class="why">${R.esc(why)}</small>` : ""}${roster}`;
  }
  function jobCell(t) {
    if (!t.job) return "—";
    return `<a href="#" data-incident="${t.job.incident_id}">#${t.job.incident_id}</a> <small>${R.stateName(t.job.state)}</small>`;
  }
  function actionCell(t) {
    if (!mayChange() || t.retired) return "";
    const blocked = t.on_duty && t.job;
    return `<button class="tp-act" data-team="${t.id}" ${blocked ? "disabled" : ""}>${R.t(t.on_duty ? "tp_set_off" : "tp_set_on")}</button>`;
  }
  function matches(t, q, f) {
    if (f === "on" && !t.on_duty) return false;
    if (f === "off" && t.on_duty) return false;
    if (f === "available" && !(t.on_duty && t.status === "available")) return false;
    if (f === "job" && !t.job) return false;
    if (!q) return true;
    return [t.name, t.code, t.organization_name, t.phone].some((v) => (v || "").toLowerCase().includes(q));
  }
  function formRow(t) {
    return `<tr class="tp-form-row"><td colspan="8"><form class="inline-form" id="tp-form">
      <b>${R.esc(t.name)}: ${R.t(t.on_duty ? "tp_set_off" : "tp_set_on")}</b>
      <input name="reason" required minlength="2" maxlength="500" placeholder="${R.t("tp_reason")}">
      <button class="primary" type="submit">${R.t("tp_ok")}</button>
      <button type="button" data-cancel="1">${R.t("tp_cancel")}</button>
      <span class="error">${R.esc(st.error)}</span></form></td></tr>`;
  }
  function render() {
    const body = $("#tp-table tbody");
    if (!body) return;
    const q = $("#tp-search").value.trim().toLowerCase(), f = $("#tp-filter").value;
    const rows = [...st.teams.values()].filter((t) => matches(t, q, f));
    const onDuty = [...st.teams.values()].filter((t) => t.on_duty).length;
    $("#tp-count").textContent = `${onDuty}/${st.teams.size} ${R.t("tp_on_duty")}`;
    const old = $("#tp-form");
    const keepReason = old ? old.reason.value : "", hadFocus = old && document.activeElement === old.reason;
    body.innerHTML = rows.map((t) => `<tr data-team="${t.id}" class="${t.on_duty ? "" : "off"}">
      <td><b>${R.esc(t.name)}</b><small class="muted">${R.esc(t.code)} · ${R.esc(t.phone)}</small></td>
      <td>${R.esc(t.organization_name || "")}</td>
      <td>${R.esc(R.t("k_" + t.organization_kind))}</td>
      <td class="duty">${dutyCell(t)}</td>
      <td class="ready">${R.stateName(t.status)}</td>
      <td class="job">${jobCell(t)}</td>
      <td class="gps">${gpsAge(t)}</td>
      <td>${actionCell(t)}</td></tr>${st.editing === t.id ? formRow(t) : ""}`).join("")
      || `<tr><td colspan="8" class="muted">${R.t("tp_none")}</td></tr>`;
    const form = $("#tp-form");
    if (form) { form.reason.value = keepReason; if (hadFocus) form.reason.focus(); }
  }
  let queued = false;
  function renderSoon() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; render(); });
  }
  async function submit(form) {
    const t = st.teams.get(st.editing);
    if (!t) return;
    try {
      const row = await R.api("POST", `/api/v1/teams/${t.id}/duty`, { on_duty: !t.on_duty, reason: form.reason.value.trim() });
      st.teams.set(row.id, row); st.editing = null; st.error = "";
    } catch (e) { st.error = e.message; }
    render();
    if (st.editing !== null && $("#tp-form")) $("#tp-form").reason.focus();
  }
  function init(opts) {
    st.now = opts.now; st.select = opts.select;
    $("#tp-search").addEventListener("input", render);
    $("#tp-filter").addEventListener("change", render);
    $("#tp-table").addEventListener("click", (e) => {
      const a = e.target.closest("a[data-incident]");
      if (a) { e.preventDefault(); st.select && st.select(Number(a.dataset.incident)); return; }
      const b = e.target.closest("button.tp-act");
      if (b) { st.editing = Number(b.dataset.team); st.error = ""; render(); $("#tp-form").reason.focus(); return; }
      if (e.target.closest("button[data-cancel]")) { st.editing = null; st.error = ""; render(); }
    });
    $("#tp-table").addEventListener("submit", (e) => { e.preventDefault(); submit(e.target); });
    setInterval(renderSoon, 15000);  // GPS ages
  }
  function setAll(teams, me) { st.me = me; st.teams = new Map(teams.map((t) => [t.id, t])); render(); }
  function update(t) { if (t && t.id != null) { st.teams.set(t.id, { ...(st.teams.get(t.id) || {}), ...t }); renderSoon(); } }
  return { init, setAll, update, render };
})();
