"""SQLAlchemy tables declared in YAML.

Table definitions are data: a long list of columns, each a name, a type and two flags. Kept
as YAML (warehouse/tables.yaml, simulator/data/department_tables.yaml) they read like the
spec's tables, and this one reader turns them into `sa.Table`s.

A column is `name: TYPE [key | required]`, or `name: {type: TYPE [key | required], comment: …}`.
TYPE is one of `string(N)`, `char(N)`, `text`, `smallint`, `integer`, `bigint`, `double`,
`boolean`, `date`, `timestamp` (with time zone) and `datetime` (without). A table may append
column groups declared under `groups` (`with: [lineage]`) and name its indexes
(`indexes: {ix_name: [col, …]}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
import yaml

_PLAIN_TYPES: dict[str, Callable[[], sa.types.TypeEngine]] = {
    "text": sa.Text,
    "smallint": sa.SmallInteger,
    "integer": sa.Integer,
    "bigint": sa.BigInteger,
    "double": sa.Double,
    "boolean": sa.Boolean,
    "date": sa.Date,
    "timestamp": lambda: sa.DateTime(timezone=True),
    "datetime": sa.DateTime,
}
_SIZED_TYPES = {"string": sa.String, "char": sa.CHAR}
_SIZED = re.compile(r"(?P<kind>\w+)\((?P<length>\d+)\)")
_FLAGS = {"key", "required"}


class TableDefinitionError(ValueError):
    """A YAML table definition that cannot be read, naming the file, table and column."""


def _column_type(spelling: str) -> sa.types.TypeEngine:
    sized = _SIZED.fullmatch(spelling)
    if sized and sized["kind"] in _SIZED_TYPES:
        return _SIZED_TYPES[sized["kind"]](int(sized["length"]))
    if spelling in _PLAIN_TYPES:
        return _PLAIN_TYPES[spelling]()
    raise ValueError(f"unknown type {spelling!r}")


def _column(name: str, spec: str | dict) -> sa.Column:
    if isinstance(spec, str):
        spec = {"type": spec}
    unknown = set(spec) - {"type", "comment"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    type_spelling, *flags = str(spec["type"]).split()
    if set(flags) - _FLAGS:
        raise ValueError(f"unknown flags {sorted(set(flags) - _FLAGS)}")
    key = "key" in flags
    return sa.Column(name, _column_type(type_spelling), primary_key=key,
                     nullable=not key and "required" not in flags,
                     comment=spec.get("comment"))


def load_tables(path: Path, metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The tables of one YAML file, added to `metadata`, by table name."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups = document.get("groups", {})
    tables: dict[str, sa.Table] = {}
    for table_name, definition in document["tables"].items():
        columns_spec = dict(definition["columns"])
        for group in definition.get("with", []):
            columns_spec.update(groups[group])
        columns = []
        for column_name, spec in columns_spec.items():
            try:
                columns.append(_column(column_name, spec))
            except (ValueError, KeyError) as exc:
                raise TableDefinitionError(
                    f"{path}: table {table_name}, column {column_name}: {exc}") from exc
        indexes = [sa.Index(name, *cols) for name, cols in definition.get("indexes", {}).items()]
        tables[table_name] = sa.Table(table_name, metadata, *columns, *indexes,
                                      schema=definition["schema"])
    return tables
