"""Publish staged source records into the shared tables (docs/spec/warehouse.md).

`publish(config, run_id)` reads the versions staged since the last publish (and those of
this run), keeps the newest version of each record, cleans it and merges it into the
latest-state tables in one transaction: `shared.hotline_ticket` and `shared.grid_event`
through `apply_scd2` (history in `*_history`), their child rows replaced with their parent,
`shared.community_worker` from the newest roster month of each street. Every row keeps its
lineage (source, source_record_id, content_hash of the staged version, run_id).

Divisions of a ticket: the operator's codes are checked against the address text; where
they are missing or contradict an address that names a community, the address wins.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from common.sources import GRID, HOTLINE, ROSTERS
from transforms import identifiers
from transforms.address import parse_address
from transforms.records import explode_children, flatten_grid, flatten_hotline, parse_records
from warehouse.engine import bulk_insert, upsert
from warehouse.scd2 import apply_scd2

log = logging.getLogger(__name__)



def _watermark_key(source: str) -> str:
    return f"publish:{source}"


def staged_versions(conn: sa.Connection, source: str, run_id: str,
                    full: bool = False) -> pd.DataFrame:
    """The newest staged version of each record with a version staged since the source's
    last publish (or by `run_id`; every record with `full`), and when that record's last
    version was staged (`last_staged`). Staged, not landed: a record released from
    quarantine landed days before it is staged. The newest is chosen among all the record's
    versions, so a replayed older version never replaces a newer one already published."""
    watermark = None if full else conn.execute(sa.text(
        "SELECT value FROM ops.watermark WHERE source = :s"),
        {"s": _watermark_key(source)}).scalar()
    rows = conn.execute(sa.text(
        "SELECT source_record_id, content_hash, record_updated_at, record, run_id, last_staged "
        "FROM (SELECT *, row_number() OVER (PARTITION BY source_record_id "
        "      ORDER BY record_updated_at DESC, landed_at DESC) AS newest, "
        "      max(staged_at) OVER (PARTITION BY source_record_id) AS last_staged "
        "      FROM staging.record_version WHERE source = :source "
        "      AND source_record_id IN (SELECT source_record_id FROM staging.record_version "
        "        WHERE source = :source AND (:all "
        "          OR staged_at > CAST(:watermark AS TIMESTAMP WITH TIME ZONE) "
        "          OR run_id = :run_id))) AS v "
        "WHERE newest = 1 ORDER BY source_record_id"),
        {"source": source, "all": watermark is None, "watermark": watermark or
         "1970-01-01T00:00:00+00:00", "run_id": run_id}).all()
    return pd.DataFrame(rows, columns=["source_record_id", "content_hash", "record_updated_at",
                                       "record", "run_id", "last_staged"])


def _advance_watermark(conn: sa.Connection, source: str, versions: pd.DataFrame,
                       run_id: str) -> None:
    if versions.empty:
        return
    newest = pd.to_datetime(versions["last_staged"], utc=True).max()
    current = conn.execute(sa.text("SELECT value FROM ops.watermark WHERE source = :s"),
                           {"s": _watermark_key(source)}).scalar()
    if current is not None and pd.Timestamp(current) >= newest:
        return  # a re-run of an older run's publish never moves it back
    upsert(conn, pd.DataFrame([{"source": _watermark_key(source), "value": newest.isoformat(),
                                "run_id": run_id, "updated_at": datetime.now(UTC)}]),
           "ops.watermark", ["source"])


def _clean_ids(values: pd.Series) -> pd.Series:
    """Normalised 18-character ID numbers; a value that cannot be normalised stays as sent."""
    normalised = identifiers.normalize_id_number(values.reset_index(drop=True))["id_number"]
    return pd.Series(normalised.to_numpy(), index=values.index, dtype="str") \
        .fillna(values.astype("str"))


def _clean_phones(values: pd.Series) -> pd.Series:
    normalised = identifiers.normalize_phone(values.reset_index(drop=True))["phone"]
    return pd.Series(normalised.to_numpy(), index=values.index, dtype="str") \
        .fillna(values.astype("str"))


def _timestamps(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="str"), utc=True, errors="coerce",
                          format="ISO8601")


def resolve_divisions(address: pd.Series, street: pd.Series, community: pd.Series,
                      divisions: pd.DataFrame) -> pd.DataFrame:
    """district/street/community codes from the address where it names a community or
    contradicts the given codes, else the given codes where the reference knows them.
    Columns district_code, street_code, community_code, division_basis."""
    parents = divisions.set_index("code")["parent_code"]
    known = set(divisions["code"])
    parsed = parse_address(address.fillna(""), divisions)
    given_community = community.where(community.isin(known))
    given_street = street.where(street.isin(known)).fillna(given_community.map(parents))
    by_address = parsed["community_code"].notna()
    # A street-level address overrules given codes that lie in another street.
    contradicts = parsed["street_code"].notna() & given_street.notna() & \
        (parsed["street_code"] != given_street)
    community_code = parsed["community_code"].where(
        by_address, given_community.where(~contradicts))
    street_code = community_code.map(parents).fillna(
        parsed["street_code"].where(parsed["street_code"].notna(), given_street))
    district_code = street_code.map(parents).fillna(parsed["district_code"])
    basis = np.where(by_address | contradicts, "address",
                     np.where(street_code.notna(), "operator", "none"))
    return pd.DataFrame({"district_code": district_code.astype("str"),
                         "street_code": street_code.astype("str"),
                         "community_code": community_code.astype("str"),
                         "division_basis": basis}, index=address.index)


def _lineage(versions: pd.DataFrame, source: str, run_id: str, now: datetime) -> dict:
    return {"source": source, "source_record_id": versions["source_record_id"].to_numpy(),
            "content_hash": versions["content_hash"].to_numpy(), "run_id": run_id,
            "loaded_at": now}


def _children(records: list[dict], field: str, parents: pd.Series, hashes: pd.Series,
              parent_key: str, columns: dict[str, str], timestamps=()) -> pd.DataFrame:
    """One row per element of each record's `field` list: parent key, 0-based `seq`, the
    child's fields (`columns` maps child key -> column) and the parent version's hash."""
    owners, items = explode_children(records, field)
    seq = pd.Series(owners).groupby(owners).cumcount().to_numpy()
    frame = pd.DataFrame({parent_key: parents.to_numpy()[owners], "seq": seq})
    for key, column in columns.items():
        frame[column] = pd.Series([i.get(key) for i in items], dtype="str")
    for column in timestamps:
        frame[column] = _timestamps(frame[column])
    frame["content_hash"] = hashes.to_numpy()[owners]
    return frame


def _replace_children(conn: sa.Connection, table: str, parent_key: str,
                      changed: pd.Series, children: pd.DataFrame) -> None:
    """Children of the parents that changed are replaced by the new version's children."""
    if changed.empty:
        return
    conn.exec_driver_sql("DROP TABLE IF EXISTS _changed_parents")
    conn.exec_driver_sql(f"CREATE TEMP TABLE _changed_parents ({parent_key} VARCHAR)")
    bulk_insert(conn, pd.DataFrame({parent_key: changed.to_numpy()}), "_changed_parents")
    conn.exec_driver_sql(f"DELETE FROM {table} WHERE {parent_key} IN "
                         f"(SELECT {parent_key} FROM _changed_parents)")
    conn.exec_driver_sql("DROP TABLE _changed_parents")
    bulk_insert(conn, children[children[parent_key].isin(set(changed))], table)


