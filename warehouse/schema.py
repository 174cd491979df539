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
    sa.Column("staged_at", TS, nullable=False,
              comment="when this version entered staging (a replay stages it after it landed)"),
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

batch_hold = sa.Table(
    "batch_hold", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(256), primary_key=True),
    sa.Column("run_date", sa.Date, nullable=False, comment="the landing partition held"),
    sa.Column("reason", sa.Text, nullable=False, comment="the batch rule and what it saw"),
    sa.Column("held_at", TS, nullable=False),
    sa.Column("released_at", TS, comment="when the batch was validated again and loaded"),
    sa.Column("release_reason", sa.Text),
    schema="ops",
)


# Published source tables (docs/spec/warehouse.md). Each carries its lineage: the source, the
# record key and content hash of the staged version it came from (staging.record_version)
# and the run that published it.


def _lineage() -> list[sa.Column]:
    return [
        sa.Column("source", sa.String(64), nullable=False, comment="source the row came from"),
        sa.Column("source_record_id", sa.String(512), nullable=False,
                  comment="the record key in that source"),
        sa.Column("content_hash", sa.String(64), nullable=False,
                  comment="hash of the staged version (staging.record_version)"),
        sa.Column("run_id", sa.String(256), nullable=False,
                  comment="the run that published this version"),
        sa.Column("loaded_at", TS, nullable=False),
    ]


hotline_ticket = sa.Table(
    "hotline_ticket", metadata,
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(16)),
    sa.Column("received_at", TS),
    sa.Column("type", sa.String(16)),
    sa.Column("urgency", sa.String(16)),
    sa.Column("category_code", sa.String(16)),
    sa.Column("category", sa.String(256)),
    sa.Column("title", sa.Text),
    sa.Column("content", sa.Text),
    sa.Column("caller_name", sa.String(128)),
    sa.Column("caller_phone", sa.String(32), comment="normalised phone"),
    sa.Column("caller_id_number", sa.String(18), comment="normalised 18-character ID number"),
    sa.Column("anonymous", sa.Boolean),
    sa.Column("address_text", sa.Text),
    sa.Column("lat", sa.Double),
    sa.Column("lon", sa.Double),
    sa.Column("district_code", sa.String(12)),
    sa.Column("street_code", sa.String(12)),
    sa.Column("community_code", sa.String(12)),
    sa.Column("operator_street_code", sa.String(12)),
    sa.Column("operator_community_code", sa.String(12)),
    sa.Column("division_basis", sa.String(16), comment="address, operator or none"),
    sa.Column("status", sa.String(16)),
    sa.Column("first_contact_at", TS),
    sa.Column("resolved_at", TS),
    sa.Column("callback_called_at", TS),
    sa.Column("callback_reached", sa.Boolean),
    sa.Column("callback_resolved", sa.String(16)),
    sa.Column("callback_satisfaction", sa.String(16)),
    sa.Column("whistle_blown_at", TS),
    sa.Column("whistle_street_code", sa.String(12)),
    sa.Column("dispatch_count", sa.Integer),
    sa.Column("related_grid_event_id", sa.String(64)),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("resident_id", sa.String(64)),
    *_lineage(),
    schema="shared",
)

hotline_dispatch = sa.Table(
    "hotline_dispatch", metadata,
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("dept_code", sa.String(32)),
    sa.Column("mode", sa.String(16)),
    sa.Column("dispatched_at", TS),
    sa.Column("accepted_at", TS),
    sa.Column("returned_at", TS),
    sa.Column("return_reason", sa.Text),
    sa.Column("content_hash", sa.String(64), nullable=False),
    schema="shared",
)

hotline_whistle_summons = sa.Table(
    "hotline_whistle_summons", metadata,
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("dept_code", sa.String(32)),
    sa.Column("reported_at", TS),
    sa.Column("content_hash", sa.String(64), nullable=False),
    schema="shared",
)

grid_event = sa.Table(
    "grid_event", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("grid_code", sa.String(15)),
    sa.Column("district_code", sa.String(12)),
    sa.Column("street_code", sa.String(12)),
    sa.Column("community_code", sa.String(12)),
    sa.Column("reporter_staff_no", sa.String(32)),
    sa.Column("reporter_name", sa.String(128)),
    sa.Column("reported_at", TS),
    sa.Column("report_source", sa.String(16), comment="the contract's `source` field"),
    sa.Column("category_code", sa.String(16)),
    sa.Column("category", sa.String(256)),
    sa.Column("description", sa.Text),
    sa.Column("address_text", sa.Text),
    sa.Column("lat", sa.Double),
    sa.Column("lon", sa.Double),
    sa.Column("status", sa.String(16)),
    sa.Column("deadline_at", TS),
    sa.Column("dispatched_dept_code", sa.String(32)),
    sa.Column("closed_at", TS),
    sa.Column("hotline_ticket_id", sa.String(64)),
    sa.Column("updated_at", TS, nullable=False),
    *_lineage(),
    schema="shared",
)

