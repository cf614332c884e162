"""The ``csx`` subcommands that run the live runtime: one module per command, each exposing
``COMMAND`` and registered by one line under ``[project.entry-points."csx.commands"]`` in
``pyproject.toml``."""
