"""The per-partition manifest: the only source of truth for which files hold data.

A partition directory may contain other files (temp files of a crashed write, files replaced
by a rewrite); readers ignore every file the manifest does not list.

Format 1 describes a day partition. Format 2 adds ``span`` (``month``) and ``days``, the UTC
dates that have rows; a day partition is still written as format 1, byte for byte as before,
so only month partitions need a reader that knows format 2 (an older one refuses them
instead of misreading a month as one day).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from csx_core.store.atomic import write_atomic
from csx_core.store.errors import StoreCorruption
from csx_core.store.layout import DAY, MONTH

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
MONTH_MANIFEST_FORMAT = 2


@dataclass(frozen=True)
class FileEntry:
    """One Parquet file of a partition. Times are ns since the epoch (UTC)."""

    name: str
    rows: int
    bytes: int
    sha256: str
    ts_min: int
    ts_max: int


@dataclass(frozen=True)
class Manifest:
    kind: str
    date: str  # YYYY-MM-DD: the UTC date of every row (span day) or the month's first day
    contract: str
    schema_version: int
    files: tuple[FileEntry, ...]
    span: str = DAY
    days: tuple[str, ...] = ()  # span month: the UTC dates (YYYY-MM-DD) that have rows

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def covered_days(self) -> tuple[str, ...]:
        """The UTC dates (YYYY-MM-DD) this partition holds rows of."""
        return self.days if self.span == MONTH else (self.date,)

    def to_json(self) -> bytes:
        body: dict[str, object] = {
            "format": MANIFEST_FORMAT,
            "kind": self.kind,
            "date": self.date,
            "contract": self.contract,
            "schema_version": self.schema_version,
            "rows": self.rows,
            "files": [asdict(f) for f in self.files],
        }
        if self.span != DAY:
            body |= {"format": MONTH_MANIFEST_FORMAT, "span": self.span, "days": list(self.days)}
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def load_manifest(partition: Path) -> Manifest | None:
    """The partition's manifest, ``None`` if it has none; raises ``StoreCorruption`` if it
    cannot be parsed."""
    path = partition / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        body = json.loads(raw)
        if body["format"] not in (MANIFEST_FORMAT, MONTH_MANIFEST_FORMAT):
            raise StoreCorruption(path, f"unknown manifest format {body['format']!r}")
        files = tuple(FileEntry(**f) for f in body["files"])
        monthly = body["format"] == MONTH_MANIFEST_FORMAT
        manifest = Manifest(
            kind=str(body["kind"]),
            date=str(body["date"]),
            contract=str(body["contract"]),
            schema_version=int(body["schema_version"]),
            files=files,
            span=str(body["span"]) if monthly else DAY,
            days=tuple(str(d) for d in body["days"]) if monthly else (),
        )
        if manifest.span not in (DAY, MONTH):
            raise StoreCorruption(path, f"unknown partition span {manifest.span!r}")
    except StoreCorruption:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreCorruption(path, f"unreadable manifest: {exc}") from exc
    if body.get("rows") != manifest.rows:
        raise StoreCorruption(path, f"row total {body.get('rows')} != sum of files {manifest.rows}")
    return manifest


def save_manifest(partition: Path, manifest: Manifest) -> None:
    write_atomic(partition / MANIFEST_NAME, manifest.to_json())