def _grid_event_child(name: str, array: str, *columns: sa.Column) -> sa.Table:
    """One row per element of a grid event's `persons` / `units` array."""
    return sa.Table(
        name, metadata,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("source_record_id", sa.String(128), nullable=False,
                  comment=f"event_id#index: the key of grid.events.{array}"),
        *columns,
        sa.Column("content_hash", sa.String(64), nullable=False),
        schema="shared",
    )


grid_event_person = _grid_event_child(
    "grid_event_person", "persons",
    sa.Column("name", sa.String(128)),
    sa.Column("id_number", sa.String(18)),
    sa.Column("phone", sa.String(32)),
    sa.Column("role", sa.String(32)),
    sa.Column("resident_id", sa.String(64)),
)

grid_event_unit = _grid_event_child(
    "grid_event_unit", "units",
    sa.Column("name", sa.String(256)),
    sa.Column("uscc", sa.String(18)),
    sa.Column("role", sa.String(32)),
    sa.Column("unit_id", sa.String(64)),
)

community_worker = sa.Table(
    "community_worker", metadata,
    sa.Column("source_record_id", sa.String(1024), primary_key=True,
              comment="roster row key: path#sheet!row"),
    sa.Column("street_code", sa.String(12), nullable=False),
    sa.Column("roster_month", sa.String(6), nullable=False),
    sa.Column("community_code", sa.String(12)),
    sa.Column("community_name", sa.String(128), comment="as the roster wrote it"),
    sa.Column("name", sa.String(128)),
    sa.Column("id_number", sa.String(18)),
    sa.Column("gender", sa.String(8)),
    sa.Column("birth", sa.String(32)),
    sa.Column("post", sa.String(64)),
    sa.Column("post_grade", sa.String(32)),
    sa.Column("staff_no", sa.String(32)),
    sa.Column("phone", sa.String(32)),
    sa.Column("resident_id", sa.String(64)),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(256), nullable=False),
    sa.Column("loaded_at", TS, nullable=False),
    schema="shared",
)

indicator_value = sa.Table(
    "indicator_value", metadata,
    sa.Column("indicator_code", sa.String(64), nullable=False),
    sa.Column("period_kind", sa.String(8), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("division_code", sa.String(12), nullable=False),
    sa.Column("dimension", sa.String(64)),
    sa.Column("value", sa.Double),
    sa.Column("numerator", sa.Double),
    sa.Column("denominator", sa.Double),
    sa.Column("computed_at", TS, nullable=False),
    sa.Column("revised", sa.Boolean, nullable=False),
    sa.Column("run_id", sa.String(256)),
    sa.Index("ix_indicator_value_key", "indicator_code", "period_kind", "period_start",
             "division_code", "dimension"),
    schema="shared",
)


def history_table(current: sa.Table) -> sa.Table:
    """`<name>_history`: every version a latest-state table has held (SCD type 2): its
    columns, the time the version took effect (`valid_from`) and was replaced (`valid_to`,
    null while current)."""
    key = [c.name for c in current.primary_key.columns]
    columns = [sa.Column(c.name, c.type, comment=c.comment) for c in current.columns]
    return sa.Table(
        f"{current.name}_history", current.metadata, *columns,
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_to", TS),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Index(f"ix_{current.name}_history_key", *key, "valid_from"),
        schema=current.schema,
    )


hotline_ticket_history = history_table(hotline_ticket)
grid_event_history = history_table(grid_event)

grant_log = sa.Table(
    "grant_log", metadata,
    sa.Column("log_id", sa.String(36), primary_key=True),
    sa.Column("logged_at", TS, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False, comment="database and OS user"),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("role_name", sa.String(64)),
    sa.Column("action", sa.String(16), nullable=False,
              comment="grant, revoke, scope, unscope or export"),
    sa.Column("object", sa.String(256), nullable=False, comment="table, table.column or division"),
    sa.Column("detail", sa.Text),
    sa.Column("reason", sa.Text),
    schema="audit",
)

access_state = sa.Table(
    "access_state", metadata,
    sa.Column("department", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True, comment="table, column, scope or view"),
    sa.Column("object", sa.String(256), primary_key=True),
    sa.Column("detail", sa.Text, comment="for a view: the SQL it was created with"),
    sa.Column("applied_at", TS, nullable=False),
    schema="audit",
)

access_scope = sa.Table(
    "access_scope", metadata,
    sa.Column("role_name", sa.String(64), primary_key=True),
    sa.Column("division_code", sa.String(12), primary_key=True),
    schema="audit",
)


def create_all(engine: sa.Engine) -> None:
    metadata.create_all(engine)
    from warehouse.freshness import create_freshness_view

    create_freshness_view(engine)
