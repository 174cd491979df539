"""Issue 3's acceptance: a multi-day run of every source against the simulated city with
faults switched on. Every record the simulator emitted must be in the raw landing zone
exactly once per version, or in quarantine with a reason — counted against the simulator's
own record of what it emitted. A run killed mid-window and re-run loses and duplicates
nothing. Every test runs on each warehouse engine (DuckDB and PostgreSQL)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from db_support import drop_pg_database, new_pg_database

from common import sources
from connectors.landing import RawLanding, content_hashes
from pipeline import extraction, staging
from simulator.delivery import deliver
from simulator.departments import TABLES
from simulator.hotline_server import Faults, serve_hotline
from simulator.noise import NoiseRates
from simulator.profiles import simulated_city
from simulator.run import simulate

TZ = ZoneInfo("Asia/Shanghai")
DAYS = 4  # simulated days
RUN_DAYS = DAYS + 3  # daily runs: re-exports arrive up to three days after their day
TOKEN = "e2e-token-not-secret"
# Faults and file noise well above the realistic defaults, so each kind surely occurs.
NOISE = NoiseRates.from_mapping({"broken_line": 0.03, "reexport_day": 0.6, "gbk_csv": 0.6,
                                 "corrupt_workbook": 0.3})
START = date(2026, 11, 29)  # the run crosses a month: two months of rosters
FAULTS = Faults(rate_429=0.08, retry_after_seconds=1, rate_503=0.08, rate_drop=0.05,
                rate_truncate=0.03, seed=3)


def _windows(start):
    day0 = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    return [(day0 + timedelta(days=d), day0 + timedelta(days=d + 1)) for d in range(RUN_DAYS)]


@pytest.fixture(scope="module")
def run(tmp_path_factory, module_warehouse_url):
    """Simulate, then run every source day by day, crashing the hotline once mid-window."""
    root = tmp_path_factory.mktemp("e2e")
    manifest = simulate(root / "sim", scale="tiny", seed=7, start=START, days=DAYS,
                        noise=NOISE, progress=lambda m: None)
    start = datetime.fromisoformat(manifest["start"]).date()
    departments = f"duckdb:///{root / 'sim' / 'departments.duckdb'}"
    with serve_hotline(root / "sim" / "hotline" / "tickets.sqlite", token=TOKEN,
                       faults=FAULTS) as server:
        config = {
            "warehouse_url": module_warehouse_url,
            "landing_root": str(root / "landing"),
            "reference": {"root": str(root / "sim" / "reference")},
            "city": simulated_city(root / "sim").sources_city(),
            "data_docs_dir": str(root / "data_docs"),
            # The days run after the simulated period carry no new tickets or events: a
            # real volume drop. The volume check has its own tests; here it stays off.
            "volume_check": {"min_runs": RUN_DAYS + 1},
            "departments": [{"table": t, "key": k, "url": departments, "chunk_rows": 400}
                            for t, (_, k) in TABLES.items()],
            "hotline": {"base_url": server.url, "token": TOKEN, "page_size": 20,
                        "max_requests_per_second": 200, "backoff_base": 0.01,
                        "backoff_max": 0.05, "max_retries": 12},
            "grid": {"root": str(root / "drop")},
            "rosters": {"root": str(root / "drop")},
        }
        crashed = False
        for day, (since, until) in enumerate(_windows(start)):
            deliver(root / "sim", root / "drop", until + timedelta(hours=2))
            for source in extraction.source_names(config):
                run_id = f"day{day}"
                if source == sources.HOTLINE and day == 2 and not crashed:
                    crashed = _crash_hotline_mid_window(source, since, until, config)
                extraction.extract(source, since, until, run_id, config)
                staging.validate_and_load(source, until.date() - timedelta(days=1), run_id,
                                           config)
    return root, config, start


def _crash_hotline_mid_window(source, since, until, config) -> bool:
    """Kill the hotline extraction while it lands (after every page was read)."""
    original = RawLanding.write_records

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt("worker killed")

    RawLanding.write_records = killed
    try:
        extraction.extract(source, since, until, "day2-killed", config)
    except KeyboardInterrupt:
        return True
    finally:
        RawLanding.write_records = original
    raise AssertionError("the killed extraction did not stop")


def _landed(root, source):
    return RawLanding(root / "landing").read_records(source)


def _quarantine(config) -> pd.DataFrame:
    engine = sa.create_engine(config["warehouse_url"])
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM shared.quarantine"), conn)
    engine.dispose()
    return frame


def test_noise_and_faults_really_happened(run):
    root, _, _ = run
    truth = root / "sim" / "truth"
    exports = pd.read_parquet(truth / "grid_exports.parquet")
    files = pd.read_parquet(truth / "rosters_files.parquet")
    grid = pd.read_parquet(truth / "grid_emitted.parquet")
    assert (exports["export_version"] > 1).any(), "no grid day was re-exported"
    assert (~grid["parseable"]).any(), "no broken grid line"
    assert files["corrupt"].notna().any(), "no corrupt workbook"
    assert files["encoding"].astype("str").str.contains("gb", case=False).any(), "no GBK CSV"


def test_departments_every_final_row_landed_once(run):
    root, config, _ = run
    engine = sa.create_engine(config["departments"][0]["url"])
    for table, (_, key) in TABLES.items():
        with engine.connect() as conn:
            rows = pd.read_sql(sa.text(f"SELECT * FROM {table}"), conn)
        landed = _landed(root, table)
        assert not landed.duplicated(["_source_record_id", "_content_hash"]).any(), table
        # The database holds each row's final version; it must be among the landed ones.
        final = set(zip(rows[key].astype("str"), content_hashes(rows)))
        assert final <= set(zip(landed["_source_record_id"], landed["_content_hash"])), table
    engine.dispose()


def test_hotline_every_observable_version_landed_once(run):
    """A window query returns each ticket's latest version before the window's end, so the
    versions a daily puller can observe are, per window, the latest as of its end of every
    ticket changed in it."""
    root, _, start = run
    emitted = pd.read_parquet(root / "sim" / "truth" / "hotline_emitted.parquet")
    emitted["at"] = pd.to_datetime(emitted["version"], utc=True)
    expected = set()
    for since, until in _windows(start):
        upto = emitted[emitted["at"] <= pd.Timestamp(until)]
        latest = upto.sort_values("at").groupby("source_record_id").tail(1)
        changed = latest[latest["at"] > pd.Timestamp(since)]
        expected |= set(zip(changed["source_record_id"], changed["content_sha256"]))
    landed = _landed(root, "hotline.tickets")
    raw_hashes = [__import__("hashlib").sha256(r.encode()).hexdigest() for r in landed["raw"]]
    got = list(zip(landed["ticket_id"], raw_hashes))
    assert len(got) == len(set(got)), "a ticket version landed twice"
    assert set(got) == expected


def test_grid_every_line_of_every_delivered_export_landed_or_quarantined(run):
    root, config, start = run
    emitted = pd.read_parquet(root / "sim" / "truth" / "grid_emitted.parquet")
    exports = pd.read_parquet(root / "sim" / "truth" / "grid_exports.parquet")
    # Re-exports dropped after the last run have not been delivered yet.
    last_delivery = _windows(start)[-1][1] + timedelta(hours=2)
    delivered = exports[pd.to_datetime(exports["dropped_at"], utc=True)
                        <= pd.Timestamp(last_delivery)]
    emitted = emitted.merge(delivered[["file", "export_version"]])
    assert (delivered["export_version"] > 1).any(), "no re-export was delivered"
    landed = _landed(root, "grid.events")
    quarantined = _quarantine(config)
    quarantined = quarantined[quarantined["source"] == "grid.events"]
    landed_lines = set(zip(landed["source_file"], landed["line_no"].astype(int),
                           landed["file_sha256"]))
    assert len(landed_lines) == len(landed), "a grid line landed twice"
    version_sha = dict(zip(zip(exports["file"], exports["export_version"]), exports["sha256"]))
    lost = []
    for row in emitted.itertuples(index=False):
        sha = version_sha[(row.file, row.export_version)]
        if (row.file, row.line_no, sha) in landed_lines:
            continue
        if quarantined["raw_location"].str.startswith(f"{row.file}#L{row.line_no}").any():
            continue
        lost.append((row.file, row.export_version, row.line_no))
    assert not lost, f"{len(lost)} grid lines neither landed nor quarantined: {lost[:5]}"
    assert quarantined["reason"].str.len().gt(5).all()


def test_rosters_every_data_row_landed_once_and_corrupt_files_quarantined(run):
    root, config, _ = run
    emitted = pd.read_parquet(root / "sim" / "truth" / "rosters_emitted.parquet")
    files = pd.read_parquet(root / "sim" / "truth" / "rosters_files.parquet")
    landed = _landed(root, "rosters")
    assert landed["source_record_id"].is_unique
    rows = emitted[emitted["kind"] == "row"]
    assert set(rows["source_record_id"]) == set(landed["source_record_id"])
    quarantined = _quarantine(config)
    corrupt = set(files.loc[files["corrupt"].notna(), "path"])
    assert corrupt <= set(quarantined.loc[quarantined["source"] == "rosters", "raw_location"])


def test_every_run_of_every_source_is_audited(run):
    _, config, _ = run
    engine = sa.create_engine(config["warehouse_url"])
    with engine.connect() as conn:
        audit = pd.read_sql(sa.text("SELECT * FROM shared.load_audit"), conn)
        staged = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT (source, source_record_id, content_hash)) "
            "FROM staging.record_version")).one()
    engine.dispose()
    sources = extraction.source_names(config)
    assert set(audit["source"]) == set(sources)
    assert audit.groupby("source")["run_id"].nunique().eq(RUN_DAYS).all()
    assert (audit["records_received"] >= audit["records_landed"]).all()
    assert staged[0] == staged[1] > 0


def _land_in_order(root, sim, order, tag, warehouse_url) -> dict[str, set]:
    """Extract every source over the given window order into a landing of its own."""
    with serve_hotline(sim / "hotline" / "tickets.sqlite", token=TOKEN) as server:
        config = {
            "warehouse_url": warehouse_url,
            "landing_root": str(root / f"landing-{tag}"),
            "departments": [{"table": t, "key": k, "url": f"duckdb:///{sim / 'departments.duckdb'}"}
                            for t, (_, k) in TABLES.items()],
            "hotline": {"base_url": server.url, "token": TOKEN, "page_size": 50},
        }
        windows = _windows(START)
        for day in order:
            since, until = windows[day]
            for source in extraction.source_names(config):
                extraction.extract(source, since, until, f"{tag}-{day}", config)
    landing = RawLanding(root / f"landing-{tag}")
    return {source: set(zip(landing.read_records(source)["_source_record_id"],
                            landing.read_records(source)["_content_hash"]))
            for source in extraction.source_names(config)}


def test_backfill_lands_the_same_versions_as_day_by_day(run, tmp_path):
    """A range re-run out of order (a backfill after a later day already ran) ends with the
    same record versions in the landing zone as running the days in order."""
    root, config, _ = run
    postgres = not config["warehouse_url"].startswith("duckdb")
    urls = {tag: new_pg_database() if postgres else f"duckdb:///{tmp_path / f'{tag}.duckdb'}"
            for tag in ("daily", "backfill")}
    try:
        in_order = _land_in_order(tmp_path, root / "sim", range(RUN_DAYS), "daily",
                                  urls["daily"])
        shuffled = _land_in_order(tmp_path, root / "sim", [3, 0, 6, 1, 2, 5, 4], "backfill",
                                  urls["backfill"])
    finally:
        if postgres:
            for url in urls.values():
                drop_pg_database(url)
    assert in_order == shuffled
    assert all(in_order.values())
