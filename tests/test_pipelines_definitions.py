"""The Dagster code location loads."""

from __future__ import annotations

import dagster as dg


def test_definitions_load() -> None:
    from csx_pipelines.definitions import defs

    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
