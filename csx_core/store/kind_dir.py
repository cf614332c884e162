"""What one kind directory of the store holds: its committed partitions, their span, the days
each has rows of, and whether that layout can be trusted (see ``csx_core.store.layout``).

Finding the span reads few manifests: a month partition is always named after its month's
first day, so a partition named any other day proves a day layout without reading anything,
and only the manifests of partitions named ``-01`` are read to tell a month layout from a
day layout that happens to start on the 1st. A month layout reads every manifest anyway,
for the days it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from csx_core.store.errors import StoreCorruption
from csx_core.store.layout import DAY, MONTH
from csx_core.store.manifest import MANIFEST_NAME, Manifest, load_manifest


@dataclass(frozen=True)
class Partition:
    """A committed partition directory: its name's date, span and the days it has rows of.
    A partition whose manifest cannot be read claims its name's date, so reading that day
    (and ``verify``) raises instead of the data going unnoticed."""

    key: date
    path: Path
    span: str
    days: tuple[date, ...]


@dataclass(frozen=True)
class KindLayout:
    """The committed partitions of one kind directory, by date.

    ``span``: ``DAY`` or ``MONTH``, ``None`` while no partition is committed (or none whose
    manifest can be read says which). ``problem``: why the layout cannot be used as is: day
    and month partitions both present (the store never writes that; only hands can), or a
    span no readable manifest tells. Readers and writers raise it (``check``)."""

    path: Path
    span: str | None
    partitions: tuple[Partition, ...]
    problem: StoreCorruption | None = None

    def check(self) -> None:
        if self.problem is not None:
            raise self.problem

    def days(self) -> list[date]:
        return sorted({d for p in self.partitions for d in p.days})


class ManifestCache:
    """Parsed manifests keyed by the manifest file's (inode, mtime, size): ``dates`` of a
    monthly kind needs every month's day list, and it is asked often (per write, per read)."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int, int], Manifest]] = {}

    def load(self, partition: Path) -> Manifest | None:
        try:
            stat = (partition / MANIFEST_NAME).stat()
        except FileNotFoundError:
            return None
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        hit = self._seen.get(partition)
        if hit is not None and hit[0] == signature:
            return hit[1]
        manifest = load_manifest(partition)
        if manifest is not None:
            self._seen[partition] = (signature, manifest)
        return manifest


def scan_kind_dir(kind_dir: Path, manifests: ManifestCache) -> KindLayout:
    """The layout of ``kind_dir`` now. Directories without a manifest (a first write that
    crashed before committing) and names that are not ``date=YYYY-MM-DD`` are skipped."""
    committed: list[tuple[date, Path]] = []
    if kind_dir.is_dir():
        for child in kind_dir.iterdir():
            if not child.name.startswith("date="):
                continue
            try:
                key = date.fromisoformat(child.name.removeprefix("date="))
            except ValueError:
                continue  # not a partition this store wrote
            if (child / MANIFEST_NAME).is_file():
                committed.append((key, child))
    committed.sort()
    if not committed:
        return KindLayout(kind_dir, None, ())

    firsts = {child: _load(manifests, child) for key, child in committed if key.day == 1}
    if any(isinstance(m, Manifest) and m.span == MONTH for m in firsts.values()):
        return _month_layout(kind_dir, committed, firsts, manifests)
    partitions = tuple(Partition(key, child, DAY, (key,)) for key, child in committed)
    if len(firsts) == len(committed) and all(
        isinstance(m, StoreCorruption) for m in firsts.values()
    ):
        # Every partition is named -01 and no manifest can be read: either span fits.
        unknown = next(m for m in firsts.values() if isinstance(m, StoreCorruption))
        return KindLayout(kind_dir, None, partitions, unknown)
    return KindLayout(kind_dir, DAY, partitions)


def _month_layout(
    kind_dir: Path,
    committed: list[tuple[date, Path]],
    firsts: dict[Path, Manifest | StoreCorruption],
    manifests: ManifestCache,
) -> KindLayout:
    partitions: list[Partition] = []
    day_partitions: list[Path] = []
    for key, child in committed:
        manifest = firsts[child] if child in firsts else _load(manifests, child)
        if isinstance(manifest, StoreCorruption):
            partitions.append(Partition(key, child, MONTH, (key,)))
        elif manifest.span != MONTH:
            day_partitions.append(child)
            partitions.append(Partition(key, child, DAY, (key,)))
        else:
            days = tuple(date.fromisoformat(d) for d in manifest.days)
            partitions.append(Partition(key, child, MONTH, days))
    problem = None
    if day_partitions:
        month = next(p.path for p in partitions if p.span == MONTH)
        problem = StoreCorruption(
            kind_dir,
            f"holds both day partitions ({len(day_partitions)}, first {day_partitions[0].name}) "
            f"and month partitions (first {month.name}); the store never writes both, so "
            "these were put here by hand: move one set into a store of its own",
        )
    return KindLayout(kind_dir, MONTH, tuple(partitions), problem)


def _load(manifests: ManifestCache, partition: Path) -> Manifest | StoreCorruption:
    try:
        manifest = manifests.load(partition)
    except StoreCorruption as exc:
        return exc
    if manifest is None:  # removed since the listing: only another hand does that
        return StoreCorruption(partition / MANIFEST_NAME, "manifest disappeared")
    return manifest
