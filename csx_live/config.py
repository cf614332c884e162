"""Typed, frozen, validated settings of the live runner, resolved once at start.

Sources, later wins: defaults < TOML file (``[live]`` table or top level) < environment
``CSX_<FIELD>`` < explicit overrides (the CLI). Unknown keys in any source are rejected, a
bad value fails with the field named, and secrets (webhook URLs, API keys) are read from the
environment only — a secret in a file or on the command line is an error, so it never lands
in shell history or a config repository.

Units are in the field names: ``_s`` seconds, ``_bps`` basis points.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from csx_core.features.config import valid_cadence

ENV_PREFIX = "CSX_"
REDACTED = "***"

# Client-side faults for DEV overload tests (the exchange-side faults live in the fake
# exchange): ``slow_consumer`` makes the tick loop pause 50 ms after every event batch, so
# the bounded queue overflows and its drop-oldest policy and counters can be observed.
KNOWN_FAULTS = frozenset({"slow_consumer"})


class ConfigError(ValueError):
    """A setting is unknown, malformed or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Profile(enum.StrEnum):
    """DEV may fall back to the baseline scorer and allows fault flags; PROD needs a
    verified champion model before it reports ready."""

    DEV = "DEV"
    PROD = "PROD"


@dataclass(frozen=True)
class Secret:
    """A value that never prints: ``repr``/``str`` are redacted; ``reveal()`` is explicit."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"


# Environment variables that hold secrets; nothing else may carry them.
SECRET_ENV = {
    "webhook_urls": "CSX_WEBHOOK_URLS",  # comma-separated Slack/Discord webhook URLs
    "binance_api_key": "CSX_BINANCE_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
}
# Also accepted (the deployment manifests use them): a single webhook URL, and the model URI.
SECRET_ALIASES = {"CSX_WEBHOOK_URL": "webhook_urls"}
ENV_ALIASES = {"CSX_MODEL_URI": "model_source"}
# CSX_ variables other commands read; ``csx live`` ignores them (CSX_DATA_DIR sets the
# default sink_dir, ``<CSX_DATA_DIR>/live``).
SHARED_ENV = frozenset(
    {"CSX_DATA_DIR", "CSX_HOME", "CSX_LOG_LEVEL", "CSX_PARTITIONS_START", "CSX_PARTITIONS_END"}
)


@dataclass(frozen=True, kw_only=True)
class LiveSettings:
    """Everything ``csx live`` needs; construct through :func:`load_settings`."""

    profile: Profile = Profile.DEV
    host: str = "127.0.0.1"
    port: int = 8080
    ws_url: str = "wss://fstream.binance.com"
    rest_url: str = "https://fapi.binance.com"
    heartbeat_s: float = 0.0
    symbols: tuple[str, ...] = ()
    quote_asset: str = "USDT"
    channels: tuple[str, ...] = ("bookTicker", "aggTrade", "markPrice@1s", "kline_1m")
    max_streams_per_connection: int = 200
    shard_index: int = 0
    shard_count: int = 1
    universe_refresh_s: float = 3600.0
    cadence_s: int = 1
    top_k: int = 20
    enter_threshold: float = 0.0
    exit_threshold: float = 0.0
    alert_threshold: float = 0.6
    alert_cooldown_s: float = 300.0
    tick_fallback_s: float = 2.0
    max_tick_lag_s: float = 2.0
    """Shed due ticks (counted in ``csx_ticks_skipped_total``) while the runner is more than
    this far behind its feed (receive time of the event that releases them vs the newest
    frame), instead of ticking every second late; 0 = never shed."""
    min_warm_share: float = 0.8
    """``/readyz`` reports "warming up: N of M symbols warm" until this share of the ticked
    symbols has warm features (symbols still warming up are never ranked or alerted)."""
    queue_bound: int = 200_000
    stale_stream_s: float = 30.0
    data_fresh_s: float = 10.0
    rollover_after_s: float = 23.0 * 3600.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    backoff_reset_after_s: float = 60.0
    rest_timeout_s: float = 10.0
    rest_max_concurrency: int = 4
    rest_max_queue: int = 64
    rest_weight_budget_1m: int = 2000
    graceful_timeout_s: float = 10.0
    model_source: str = ""
    expected_package_digest: str = ""
    """SHA-256 of the package's MANIFEST.json that ``model_source`` must have ("" = unpinned;
    an MLflow version is always checked against the digest recorded with it)."""
    mlflow_tracking_uri: str = ""
    sink_dir: str = "data/live"
    webhook_timeout_s: float = 5.0
    webhook_max_pending: int = 100
    faults: tuple[str, ...] = ()
    explain: bool = True
    """Explain symbols entering the top-K (and alerts) off the hot path: Anthropic when
    ``ANTHROPIC_API_KEY`` is set, the deterministic template otherwise."""
    explain_model: str = "claude-haiku-4-5"
    explain_timeout_s: float = 8.0
    challenger_source: str = ""
    """A second model (``models:/csx-inplay@challenger`` or a package directory) scored on
    the same ticks as a shadow: judged by live outcomes, never ranked or alerted."""
    outcome_window_s: int = 3600
    """Rolling window (tick time) of the live Brier / ECE / top-K hit rate."""
    outcome_refresh_s: float = 5.0
    """How often the live outcome metrics are recomputed (off the event loop)."""
    http_header_timeout_s: float = 10.0
    """Close a connection that has not sent complete request headers within this time."""
    http_keepalive_timeout_s: float = 15.0
    http_max_connections: int = 4096
    """Open HTTP connections; beyond it the oldest one still sending headers is evicted,
    or the new one is closed at once."""
    http_max_sse_clients: int = 64
    """``/api/stream`` clients; beyond it the stream answers 503."""
    webhook_urls: tuple[Secret, ...] = ()
    binance_api_key: Secret | None = None
    anthropic_api_key: Secret | None = None

    def __post_init__(self) -> None:
        _require(1 <= self.port <= 65535, "port", f"must be in 1..65535, got {self.port}")
        for name in ("ws_url", "rest_url"):
            url = getattr(self, name)
            schemes = ("ws://", "wss://") if name == "ws_url" else ("http://", "https://")
            _require(url.startswith(schemes), name, f"must start with {schemes}, got {url!r}")
            _require(not url.endswith("/"), name, "must not end with '/'")
        for sym in self.symbols:
            _require(sym.isalnum() and sym.isupper(), "symbols", f"bad symbol {sym!r}")
        _require(bool(self.quote_asset), "quote_asset", "must not be empty")
        _require(self.shard_count >= 1, "shard_count", "must be >= 1")
        _require(
            0 <= self.shard_index < self.shard_count,
            "shard_index",
            f"must be in 0..{self.shard_count - 1}, got {self.shard_index}",
        )
        _require(bool(self.channels), "channels", "at least one channel is needed")
        _require(self.explain_timeout_s > 0, "explain_timeout_s", "must be > 0")
        _require(self.outcome_window_s > 0, "outcome_window_s", "must be > 0")
        _require(self.outcome_refresh_s > 0, "outcome_refresh_s", "must be > 0")
        _require(
            1 <= self.max_streams_per_connection <= 1024,
            "max_streams_per_connection",
            "must be in 1..1024 (the exchange's hard limit)",
        )
        for name in (
            "universe_refresh_s",
            "stale_stream_s",
            "data_fresh_s",
            "rollover_after_s",
            "backoff_base_s",
            "backoff_cap_s",
            "backoff_reset_after_s",
            "rest_timeout_s",
            "graceful_timeout_s",
            "webhook_timeout_s",
            "alert_cooldown_s",
            "tick_fallback_s",
        ):
            value = getattr(self, name)
            _require(value > 0, name, f"must be > 0 s, got {value}")
        _require(
            valid_cadence(self.cadence_s),
            "cadence_s",
            "must be whole seconds in 1..60, or whole minutes up to 3600 that divide a day "
            "(the bar cadence a model was trained on)",
        )
        _require(self.heartbeat_s >= 0, "heartbeat_s", "must be >= 0 s (0 = off)")
        _require(
            0.0 <= self.min_warm_share <= 1.0,
            "min_warm_share",
            f"must be a share in [0, 1], got {self.min_warm_share}",
        )
        _require(
            0 <= self.max_tick_lag_s < float("inf"),
            "max_tick_lag_s",
            f"must be a finite number >= 0 s (0 = never shed ticks), got {self.max_tick_lag_s}",
        )
        _require(self.rollover_after_s < 24 * 3600, "rollover_after_s", "must be < 24 h")
        _require(self.backoff_cap_s >= self.backoff_base_s, "backoff_cap_s", "must be >= base")
        for name in ("top_k", "queue_bound", "rest_max_concurrency", "rest_max_queue"):
            _require(getattr(self, name) >= 1, name, "must be >= 1")
        _require(self.webhook_max_pending >= 1, "webhook_max_pending", "must be >= 1")
        _require(
            0 < self.rest_weight_budget_1m <= 2400, "rest_weight_budget_1m", "must be in 1..2400"
        )
        for name in ("enter_threshold", "exit_threshold"):
            _require(0.0 <= getattr(self, name) <= 1.0, name, "must be a probability in [0, 1]")
        # The alerter needs a positive threshold (an alert at p = 0 is every row).
        _require(0.0 < self.alert_threshold <= 1.0, "alert_threshold", "must be in (0, 1]")
        _require(
            self.exit_threshold <= self.enter_threshold,
            "exit_threshold",
            "must be <= enter_threshold (hysteresis)",
        )
        for name in ("http_header_timeout_s", "http_keepalive_timeout_s"):
            value = getattr(self, name)
            _require(value > 0, name, f"must be > 0 s, got {value}")
        for name in ("http_max_connections", "http_max_sse_clients"):
            _require(getattr(self, name) >= 1, name, "must be >= 1")
        unknown = sorted(set(self.faults) - KNOWN_FAULTS)
        _require(not unknown, "faults", f"unknown fault flags {unknown}")
        _require(
            not self.faults or self.profile is Profile.DEV,
            "faults",
            "fault flags are allowed only in the DEV profile",
        )

    def redacted(self) -> dict[str, object]:
        """The resolved settings as JSON-able data with every secret replaced."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                out[f.name] = REDACTED
            elif isinstance(value, tuple) and value and isinstance(value[0], Secret):
                out[f.name] = [REDACTED] * len(value)
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            elif isinstance(value, enum.Enum):
                out[f.name] = value.value
            else:
                out[f.name] = value
        return out

    def secrets(self) -> list[str]:
        """Every secret value, for registration with the log redactor."""
        found = [s.reveal() for s in self.webhook_urls]
        found += [s.reveal() for s in (self.binance_api_key, self.anthropic_api_key) if s]
        return [s for s in found if s]


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ConfigError(field, message)


