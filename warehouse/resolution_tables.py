"""Resolution's tables: entity state in `core`, published tables in `shared` (spec:
docs/spec/warehouse.md; the published column names are a contract)."""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.schema import history_table

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)
S = sa.String


def _mention_columns(kind: str) -> list[sa.Column]:
    common = [
        sa.Column("source", S(64), primary_key=True),
        sa.Column("source_record_id", S(512), primary_key=True),
        sa.Column("content_hash", S(64), nullable=False, comment="the version resolved"),
        sa.Column(f"{kind}_id", S(13), nullable=False),
        sa.Column("match_rule", S(32), nullable=False),
        sa.Column("match_score", sa.Double),
        sa.Column("first_seen", TS), sa.Column("last_seen", TS),
        sa.Column("run_id", S(256), nullable=False),
    ]
    if kind == "resident":
        fields = ["name", "name_pinyin", "surname_pinyin", "given_pinyin", "id_number",
                  "phone", "birth_date", "birth_ym", "gender", "district_code", "street_code",
                  "community_code", "compound", "building", "address", "household"]
        flags = ["id_valid", "id_checksum_ok", "id_area_ok"]
    else:
        fields = ["name", "unit_name_key", "parent_name_key", "uscc", "entity_type", "status",
                  "phone", "community_code"]
        flags = ["is_branch", "uscc_valid"]
    return common + [sa.Column(f, sa.Text) for f in fields] + \
        [sa.Column(f, sa.Boolean) for f in flags]


person_mention = sa.Table("person_mention", metadata, *_mention_columns("resident"),
                          sa.Index("ix_person_mention_rid", "resident_id"), schema="core")
unit_mention = sa.Table("unit_mention", metadata, *_mention_columns("unit"),
                        sa.Index("ix_unit_mention_uid", "unit_id"), schema="core")

resident_entity = sa.Table(
    "resident_entity", metadata,
    sa.Column("resident_id", S(13), primary_key=True),
    sa.Column("name", sa.Text), sa.Column("id_number", S(18)), sa.Column("gender", S(4)),
    sa.Column("birth_date", sa.Date), sa.Column("phone", S(32)), sa.Column("address", sa.Text),
    sa.Column("household", S(32)), sa.Column("community_code", S(12)),
    sa.Column("source_count", sa.Integer, nullable=False),
    sa.Column("mention_count", sa.Integer, nullable=False),
    sa.Column("first_seen", TS), sa.Column("last_seen", TS),
    sa.Column("retired", sa.Boolean, nullable=False, comment="merged or emptied: never reused"),
    sa.Column("run_id", S(256), nullable=False), schema="core")

unit_entity = sa.Table(
    "unit_entity", metadata,
    sa.Column("unit_id", S(13), primary_key=True),
    sa.Column("name", sa.Text), sa.Column("uscc", S(18)), sa.Column("entity_type", S(32)),
    sa.Column("status", S(16)), sa.Column("phone", S(32)), sa.Column("community_code", S(12)),
    sa.Column("source_count", sa.Integer, nullable=False),
    sa.Column("mention_count", sa.Integer, nullable=False),
    sa.Column("first_seen", TS), sa.Column("last_seen", TS),
    sa.Column("retired", sa.Boolean, nullable=False),
    sa.Column("run_id", S(256), nullable=False), schema="core")

id_sequence = sa.Table(
    "id_sequence", metadata,
    sa.Column("kind", S(16), primary_key=True),
    sa.Column("last_issued", sa.BigInteger, nullable=False,
              comment="ids are issued above this and never reused"), schema="core")

resolution_model = sa.Table(
    "resolution_model", metadata,
    sa.Column("kind", S(16), primary_key=True),
    sa.Column("settings_json", sa.Text, nullable=False, comment="the trained Splink model"),
    sa.Column("trained_at", TS, nullable=False), sa.Column("run_id", S(256), nullable=False),
    schema="core")

resolution_state = sa.Table(
    "resolution_state", metadata,
    sa.Column("kind", S(16), primary_key=True),
    sa.Column("landed_until", TS, nullable=False,
              comment="staged versions landed up to here are resolved"),
    sa.Column("run_id", S(256), nullable=False), schema="core")

resident = sa.Table(
    "resident", metadata,
    sa.Column("resident_id", S(13), primary_key=True), sa.Column("name", sa.Text),
    sa.Column("id_number_masked", S(18)), sa.Column("gender", S(4)),
    sa.Column("birth_date", sa.Date), sa.Column("community_code", S(12)),
    sa.Column("source_count", sa.Integer, nullable=False),
    sa.Column("first_seen", TS), sa.Column("last_seen", TS), schema="shared")

unit = sa.Table(
    "unit", metadata,
    sa.Column("unit_id", S(13), primary_key=True), sa.Column("name", sa.Text),
    sa.Column("uscc", S(18)), sa.Column("entity_type", S(32)), sa.Column("status", S(16)),
    sa.Column("community_code", S(12)), sa.Column("source_count", sa.Integer, nullable=False),
    sa.Column("first_seen", TS), sa.Column("last_seen", TS), schema="shared")


# Every version of every golden record (SCD type 2), for consumers who need the past.
resident_history = history_table(resident)
unit_history = history_table(unit)


def _xref(name: str, id_column: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("source", S(64), primary_key=True),
        sa.Column("source_record_id", S(512), primary_key=True),
        sa.Column(id_column, S(13), nullable=False),
        sa.Column("match_rule", S(32), nullable=False,
                  comment="exact_id / exact_uscc, probabilistic, new_entity"),
        sa.Column("match_score", sa.Double,
                  comment="1 for an exact key, the Splink match probability otherwise"),
        sa.Index(f"ix_{name}_{id_column}", id_column), schema="shared")


def _history(name: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("old_id", S(13), primary_key=True), sa.Column("new_id", S(13), primary_key=True),
        sa.Column("changed_at", TS, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False, comment="merge or split, and the run"),
        schema="shared")


resident_xref = _xref("resident_xref", "resident_id")
unit_xref = _xref("unit_xref", "unit_id")
resident_id_history = _history("resident_id_history")
unit_id_history = _history("unit_id_history")


def create_all(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for schema in ("core", "shared"):
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    metadata.create_all(engine)
