"""Log lines: one JSON object per line for the log shipper, or plain text for a terminal.

Every line goes through ``scrub`` last, whatever put it together (our request lines, a library's
message, a traceback): bearer tokens and JWTs, ``password=``/``token=``/``secret=`` values in
query strings, form bodies or JSON, and full phone numbers (masked as the API shows them,
``+86138****5678``) never reach the file. The scrub is deliberately greedy: a log line that loses
an 11-digit number it did not need costs nothing; a leaked caller number or token does.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from dispatch.ops import context
from notify.phones import mask

_HANDLER_NAME = "rescue-ops"
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}")
_SECRET_WORDS = (r"password|passwd|pwd|token|access_token|refresh_token|secret|secret_key|"
                 r"app_secret|auth_token|api_key|apikey|signature|authorization|cookie|t")
_KEY_VALUE = re.compile(rf"(?i)(?<![\w-])((?:{_SECRET_WORDS})=)([^&\s\"'\\,;]+)")
_JSON_VALUE = re.compile(
    rf"(?i)([\"'](?:{_SECRET_WORDS}|rescue_token)[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2")
_COOKIE = re.compile(r"(?i)\b(rescue_token=)[^;\s]+")
# +86 138 1234 5678, 13812345678, 0351-1234567: 7+ digits with optional separators.
_PHONE = re.compile(r"(?<![\w.])\+?\d(?:[ -]?\d){9,14}(?![\w.])|(?<![\w.])0\d{2,3}-\d{7,8}(?!\w)")
_REDACTED = "[redacted]"


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return mask(digits) or ""


def scrub(text: str) -> str:
    """The text with tokens, passwords, secrets and phone numbers removed or masked."""
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
    text = _JSON_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{_REDACTED}{m.group(2)}", text)
    text = _COOKIE.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + _REDACTED, text)
    return _PHONE.sub(_mask_phone, text)


_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Structured extras (``log.info(..., extra={...})``) plus the current request's id."""
    out = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    if "request_id" not in out:
        rid = context.current_request_id()
        if rid:
            out["request_id"] = rid
    return out


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "msg", …extras}`` on one line, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        # scrub each text before JSON escapes its quotes, then the whole line once more
        line = {k: scrub(v) if isinstance(v, str) else v for k, v in line.items()}
        return scrub(json.dumps(line, ensure_ascii=False, default=str))


_IN_REQUEST_MESSAGE = frozenset(("method", "route", "status"))  # already the message text


class TextFormatter(logging.Formatter):
    """``08:30:01.234 INFO  rescue.http  GET /api/v1/incidents 200  duration_ms=12.3 …``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-5s %(name)s  %(message)s",
                         datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items()
                          if v is not None and k not in _IN_REQUEST_MESSAGE)
        return scrub(f"{text}  {extras}" if extras else text)


def resolve_format(fmt: str, stream: IO[str] | None = None) -> str:
    """``auto`` is text on a terminal and JSON otherwise (a service's journal, a file)."""
    if fmt != "auto":
        return fmt
    stream = stream or sys.stderr
    return "text" if getattr(stream, "isatty", lambda: False)() else "json"


def formatter_for(fmt: str) -> logging.Formatter:
    return JsonFormatter() if resolve_format(fmt) == "json" else TextFormatter()


def configure(fmt: str = "auto", level: str = "INFO") -> logging.Handler:
    """Install (or re-point) the one root handler; idempotent, so every ``create_app`` may call
    it. The ``uvicorn`` loggers are sent to it as well, and uvicorn's access log is silenced:
    our request line replaces it (it printed raw paths with ``?token=`` query strings)."""
    root = logging.getLogger()
    handler = handler_installed()
    if handler is None:
        handler = logging.StreamHandler()
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
    handler.setFormatter(formatter_for(fmt))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per outbound call, URLs
    # alembic lists every plugin it loads at INFO (seven lines before the server starts)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    return handler


def handler_installed() -> logging.Handler | None:
    return next((h for h in logging.getLogger().handlers if h.get_name() == _HANDLER_NAME), None)


def uvicorn_log_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``uvicorn.run(log_config=...)``: uvicorn's own
    lines in our format from the first one (before the app factory runs), no access log."""
    formatter = ("dispatch.ops.logs.JsonFormatter" if resolve_format(fmt) == "json"
                 else "dispatch.ops.logs.TextFormatter")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ops": {"()": formatter}},
        "handlers": {_HANDLER_NAME: {"class": "logging.StreamHandler", "formatter": "ops",
                                     "stream": "ext://sys.stderr"}},
        "root": {"handlers": [_HANDLER_NAME], "level": level.upper()},
        "loggers": {
            "uvicorn": {"level": level.upper(), "propagate": True},
            "uvicorn.error": {"level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "alembic.runtime.plugins": {"level": "WARNING", "propagate": True},
        },
    }