_HINTS = typing.get_type_hints(LiveSettings)
_PLAIN_FIELDS = {f.name for f in dataclasses.fields(LiveSettings)} - set(SECRET_ENV)


def _coerce(name: str, raw: object) -> object:
    """Turn a TOML/env/CLI value into the field's type, or fail naming the field."""
    hint = _HINTS[name]
    try:
        if typing.get_origin(hint) is tuple:
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple):
                raise TypeError(f"expected a list, got {type(raw).__name__}")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "0", "false", "no"}:
                return raw.lower() in {"1", "true", "yes"}
            raise TypeError(f"expected a boolean, got {raw!r}")
        if hint is int:
            if isinstance(raw, bool | float):
                raise TypeError(f"expected an integer, got {raw!r}")
            return int(raw)  # type: ignore[call-overload]
        if hint is float:
            if isinstance(raw, bool):
                raise TypeError(f"expected a number, got {raw!r}")
            return float(raw)  # type: ignore[arg-type]
        if hint is Profile:
            return Profile(str(raw).upper())
        if hint is str:
            if not isinstance(raw, str):
                raise TypeError(f"expected a string, got {type(raw).__name__}")
            return raw
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, str(exc)) from None
    raise ConfigError(name, f"unsupported type {hint}")  # pragma: no cover - guarded by tests


