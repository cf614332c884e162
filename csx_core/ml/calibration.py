"""Score → probability calibration, fitted on the calibration fold only.

Platt scaling: ``p = sigmoid(a * score + b)`` fitted by Newton's method with Platt's
smoothed targets (so perfectly separable folds do not blow up ``a``). Isotonic: a monotone
step function stored as its breakpoints and applied by linear interpolation. Both are plain
numbers — serialised as JSON, never pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
METHODS = ("platt", "isotonic")


def sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
    return out


@dataclass(frozen=True)
class Calibrator:
    kind: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in METHODS:
            raise ValueError(f"unknown calibrator kind {self.kind!r}; have {METHODS}")
        if self.kind == "isotonic" and (len(self.x) != len(self.y) or not self.x):
            raise ValueError("isotonic calibrator needs matching, non-empty x and y")

    def apply(self, score: FloatArray) -> FloatArray:
        """Calibrated probabilities in [0, 1]."""
        s = np.asarray(score, dtype=np.float64)
        if self.kind == "platt":
            return sigmoid(self.a * s + self.b)
        out: FloatArray = np.interp(s, np.asarray(self.x), np.asarray(self.y))
        return out

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "platt":
            return {"kind": "platt", "a": self.a, "b": self.b}
        return {"kind": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        if data["kind"] == "platt":
            return cls("platt", a=float(data["a"]), b=float(data["b"]))
        return cls("isotonic", x=tuple(map(float, data["x"])), y=tuple(map(float, data["y"])))


def fit_platt(score: FloatArray, y: npt.NDArray[np.bool_], iters: int = 50) -> Calibrator:
    s = np.asarray(score, dtype=np.float64)
    yy = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(yy.sum()), int((~yy).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("calibration fold needs both classes")
    target = np.where(yy, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, float(np.log((n_pos + 1.0) / (n_neg + 1.0)))
    design = np.column_stack([s, np.ones_like(s)])
    loss = _log_loss(s, target, a, b)
    for _ in range(iters):
        p = sigmoid(a * s + b)
        grad = design.T @ (p - target)
        w = np.maximum(p * (1 - p), 1e-12)
        hess = design.T @ (design * w[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            a_new, b_new = a - scale * float(step[0]), b - scale * float(step[1])
            new_loss = _log_loss(s, target, a_new, b_new)
            if new_loss <= loss:
                break
            scale *= 0.5
        else:
            break
        a, b, improvement, loss = a_new, b_new, loss - new_loss, new_loss
        if improvement < 1e-12 * max(1.0, loss):
            break
    return Calibrator("platt", a=a, b=b)


def _log_loss(s: FloatArray, target: FloatArray, a: float, b: float) -> float:
    z = a * s + b
    return float(np.sum(np.logaddexp(0.0, z) - target * z))


def fit_isotonic(score: FloatArray, y: npt.NDArray[np.bool_]) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(score, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return Calibrator(
        "isotonic",
        x=tuple(float(v) for v in iso.X_thresholds_),
        y=tuple(float(v) for v in iso.y_thresholds_),
    )


def fit_calibrator(
    score: FloatArray, y: npt.NDArray[np.bool_], method: str = "platt"
) -> Calibrator:
    if method == "platt":
        return fit_platt(score, y)
    if method == "isotonic":
        return fit_isotonic(score, y)
    raise ValueError(f"unknown calibration method {method!r}; have {METHODS}")