def hotline_frames(versions: pd.DataFrame, divisions: pd.DataFrame, run_id: str,
                   now: datetime) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(tickets, dispatches, whistle summons) of staged ticket versions, cleaned."""
    flat = flatten_hotline(pd.DataFrame({"raw": versions["record"].to_numpy()}))
    records = parse_records(versions["record"].reset_index(drop=True))
    whistles = [r.get("whistle") if isinstance(r.get("whistle"), dict) else {} for r in records]
    places = resolve_divisions(flat["address_text"], flat["street_code"],
                               flat["community_code"], divisions)
    tickets = pd.DataFrame({
        "ticket_id": flat["ticket_id"],
        **{c: flat[c] for c in ("channel", "type", "urgency", "category_code", "category",
                                "title", "content", "caller_name", "anonymous",
                                "address_text", "lat", "lon", "status", "callback_reached",
                                "callback_resolved", "callback_satisfaction",
                                "related_grid_event_id", "dispatch_count")},
        "received_at": flat["received_at_ts"],
        "caller_phone": _clean_phones(flat["caller_phone"]),
        "caller_id_number": _clean_ids(flat["caller_id_number"]),
        **{c: places[c] for c in places.columns},
        "operator_street_code": flat["street_code"],
        "operator_community_code": flat["community_code"],
        "first_contact_at": flat["first_contact_at_ts"],
        "resolved_at": flat["resolved_at_ts"],
        "callback_called_at": flat["callback_called_at_ts"],
        "whistle_blown_at": _timestamps([w.get("blown_at") for w in whistles]),
        "whistle_street_code": pd.Series([w.get("street_code") for w in whistles], dtype="str"),
        "updated_at": flat["updated_at_ts"],
        **_lineage(versions, HOTLINE, run_id, now),
    })
    hashes = versions["content_hash"]
    dispatches = _children(records, "dispatches", flat["ticket_id"], hashes, "ticket_id",
                           {k: k for k in ("dept_code", "mode", "dispatched_at", "accepted_at",
                                           "returned_at", "return_reason")},
                           ("dispatched_at", "accepted_at", "returned_at"))
    summoned = [{**r, "summoned": w.get("summoned")} for r, w in zip(records, whistles)]
    summons = _children(summoned, "summoned", flat["ticket_id"], hashes, "ticket_id",
                        {"dept_code": "dept_code", "reported_at": "reported_at"},
                        ("reported_at",))
    return tickets, dispatches, summons


def grid_frames(versions: pd.DataFrame, divisions: pd.DataFrame, run_id: str,
                now: datetime) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(events, persons, units) of staged grid event versions, cleaned. An event's community
    is its grid code's; the address decides only where the grid code is unknown."""
    flat = flatten_grid(pd.DataFrame({"raw": versions["record"].to_numpy()}))
    records = parse_records(versions["record"].reset_index(drop=True))
    places = resolve_divisions(flat["address_text"], pd.Series(np.nan, index=flat.index,
                                                               dtype="str"),
                               pd.Series(np.nan, index=flat.index, dtype="str"), divisions)
    parents = divisions.set_index("code")["parent_code"]
    from_grid = flat["grid_community_code"].where(
        flat["grid_community_code"].isin(set(divisions["code"])))
    community = from_grid.fillna(places["community_code"])
    street = community.map(parents).fillna(places["street_code"])
    events = pd.DataFrame({
        "event_id": flat["event_id"],
        "grid_code": flat["grid_code"],
        "district_code": street.map(parents).fillna(places["district_code"]).astype("str"),
        "street_code": street.astype("str"),
        "community_code": community.astype("str"),
        **{c: flat[c] for c in ("reporter_staff_no", "reporter_name", "category_code",
                                "category", "description", "address_text", "lat", "lon",
                                "status", "dispatched_dept_code", "hotline_ticket_id")},
        "reported_at": flat["reported_at_ts"],
        "report_source": flat["source"],
        "deadline_at": flat["deadline_at_ts"],
        "closed_at": flat["closed_at_ts"],
        "updated_at": flat["updated_at_ts"],
        **_lineage(versions, GRID, run_id, now),
    })
    hashes = versions["content_hash"]
    persons = _children(records, "persons", flat["event_id"], hashes, "event_id",
                        {"name": "name", "id_number": "id_number", "phone": "phone",
                         "role": "role"})
    persons["id_number"] = _clean_ids(persons["id_number"])
    persons["phone"] = _clean_phones(persons["phone"])
    persons["source_record_id"] = persons["event_id"] + "#" + persons["seq"].astype("str")
    units = _children(records, "units", flat["event_id"], hashes, "event_id",
                      {"name": "name", "uscc": "uscc", "role": "role"})
    uscc = identifiers.normalize_uscc(units["uscc"].reset_index(drop=True))
    units["uscc"] = pd.Series(uscc["uscc"].to_numpy(), index=units.index, dtype="str") \
        .fillna(units["uscc"])
    units["source_record_id"] = units["event_id"] + "#" + units["seq"].astype("str")
    return events, persons, units


