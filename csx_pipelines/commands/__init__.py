"""The ``csx`` subcommands of offline data and ML jobs (simulate, import, store, replay,
backtest, models, the UIs): one module per command, each exposing ``COMMAND`` and registered
by one line under ``[project.entry-points."csx.commands"]`` in ``pyproject.toml``."""
