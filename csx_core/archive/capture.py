"""Raw WebSocket captures: which line format a file is in, and each line split into
(receive time in ns, raw frame).

Formats (gzip or plain, detected from the bytes, not the name):

- **timestamped frames** — ``<receive time> <raw frame JSON>`` per line: the hftbacktest
  and collect-binancefutures collectors, and ``csx record --raw``. The receive time is
  integer s, ms, µs or ns (told apart by digit count: 10, 13, 16 or 19 digits cover
  2001–2286 in every unit) or float seconds; anything else is ambiguous and needs
  ``ts_unit``.
- **cryptofeed logs** — ``<float s>: <raw frame>`` per frame (``*.ws.*``), with
  ``<ws url> <-> <ts>`` connection lines, and ``<url> -> <ts>: <body>`` REST responses
  (``*.http.*``, ``BINANCE_FUTURES.0``); ``configuration: {...}`` lines are metadata.

Errors name the file and line and quote at most ``QUOTE_CHARS`` characters: captures have
60 kB lines, which must never end up in a terminal.
"""

from __future__ import annotations

import enum
import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

QUOTE_CHARS = 24
SNIFF_BYTES = 1 << 18
SNIFF_LINES = 50
GZIP_MAGIC = b"\x1f\x8b"

TS_UNITS: dict[str, int] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
"""ns per unit, for ``ts_unit`` (``--ts-unit``)."""
MAX_NS = 2**63
_UNIT_BY_DIGITS = {10: "s", 13: "ms", 16: "us", 19: "ns"}

_TIMESTAMPED = re.compile(rb"^(\d+(?:\.\d+)?) [{\[]")
_CF_FRAME = re.compile(rb"^(\d+(?:\.\d+)?): [{\[]")
_CF_WS_HEADER = re.compile(rb"^wss?://\S+ <-> \d+(?:\.\d+)?\s*$")
_CF_HTTP = re.compile(rb"^(https?://\S+) -> (\d+(?:\.\d+)?): ")
_CF_CONFIG = re.compile(rb"^configuration: ")


class CaptureError(ValueError):
    """A capture that cannot be read as a whole (unknown format, ambiguous time unit)."""


class CaptureFormat(enum.Enum):
    TIMESTAMPED = "timestamped frames (<recv time> <frame>)"
    CRYPTOFEED = "cryptofeed log (<ts>: <frame>)"


class LineKind(enum.Enum):
    FRAME = "frame"  # a WebSocket frame (or an inline REST body without a URL)
    REST = "rest"  # a REST response body with its URL
    META = "meta"  # connection, configuration and blank lines
    BAD = "bad"


@dataclass(frozen=True)
class CaptureLine:
    kind: LineKind
    recv_ns: int = 0
    body: bytes = b""
    url: str = ""
    problem: str = ""


def quote(data: bytes) -> str:
    """A short, printable prefix of ``data`` for an error message."""
    text = data[:QUOTE_CHARS].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(data) > QUOTE_CHARS else ""))


def open_capture(path: Path, raw: IO[bytes]) -> IO[bytes]:
    """``raw`` (the file's bytes) decompressed if it starts with the gzip magic."""
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def _head_lines(path: Path) -> list[bytes]:
    with path.open("rb") as raw:
        stream = open_capture(path, raw)
        head = b""
        try:
            # Chunk by chunk, so a torn gzip (a collector killed mid-write) still shows its
            # first lines; the import then keeps every complete line before the tear.
            while len(head) < SNIFF_BYTES:
                chunk = stream.read(min(1 << 16, SNIFF_BYTES - len(head)))
                if not chunk:
                    break
                head += chunk
        except EOFError:
            if not head:
                raise CaptureError(f"{path}: unreadable (the gzip ends at once)") from None
        except OSError as exc:
            raise CaptureError(f"{path}: unreadable ({exc})") from None
    lines = head.split(b"\n")
    if len(head) == SNIFF_BYTES and lines:
        lines[-1] = lines[-1][:256]  # a cut line still has its prefix to look at
    return [line for line in lines[:SNIFF_LINES] if line.strip()]


