"""Settings, run-time fault switches and injection counters of the fake exchange.

``ExchangeConfig`` is fixed for a server's life. ``Faults`` can change while it runs (the
admin endpoint and the soak use it): rates are fractions in [0, 1], durations seconds.
``Counters`` records what was injected so a soak can compare injected outages with the gaps
its client saw.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ExchangeConfig:
    """Static settings. ``speed=None`` replays as fast as the clients read (``max``).

    Defaults follow Binance USD-M: ping every 180 s, disconnect after 600 s without a pong,
    10 incoming messages per second, 1024 streams per connection, 24 h connection life and a
    2400 weight-per-minute REST limit. ``ban_s`` is the 418 ban after ignoring a 429.
    ``await_clients``: the replay starts only once that many connections have a stream they
    deliver (0 = at once), so a ``max``-speed replay is not over before a client connects.
    ``rebase_time`` shifts every replayed time by whole seconds so the first event falls in
    the current wall-clock second.
    ``fast_forward_s``: the first seconds of event time replay as with ``speed=None`` (a
    client's warm-up history, as fast as it reads), the rest at ``speed``.

    Per-connection buffering is small and bounded, so a client that cannot keep up shows as
    back-pressure or a disconnect, never as seconds of frames stuck between the replay and
    the client: ``send_queue_frames`` frames in the outbox (a timed replay closes a
    connection whose outbox is full, code 1008 "slow consumer", counted; a ``max`` replay
    waits for it), at most ``outbox.TRANSPORT_HIGH_WATER`` bytes in the transport, and a
    kernel send buffer of ``socket_send_buffer_bytes`` (``SO_SNDBUF``, which the kernel
    doubles; 0 leaves the OS default, autotuned up to ``net.ipv4.tcp_wmem``). 512 frames are
    ~0.2 s of what one connection of the runner reads under overload on 2 cores (~2,300
    frames/s) and ~1 s at the 500 frames/s of the ``slow_send_s`` fault. Measured before
    (issue 19): a 65,536-frame outbox, ~3 MB unsent in the exchange's kernel buffer and
    1.8-3.4 MB in the runner's, per connection; injected cuts reached the runner 1-21 s late
    and stalls were hidden behind the backlog.
    """

    host: str = "127.0.0.1"
    port: int = 0
    speed: float | None = 1.0
    loop: bool = False
    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    max_incoming_per_s: int = 10
    max_streams: int = 1024
    max_lifetime_s: float = 86_400.0
    send_queue_frames: int = 512
    socket_send_buffer_bytes: int = 64 * 1024
    rest_weight_limit: int = 2400
    ban_s: float = 120.0
    admin: bool = True
    seed: int = 0
    await_clients: int = 0
    rebase_time: bool = False
    fast_forward_s: float = 0.0

    def __post_init__(self) -> None:
        if self.speed is not None and not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"speed must be > 0 or None (max), got {self.speed}")
        for name in ("ping_interval_s", "pong_timeout_s", "max_lifetime_s", "ban_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if not (math.isfinite(self.fast_forward_s) and self.fast_forward_s >= 0):
            raise ValueError(f"fast_forward_s must be >= 0 s, got {self.fast_forward_s}")
        if self.await_clients < 0:
            raise ValueError("await_clients must be >= 0")
        for name in ("max_incoming_per_s", "max_streams", "send_queue_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.socket_send_buffer_bytes < 0:
            raise ValueError("socket_send_buffer_bytes must be >= 0 (0 = the OS default)")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")


_RATES = ("malformed_rate", "oversized_rate", "rest_5xx_rate")


@dataclass(kw_only=True)
class Faults:
    """Switches that stay on until changed. ``max_lifetime_s`` (when set) overrides the
    config's connection lifetime for open and new connections, which forces a rollover."""

    drop_every_s: float | None = None
    malformed_rate: float = 0.0
    oversized_rate: float = 0.0
    oversized_bytes: int = 2_000_000
    slow_send_s: float = 0.0
    max_lifetime_s: float | None = None
    rest_5xx_rate: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Validate every key first, then apply (all or nothing). Actions are not stored here."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault switch(es): {sorted(unknown)}")
        trial = dataclasses.replace(self, **changes)
        trial.validate()
        for key in changes:
            setattr(self, key, getattr(trial, key))

    def validate(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        for name in ("drop_every_s", "max_lifetime_s"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"{name} must be > 0 s or null, got {value!r}")
        if not isinstance(self.slow_send_s, int | float) or self.slow_send_s < 0:
            raise ValueError(f"slow_send_s must be >= 0, got {self.slow_send_s!r}")
        if not isinstance(self.oversized_bytes, int) or self.oversized_bytes < 1:
            raise ValueError(
                f"oversized_bytes must be a positive int, got {self.oversized_bytes!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Counters:
    """Monotone counts of what the server did and injected, plus a bounded outage log
    (wall-clock ns and replay position in event-time ns) for gap comparison."""

    connections_opened: int = 0
    connections_closed: int = 0
    frames_sent: int = 0
    events_replayed: int = 0
    replay_loops: int = 0
    drops_injected: int = 0
    connections_dropped: int = 0
    stalls_injected: int = 0
    frames_stalled: int = 0
    malformed_injected: int = 0
    oversized_injected: int = 0
    malformed_sent: int = 0
    """Injected malformed/oversized frames written to the socket's transport. The client can
    still lose them with its link: in kernel buffers at a cut, in the transport's buffer
    when the client resets the link, or read and discarded while the client closes."""
    malformed_discarded: int = 0
    """Injected malformed/oversized frames never written, or thrown away with the transport
    buffer by a cut of this exchange (see ``outbox``)."""
    malformed_queued: int = 0
    """Injected malformed/oversized frames waiting to be written, at any moment
    ``malformed_injected + oversized_injected == malformed_sent + malformed_discarded +
    malformed_queued``."""
    slow_sends: int = 0
    lifetime_closes: int = 0
    ping_timeouts: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    rate_limit_disconnects: int = 0
    slow_consumer_disconnects: int = 0
    control_errors: int = 0
    rest_requests: int = 0
    rest_429: int = 0
    rest_418: int = 0
    rest_5xx: int = 0
    rest_429_storms: int = 0
    outages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))

    def discard_queued(self, n: int) -> None:
        """``n`` queued bad frames will never be written."""
        self.malformed_queued -= n
        self.malformed_discarded += n

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["outages"] = list(self.outages)
        return out
