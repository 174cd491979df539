"""Resolution runs: read staged records, resolve (full or incremental), persist entity state
in `core` and publish `shared.resident*` / `shared.unit*`.

Incremental: only the mentions of records with a version landed since the last run are
read; the scope re-clustered is those mentions plus every existing entity that shares a
blocking key with them (ID number, phone, name pinyin with birth month or community; USCC,
unit name key...) and every entity they belonged to. Clustering is local, so re-clustering
that scope with the stored model gives what a full run with that model would give there.

Either way, only mentions whose id, link or content changed are written, and only the golden
records of entities they left or joined are rebuilt: a re-run that changes nothing writes
nothing. Staged records are streamed from the warehouse in chunks and matched on a
memory-capped DuckDB, so a city's registers never sit in memory as JSON or Python objects.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from common.masking import mask_id
from transforms.resolution import engine as eng
from transforms.resolution import golden, identity
from transforms.resolution import mentions as mn
from warehouse import resolution_tables as tables
from warehouse.engine import bulk_insert, iter_frames, read_frame, upsert
from warehouse.scd2 import apply_scd2

log = logging.getLogger(__name__)

# Columns whose equality puts an existing mention into an incremental run's scope.
SCOPE_KEYS = {
    "resident": [("id_number",), ("phone",), ("name_pinyin", "birth_ym"),
                 ("name_pinyin", "community_code"), ("surname_pinyin", "birth_date"),
                 ("name", "street_code")],
    # parent_name_key: a branch the register lacks joins the registered parent (engine rule 2).
    "unit": [("uscc",), ("unit_name_key",), ("phone",), ("parent_name_key",)],
}


def _kind(name: str) -> eng.EntityKind:
    return eng.RESIDENT if name == "resident" else eng.UNIT


def _tables(name: str):
    if name == "resident":
        return (tables.person_mention, tables.resident_entity, tables.resident,
                tables.resident_xref, tables.resident_id_history, mn.PERSON_SOURCES)
    return (tables.unit_mention, tables.unit_entity, tables.unit, tables.unit_xref,
            tables.unit_id_history, mn.UNIT_SOURCES)


def _landed_until(conn: sa.Connection, sources, since) -> datetime | None:
    """The newest staging among the kind's staged sources (after `since`): this run reads up
    to it, and the next incremental run starts from it (`core.resolution_state.landed_until`
    holds it). Staged, not landed: a record released from quarantine is staged days after
    it landed, and the next ordinary run must still resolve it."""
    names = ", ".join(f"'{s}'" for s in sorted({mn.STAGED_SOURCE[s] for s in sources}))
    after = " AND staged_at > :since" if since is not None else ""
    return conn.execute(sa.text(f"SELECT max(staged_at) FROM staging.record_version WHERE "
                                f"source IN ({names}){after}"), {"since": since}).scalar()


def _mentions(conn: sa.Connection, name: str, sources, since, until,
              divisions: pd.DataFrame) -> pd.DataFrame:
    """Mentions of the latest versions of the records staged in (since, until], built chunk by
    chunk as the warehouse streams them (a city's registers never sit in memory as JSON)."""
    build = (lambda latest: mn.person_mentions(latest, divisions)) if name == "resident" \
        else mn.unit_mentions
    sql = mn.latest_sql({mn.STAGED_SOURCE[s] for s in sources}, since=since is not None)
    params = {"until": until} | ({"since": since} if since is not None else {})
    chunks = iter_frames(conn, sql, params) if until is not None else ()
    parts = [part for part in (build(latest) for latest in chunks if len(latest)) if len(part)]
    if not parts:
        return pd.DataFrame(columns=mn.PERSON_COLUMNS if name == "resident"
                            else mn.UNIT_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _existing_scope(conn: sa.Connection, name: str, delta: pd.DataFrame,
                    mention_table: sa.Table) -> pd.DataFrame:
    """Existing mentions of every entity sharing a scope key with `delta` or holding one of
    its records."""
    id_col = f"{name}_id"
    table = f"core.{mention_table.name}"
    ids = set()
    for columns in SCOPE_KEYS[name] + [("source", "source_record_id")]:
        values = delta[list(columns)].dropna().drop_duplicates()
        if values.empty:
            continue
        conn.exec_driver_sql("DROP TABLE IF EXISTS _scope_keys")
        conn.exec_driver_sql("CREATE TEMP TABLE _scope_keys AS SELECT "
                             + ", ".join(f"{c} AS k{i}" for i, c in enumerate(columns))
                             + f" FROM {table} WHERE false")
        bulk_insert(conn, values.set_axis([f"k{i}" for i in range(len(columns))], axis=1),
                    "_scope_keys")
        on = " AND ".join(f"m.{c} = k.k{i}" for i, c in enumerate(columns))
        ids |= set(conn.exec_driver_sql(
            f"SELECT DISTINCT m.{id_col} FROM {table} m JOIN _scope_keys k ON {on}")
            .scalars())
    conn.exec_driver_sql("DROP TABLE IF EXISTS _scope_keys")
    if not ids:
        return pd.DataFrame()
    conn.exec_driver_sql("CREATE TEMP TABLE _scope_ids (id VARCHAR)")
    bulk_insert(conn, pd.DataFrame({"id": sorted(ids)}), "_scope_ids")
    existing = read_frame(conn, f"SELECT m.* FROM {table} m JOIN _scope_ids s ON "
                                f"m.{id_col} = s.id")
    conn.exec_driver_sql("DROP TABLE _scope_ids")
    return existing


def _stored(conn: sa.Connection, name: str, scope: pd.DataFrame) -> pd.DataFrame:
    """The stored rows of the scope's mentions, in the scope's order (nulls for mentions
    not stored yet)."""
    keys = scope[["source", "source_record_id"]]
    conn.exec_driver_sql("CREATE TEMP TABLE _scope_mentions (source VARCHAR, "
                         "source_record_id VARCHAR)")
    bulk_insert(conn, keys, "_scope_mentions")
    stored = read_frame(conn, f"SELECT m.* FROM core.{_tables(name)[0].name} m "
                              f"JOIN _scope_mentions k ON m.source = k.source "
                              f"AND m.source_record_id = k.source_record_id")
    conn.exec_driver_sql("DROP TABLE _scope_mentions")
    return keys.merge(stored, how="left", on=["source", "source_record_id"])


def _differs(before: pd.DataFrame, after: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows (aligned by position) where any of `columns` differs; two nulls are equal, and
    numbers compare at the precision the warehouse stores (match_score is a REAL)."""
    differs = np.zeros(len(after), dtype=bool)
    for column in columns:
        old, new = before[column], after[column]
        if pd.api.types.is_float_dtype(new.dtype):
            same = np.isclose(old.to_numpy(float), new.to_numpy(float), rtol=1e-6, atol=0)
        else:
            same = old.to_numpy() == new.to_numpy()
        differs |= ~(same | (old.isna().to_numpy() & new.isna().to_numpy()))
    return differs


def _model(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(sa.select(tables.resolution_model.c.settings_json)
                        .where(tables.resolution_model.c.kind == name)).scalar()


def _match(conn: sa.Connection, name: str, scope: pd.DataFrame, train: bool, run_id: str,
           now: datetime) -> tuple[pd.DataFrame, pd.DataFrame, list[str], set[str], dict]:
    """Match and cluster `scope`, give its mentions ids and store those whose content, id or
    link changed. Returns their xref rows, the id history, the retired ids, the ids touched
    (held by a changed mention before or after) and counts; everything else it builds
    (pairs, clusters) is freed on return."""
    kind = _kind(name)
    mention_table = _tables(name)[0]
    id_col = f"{name}_id"
    model = _model(conn, name)
    if model is None or train:
        model = eng.train(kind, scope)
        upsert(conn, pd.DataFrame([{"kind": name, "settings_json": model,
                                    "trained_at": now, "run_id": run_id}]),
               "core.resolution_model", ["kind"])
    pairs = eng.score_pairs(kind, scope, model)
    clustered = eng.cluster(kind, scope, pairs)
    old = _stored(conn, name, scope)
    last_issued = conn.execute(sa.select(tables.id_sequence.c.last_issued)
                               .where(tables.id_sequence.c.kind == name)).scalar() or 0
    ids, history, retired, last_issued = identity.assign_ids(
        clustered["label"], scope["source"] + "\x1f" + scope["source_record_id"],
        old[id_col], kind.prefix, last_issued)
    scope[id_col] = ids.to_numpy()
    scope["match_rule"] = clustered["match_rule"].to_numpy()
    scope["match_score"] = clustered["match_score"].to_numpy()
    # A record seen before keeps its first sighting.
    scope["first_seen"] = pd.concat([pd.to_datetime(old["first_seen"], utc=True),
                                     pd.to_datetime(scope["first_seen"], utc=True)],
                                    axis=1).min(axis=1)
    scope["run_id"] = run_id
    # Most of an incremental scope is re-clustered as it was: rewriting those rows would cost
    # the warehouse most of the run. (Every stored column counts, so a full run after a
    # change of normalisation rewrites what it changes.)
    stored_columns = [c.name for c in mention_table.columns if c.name in scope.columns]
    changed = _differs(old, scope, [c for c in stored_columns if c != "run_id"])
    upsert(conn, pd.DataFrame([{"kind": name, "last_issued": last_issued}]),
           "core.id_sequence", ["kind"])
    written = scope[changed]
    upsert(conn, written[stored_columns], f"core.{mention_table.name}",
           ["source", "source_record_id"])
    touched = set(written[id_col]) | set(old.loc[changed, id_col].dropna())
    counts = {"scope": len(scope), "pairs": len(pairs), "changed": int(changed.sum()),
              **{f"rule_{k}": int(v) for k, v in scope["match_rule"].value_counts().items()}}
    xref = written[["source", "source_record_id", id_col, "match_rule", "match_score"]].copy()
    return xref, history, retired, touched, counts


def resolve_kind(engine: sa.Engine, name: str, divisions: pd.DataFrame, run_id: str,
                 full: bool = False, retrain: bool | None = None) -> dict:
    """Resolve one kind (resident / unit) and publish it; returns counts."""
    mention_table, entity_table, shared_table, xref_table, history_table, sources = \
        _tables(name)
    id_col = f"{name}_id"
    now = datetime.now(UTC)
    with engine.begin() as conn:
        state = conn.execute(sa.select(tables.resolution_state.c.landed_until)
                             .where(tables.resolution_state.c.kind == name)).scalar()
        incremental = state is not None and not full
        since = state if incremental else None
        newest = _landed_until(conn, sources, since)
        landed_until = newest if newest is not None else state
        scope = _mentions(conn, name, sources, since, newest, divisions)
        delta_count = len(scope)
        if incremental and len(scope):
            existing = _existing_scope(conn, name, scope, mention_table)
            if len(existing):
                keys = set(zip(scope["source"], scope["source_record_id"]))
                existing = existing[[k not in keys for k in zip(existing["source"],
                                                                 existing["source_record_id"])]]
                existing = existing[[c for c in scope.columns if c in existing.columns]]
                scope = pd.concat([scope, existing], ignore_index=True)
            del existing
        if len(scope) == 0:
            return {"kind": name, "mentions": 0, "entities": 0, "mode": "incremental"}
        train = retrain if retrain is not None else not incremental
        # The warehouse streams rows in no fixed order; clustering breaks ties by position.
        scope = scope.sort_values(["source", "source_record_id"], ignore_index=True)
        xref, history, retired, touched, counts = _match(conn, name, scope, train, run_id, now)
        del scope
        # Entities a changed mention left or joined: recompute their golden records from all
        # their mentions.
        conn.exec_driver_sql("CREATE TEMP TABLE _touched (id VARCHAR)")
        bulk_insert(conn, pd.DataFrame({"id": sorted(touched)}, dtype="str"), "_touched")
        members = read_frame(conn, f"SELECT m.* FROM core.{mention_table.name} m "
                                   f"JOIN _touched t ON m.{id_col} = t.id")
        conn.exec_driver_sql("DROP TABLE _touched")
        gold = golden.resident_golden(members) if name == "resident" else \
            golden.unit_golden(members)
        del members
        gold["retired"] = False
        gold["run_id"] = run_id
        emptied = sorted((touched - set(gold[id_col])) | set(retired))
        entity_rows = gold[[c.name for c in entity_table.columns if c.name in gold.columns]]
        upsert(conn, entity_rows, f"core.{entity_table.name}", [id_col])
        versions = tables.metadata.tables[f"shared.{shared_table.name}_history"]
        if emptied:
            conn.execute(sa.update(entity_table).where(entity_table.c[id_col].in_(emptied))
                         .values(retired=True, run_id=run_id))
            conn.execute(sa.update(versions)
                         .where(versions.c[id_col].in_(emptied), versions.c.is_current)
                         .values(valid_to=now, is_current=False))
            conn.execute(sa.delete(shared_table).where(shared_table.c[id_col].in_(emptied)))
        apply_scd2(conn, _published(name, gold), f"shared.{shared_table.name}", [id_col],
                   history=f"shared.{versions.name}", now=now, return_keys=False)
        upsert(conn, xref, f"shared.{xref_table.name}", ["source", "source_record_id"])
        if len(history):
            upsert(conn, history.assign(changed_at=now, reason=history["reason"] + " in run "
                                        + run_id), f"shared.{history_table.name}",
                   ["old_id", "new_id", "changed_at"])
        if landed_until is not None:
            upsert(conn, pd.DataFrame([{"kind": name, "landed_until": landed_until,
                                        "run_id": run_id}]), "core.resolution_state", ["kind"])
    counts = {"kind": name, "mode": "incremental" if incremental else "full",
              "mentions": delta_count, "scope": counts.pop("scope"),
              "pairs": counts.pop("pairs"), "entities": int(gold[id_col].nunique()),
              "merged": len(retired), "history_rows": len(history), **counts}
    log.info("resolution %s: %s", name, counts)
    return counts


def _published(name: str, gold: pd.DataFrame) -> pd.DataFrame:
    if name == "resident":
        masked = gold["id_number"].map(mask_id, na_action="ignore")
        return gold.assign(id_number_masked=masked)[
            ["resident_id", "name", "id_number_masked", "gender", "birth_date",
             "community_code", "source_count", "first_seen", "last_seen"]]
    return gold[["unit_id", "name", "uscc", "entity_type", "status", "community_code",
                 "source_count", "first_seen", "last_seen"]]


def resolve(config: dict, run_id: str, full: bool = False) -> dict:
    """The DAG's resolution step: residents and units, incremental after the first run
    (`full=True` re-clusters everything; ids stay stable either way). Returns counts."""
    from common.reference import load_reference
    from warehouse.migrate import open_warehouse

    engine = open_warehouse(config.get("warehouse_url"))
    divisions = load_reference(config=config).divisions
    try:
        return {name: resolve_kind(engine, name, divisions, run_id, full=full)
                for name in ("resident", "unit")}
    finally:
        engine.dispose()
