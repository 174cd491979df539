"""Tables the pipeline owns. Published `shared.*` names follow the spec (docs/spec/warehouse.md)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("quarantine_id", sa.String(64), primary_key=True, autoincrement=False,
              comment="sha256 of source, location, reason and raw: the same rejection twice is one row"),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("source_record_id", sa.String(512), comment="the record key, when readable"),
    sa.Column("raw_location", sa.String(1024), comment="file#line or landing partition"),
    sa.Column("reason", sa.Text, nullable=False, comment="which rule failed, in words"),
    sa.Column("raw", sa.Text, comment="the record as it arrived, or null when the raw file keeps it"),
    sa.Column("run_id", sa.String(256), nullable=False),
    sa.Column("quarantined_at", TS, nullable=False),
    sa.Column("replayed_at", TS),
    sa.Column("rules", sa.Text, comment="ids of the failed rules (expectations/rules), comma-separated"),
    sa.Column("severity", sa.String(16), comment="critical for a record that failed validation"),
    sa.Column("landed_record", sa.Text,
              comment="the landed row (source and landing columns) as JSON, for replay"),
    schema="shared",
)

load_audit = sa.Table(
    "load_audit", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(256), primary_key=True),
    sa.Column("window_start", TS),
    sa.Column("window_end", TS),
    sa.Column("records_received", sa.BigInteger, nullable=False),
    sa.Column("records_landed", sa.BigInteger, nullable=False),
    sa.Column("records_loaded", sa.BigInteger),
    sa.Column("records_quarantined", sa.BigInteger, nullable=False),
    sa.Column("watermark_before", sa.String(64)),
    sa.Column("watermark_after", sa.String(64)),
    sa.Column("schema_drift", sa.Text, comment="unknown fields seen, comma-separated"),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("ended_at", TS),
    schema="shared",
)

watermark = sa.Table(
    "watermark", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(256), nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    schema="ops",
)

file_manifest = sa.Table(
    "file_manifest", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(256), nullable=False),
    sa.Column("landed_at", TS, nullable=False),
    schema="ops",
)



record_version = sa.Table(
    "record_version", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("source_record_id", sa.String(512), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True,
              comment="one row per version of a source record"),
    sa.Column("record_updated_at", sa.String(40), comment="the source's change time, as sent"),
    sa.Column("record", sa.Text, nullable=False, comment="the record as JSON text"),
    sa.Column("warnings", sa.Text,
              comment="warning-severity validation rules the version failed (comma-separated)"),
    sa.Column("run_id", sa.String(256), nullable=False, comment="the run that first landed it"),
    sa.Column("landed_at", TS, nullable=False),
    schema="staging",
)

extraction_window = sa.Table(
    "extraction_window", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("part", sa.String(128), primary_key=True, comment="the window's landing part"),
    sa.Column("lower_bound", sa.String(64),
              comment="change time the window's first run read from (null: from the start)"),
    sa.Column("run_id", sa.String(256), nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    schema="ops",
)


def create_all(engine: sa.Engine) -> None:
    metadata.create_all(engine)
