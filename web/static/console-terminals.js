/* The console's terminal alerts (issue 19): a silent alarm terminal means an entrapment in that
 * lift may raise no alarm, so the operator sees it (1) in a list of open terminal alerts
 * (offline, mains lost), kept live by the stream's terminal_* events, and (2) as a flag on the
 * elevator chosen for a call and on an incident's detail ("终端离线"). Not incidents. */
"use strict";

const TerminalAlerts = (() => {
  const R = Rescue;
  const $ = (s) => document.querySelector(s);
  R.addText({
    "zh-CN": {
      ta_title: "终端告警", ta_none: "没有终端告警", ta_offline: "终端离线", ta_mains_lost: "市电中断",
      ta_since: "自", ta_last_seen: "最后上报", ta_never: "从未上报",
      ta_flag_hint: "该电梯的报警终端离线：困人时可能不会自动报警",
    },
    en: {
      ta_title: "Terminal alerts", ta_none: "No terminal alerts", ta_offline: "terminal offline",
      ta_mains_lost: "mains lost", ta_since: "since", ta_last_seen: "last heard", ta_never: "never heard",
      ta_flag_hint: "This lift's alarm terminal is offline: an entrapment may raise no alarm",
    },
  });
  const st = { alerts: [], select: null };
  let reloadTimer;

  function render() {
    const box = $("#ta-list");
    if (!box) return;
    $("#ta-count").textContent = st.alerts.length ? `(${st.alerts.length})` : "";
    box.innerHTML = st.alerts.length ? st.alerts.map((a) => `<li data-elevator="${a.elevator_id}" data-kind="${R.esc(a.kind)}">
      <span class="flag ${a.kind === "offline" ? "terminal_offline" : "mains_lost"}">${R.t("ta_" + a.kind)}</span>
      <b>${R.esc(a.rescue_code)}</b> ${R.esc(a.address)} <small class="muted">${R.esc(a.zone || "")} ·
      ${R.esc(a.device_id)} · ${R.t("ta_since")} ${R.hhmm(a.raised_at)} ·
      ${a.last_seen_at ? `${R.t("ta_last_seen")} ${R.hhmm(a.last_seen_at)}` : R.t("ta_never")}</small></li>`).join("")
      : `<li class="muted">${R.t("ta_none")}</li>`;
  }
  async function load() {
    try { st.alerts = await R.api("GET", "/api/v1/telemetry/offline"); }
    catch (e) { st.alerts = []; }
    render();
  }
  function onEvent(m) {
    if (!m.type || !m.type.startsWith("terminal_")) return false;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 200);  // a power cut brings many at once: one reload
    return true;
  }
  /* The flag for an elevator: "" when its terminals are fine (or it has none). */
  async function flagFor(elevatorId) {
    try {
      const l = await R.api("GET", `/api/v1/telemetry/liveness?elevator_id=${elevatorId}`);
      return l.terminal_offline
        ? `<span class="flag terminal_offline" title="${R.esc(R.t("ta_flag_hint"))}">${R.t("ta_offline")}</span>` : "";
    } catch (e) { return ""; }
  }
  /* Show the flag for ``elevatorId`` in ``el`` unless ``stillWanted()`` says the moment passed. */
  async function showFlag(el, elevatorId, stillWanted) {
    const html = await flagFor(elevatorId);
    if (el && stillWanted()) el.innerHTML = html ? `${html} <small class="muted">${R.t("ta_flag_hint")}</small>` : "";
  }
  function init() { load(); }
  return { init, load, render, onEvent, flagFor, showFlag };
})();
