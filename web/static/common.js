/* Shared by the console and the crew page: language, API calls, the live stream, clocks.
 * Plain JS, no build step. Everything the pages show comes from the API with the user's cookie. */
"use strict";

const Rescue = (() => {
  const LANG_KEY = "rescue_lang";
  let lang = localStorage.getItem(LANG_KEY) || "zh-CN";

  const TEXT = {
    "zh-CN": {
      title_console: "电梯困人应急救援调度台", title_crew: "救援队",
      login: "登录", username: "用户名", password: "密码", logout: "退出",
      login_failed: "用户名或密码错误", link_failed: "链接已失效，请用账号登录",
      live: "实时", reconnecting: "重连中…", offline: "离线",
      board: "警情看板", new_incident: "新建警情", none_active: "暂无进行中的警情",
      col_clock: "到场倒计时", col_state: "状态", col_place: "地点", col_zone: "区域",
      col_team: "救援队", col_eta: "预计到达", col_flags: "标记",
      overdue: "超时", injured: "有伤", vulnerable: "老幼孕病", three_no: "三无",
      at_risk: "可能超时", dup: "重复来电", level: "级",
      elevator: "电梯（救援码 / 注册码 / 地址）", channel: "来源", caller_phone: "来电号码",
      trapped: "被困人数", notes: "备注", record: "登记", record_dispatch: "登记并派单",
      cancel_form: "关闭", no_match: "没有匹配的电梯", pick_elevator: "请先选择电梯",
      did_you_mean: "是不是：", lift_no: "{n}号梯（共{total}部）", reg_code: "注册码", floors: "{n}层",
      ch_call: "96333 电话", ch_ivr: "语音导航", ch_alarm: "物联网报警", ch_app: "扫码/小程序",
      ch_transfer: "110/12345 转接",
      detail: "警情详情", timeline: "时间线", ranking: "派单依据（为什么是这支队伍）",
      notifications: "通知", assignments: "派单记录", select_incident: "在看板中选择一条警情",
      candidate: "候选队伍", road_eta: "路程", eta: "预计到达", in_time: "能否按时",
      reason: "理由", yes: "是", no: "否", chosen: "选中",
      a_confirm: "核实", a_dispatch: "派单", a_override: "指定队伍", a_escalate: "升级119",
      a_cancel: "取消", a_false_alarm: "误报", a_callback: "回访完成", a_close: "结案",
      reason_prompt: "请输入原因", team_prompt: "请选择队伍", ok: "确定",
      ct_ranked: "派单规则候选", ct_all: "全部空闲队伍", ct_rule: "规则首选", ct_none: "没有匹配的空闲队伍",
      ct_search: "搜索队伍、单位、编号", in_time_yes: "能按时", in_time_no: "可能超时",
      limit: "时限", minutes: "分钟", received_at: "接警", deadline: "到场时限",
      map_teams: "救援队", map_incidents: "警情", new_alarm: "新警情！",
      lg_ok: "时间充裕", lg_warn: "10 分钟内到时限", lg_overdue: "已超时", lg_done: "已到场",
      lg_route: "派出队伍的路线",
      n_queued: "排队中", n_sending: "发送中", n_sent: "已发送", n_delivered: "已送达",
      n_undelivered: "未送达", n_failed: "失败", n_completed: "已接通", n_busy: "占线",
      "n_no-answer": "无人接听", n_cancelled: "已取消",
      // crew
      no_job: "当前没有任务", offer: "新任务", accept: "接单", decline: "拒绝",
      accept_within: "请在此时间内接单", navigate: "导航", depart: "出发", arrive: "已到达",
      release: "已解困", clear: "故障已排除", released_count: "解困人数",
      cause: "故障原因", out_of_service: "电梯停用", last_synced: "最后同步",
      queued_taps: "条操作待发送", gps_on: "正在共享位置", gps_off: "未共享位置",
      decline_reason: "拒绝原因", call_centre: "联系调度", trapped_n: "被困",
      c_external_power: "外部停电", c_external_other: "其他外部原因", c_human: "人为原因",
      c_door_system: "门系统", c_control_system: "控制系统", c_traction_drive: "曳引/驱动",
      c_other: "其他",
    },
    en: {
      title_console: "Elevator rescue dispatch", title_crew: "Rescue crew",
      login: "Sign in", username: "User name", password: "Password", logout: "Sign out",
      login_failed: "Wrong user name or password", link_failed: "The link has expired; sign in",
      live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
      board: "Board", new_incident: "New incident", none_active: "No active incidents",
      col_clock: "Arrival clock", col_state: "State", col_place: "Place", col_zone: "Zone",
      col_team: "Team", col_eta: "ETA", col_flags: "Flags",
      overdue: "overdue", injured: "injured", vulnerable: "vulnerable", three_no: "3-no",
      at_risk: "at risk", dup: "dup. calls", level: "L",
      elevator: "Elevator (rescue code / reg. code / address)", channel: "Channel",
      caller_phone: "Caller phone", trapped: "Trapped", notes: "Notes", record: "Record",
      record_dispatch: "Record & dispatch", cancel_form: "Close", no_match: "No elevator found",
      pick_elevator: "Pick an elevator first", did_you_mean: "Did you mean:",
      lift_no: "lift {n} of {total}", reg_code: "reg.", floors: "{n} floors",
      ch_call: "96333 call", ch_ivr: "IVR", ch_alarm: "IoT alarm", ch_app: "QR / app",
      ch_transfer: "110/12345 transfer",
      detail: "Incident", timeline: "Timeline", ranking: "Why this team", notifications:
      "Notifications", assignments: "Assignments", select_incident: "Select an incident",
      candidate: "Candidate", road_eta: "Road", eta: "ETA", in_time: "In time",
      reason: "Reason", yes: "yes", no: "no", chosen: "chosen",
      a_confirm: "Confirm", a_dispatch: "Dispatch", a_override: "Choose team",
      a_escalate: "Escalate 119", a_cancel: "Cancel", a_false_alarm: "False alarm",
      a_callback: "Callback done", a_close: "Close",
      reason_prompt: "Reason", team_prompt: "Pick a team", ok: "OK",
      ct_ranked: "The rule's candidates", ct_all: "All free teams", ct_rule: "rule's choice",
      ct_none: "No free team matches", ct_search: "Search team, company, code",
      in_time_yes: "in time", in_time_no: "late",
      limit: "Limit", minutes: "min", received_at: "Received", deadline: "Arrive by",
      map_teams: "Teams", map_incidents: "Incidents", new_alarm: "New alarm!",
      lg_ok: "time in hand", lg_warn: "deadline within 10 min", lg_overdue: "overdue",
      lg_done: "team on scene", lg_route: "route of the team sent",
      n_queued: "queued", n_sending: "sending", n_sent: "sent", n_delivered: "delivered",
      n_undelivered: "undelivered", n_failed: "failed", n_completed: "answered", n_busy: "busy",
      "n_no-answer": "no answer", n_cancelled: "cancelled",
      no_job: "No job right now", offer: "New job", accept: "Accept", decline: "Decline",
      accept_within: "Accept within", navigate: "Navigate", depart: "Departed",
      arrive: "Arrived", release: "Released", clear: "Fault cleared",
      released_count: "People released", cause: "Cause", out_of_service: "Out of service",
      last_synced: "Last synced", queued_taps: "taps waiting", gps_on: "Sharing location",
      gps_off: "Location off", decline_reason: "Reason for declining",
      call_centre: "Call dispatch", trapped_n: "trapped",
      c_external_power: "Power cut", c_external_other: "Other external", c_human: "Human",
      c_door_system: "Door system", c_control_system: "Control system",
      c_traction_drive: "Traction / drive", c_other: "Other",
    },
  };
  const STATES = {
    "zh-CN": {
      received: "已接警", confirmed: "已核实", dispatched: "已派单", accepted: "已接单",
      en_route: "在途", arrived: "已到场", released: "已解困", cleared: "已排障",
      callback_done: "已回访", closed: "已结案", cancelled: "已取消", false_alarm: "误报",
      escalated: "已升级", merged: "已合并", offered: "待接单", on_scene: "到场",
      declined: "已拒绝", timed_out: "超时未接", assignment_cancelled: "已撤回",
      available: "空闲", busy: "忙碌", off_duty: "下班",
    },
    en: {
      en_route: "en route", on_scene: "on scene", timed_out: "timed out",
      callback_done: "callback done", false_alarm: "false alarm",
      assignment_cancelled: "withdrawn", off_duty: "off duty",
    },
  };
  const EVENTS = {
    "zh-CN": {
      received: "接警", confirmed: "核实", offered: "派单", accepted: "接单", declined: "拒绝",
      offer_timed_out: "接单超时", departed: "出发", arrived: "到场", released: "解困",
      cleared: "排障", callback_done: "回访", closed: "结案", cancelled: "取消",
      false_alarm: "误报", escalated: "升级", merged: "合并", duplicate_report: "重复来电",
      eta_updated: "到达时间更新", assignment_cancelled: "撤回队伍",
      no_team_available: "无可用队伍", level_escalated: "升级响应级别",
      level3_alerted: "通知消防", sla_warning: "即将超时", trapped_reminder: "安抚提醒",
      callback_due: "待回访", level1_informed: "通知维保单位",
      call_linked: "关联来电", call_ended: "通话结束", call_recorded: "通话录音",
      conference_leg: "三方通话",
    },
    en: {},
  };

  /* The shared label table (web/static/labels.json): event types, problem codes, notification
   * names, states, validation messages, each in zh-CN and English (tests/web/test_labels.py). */
  let LABELS = {};
  const labelsReady = fetch("/static/labels.json", { credentials: "same-origin" })
    .then((r) => r.json()).then((j) => { LABELS = j; }).catch(() => {});
  function label(section, key) {
    const e = (LABELS[section] || {})[key];
    return e ? (e[lang] || e.en) : null;
  }
  const SEP = /(，|；|, |; )/;
  /* A timeline row as a sentence ("派单给 并州一组（1级），预计 12 分钟到达，须在 13:23:12 前接单"),
   * times on the centre's clock; a clause whose value is missing is left out. */
  function eventText(e) {
    const p = e.payload || {};
    const v = {
      team_name: p.team_name, level: p.level, reason: p.reason, released_count: p.released_count,
      eta: p.eta_s != null ? minutes(p.eta_s) : null, accept_by: p.accept_by ? hhmm(p.accept_by) : null,
      cause: p.cause_code ? t("c_" + p.cause_code) : null, merged_into: p.merged_into,
      report_id: p.report_id, minutes_left: p.seconds_left != null ? minutes(p.seconds_left) : null,
      minutes_trapped: p.minutes_trapped, deadline: p.deadline ? hhmm(p.deadline) : null,
      from: typeof p.from === "string" ? stateName(p.from) : p.from,
      to: typeof p.to === "string" ? stateName(p.to) : p.to,
      waiting: p.waiting, free_teams: p.free_teams, channel: p.channel ? t("ch_" + p.channel) : null,
      trapped_count: p.trapped_count, zone: p.zone,
    };
    const tpl = label("event_text", e.type);
    let text;
    if (tpl) {
      const parts = tpl.split(SEP);
      const out = [];
      for (let i = 0; i < parts.length; i += 2) {
        const seg = parts[i];
        const keys = [...seg.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        if (keys.some((k) => v[k] == null || v[k] === "")) continue;
        if (out.length) out.push(parts[i - 1]);
        out.push(seg.replace(/\{(\w+)\}/g, (_, k) => String(v[k])));
      }
      text = out.join("").replace(/[：:]\s*$/, "");
    }
    if (!text) text = eventName(e.type) + (p.reason ? (lang === "en" ? ": " : "：") + p.reason : "");
    if (p.override_reason) text += lang === "en" ? ` (chosen: ${p.override_reason})` : `（指定理由：${p.override_reason}）`;
    if (p.on_behalf_of_team) text += lang === "en" ? " (entered for the team)" : "（代队伍登记）";
    if (p.automatic) text += lang === "en" ? " (automatic)" : "（自动）";
    return text;
  }
  function validationText(e) {
    const en = lang === "en";
    const field = label("fields", e.field) || e.field;
    let m = label("validation", e.type);
    if (e.type === "value_error" || !m) {
      const key = Object.keys(LABELS.value_errors || {}).find((k) => (e.message || "").startsWith(k));
      m = key ? label("value_errors", key) : (m || e.message);
    }
    m = String(m || "").replace(/\{(\w+)\}/g, (_, k) => (e.ctx && e.ctx[k] != null ? e.ctx[k] : ""));
    return field && field !== "body" ? `${field}${en ? ": " : "："}${m}` : m;
  }
  /* What a failed API call says to the user, in the page language. */
  function problemText(status, body) {
    if (!body) return `HTTP ${status}`;
    if (Array.isArray(body.errors) && body.errors.length && body.errors[0].message)
      return body.errors.map(validationText).join(lang === "en" ? "; " : "；");
    return label("problems", body.code) || body.detail || body.title || `HTTP ${status}`;
  }
  function notificationName(section, key) { return label(section, key) || key || ""; }

  /* A page or panel brings its own strings: addText({ "zh-CN": {...}, en: {...} }). */
  function addText(tables) {
    for (const [l, kv] of Object.entries(tables)) TEXT[l] = Object.assign(TEXT[l] || {}, kv);
  }
  function t(key) { return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key; }
  function stateName(s) {
    return label("states", s) || (STATES[lang] && STATES[lang][s]) || (STATES.en[s]) || (s || "").replace(/_/g, " ");
  }
  function eventName(s) {
    return label("events", s) || (EVENTS[lang] && EVENTS[lang][s]) || (s || "").replace(/_/g, " ");
  }
  function setLang(l) {
    lang = l; localStorage.setItem(LANG_KEY, l);
    document.documentElement.lang = l;
    applyText(document);
  }
  function getLang() { return lang; }
  /* Elements with data-t="key" get their text; data-tp="key" their placeholder. */
  function applyText(root) {
    root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    root.querySelectorAll("[data-tp]").forEach((el) => { el.placeholder = t(el.dataset.tp); });
    root.querySelectorAll("[data-tt]").forEach((el) => { el.title = t(el.dataset.tt); });
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(problemText(status, body));
      this.status = status; this.body = body;
    }
  }

  async function api(method, url, body, opts = {}) {
    const init = { method, credentials: "same-origin",
                   headers: { Accept: "application/json", ...(opts.headers || {}) } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(url, init);
    if (r.status === 401 && !opts.noRedirect) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, null);
    }
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  /* The live stream: snapshot, then events; reconnects with ?since= and backs off. */
  class Stream {
    constructor(handlers) {
      this.h = handlers; this.lastSeq = null; this.offsetMs = 0; this.delay = 500;
      this.ws = null; this.closed = false;
    }
    start() {
      this.closed = false;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      let url = `${proto}//${location.host}/api/v1/stream`;
      if (this.lastSeq !== null) url += `?since=${this.lastSeq}`;
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onmessage = (e) => this._message(JSON.parse(e.data));
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        this.h.status && this.h.status("reconnecting");
        if (e.code === 1008) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        if (!this.closed) setTimeout(() => this.start(), this.delay);
        this.delay = Math.min(this.delay * 2, 8000);
      };
      clearInterval(this._ping);
      this._ping = setInterval(() => { if (ws.readyState === 1) ws.send("ping"); }, 25000);
    }
    stop() { this.closed = true; if (this.ws) this.ws.close(); }
    _message(m) {
      if (m.type === "snapshot") {
        this.offsetMs = Date.parse(m.now) - Date.now();
        this.lastSeq = Math.max(this.lastSeq || 0, m.last_seq);
        this.delay = 500;
        this.h.status && this.h.status("live");
        this.h.snapshot(m);
        return;
      }
      if (m.type === "ready" || m.type === "pong") return;
      if (m.type === "error") { console.warn("stream:", m.detail); return; }
      if (m.seq != null) this.lastSeq = Math.max(this.lastSeq || 0, m.seq);
      this.h.event(m);
    }
    now() { return Date.now() + this.offsetMs; }
  }

  function pad(n) { return String(n).padStart(2, "0"); }
  /* "mm:ss" (or "h:mm:ss"), with a leading minus when overdue. */
  function countdown(ms) {
    const neg = ms < 0; let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (neg ? "-" : "") + (h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`);
  }
  function clockClass(ms) {
    if (ms < 0) return "overdue";
    if (ms <= 10 * 60 * 1000) return "warn";
    return "ok";
  }
  /* Times on the centre's clock (its zone comes from /api/v1/geo/config), not the PC's. */
  let clockFmt = null;
  function setTimeZone(zone) {
    try {
      clockFmt = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit",
                                                    second: "2-digit", hourCycle: "h23" });
    } catch (e) { clockFmt = null; }
  }
  function hhmm(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (clockFmt) return clockFmt.format(d);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function el(html) {
    const tpl = document.createElement("template"); tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }
  function minutes(s) { return s == null ? "—" : `${Math.round(s / 60)} ${t("minutes")}`; }

  /* WGS-84 → GCJ-02 (only to overlay our data on a Chinese tile provider's map). */
  function wgs84ToGcj02(lon, lat) {
    if (lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lon, lat];
    const a = 6378245.0, ee = 0.00669342162296594323, x = lon - 105, y = lat - 35;
    let dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dLat += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    dLat += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
    dLat += (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
    let dLon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dLon += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    dLon += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
    dLon += (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
    const radLat = lat / 180 * Math.PI; let magic = Math.sin(radLat);
    magic = 1 - ee * magic * magic; const sq = Math.sqrt(magic);
    dLat = (dLat * 180) / ((a * (1 - ee)) / (magic * sq) * Math.PI);
    dLon = (dLon * 180) / (a / sq * Math.cos(radLat) * Math.PI);
    return [lon + dLon, lat + dLat];
  }

  return { t, addText, stateName, eventName, eventText, problemText, notificationName, label,
           labelsReady, setTimeZone, setLang, getLang, applyText, api, ApiError, Stream,
           countdown, clockClass, hhmm, esc, el, minutes, wgs84ToGcj02 };
})();

/* issue 16 item 7 (crew page helper): the crew phone's geolocation report, shown with the
 * team's GPS age — `gps_status` on a team row, live as the `team_gps` stream message. */
Rescue.addText({
  "zh-CN": { gps_status_denied: "定位权限被拒绝", gps_status_unavailable: "无法定位",
             team_gps: "定位状态" },
  en: { gps_status_denied: "location denied", gps_status_unavailable: "no position",
        team_gps: "location status" },
});
