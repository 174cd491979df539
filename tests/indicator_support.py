"""A small, hand-checkable city for the indicator tests: rows written straight into the
published tables (tickets, dispatches, whistle summons, grid events, xrefs, mentions, staged
department records), rosters staged and published through publication, and helpers to read
`shared.indicator_value` back."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import sqlalchemy as sa

from warehouse.engine import bulk_insert

CITY, DISTRICT = "150100000000", "150102000000"
S1, S2 = "150102001000", "150102002000"
C1, C2, C3, C4 = "150102001001", "150102001002", "150102002001", "150102002002"

DIVISIONS = pd.DataFrame({
    "code": [CITY, DISTRICT, S1, S2, C1, C2, C3, C4],
    "name": ["呼和浩特市", "新城区", "海拉尔东路街道", "东街街道", "团结社区", "幸福社区",
             "光明社区", "光华社区"],
    "level": ["city", "district", "street", "street", "community", "community", "community",
              "community"],
    "parent_code": [None, CITY, DISTRICT, DISTRICT, S1, S1, S2, S2],
})
GRIDS = pd.DataFrame({
    "grid_code": [C1 + "001", C1 + "002", C2 + "001", C3 + "001", C4 + "001"],
    "community_code": [C1, C1, C2, C3, C4],
    "name": ["第1网格", "第2网格", "第1网格", "第1网格", "第1网格"],
    "grid_worker_staff_no": ["G1", "G9", "G2", "G3", "G4"],
})
LINEAGE = {"content_hash": "h", "run_id": "test", "loaded_at": "2026-11-11T01:00:00+00:00"}


def ts(text: str | None) -> pd.Timestamp | None:
    """A local time written as 'MM-DD HH:MM' (November 2026 unless the month says otherwise)."""
    if text is None:
        return None
    return pd.Timestamp(f"2026-{text}:00+08:00").tz_convert("UTC")


def insert(conn: sa.Connection, table: str, rows: list[dict], **defaults) -> None:
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    for column in frame.columns:
        if (column.endswith("_at") and column != "record_updated_at") \
                or column in ("first_seen", "last_seen"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    bulk_insert(conn, frame, table)


def tickets(rows: list[tuple]) -> list[dict]:
    """(id, received, urgency, community, street, first contact, resolved, callback called,
    reached, resolved answer, satisfaction, resident, phone)."""
    keys = ("ticket_id", "received_at", "urgency", "community_code", "street_code",
            "first_contact_at", "resolved_at", "callback_called_at", "callback_reached",
            "callback_resolved", "callback_satisfaction", "resident_id", "caller_phone")
    out = []
    for row in rows:
        record = dict(zip(keys, row))
        for key in ("received_at", "first_contact_at", "resolved_at", "callback_called_at"):
            record[key] = ts(record[key])
        street = record["street_code"]
        record["district_code"] = DISTRICT if street else None
        record.update({"source": "hotline.tickets", "source_record_id": record["ticket_id"],
                       "updated_at": ts("11-10 23:00"), **LINEAGE})
        out.append(record)
    return out


def staged(source: str, rows: list[dict], key: str) -> list[dict]:
    """Department records as staging.record_version holds them (a version per row, staged
    when it landed)."""
    out = []
    for n, row in enumerate(rows):
        record = {k: v for k, v in row.items() if not k.startswith("_")}
        landed = pd.Timestamp(row.get("_landed", "2026-11-09T02:00:00+00:00"))
        out.append({"source": source, "source_record_id": row[key], "content_hash": f"v{n}",
                    "record_updated_at": row.get("_updated", "2026-11-01 08:00:00"),
                    "record": json.dumps(record, ensure_ascii=False), "run_id": "test",
                    "landed_at": landed, "staged_at": landed})
    return out


def roster_records(street: str, file: str, sha: str, people: list[tuple]) -> list[dict]:
    """A roster file's rows (row numbers from 2): (name, community, post, staff_no)."""
    path = f"rosters/{street}/202611/{file}"
    return [{"source_record_id": f"{path}#!{n + 2}", "street_code": street,
             "roster_month": "202611", "file": path, "file_sha256": sha, "name": name,
             "id_number": None, "community": community, "post": post, "post_grade": None,
             "staff_no": staff, "phone": None, "updated_at": None}
            for n, (name, community, post, staff) in enumerate(people)]


def values(engine: sa.Engine, kind: str = "day", start: date = date(2026, 11, 10)) -> dict:
    """{(code, division[, dimension]): (value, numerator, denominator)} of one period."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT indicator_code, division_code, dimension, value, numerator, denominator "
            "FROM shared.indicator_value WHERE period_kind = :k AND period_start = :s"),
            {"k": kind, "s": start}).all()
    out = {}
    for code, division, dimension, value, numerator, denominator in rows:
        key = (code, division) if dimension is None else (code, division, dimension)
        out[key] = (value, numerator, denominator)
    return out