def worker_frame(versions: pd.DataFrame, divisions: pd.DataFrame, run_id: str,
                 now: datetime) -> pd.DataFrame:
    """Roster rows as community workers; the roster's community name is resolved to its
    code within the roster's street."""
    rows = pd.DataFrame([json.loads(r) for r in versions["record"]], index=versions.index)
    for column in ("name", "id_number", "gender", "birth", "community", "post", "post_grade",
                   "staff_no", "phone", "street_code", "roster_month"):
        if column not in rows:
            rows[column] = None
        rows[column] = rows[column].astype("str").where(rows[column].notna())
    street_names = divisions.set_index("code")["name"]
    places = parse_address(rows["street_code"].map(street_names).fillna("")
                           + rows["community"].fillna(""), divisions)
    in_street = places["street_code"] == rows["street_code"]
    return pd.DataFrame({
        "source_record_id": versions["source_record_id"],
        "street_code": rows["street_code"], "roster_month": rows["roster_month"],
        "community_code": places["community_code"].where(in_street).astype("str"),
        "community_name": rows["community"], "name": rows["name"],
        "id_number": _clean_ids(rows["id_number"]), "gender": rows["gender"],
        "birth": rows["birth"], "post": rows["post"], "post_grade": rows["post_grade"],
        "staff_no": rows["staff_no"], "phone": _clean_phones(rows["phone"]),
        "source": ROSTERS,
        "content_hash": versions["content_hash"], "run_id": run_id, "loaded_at": now,
    })


