"""Issue 19 item 4: errors are one line on stderr, never a traceback (``--debug`` shows it);
registry options may follow ``csx model``'s action; bad ``csx demo`` numbers are usage errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from csx_core.cli import build_parser, main
from csx_core.store.errors import StoreCorruption


def _csx() -> list[str]:
    script = Path(sys.executable).parent / "csx"
    return [str(script)] if script.exists() else [sys.executable, "-m", "csx_core.cli"]


def _raise_in_soak_check(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def fail(args: object) -> int:
        raise exc

    monkeypatch.setattr("csx_live.commands.soak._check", fail)


def test_missing_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CSX_DEBUG", raising=False)
    missing = tmp_path / "nope.json"
    assert main(["soak", "check", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("csx soak check: error: ")
    assert str(missing) in err


def test_project_error_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CSX_DEBUG", raising=False)
    _raise_in_soak_check(monkeypatch, StoreCorruption(tmp_path / "part.parquet", "bad digest"))
    assert main(["soak", "check", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err == f"csx soak check: error: {tmp_path / 'part.parquet'}: bad digest\n"


def test_debug_flag_reraises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CSX_DEBUG", raising=False)
    with pytest.raises(FileNotFoundError):
        main(["--debug", "soak", "check", str(tmp_path / "nope.json")])


def test_bugs_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only user-facing errors are shortened; a programming error keeps its traceback."""
    monkeypatch.delenv("CSX_DEBUG", raising=False)
    _raise_in_soak_check(monkeypatch, KeyError("bug"))
    with pytest.raises(KeyError):
        main(["soak", "check", "x.json"])


def test_keyboard_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CSX_DEBUG", raising=False)
    _raise_in_soak_check(monkeypatch, KeyboardInterrupt())
    assert main(["soak", "check", "x.json"]) == 130
    assert capsys.readouterr().err == ""


def test_subprocess_stderr_is_exactly_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CSX_DEBUG"}
    out = subprocess.run(
        [*_csx(), "soak", "check", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("csx soak check: error: ")


def test_model_options_after_the_action(tmp_path: Path) -> None:
    parser = build_parser()
    after = parser.parse_args(["model", "list", "--data-dir", str(tmp_path), "--model-name", "m"])
    assert (after.data_dir, after.model_name, after.tracking_uri) == (tmp_path, "m", None)
    before = parser.parse_args(["model", "--data-dir", str(tmp_path), "--model-name", "m", "list"])
    assert (before.data_dir, before.model_name) == (tmp_path, "m")
    promote = parser.parse_args(["model", "promote", "3", "--data-dir", str(tmp_path)])
    assert (promote.version, promote.data_dir) == ("3", tmp_path)
    rollback = parser.parse_args(["model", "--model-name", "m", "rollback"])
    assert (rollback.model_name, rollback.data_dir) == ("m", Path("data"))


def test_model_list_with_data_dir_after_the_action_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "list", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""  # no registry there yet: no versions


def test_model_list_missing_data_dir_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "list", "--data-dir", str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--symbols", "-3"),
        ("--symbols", "0"),
        ("--seconds", "0"),
        ("--seconds", "-5"),
        ("--speed", "0"),
        ("--port", "-1"),
        ("--exchange-port", "70000"),
    ],
)
def test_demo_rejects_bad_numbers_before_running(
    option: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def must_not_run(settings: object) -> int:
        raise AssertionError("the demo started")

    monkeypatch.setattr("csx_pipelines.demo.run_demo", must_not_run)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--data-dir", str(tmp_path / "d"), option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"csx demo: error: argument {option}: " in err
    assert "Traceback" not in err
    assert not (tmp_path / "d").exists()
