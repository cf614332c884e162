"""The soak checker: thresholds load per profile, failures are named in a readable table."""

from __future__ import annotations

from pathlib import Path

import pytest

from csx_core.cli import main
from csx_core.soak import check_summary, format_results, load_thresholds
from csx_core.soak.summary import SoakSummary
from tests.conftest import REPO_ROOT

THRESHOLDS = REPO_ROOT / "monitoring" / "soak_thresholds.yml"
HEALTHY = SoakSummary(
    profile="baseline",
    duration_s=120,
    frames_in=100_000,
    frames_dropped=10,
    frames_malformed=5000,
    malformed_injected=5000,
    reconnects=4,
    reconnect_time_p50_s=0.5,
    reconnect_time_p99_s=1.5,
    readiness_flaps=2,
    gap_ledger_entries=4,
    injected_outages=4,
    outages_without_gap_entry=0,
    tick_drift_p99_ms=20,
    queue_depth_max=100,
    queue_capacity=10_000,
    rss_start_mib=200,
    rss_max_mib=210,
    rss_end_mib=205,
    crashes=0,
    unhandled_exceptions=0,
)


def with_(**changes: object) -> SoakSummary:
    fields = {name: getattr(HEALTHY, name) for name in HEALTHY.__struct_fields__}
    return SoakSummary(**{**fields, **changes})


@pytest.mark.parametrize("profile", ["baseline", "overload"])
def test_healthy_run_passes(profile: str) -> None:
    results = check_summary(HEALTHY, load_thresholds(THRESHOLDS, profile))
    assert all(r.passed for r in results), format_results(results)


@pytest.mark.parametrize(
    ("change", "measure"),
    [
        ({"reconnect_time_p99_s": 7.0}, "reconnect_time_p99_s"),
        ({"outages_without_gap_entry": 1}, "outages_without_gap_entry"),
        ({"rss_end_mib": 240.0}, "rss_growth_ratio"),
        ({"unhandled_exceptions": 1}, "unhandled_exceptions"),
        ({"frames_in": 900, "frames_dropped": 0, "frames_malformed": 0}, "frames_in"),
    ],
)
def test_each_breach_is_named(change: dict[str, object], measure: str) -> None:
    results = check_summary(with_(**change), load_thresholds(THRESHOLDS, "baseline"))
    assert [r.threshold.measure for r in results if not r.passed] == [measure]
    table = format_results(results)
    assert table.splitlines()[1].startswith("FAIL")
    assert measure in table.splitlines()[1]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(HEALTHY.to_json())
    bad.write_bytes(with_(crashes=1).to_json())
    assert main(["soak", "check", str(good)]) == 0
    assert main(["soak", "check", str(bad)]) == 1
    assert "FAIL crashes" in capsys.readouterr().out.replace("  ", " ").replace("  ", " ")


def test_malformed_thresholds_name_the_measure(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("profiles:\n  baseline:\n    crashes: {max: lots}\n")
    with pytest.raises(ValueError, match=r"baseline.crashes.max"):
        load_thresholds(path, "baseline")
    with pytest.raises(ValueError, match="no profile 'nightly'"):
        load_thresholds(path, "nightly")


def test_unknown_measure_is_an_error() -> None:
    from csx_core.soak import Threshold

    with pytest.raises(KeyError, match="no measure"):
        check_summary(HEALTHY, [Threshold("coffee_cups", maximum=3)])


def test_the_thresholds_ship_inside_the_package_and_monitoring_links_to_them() -> None:
    from csx_core.soak import DEFAULT_THRESHOLDS

    package_dir = Path(__import__("csx_core.soak").soak.__file__).parent
    assert DEFAULT_THRESHOLDS.parent == package_dir  # package data, in an installed wheel too
    assert THRESHOLDS.resolve() == DEFAULT_THRESHOLDS.resolve()
