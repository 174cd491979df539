"""Issue 14: fault injection end to end. The simulated city runs day by day through extract,
validate and load, resolution and publication while one thing goes wrong; the task that
failed is retried as Airflow would retry it (same run id), and the run must end in

- a reconciliation (`pipeline.reconcile`) in which every run of every source adds up: the
  audit's landed count is what the landing zone holds for the run, and every landed version
  was loaded or quarantined with a reason (nothing unaccounted, nothing pending);
- the warehouse of a fault-free run of the same city (`pipeline.reconcile.compare_warehouses`
  on the engine-parity tables), and the same record versions in the landing zone.

Every scenario runs on DuckDB and PostgreSQL (the pg_terminate_backend one on PostgreSQL
only). The fault-free run is itself reconciled and checked against what the simulator
emitted (tests/test_pipeline_e2e.py checks every source's emitted records in depth).
Marked `faults`: `.ci/run` runs them as their own step (`make test-faults`).
"""

from __future__ import annotations

import errno
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from db_support import PG_ADMIN_URL, drop_pg_database, new_pg_database
from fault_support import DroppingProxy, kill_at, small_filesystem, terminate_own_backend_after
from resolution_support import COMPARED_TABLES, TZ, run_city

from connectors.landing import RawLanding, content_hashes
from pipeline import extraction, staging
from pipeline.reconcile import compare_warehouses, reconcile_config, summary
from simulator.departments import TABLES
from simulator.hotline_server import NO_FAULTS, Faults
from simulator.run import simulate

pytestmark = pytest.mark.faults

START, DAYS = date(2026, 11, 2), 2
RUN_DAYS = DAYS + 1  # the day after the simulated ones brings the last re-exports
DEPARTMENT = "civil_affairs.residents"
# Two department tables (residents and units) keep the scenarios short; with the hotline,
# the grid and the rosters every kind of source and transport is there.
FAULT_TABLES = {t: TABLES[t] for t in (DEPARTMENT, "market_regulation.enterprises")}
# Every source of the scenarios (run_city's returned config no longer names the hotline,
# whose server has stopped).
SOURCES = [*FAULT_TABLES, "hotline.tickets", "grid.events", "rosters"]
# What extraction and validation leave: compared after the scenarios that stop there.
STAGED_TABLES = ["staging.record_version", "shared.quarantine", "shared.load_audit"]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-city")
    simulate(root / "sim", scale="tiny", seed=5, start=START, days=DAYS,
             progress=lambda m: None)
    return root / "sim"


def _departments(url: str, chunk_rows: int = 150) -> list[dict]:
    return [{"table": t, "key": k, "url": url, "chunk_rows": chunk_rows}
            for t, (_, k) in FAULT_TABLES.items()]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def engine_kind(request):
    return request.param


@pytest.fixture
def fresh_url(engine_kind, tmp_path):
    """A new, empty warehouse of the module's engine for one scenario."""
    if engine_kind == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        return
    url = new_pg_database()
    yield url
    drop_pg_database(url)


def _run(city, root, url, **kwargs) -> dict:
    overrides = {"departments": _departments(f"duckdb:///{city / 'departments.duckdb'}"),
                 "volume_check": {"min_runs": 10_000}, **kwargs.pop("overrides", {})}
    return run_city(city, root, START, kwargs.pop("days", RUN_DAYS), warehouse_url=url,
                    resolve_and_publish=kwargs.pop("resolve_and_publish", False),
                    overrides=overrides, **kwargs)


@pytest.fixture(scope="module")
def baseline(city, engine_kind, tmp_path_factory):
    """The fault-free run on the module's engine: (config, landed versions)."""
    root = tmp_path_factory.mktemp(f"baseline-{engine_kind}")
    url = new_pg_database() if engine_kind == "postgres" else \
        f"duckdb:///{root / 'warehouse.duckdb'}"
    try:
        config = _run(city, root, url, resolve_and_publish=True)
        yield config, _landed(config)
    finally:
        if engine_kind == "postgres":
            drop_pg_database(url)


def _landed(config) -> dict[str, set]:
    landing = RawLanding(config["landing_root"])
    return {source: set(zip(frame["_source_record_id"], frame["_content_hash"]))
            for source in SOURCES for frame in [landing.landed_versions(source)]}


def _assert_reconciled(config, allow_unaudited: frozenset = frozenset()) -> pd.DataFrame:
    table = summary(reconcile_config(config, sources=sources_of(config)))
    assert not table.empty
    bad = table[table["status"] != "ok"]
    assert bad.empty, f"not reconciled:\n{bad.to_string()}"
    assert (table["landed"] == table["loaded"] + table["quarantined"]).all()
    return table


