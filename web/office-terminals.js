/* Office review: terminals (issue 19). Terminals offline longest and the online rate per zone
   and per maintenance company, for the page's area filter. Self-contained: it starts when
   office.js shows the page and reloads with the page's filters; the figures come from
   /api/v1/reports/terminals/* (the office's own region only). */
"use strict";

(() => {
  const L = {
    "zh-CN": {
      h: "物联网终端", offline: "离线最久的终端", rates_zone: "各区在线率", rates_company: "各维保单位在线率",
      device: "终端", rescue_code: "救援码", address: "地址", zone: "区域", company: "维保单位",
      since: "离线起始", for: "离线时长", terminals: "终端数", online: "在线", off: "离线",
      never: "从未上线", rate: "在线率", none: "没有离线终端", failed: "终端数据加载失败",
      h_: "时", m_: "分",
    },
    en: {
      h: "IoT terminals", offline: "Terminals offline longest", rates_zone: "Online rate by district",
      rates_company: "Online rate by maintenance company", device: "Terminal",
      rescue_code: "Rescue code", address: "Address", zone: "District", company: "Maintenance company",
      since: "Offline since", for: "Offline for", terminals: "Terminals", online: "Online",
      off: "Offline", never: "Never seen", rate: "Online rate", none: "No terminal is offline",
      failed: "Could not load the terminal figures", h_: "h", m_: "min",
    },
  };
  const lang = new URLSearchParams(location.search).get("lang") === "en" ? "en" : "zh-CN";
  const t = (k) => L[lang][k] ?? k;
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%");
  const dur = (s) => {
    const m = Math.floor(s / 60);
    return m >= 60 ? `${Math.floor(m / 60)} ${t("h_")} ${m % 60} ${t("m_")}` : `${m} ${t("m_")}`;
  };
  const local = (iso) => new Date(iso).toLocaleString(lang, { timeZone: "Asia/Shanghai", hour12: false });

  async function get(path, q) {
    const r = await fetch(path + "?" + new URLSearchParams(q), { credentials: "same-origin" });
    if (!r.ok) throw new Error(String(r.status));
    return r.json();
  }

  function fill(id, cols, rows, empty) {
    const el = document.getElementById(id);
    el.querySelector("thead").innerHTML = "<tr>" + cols.map(([, label, , num]) =>
      `<th${num ? ' class="num"' : ""}>${esc(t(label))}</th>`).join("") + "</tr>";
    el.querySelector("tbody").innerHTML = rows.length ? rows.map((r) => "<tr>" + cols.map(([key, , fmt, num]) =>
      `<td${num ? ' class="num"' : ""}>${fmt ? fmt(r[key]) : esc(r[key])}</td>`).join("") + "</tr>").join("")
      : `<tr><td colspan="${cols.length}" class="muted">${esc(t(empty || ""))}</td></tr>`;
  }

  async function load() {
    const area = document.querySelector("#filters select[name=district]");
    const q = area && area.value ? { district: area.value } : {};
    const status = document.getElementById("terminals-status");
    try {
      const [offline, zones, companies] = await Promise.all([
        get("/api/v1/reports/terminals/offline", Object.assign({ limit: 50 }, q)),
        get("/api/v1/reports/terminals/online-rate", Object.assign({ group_by: "zone" }, q)),
        get("/api/v1/reports/terminals/online-rate", Object.assign({ group_by: "company" }, q)),
      ]);
      fill("t-offline", [["device_id", "device"], ["rescue_code", "rescue_code"], ["address", "address"],
        ["zone", "zone"], ["maintenance_company", "company"], ["offline_since", "since", local],
        ["offline_for_s", "for", dur, true]], offline, "none");
      const rateCols = (first) => [["key", first], ["terminals", "terminals", null, true],
        ["online", "online", null, true], ["offline", "off", null, true],
        ["never_seen", "never", null, true], ["online_rate", "rate", pct, true]];
      fill("t-online-zone", rateCols("zone"), zones);
      fill("t-online-company", rateCols("company"), companies);
      status.textContent = "";
      document.getElementById("terminals").dataset.ready = "1";
    } catch (e) {
      status.textContent = t("failed") + " (" + e.message + ")";
    }
  }

  function start() {
    const section = document.getElementById("terminals");
    section.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    const app = document.getElementById("app");
    let started = false;
    const go = () => { if (!app.hidden && !started) { started = true; load(); } };
    new MutationObserver(go).observe(app, { attributes: true, attributeFilter: ["hidden"] });
    go();
    document.getElementById("filters").addEventListener("submit", () => { if (started) load(); });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
