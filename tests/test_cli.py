"""The csx console script answers --help and --version and lists its subcommands."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint

import pytest

from csx_core import __version__
from csx_core.cli import COMMAND_GROUP, Command, build_parser, main, registered_commands
from tests.conftest import REPO_ROOT

COMMAND_PACKAGES = ("csx_live", "csx_pipelines")


def declared_commands() -> dict[str, str]:
    """``name -> "module:COMMAND"`` as ``pyproject.toml`` declares them."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"][COMMAND_GROUP])


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "csx_core.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"csx {__version__}"


def test_help_lists_every_registered_subcommand() -> None:
    help_text = build_parser().format_help()
    for name in declared_commands():
        assert f"\n    {name} " in help_text or f"\n    {name}\n" in help_text, name


def test_installed_entry_points_match_pyproject() -> None:
    """The CLI reads the installed metadata, not pyproject.toml: a stale environment would
    silently miss (or keep) a command. Fix by re-syncing: ``./csx.sh check``."""
    from importlib.metadata import entry_points

    installed = {e.name: e.value for e in entry_points(group=COMMAND_GROUP)}
    assert installed == declared_commands(), "re-sync the environment: ./csx.sh check"


def test_every_command_module_is_registered_once() -> None:
    modules = sorted(
        f"{package}.commands.{path.stem}"
        for package in COMMAND_PACKAGES
        for path in (REPO_ROOT / package / "commands").glob("*.py")
        if path.name != "__init__.py"
    )
    targets = sorted(value.split(":")[0] for value in declared_commands().values())
    missing = [f'{m.rsplit(".", 1)[1]} = "{m}:COMMAND"' for m in modules if m not in targets]
    assert missing == [], f'add under [project.entry-points."{COMMAND_GROUP}"]: {missing}'
    assert targets == modules
    assert all(value.endswith(":COMMAND") for value in declared_commands().values())


def test_every_registered_command_is_named_by_its_entry_point() -> None:
    commands = registered_commands()
    assert [c.name for c in commands] == sorted(declared_commands())


def _noop(args: argparse.Namespace) -> int:
    return 0


def _fake_points(monkeypatch: pytest.MonkeyPatch, *points: tuple[str, object]) -> None:
    fakes = [EntryPoint(name, f"fake_commands:{name}", COMMAND_GROUP) for name, _ in points]
    objects = dict(points)
    monkeypatch.setattr(EntryPoint, "load", lambda self: objects[self.name])
    monkeypatch.setattr("csx_core.cli.entry_points", lambda group: fakes)


def test_registered_commands_run_and_sort_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    zed = Command(name="zed", help="z", configure=lambda p: None, run=lambda a: 7)
    abc = Command(name="abc", help="a", configure=lambda p: None, run=_noop)
    _fake_points(monkeypatch, ("zed", zed), ("abc", abc))
    assert [c.name for c in registered_commands()] == ["abc", "zed"]
    assert main(["zed"]) == 7


@pytest.mark.parametrize(
    "bad",
    [
        object(),
        Command(name="other", help="", configure=lambda p: None, run=_noop),
    ],
    ids=["not-a-command", "misnamed"],
)
def test_a_bad_entry_point_is_a_loud_error(monkeypatch: pytest.MonkeyPatch, bad: object) -> None:
    _fake_points(monkeypatch, ("cmd", bad))
    with pytest.raises(TypeError, match="entry point cmd = fake_commands:cmd"):
        registered_commands()


def test_a_name_registered_twice_is_a_loud_error(monkeypatch: pytest.MonkeyPatch) -> None:
    one = Command(name="cmd", help="", configure=lambda p: None, run=_noop)
    fakes = [EntryPoint("cmd", f"dist{i}:COMMAND", COMMAND_GROUP) for i in (1, 2)]
    monkeypatch.setattr(EntryPoint, "load", lambda self: one)
    monkeypatch.setattr("csx_core.cli.entry_points", lambda group: fakes)
    with pytest.raises(TypeError, match="registered twice"):
        registered_commands()


def test_contracts_command_prints_every_contract(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["contracts"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["contract"] for line in lines} >= {"Trade", "FeatureSnapshot", "RankEvent"}


def test_no_subcommand_prints_help_and_fails(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "usage: csx" in capsys.readouterr().out
