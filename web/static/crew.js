/* Crew phone page: current offer/job, steps, navigation links, GPS every 10 s, offline queue. */
"use strict";

(() => {
  const R = Rescue;
  const $ = (s) => document.querySelector(s);
  const QUEUE_KEY = "rescue_crew_queue";
  const SYNC_KEY = "rescue_crew_synced";
  const LAST_KEY = "rescue_crew_last";   // the last team + jobs, shown when reloaded offline
  const OPEN = new Set(["offered", "accepted", "en_route", "on_scene", "released"]);
  const GPS_STATES = new Set(["accepted", "en_route", "on_scene"]);
  const CAUSES = ["external_power", "external_other", "human", "door_system", "control_system",
    "traction_drive", "other"];
  const DECLINE_REASONS = { "zh-CN": ["正在其他现场", "车辆故障", "距离太远", "人员不足"],
    en: ["At another site", "Vehicle breakdown", "Too far", "Not enough crew"] };
  const st = { me: null, team: null, incidents: new Map(), pending: {}, msg: {}, dutyMsg: "", dutyBusy: false };
  let stream;
  R.addText({
    "zh-CN": { duty_title: "值班", duty_on: "上班", duty_off: "下班", duty_now_on: "当前：上班中，可接派单",
      duty_now_off: "当前：已下班，不会收到派单", duty_job_open: "有未完成的任务（警情 #{id}），完成后才能下班",
      duty_roster: "排班", duty_hold: "手动切换保持到下一个排班时间点", duty_by: "最近变更",
      duty_src_crew: "本队", duty_src_supervisor: "主管", duty_src_roster: "排班", duty_src_import: "导入",
      duty_offline: "网络不可用，请稍后再试",
      gps_wait: "正在获取位置…",
      gps_denied: "无法获取位置：定位权限被拒绝。请在浏览器设置（地址栏左侧的锁形图标 → 网站设置 → 位置）中允许本网站使用位置，然后刷新本页；调度台已收到提示",
      gps_unavailable: "无法获取位置（无定位信号或手机定位已关闭）。请打开手机的定位服务；调度台已收到提示",
      offline_cached: "离线：显示的是最后同步的任务，操作会在联网后发送" },
    en: { duty_title: "Duty", duty_on: "On duty", duty_off: "Off duty", duty_now_on: "Now: on duty, receiving jobs",
      duty_now_off: "Now: off duty, no jobs will be offered", duty_job_open: "Finish the open job (incident #{id}) before going off duty",
      duty_roster: "Roster", duty_hold: "a manual switch holds until the next roster change", duty_by: "Last change",
      duty_src_crew: "crew", duty_src_supervisor: "supervisor", duty_src_roster: "roster", duty_src_import: "import",
      duty_offline: "No network; try again in a moment",
      gps_wait: "Getting a position…",
      gps_denied: "Cannot get a position: location permission was denied. Allow location for this site in the browser settings (lock icon left of the address → Site settings → Location), then reload; the console has been told",
      gps_unavailable: "Cannot get a position (no signal or phone location off). Turn on location services; the console has been told",
      offline_cached: "Offline: showing the last synced job; taps are sent when back online" },
  });

  function syncLang() { $("#btn-lang").textContent = R.getLang() === "en" ? "中文" : "EN"; }
  $("#btn-lang").onclick = () => { R.setLang(R.getLang() === "en" ? "zh-CN" : "en"); syncLang(); render(); };
  /* The badge: 离线 whenever the browser is offline, else the socket's state (实时 / 重连中). */
  let streamState = "reconnecting";
  function setConn(s) {
    if (s) streamState = s;
    const shown = navigator.onLine ? streamState : "offline";
    const c = $("#conn"); c.className = "conn " + shown; c.dataset.t = shown; c.textContent = R.t(shown);
    $("#offline-note").hidden = navigator.onLine;
  }
  window.addEventListener("offline", () => setConn());
  window.addEventListener("online", () => { setConn(); if (!stream) start(); });

  // ------------------------------------------------------------------ offline queue
  function queue() { try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; } }
  function saveQueue(q) { localStorage.setItem(QUEUE_KEY, JSON.stringify(q)); showSync(); }
  function markSynced() { localStorage.setItem(SYNC_KEY, new Date().toISOString()); showSync(); }
  function showSync() {
    const s = localStorage.getItem(SYNC_KEY);
    $("#synced").textContent = s ? R.hhmm(s) : "—";
    const n = queue().length;
    $("#queue").hidden = n === 0; $("#queue-n").textContent = n;
  }
  async function send(url, body) {
    const r = await fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    if (r.status === 401) { location.href = "/login?next=/crew"; throw new Error("401"); }
    const data = await r.json().catch(() => null);
    if (!r.ok) { const e = new Error((data && (data.detail || data.title)) || r.status); e.status = r.status; throw e; }
    return data;
  }
  /* A tap: sent now if possible; kept (in order) and retried when the network is down. */
  async function tap(assignmentId, step, body) {
    const item = { url: `/api/v1/assignments/${assignmentId}/${step}`, body: body || {}, tapped: new Date().toISOString(), step, assignmentId };
    const q = queue(); q.push(item); saveQueue(q);
    st.pending[assignmentId] = step; render();
    await flush();
  }
  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      let q = queue();
      while (q.length) {
        const item = q[0];
        try {
          const a = await send(item.url, item.body);
          applyAssignment(a); remember();
          st.msg[item.assignmentId] = "";
        } catch (e) {
          if (!e.status) break;          // offline: keep it, try again later
          st.msg[item.assignmentId] = e.message;  // refused (e.g. already done): drop it
        }
        q = queue(); q.shift(); saveQueue(q);
        delete st.pending[item.assignmentId];
        markSynced();
      }
    } finally { flushing = false; render(); }
  }
  window.addEventListener("online", flush);
  setInterval(flush, 5000);

  // ------------------------------------------------------------------ data
  function applyAssignment(a) {
    const row = st.incidents.get(a.incident_id);
    if (!row) return;
    const list = (row.assignments || []).filter((x) => x.id !== a.id);
    const mine = { ...a, open: ["offered", "accepted", "en_route", "on_scene"].includes(a.state) };
    list.push(mine); list.sort((x, y) => x.id - y.id);
    row.assignments = list; row.assignment = mine;
  }
  function showTeamName() {
    const el = $("#team-name");
    if (!st.team && !st.me) return;
    delete el.dataset.t;  // the team's own name: the language switch must not replace it
    el.textContent = st.team ? st.team.name : st.me.username;
  }
  function remember() {
    try {
      localStorage.setItem(LAST_KEY, JSON.stringify({ me: st.me, team: st.team,
        incidents: [...st.incidents.values()].filter((r) => r.assignment && OPEN.has(r.assignment.state)) }));
    } catch (e) { /* storage full: the page still works online */ }
  }
  /* Reloaded without network (the service worker served the page): the last synced job. */
  function restore() {
    let last = null;
    try { last = JSON.parse(localStorage.getItem(LAST_KEY) || "null"); } catch (e) { last = null; }
    if (!last) return false;
    st.me = last.me; st.team = last.team;
    st.incidents = new Map((last.incidents || []).map((r) => [r.id, r]));
    showTeamName(); render();
    document.body.dataset.ready = "cached";
    return true;
  }
  function onSnapshot(m) {
    st.me = m.me; st.team = m.teams[0] || null;
    showTeamName();
    st.incidents = new Map(m.incidents.map((r) => [r.id, r]));
    markSynced(); render(); flush(); remember();
    document.body.dataset.ready = "1";
  }
  function onEvent(m) {
    if (m.team && st.team && m.team.id === st.team.id) st.team = m.team;
    if (m.incident) st.incidents.set(m.incident.id, m.incident);
    markSynced(); render(); remember();
  }
  function jobs() {
    const out = [];
    for (const row of st.incidents.values()) {
      const a = row.assignment;
      if (a && OPEN.has(a.state)) out.push({ row, a });
    }
    return out.sort((x, y) => (x.a.state === "offered" ? -1 : 0) - (y.a.state === "offered" ? -1 : 0) || y.a.id - x.a.id);
  }

  // ------------------------------------------------------------------ render
  function navLinks(row) {
    const e = row.elevator, name = encodeURIComponent(e.building);
    const [gx, gy] = e.gcj02, [bx, by] = e.bd09;
    return `<div class="nav">
      <a href="https://uri.amap.com/marker?position=${gx},${gy}&name=${name}&coordinate=gaode&callnative=1" target="_blank" rel="noopener">高德</a>
      <a href="https://api.map.baidu.com/marker?location=${by},${bx}&title=${name}&content=${name}&coord_type=bd09ll&output=html&src=webapp.rescue" target="_blank" rel="noopener">百度</a>
      <a href="geo:${e.lat},${e.lon}?q=${e.lat},${e.lon}(${name})">${R.t("navigate")}</a></div>`;
  }
  function clock(label, iso) {
    const ms = Date.parse(iso) - (stream ? stream.now() : Date.now());
    return `<div class="big-clock ${R.clockClass(ms)}" data-deadline="${iso}"><small>${R.esc(label)}</small><span>${R.countdown(ms)}</span></div>`;
  }
  function jobHtml({ row, a }) {
    const e = row.elevator;
    const busy = st.pending[a.id] ? "disabled" : "";
    const flags = [row.injured && R.t("injured"), row.vulnerable && R.t("vulnerable"),
      e.three_no && R.t("three_no")].filter(Boolean).map((f) => `<span class="flag">${f}</span>`).join("");
    const head = `<h2>${R.esc(e.building)}</h2><div class="addr">${R.esc(e.address)}</div>
      <div class="facts">${flags}${row.trapped_count != null ? `${R.t("trapped_n")} ${row.trapped_count} · ` : ""}${R.esc(e.rescue_code)} · ${R.esc(R.getLang() === "en" ? row.zone.name_en : row.zone.name)} · ${e.floors}F</div>`;
    let body = "";
    if (a.state === "offered") {
      const reasons = DECLINE_REASONS[R.getLang()] || DECLINE_REASONS.en;
      body = `${clock(R.t("accept_within"), a.accept_by)}
        <div class="btns"><button class="go wide" data-step="accept" data-a="${a.id}" ${busy}>${R.t("accept")}</button>
        <label class="field wide">${R.t("decline_reason")}<select id="reason-${a.id}">${reasons.map((r) => `<option>${R.esc(r)}</option>`).join("")}</select></label>
        <button class="no wide" data-step="decline" data-a="${a.id}" ${busy}>${R.t("decline")}</button></div>`;
      return `<section class="job offer"><span class="badge">${R.t("offer")}</span>${head}${body}<p class="msg">${R.esc(st.msg[a.id] || "")}</p></section>`;
    }
    if (!row.arrived_at) body += clock(R.t("deadline"), row.sla_deadline);
    body += navLinks(row);
    body += `<div class="btns">`;
    if (a.state === "accepted") body += `<button class="step" data-step="depart" data-a="${a.id}" ${busy}>${R.t("depart")}</button>`;
    if (a.state === "accepted" || a.state === "en_route")
      body += `<button class="step ${a.state === "en_route" ? "wide" : ""}" data-step="arrive" data-a="${a.id}" ${busy}>${R.t("arrive")}</button>`;
    if (a.state === "on_scene")
      body += `<label class="field wide">${R.t("released_count")}<input type="number" min="0" max="100" id="count-${a.id}" value="${row.trapped_count ?? 1}"></label>
        <button class="go wide" data-step="release" data-a="${a.id}" ${busy}>${R.t("release")}</button>`;
    if (a.state === "released")
      body += `<label class="field wide">${R.t("cause")}<select id="cause-${a.id}">${CAUSES.map((c) => `<option value="${c}">${R.t("c_" + c)}</option>`).join("")}</select></label>
        <label class="check wide"><input type="checkbox" id="oos-${a.id}"> ${R.t("out_of_service")}</label>
        <button class="go wide" data-step="clear" data-a="${a.id}" ${busy}>${R.t("clear")}</button>`;
    body += `</div>`;
    return `<section class="job" data-state="${a.state}">${head}<p><b>${R.stateName(a.state)}</b></p>${body}<p class="msg">${R.esc(st.msg[a.id] || "")}</p></section>`;
  }
  // ------------------------------------------------------------------ on / off duty
  const JOB_STATES = new Set(["offered", "accepted", "en_route", "on_scene"]);
  function openJob() {
    if (st.team && st.team.job) return st.team.job;
    const j = jobs().find(({ a }) => JOB_STATES.has(a.state));
    return j ? { incident_id: j.row.id, assignment_id: j.a.id, state: j.a.state } : null;
  }
  function renderDuty() {
    const t = st.team, box = $("#duty");
    box.hidden = !t;
    if (!t) return;
    const job = openJob();
    const on = $("#duty-on"), off = $("#duty-off"), note = $("#duty-note");
    on.setAttribute("aria-pressed", String(t.on_duty)); off.setAttribute("aria-pressed", String(!t.on_duty));
    on.disabled = st.dutyBusy;
    off.disabled = st.dutyBusy || (t.on_duty && !!job);
    document.body.dataset.duty = t.on_duty ? "on" : "off";
    const lines = [];
    if (t.on_duty && job) { lines.push(R.t("duty_job_open").replace("{id}", job.incident_id)); }
    else lines.push(R.t(t.on_duty ? "duty_now_on" : "duty_now_off"));
    if (t.roster) lines.push(`${R.t("duty_roster")} ${t.roster} · ${R.t("duty_hold")}`);
    const c = t.last_duty_change;
    if (c) lines.push(`${R.t("duty_by")}: ${R.t("duty_src_" + c.source)} ${c.actor} ${R.hhmm(c.at)}${c.reason ? " · " + c.reason : ""}`);
    if (st.dutyMsg) lines.push(st.dutyMsg);
    note.className = "duty-note" + (t.on_duty && job ? " blocked" : "");
    note.innerHTML = lines.map((l) => R.esc(l)).join("<br>");
  }
  async function setDuty(onDuty) {
    if (!st.team || st.team.on_duty === onDuty || st.dutyBusy) return;
    st.dutyBusy = true; st.dutyMsg = ""; renderDuty();
    try {
      st.team = await send(`/api/v1/teams/${st.team.id}/duty`, { on_duty: onDuty });
      markSynced();
    } catch (e) { st.dutyMsg = e.status ? e.message : R.t("duty_offline"); }
    finally { st.dutyBusy = false; renderDuty(); }
  }
  $("#duty-on").onclick = () => setDuty(true);
  $("#duty-off").onclick = () => setDuty(false);

  function render() {
    renderDuty();
    const list = jobs();
    $("#jobs").innerHTML = list.length ? list.map(jobHtml).join("") : `<p class="none muted">${R.t("no_job")}</p>`;
    gps(list.some(({ a }) => GPS_STATES.has(a.state)));
  }
  $("#jobs").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-step]");
    if (!b) return;
    const id = Number(b.dataset.a), step = b.dataset.step;
    let body = {};
    if (step === "decline") body = { reason: $(`#reason-${id}`).value };
    if (step === "release") body = { released_count: Number($(`#count-${id}`).value || 0) };
    if (step === "clear") body = { cause_code: $(`#cause-${id}`).value, out_of_service: $(`#oos-${id}`).checked };
    tap(id, step, body);
  });
  setInterval(() => {
    document.querySelectorAll("[data-deadline]").forEach((el) => {
      const ms = Date.parse(el.dataset.deadline) - (stream ? stream.now() : Date.now());
      el.className = "big-clock " + R.clockClass(ms);
      el.querySelector("span").textContent = R.countdown(ms);
    });
  }, 1000);

  // ------------------------------------------------------------------ GPS (every 10 s while a job is open)
  /* gpsState: off (no job), wait (asked, no fix yet), on (fixes coming), denied, unavailable.
   * denied / unavailable are told to the console (team panel) once per change. */
  let watchId = null, lastFix = null, gpsTimer = null, gpsState = "off", gpsTold = "ok";
  function gps(on) {
    if (on && watchId === null && st.team) {
      if (!navigator.geolocation) { gpsState = "unavailable"; tellGps("unavailable"); }
      else {
        gpsState = lastFix ? "on" : "wait";
        watchId = navigator.geolocation.watchPosition((p) => {
          lastFix = p; gpsState = "on"; showGps(); tellGps("ok");
        }, (err) => {
          gpsState = err && err.code === 1 ? "denied" : "unavailable";
          showGps(); tellGps(gpsState);
        }, { enableHighAccuracy: true, maximumAge: 5000 });
        gpsTimer = setInterval(sendFix, 10000);
        setTimeout(sendFix, 1500);
      }
    } else if (!on && watchId !== null) {
      navigator.geolocation.clearWatch(watchId); clearInterval(gpsTimer); watchId = null;
      gpsState = "off";
    }
    showGps();
  }
  function showGps() {
    const label = $("#gps");
    label.className = "gps " + gpsState;
    label.dataset.state = gpsState;
    label.textContent = R.t("gps_" + gpsState);
  }
  async function tellGps(state) {
    if (state === gpsTold || !st.team || !navigator.onLine) return;
    try { await send(`/api/v1/teams/${st.team.id}/gps-status`, { state }); gpsTold = state; }
    catch (e) { /* told again on the next change or reload */ }
  }
  async function sendFix() {
    if (!lastFix || !st.team || !navigator.onLine) return;
    const c = lastFix.coords;
    try {
      await send(`/api/v1/teams/${st.team.id}/position`, { lon: c.longitude, lat: c.latitude,
        accuracy_m: c.accuracy != null ? Math.min(c.accuracy, 10000) : null });
      markSynced();
    } catch (e) { /* next fix in 10 s */ }
  }

  // ------------------------------------------------------------------ start (with ?t= link login)
  R.setLang(R.getLang()); syncLang(); showSync();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/crew-sw.js", { scope: "/crew" }).catch(() => { /* http: no worker */ });
  }
  async function start() {
    const params = new URLSearchParams(location.search);
    const link = params.get("t");
    if (link) {
      history.replaceState(null, "", "/crew");
      try {
        const r = await fetch("/api/v1/auth/link", { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: link }) });
        if (!r.ok && r.status !== 404 && r.status !== 405) { /* expired link: an existing session may still work */ }
      } catch (e) { /* offline: an existing session may still work */ }
    }
    let me;
    try { me = await fetch("/api/v1/auth/me", { credentials: "same-origin" }); }
    catch (e) { restore(); setConn(); return; }  // offline: the last job; start() again when online
    if (me.status === 401) {
      localStorage.removeItem(LAST_KEY);  // signed out: no job of the last session stays offline
      if (link) { $("#link-error").hidden = false; $("#jobs").hidden = true; return; }
      location.href = "/login?next=/crew"; return;
    }
    stream = new R.Stream({ snapshot: onSnapshot, event: onEvent, status: setConn });
    stream.start();
  }
  setConn();
  start();
})();
