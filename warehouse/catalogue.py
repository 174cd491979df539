"""The catalogue of shared tables (政务信息资源目录, warehouse/catalogue.yaml): loading it,
checking it covers every shared column, and generating from it the data dictionary
(Markdown and HTML) and PostgreSQL COMMENTs."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
import yaml

CATALOGUE = Path(__file__).resolve().parent / "catalogue.yaml"
UNCONDITIONAL, CONDITIONAL, NOT_SHARED = "无条件共享", "有条件共享", "不予共享"
SHARING = {UNCONDITIONAL: "unconditional", CONDITIONAL: "conditional", NOT_SHARED: "not shared"}
MASKS = ("id_number", "phone", "name", "address", "withhold")
# Views in `shared` that the catalogue describes besides the tables in the metadata.
VIEWS = {"source_freshness": ["source", "newest_change", "last_landed_at", "versions",
                              "hours_since"]}


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    en: str
    personal: str
    sharing: str
    mask: str | None


@dataclass(frozen=True)
class Table:
    name: str
    owner: str
    owner_zh: str
    frequency: str
    sharing: str
    zh: str
    en: str
    row_scope: tuple[str, ...]  # division columns, empty when unscoped
    parent: tuple[str, str] | None  # (parent table, key) for child rows
    columns: dict[str, Column]


@cache
def load_catalogue(path: Path = CATALOGUE) -> dict[str, Table]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    owners = raw["owners"]
    tables = {}
    for name, entry in raw["tables"].items():
        base = raw["tables"][entry["history_of"]] if "history_of" in entry else {}
        merged = {**base, **{k: v for k, v in entry.items() if k != "columns"}}
        column_entries = {**base.get("columns", {}), **entry["columns"]}
        sharing = merged["sharing"]
        # A conditional table is granted as a whole; its columns are then unconditional
        # unless marked otherwise.
        column_default = NOT_SHARED if sharing == NOT_SHARED else UNCONDITIONAL
        columns = {}
        for column, spec in column_entries.items():
            col_sharing = spec.get("sharing", column_default)
            if col_sharing not in SHARING:
                raise CatalogueError(f"{name}.{column}: unknown sharing class {col_sharing!r}")
            mask = spec.get("mask")
            if col_sharing == CONDITIONAL and sharing != NOT_SHARED and mask not in MASKS:
                raise CatalogueError(f"{name}.{column}: a conditional column needs a mask "
                                     f"from {MASKS}")
            columns[column] = Column(column, spec["zh"], spec["en"], spec["personal"],
                                     col_sharing, mask)
        scope = merged.get("row_scope") or ()
        parent = tuple(scope["parent"].split(".")) if isinstance(scope, dict) else None
        tables[name] = Table(
            name, merged["owner"], owners[merged["owner"]]["zh"], merged["frequency"],
            sharing, entry.get("zh", merged["zh"]), entry.get("en", merged["en"]),
            () if parent else tuple(scope), parent, columns)
    return tables


def shared_columns() -> dict[str, list[str]]:
    """Every table (and catalogued view) in schema `shared` that the code defines: this
    project's tables and the resolution's."""
    from warehouse import resolution_tables, schema

    metadatas = [schema.metadata, resolution_tables.metadata]
    found = {name: list(columns) for name, columns in VIEWS.items()}
    for metadata in metadatas:
        for table in metadata.tables.values():
            if table.schema == "shared":
                found[table.name] = [c.name for c in table.columns]
    return found


def missing_entries(catalogue: dict[str, Table] | None = None) -> list[str]:
    """`table.column` of every shared column without a catalogue entry."""
    catalogue = catalogue or load_catalogue()
    missing = []
    for table, columns in sorted(shared_columns().items()):
        described = catalogue[table].columns if table in catalogue else {}
        missing += [f"{table}.{c}" for c in columns if c not in described]
    return missing


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def data_dictionary_markdown(catalogue: dict[str, Table] | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    lines = ["# Data dictionary — 数据字典", "",
             "Generated from `warehouse/catalogue.yaml` by `govshare warehouse catalogue`; "
             "do not edit by hand.", "",
             "Sharing classes: 无条件共享 every department sees it; 有条件共享 only where "
             "granted (`config/access.example.yaml`), otherwise masked; 不予共享 never shared.",
             "", "| table | 中文名 | owner | updated | sharing |", "|---|---|---|---|---|"]
    for table in catalogue.values():
        lines.append(f"| [`shared.{table.name}`](#{table.name}) | {_cell(table.zh)} | "
                     f"{_cell(table.owner_zh)} | {table.frequency} | {table.sharing} |")
    for table in catalogue.values():
        scope = ", ".join(table.row_scope) if table.row_scope else (
            f"through {'.'.join(table.parent)}" if table.parent else "none")
        lines += ["", f"## {table.name}", "",
                  f"**shared.{table.name}** — {table.zh}; {table.en}.", "",
                  f"- owner: {table.owner_zh}", f"- update frequency: {table.frequency}",
                  f"- sharing: {table.sharing} ({SHARING[table.sharing]})",
                  f"- row scope for street/community offices: {scope}", "",
                  "| column | 中文名 | meaning | personal data | sharing | masked as |",
                  "|---|---|---|---|---|---|"]
        for c in table.columns.values():
            lines.append(f"| `{c.name}` | {_cell(c.zh)} | {_cell(c.en)} | {c.personal} | "
                         f"{c.sharing} | {c.mask or ''} |")
    return "\n".join(lines) + "\n"


def data_dictionary_html(catalogue: dict[str, Table] | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    e = html.escape
    parts = ["<!doctype html><html lang='zh'><head><meta charset='utf-8'>",
             "<title>数据字典 — govshare shared warehouse</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:80em}",
             "table{border-collapse:collapse;margin-bottom:2em}",
             "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}",
             "th{background:#f0f0f0}.c{background:#fff4e0}.n{background:#fde0e0}",
             "</style></head><body><h1>数据字典 Data dictionary</h1>",
             "<p>Generated from warehouse/catalogue.yaml. Orange: 有条件共享 (masked unless "
             "granted); red: 不予共享.</p><ul>"]
    parts += [f"<li><a href='#{t.name}'>shared.{e(t.name)}</a> {e(t.zh)} — {e(t.sharing)}</li>"
              for t in catalogue.values()]
    parts.append("</ul>")
    for t in catalogue.values():
        parts.append(f"<h2 id='{t.name}'>shared.{e(t.name)} — {e(t.zh)}</h2>"
                     f"<p>{e(t.en)}. Owner {e(t.owner_zh)}; updated {e(t.frequency)}; "
                     f"{e(t.sharing)}.</p><table><tr><th>column</th><th>中文名</th>"
                     "<th>meaning</th><th>personal data</th><th>sharing</th><th>mask</th></tr>")
        for c in t.columns.values():
            css = {CONDITIONAL: " class='c'", NOT_SHARED: " class='n'"}.get(c.sharing, "")
            parts.append(f"<tr{css}><td><code>{e(c.name)}</code></td><td>{e(c.zh)}</td>"
                         f"<td>{e(c.en)}</td><td>{e(c.personal)}</td><td>{e(c.sharing)}</td>"
                         f"<td>{e(c.mask or '')}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(existing: dict[str, list[str]] | None = None,
                       catalogue: dict[str, Table] | None = None) -> list[str]:
    """COMMENT ON statements for the catalogued tables and columns; with `existing`
    ({table: columns} present in the database), only for what exists."""
    catalogue = catalogue or load_catalogue()
    statements = []
    for t in catalogue.values():
        if existing is not None and t.name not in existing:
            continue
        kind = "VIEW" if t.name in VIEWS else "TABLE"
        statements.append(f"COMMENT ON {kind} shared.{t.name} IS "
                          f"{_literal(f'{t.zh} — {t.en} [{t.sharing}; {t.owner_zh}]')};")
        for c in t.columns.values():
            if existing is not None and c.name not in existing[t.name]:
                continue
            statements.append(f"COMMENT ON COLUMN shared.{t.name}.{c.name} IS "
                              f"{_literal(f'{c.zh} — {c.en} [{c.sharing}; {c.personal}]')};")
    return statements


def existing_shared_columns(conn: sa.Connection) -> dict[str, list[str]]:
    """{table or view: its columns in order} of schema `shared` in the database (through
    information_schema, which both PostgreSQL and DuckDB offer)."""
    rows = conn.exec_driver_sql(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'shared' ORDER BY table_name, ordinal_position").all()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def write_catalogue_outputs(docs_dir: Path, engine: sa.Engine | None = None) -> dict:
    """Write data-dictionary.md/.html and catalogue-comments.sql under `docs_dir`; with a
    PostgreSQL `engine`, also apply the comments to what exists there."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    (docs_dir / "data-dictionary.md").write_text(data_dictionary_markdown(), encoding="utf-8")
    (docs_dir / "data-dictionary.html").write_text(data_dictionary_html(), encoding="utf-8")
    (docs_dir / "catalogue-comments.sql").write_text(
        "\n".join(comment_statements()) + "\n", encoding="utf-8")
    applied = 0
    if engine is not None and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for statement in comment_statements(existing_shared_columns(conn)):
                conn.execute(sa.text(statement))
                applied += 1
    return {"docs": str(docs_dir), "comments_applied": applied}
