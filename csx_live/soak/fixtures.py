"""What a soak replays and serves when it is not given its own: a simulated market in the
event store and a small, real, verified model package (LightGBM on the engine's features,
trained on noise: the soak tests the runtime, not the model's skill). Both are cached in the
soak's data directory and reused by later runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

MODEL_SEED = 11


def ensure_market(store_dir: Path, *, symbols: int = 50, seed: int = 7) -> Path:
    """A one-day simulated market of ``symbols`` symbols at ``store_dir`` (kept if present).
    Mark prices come every second, as on the ``@markPrice@1s`` streams the runner subscribes
    to. With the 3 s default, /market is silent after two boundaries in three until the next
    trade, and the runner's route merge holds those ticks until it learns that /market has
    passed the boundary (with the exchange's whole-second rebase as well, a 75 s soak's p99
    tick drift went from 185-204 ms, against a 250 ms bound, to 54 ms)."""
    from csx_core.sim import SimConfig, write_to_store
    from csx_core.store import EventStore

    store = EventStore(store_dir)
    if not store.kinds():
        write_to_store(
            SimConfig(
                seed=seed, start=date(2026, 1, 1), days=1, n_symbols=symbols, mark_interval_s=1
            ),
            store,
        )
    return store_dir


def ensure_model(pkg_dir: Path) -> Path:
    """A verified model package at ``pkg_dir`` (written once, then reused)."""
    from csx_core.ml.package import MANIFEST
    from csx_core.ml.synthetic import noise_package

    if (pkg_dir / MANIFEST).is_file():
        return pkg_dir
    return noise_package(
        pkg_dir,
        seed=MODEL_SEED,
        training={"data_digest": f"soak-noise-{MODEL_SEED}", "labels": {"horizon_s": 60}},
    )