def sources_of(config) -> list[str]:
    """The configured sources and the hotline (whose section run_city removes)."""
    return [*extraction.source_names(config), "hotline.tickets"]


def _assert_same_as_baseline(config, baseline, tables=STAGED_TABLES, drop=None) -> None:
    base_config, base_landed = baseline
    differences = compare_warehouses(config["warehouse_url"], base_config["warehouse_url"],
                                     tables, drop)
    assert differences == {}, differences
    assert _landed(config) == base_landed


def test_the_fault_free_run_reconciles_and_lands_what_was_emitted(baseline, city):
    config, landed = baseline
    table = _assert_reconciled(config)
    assert set(table["source"]) == set(SOURCES)
    assert table["loaded"].sum() > 0 and table["quarantined"].sum() >= 0
    # emitted = landed for the departments: each row's final version is among the landed
    # (rows dated after the last window, a department clock running ahead, wait for it).
    last = datetime.combine(START, datetime.min.time()) + timedelta(days=RUN_DAYS)
    engine = sa.create_engine(f"duckdb:///{city / 'departments.duckdb'}",
                              connect_args={"read_only": True})
    with engine.connect() as conn:
        for name, (_, key) in FAULT_TABLES.items():
            rows = pd.read_sql(sa.text(f"SELECT * FROM {name} WHERE updated_at <= :last"),
                               conn, params={"last": last})
            assert set(zip(rows[key].astype("str"), content_hashes(rows))) <= landed[name]
    engine.dispose()
    hotline = pd.read_parquet(city / "truth" / "hotline_emitted.parquet")
    assert set(hotline["source_record_id"]) == {i for i, _ in landed["hotline.tickets"]}


# A task SIGKILLed at each stage, then retried: (stage, source, day, kill point, nth call).
# The department dies between two chunks of its first (full) read; the others on day 1,
# with a day of state before them.
KILLS = [
    ("extract", DEPARTMENT, 0, "connectors.landing:RawLanding.write_records", 2),
    ("extract", "hotline.tickets", 1, "connectors.landing:RawLanding.write_records", 1),
    ("extract", "grid.events", 1, "connectors.landing:RawLanding.write_records", 1),
    ("validate_load", DEPARTMENT, 1, "warehouse.engine:bulk_insert", 1),
    ("resolve", None, 1, "warehouse.engine:bulk_insert", 3),
    ("publish", None, 1, "warehouse.engine:bulk_insert", 3),
]


@pytest.mark.parametrize("stage,source,day,target,nth", KILLS,
                         ids=[f"{k[0]}-{k[1] or 'all'}" for k in KILLS])
def test_a_task_killed_mid_stage_and_retried(city, baseline, fresh_url, tmp_path, stage,
                                             source, day, target, nth):
    killed = []

    def run_task(task):
        if task.stage == stage and task.source == source and task.day == day and not killed:
            kill_at(task.call, task.args, target, nth, tmp_path / "kill")
            killed.append(task.stage)
        return task.run()  # the retry

    published = stage in ("resolve", "publish")
    config = _run(city, tmp_path, fresh_url, run_task=run_task, resolve_and_publish=published)
    assert killed == [stage]
    _assert_reconciled(config)
    _assert_same_as_baseline(config, baseline, COMPARED_TABLES if published else STAGED_TABLES)


@pytest.mark.parametrize("stage,source,nth", [("validate_load", DEPARTMENT, 1),
                                              ("publish", None, 2)])
def test_warehouse_session_terminated_mid_transaction(city, baseline, fresh_url, engine_kind,
                                                      tmp_path, monkeypatch, stage, source,
                                                      nth):
    if engine_kind != "postgres":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    terminated, failures = [], []

    def run_task(task):
        if task.stage == stage and task.source == source and task.day == 1 and not failures:
            with monkeypatch.context() as patch:
                terminated.extend(terminate_own_backend_after(patch, nth, PG_ADMIN_URL))
                with pytest.raises(sa.exc.OperationalError) as error:
                    task.run()
                failures.append(error.value)
        return task.run()

    published = stage == "publish"
    config = _run(city, tmp_path, fresh_url, run_task=run_task, resolve_and_publish=published)
    assert failures, "the session was never terminated"
    _assert_reconciled(config)
    _assert_same_as_baseline(config, baseline, COMPARED_TABLES if published else STAGED_TABLES)


