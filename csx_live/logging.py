"""Structured JSON-lines logging with a secret-redacting filter.

Every record leaves as one JSON object per line (``ts`` ISO-8601 UTC, ``level``, ``logger``,
``msg``, ``exc`` and any ``extra=`` fields). The :class:`SecretRedactor` filter rewrites the
message, its arguments, extra fields and exception/stack text before any handler sees them:
registered secrets (exact values from the settings) and well-known secret shapes (webhook
URLs, bearer tokens, ``api_key=...``, Anthropic keys) become ``***``. A secret that leaks
through an exception message from a library is therefore redacted too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "***"

_PATTERNS = (
    re.compile(r"https?://hooks\.slack\.com/[^\s\"'<>]+"),
    re.compile(r"https?://(?:[\w.-]+\.)?discord(?:app)?\.com/api/webhooks/[^\s\"'<>]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|apikey|token|secret|signature|password)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+"
    ),
    re.compile(r"(?i)(X-MBX-APIKEY[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
)

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class SecretRedactor(logging.Filter):
    """Redacts registered secret values and secret-shaped substrings from log records."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.register(*secrets)

    def register(self, *secrets: str) -> None:
        """Add exact secret values (shorter than 4 characters are ignored: too common)."""
        with self._lock:
            merged = set(self._secrets) | {s for s in secrets if len(s) >= 4}
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = self.redact(text.rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = self._redact_value(value)
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        if isinstance(value, dict):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        return self.redact(str(value))


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group(1) if match.re.groups else ""
    return f"{prefix}{REDACTED}"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record; non-JSON extras are stringified."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out:
                out[key] = value
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(
    *, level: str = "INFO", stream: TextIO | None = None, secrets: Iterable[str] = ()
) -> SecretRedactor:
    """Route the root logger to JSON lines on ``stream`` (stderr by default) through one
    redactor, which is returned so more secrets can be registered later."""
    redactor = SecretRedactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_csx_json", False):
            root.removeHandler(old)
    handler._csx_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return redactor
