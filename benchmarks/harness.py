"""Timing helpers shared by every benchmark.

Machines here are noisy, so each benchmark measures its subject and a simple reference in
the same run and reports the ratio alongside absolute numbers. ``measure`` times one
function, repetition after repetition; ``measure_interleaved`` takes turns between several,
so that a slow phase of the host (it lasts seconds here) slows each of them alike and the
ratios between them hold.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    name: str
    items: int
    seconds: list[float]  # one entry per repetition, each over ``items`` items

    @property
    def best_throughput(self) -> float:
        return self.items / min(self.seconds)

    @property
    def median_throughput(self) -> float:
        return self.items / statistics.median(self.seconds)


def measure(name: str, fn: Callable[[], object], *, items: int, repeat: int = 5) -> Measurement:
    """Run ``fn`` (which processes ``items`` items) ``repeat`` times after one warm-up."""
    fn()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return Measurement(name, items, seconds)


def measure_interleaved(
    fns: dict[str, Callable[[], object]], *, items: int, repeat: int = 5
) -> dict[str, Measurement]:
    """``measure`` for each of ``fns`` (by name; each processes ``items`` items), after one
    warm-up call of each: ``repeat`` rounds, each calling every function once, in turn."""
    for fn in fns.values():
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: Measurement(name, items, seconds[name]) for name in fns}


def latency_percentiles(fn: Callable[[], object], *, calls: int) -> dict[str, float]:
    """Per-call latency in microseconds: p50, p99, max."""
    fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1_000)
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2],
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_us": samples[-1],
    }


def report(title: str, subject: Measurement, reference: Measurement, unit: str) -> None:
    ratio = subject.median_throughput / reference.median_throughput
    print(f"\n## {title}")
    for m in (subject, reference):
        print(
            f"  {m.name:<38} median {m.median_throughput:>14,.0f} {unit}/s"
            f"   best {m.best_throughput:>14,.0f} {unit}/s"
        )
    print(f"  ratio (subject / reference, medians): {ratio:.1f}x")


def report_latency(title: str, stats: dict[str, float]) -> None:
    print(
        f"  {title}: p50 {stats['p50_us']:.1f} us  p99 {stats['p99_us']:.1f} us"
        f"  max {stats['max_us']:.1f} us"
    )
