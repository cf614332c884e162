"""Walk-forward splits: purging, embargo, disjointness, and an audit that catches leaks."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.ml.frame import NS_PER_S
from csx_core.ml.splits import (
    SEGMENTS,
    LeakageError,
    SplitConfig,
    audit_folds,
    walk_forward_folds,
)

HORIZON_NS = 60 * NS_PER_S


def grid(n_ticks: int, n_symbols: int = 3) -> tuple[np.ndarray, np.ndarray]:
    ts = np.repeat(np.arange(n_ticks, dtype=np.int64) * NS_PER_S, n_symbols)
    return ts, ts + HORIZON_NS


def test_folds_are_ordered_purged_and_embargoed() -> None:
    ts, end = grid(5000)
    cfg = SplitConfig(n_folds=2, embargo_s=30)
    folds = walk_forward_folds(ts, end, cfg)
    assert len(folds) == 2
    for fold in folds:
        b = fold.boundaries
        for j, name in enumerate(SEGMENTS):
            idx = fold.segment(name)
            assert len(idx) > 0, name
            assert end[idx].max() < b[j + 1], f"{name} labels reach the next segment"
            if j > 0:
                assert ts[idx].min() >= b[j] + 30 * NS_PER_S, f"{name} ignores the embargo"
    assert folds[0].test.max() < folds[1].test.min()
    assert audit_folds(folds, ts, end).ok


def test_training_expands_and_test_blocks_tile_the_tail() -> None:
    ts, end = grid(6000, 1)
    folds = walk_forward_folds(ts, end, SplitConfig(n_folds=3, test_frac=0.1))
    assert [f.boundaries[0] for f in folds] == [0, 0, 0]
    assert folds[0].boundaries[4] == folds[1].boundaries[3]
    assert folds[-1].boundaries[4] == int(ts.max()) + 1
    assert len(folds[0].train) < len(folds[1].train) < len(folds[2].train)


@settings(max_examples=40, deadline=None)
@given(
    n_ticks=st.integers(800, 3000),
    n_folds=st.integers(1, 3),
    embargo=st.integers(0, 120),
    horizon_s=st.integers(1, 120),
    seed=st.integers(0, 1000),
)
def test_segments_are_disjoint_and_never_overlap_in_label_time(
    n_ticks: int, n_folds: int, embargo: int, horizon_s: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, n_ticks, size=2 * n_ticks)).astype(np.int64) * NS_PER_S
    end = ts + horizon_s * NS_PER_S
    folds = walk_forward_folds(ts, end, SplitConfig(n_folds=n_folds, embargo_s=embargo))
    audit = audit_folds(folds, ts, end)
    assert audit.ok, audit.to_dict()
    for fold in folds:
        seen: set[int] = set()
        for name in SEGMENTS:
            idx = set(fold.segment(name).tolist())
            assert not (idx & seen)
            seen |= idx
        for a, b in itertools.pairwise(SEGMENTS):
            if len(fold.segment(a)) and len(fold.segment(b)):
                assert end[fold.segment(a)].max() < ts[fold.segment(b)].min()


def test_audit_catches_a_constructed_label_leak() -> None:
    ts, end = grid(4000)
    fold = walk_forward_folds(ts, end, SplitConfig(embargo_s=0))[0]
    calib_start = int(ts[fold.calib].min())
    leaky_row = np.flatnonzero((ts < calib_start) & (end >= calib_start))[0]
    leaky = dataclasses.replace(fold, valid=np.sort(np.append(fold.valid, leaky_row)))
    audit = audit_folds([leaky], ts, end)
    assert not audit.ok
    assert any("valid label window ends" in leak for leak in audit.leaks)
    valid_row = next(s for s in audit.segments if s.segment == "valid")
    assert valid_row.margin_ns is not None
    assert valid_row.margin_ns <= 0
    with pytest.raises(LeakageError, match="fold 0: valid"):
        audit.raise_if_leaky()


def test_audit_catches_a_row_in_two_segments() -> None:
    ts, end = grid(4000)
    fold = walk_forward_folds(ts, end, SplitConfig())[0]
    shared = dataclasses.replace(fold, test=np.append(fold.test, fold.calib[0]))
    audit = audit_folds([shared], ts, end)
    assert audit.overlapping_pairs
    assert "calib and test" in audit.overlapping_pairs[0]
    assert audit.to_dict()["ok"] is False


def test_audit_is_data() -> None:
    ts, end = grid(3000)
    audit = audit_folds(walk_forward_folds(ts, end, SplitConfig()), ts, end)
    d = audit.to_dict()
    assert d["ok"] is True
    assert [s["segment"] for s in d["segments"]] == list(SEGMENTS)
    assert all(s["margin_ns"] is None or s["margin_ns"] > 0 for s in d["segments"])


@pytest.mark.parametrize(
    "kwargs",
    [{"n_folds": 0}, {"test_frac": 0.5, "n_folds": 2}, {"valid_frac": 1.0}, {"embargo_s": -1}],
)
def test_invalid_split_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        SplitConfig(**kwargs)  # type: ignore[arg-type]
