"""LiveSettings: defaults, sources, validation naming the field, secrets from env only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from csx_live.config import (
    ConfigError,
    LiveSettings,
    Profile,
    Secret,
    dump_settings,
    load_settings,
    parse_shard,
)


def test_defaults_are_valid_and_frozen() -> None:
    settings = load_settings()
    assert settings.max_streams_per_connection == 200
    assert settings.profile is Profile.DEV
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_sources_layer_file_then_env_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "live.toml"
    file.write_text('[live]\nport = 9000\ntop_k = 5\nsymbols = ["btcusdt"]\n')
    settings = load_settings(
        file=file, env={"CSX_TOP_K": "7", "CSX_CADENCE_S": "2"}, overrides={"port": 9100}
    )
    assert (settings.port, settings.top_k, settings.cadence_s) == (9100, 7, 2)
    assert settings.symbols == ("BTCUSDT",)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"CSX_PORT": "70000"}, "port"),
        ({"CSX_PORT": "eighty"}, "port"),
        ({"CSX_WS_URL": "http://x"}, "ws_url"),
        ({"CSX_NOPE": "1"}, "nope"),
        ({"CSX_PROFILE": "staging"}, "profile"),
        ({"CSX_FAULTS": "slow_consumer", "CSX_PROFILE": "PROD"}, "faults"),
        ({"CSX_FAULTS": "explode"}, "faults"),
        ({"CSX_MAX_STREAMS_PER_CONNECTION": "5000"}, "max_streams_per_connection"),
        ({"CSX_EXIT_THRESHOLD": "0.9", "CSX_ENTER_THRESHOLD": "0.5"}, "exit_threshold"),
        ({"CSX_ALERT_THRESHOLD": "0"}, "alert_threshold"),
        ({"CSX_ENTER_THRESHOLD": "1.5"}, "enter_threshold"),
        ({"CSX_MIN_WARM_SHARE": "1.2"}, "min_warm_share"),
    ],
)
def test_bad_values_fail_naming_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert info.value.field == field


def test_unknown_file_key_is_rejected(tmp_path: Path) -> None:
    file = tmp_path / "live.toml"
    file.write_text("portt = 1\n")
    with pytest.raises(ConfigError, match="portt"):
        load_settings(file=file)


@pytest.mark.parametrize("key", ["webhook_urls", "binance_api_key", "anthropic_api_key"])
def test_secrets_are_refused_outside_the_environment(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match="secret"):
        load_settings(overrides={key: "x"})
    file = tmp_path / "live.toml"
    file.write_text(f'{key} = "x"\n')
    with pytest.raises(ConfigError, match="secret"):
        load_settings(file=file)


def test_secrets_come_from_env_and_never_print() -> None:
    canary = "https://hooks.slack.com/services/T000/B000/CANARY123"
    settings = load_settings(
        env={"CSX_WEBHOOK_URLS": canary, "CSX_BINANCE_API_KEY": "key-CANARY-456"}
    )
    assert settings.webhook_urls == (Secret(canary),)
    assert settings.webhook_urls[0].reveal() == canary
    printed = dump_settings(settings) + repr(settings) + str(settings.binance_api_key)
    assert "CANARY" not in printed
    assert json.loads(dump_settings(settings))["webhook_urls"] == ["***"]
    assert set(settings.secrets()) == {canary, "key-CANARY-456"}


def test_direct_construction_validates() -> None:
    with pytest.raises(ConfigError, match="cadence_s"):
        LiveSettings(cadence_s=0)
    with pytest.raises(ConfigError, match="cadence_s"):
        load_settings(env={"CSX_CADENCE_S": "0.5"})


def test_deployment_variables_are_understood() -> None:
    """The names the Kubernetes/compose manifests set (configmap, secret, statefulset)."""
    settings = load_settings(
        env={
            "CSX_MODEL_URI": "models:/csx-inplay@champion",
            "MLFLOW_TRACKING_URI": "http://csx-mlflow:5000",
            "CSX_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/one",
            "CSX_DATA_DIR": "/data",
            "CSX_SHARD_INDEX": "2",
            "CSX_SHARD_COUNT": "4",
            "CSX_PROFILE": "PROD",
        }
    )
    assert settings.model_source == "models:/csx-inplay@champion"
    assert settings.mlflow_tracking_uri == "http://csx-mlflow:5000"
    assert [s.reveal() for s in settings.webhook_urls] == [
        "https://hooks.slack.com/services/T/B/one"
    ]
    assert settings.sink_dir == "/data/live"
    assert (settings.shard_index, settings.shard_count) == (2, 4)


def test_empty_secret_values_mean_unset() -> None:
    settings = load_settings(env={"CSX_WEBHOOK_URL": "", "ANTHROPIC_API_KEY": ""})
    assert settings.webhook_urls == ()
    assert settings.anthropic_api_key is None


@pytest.mark.parametrize(("text", "parsed"), [("0/1", (0, 1)), ("3/4", (3, 4))])
def test_parse_shard(text: str, parsed: tuple[int, int]) -> None:
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("text", ["3", "a/b", "1/"])
def test_parse_shard_rejects_garbage(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_shard_index_must_be_below_the_count() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={"shard_index": 4, "shard_count": 4})
    assert info.value.field == "shard_index"