def test_department_connection_dropped_mid_read(city, tmp_path, mariadb_url, engine_kind,
                                                fresh_url):
    """A MariaDB department database whose connection is cut mid-read (a TCP proxy that
    drops after a few kilobytes, as a restarting server does): the extraction fails, lands
    no half of anything as done (no watermark, no audit), and its retry lands the same
    versions as an uninterrupted read. The residents are copied into a database of the
    test's own (a department source is named after its table, so it has no rules file and
    stages unvalidated: the fault is in the read)."""
    import uuid

    schema = f"faults_{uuid.uuid4().hex[:8]}"
    source = f"{schema}.residents"
    admin = sa.create_engine(mariadb_url)
    rows = pd.read_sql(sa.text(f"SELECT * FROM {DEPARTMENT}"),
                       sa.create_engine(f"duckdb:///{city / 'departments.duckdb'}",
                                        connect_args={"read_only": True}))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {schema} CHARACTER SET utf8mb4")
    proxy = DroppingProxy(("127.0.0.1", 3306), budget=40_000)
    try:
        rows.to_sql("residents", admin, schema=schema, index=False, chunksize=2000)
        direct = mariadb_url.replace("/?", f"/{schema}?")
        via_proxy = direct.replace("127.0.0.1:3306", f"127.0.0.1:{proxy.port}")
        since = datetime.combine(START, datetime.min.time(), tzinfo=TZ)
        until = since + timedelta(days=DAYS)
        in_window = rows[rows["updated_at"] <= until.replace(tzinfo=None)]
        landed = {}
        clean_url = f"duckdb:///{tmp_path / 'clean.duckdb'}" if engine_kind == "duckdb" \
            else new_pg_database()
        for tag, url, warehouse in (("clean", direct, clean_url),
                                    ("dropped", via_proxy, fresh_url)):
            config = {"warehouse_url": warehouse,
                      "landing_root": str(tmp_path / tag / "landing"),
                      "reference": {"root": str(city / "reference")},
                      "data_docs_dir": str(tmp_path / tag / "docs"),
                      "departments": [{"table": source, "key": TABLES[DEPARTMENT][1],
                                       "url": url, "chunk_rows": 100}]}
            try:
                if tag == "dropped":
                    with pytest.raises(sa.exc.OperationalError):
                        extraction.extract(source, since, until, "run1", config)
                    assert proxy.dropped.is_set()
                    assert _watermark(config, source) is None
                    assert _audit(config).empty
                extraction.extract(source, since, until, "run1", config)  # the retry
                staging.validate_and_load(source, (until - timedelta(days=1)).date(),
                                          "run1", config)
                _assert_reconciled(config)
                landed[tag] = RawLanding(config["landing_root"]).landed_versions(source)
                assert len(landed[tag]) == len(in_window)
            finally:
                if tag == "clean" and engine_kind == "postgres":
                    drop_pg_database(clean_url)
        versions = {tag: set(zip(f["_source_record_id"], f["_content_hash"]))
                    for tag, f in landed.items()}
        assert versions["dropped"] == versions["clean"]
    finally:
        proxy.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
        admin.dispose()


def _watermark(config, source):
    from warehouse.migrate import open_warehouse
    from warehouse.state import StateStore

    engine = open_warehouse(config["warehouse_url"])
    try:
        return StateStore(engine).get_watermark(source)
    finally:
        engine.dispose()


def _audit(config, source=None) -> pd.DataFrame:
    engine = sa.create_engine(config["warehouse_url"])
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM shared.load_audit"), conn)
    engine.dispose()
    return frame if source is None else frame[frame["source"] == source]


