"""Walk-forward folds with purging and embargo, and an audit that proves them.

Time is cut into boundaries; fold k (of ``n_folds``) is, in time order::

    train [t_start, v) → valid [v, c) → calib [c, s) → test [s, e)

Training is expanding (always from the first tick); ``valid`` is the slice at the end of
the training period used only for LightGBM early stopping. Between consecutive segments a
sample is **purged** when its label window ``[t, label_end]`` reaches the next segment's start,
and samples within ``embargo_s`` after a boundary are **embargoed** (dropped), so no
information crosses from one segment's labels into the next segment's features.

:func:`audit_folds` recomputes everything from the indices alone — it does not trust
:func:`walk_forward_folds` — so a hand-made leaky fold is caught.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from csx_core.ml.frame import NS_PER_S

IntArray = npt.NDArray[np.int64]
SEGMENTS = ("train", "valid", "calib", "test")


class LeakageError(ValueError):
    """A split whose label windows reach into a later segment."""


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
    """Fractions of the total time span. The test blocks of the ``n_folds`` folds tile the
    last ``n_folds * test_frac`` of the span; each fold's calibration block precedes its test
    block and its validation slice is the last ``valid_frac`` of its training period."""

    n_folds: int = 1
    test_frac: float = 0.2
    calib_frac: float = 0.15
    valid_frac: float = 0.15
    embargo_s: int = 60

    def __post_init__(self) -> None:
        if self.n_folds < 1:
            raise ValueError("n_folds must be >= 1")
        used = self.n_folds * self.test_frac + self.calib_frac
        if min(self.test_frac, self.calib_frac, self.valid_frac) <= 0 or self.valid_frac >= 1:
            raise ValueError("fractions must be positive")
        if used >= 0.9:
            raise ValueError(f"test and calibration blocks take {used:.0%} of the data")
        if self.embargo_s < 0:
            raise ValueError("embargo_s must be >= 0")


@dataclass(frozen=True)
class Fold:
    """Row indices (into the labelled table) of each segment, and the boundaries (ns)."""

    index: int
    train: IntArray
    valid: IntArray
    calib: IntArray
    test: IntArray
    boundaries: tuple[int, int, int, int, int]

    def segment(self, name: str) -> IntArray:
        seg: IntArray = getattr(self, name)
        return seg


def walk_forward_folds(ts: IntArray, label_end: IntArray, config: SplitConfig) -> list[Fold]:
    """Purged, embargoed walk-forward folds over rows with times ``ts`` and label ends
    ``label_end`` (both ns)."""
    ts = np.asarray(ts, dtype=np.int64)
    label_end = np.asarray(label_end, dtype=np.int64)
    if len(ts) == 0:
        raise ValueError("no rows to split")
    start, end = int(ts.min()), int(ts.max()) + 1
    span = end - start
    embargo = config.embargo_s * NS_PER_S
    folds = []
    for k in range(config.n_folds):
        test_end = end - int(span * config.test_frac * (config.n_folds - 1 - k))
        test_start = test_end - int(span * config.test_frac)
        calib_start = test_start - int(span * config.calib_frac)
        valid_start = calib_start - int((calib_start - start) * config.valid_frac)
        bounds = (start, valid_start, calib_start, test_start, test_end)
        segments = []
        for j in range(4):
            lo = bounds[j] + (embargo if j > 0 else 0)
            hi = bounds[j + 1]
            mask = (ts >= lo) & (ts < hi) & (label_end < hi)
            segments.append(np.flatnonzero(mask).astype(np.int64))
        train, valid, calib, test = segments
        folds.append(Fold(k, train, valid, calib, test, boundaries=bounds))
    return folds


@dataclass(frozen=True)
class SegmentAudit:
    fold: int
    segment: str
    rows: int
    t_min: int | None
    t_max: int | None
    max_label_end: int | None
    next_start: int | None
    margin_ns: int | None


@dataclass(frozen=True)
class SplitAudit:
    """Per fold and segment: counts, time range, the latest label end and the margin to the
    next segment's first sample (must be > 0), plus index disjointness."""

    segments: tuple[SegmentAudit, ...]
    overlapping_pairs: tuple[str, ...]
    leaks: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.leaks and not self.overlapping_pairs

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "leaks": list(self.leaks),
            "overlapping_pairs": list(self.overlapping_pairs),
            "segments": [asdict(s) for s in self.segments],
        }

    def raise_if_leaky(self) -> None:
        if not self.ok:
            raise LeakageError("; ".join([*self.leaks, *self.overlapping_pairs]))


def audit_folds(folds: list[Fold], ts: IntArray, label_end: IntArray) -> SplitAudit:
    """Check every fold from its indices: each segment's label windows end strictly before
    the first sample of any later segment, and no row is in two segments of a fold."""
    ts = np.asarray(ts, dtype=np.int64)
    label_end = np.asarray(label_end, dtype=np.int64)
    rows: list[SegmentAudit] = []
    leaks: list[str] = []
    overlaps: list[str] = []
    for fold in folds:
        for j, name in enumerate(SEGMENTS):
            idx = fold.segment(name)
            later = [fold.segment(s) for s in SEGMENTS[j + 1 :]]
            nxt = np.concatenate(later) if later else np.empty(0, dtype=np.int64)
            next_start = int(ts[nxt].min()) if len(nxt) else None
            max_end = int(label_end[idx].max()) if len(idx) else None
            margin = None if next_start is None or max_end is None else next_start - max_end
            rows.append(
                SegmentAudit(
                    fold=fold.index,
                    segment=name,
                    rows=len(idx),
                    t_min=int(ts[idx].min()) if len(idx) else None,
                    t_max=int(ts[idx].max()) if len(idx) else None,
                    max_label_end=max_end,
                    next_start=next_start,
                    margin_ns=margin,
                )
            )
            if margin is not None and margin <= 0:
                leaks.append(
                    f"fold {fold.index}: {name} label window ends {-margin} ns into a later segment"
                )
        for a in range(len(SEGMENTS)):
            for b in range(a + 1, len(SEGMENTS)):
                common = np.intersect1d(fold.segment(SEGMENTS[a]), fold.segment(SEGMENTS[b]))
                if len(common):
                    overlaps.append(
                        f"fold {fold.index}: {len(common)} rows in both {SEGMENTS[a]} "
                        f"and {SEGMENTS[b]}"
                    )
    return SplitAudit(tuple(rows), tuple(overlaps), tuple(leaks))
