"""The learning half of the core: costs, labels, purged splits, models, calibration,
backtest, model package. ``train_and_evaluate`` (in ``csx_core.ml.train``) runs it all."""
