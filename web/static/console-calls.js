/* The console's phone desk (issue 15): the operator's seat (desk phone), ringing hotline calls
 * kept live by the stream's call_* events (caller number, waiting time, screen-pop with the
 * caller's history, 接听), abandoned calls with 回拨, and an incident's calls with their
 * recordings (played through the server, never from the provider). */
"use strict";

const PhoneDesk = (() => {
  const R = Rescue;
  const $ = (s) => document.querySelector(s);
  R.addText({
    "zh-CN": {
      pd_title: "来电", pd_ringing: "振铃来电", pd_none: "暂无来电", pd_abandoned: "未接来电（已挂机）",
      pd_no_abandoned: "没有未接来电", pd_answer: "接听", pd_callback: "回拨", pd_seat: "坐席电话",
      pd_available: "在席", pd_sign_in: "签入", pd_waiting: "等待", pd_code: "按键识别码",
      pd_past: "历史警情", pd_open: "进行中警情", pd_ivr: "语音导航已登记", pd_taken: "已被其他坐席接听",
      pd_no_seat: "请先签入坐席电话", pd_calls: "通话记录", pd_play: "播放录音", pd_hung_up: "挂机于",
      pd_seat_saved: "坐席已签入", pd_answered_by: "接听人", pd_called_back: "已回拨",
      pd_conf: "接通救援队", pd_conf_unit: "接通救援队和使用单位", pd_conf_end: "结束三方通话",
      pd_leg_operator: "坐席", pd_leg_caller: "来电人", pd_leg_team: "救援队", pd_leg_use_unit: "使用单位",
      pd_st_ivr: "语音导航", pd_st_queued: "排队中", pd_st_answered: "通话中", pd_st_completed: "已结束",
      pd_st_abandoned: "已挂机", pd_st_failed: "失败", pd_st_dialing: "拨号中", pd_st_ringing: "振铃",
      pd_st_in_progress: "通话中", pd_st_busy: "占线", pd_st_no_answer: "无人接听",
    },
    en: {
      pd_title: "Calls", pd_ringing: "Ringing calls", pd_none: "No calls waiting", pd_abandoned: "Abandoned calls",
      pd_no_abandoned: "No abandoned calls", pd_answer: "Answer", pd_callback: "Call back", pd_seat: "Desk phone",
      pd_available: "available", pd_sign_in: "Sign in", pd_waiting: "waiting", pd_code: "code keyed",
      pd_past: "past incidents", pd_open: "open incidents", pd_ivr: "recorded by IVR", pd_taken: "taken by another operator",
      pd_no_seat: "Sign in to a seat with your desk phone first", pd_calls: "Calls", pd_play: "Play recording",
      pd_hung_up: "hung up", pd_seat_saved: "Seat signed in", pd_answered_by: "answered by", pd_called_back: "called back",
      pd_conf: "Connect crew", pd_conf_unit: "Connect crew and use unit", pd_conf_end: "End three-way call",
      pd_leg_operator: "operator", pd_leg_caller: "caller", pd_leg_team: "crew", pd_leg_use_unit: "use unit",
      pd_st_ivr: "in IVR", pd_st_queued: "queued", pd_st_answered: "on the line", pd_st_completed: "ended",
      pd_st_abandoned: "hung up", pd_st_failed: "failed", pd_st_dialing: "dialling", pd_st_ringing: "ringing",
      pd_st_in_progress: "in progress", pd_st_busy: "busy", pd_st_no_answer: "no answer",
    },
  });
  const st = { ringing: new Map(), abandoned: new Map(), pops: new Map(), me: null, now: () => Date.now() };

  function waited(c) {
    const s = Math.max(0, Math.floor((st.now() - Date.parse(c.queued_at || c.ended_at)) / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function popHtml(id) {
    const p = st.pops.get(id);
    if (!p) return "";
    const inc = (i) => `<a href="#" data-incident="${i.id}">#${i.id}</a> ${R.esc(i.address || "")} <small>${R.stateName(i.state)}</small>`;
    const out = [];
    if (p.ivr_incident) out.push(`<div class="pd-ivr">${R.t("pd_ivr")}: ${inc(p.ivr_incident)}</div>`);
    if (p.keyed_elevator) out.push(`<div>${R.t("pd_code")}: <b>${R.esc(p.keyed_elevator.rescue_code)}</b> ${R.esc(p.keyed_elevator.address)}</div>`);
    if (p.open_incidents.length) out.push(`<div>${R.t("pd_open")}: ${p.open_incidents.map(inc).join("; ")}</div>`);
    if (p.past_incidents.length) out.push(`<div>${R.t("pd_past")}: ${p.past_incidents.slice(0, 5).map(inc).join("; ")}</div>`);
    return out.length ? `<div class="pd-pop">${out.join("")}</div>` : "";
  }
  function render() {
    const box = $("#pd-ringing");
    if (!box) return;
    const ringing = [...st.ringing.values()].sort((a, b) => Date.parse(a.queued_at) - Date.parse(b.queued_at));
    const canAct = st.me && !st.me.read_only;
    $("#pd-count").textContent = ringing.length ? `(${ringing.length})` : "";
    $("#phone-desk").classList.toggle("ringing", ringing.length > 0);
    box.innerHTML = ringing.length ? ringing.map((c) => `<li data-call="${c.id}">
      <b class="pd-from">${R.esc(c.from || "—")}</b>
      <span class="pd-wait" data-since="${R.esc(c.queued_at)}">${waited(c)}</span>
      ${c.rescue_code ? `<small>${R.t("pd_code")} ${R.esc(c.rescue_code)}</small>` : ""}
      ${canAct ? `<button class="primary" data-answer="${c.id}">${R.t("pd_answer")}</button>` : ""}
      ${popHtml(c.id)}</li>`).join("") : `<li class="muted">${R.t("pd_none")}</li>`;
    const ab = [...st.abandoned.values()];
    $("#pd-abandoned").innerHTML = ab.length ? ab.map((c) => `<li data-abandoned="${c.id}">
      <b>${R.esc(c.from || "—")}</b> <small class="muted">${R.t("pd_hung_up")} ${R.hhmm(c.ended_at)}</small>
      ${canAct ? `<button data-callback="${c.id}">${R.t("pd_callback")}</button>` : ""}</li>`).join("")
      : `<li class="muted">${R.t("pd_no_abandoned")}</li>`;
  }
  function tick() {
    document.querySelectorAll("#pd-ringing .pd-wait[data-since]").forEach((el) => {
      el.textContent = waited({ queued_at: el.dataset.since });
    });
  }
  async function loadPop(id) {
    try {
      const c = await R.api("GET", `/api/v1/calls/${id}`);
      st.pops.set(id, c.screen_pop);
      if (st.ringing.has(id)) render();
    } catch (e) { /* the call may be gone already */ }
  }
  async function load() {
    try {
      const [ringing, abandoned] = await Promise.all([
        R.api("GET", "/api/v1/calls?status=ringing"), R.api("GET", "/api/v1/calls?status=abandoned&limit=20")]);
      st.ringing = new Map(ringing.items.map((c) => [c.id, c]));
      st.abandoned = new Map(abandoned.items.map((c) => [c.id, c]));
      for (const c of ringing.items) if (!st.pops.has(c.id)) loadPop(c.id);
    } catch (e) { /* not staff: no phone desk */ }
    render();
  }
  function onEvent(m) {
    if (!m.type || !m.type.startsWith("call_") || !m.call) return false;
    const c = m.call;
    if (m.type === "call_ringing") { st.ringing.set(c.id, c); loadPop(c.id); }
    else if (c.status !== "queued") st.ringing.delete(c.id);
    if (m.type === "call_abandoned") st.abandoned.set(c.id, c);
    if (m.type === "call_called_back") st.abandoned.delete(c.id);
    render();
    return true;
  }
  function flash(text, bad) {
    const el = $("#pd-msg");
    el.textContent = text; el.className = bad ? "error" : "muted";
  }
  async function answer(id) {
    try {
      await R.api("POST", `/api/v1/calls/${id}/answer`);
      st.ringing.delete(id); render(); flash("");
    } catch (e) {
      if (e.status === 409 && e.body && e.body.field === "seat") flash(R.t("pd_no_seat"), true);
      else if (e.status === 409) { st.ringing.delete(id); render(); flash(R.t("pd_taken"), true); }
      else flash(e.message, true);
    }
  }
  async function callBack(id) {
    try { await R.api("POST", `/api/v1/calls/${id}/callback`); flash(""); }
    catch (e) { flash(e.status === 409 ? R.t("pd_no_seat") : e.message, true); }
  }
  async function saveSeat(e) {
    e.preventDefault();
    try {
      const s = await R.api("PUT", "/api/v1/seats/me", { phone: $("#pd-phone").value, available: $("#pd-avail").checked });
      $("#pd-phone").value = s.phone; flash(R.t("pd_seat_saved"));
    } catch (err) { flash(err.message, true); }
  }
  /* The incident's calls (detail pane), with a player for recordings and the three-way call. */
  async function callsHtml(d) {
    let items;
    try { items = (await R.api("GET", `/api/v1/incidents/${d.id}/calls`)).items; } catch (e) { return ""; }
    const play = st.me && !st.me.read_only;
    const accepted = (d.assignments || []).some((a) => ["accepted", "en_route", "on_scene"].includes(a.state));
    const running = items.some((c) => c.conference && !["completed", "busy", "no_answer", "failed"].includes(c.status));
    const buttons = play && accepted ? `<div class="actions-bar">${running
      ? `<button data-conf-end="${d.id}" class="danger">${R.t("pd_conf_end")}</button>`
      : `<button data-conf="${d.id}">${R.t("pd_conf")}</button>
         <button data-conf-unit="${d.id}">${R.t("pd_conf_unit")}</button>`}</div>` : "";
    if (!items.length && !buttons) return "";
    const rows = items.map((c) => `<tr data-call-row="${c.id}"><td>${R.hhmm(c.queued_at || c.answered_at || c.ended_at)}</td>
      <td>${c.leg ? R.t("pd_leg_" + c.leg) : (c.direction === "outbound" ? "↗" : "↙")} ${R.esc(c.from || c.to_masked || "—")}</td>
      <td class="pd-status">${R.t("pd_st_" + c.status)}</td>
      <td>${c.operator ? `${R.t("pd_answered_by")} ${R.esc(c.operator)}` : ""}</td>
      <td>${c.recording && play ? `<audio controls preload="none" src="/api/v1/calls/${c.id}/recording"></audio> ${c.recording_duration_s ?? ""}s` : ""}</td></tr>`).join("");
    return `<h3>${R.t("pd_calls")}</h3>${buttons}<table class="pd-calls"><tbody>${rows}</tbody></table>`;
  }
  async function conference(id, body, end) {
    try {
      await R.api("POST", `/api/v1/incidents/${id}/conference${end ? "/end" : ""}`, end ? undefined : body);
    } catch (e) { alert(e.status === 409 && e.body && e.body.field === "seat" ? R.t("pd_no_seat") : e.message); }
  }
  document.addEventListener("click", (e) => {
    const b = e.target.closest("#detail button[data-conf], #detail button[data-conf-unit], #detail button[data-conf-end]");
    if (!b) return;
    if (b.dataset.confEnd) conference(Number(b.dataset.confEnd), null, true);
    else conference(Number(b.dataset.conf || b.dataset.confUnit), { use_unit: !!b.dataset.confUnit }, false);
  });
  function init({ now, select, me }) {
    st.now = now; st.me = me;
    if (me && me.read_only) $("#pd-seat").hidden = true;
    else R.api("GET", "/api/v1/seats/me").then((s) => {
      if (s.phone) $("#pd-phone").value = s.phone;
      $("#pd-avail").checked = s.available || !s.phone;
    }).catch(() => {});
    $("#pd-seat").addEventListener("submit", saveSeat);
    $("#phone-desk").addEventListener("click", (e) => {
      const a = e.target.closest("button[data-answer]");
      if (a) return answer(Number(a.dataset.answer));
      const b = e.target.closest("button[data-callback]");
      if (b) return callBack(Number(b.dataset.callback));
      const i = e.target.closest("a[data-incident]");
      if (i) { e.preventDefault(); select(Number(i.dataset.incident)); }
    });
    load();
    setInterval(tick, 1000);
  }
  return { init, load, render, onEvent, callsHtml };
})();