@pytest.mark.parametrize("failing_day", [0, 1], ids=["first-day", "later-day"])
def test_hotline_failing_beyond_its_retry_budget(city, baseline, fresh_url, tmp_path,
                                                 failing_day):
    """The day's hotline answers 503 to everything: the extraction fails (after its retries)
    with the status in the error, lands nothing, leaves the watermark (on the first day: the
    day's start, saved before the fetch); the next day's run asks from the watermark and
    catches up: each ticket's latest state is the fault-free run's. (Versions a ticket
    passed through during the failed day and replaced before the next run were never
    observable to a puller that was down: the version history may be shorter. When the
    first day fails, its callers reach resolution a day later than in the fault-free run;
    resident ids are issued in arrival order, so the tickets are compared by which of them
    share a resident, not by the id's value.)"""
    from connectors.rest import SourceError

    seen = {}

    def run_task(task):
        if task.stage == "extract" and task.source == "hotline.tickets" \
                and task.day == failing_day:
            seen["before"] = _watermark(config_of(task), "hotline.tickets")
            task.server.faults = Faults(rate_503=1.0)
            try:
                with pytest.raises(SourceError) as error:
                    task.run()
            finally:
                task.server.faults = NO_FAULTS
            seen["error"] = str(error.value)
            seen["after"] = _watermark(config_of(task), "hotline.tickets")
            return None
        return task.run()

    config = _run(city, tmp_path, fresh_url, run_task=run_task, resolve_and_publish=True)
    assert "503" in seen["error"]
    assert seen["after"] is not None
    assert seen["before"] == (None if failing_day == 0 else seen["after"])
    audit = _audit(config, "hotline.tickets")
    assert f"day{failing_day}" not in set(audit["run_id"])  # a failed run is not audited
    _assert_reconciled(config)
    relabelled = {"resident_id"} if failing_day == 0 else set()
    _assert_latest_equal(config, baseline, ["shared.hotline_ticket", "shared.hotline_dispatch"],
                         {"run_id", *relabelled})
    if relabelled:
        assert _tickets_by_resident(config) == _tickets_by_resident(baseline[0])


def _tickets_by_resident(config) -> tuple[set[frozenset[str]], set[str]]:
    """The tickets grouped by the resident they were resolved to, and those resolved to none."""
    engine = sa.create_engine(config["warehouse_url"])
    with engine.connect() as conn:
        tickets = pd.read_sql(sa.text(
            "SELECT ticket_id, resident_id FROM shared.hotline_ticket"), conn)
    engine.dispose()
    resolved = tickets.dropna(subset=["resident_id"])
    return ({frozenset(group) for group in resolved.groupby("resident_id")["ticket_id"]
             .agg(list)}, set(tickets.loc[tickets["resident_id"].isna(), "ticket_id"]))


def config_of(task) -> dict:
    return task.args[-1]


def _assert_latest_equal(config, baseline, tables, drop_columns) -> None:
    differences = compare_warehouses(config["warehouse_url"], baseline[0]["warehouse_url"],
                                     tables, {t: drop_columns for t in tables})
    assert differences == {}, differences


def test_duplicate_delivery_and_rerun_days(city, baseline, fresh_url, tmp_path):
    """Every drop delivered twice (the same files again, new modification times) and every
    extract and validation run twice: nothing lands or loads twice."""
    import os

    def run_task(task):
        result = task.run()
        if task.stage == "deliver":
            drop = task.args[1]
            for path in Path(drop).rglob("*"):
                if path.is_file():
                    os.utime(path)
            task.run()
        elif task.stage in ("extract", "validate_load"):
            task.run()
        return result

    config = _run(city, tmp_path, fresh_url, run_task=run_task)
    _assert_reconciled(config)
    _assert_same_as_baseline(config, baseline)


def test_out_of_order_windows(city, baseline, fresh_url, tmp_path):
    """The days run backwards (a backfill after the later days ran): the same versions land,
    stage and quarantine as in order. Resolution and publication are left out: their ids
    are issued in the order records arrive, so the comparison is on staging."""
    config = _run(city, tmp_path, fresh_url, day_order=list(reversed(range(RUN_DAYS))))
    _assert_reconciled(config)
    # Which run first landed a version, and each run's counts, follow the order: not compared.
    _assert_latest_equal(config, baseline, ["staging.record_version", "shared.quarantine"],
                         {"run_id"})
    assert _landed(config) == baseline[1]


