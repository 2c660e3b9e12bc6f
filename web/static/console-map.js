/* The console map: our roads and districts as the base layer (works with no internet), an
 * optional tile layer, incident and team markers, and the planned route of an assignment. */
"use strict";

const ConsoleMap = (() => {
  let map, incidentLayer, teamLayer, routeLayer, legend, gcj = false;
  const incidentMarkers = new Map();
  const teamMarkers = new Map();
  const ROAD = [
    { color: "#c0783a", weight: 3.2 }, { color: "#d6a35c", weight: 2.4 },
    { color: "#a3acb5", weight: 1.6 }, { color: "#c4cad0", weight: 1 },
  ];
  const TEAM_COLOURS = { available: "#1e8449", offered: "#d68910", busy: "#1f4e9e" };
  const CLOCK_COLOURS = { ok: "#1e8449", warn: "#d68910", overdue: "#c0392b", done: "#7f8c8d" };

  function ll(lon, lat) {
    if (gcj) { const p = Rescue.wgs84ToGcj02(lon, lat); return [p[1], p[0]]; }
    return [lat, lon];
  }

  async function init(onSelect) {
    map = L.map("map", { zoomControl: true, preferCanvas: true, attributionControl: true })
      .setView([37.855, 112.56], 12);
    let cfg = { tile_url: null, tile_crs: "wgs84", tile_attribution: "" };
    try { cfg = await Rescue.api("GET", "/api/v1/geo/config"); } catch (e) { /* offline base only */ }
    gcj = cfg.tile_crs === "gcj02";
    if (cfg.timezone) Rescue.setTimeZone(cfg.timezone);
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution, maxZoom: 19 }).addTo(map);
    }
    try {
      const base = await Rescue.api("GET", "/api/v1/geo/basemap");
      const layer = L.geoJSON(base, {
        coordsToLatLng: (c) => L.latLng(...ll(c[0], c[1])),
        style: (f) => f.properties.kind === "district"
          ? { color: "#7d8a96", weight: 1.5, dashArray: "6 4", fillColor: "#dfe6ec",
              fillOpacity: cfg.tile_url ? 0 : 0.35 }
          : ROAD[f.properties.rank] || ROAD[3],
        interactive: false,
      }).addTo(map);
      layer.eachLayer((l) => {
        const p = l.feature.properties;
        if (p.kind === "district") {
          const name = Rescue.getLang() === "en" ? p.name_en : p.name;
          L.tooltip({ permanent: true, direction: "center", className: "district-label" })
            .setContent(name).setLatLng(l.getBounds().getCenter()).addTo(map);
        }
      });
      map.attributionControl.addAttribution(base.attribution || "© OpenStreetMap contributors");
    } catch (e) { console.warn("basemap", e); }
    routeLayer = L.layerGroup().addTo(map);
    legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => { const d = L.DomUtil.create("div", "map-legend"); return d; };
    legend.addTo(map);
    renderLegend();
    teamLayer = L.layerGroup().addTo(map);
    incidentLayer = L.layerGroup().addTo(map);
    init.onSelect = onSelect;
  }

  function setIncident(row, clock) {
    if (!map) return;
    let m = incidentMarkers.get(row.id);
    if (!row.active) { if (m) { incidentLayer.removeLayer(m); incidentMarkers.delete(row.id); } return; }
    const colour = CLOCK_COLOURS[clock] || "#c0392b";
    if (!m) {
      m = L.circleMarker(ll(row.elevator.lon, row.elevator.lat),
        { radius: 9, weight: 3, color: "#fff", fillOpacity: 0.95 });
      m.on("click", () => init.onSelect && init.onSelect(row.id));
      incidentLayer.addLayer(m); incidentMarkers.set(row.id, m);
    }
    m.setStyle({ fillColor: colour });
    m.bindTooltip(`#${row.id} ${Rescue.esc(row.elevator.building)} · ${Rescue.stateName(row.state)}`);
  }

  function removeMissingIncidents(ids) {
    for (const [id, m] of incidentMarkers) {
      if (!ids.has(id)) { incidentLayer.removeLayer(m); incidentMarkers.delete(id); }
    }
  }

  function setTeam(team) {
    if (!map || team.lon == null) return;
    let m = teamMarkers.get(team.id);
    const colour = TEAM_COLOURS[team.status] || "#7f8c8d";
    if (!m) {
      m = L.circleMarker(ll(team.lon, team.lat), { radius: 5, weight: 1.5, color: "#fff", fillOpacity: 0.9 });
      teamLayer.addLayer(m); teamMarkers.set(team.id, m);
    } else {
      m.setLatLng(ll(team.lon, team.lat));
    }
    m.setStyle({ fillColor: colour, radius: team.status === "available" ? 4 : 7 });
    m.bindTooltip(`${Rescue.esc(team.name)} · ${Rescue.stateName(team.status)}`);
  }

  let routeSeq = 0;
  async function showRoute(team, row) {
    if (!map) return;
    const my = ++routeSeq;  // a route still loading when the team arrives must not appear
    routeLayer.clearLayers();
    if (!team || !row) return;
    const q = `from=${team.lon},${team.lat}&to=${row.elevator.lon},${row.elevator.lat}`;
    try {
      const r = await Rescue.api("GET", `/api/v1/geo/route?${q}`);
      if (my !== routeSeq || !r.coords.length) return;
      routeLayer.clearLayers();
      L.polyline(r.coords.map((c) => ll(c[0], c[1])),
        { color: "#1f4e9e", weight: 5, opacity: 0.8, dashArray: r.off_network ? "8 8" : null })
        .bindTooltip(`${Rescue.minutes(r.seconds)} · ${(r.meters / 1000).toFixed(1)} km`)
        .addTo(routeLayer);
    } catch (e) { console.warn("route", e); }
  }

  /* What the colours mean (incident clocks, team readiness, the route line). */
  function renderLegend() {
    const el = document.querySelector(".map-legend");
    if (!el) return;
    const t = Rescue.t, dot = (c, r = 7) => `<i class="dot" style="background:${c};width:${r * 2}px;height:${r * 2}px"></i>`;
    el.innerHTML = `<b>${t("map_incidents")}</b>
      <span>${dot(CLOCK_COLOURS.ok)}${t("lg_ok")}</span><span>${dot(CLOCK_COLOURS.warn)}${t("lg_warn")}</span>
      <span>${dot(CLOCK_COLOURS.overdue)}${t("lg_overdue")}</span><span>${dot(CLOCK_COLOURS.done)}${t("lg_done")}</span>
      <b>${t("map_teams")}</b>
      <span>${dot(TEAM_COLOURS.available, 4)}${Rescue.stateName("available")}</span>
      <span>${dot(TEAM_COLOURS.offered, 5)}${Rescue.stateName("offered")}</span>
      <span>${dot(TEAM_COLOURS.busy, 5)}${Rescue.stateName("busy")}</span>
      <span><i class="line"></i>${t("lg_route")}</span>`;
  }
  function hasRoute() { return !!routeLayer && routeLayer.getLayers().length > 0; }

  function focus(row) {
    if (map && row) map.panTo(ll(row.elevator.lon, row.elevator.lat));
  }

  return { init, setIncident, removeMissingIncidents, setTeam, showRoute, focus, renderLegend,
           hasRoute };
})();