def _publish_latest(conn, source, versions, run_id, now, table, key, latest, children):
    """A source's records as latest state with history (a version takes effect at its own
    `updated_at`), their child rows replaced for the records that changed, and the source's
    publication watermark advanced."""
    result = apply_scd2(conn, latest, table, [key], history=f"{table}_history",
                        valid_from="updated_at", now=now)
    for child_table, rows in children.items():
        _replace_children(conn, child_table, key, result.changed[key], rows)
    _advance_watermark(conn, source, versions, run_id)
    return result


def publish_hotline(conn, divisions, run_id, now, full=False) -> dict:
    versions = staged_versions(conn, HOTLINE, run_id, full)
    if versions.empty:
        return {"received": 0, "changed": 0}
    tickets, dispatches, summons = hotline_frames(versions, divisions, run_id, now)
    result = _publish_latest(conn, HOTLINE, versions, run_id, now, "shared.hotline_ticket",
                             "ticket_id", tickets, {"shared.hotline_dispatch": dispatches,
                                                    "shared.hotline_whistle_summons": summons})
    return {"received": result.received, "changed": result.changed_count}


def publish_grid(conn, divisions, run_id, now, full=False) -> dict:
    versions = staged_versions(conn, GRID, run_id, full)
    if not versions.empty:
        events, persons, units = grid_frames(versions, divisions, run_id, now)
        result = _publish_latest(conn, GRID, versions, run_id, now, "shared.grid_event",
                                 "event_id", events, {"shared.grid_event_person": persons,
                                                      "shared.grid_event_unit": units})
    else:
        result = None
    # A ticket can name its grid event after the event was published: link it then.
    linked = conn.exec_driver_sql(
        "UPDATE shared.grid_event SET hotline_ticket_id = t.ticket_id "
        "FROM shared.hotline_ticket t WHERE t.related_grid_event_id = grid_event.event_id "
        "AND grid_event.hotline_ticket_id IS NULL").rowcount
    return {"received": result.received if result else 0,
            "changed": result.changed_count if result else 0, "linked_tickets": linked}