def sniff(path: Path) -> CaptureFormat | None:
    """The capture format of ``path``, or ``None`` if it is not a capture."""
    try:
        lines = _head_lines(path)
    except (CaptureError, OSError):
        return None
    if not lines:
        return None
    cryptofeed = (_CF_FRAME, _CF_WS_HEADER, _CF_HTTP, _CF_CONFIG)
    if any(p.match(line) for line in lines for p in cryptofeed):
        return CaptureFormat.CRYPTOFEED
    if _TIMESTAMPED.match(lines[0]):
        return CaptureFormat.TIMESTAMPED
    return None


def unit_of(token: bytes) -> str | None:
    """The unit a receive time is written in, from its shape; ``None`` if ambiguous."""
    if b"." in token:
        return "s"
    return _UNIT_BY_DIGITS.get(len(token))


def detect_unit(path: Path) -> str:
    """The receive-time unit of a timestamped capture, from its first lines; raises
    ``CaptureError`` when a time fits no unit or the lines disagree."""
    seen: dict[str, int] = {}
    for number, line in enumerate(_head_lines(path), start=1):
        match = _TIMESTAMPED.match(line)
        if match is None:
            continue
        token = match[1]
        unit = unit_of(token)
        if unit is None:
            raise CaptureError(
                f"{path}:{number}: receive time {quote(token)} has {len(token)} digits, "
                "not 10 (s), 13 (ms), 16 (µs) or 19 (ns): unit ambiguous; pass --ts-unit"
            )
        seen.setdefault(unit, number)
    if len(seen) > 1:
        shown = ", ".join(f"{u} at line {n}" for u, n in seen.items())
        raise CaptureError(f"{path}: receive times mix units ({shown}); pass --ts-unit")
    if not seen:
        raise CaptureError(f"{path}: no `<receive time> <frame>` line in its first lines")
    return next(iter(seen))


def to_ns(token: bytes, unit: str) -> int:
    """A receive time in ``unit`` as integer ns, exactly (float seconds are not rounded
    through a binary float)."""
    whole, _, frac = token.partition(b".")
    scale = TS_UNITS[unit]
    if not frac:
        return int(whole) * scale
    digits = len(str(scale)) - 1  # decimal places that still name a whole ns
    kept = frac[:digits].ljust(digits, b"0") if digits else b"0"
    return int(whole) * scale + int(kept)


class LineParser:
    """Splits lines of one capture format; ``unit`` is the receive-time unit (timestamped
    frames; cryptofeed always writes float seconds). ``strict_unit``: a time whose shape
    says another unit is a bad line (the unit was detected, not given)."""

    def __init__(self, fmt: CaptureFormat, unit: str, *, strict_unit: bool) -> None:
        self.format, self.unit, self.strict_unit = fmt, unit, strict_unit

    def parse(self, line: bytes) -> CaptureLine:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            return CaptureLine(LineKind.META)
        if self.format is CaptureFormat.TIMESTAMPED:
            return self._frame(line, b" ", self.unit)
        if line[:1].isdigit():
            return self._frame(line, b": ", "s")
        if match := _CF_HTTP.match(line):
            recv_ns = to_ns(match[2], "s")
            if recv_ns >= MAX_NS:
                return CaptureLine(LineKind.BAD, problem="REST time overflows int64 ns")
            url = match[1].decode("ascii", errors="replace")
            return CaptureLine(LineKind.REST, recv_ns, line[match.end() :], url)
        if _CF_WS_HEADER.match(line) or _CF_CONFIG.match(line):
            return CaptureLine(LineKind.META)
        return CaptureLine(LineKind.BAD, problem=f"not a cryptofeed line: {quote(line)}")

    def _frame(self, line: bytes, sep: bytes, unit: str) -> CaptureLine:
        token, found, body = line.partition(sep)
        if not found or not token.replace(b".", b"", 1).isdigit():
            expected = "<recv time> <frame>" if sep == b" " else "<ts>: <frame>"
            return CaptureLine(LineKind.BAD, problem=f"not `{expected}`: {quote(line)}")
        if self.strict_unit and sep == b" " and unit_of(token) != unit:
            return CaptureLine(
                LineKind.BAD,
                problem=f"receive time {quote(token)} is not in {unit} like the file's first lines",
            )
        recv_ns = to_ns(token, unit)
        if recv_ns >= MAX_NS:
            return CaptureLine(
                LineKind.BAD, problem=f"receive time {quote(token)} {unit} overflows int64 ns"
            )
        return CaptureLine(LineKind.FRAME, recv_ns, body)
