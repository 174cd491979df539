"""Reconciliation: prove, per source per run, from the landing zone and the warehouse's own
tables, that every record version a run landed was loaded or quarantined with a reason, and
that the audit's counts say what the landing zone holds; and compare a warehouse with
another (a fault-free run's) table by table.

The proof is made on record versions, not on counters alone: a counter can be right while
the records behind it are wrong. For one source and run:

- `landed`: distinct (record id, content hash) pairs in the landing zone whose `_run_id` is
  the run;
- `loaded`: those of them in `staging.record_version` (whichever run staged them first: a
  retry or a replay may have staged a version another run landed);
- `quarantined`: those of them not loaded and in `shared.quarantine` (validation keeps the
  landed row, content hash included, in `landed_record`);
- `unaccounted`: the rest. Nonzero means a record was lost between landing and loading.

Connector rejects (a broken line, an unreadable file) never land as records: they are the
quarantine rows of the run without a landed record, counted as `rejected`; so
`received >= landed + rejected` (the difference is the overlap re-read and deduplicated).
A run whose validation has not run yet (`records_loaded` null) is `pending`, not failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from connectors.landing import RawLanding

VERSION = ["source_record_id", "content_hash"]

# Columns that record when the pipeline did something (wall-clock time of a run), not what
# the data says: they differ between any two runs and are left out of state comparisons.
PROCESSING_TIME_COLUMNS = {"loaded_at", "landed_at", "valid_from", "valid_to",
                           "quarantined_at", "started_at", "ended_at", "replayed_at",
                           "trained_at", "recorded_at", "staged_at", "changed_at", "held_at",
                           "released_at",
                           # a golden record's first and last landing
                           "first_seen", "last_seen"}


@dataclass
class RunReconciliation:
    """One source's run: the counts and what does not add up (empty `problems`: it does)."""

    source: str
    run_id: str
    received: int | None
    audit_landed: int | None
    landed: int
    loaded: int
    quarantined: int
    rejected: int
    audit_loaded: int | None
    problems: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)  # record ids

    @property
    def pending(self) -> bool:
        # Not validated yet, with versions nothing accounts for. (A run whose versions were
        # all loaded, by its own validation or a later one, is done whatever its audit says.)
        return self.audit_loaded is None and self.received is not None and bool(
            self.unaccounted)

    @property
    def ok(self) -> bool:
        return not self.problems


def _landed_versions(landing: RawLanding, source: str) -> pd.DataFrame:
    """(source_record_id, content_hash, run_id) of every record version landed for source."""
    frame = landing.landed_versions(source)
    return pd.DataFrame({"source_record_id": frame["_source_record_id"].astype("str"),
                         "content_hash": frame["_content_hash"].astype("str"),
                         "run_id": frame["_run_id"].astype("str")})


