/* The operator console: live board, new-incident form, incident detail with actions. */
"use strict";

(() => {
  const R = Rescue;
  R.addText({  // issue 14: a partner's transfer we could not place on an elevator
    "zh-CN": { partner_unresolved: "转警未能定位电梯，请人工处理" },
    en: { partner_unresolved: "Transferred report not matched to an elevator: please resolve" },
  });
  const $ = (sel) => document.querySelector(sel);
  const state = { me: null, incidents: new Map(), teams: new Map(), selected: null, detail: null };
  const DONE_STATES = new Set(["released", "cleared", "callback_done"]);
  let stream;

  // ---------------------------------------------------------------- language, header
  function syncLangButton() { $("#btn-lang").textContent = R.getLang() === "en" ? "中文" : "English"; }
  $("#btn-lang").onclick = () => {
    R.setLang(R.getLang() === "en" ? "zh-CN" : "en"); syncLangButton(); renderBoard(); renderDetail(); TeamPanel.render(); TerminalAlerts.render(); PhoneDesk.render();
    ConsoleMap.renderLegend(); bannerText();
  };
  $("#btn-logout").onclick = async () => {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
    location.href = "/login";
  };
  function setConn(s) {
    const c = $("#conn"); c.className = "conn " + s; c.dataset.t = s; c.textContent = R.t(s);
  }

  // ---------------------------------------------------------------- board
  function remaining(row) { return Date.parse(row.sla_deadline) - stream.now(); }
  function clockOf(row) {
    if (row.arrived_at) return "done";
    return R.clockClass(remaining(row));
  }
  function urgency(a, b) {
    const da = DONE_STATES.has(a.state) ? 1 : 0, db = DONE_STATES.has(b.state) ? 1 : 0;
    if (da !== db) return da - db;
    const ra = a.arrived_at ? 1 : 0, rb = b.arrived_at ? 1 : 0;
    if (ra !== rb) return ra - rb;
    const pa = (a.injured || a.priority === "critical") ? 0 : 1;
    const pb = (b.injured || b.priority === "critical") ? 0 : 1;
    const ta = Date.parse(a.sla_deadline), tb = Date.parse(b.sla_deadline);
    if (Math.abs(ta - tb) > 5 * 60000 || pa === pb) return ta - tb || a.id - b.id;
    return pa - pb;
  }
  function clockCell(row) {
    if (row.arrived_at) return `<span class="cd done">${R.stateName("arrived")} ${R.hhmm(row.arrived_at)}</span>`;
    const ms = remaining(row);
    return `<span class="cd ${R.clockClass(ms)}" data-deadline="${row.sla_deadline}">${R.countdown(ms)}</span>`;
  }
  function etaCell(row) {
    const a = row.assignment;
    if (!a || !a.open || a.eta_s == null || row.arrived_at) return "—";
    const at = Date.parse(a.eta_at || a.offered_at) + a.eta_s * 1000;
    const late = at > Date.parse(row.sla_deadline);
    return `<span class="eta ${late ? "late" : ""}">${R.hhmm(new Date(at).toISOString())}</span>
      <small class="muted">(${R.minutes(Math.max(0, (at - stream.now()) / 1000))})</small>`;
  }
  function flags(row) {
    const f = [];
    if (!row.arrived_at && remaining(row) < 0) f.push(`<span class="flag overdue">${R.t("overdue")}</span>`);
    if (row.injured) f.push(`<span class="flag injured">${R.t("injured")}</span>`);
    if (row.vulnerable) f.push(`<span class="flag vulnerable">${R.t("vulnerable")}</span>`);
    if (row.elevator.three_no) f.push(`<span class="flag three_no">${R.t("three_no")}</span>`);
    if (row.at_risk || (row.assignment && row.assignment.at_risk && row.assignment.open))
      f.push(`<span class="flag at_risk">${R.t("at_risk")}</span>`);
    if (row.duplicate_reports) f.push(`<span class="flag dup">${R.t("dup")} ×${row.duplicate_reports}</span>`);
    if (row.response_level > 1) f.push(`<span class="flag level">${row.response_level}${R.t("level")}</span>`);
    return f.join("");
  }
  function teamCell(row) {
    const a = row.assignment;
    if (!a) return "—";
    return `${R.esc(a.team.name)}<br><small class="muted">${R.stateName(a.state)} · ${a.level}${R.t("level")}</small>`;
  }
  function rowHtml(row) {
    const zone = R.getLang() === "en" ? row.zone.name_en : row.zone.name;
    return `<tr data-id="${row.id}" class="${state.selected === row.id ? "selected" : ""} ${row._new ? "new" : ""}">
      <td>${clockCell(row)}</td>
      <td class="st">${R.stateName(row.state)}</td>
      <td class="place"><b>${R.esc(row.elevator.building)}</b><small>${R.esc(row.elevator.address)} · #${row.id} · ${R.esc(row.elevator.rescue_code)}</small></td>
      <td>${R.esc(zone)}</td>
      <td>${teamCell(row)}</td>
      <td>${etaCell(row)}</td>
      <td>${flags(row)}</td></tr>`;
  }
  function renderBoard() {
    if (!stream) return;
    const rows = [...state.incidents.values()].filter((r) => r.active).sort(urgency);
    $("#board tbody").innerHTML = rows.map(rowHtml).join("");
    $("#board-empty").hidden = rows.length > 0;
    $("#board-count").textContent = rows.length ? `(${rows.length})` : "";
    const ids = new Set();
    for (const r of rows) { ConsoleMap.setIncident(r, clockOf(r)); ids.add(r.id); }
    ConsoleMap.removeMissingIncidents(ids);
  }
  let boardQueued = false;
  function queueBoard() {
    if (boardQueued) return;
    boardQueued = true;
    requestAnimationFrame(() => { boardQueued = false; renderBoard(); });
  }
  $("#board tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (tr) select(Number(tr.dataset.id));
  });
  function tick() {
    $("#clock").textContent = stream ? R.hhmm(new Date(stream.now()).toISOString()) : "";
    document.querySelectorAll("#board [data-deadline]").forEach((el) => {
      const ms = Date.parse(el.dataset.deadline) - stream.now();
      el.textContent = R.countdown(ms);
      el.className = "cd " + R.clockClass(ms);
    });
    if (state.detail) {
      const cd = document.querySelector("#detail [data-deadline]");
      if (cd) {
        const ms = Date.parse(cd.dataset.deadline) - stream.now();
        cd.textContent = R.countdown(ms); cd.className = "cd " + R.clockClass(ms);
      }
    }
  }

  // ---------------------------------------------------------------- alarm
  let audio;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach((t0) => {
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; o.connect(g); g.connect(audio.destination);
        g.gain.setValueAtTime(0.25, audio.currentTime + t0);
        g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + t0 + 0.3);
        o.start(audio.currentTime + t0); o.stop(audio.currentTime + t0 + 0.3);
      });
    } catch (e) { /* no audio device */ }
  }
  // The calls this console is recording or has just recorded: the operator typed them, so no
  // banner and no beep for them (other consoles, IVR and IoT alarms still ring).
  const mine = { ids: new Set(), elevator: null };
  function bannerText() {
    const row = alarm.row;
    if (row) $("#alarm-banner").textContent = `${R.t("new_alarm")} #${row.id} ${row.elevator.building}`;
  }
  function alarm(row) {
    if (mine.ids.has(row.id) || (mine.elevator !== null && row.elevator.id === mine.elevator)) return;
    row._new = true;
    setTimeout(() => { row._new = false; }, 10000);
    const b = $("#alarm-banner");
    alarm.row = row; bannerText();
    b.hidden = false;
    clearTimeout(alarm.timer);
    alarm.timer = setTimeout(() => { b.hidden = true; }, 15000);
    beep();
  }

  // ---------------------------------------------------------------- stream handlers
  function onSnapshot(m) {
    state.me = m.me;
    $("#me").textContent = `${m.me.username} (${m.me.role})`;
    $("#btn-new").hidden = m.me.read_only;
    state.incidents = new Map(m.incidents.map((r) => [r.id, r]));
    state.teams = new Map(m.teams.map((t) => [t.id, t]));
    for (const t of m.teams) ConsoleMap.setTeam(t);
    TeamPanel.setAll(m.teams, m.me);
    renderBoard();
    if (state.selected) loadDetail(state.selected);
    PhoneDesk.load();  // issue 15: calls that rang while the socket was down
    document.body.dataset.ready = "1";
  }
  function onEvent(m) {
    if (PhoneDesk.onEvent(m)) return;  // issue 15: hotline calls ringing, answered, abandoned
    if (TerminalAlerts.onEvent(m)) {  // issue 19: a terminal went silent or came back
      if (state.detail && state.detail.elevator.id === m.elevator_id) loadDetailSoon(state.selected);
      return;
    }
    if (m.type === "partner_report_unresolved") {  // issue 14: never dropped, shown at once
      const d = m.data || {};
      const b = $("#alarm-banner");
      b.textContent = `${R.t("partner_unresolved")}: ${d.partner || ""} ${d.external_id || ""} ${d.address || d.detail || ""}`;
      b.hidden = false;
      clearTimeout(alarm.timer);
      alarm.timer = setTimeout(() => { b.hidden = true; }, 30000);
      beep();
      return;
    }
    if (m.type === "team_position") {
      const t = state.teams.get(m.team_id);
      if (t) {
        Object.assign(t, { lon: m.data.lon, lat: m.data.lat, position_source: "gps", position_at: m.at });
        ConsoleMap.setTeam(t);
        TeamPanel.update(t);
        const sel = state.incidents.get(state.selected);
        if (sel && sel.assignment && sel.assignment.open && sel.assignment.team_id === t.id) routeFor(sel);
      }
      return;
    }
    if (m.team) { state.teams.set(m.team.id, m.team); ConsoleMap.setTeam(m.team); TeamPanel.update(m.team); }
    if (m.incident) {
      const isNew = !state.incidents.has(m.incident.id);
      state.incidents.set(m.incident.id, m.incident);
      if (isNew && m.type === "received" && !m.replay) alarm(m.incident);
    }
    queueBoard();
    if (m.incident_id === state.selected) {
      loadDetailSoon(state.selected);
      const row = state.incidents.get(state.selected), a = row && row.assignment;
      const key = a ? `${a.id}:${a.open}:${row.arrived_at || ""}` : "";
      if (key !== routeFor.key) routeFor(row);  // e.g. arrived: the route line goes
    }
  }

  // ---------------------------------------------------------------- detail
  function select(id) {
    state.selected = id;
    document.querySelectorAll("#board tr.selected").forEach((tr) => tr.classList.remove("selected"));
    const tr = document.querySelector(`#board tr[data-id="${id}"]`);
    if (tr) tr.classList.add("selected");
    const row = state.incidents.get(id);
    ConsoleMap.focus(row);
    routeFor(row);
    loadDetail(id);
  }
  function routeFor(row) {
    const a = row && row.assignment;
    routeFor.key = a ? `${a.id}:${a.open}:${row.arrived_at || ""}` : "";
    const team = a && a.open && !row.arrived_at ? state.teams.get(a.team_id) : null;
    ConsoleMap.showRoute(team, team ? row : null);
  }
  let detailTimer;
  function loadDetailSoon(id) { clearTimeout(detailTimer); detailTimer = setTimeout(() => loadDetail(id), 150); }
  async function loadDetail(id) {
    try {
      const d = await R.api("GET", `/api/v1/incidents/${id}`);
      d._terminalFlag = await TerminalAlerts.flagFor(d.elevator.id);
      d._calls = await PhoneDesk.callsHtml(d);  // issue 15
      if (state.selected !== id) return;
      state.detail = d; renderDetail();
    } catch (e) { $("#detail").textContent = e.message; }
  }
  function rankingTable(a) {
    if (!a || !a.ranking || !a.ranking.length) return "";
    const en = R.getLang() === "en";
    const rows = a.ranking.map((r) => `<tr class="${r.chosen ? "chosen" : ""}">
      <td>${R.esc(r.team_name)}${r.chosen ? ` ✔` : ""}</td><td>${r.level}</td>
      <td>${R.minutes(r.travel_s)}</td><td>${R.minutes(r.eta_s)}</td>
      <td>${r.makes_deadline ? R.t("yes") : R.t("no")}</td>
      <td>${R.esc(en ? r.reason_en : r.reason)}</td></tr>`).join("");
    return `<h3>${R.t("ranking")}</h3><table><thead><tr><th>${R.t("candidate")}</th><th>${R.t("level")}</th>
      <th>${R.t("road_eta")}</th><th>${R.t("eta")}</th><th>${R.t("in_time")}</th><th>${R.t("reason")}</th></tr></thead>
      <tbody>${rows}</tbody></table>`;
  }
  function notificationsHtml(d) {
    if (!Array.isArray(d.notifications)) return "";
    const rows = d.notifications.map((n) => `<tr><td>${R.hhmm(n.created_at)}</td>
      <td>${R.esc(R.notificationName("channels", n.channel))}</td>
      <td>${R.esc(R.notificationName("recipients", n.recipient_kind))} ${R.esc(n.to_masked || "")}</td>
      <td>${R.esc(R.notificationName("templates", n.template))}</td>
      <td><span class="ns ${R.esc(n.status)}">${R.esc(R.label("notification_status", n.status) || R.t("n_" + n.status))}</span>${n.attempts > 1 ? ` ×${n.attempts}` : ""}
      ${n.error ? `<small class="muted">${R.esc(n.error)}</small>` : ""}</td></tr>`).join("");
    return `<h3>${R.t("notifications")}</h3><table><tbody>${rows || `<tr><td class="muted">—</td></tr>`}</tbody></table>`;
  }
  function actionButtons(d) {
    if (!state.me || state.me.read_only) return "";
    const next = new Set(d.allowed_next);
    const open = (d.assignments || []).some((a) => ["offered", "accepted", "en_route", "on_scene"].includes(a.state) && !a.parallel);
    const b = [];
    if (d.state === "received" && next.has("confirmed")) b.push(["confirm", "primary"]);
    if (!open && ["confirmed", "escalated", "received"].includes(d.state)) b.push(["dispatch", "primary"]);
    if (next.has("dispatched") || ["dispatched", "accepted", "en_route"].includes(d.state)) b.push(["override", ""]);
    if (next.has("escalated")) b.push(["escalate", "danger"]);
    if (next.has("callback_done")) b.push(["callback", ""]);
    if (next.has("closed")) b.push(["close", ""]);
    if (next.has("cancelled")) b.push(["cancel", ""]);
    if (next.has("false_alarm")) b.push(["false_alarm", ""]);
    return `<div class="actions-bar">${b.map(([k, cls]) =>
      `<button class="${cls}" data-action="${k}">${R.t("a_" + k)}</button>`).join("")}</div><div id="action-form"></div>`;
  }
  function renderDetail() {
    const d = state.detail;
    if (!d) return;
    const en = R.getLang() === "en";
    const current = (d.assignments || []).slice(-1)[0];
    const timeline = (d.timeline || []).slice().reverse().map((e) => `<tr data-type="${R.esc(e.type)}"><td>${R.hhmm(e.at)}</td>
      <td class="ev">${R.esc(R.eventName(e.type))}</td><td>${R.esc(R.eventText(e))}</td><td class="muted">${R.esc(e.actor)}</td></tr>`).join("");
    const assignments = (d.assignments || []).map((a) => `<tr><td>${R.esc(a.team.name)}</td>
      <td>${a.level}${R.t("level")}</td><td>${R.stateName(a.state)}</td><td>${R.hhmm(a.offered_at)}</td>
      <td>${R.esc(a.override_reason || a.decline_reason || "")}</td></tr>`).join("");
    const clock = d.arrived_at ? `<span class="cd done">${R.stateName("arrived")} ${R.hhmm(d.arrived_at)}</span>`
      : `<span class="cd" data-deadline="${d.sla_deadline}"></span>`;
    // an open form (reason, choose team) survives the re-render a live event causes
    const openForm = $("#action-form");
    const keepForm = openForm && openForm.childElementCount && openForm.dataset.incident === String(d.id) ? openForm : null;
    if (keepForm) keepForm.remove();
    $("#detail").innerHTML = `
      <h2>#${d.id} ${R.esc(d.elevator.building)} ${clock}</h2>
      <div class="meta">${R.esc(d.elevator.address)} · ${R.esc(en ? d.zone.name_en : d.zone.name)} ·
        ${R.t("limit")} ${d.sla_minutes} ${R.t("minutes")} · ${R.t("received_at")} ${R.hhmm(d.received_at)} ·
        ${R.stateName(d.state)} · ${R.esc(d.elevator.rescue_code)}</div>
      <div class="meta">${R.t("caller_phone")}: ${R.esc(d.caller_phone || "—")} · ${R.t("trapped")}: ${d.trapped_count ?? "—"}
        ${d.elevator.maintenance_company ? " · " + R.esc(d.elevator.maintenance_company.name) : ""}
        ${d.elevator.use_unit ? " · " + R.esc(d.elevator.use_unit.name) : ""}</div>
      <div>${flags({ ...d, elevator: d.elevator, assignment: null, duplicate_reports: d.duplicate_reports })}${d._terminalFlag || ""}</div>
      ${actionButtons(d)}
      ${assignments ? `<h3>${R.t("assignments")}</h3><table><tbody>${assignments}</tbody></table>` : ""}
      ${rankingTable(current)}
      ${notificationsHtml(d)}
      ${d._calls || ""}
      <h3>${R.t("timeline")}</h3><table><tbody>${timeline}</tbody></table>`;
    const slot = $("#action-form");
    if (keepForm && slot) slot.replaceWith(keepForm);
    const form = $("#action-form");
    if (form) form.dataset.incident = String(d.id);
    tick();
  }
  $("#detail").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-action]");
    if (btn) act(btn.dataset.action);
  });
  /* 指定队伍: the rule's candidates first (ETA, level, in time or not), then every free team with
   * its company and road ETA, searchable (GET /api/v1/incidents/{id}/teams?q=). */
  function teamRow(t, section) {
    const ok = t.makes_deadline ? `<span class="ok">${R.t("in_time_yes")}</span>` : `<span class="late">${R.t("in_time_no")}</span>`;
    return `<label class="ct-row ${t.rule_choice ? "rule" : ""}" data-section="${section}" data-team="${t.team_id}">
      <input type="radio" name="team" value="${t.team_id}" required>
      <b>${R.esc(t.team_name)}</b>${t.rule_choice ? ` <small class="flag">${R.t("ct_rule")}</small>` : ""}
      <small class="muted">${R.esc(t.company)} · ${R.esc(t.team_code)}</small>
      <span class="ct-meta">${t.level}${R.t("level")} · ${R.t("eta")} ${R.minutes(t.eta_s)} · ${ok}</span></label>`;
  }
  async function loadTeamChoices(box, q) {
    const my = (loadTeamChoices.seq = (loadTeamChoices.seq || 0) + 1);
    const picked = box.querySelector("input[name=team]:checked");
    try {
      const d = await R.api("GET", `/api/v1/incidents/${state.detail.id}/teams?q=${encodeURIComponent(q)}`);
      if (my !== loadTeamChoices.seq) return;
      const ranked = q ? "" : `<div class="ct-head">${R.t("ct_ranked")}</div>${d.ranked.map((t) => teamRow(t, "ranked")).join("")
        || `<div class="muted">—</div>`}`;
      const more = d.total > d.teams.length ? ` <small class="muted">(${d.teams.length}/${d.total})</small>` : "";
      box.innerHTML = `${ranked}<div class="ct-head">${R.t("ct_all")} (${d.total})${more}</div>
        ${d.teams.map((t) => teamRow(t, "all")).join("") || `<div class="muted">${R.t("ct_none")}</div>`}`;
      const again = picked && box.querySelector(`input[name=team][value="${picked.value}"]`);
      if (again) again.checked = true;
    } catch (err) { box.innerHTML = `<p class="error">${R.esc(err.message)}</p>`; }
  }
  function reasonForm(withTeam, onOk) {
    const box = $("#action-form");
    box.innerHTML = `<form class="inline-form">
      ${withTeam ? `<div class="ct"><input type="search" name="q" placeholder="${R.t("ct_search")}">
        <div class="ct-list"></div></div>` : ""}
      <input name="reason" required minlength="2" placeholder="${R.t("reason_prompt")}">
      <button class="primary" type="submit">${R.t("ok")}</button><span class="error"></span></form>`;
    const f = box.querySelector("form");
    if (withTeam) {
      const list = f.querySelector(".ct-list");
      let timer;
      f.q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => loadTeamChoices(list, f.q.value.trim()), 150); });
      f.q.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
      loadTeamChoices(list, "");
    }
    f.reason.focus();
    f.onsubmit = async (e) => {
      e.preventDefault();
      const picked = f.querySelector("input[name=team]:checked");
      if (withTeam && !picked) { f.querySelector(".error").textContent = R.t("team_prompt"); return; }
      try { await onOk(f.reason.value, withTeam ? Number(picked.value) : null); box.innerHTML = ""; }
      catch (err) { f.querySelector(".error").textContent = err.message; }
    };
  }
  async function act(kind) {
    const id = state.detail.id;
    const base = `/api/v1/incidents/${id}`;
    const run = async (fn) => {
      try { await fn(); await loadDetail(id); }
      catch (err) { $("#action-form").innerHTML = `<p class="error">${R.esc(err.message)}</p>`; }
    };
    switch (kind) {
      case "confirm": return run(() => R.api("POST", `${base}/confirm`));
      case "dispatch": return run(() => R.api("POST", `${base}/dispatch`));
      case "callback": return run(() => R.api("POST", `${base}/callback`));
      case "close": return run(() => R.api("POST", `${base}/close`));
      case "override": return reasonForm(true, (reason, team) => R.api("POST", `${base}/dispatch`, { team_id: team, reason }).then(() => loadDetail(id)));
      case "escalate": return reasonForm(false, (reason) => R.api("POST", `${base}/escalate`, { reason }).then(() => loadDetail(id)));
      case "cancel": return reasonForm(false, (reason) => R.api("POST", `${base}/cancel`, { reason, outcome: "cancelled" }).then(() => loadDetail(id)));
      case "false_alarm": return reasonForm(false, (reason) => R.api("POST", `${base}/cancel`, { reason, outcome: "false_alarm" }).then(() => loadDetail(id)));
      default: return undefined;
    }
  }

  // ---------------------------------------------------------------- new incident form
  const form = $("#new-form");
  const lookup = $("#f-lookup"), results = $("#f-results");
  let chosen = null, found = [], active = -1, lookupTimer, lookupSeq = 0;
  function openForm() {
    if (state.me && state.me.read_only) return;
    form.hidden = false; form.reset(); chosen = null; found = []; results.innerHTML = "";
    callKey = null;
    $("#f-chosen").textContent = ""; $("#f-terminal").innerHTML = ""; $("#f-error").textContent = ""; lookup.focus();
  }
  function closeForm() { form.hidden = true; }
  $("#btn-new").onclick = openForm;
  $("#f-close").onclick = closeForm;
  document.addEventListener("keydown", (e) => {
    if ((e.altKey && (e.key === "n" || e.key === "N")) || e.key === "F2") { e.preventDefault(); openForm(); }
    else if (e.key === "Escape" && !form.hidden) { closeForm(); }
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !form.hidden) { e.preventDefault(); submit(true); }
  });
  /* What tells two lifts of one building apart: lift number at the address, the end of the
   * registration code, floors. */
  function liftText(e) {
    const bits = [];
    if (e.lifts_at_address > 1) bits.push(R.t("lift_no").replace("{n}", e.lift_no).replace("{total}", e.lifts_at_address));
    bits.push(`${R.t("reg_code")} …${R.esc(e.register_code.slice(-6))}`);
    if (e.floors) bits.push(R.t("floors").replace("{n}", e.floors));
    return bits.join(" · ");
  }
  let near = [];
  function showResults() {
    const rows = found.map((e, i) => `<li role="option" data-i="${i}" class="${i === active ? "active" : ""}">
      <b>${R.esc(e.rescue_code)}</b> ${R.esc(e.building)} · ${R.esc(e.address)} <small>${R.esc(e.district)}</small>
      <small class="lift">${liftText(e)}</small></li>`).join("");
    let none = "";
    if (!found.length && lookup.value.trim()) {
      none = `<li class="muted no-match">${R.t("no_match")}${near.length ? " " + R.t("did_you_mean") : ""}</li>` +
        near.map((e, i) => `<li role="option" data-near="${i}" class="near">
          <b>${R.esc(e.rescue_code)}</b> ${R.esc(e.building)} · ${R.esc(e.address)} <small class="lift">${liftText(e)}</small></li>`).join("");
    }
    results.innerHTML = rows || none;
  }
  function choose(i) {
    const e = found[i]; if (!e) return;
    chosen = e; found = []; results.innerHTML = ""; callKey = null;
    lookup.value = `${e.rescue_code} ${e.building}`;
    $("#f-chosen").textContent = `✔ ${e.rescue_code} · ${e.address} · ${e.district} · ${liftText(e)}${e.three_no ? " · " + R.t("three_no") : ""}`;
    $("#f-terminal").innerHTML = "";
    TerminalAlerts.showFlag($("#f-terminal"), e.id, () => chosen === e);
    $("#f-phone").focus();
  }
  lookup.addEventListener("input", () => {
    chosen = null; near = []; $("#f-chosen").textContent = ""; $("#f-terminal").innerHTML = "";
    clearTimeout(lookupTimer);
    const q = lookup.value.trim();
    if (!q) { found = []; showResults(); return; }
    lookupTimer = setTimeout(async () => {
      const my = ++lookupSeq;
      try {
        const rows = await R.api("GET", `/api/v1/elevators/lookup?q=${encodeURIComponent(q)}`);
        if (my !== lookupSeq) return;
        // an unknown code: offer the codes one typo away (the API's near matches), clickable
        near = !rows.length && /^\d{5,7}$/.test(q)
          ? await R.api("GET", `/api/v1/elevators/near-codes?q=${encodeURIComponent(q)}`) : [];
        if (my !== lookupSeq) return;
        found = rows; active = rows.length ? 0 : -1; showResults();
      } catch (e) { $("#f-error").textContent = e.message; }
    }, 150);
  });
  lookup.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); active = Math.min(found.length - 1, active + 1); showResults(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); active = Math.max(0, active - 1); showResults(); }
    else if (e.key === "Enter" && !e.ctrlKey && found.length) { e.preventDefault(); choose(Math.max(0, active)); }
  });
  results.addEventListener("mousedown", (e) => {
    const li = e.target.closest("li[data-i]"); if (li) { e.preventDefault(); choose(Number(li.dataset.i)); }
    const alt = e.target.closest("li[data-near]");
    if (alt) { e.preventDefault(); found = near; near = []; choose(Number(alt.dataset.near)); }
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(true); });
  $("#f-record").onclick = () => submit(false);
  // One key per call being recorded: a double click, or a retry after a timeout, is the same
  // report to the server (it answers the first result again), never a second one.
  let inFlight = false, callKey = null;
  const submitButtons = () => [...form.querySelectorAll("button")];
  async function submit(dispatchToo) {
    if (inFlight) return;
    $("#f-error").textContent = "";
    if (!chosen) { $("#f-error").textContent = R.t("pick_elevator"); lookup.focus(); return; }
    callKey = callKey || `console-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    inFlight = true; submitButtons().forEach((b) => { b.disabled = true; });
    mine.elevator = chosen.id;
    const body = {
      elevator_id: chosen.id, channel: $("#f-channel").value,
      caller_phone: $("#f-phone").value.trim() || null,
      trapped_count: $("#f-trapped").value === "" ? null : Number($("#f-trapped").value),
      injured: $("#f-injured").checked, vulnerable: $("#f-vulnerable").checked,
      notes: $("#f-notes").value.trim() || null,
    };
    try {
      const inc = await R.api("POST", "/api/v1/incidents", body,
                              { headers: { "Idempotency-Key": callKey } });
      mine.ids.add(inc.id);
      let id = inc.id;
      if (inc.duplicate) { id = inc.merged_into; }
      else if (dispatchToo) {
        const d = await R.api("POST", `/api/v1/incidents/${id}/confirm`);
        if (d.state === "confirmed") await R.api("POST", `/api/v1/incidents/${id}/dispatch`);
      }
      callKey = null;
      closeForm();
      select(id);
    } catch (err) {
      $("#f-error").textContent = err.message;  // in the page language, naming the field once
    } finally {
      inFlight = false; submitButtons().forEach((b) => { b.disabled = false; });
      mine.elevator = null;
    }
  }

  // ---------------------------------------------------------------- start
  R.setLang(R.getLang()); syncLangButton();
  (async () => {
    let me;
    try { me = await R.api("GET", "/api/v1/auth/me"); } catch (e) { return; }
    if (me.role === "crew") { location.href = "/crew"; return; }
    await R.labelsReady;
    await ConsoleMap.init(select);
    TeamPanel.init({ now: () => (stream ? stream.now() : Date.now()), select });
    TerminalAlerts.init();
    PhoneDesk.init({ now: () => (stream ? stream.now() : Date.now()), select,  // issue 15
                     me: { read_only: !["operator", "supervisor"].includes(me.role) } });
    stream = new R.Stream({ snapshot: onSnapshot, event: onEvent, status: setConn });
    stream.start();
    setInterval(tick, 1000);
    setInterval(queueBoard, 30000);  // ETA minutes and urgency order drift with time
  })();
})();
