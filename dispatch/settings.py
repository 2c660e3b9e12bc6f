"""One Settings object for the whole application (environment prefix ``RESCUE_``).

Validated at start-up and injected; nothing else reads the environment. Every knob a dispatch
centre may want to change per deployment lives here, with a default that works for the demo.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.resources import data_path

ROOT = Path(__file__).resolve().parent.parent



MQTT_LANES = ("events", "heartbeat", "judge")


def parse_mqtt_lanes(value: str) -> str:
    """``"heartbeat, events"`` → ``"heartbeat,events"``; unknown or no lanes are refused."""
    lanes = [p.strip() for p in value.split(",") if p.strip()]
    unknown = sorted(set(lanes) - set(MQTT_LANES))
    if not lanes or unknown:
        raise ValueError(f"mqtt_lanes: give one or more of {', '.join(MQTT_LANES)} "
                         f"(not {unknown or value!r})")
    return ",".join(dict.fromkeys(lanes))

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESCUE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/rescue.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for the event bus; unset means in-process."
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs access tokens. Unset in dev: generated once into var/secret_key.",
    )
    demo_password: str = Field(default="rescue-demo", description="Password of the demo users.")
    var_dir: Path = Field(default=Path("var"), description="Where dev state lives.")
    token_ttl_min: int = Field(default=720, description="Access token lifetime in minutes.")
    duplicate_window_min: int = Field(
        default=30, description="A report for an elevator whose entrapment (not yet released) "
        "was reported within this many minutes is merged into it."
    )

    geo_roads: Path = Field(
        default=data_path("fixtures") / "taiyuan/taiyuan_core_roads_osm.geojson",
        description="OSM extract for the road graph (.geojson of ways or .osm.pbf).",
    )
    geo_cache_dir: Path = Field(
        default=Path("var/geo-cache"), description="Where the compiled road graph is cached."
    )
    geo_engine: Literal["auto", "cch", "scipy", "osrm"] = Field(
        default="auto", description="Routing engine: auto (CCH if installed, else scipy), "
        "cch, scipy, or osrm (needs RESCUE_GEO_OSRM_URL)."
    )
    geo_osrm_url: str | None = Field(default=None, description="Base URL of an OSRM server.")
    geo_speeds_kmh: dict[str, float] | None = Field(
        default=None, description="Road-class speed table as JSON, e.g. "
        '{"primary": 40}; unset keeps the defaults (motorway 80 … service 15 km/h).'
    )
    geo_snap_speed_kmh: float = Field(
        default=10.0, description="Speed over the distance from a point to its road node."
    )
    geo_off_network_m: float = Field(
        default=2000.0, description="Beyond this distance from the road graph a point is "
        "off the network and gets a straight-line estimate."
    )
    geo_fallback_speed_kmh: float = Field(
        default=20.0, description="Cautious speed for straight-line estimates."
    )

    auto_dispatch: bool = Field(
        default=True, description="Confirming an incident offers it to the best team at once."
    )
    offer_timeout_s: int = Field(
        default=180, description="An offer not accepted within this time goes to the next team "
        "(the 3-minute response KPI)."
    )
    turnout_s: float = Field(default=120.0, description="Time from accepting to driving off.")
    safety_margin_s: float = Field(
        default=300.0, description="A team must arrive this long before the deadline to count "
        "as making it."
    )
    max_candidates_per_level: int = Field(
        default=25, description="Nearest teams per level (straight line) sent to the router."
    )
    failures_before_escalation: int = Field(
        default=2, description="Declines/timeouts at one level before the next level is offered."
    )
    gps_fresh_s: int = Field(
        default=300, description="A GPS fix younger than this replaces the team's base."
    )
    arrival_radius_m: float = Field(
        default=100.0, description="Within this distance of the elevator for arrival_dwell_s, a "
        "team is marked arrived automatically."
    )
    arrival_dwell_s: float = Field(default=30.0, description="See arrival_radius_m.")
    sla_warning_min: int = Field(
        default=10, description="Warn the operator this long before the arrival deadline."
    )
    trapped_reminder_min: int = Field(
        default=10, description="Remind the operator to update the trapped people this often."
    )
    callback_delay_min: int = Field(
        default=30, description="After release, a callback task is due after this long."
    )
    redispatch_retry_s: int = Field(
        default=30, description="When no team is free, try again after this long."
    )
    job_poll_s: float = Field(default=0.5, description="How often the job loop looks for due "
                              "work.")
    run_jobs: bool = Field(default=True, description="Run the job loop in this process.")
    surge_min_waiting: int = Field(
        default=5, description="With at least this many confirmed incidents of a zone waiting "
        "for a team, free teams are assigned by one global plan (area power cut)."
    )
    zone_overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per-zone policy overrides as JSON, e.g. "
        '{"清徐县": {"turnout_s": 180, "safety_margin_s": 600}}.'
    )

    # Telemetry alarms (issue 7)
    telemetry_max_skew_s: int = Field(
        default=300, description="A device request whose X-Timestamp is further than this from "
        "the server clock is refused (replay protection)."
    )
    telemetry_recovery_window_s: int = Field(
        default=60, description="A 'back to normal' (40) this soon after an entrapment alarm, "
        "before persons are confirmed, flags the incident 'recovered by itself' (verify by "
        "callback; never closed automatically)."
    )
    telemetry_button_hold_s: float = Field(
        default=3.0, description="An alarm-button event (90) whose detail.held_s is shorter is "
        "filtered as a brush; without held_s it counts as held."
    )
    telemetry_power_cut_min_elevators: int = Field(
        default=5, description="This many elevators of one district reporting mains power lost "
        "(41) close together form an 'area power cut' group."
    )
    telemetry_power_cut_gap_min: int = Field(
        default=10, description="Power-lost reports of one district at most this many minutes "
        "apart belong to the same power cut."
    )

    # Live console and crew page (issue 6)
    stream_poll_s: float = Field(
        default=1.0, description="While Redis is unreachable, each worker reads new timeline "
        "rows this often so consoles stay current."
    )
    map_tile_url: str | None = Field(
        default=None, description="Raster tile URL template ({z}/{x}/{y}) for the console map; "
        "unset: our own road network and districts only (works offline)."
    )
    map_tile_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="Coordinate system of the tiles; gcj02 for Chinese "
        "providers (Amap, Tencent): the console then shifts everything it draws to match."
    )
    map_tile_attribution: str = Field(
        default="", description="Attribution shown for the configured tiles."
    )

    # --- issue 5: notifications (outbox, Twilio SMS/voice, IVR, crew links) ---------------
    twilio_account_sid: str | None = Field(
        default=None, description="Twilio account SID; unset (and no fake): the log channel.")
    twilio_auth_token: str | None = Field(
        default=None, description="Twilio auth token: authenticates API calls and checks "
        "X-Twilio-Signature on webhooks (unset: every webhook is refused).")
    twilio_api_base_url: str | None = Field(
        default=None, description="Send Twilio API calls here instead of api.twilio.com "
        "(the local fake, a proxy).")
    twilio_from_number: str | None = Field(
        default=None, description="The centre's number messages and calls come from (E.164).")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="How the outside world reaches this "
        "server: crew links and Twilio callback URLs are built on it (and webhook signatures "
        "are checked against it).")
    hotline_operator_number: str | None = Field(
        default=None, description="The operator desk the hotline IVR connects callers to "
        "(caller presses 0, or the code is unknown).")
    notify_voice_after_s: int = Field(
        default=60, description="Call a team by voice when its offer is still unanswered "
        "this long after the offer SMS.")
    notify_max_tries: int = Field(
        default=6, description="Provider attempts per notification before it is marked "
        "failed (the last error is kept).")
    notify_retry_base_s: float = Field(
        default=5.0, description="First retry delay; doubles per attempt (jittered), capped "
        "at 5 min.")
    notify_timeout_s: float = Field(
        default=10.0, description="Provider HTTP timeout; a timeout counts as a retryable "
        "error.")
    crew_link_ttl_min: int = Field(
        default=120, description="Lifetime of the signed crew-page link in an offer SMS.")
    fake_twilio: bool = Field(
        default=False, description="Demo: start the local fake Twilio in the server process "
        "and send through it (messages listed on its page).")
    fake_twilio_port: int = Field(default=8025, description="Port of the demo fake Twilio.")

    # --- issue 19: MQTT ingestion, heartbeats, terminal offline alerts ---------------------
    mqtt_url: str | None = Field(
        default=None, description="MQTT broker (mqtt://host:1883, mqtts://…); unset: no MQTT "
        "consumer (the HTTP device API works either way).")
    mqtt_client_id: str | None = Field(
        default=None, description="Client id of this process's persistent session; unset: "
        "rescue-<host>-<port or pid>. Keep it stable across restarts, or queued messages wait "
        "for a session that never comes back.")
    mqtt_share_group: str = Field(
        default="rescue", description="MQTT 5 shared-subscription group ($share/<group>/…): "
        "every consumer in the group gets a share of the messages.")
    mqtt_topic_prefix: str = Field(
        default="rescue/v1", description="Topics are <prefix>/<device_id>/events and "
        "<prefix>/<device_id>/heartbeat.")
    mqtt_session_expiry_s: int = Field(
        default=86400, description="How long the broker keeps this consumer's session and "
        "queued QoS 1 messages while it is away.")
    mqtt_receive_max: int = Field(
        default=2000, description="MQTT 5 Receive Maximum: unacknowledged QoS 1 messages the "
        "broker may have in flight to this consumer (bounds a batch).")
    mqtt_batch_size: int = Field(
        default=500, description="Messages per consumer batch (one transaction per batch; "
        "acknowledged after its commit).")
    mqtt_batch_ms: float = Field(
        default=50.0, description="A batch is closed this long after its first message even "
        "when not full.")
    mqtt_judge_lifts: int = Field(
        default=100, ge=1, le=5000, description="Lifts whose stored MQTT events one judging "
        "transaction takes (the rules and the incidents they open; issue 19).")
    mqtt_lanes: str = Field(
        default="events,heartbeat,judge", description="What this process does of the MQTT "
        "work, comma-separated: events (store event messages), heartbeat (heartbeat "
        "messages), judge (apply the rules to stored events, opening incidents). Run a lane in "
        "its own `rescue mqtt consume --lanes …` process so that one never takes CPU from "
        "another.")
    heartbeat_interval_s: float = Field(
        default=60.0, description="Expected heartbeat interval of a terminal.")
    offline_factor: float = Field(
        default=3.0, description="A terminal silent longer than heartbeat_interval_s × this is "
        "offline (an 'offline' alert for its elevator).")
    heartbeat_flush_s: float = Field(
        default=60.0, description="Heartbeat state is written to the database in batches this "
        "often (so at most once per device in that time).")
    offline_sweep_s: float = Field(
        default=10.0, description="How often the job loop looks for silent terminals.")
    # --- issue 13: teams on and off duty (rosters) -----------------------------------------
    timezone: str = Field(
        default="Asia/Shanghai", description="The centre's local time zone (IANA name): team "
        "rosters are weekly hours on its wall clock.")

    @field_validator("mqtt_lanes")
    @classmethod
    def _known_lanes(cls, v: str) -> str:
        return parse_mqtt_lanes(v)

    @property
    def mqtt_lane_kinds(self) -> tuple[str, ...]:
        return tuple(self.mqtt_lanes.split(","))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Asia/Shanghai)") from exc
        return value

    # --- issue 13: a centre's own registry (import, export, maintenance contracts) ---------
    rescue_code_lengths: list[int] = Field(
        default=[5, 6, 7], description="Allowed lengths of an elevator's rescue code (digits), "
        'as JSON, e.g. [6]; the registry import refuses other lengths.')
    # --- issue 18: operations (metrics, health, logs) -------------------------------------
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="Log lines: json (one object per line, for a journal or "
        "shipper), text (for a terminal), or auto (text on a terminal, else json).")
    log_level: str = Field(default="INFO", description="Root log level (DEBUG, INFO, WARNING).")
    metrics_token: str | None = Field(
        default=None, description="Bearer token a Prometheus server sends to scrape /metrics "
        "from another host; unset: /metrics answers local connections only.")
    metrics_localhost: bool = Field(
        default=True, description="/metrics is open to direct connections from this machine "
        "(not to requests relayed by a proxy, which carry X-Forwarded-For).")
    ready_job_tick_s: float = Field(
        default=10.0, description="/readyz fails when this process runs the job loop and it "
        "has not completed a pass for this long.")
    # --- issue 12: hardening (limits, login throttling, origins, cookies) -------------------
    body_limit_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body of a JSON route "
        "(bytes); larger bodies are refused with 413 while being read.")
    body_limit_telemetry_bytes: int = Field(
        default=512 * 1024, ge=1024, description="Largest signed telemetry batch (bytes); "
        "500 events of ordinary size need about 150 KB.")
    body_limit_registry_import_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest upload to the admin page's "
        "registry import (bytes, all files together); 60,500 elevators as CSV are about 12 MB.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins for one username within "
        "login_lockout_min before further attempts get 429 until the window has passed.")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins from one client address (any usernames) "
        "within login_lockout_min before that address gets 429.")
    login_lockout_min: int = Field(
        default=15, ge=1, description="The login-throttling window and lockout in minutes.")
    password_hash_workers: int = Field(
        default=1, ge=1, le=64, description="Threads that check passwords (argon2); at most "
        "this many logins hash at once, so a login flood cannot starve the dispatch routes.")
    telemetry_max_age_h: float = Field(
        default=24.0, gt=0, description="A telemetry event older than this is stored (history) "
        "but never opens a live incident.")
    allowed_origins: list[str] = Field(
        default_factory=list, description="Extra browser origins (e.g. "
        '["https://console.example.cn"]) allowed to send cookie-authenticated writes and to '
        "open the websocket, besides RESCUE_PUBLIC_BASE_URL and the server's own host.")
    cookie_secure: bool | None = Field(
        default=None, description="Mark the session cookie Secure; unset: Secure when "
        "RESCUE_PUBLIC_BASE_URL is https.")
    # --- issue 17: planning for city offices --------------------------------------------------
    planning_rush_speeds_kmh: dict[str, float] = Field(
        default={"motorway": 50, "trunk": 30, "primary": 22, "secondary": 20, "tertiary": 18,
                 "unclassified": 15, "residential": 12},
        description="The \"rush hour\" road-class speed table of the coverage page and the "
        "replay (JSON, overlaid on RESCUE_GEO_SPEEDS_KMH).")
    # --- issue 15: the phone desk (call queue, seats, recordings) -----------------------------
    call_queue: bool = Field(
        default=True, description="Hotline callers who ask for an operator (0, unknown code, "
        "no key) wait in a Twilio queue that rings on every console; false: they are dialled "
        "straight to RESCUE_HOTLINE_OPERATOR_NUMBER.")
    call_recording: bool = Field(
        default=True, description="Record the hotline's operator calls and call-backs (the "
        "greeting says so).")
    call_recording_retention_days: int = Field(
        default=180, ge=1, description="Recordings older than this are deleted at the "
        "provider by a job (the call row keeps that it had one).")

    # --- issue 14: partners of the regional emergency system ---------------------------------
    partner_timeout_s: float = Field(
        default=5.0, description="Timeout of one push to a partner's URL (seconds).")
    partner_retry_base_s: float = Field(
        default=5.0, description="First back-off of a failed partner push (doubles, jittered).")
    partner_retry_cap_s: float = Field(
        default=1800.0, description="Longest back-off between two pushes of one event.")
    partner_retry_for_h: float = Field(
        default=24.0, description="A push still failing after this many hours is `failed`.")
    partner_pause_after: int = Field(
        default=20, description="Consecutive failed pushes after which a partner is paused "
        "(and the admin alerted); resuming replays what waited.")
    partner_handover_ack_s: float = Field(
        default=120.0, description="Seconds a level-3 handover waits for a fire_119 partner's "
        "`accepted` before the operator is alerted.")
    partner_feed_lag_s: float = Field(
        default=2.0, description="The pull feed serves only rows older than this, so a "
        "transaction still committing cannot be skipped by a cursor.")

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept under ``var/``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
