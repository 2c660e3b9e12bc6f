/* The registry admin page (/admin): search and edit elevators, organizations, teams and zones,
 * import files (dry run → report → apply), download the export, read the change log.
 * Every rule is the server's (the importer's): the form only shows what the API answers.
 * Admins edit; supervisors and offices read (an office its region only, decided by the API). */
"use strict";

(() => {
  const R = Rescue;
  const $ = (sel) => document.querySelector(sel);
  const API = "/api/v1/registry";
  const PAGE = 20;

  R.addText({
    "zh-CN": {
      adm_title: "登记信息管理", adm_read_only: "只读", adm_elevators: "电梯",
      adm_organizations: "单位", adm_teams: "救援队", adm_zones: "区划", adm_import: "导入",
      adm_export: "导出", adm_changes: "变更记录", adm_denied: "此账号无权查看登记信息",
      adm_search_ph: "地址、楼栋、名称或代码", adm_search: "搜索", adm_new: "新建",
      adm_prev: "上一页", adm_next: "下一页", adm_save: "保存", adm_pick: "在左侧选择一条记录",
      adm_files: "文件", adm_skip_bad: "跳过错误行（--skip-bad）", adm_dry_run: "检查（试运行）",
      adm_apply: "应用导入",
      adm_import_help: "文件名须为 zones.geojson、organizations.csv|xlsx、teams.csv|xlsx、elevators.csv|xlsx（与命令行导入相同）。",
      adm_export_help: "下载当前登记信息（四个导入文件的压缩包）；原样再次导入时变更为 0。",
      adm_download: "下载导出文件", adm_all_kinds: "全部类型", adm_key: "代码", adm_actor: "操作人",
      adm_since: "起", adm_until: "止（不含）", k_elevator: "电梯", k_organization: "单位",
      k_team: "救援队", k_zone: "区划", adm_total: "共 {n} 条", adm_saved: "已保存",
      adm_unchanged: "没有改动", adm_created: "已新建", adm_new_title: "新建", adm_edit_title: "编辑",
      adm_view_title: "查看", adm_checking: "正在检查…", adm_applying: "正在导入…",
      adm_dry_ok: "试运行：没有错误，共 {n} 处变更（尚未写入）",
      adm_dry_bad: "试运行：{n} 个错误，未写入任何数据", adm_applied: "已导入：{n} 处变更",
      adm_not_written: "有错误，未写入任何数据", adm_pick_files: "请先选择文件",
      adm_bad_json: "不是有效的 GeoJSON", c_kind: "类型", c_created: "新建", c_updated: "更新",
      c_unchanged: "未变", c_deactivated: "停用", c_errors: "错误", c_warnings: "警告",
      c_file: "文件", c_line: "行", c_column: "列", c_message: "说明", c_allowed: "允许值",
      c_severity: "级别", c_at: "时间", c_key: "代码", c_action: "操作", c_fields: "字段（原 → 新）",
      c_actor: "操作人", c_source: "来源", a_create: "新建", a_update: "更新", a_deactivate: "停用",
      sev_error: "错误", sev_warning: "警告", d_zone: "区划", d_road_node: "道路节点",
      d_district: "所在区", yes: "是", no: "否",
      f_register_code: "注册代码", f_rescue_code: "救援识别码", f_address: "地址", f_building: "楼栋",
      f_lon: "经度", f_lat: "纬度", f_crs: "坐标系", f_site_type: "场所类型",
      f_use_unit_code: "使用单位代码", f_maintenance_company_code: "维保单位代码",
      f_maintenance_until: "维保合同到期", f_insurer_code: "保险公司代码", f_policy_no: "保单号",
      f_three_no: "三无电梯", f_in_service: "在用", f_floors: "层数", f_code: "代码", f_kind: "类型",
      f_name: "名称", f_phone: "值班电话", f_region: "区域（区划代码）",
      f_organization_code: "所属单位代码", f_capacity: "容量", f_on_duty: "在岗", f_roster: "排班",
      f_name_en: "英文名", f_arrival_limit_min: "到场时限（分钟）", f_clock_start: "计时起点",
      f_clock_stop: "计时终点", f_geometry: "边界（GeoJSON）",
    },
    en: {
      adm_title: "Registry administration", adm_read_only: "read only", adm_elevators: "Elevators",
      adm_organizations: "Organizations", adm_teams: "Teams", adm_zones: "Zones",
      adm_import: "Import", adm_export: "Export", adm_changes: "Change log",
      adm_denied: "This account may not read the registry",
      adm_search_ph: "address, building, name or code", adm_search: "Search", adm_new: "New",
      adm_prev: "Previous", adm_next: "Next", adm_save: "Save", adm_pick: "Pick a row on the left",
      adm_files: "Files", adm_skip_bad: "Skip bad rows (--skip-bad)", adm_dry_run: "Check (dry run)",
      adm_apply: "Apply import",
      adm_import_help: "Files are named zones.geojson, organizations.csv|xlsx, teams.csv|xlsx, elevators.csv|xlsx (as for the command-line import).",
      adm_export_help: "Download the registry as the four import files (zip); importing them unchanged reports 0 changes.",
      adm_download: "Download the export", adm_all_kinds: "All kinds", adm_key: "Key",
      adm_actor: "Actor", adm_since: "From", adm_until: "Until (excl.)", k_elevator: "Elevator",
      k_organization: "Organization", k_team: "Team", k_zone: "Zone", adm_total: "{n} rows",
      adm_saved: "Saved", adm_unchanged: "Nothing changed", adm_created: "Created",
      adm_new_title: "New", adm_edit_title: "Edit", adm_view_title: "View",
      adm_checking: "Checking…", adm_applying: "Importing…",
      adm_dry_ok: "Dry run: no errors, {n} changes (nothing written yet)",
      adm_dry_bad: "Dry run: {n} errors, nothing written", adm_applied: "Imported: {n} changes",
      adm_not_written: "Errors: nothing written", adm_pick_files: "Choose the files first",
      adm_bad_json: "not valid GeoJSON", c_kind: "Kind", c_created: "Created", c_updated: "Updated",
      c_unchanged: "Unchanged", c_deactivated: "Deactivated", c_errors: "Errors",
      c_warnings: "Warnings", c_file: "File", c_line: "Line", c_column: "Column",
      c_message: "Message", c_allowed: "Allowed", c_severity: "Severity", c_at: "Time",
      c_key: "Key", c_action: "Action", c_fields: "Fields (old → new)", c_actor: "Actor",
      c_source: "Source", a_create: "create", a_update: "update", a_deactivate: "deactivate",
      sev_error: "error", sev_warning: "warning", d_zone: "Zone", d_road_node: "Road node",
      d_district: "District", yes: "yes", no: "no",
      f_register_code: "Register code", f_rescue_code: "Rescue code", f_address: "Address",
      f_building: "Building", f_lon: "Longitude", f_lat: "Latitude", f_crs: "Coordinates",
      f_site_type: "Site type", f_use_unit_code: "Use unit code",
      f_maintenance_company_code: "Maintenance company code",
      f_maintenance_until: "Maintenance contract until", f_insurer_code: "Insurer code",
      f_policy_no: "Policy no.", f_three_no: "Three-no lift", f_in_service: "In service",
      f_floors: "Floors", f_code: "Code", f_kind: "Kind", f_name: "Name", f_phone: "Duty phone",
      f_region: "Region (zone code)", f_organization_code: "Organization code",
      f_capacity: "Capacity", f_on_duty: "On duty", f_roster: "Roster", f_name_en: "English name",
      f_arrival_limit_min: "Arrival limit (min)", f_clock_start: "Clock starts",
      f_clock_stop: "Clock stops", f_geometry: "Boundary (GeoJSON)",
    },
  });

  const BOOL = ["true", "false"];
  const CRS = ["wgs84", "gcj02", "bd09"];
  // Field specs: [name, type, choices]; the choices are the importer's allowed values.
  const FORMS = {
    elevators: [["register_code"], ["rescue_code"], ["address"], ["building"], ["lon", "num"],
      ["lat", "num"], ["crs", "sel", CRS],
      ["site_type", "sel", ["residential", "commercial", "hospital", "office", "school", "transit", "other"]],
      ["use_unit_code"], ["maintenance_company_code"], ["maintenance_until", "date"],
      ["insurer_code"], ["policy_no"], ["three_no", "bool"], ["in_service", "bool"], ["floors", "num"]],
    organizations: [["code"], ["kind", "sel", ["maintenance_company", "rescue_station", "fire_brigade", "use_unit", "insurer", "office"]],
      ["name"], ["phone"], ["region"]],
    teams: [["code"], ["organization_code"], ["name"], ["phone"], ["lon", "num"], ["lat", "num"],
      ["crs", "sel", CRS], ["capacity", "num"], ["on_duty", "bool"], ["roster"]],
    zones: [["code"], ["name"], ["name_en"], ["kind", "sel", ["district", "county", "city"]],
      ["arrival_limit_min", "num"], ["clock_start", "sel", ["received", "dispatched"]],
      ["clock_stop", "sel", ["arrived", "released"]], ["geometry", "json"]],
  };
  const KEY = { elevators: "register_code", organizations: "code", teams: "code", zones: "code" };
  const COLUMNS = {
    elevators: ["rescue_code", "register_code", "address", "building", "zone", "in_service"],
    organizations: ["code", "kind", "name", "phone", "region"],
    teams: ["code", "name", "organization_code", "phone", "district", "on_duty"],
    zones: ["code", "name", "name_en", "arrival_limit_min", "clock_start", "clock_stop"],
  };
  const DERIVED = { elevators: ["zone", "road_node"], teams: ["district"], organizations: [], zones: [] };

  const st = { me: null, canEdit: false, tab: "elevators", offset: 0, total: 0, rows: [],
               row: null, creating: false, chOffset: 0, chTotal: 0, lastReport: null };
  const fmt = (key, n) => R.t(key).replace("{n}", n);
  const label = (f) => R.t("f_" + f) === "f_" + f ? R.t("d_" + f) : R.t("f_" + f);
  function cell(v) {
    if (v === true) return R.t("yes");
    if (v === false) return R.t("no");
    return R.esc(v == null ? "" : v);
  }

  // ------------------------------------------------------------ language, header, tabs
  function syncLang() { $("#btn-lang").textContent = R.getLang() === "en" ? "中文" : "English"; }
  $("#btn-lang").onclick = () => {
    R.setLang(R.getLang() === "en" ? "zh-CN" : "en"); syncLang(); rerender();
  };
  $("#btn-logout").onclick = async () => {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
    location.href = "/login";
  };
  document.querySelectorAll("#tabs button").forEach((b) => { b.onclick = () => showTab(b.dataset.tab); });

  function showTab(tab) {
    st.tab = tab;
    document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    const registry = ["elevators", "organizations", "teams", "zones"].includes(tab);
    $("#pane-registry").hidden = !registry;
    $("#pane-import").hidden = tab !== "import";
    $("#pane-export").hidden = tab !== "export";
    $("#pane-changes").hidden = tab !== "changes";
    if (registry) { st.offset = 0; $("#q").value = ""; closeForm(); loadList(); }
    if (tab === "changes") { st.chOffset = 0; loadChanges(); }
  }
  function rerender() {
    if (["elevators", "organizations", "teams", "zones"].includes(st.tab)) {
      renderList(); if (st.row || st.creating) renderForm();
    }
    if (st.lastReport) renderReport(st.lastReport.report, st.lastReport.applied);
    if (st.tab === "changes") renderChanges(st.changes || []);
  }

  // ------------------------------------------------------------ list
  let listSeq = 0, changesSeq = 0;  // only the latest request's answer is shown
  async function loadList() {
    const kind = st.tab, seq = ++listSeq;
    const params = new URLSearchParams({ limit: PAGE, offset: st.offset, q: $("#q").value.trim() });
    const data = await R.api("GET", `${API}/${kind}?${params}`);
    if (kind !== st.tab || seq !== listSeq) return;
    st.rows = data.items; st.total = data.total;
    renderList();
  }
  function renderList() {
    const cols = COLUMNS[st.tab];
    $("#list thead").innerHTML = "<tr>" + cols.map((c) => `<th>${R.esc(label(c))}</th>`).join("") + "</tr>";
    $("#list tbody").innerHTML = st.rows.map((r) =>
      `<tr data-key="${R.esc(r[KEY[st.tab]])}"${st.row && st.row[KEY[st.tab]] === r[KEY[st.tab]] ? ' class="selected"' : ""}>` +
      cols.map((c) => `<td>${cell(r[c])}</td>`).join("") + "</tr>").join("");
    $("#list tbody").querySelectorAll("tr[data-key]").forEach((tr) => {
      tr.onclick = () => openRow(tr.dataset.key);
    });
    const last = Math.min(st.offset + PAGE, st.total);
    $("#page-info").textContent = `${st.total ? st.offset + 1 : 0}–${last} · ${fmt("adm_total", st.total)}`;
    $("#prev").disabled = st.offset === 0;
    $("#next").disabled = st.offset + PAGE >= st.total;
  }
  $("#search").onsubmit = (e) => { e.preventDefault(); st.offset = 0; loadList(); };
  $("#prev").onclick = () => { st.offset = Math.max(0, st.offset - PAGE); loadList(); };
  $("#next").onclick = () => { st.offset += PAGE; loadList(); };
  $("#btn-new").onclick = () => { st.row = null; st.creating = true; renderForm(); renderList(); };

  // ------------------------------------------------------------ edit form
  async function openRow(key) {
    const row = await R.api("GET", `${API}/${st.tab}/${encodeURIComponent(key)}`);
    st.row = row; st.creating = false; renderForm(); renderList();
  }
  function closeForm() { st.row = null; st.creating = false; $("#edit").hidden = true; $("#edit-empty").hidden = false; }
  function valueText(spec, v) {
    if (spec[1] === "json") return v == null ? "" : JSON.stringify(v);
    if (v === true || v === false) return String(v);
    return v == null ? "" : String(v);
  }
  function renderForm() {
    const kind = st.tab, row = st.row || {};
    const ro = !st.canEdit;
    $("#edit").hidden = false; $("#edit-empty").hidden = true;
    $("#edit-title").textContent = (st.creating ? R.t("adm_new_title") : ro ? R.t("adm_view_title") : R.t("adm_edit_title"))
      + " · " + R.t("k_" + kind.replace(/s$/, "")) + (st.creating ? "" : " " + (row[KEY[kind]] || ""));
    const html = FORMS[kind].map((spec) => {
      const [name, type, choices] = spec;
      const val = st.creating ? (name === "crs" ? "wgs84" : "") : valueText(spec, row[name]);
      const dis = ro || (!st.creating && name === KEY[kind]) ? " disabled" : "";
      let input;
      if (type === "sel" || type === "bool") {
        const opts = (type === "bool" ? BOOL : choices);
        input = `<select name="${name}"${dis}>${st.creating && name !== "crs" ? '<option value=""></option>' : ""}` +
          opts.map((o) => `<option value="${o}"${o === val ? " selected" : ""}>${type === "bool" ? R.t(o === "true" ? "yes" : "no") : o}</option>`).join("") + "</select>";
      } else if (type === "json") {
        input = `<textarea name="${name}"${dis}>${R.esc(val)}</textarea>`;
      } else {
        const t = type === "date" ? "date" : "text";
        input = `<input name="${name}" type="${t}" value="${R.esc(val)}"${dis}>`;
      }
      return `<label data-field="${name}"><span>${R.esc(label(name))}</span>${input}<span class="ferr" data-for="${name}"></span></label>`;
    }).join("");
    $("#fields").innerHTML = html;
    $("#derived").textContent = st.creating ? "" : DERIVED[kind]
      .map((d) => `${label(d)}: ${row[d] == null ? "—" : row[d]}`).join(" · ");
    $("#form-error").textContent = ""; $("#form-ok").textContent = "";
  }
  function clearErrors() {
    document.querySelectorAll("#fields .ferr").forEach((s) => { s.textContent = ""; });
    document.querySelectorAll("#fields label").forEach((l) => l.classList.remove("has-error"));
    $("#form-error").textContent = ""; $("#form-ok").textContent = "";
  }
  function showFieldError(field, message) {
    const span = document.querySelector(`#fields .ferr[data-for="${field}"]`);
    if (!span) { $("#form-error").textContent = (field ? field + ": " : "") + message; return; }
    span.textContent = message;
    span.parentElement.classList.add("has-error");
  }
  function issueText(e) {
    const msg = R.getLang() === "en" ? (e.message || "") : (e.message_zh || e.message || "");
    const allowed = e.allowed && e.allowed.length ? ` (${e.allowed.join(", ")})` : "";
    return msg + allowed;
  }
  $("#edit").onsubmit = async (e) => {
    e.preventDefault();
    if (!st.canEdit) return;
    clearErrors();
    const kind = st.tab, body = {};
    for (const spec of FORMS[kind]) {
      const [name, type] = spec;
      const input = document.querySelector(`#fields [name="${name}"]`);
      let v = input.value.trim();
      if (!st.creating && v === valueText(spec, st.row[name])) continue;
      if (!st.creating && name === KEY[kind]) continue;
      if (st.creating && v === "") continue;
      if (type === "json") {
        try { v = v ? JSON.parse(v) : null; } catch (err) { showFieldError(name, R.t("adm_bad_json")); return; }
      }
      body[name] = v === "" ? null : v;
    }
    $("#btn-save").disabled = true;
    try {
      const res = st.creating
        ? await R.api("POST", `${API}/${kind}`, body)
        : await R.api("PATCH", `${API}/${kind}/${encodeURIComponent(st.row[KEY[kind]])}`, body);
      st.row = res.row; st.creating = false;
      renderForm();
      $("#form-ok").textContent = R.t(res.action === "created" ? "adm_created" : res.action === "unchanged" ? "adm_unchanged" : "adm_saved");
      loadList();
    } catch (err) {
      const b = err.body || {};
      const errors = b.errors && b.errors.length ? b.errors : [{ field: b.field, message: b.detail || err.message }];
      errors.forEach((x) => showFieldError(x.column || x.field, x.message_zh || x.allowed ? issueText(x) : x.message));
    } finally {
      $("#btn-save").disabled = false;
    }
  };

  // ------------------------------------------------------------ import
  async function runImport(dryRun) {
    const files = $("#imp-files").files;
    if (!files.length) { $("#imp-status").textContent = R.t("adm_pick_files"); return; }
    const fd = new FormData();
    for (const f of files) fd.append("files", f, f.name);
    const params = new URLSearchParams({ dry_run: String(dryRun), skip_bad: String($("#imp-skip").checked) });
    $("#imp-status").textContent = R.t(dryRun ? "adm_checking" : "adm_applying");
    $("#imp-check").disabled = true; $("#imp-apply").disabled = true;
    try {
      const r = await fetch(`${API}/import?${params}`, { method: "POST", body: fd, credentials: "same-origin",
                                                         headers: { Accept: "application/json" } });
      const data = await r.json();
      if (!r.ok) { $("#imp-status").textContent = (data.detail || data.title || r.status); return; }
      st.lastReport = { report: data, applied: !dryRun };
      renderReport(data, !dryRun);
    } finally {
      $("#imp-check").disabled = false;
    }
  }
  function renderReport(rep, applied) {
    const kinds = Object.keys(rep.counts);
    const cols = ["created", "updated", "unchanged", "deactivated", "errors", "warnings"];
    $("#imp-counts").hidden = false;
    $("#imp-counts thead").innerHTML = `<tr><th>${R.t("c_kind")}</th>` + cols.map((c) => `<th>${R.t("c_" + c)}</th>`).join("") + "</tr>";
    $("#imp-counts tbody").innerHTML = kinds.map((k) => `<tr data-kind="${k}"><td>${R.esc(R.t("adm_" + k))}</td>` +
      cols.map((c) => `<td class="n-${c}">${rep.counts[k][c]}</td>`).join("") + "</tr>").join("");
    $("#imp-issues").hidden = !rep.issues.length;
    $("#imp-issues thead").innerHTML = "<tr>" + ["severity", "file", "line", "column", "message"]
      .map((c) => `<th>${R.t("c_" + c)}</th>`).join("") + "</tr>";
    $("#imp-issues tbody").innerHTML = rep.issues.map((i) =>
      `<tr class="issue sev-${R.esc(i.severity)}"><td>${R.esc(R.t("sev_" + i.severity))}</td><td>${R.esc(i.file)}</td>` +
      `<td>${i.line == null ? "" : i.line}</td><td>${R.esc(i.column || "")}</td><td>${R.esc(issueText(i))}</td></tr>`).join("");
    let status;
    if (applied) status = rep.written ? fmt("adm_applied", rep.changes) : R.t("adm_not_written");
    else status = rep.errors ? fmt("adm_dry_bad", rep.errors) : fmt("adm_dry_ok", rep.changes);
    $("#imp-status").textContent = status;
    $("#imp-apply").disabled = applied || (rep.errors > 0 && !$("#imp-skip").checked);
  }
  $("#imp-form").onsubmit = (e) => { e.preventDefault(); runImport(true); };
  $("#imp-apply").onclick = () => runImport(false);
  $("#imp-files").onchange = () => { $("#imp-apply").disabled = true; st.lastReport = null; };

  // ------------------------------------------------------------ change log
  async function loadChanges() {
    const f = new FormData($("#ch-form"));
    const params = new URLSearchParams({ limit: PAGE, offset: st.chOffset });
    for (const k of ["kind", "key", "actor"]) if (f.get(k)) params.set(k, f.get(k).trim());
    for (const k of ["since", "until"]) if (f.get(k)) params.set(k, new Date(f.get(k) + "T00:00:00").toISOString());
    const seq = ++changesSeq;
    const data = await R.api("GET", `${API}/changes?${params}`);
    if (seq !== changesSeq) return;
    st.changes = data.items; st.chTotal = data.total;
    renderChanges(data.items);
  }
  function fieldsText(fields) {
    return Object.entries(fields || {}).map(([k, [a, b]]) => {
      const s = (v) => R.esc(v == null ? "∅" : typeof v === "object" ? JSON.stringify(v) : v);
      return `<div><b>${R.esc(k)}</b>: <del>${s(a)}</del> → <ins>${s(b)}</ins></div>`;
    }).join("");
  }
  function renderChanges(items) {
    const cols = ["at", "kind", "key", "action", "fields", "actor", "source"];
    $("#ch-table thead").innerHTML = "<tr>" + cols.map((c) => `<th>${R.t("c_" + c)}</th>`).join("") + "</tr>";
    $("#ch-table tbody").innerHTML = items.map((c) =>
      `<tr class="change" data-id="${c.id}"><td>${R.esc(new Date(c.at).toLocaleString(R.getLang()))}</td>` +
      `<td>${R.esc(R.t("k_" + c.kind))}</td><td>${R.esc(c.key)}</td><td>${R.esc(R.t("a_" + c.action))}</td>` +
      `<td class="change-fields">${fieldsText(c.fields)}</td><td>${R.esc(c.actor)}</td><td>${R.esc(c.source || "")}</td></tr>`).join("");
    const last = Math.min(st.chOffset + PAGE, st.chTotal);
    $("#ch-info").textContent = `${st.chTotal ? st.chOffset + 1 : 0}–${last} · ${fmt("adm_total", st.chTotal)}`;
    $("#ch-prev").disabled = st.chOffset === 0;
    $("#ch-next").disabled = st.chOffset + PAGE >= st.chTotal;
  }
  $("#ch-form").onsubmit = (e) => { e.preventDefault(); st.chOffset = 0; loadChanges(); };
  $("#ch-prev").onclick = () => { st.chOffset = Math.max(0, st.chOffset - PAGE); loadChanges(); };
  $("#ch-next").onclick = () => { st.chOffset += PAGE; loadChanges(); };

  // ------------------------------------------------------------ start
  R.setLang(R.getLang()); syncLang();
  (async () => {
    let me;
    try { me = await R.api("GET", "/api/v1/auth/me"); } catch (e) { return; }
    st.me = me;
    $("#who").textContent = `${me.username} · ${me.role}${me.region ? " · " + me.region : ""}`;
    if (!["admin", "supervisor", "office"].includes(me.role)) {
      $("#denied").hidden = false; $("#tabs").hidden = true;
      document.body.dataset.ready = "1";
      return;
    }
    st.canEdit = me.role === "admin";
    $("#ro-note").hidden = st.canEdit;
    if (!st.canEdit) document.querySelectorAll(".admin-only").forEach((n) => n.remove());
    if (!["admin", "supervisor"].includes(me.role)) document.querySelectorAll(".export-only").forEach((n) => n.remove());
    showTab("elevators");
    document.body.dataset.ready = "1";
  })();
})();