def _check_keys(source: str, keys: typing.Iterable[str]) -> None:
    for key in keys:
        if key in SECRET_ENV:
            raise ConfigError(key, f"is a secret: set it in the environment ({SECRET_ENV[key]})")
        if key not in _PLAIN_FIELDS:
            raise ConfigError(key, f"unknown setting (from {source})")


def load_settings(
    *,
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> LiveSettings:
    """Resolve settings from defaults, an optional TOML file, ``env`` and ``overrides``.

    ``env`` is passed in (the CLI passes ``os.environ``) so tests and callers control it.
    ``CSX_``-prefixed variables that match no field are rejected, except the secrets.
    """
    env = env or {}
    values: dict[str, object] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("file", f"cannot read {file}: {exc}") from None
        table = data.get("live", data)
        if not isinstance(table, dict):
            raise ConfigError("live", "must be a table")
        _check_keys(str(file), table)
        values.update({k: _coerce(k, v) for k, v in table.items()})
    secret_vars = set(SECRET_ENV.values()) | set(SECRET_ALIASES)
    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX) or var in secret_vars or var in SHARED_ENV:
            continue
        key = ENV_ALIASES.get(var) or var.removeprefix(ENV_PREFIX).lower()
        _check_keys(f"environment {var}", [key])
        values[key] = _coerce(key, raw)
    if "mlflow_tracking_uri" not in values and env.get("MLFLOW_TRACKING_URI"):
        values["mlflow_tracking_uri"] = env["MLFLOW_TRACKING_URI"]
    if "sink_dir" not in values and env.get("CSX_DATA_DIR"):
        values["sink_dir"] = str(Path(env["CSX_DATA_DIR"]) / "live")
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        _check_keys("command line", given)
        values.update({k: _coerce(k, v) for k, v in given.items()})
    if "symbols" in values:
        values["symbols"] = tuple(str(s).upper() for s in values["symbols"])  # type: ignore[attr-defined]
    hooks = ",".join(env.get(v, "") for v in (SECRET_ENV["webhook_urls"], *SECRET_ALIASES))
    values["webhook_urls"] = tuple(Secret(u.strip()) for u in hooks.split(",") if u.strip())
    for name in ("binance_api_key", "anthropic_api_key"):
        raw_secret = env.get(SECRET_ENV[name], "")
        values[name] = Secret(raw_secret) if raw_secret else None
    return LiveSettings(**values)  # type: ignore[arg-type]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` (the CLI's ``--shard``) → (index, count)."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return int(index), int(count)
    except ValueError:
        raise ConfigError("shard", f"expected INDEX/COUNT like 0/4, got {text!r}") from None


def dump_settings(settings: LiveSettings) -> str:
    """The ``--dry-run`` output: the resolved configuration, secrets redacted, as JSON."""
    return json.dumps(settings.redacted(), indent=2, sort_keys=True)
