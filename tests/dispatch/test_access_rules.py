"""Every route declares who may call it; nothing is open by accident."""

from fastapi.routing import APIRoute, APIWebSocketRoute

from dispatch.app import create_app
from dispatch.routes import iter_routes, route_access
from dispatch.settings import Settings

PUBLIC = {"/api/v1/auth/token", "/api/v1/auth/logout", "/healthz", "/readyz"}
METRICS = {"/metrics"}  # bearer RESCUE_METRICS_TOKEN, or a direct local connection (issue 18)
DEVICE_SIGNED = {"/api/v1/telemetry/events",  # HMAC-signed by a registered terminal
                 "/api/v1/telemetry/heartbeat"}  # issue 19
TWILIO_SIGNED = {"/twilio/voice", "/twilio/voice/gather", "/twilio/sms",
                 "/twilio/status",  # X-Twilio-Signature (issue 5)
                 "/twilio/queue/wait", "/twilio/queue/leave", "/twilio/calls/status",
                 "/twilio/recording"}  # the phone desk (issue 15)
CREW_LINK = {"/api/v1/auth/link"}  # a signed crew link from an offer SMS (issue 5)
PARTNER_KEY = {"/api/v1/partner/incidents",  # Authorization: Bearer <partner API key> (issue 14)
               "/api/v1/partner/incidents/{external_id}",
               "/api/v1/partner/incidents/{external_id}/status", "/api/v1/partner/events"}


def test_every_route_has_an_explicit_role_rule(tmp_path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", secret_key="k" * 40))
    checked = 0
    for route in iter_routes(app.routes):
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            continue  # docs and static files
        rules = route_access(route)
        assert rules, f"{route.path} declares no access rule"
        if route.path in PUBLIC:
            assert ("public",) in rules, route.path
        else:
            assert ("public",) not in rules, f"{route.path} is public but not listed"
        if route.path in DEVICE_SIGNED:
            assert rules == [("device-signed",)], route.path
        else:
            assert ("device-signed",) not in rules, f"{route.path} is device-signed but not listed"
        for special, rule in ((TWILIO_SIGNED, ("twilio-signed",)), (CREW_LINK, ("crew-link",)),
                              (METRICS, ("metrics-token",)),
                              (PARTNER_KEY, ("partner-key",))):
            if route.path in special:
                assert rules == [rule], route.path
            else:
                assert rule not in rules, f"{route.path} uses {rule} but is not listed"
        checked += 1
    assert checked >= 10
