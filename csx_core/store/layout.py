"""Which partition a row lives in: one UTC day, or one UTC month, fixed per kind directory.

The span is the writer's choice, made once per kind and store: the first write of a kind
(``EventStore.write(..., span=...)``, default ``DAY``) fixes it, and every later write of
that kind follows the span its partitions already have, whatever it asks for. So a kind
directory holds only day partitions or only month partitions, never both, and no row can
hide in a partition that a mixed layout would leave unread.

Why both: bars imported from archives are few per day (25 symbols of hourly bars: 600 rows),
so day partitions of 7 years were 2.4 k partitions behind 2.4 k manifests and ~5 fsyncs
each, most of an import's time; the bar importer asks for months. The live recorder writes
every few seconds and supersedes open klines with closed ones, which rewrites the partition:
a month of 1m klines of 300 symbols is ~13 M rows, so it (and everything else) writes days.

Where the span is recorded: in the manifests themselves, not in a separate marker. A month
partition is always named after its first day (``date=YYYY-MM-01``) and its manifest is
format 2 with ``span: month`` and the days that have rows (see ``manifest``); a day
partition's manifest is format 1, as before months existed. So a kind's span is read from
the manifests of its partitions named ``-01`` only (about one in 30 for a daily kind, every
one for a monthly kind, whose manifests are read anyway for their day lists), and it is fixed
atomically with the first partition: the first manifest rename that commits data commits
the span. A marker file would be a second source of truth that could disagree with the
manifests (a crash between the two, a copied partition); the manifest cannot.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt

DAY = "day"
MONTH = "month"
SPANS = (DAY, MONTH)

EPOCH = date(1970, 1, 1)

IntArray = npt.NDArray[np.int64]


def check_span(span: str) -> str:
    if span not in SPANS:
        raise ValueError(f"unknown partition span {span!r}; expected one of {SPANS}")
    return span


def month_start(day: date) -> date:
    return day.replace(day=1)


def partition_key(span: str, day: date) -> date:
    """The date naming the partition of ``span`` that holds ``day``'s rows."""
    return month_start(day) if span == MONTH else day


def partition_key_days(span: str, days: IntArray) -> IntArray:
    """``partition_key`` for day numbers (days since 1970-01-01), vectorised."""
    if span != MONTH:
        return days
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return np.asarray(months.astype("datetime64[D]").astype(np.int64), dtype=np.int64)


def day_numbers_to_iso(days: IntArray) -> tuple[str, ...]:
    """Distinct ISO dates of ``days`` (day numbers), ascending."""
    return tuple(str(d) for d in np.unique(days).astype("datetime64[D]"))
