"""JSON-lines logging and the secret redactor (canary secrets must never reach the output)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from csx_live.logging import SecretRedactor, configure_logging

CANARY = "CANARY-7f3a9e-SECRET"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, SecretRedactor]]:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    redactor = configure_logging(level="DEBUG", stream=stream, secrets=[CANARY])
    yield stream, redactor
    for handler in list(root.handlers):
        if handler not in before[0]:
            root.removeHandler(handler)
    root.setLevel(before[1])


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_are_json_with_extras(captured: tuple[io.StringIO, SecretRedactor]) -> None:
    stream, _ = captured
    logging.getLogger("csx.test").info("hello %s", "world", extra={"shard": 3})
    (line,) = _lines(stream)
    assert line["msg"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "csx.test"
    assert line["shard"] == 3


def test_canary_is_redacted_everywhere(captured: tuple[io.StringIO, SecretRedactor]) -> None:
    stream, _ = captured
    log = logging.getLogger("csx.test")
    log.warning("key is %s", CANARY)
    log.info("plain " + CANARY, extra={"url": f"https://x/?k={CANARY}", "nested": {"a": CANARY}})
    try:
        raise RuntimeError(f"library echoed {CANARY} in its message")
    except RuntimeError:
        log.exception("call failed")
    text = stream.getvalue()
    assert CANARY not in text
    assert text.count("***") >= 5
    assert "RuntimeError" in _lines(stream)[-1]["exc"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "leak",
    [
        "https://hooks.slack.com/services/T00/B00/abcdefXYZ",
        "https://discord.com/api/webhooks/123/abcdefXYZ",
        "Authorization: Bearer abcdefXYZ123456",
        "api_key=abcdefXYZ",
        "sk-ant-api03-abcdefXYZ",
    ],
)
def test_secret_shapes_are_redacted_without_registration(leak: str) -> None:
    redacted = SecretRedactor().redact(f"before {leak} after")
    assert "abcdefXYZ" not in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after")


def test_registered_later_secret_is_redacted(
    captured: tuple[io.StringIO, SecretRedactor],
) -> None:
    stream, redactor = captured
    redactor.register("LATE-SECRET-42")
    logging.getLogger("csx.test").error("oops LATE-SECRET-42")
    assert "LATE-SECRET-42" not in stream.getvalue()
