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
    R.setLang(R.getLang() === "en" ? "zh-CN" : "en"); syncLangButton(); renderBoard(); renderDetail(); TeamPanel.render(); TerminalAlerts.render();
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
  function alarm(row) {
    row._new = true;
    setTimeout(() => { row._new = false; }, 10000);
    const b = $("#alarm-banner");
    b.textContent = `${R.t("new_alarm")} #${row.id} ${row.elevator.building}`;
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
    document.body.dataset.ready = "1";
  }
  function onEvent(m) {
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
    if (m.incident_id === state.selected) loadDetailSoon(state.selected);
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
    const team = a && a.open && !row.arrived_at ? state.teams.get(a.team_id) : null;
    ConsoleMap.showRoute(team, team ? row : null);
  }
  let detailTimer;
  function loadDetailSoon(id) { clearTimeout(detailTimer); detailTimer = setTimeout(() => loadDetail(id), 150); }
  async function loadDetail(id) {
    try {
      const d = await R.api("GET", `/api/v1/incidents/${id}`);
      d._terminalFlag = await TerminalAlerts.flagFor(d.elevator.id);
      if (state.selected !== id) return;
      state.detail = d; renderDetail();
    } catch (e) { $("#detail").textContent = e.message; }
  }
  function payloadText(p) {
    const keep = Object.entries(p || {}).filter(([k, v]) => k !== "via" && v !== null && v !== "" &&
      typeof v !== "object");
    return keep.map(([k, v]) => `${k}: ${v}`).join(" · ");
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
      <td>${R.esc(n.channel || "")}</td><td>${R.esc(n.recipient_kind || "")} ${R.esc(n.to_masked || "")}</td>
      <td>${R.esc(n.template || "")}</td>
      <td><span class="ns ${R.esc(n.status)}">${R.esc(R.t("n_" + n.status))}</span>${n.attempts > 1 ? ` ×${n.attempts}` : ""}
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
    const timeline = (d.timeline || []).slice().reverse().map((e) => `<tr><td>${R.hhmm(e.at)}</td>
      <td>${R.esc(R.eventName(e.type))}</td><td>${R.esc(e.actor)}</td><td>${R.esc(payloadText(e.payload))}</td></tr>`).join("");
    const assignments = (d.assignments || []).map((a) => `<tr><td>${R.esc(a.team.name)}</td>
      <td>${a.level}${R.t("level")}</td><td>${R.stateName(a.state)}</td><td>${R.hhmm(a.offered_at)}</td>
      <td>${R.esc(a.override_reason || a.decline_reason || "")}</td></tr>`).join("");
    const clock = d.arrived_at ? `<span class="cd done">${R.stateName("arrived")} ${R.hhmm(d.arrived_at)}</span>`
      : `<span class="cd" data-deadline="${d.sla_deadline}"></span>`;
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
      <h3>${R.t("timeline")}</h3><table><tbody>${timeline}</tbody></table>`;
    tick();
  }
  $("#detail").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-action]");
    if (btn) act(btn.dataset.action);
  });
  function reasonForm(withTeam, onOk) {
    const box = $("#action-form");
    const teams = [...state.teams.values()].filter((t) => t.status === "available" && t.on_duty);
    box.innerHTML = `<form class="inline-form">
      ${withTeam ? `<select name="team" required>${teams.map((t) => `<option value="${t.id}">${R.esc(t.name)}</option>`).join("")}</select>` : ""}
      <input name="reason" required minlength="2" placeholder="${R.t("reason_prompt")}">
      <button class="primary" type="submit">${R.t("ok")}</button><span class="error"></span></form>`;
    const f = box.querySelector("form");
    f.reason.focus();
    f.onsubmit = async (e) => {
      e.preventDefault();
      try { await onOk(f.reason.value, withTeam ? Number(f.team.value) : null); box.innerHTML = ""; }
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
  function showResults() {
    results.innerHTML = found.length ? found.map((e, i) => `<li role="option" data-i="${i}" class="${i === active ? "active" : ""}">
      <b>${R.esc(e.rescue_code)}</b> ${R.esc(e.building)} · ${R.esc(e.address)} <small>${R.esc(e.district)}</small></li>`).join("")
      : (lookup.value.trim() ? `<li class="muted">${R.t("no_match")}</li>` : "");
  }
  function choose(i) {
    const e = found[i]; if (!e) return;
    chosen = e; found = []; results.innerHTML = ""; callKey = null;
    lookup.value = `${e.rescue_code} ${e.building}`;
    $("#f-chosen").textContent = `✔ ${e.rescue_code} · ${e.address} · ${e.district}${e.three_no ? " · " + R.t("three_no") : ""}`;
    $("#f-terminal").innerHTML = "";
    TerminalAlerts.showFlag($("#f-terminal"), e.id, () => chosen === e);
    $("#f-phone").focus();
  }
  lookup.addEventListener("input", () => {
    chosen = null; $("#f-chosen").textContent = ""; $("#f-terminal").innerHTML = "";
    clearTimeout(lookupTimer);
    const q = lookup.value.trim();
    if (!q) { found = []; showResults(); return; }
    lookupTimer = setTimeout(async () => {
      const my = ++lookupSeq;
      try {
        const rows = await R.api("GET", `/api/v1/elevators/lookup?q=${encodeURIComponent(q)}`);
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
      const field = err.body && err.body.field ? ` (${err.body.field})` : "";
      $("#f-error").textContent = err.message + field;
    } finally {
      inFlight = false; submitButtons().forEach((b) => { b.disabled = false; });
    }
  }

  // ---------------------------------------------------------------- start
  R.setLang(R.getLang()); syncLangButton();
  (async () => {
    let me;
    try { me = await R.api("GET", "/api/v1/auth/me"); } catch (e) { return; }
    if (me.role === "crew") { location.href = "/crew"; return; }
    await ConsoleMap.init(select);
    TeamPanel.init({ now: () => (stream ? stream.now() : Date.now()), select });
    TerminalAlerts.init();
    stream = new R.Stream({ snapshot: onSnapshot, event: onEvent, status: setConn });
    stream.start();
    setInterval(tick, 1000);
    setInterval(queueBoard, 30000);  // ETA minutes and urgency order drift with time
  })();
})();