def test_reexport_with_fewer_lines(city, baseline, fresh_url, tmp_path):
    """After day 0 landed, the vendor re-exports day 0's grid file with its last lines
    missing. Nothing landed before is lost (the landing zone keeps the earlier file's
    lines), the shorter file's lines land as that file's version, and every event of the
    fault-free run is still published."""
    shortened = {}

    def run_task(task):
        result = task.run()
        if task.stage == "deliver" and task.day == 1:
            drop = Path(task.args[1])
            first = sorted(drop.rglob("*.jsonl*"))[0]
            data = first.read_bytes()
            if first.suffix == ".gz":
                import gzip
                lines = gzip.decompress(data).splitlines(keepends=True)
                first.write_bytes(gzip.compress(b"".join(lines[: len(lines) // 2])))
            else:
                lines = data.splitlines(keepends=True)
                first.write_bytes(b"".join(lines[: len(lines) // 2]))
            shortened[str(first.relative_to(drop))] = len(lines) - len(lines) // 2
        return result

    config = _run(city, tmp_path, fresh_url, run_task=run_task, resolve_and_publish=True)
    assert shortened and list(shortened.values())[0] > 0
    _assert_reconciled(config)
    base_grid = baseline[1]["grid.events"]
    grid = _landed(config)["grid.events"]
    assert base_grid <= grid  # every line of the fault-free run, plus the shorter file's
    _assert_latest_equal(config, baseline, ["shared.grid_event"],
                         {"run_id", "content_hash", "source_file", "line_no", "file_sha256"})


def test_source_clock_behind_the_pipeline(city, baseline, fresh_url, tmp_path):
    """A department's clock runs five minutes behind: rows committed after day 0's read
    carry change times before day 0's watermark. The overlap re-read (15 minutes) lands
    them on day 1; the end state is the fault-free run's, with those rows landed a day
    later."""
    skew = timedelta(minutes=5)
    departments = tmp_path / "departments.duckdb"
    shutil.copy(city / "departments.duckdb", departments)
    key = TABLES[DEPARTMENT][1]
    engine = sa.create_engine(f"duckdb:///{departments}")
    day0_end = datetime.combine(START, datetime.min.time()) + timedelta(days=1)
    with engine.begin() as conn:
        rows = pd.read_sql(sa.text(f"SELECT * FROM {DEPARTMENT}"), conn)
        newest = pd.to_datetime(rows["updated_at"])
        newest_day0 = newest[newest <= day0_end].max()
        late = rows[(newest > newest_day0 - skew) & (newest <= newest_day0)]
        late = late.iloc[: max(1, len(late) - 1)]  # the newest stays: it sets the watermark
        conn.execute(sa.text(f"DELETE FROM {DEPARTMENT} WHERE {key} IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)),
                     {"ids": late[key].tolist()})
    engine.dispose()  # the connector opens the file read-only: no writer may stay open
    assert len(late) > 0
    late_committed = []

    def run_task(task):
        if task.stage == "deliver" and task.day == 1:  # the late commit, skewed clock
            writer = sa.create_engine(f"duckdb:///{departments}")
            with writer.begin() as conn:
                late.to_sql(DEPARTMENT.split(".")[1], conn, schema=DEPARTMENT.split(".")[0],
                            if_exists="append", index=False)
            writer.dispose()
            late_committed.append(len(late))
        return task.run()

    config = _run(city, tmp_path, fresh_url, run_task=run_task,
                  overrides={"departments": _departments(f"duckdb:///{departments}")})
    assert late_committed
    _assert_reconciled(config)
    assert _landed(config) == baseline[1]
    # The late rows landed (and so staged) in day 1's run instead of day 0's.
    _assert_latest_equal(config, baseline, ["staging.record_version", "shared.quarantine"],
                         {"run_id"})


def test_disk_full_while_landing(city, baseline, fresh_url, tmp_path):
    """The landing zone's filesystem (a tmpfs the test mounts) is full on day 1: the
    extraction fails with ENOSPC, leaves no temporary or half-written part, no watermark
    move and no audit row; once space is freed (the filesystem grown) the retry completes
    the run, which then reconciles and equals the fault-free one."""
    landing = tmp_path / "landing"
    failures = []

    def run_task(task):
        if task.stage == "deliver" and task.day == 1:  # everything but a few KiB taken
            free = shutil.disk_usage(landing).free
            (landing / "filler").write_bytes(b"\0" * max(free - 8192, 0))
        if task.stage != "extract" or task.day != 1 or failures:
            return task.run()
        before = _watermark(config_of(task), task.source)
        try:
            return task.run()
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
            failures.append(task.source)
        assert not [p for p in landing.rglob(".*") if p.is_file()], "a temporary file left"
        for part in landing.rglob("*.parquet"):
            pd.read_parquet(part)  # every part on disk is whole
        assert _watermark(config_of(task), task.source) == before
        assert "day1" not in set(_audit(config_of(task), task.source)["run_id"])
        grow("256m")
        return task.run()

    try:
        mounted = small_filesystem(landing, "64m")
        grow = mounted.__enter__()
    except OSError as error:
        pytest.skip(str(error))
    try:
        config = _run(city, tmp_path, fresh_url, run_task=run_task)
        assert failures, "the filesystem never filled"
        _assert_reconciled(config)
        _assert_same_as_baseline(config, baseline)
    finally:
        mounted.__exit__(None, None, None)
