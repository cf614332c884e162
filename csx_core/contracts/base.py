"""The machinery every contract shares: validation errors, JSON and Arrow encodings.

Contracts are frozen ``msgspec.Struct`` classes. msgspec gives typed decoding in C and calls
``__post_init__`` both on construction and on decode, so one validation function guards
every way a value can come into being.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Self

import msgspec
import pyarrow as pa


class ContractError(ValueError):
    """A value that breaks a contract; ``field`` names the offending field."""

    def __init__(self, contract: str, field: str, problem: str) -> None:
        super().__init__(f"{contract}.{field}: {problem}")
        self.contract = contract
        self.field = field
        self.problem = problem


class Contract(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every versioned data contract.

    ``SCHEMA_VERSION`` is bumped on any change that alters the JSON or Arrow shape; it is
    written into Parquet schema metadata and checked on read.
    """

    SCHEMA_VERSION: ClassVar[int] = 1

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return _ENCODER.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.ValidationError as exc:
            raise as_contract_error(cls.__name__, exc) from exc
        except msgspec.DecodeError as exc:
            raise ContractError(cls.__name__, "$", f"malformed JSON: {exc}") from exc

    # -- Arrow / Parquet ----------------------------------------------------------------
    @classmethod
    def arrow_schema(cls) -> pa.Schema:
        return _arrow_schema(cls)

    @classmethod
    def to_arrow(cls, records: Iterable[Self]) -> pa.Table:
        rows = [msgspec.to_builtins(r, enc_hook=_enc_hook) for r in records]
        return pa.Table.from_pylist(rows, schema=cls.arrow_schema())

    @classmethod
    def from_arrow(cls, table: pa.Table) -> list[Self]:
        _check_schema_version(cls, table.schema)
        rows = table.select(cls.arrow_schema().names).to_pylist()
        try:
            return msgspec.convert(rows, type=list[cls])  # type: ignore[valid-type]
        except msgspec.ValidationError as exc:
            raise as_contract_error(cls.__name__, exc) from exc


def _enc_hook(obj: object) -> object:
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def as_contract_error(contract: str, exc: msgspec.ValidationError) -> ContractError:
    message = str(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ContractError):
        return cause
    # msgspec reports the path as "... - at `$.field`"; keep it as the field name.
    field = "$"
    if " - at `" in message:
        message, _, path = message.partition(" - at `")
        field = path.rstrip("`").removeprefix("$.")
    return ContractError(contract, field, message)


# -- validation helpers used by contract __post_init__ methods ------------------------------
def require_finite(obj: Contract, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not math.isfinite(value):
            raise ContractError(type(obj).__name__, name, f"must be finite, got {value!r}")


def require_positive(obj: Contract, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (math.isfinite(value) and value > 0):
            raise ContractError(type(obj).__name__, name, f"must be > 0, got {value!r}")


def require_non_negative(obj: Contract, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (math.isfinite(value) and value >= 0):
            raise ContractError(type(obj).__name__, name, f"must be >= 0, got {value!r}")


def require_probability(obj: Contract, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (0.0 <= value <= 1.0):  # also rejects NaN
            raise ContractError(type(obj).__name__, name, f"must be in [0, 1], got {value!r}")


def require_symbol(obj: Contract, name: str = "symbol") -> None:
    value: str = getattr(obj, name)
    if not value or not value.isascii() or not value.isalnum() or not value.isupper():
        raise ContractError(
            type(obj).__name__, name, f"must be an upper-case alphanumeric symbol, got {value!r}"
        )


def require(obj: Contract, condition: bool, name: str, problem: str) -> None:
    if not condition:
        raise ContractError(type(obj).__name__, name, problem)


# -- Arrow schema derived from the struct's annotations ---------------------------------------
_SCHEMA_CACHE: dict[type, pa.Schema] = {}


def _arrow_schema(cls: type[Contract]) -> pa.Schema:
    cached = _SCHEMA_CACHE.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields = [_arrow_field(name, hints[name]) for name in cls.__struct_fields__]
    metadata = {
        b"csx.contract": cls.__name__.encode(),
        b"csx.schema_version": str(cls.SCHEMA_VERSION).encode(),
    }
    schema = pa.schema(fields, metadata=metadata)
    _SCHEMA_CACHE[cls] = schema
    return schema


def _arrow_field(name: str, hint: Any) -> pa.Field:
    arrow_type, nullable = _arrow_type(hint)
    return pa.field(name, arrow_type, nullable=nullable)


def _arrow_type(hint: Any) -> tuple[pa.DataType, bool]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"only Optional[X] unions map to Arrow, got {hint!r}")
        return _arrow_type(args[0])[0], True
    if origin is typing.Literal:
        return pa.string(), False
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return pa.list_(_arrow_type(item)[0]), False
    if isinstance(hint, type):
        if issubclass(hint, bool):
            return pa.bool_(), False
        if issubclass(hint, enum.Enum):
            return pa.string(), False
        if issubclass(hint, int):
            return pa.int64(), False
        if issubclass(hint, float):
            return pa.float64(), False
        if issubclass(hint, str):
            return pa.string(), False
        if issubclass(hint, msgspec.Struct):
            sub = typing.get_type_hints(hint)
            return pa.struct([_arrow_field(n, sub[n]) for n in hint.__struct_fields__]), False
    raise TypeError(f"no Arrow mapping for {hint!r}")


def _check_schema_version(cls: type[Contract], schema: pa.Schema) -> None:
    meta = schema.metadata or {}
    found = meta.get(b"csx.schema_version")
    if found is not None and int(found) != cls.SCHEMA_VERSION:
        raise ContractError(
            cls.__name__,
            "schema_version",
            f"table has schema version {int(found)}, this code reads {cls.SCHEMA_VERSION}",
        )


def records_equal(a: Sequence[Contract], b: Sequence[Contract]) -> bool:
    """Equality that treats NaN as equal to NaN (feature vectors legitimately hold NaN)."""
    return len(a) == len(b) and all(x.to_json() == y.to_json() for x, y in zip(a, b, strict=True))
