"""Read-only commands refuse a path that does not exist: one line naming it, exit 2, and
nothing created (no silent empty success)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csx_core.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["store", "stats", "--store", "{missing}"],
        ["store", "verify", "--store", "{missing}"],
        ["store", "query", "--store", "{missing}", "SELECT 1"],
        ["replay", "--store", "{missing}", "--out", "{tmp}/out"],
    ],
)
def test_missing_store_is_a_usage_error(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-store"
    args = [a.format(missing=missing, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such directory" in err
    assert "Traceback" not in err
    assert not missing.exists()


def test_replay_cadence_out_of_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--store", str(tmp_path), "--cadence", "7200"])
    assert exc.value.code == 2
    assert "--cadence: 7200 is not a cadence" in capsys.readouterr().err


def test_model_list_on_a_mistyped_data_dir_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "dta"
    assert main(["model", "--data-dir", str(typo), "list"]) == 2
    assert f"--data-dir {typo}: no such directory" in capsys.readouterr().err
    assert not typo.exists()


def test_store_query_refuses_a_file_that_differs_from_its_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from csx_core.contracts import Trade
    from csx_core.store import EventStore

    store = EventStore(tmp_path / "events")
    t0 = 1_723_161_600_000_000_000
    store.write_events(
        [
            Trade(
                symbol="BTCUSDT",
                ts_event=t0 + i * 10**9,
                ts_recv=t0 + i * 10**9,
                trade_id=i,
                price=100.0 + i,
                qty=1.0,
                buyer_is_maker=False,
            )
            for i in range(50)
        ]
    )
    argv = ["store", "query", "--store", str(store.root), "SELECT count(*) FROM trade"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "50"
    (path,) = store.committed_files("trade")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, different bytes: only the SHA-256 can tell
    path.write_bytes(bytes(data))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: SHA-256 differs from the manifest" in captured.err
