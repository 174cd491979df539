"""The day's numbers as feeds: CSV (UTF-8 with BOM so Excel opens it; cells that would start
a formula neutralised by the export rule of warehouse.access), Parquet and JSON, one file of
each per day with the same fixed schema, and a manifest with their sha256 checksums."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reports.data import ReportData
from reports.labels import INDICATORS
from warehouse.access import spreadsheet_text

SCHEMA_VERSION = 1
# The feed's schema: never reorder or retype a column; add new ones at the end.
SCHEMA = pa.schema([
    ("indicator_code", pa.string()), ("indicator_name", pa.string()),
    ("period_kind", pa.string()), ("period_start", pa.date32()),
    ("division_code", pa.string()), ("division_name", pa.string()),
    ("division_level", pa.string()), ("dimension", pa.string()),
    ("value", pa.float64()), ("numerator", pa.float64()), ("denominator", pa.float64()),
    ("revised", pa.bool_()), ("computed_at", pa.timestamp("us", tz="UTC")),
])


def feed_frame(data: ReportData) -> pd.DataFrame:
    """The day's and the month-to-date rows of the report's divisions, named."""
    rows = pd.concat([data.today, data.month], ignore_index=True)
    divisions = data.divisions.set_index("code")
    rows["indicator_name"] = rows["indicator_code"].map(
        lambda code: INDICATORS[code].zh if code in INDICATORS else code)
    rows["division_name"] = rows["division_code"].map(divisions["name"])
    rows["division_level"] = rows["division_code"].map(divisions["level"])
    rows["computed_at"] = pd.to_datetime(rows["computed_at"], utc=True)
    return rows[SCHEMA.names].sort_values(
        ["period_kind", "indicator_code", "division_code", "dimension"],
        na_position="first").reset_index(drop=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_feeds(data: ReportData, out: Path, stem: str) -> dict[str, Path]:
    """Write `<stem>.csv`, `.parquet`, `.json` and `<stem>.manifest.json` under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    frame = feed_frame(data)
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
    paths = {"csv": out / f"{stem}.csv", "parquet": out / f"{stem}.parquet",
             "json": out / f"{stem}.json"}
    pq.write_table(table, paths["parquet"])
    text = frame.copy()
    text["period_start"] = text["period_start"].map(date.isoformat)
    text["computed_at"] = text["computed_at"].map(lambda t: t.isoformat())
    with paths["csv"].open("w", encoding="utf-8-sig", newline="") as handle:
        # Text columns only: numbers and flags are never formulas.
        strings = text.select_dtypes(exclude=["number", "bool"]).columns
        text.assign(**{c: text[c].map(spreadsheet_text) for c in strings}) \
            .to_csv(handle, index=False)
    # pandas' own JSON writer (nulls as null); a Python-level dump costs seconds per city.
    rows = json.loads(text.to_json(orient="records", force_ascii=False))
    document = {"schema_version": SCHEMA_VERSION, "day": data.day.isoformat(),
                "division_code": data.division.code, "division_name": data.division.name,
                "columns": SCHEMA.names, "rows": rows}
    paths["json"].write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    manifest = {
        "schema_version": SCHEMA_VERSION, "day": data.day.isoformat(),
        "division_code": data.division.code,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(frame),
        "schema": [{"name": field.name, "type": str(field.type)} for field in SCHEMA],
        "files": [{"name": path.name, "format": kind, "bytes": path.stat().st_size,
                   "sha256": _sha256(path)} for kind, path in paths.items()],
    }
    paths["manifest"] = out / f"{stem}.manifest.json"
    paths["manifest"].write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                 encoding="utf-8")
    return paths