def publish_rosters(conn, divisions, run_id, now, full=False) -> dict:
    """The newest roster month of each street replaces that street's earlier months; a late
    roster of an older month changes nothing."""
    versions = staged_versions(conn, ROSTERS, run_id, full)
    if versions.empty:
        return {"received": 0, "changed": 0, "left": 0}
    workers = worker_frame(versions, divisions, run_id, now)
    workers = workers[workers["street_code"].notna() & workers["roster_month"].notna()]
    current = pd.DataFrame(conn.exec_driver_sql(
        "SELECT street_code, max(roster_month) FROM shared.community_worker "
        "GROUP BY street_code").all(), columns=["street_code", "current_month"])
    newest = workers.groupby("street_code")["roster_month"].max().rename("newest_month")
    months = newest.reset_index().merge(current, on="street_code", how="left")
    months = months[months["current_month"].isna() |
                    (months["newest_month"] >= months["current_month"])]
    keep = workers.merge(months, on="street_code")
    keep = keep[keep["roster_month"] == keep["newest_month"]][list(workers.columns)]
    left = 0
    for street, month in months[["street_code", "newest_month"]].itertuples(index=False):
        left += conn.execute(sa.text(
            "DELETE FROM shared.community_worker WHERE street_code = :s AND roster_month < :m"),
            {"s": street, "m": month}).rowcount
    result = apply_scd2(conn, keep, "shared.community_worker", ["source_record_id"], now=now,
                        return_keys=False)
    _advance_watermark(conn, ROSTERS, versions, run_id)
    return {"received": result.received, "changed": result.changed_count, "left": left}


# (table, its record key column, the xref source, the id column) filled from resolution.
RESOLVED_LINKS = (
    ("shared.hotline_ticket", "ticket_id", "resident_xref", HOTLINE, "resident_id"),
    ("shared.community_worker", "source_record_id", "resident_xref", ROSTERS, "resident_id"),
    ("shared.grid_event_person", "source_record_id", "resident_xref", "grid.events.persons",
     "resident_id"),
    ("shared.grid_event_unit", "source_record_id", "unit_xref", "grid.events.units", "unit_id"),
)


def link_resolved(conn: sa.Connection) -> dict:
    """Fill resident_id / unit_id from the resolution's xref tables where they exist."""
    inspector = sa.inspect(conn)
    linked = {}
    for table, key, xref, source, id_column in RESOLVED_LINKS:
        if not inspector.has_table(xref, schema="shared"):
            continue
        linked[table] = conn.execute(sa.text(
            f"UPDATE {table} SET {id_column} = x.{id_column} FROM shared.{xref} x "
            f"WHERE x.source = :source AND x.source_record_id = {table}.{key} "
            f"AND {table}.{id_column} IS DISTINCT FROM x.{id_column}"),
            {"source": source}).rowcount
    return linked


def publish(config: dict, run_id: str, full: bool = False, engine: sa.Engine | None = None
            ) -> dict:
    """Publish what was staged since the last publish (`full`: everything staged) into the
    shared tables, in one transaction. Returns counts per source."""
    from common.reference import load_reference
    from warehouse.migrate import open_warehouse

    if engine is None:
        engine = open_warehouse(config.get("warehouse_url"))
    divisions = load_reference(config=config).divisions
    now = datetime.now(UTC)
    with engine.begin() as conn:
        summary = {
            HOTLINE: publish_hotline(conn, divisions, run_id, now, full),
            GRID: publish_grid(conn, divisions, run_id, now, full),
            ROSTERS: publish_rosters(conn, divisions, run_id, now, full),
            "resolved_links": link_resolved(conn),
        }
    log.info("published: %s", summary)
    return summary
