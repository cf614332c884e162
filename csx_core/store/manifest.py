"""The per-partition manifest: the only source of truth for which files hold data.

A partition directory may contain other files (temp files of a crashed write, files replaced
by a rewrite); readers ignore every file the manifest does not list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from csx_core.store.atomic import write_atomic
from csx_core.store.errors import StoreCorruption

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


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
    date: str  # YYYY-MM-DD, the UTC date of every row's ts_event
    contract: str
    schema_version: int
    files: tuple[FileEntry, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def to_json(self) -> bytes:
        body = {
            "format": MANIFEST_FORMAT,
            "kind": self.kind,
            "date": self.date,
            "contract": self.contract,
            "schema_version": self.schema_version,
            "rows": self.rows,
            "files": [asdict(f) for f in self.files],
        }
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
        if body["format"] != MANIFEST_FORMAT:
            raise StoreCorruption(path, f"unknown manifest format {body['format']!r}")
        files = tuple(FileEntry(**f) for f in body["files"])
        manifest = Manifest(
            kind=str(body["kind"]),
            date=str(body["date"]),
            contract=str(body["contract"]),
            schema_version=int(body["schema_version"]),
            files=files,
        )
    except StoreCorruption:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreCorruption(path, f"unreadable manifest: {exc}") from exc
    if body.get("rows") != manifest.rows:
        raise StoreCorruption(path, f"row total {body.get('rows')} != sum of files {manifest.rows}")
    return manifest


def save_manifest(partition: Path, manifest: Manifest) -> None:
    write_atomic(partition / MANIFEST_NAME, manifest.to_json())
