"""Pipeline defaults that more than one entry point shares (kept free of heavy imports, so
the CLI can show them in ``--help``)."""

LABEL_THRESHOLD_BPS = 25.0
"""The pipeline's label threshold (bps of best move net of costs that makes a row in play):
the default of every training entry point (the Dagster ``TrainingConfig``, ``csx train``, the
demo), which always pass it to ``LabelConfig`` explicitly. ``LabelConfig``'s own default
(10 bps) is the library's, for callers that build labels directly; the pipeline never
relies on it."""