def _quarantined_versions(conn: sa.Connection, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(validation rejects as versions, connector rejects per run) of one source."""
    from warehouse.schema import quarantine

    rows = conn.execute(sa.select(quarantine.c.source_record_id, quarantine.c.landed_record,
                                  quarantine.c.run_id, quarantine.c.reason)
                        .where(quarantine.c.source == source)).all()
    frame = pd.DataFrame(rows, columns=["source_record_id", "landed_record", "run_id", "reason"])
    validated = frame[frame["landed_record"].notna()]
    versions = pd.DataFrame({
        "source_record_id": validated["source_record_id"].astype("str"),
        "content_hash": [json.loads(r).get("_content_hash") for r in validated["landed_record"]],
    })
    return versions, frame[frame["landed_record"].isna()]


def reconcile(engine: sa.Engine, landing: RawLanding, sources: list[str],
              run_id: str | None = None) -> list[RunReconciliation]:
    """Reconcile every audited run of `sources` (or only `run_id`) and every run that landed
    records without an audit row (a task that died between landing and auditing)."""
    from warehouse.schema import load_audit, record_version

    results = []
    with engine.connect() as conn:
        for source in sources:
            audit = pd.DataFrame(conn.execute(
                sa.select(load_audit).where(load_audit.c.source == source)).mappings().all(),
                columns=[c.name for c in load_audit.columns])
            staged = pd.DataFrame(conn.execute(
                sa.select(record_version.c.source_record_id, record_version.c.content_hash)
                .where(record_version.c.source == source)).all(), columns=VERSION)
            held, rejects = _quarantined_versions(conn, source)
            landed = _landed_versions(landing, source)
            staged_keys = set(zip(staged["source_record_id"], staged["content_hash"]))
            held_keys = set(zip(held["source_record_id"], held["content_hash"]))
            runs = sorted(set(audit["run_id"]) | set(landed["run_id"]))
            for run in runs if run_id is None else [r for r in runs if r == run_id]:
                results.append(_reconcile_run(source, run, audit[audit["run_id"] == run],
                                              landed[landed["run_id"] == run], staged_keys,
                                              held_keys, rejects[rejects["run_id"] == run]))
    return results


def _reconcile_run(source, run, audit, landed, staged_keys, held_keys, rejects
                   ) -> RunReconciliation:
    versions = set(zip(landed["source_record_id"], landed["content_hash"]))
    loaded = {v for v in versions if v in staged_keys}
    quarantined = {v for v in versions - loaded if v in held_keys}
    unaccounted = versions - loaded - quarantined
    row = audit.iloc[0] if len(audit) else None

    def count(column):
        return None if row is None or pd.isna(row[column]) else int(row[column])

    result = RunReconciliation(
        source=source, run_id=run, received=count("records_received"),
        audit_landed=count("records_landed"), landed=len(versions), loaded=len(loaded),
        quarantined=len(quarantined), rejected=len(rejects),
        audit_loaded=count("records_loaded"),
        unaccounted=sorted(v[0] for v in unaccounted))
    if row is None:
        result.problems.append(f"{len(versions)} versions landed by a run with no audit row")
        return result
    if result.audit_landed != len(versions):
        result.problems.append(f"audit says {result.audit_landed} landed, the landing zone "
                               f"holds {len(versions)} versions of this run")
    if result.received < len(versions) + len(rejects):
        result.problems.append(f"received {result.received} < landed {len(versions)} + "
                               f"rejected {len(rejects)}")
    if unaccounted and not result.pending:
        result.problems.append(f"{len(unaccounted)} landed versions neither loaded nor "
                               "quarantined")
    return result


def summary(results: list[RunReconciliation]) -> pd.DataFrame:
    """The reconciliation as a table (one row per source and run), for printing."""
    return pd.DataFrame([{
        "source": r.source, "run_id": r.run_id, "received": r.received, "landed": r.landed,
        "loaded": r.loaded, "quarantined": r.quarantined, "rejected": r.rejected,
        "status": "ok" if r.ok and not r.pending else "pending" if r.ok else "FAILED",
        "problems": "; ".join(r.problems)} for r in results])


def reconcile_config(config: dict, run_id: str | None = None,
                     sources: list[str] | None = None) -> list[RunReconciliation]:
    """`reconcile` on the warehouse and landing zone of a sources configuration."""
    from pipeline.extraction import source_names
    from pipeline.workspace import Workspace

    with Workspace(config) as ws:
        return reconcile(ws.engine, ws.landing, sources or source_names(config), run_id)


# Comparing two warehouses (a run under faults against a fault-free one, or DuckDB against
# PostgreSQL): every table of the schemas, made comparable across engines and runs.

def warehouse_state(url: str, schemas: tuple[str, ...] = ("shared",)) -> dict[str, pd.DataFrame]:
    """Every table of `schemas` as a DataFrame comparable across engines: processing-time
    columns dropped, timestamps as UTC ISO text, numbers as floats rounded to 9 places, rows
    sorted on every column."""
    engine = sa.create_engine(url)
    state = {}
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for schema in schemas:
                for name in sorted(inspector.get_table_names(schema=schema)):
                    rows = conn.exec_driver_sql(f"SELECT * FROM {schema}.{name}")
                    frame = pd.DataFrame(rows.all(), columns=list(rows.keys()))
                    state[f"{schema}.{name}"] = comparable(frame)
    finally:
        engine.dispose()
    return state


def comparable(frame: pd.DataFrame, drop: set[str] = frozenset()) -> pd.DataFrame:
    """`frame` without processing-time columns (and `drop`), in a form equal across engines."""
    frame = frame.drop(columns=[c for c in frame.columns
                                if c in PROCESSING_TIME_COLUMNS or c in drop])
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values) or values.map(
                lambda v: hasattr(v, "isoformat")).any():
            values = values.map(lambda v: None if v is None or v is pd.NaT or pd.isna(v)
                                else pd.Timestamp(v).tz_convert("UTC").isoformat()
                                if pd.Timestamp(v).tzinfo else pd.Timestamp(v).isoformat())
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            values = values.astype("float64").round(9)
        out[column] = values.astype(object).where(values.notna(), None)
    result = pd.DataFrame(out, columns=list(frame.columns))
    if result.empty:
        return result.reset_index(drop=True)
    return result.sort_values(list(result.columns), key=lambda s: s.astype(str)).reset_index(
        drop=True)


def state_differences(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    """What differs between two warehouse_state tables, in words (empty: the same)."""
    if list(left.columns) != list(right.columns):
        return [f"columns {list(left.columns)} != {list(right.columns)}"]
    if len(left) != len(right):
        return [f"{len(left)} rows != {len(right)} rows"]
    differences = []
    for column in left.columns:
        a, b = left[column].map(repr), right[column].map(repr)
        unequal = a != b
        if unequal.any():
            differences.append(f"{column}: {int(unequal.sum())} rows differ")
    return differences


def compare_warehouses(url: str, baseline_url: str, tables: list[str],
                       drop: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """{table: differences} of the tables of `url` that differ from `baseline_url`'s (empty:
    the same data). `drop` names columns per table that legitimately differ (say, the run
    id of a retried task)."""
    schemas = tuple(sorted({t.split(".", 1)[0] for t in tables}))
    mine, theirs = warehouse_state(url, schemas), warehouse_state(baseline_url, schemas)
    drop = drop or {}
    differences = {}
    for table in tables:
        if table not in mine or table not in theirs:
            differences[table] = ["table missing"]
            continue
        extra = drop.get(table, set())
        found = state_differences(comparable(mine[table], extra) if extra else mine[table],
                                  comparable(theirs[table], extra) if extra else theirs[table])
        if found:
            differences[table] = found
    return differences
