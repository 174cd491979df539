"""The daily DAG end to end through Airflow's own runner (`dag.test()`, SQLite metadata DB):
normal days load, and a day on which the grid vendor delivers 40% of its export fails the
DAG loudly and stages nothing from that batch. Runs on each warehouse engine.

Airflow reads its configuration at import, so the run happens in a child interpreter."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, os, sys
    from datetime import date, datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo

    import yaml

    from govshare import airflow_local
    from govshare.demo import demo_sources
    from simulator.delivery import deliver
    from simulator.hotline_server import serve_hotline
    from simulator.run import simulate

    home, warehouse_url = Path(sys.argv[1]), sys.argv[2]
    start, days = date(2026, 11, 1), 4
    simulate(home / "sim", "tiny", seed=5, start=start, days=days, progress=lambda m: None)
    os.environ["GOVSHARE_HOTLINE_TOKEN"] = "dag-test-token"
    results = []
    with serve_hotline(home / "sim" / "hotline" / "tickets.sqlite",
                       token="dag-test-token") as server:
        sources = demo_sources(home / "sim", home, server.url, warehouse_url)
        sources["volume_check"] = {"min_runs": 2, "min_median": 10}
        (home / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True))
        os.environ.update({"GOVSHARE_HOME": str(home),
                           "GOVSHARE_SOURCES": str(home / "sources.yaml")})
        airflow_local.configure(home / "airflow")
        airflow_local.migrate()
        dag = airflow_local.load_dag("govshare_daily")
        for offset in range(days):
            day = datetime.combine(start + timedelta(days=offset), datetime.min.time(),
                                   tzinfo=ZoneInfo("Asia/Shanghai"))
            deliver(home / "sim", home / "drop", day + timedelta(days=1, hours=2))
            if offset == days - 1:  # the vendor's last export arrives with 40% of its lines
                export = home / "drop" / "grid" / f"events_{day:%Y%m%d}.jsonl"
                if not export.exists():
                    export = export.with_suffix(".jsonl.gz")
                import gzip
                opener = gzip.open if export.suffix == ".gz" else open
                with opener(export, "rt", encoding="utf-8") as fh:
                    lines = fh.readlines()
                with opener(export, "wt", encoding="utf-8") as fh:
                    fh.writelines(lines[: int(len(lines) * 0.4)])
            run = airflow_local.run_day(dag, day + timedelta(days=1))
            results.append(run)
    print(json.dumps(results))
''')


def test_daily_dag_loads_days_and_fails_loudly_on_a_volume_collapse(tmp_path, warehouse_url):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), warehouse_url],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    states = json.loads(done.stdout.strip().splitlines()[-1])
    assert states[:-1] == ["success"] * (len(states) - 1)
    assert states[-1] == "failed"

    import sqlalchemy as sa

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        audit = conn.execute(sa.text(
            "SELECT run_id, records_landed, records_loaded FROM shared.load_audit "
            "WHERE source = 'grid.events' ORDER BY window_start")).all()
        staged_by_run = dict(conn.execute(sa.text(
            "SELECT run_id, count(*) FROM staging.record_version "
            "WHERE source = 'grid.events' GROUP BY run_id")).all())
    engine.dispose()
    last_run, landed, loaded = audit[-1]
    assert landed > 0 and loaded is None  # landed in the raw zone, never loaded
    assert last_run not in staged_by_run
    assert all(staged_by_run.get(run) for run, _, _ in audit[:-1])
    # dag.test() logs the tasks to the child's output: the failure says what happened.
    output = done.stdout + done.stderr
    assert "batch held, nothing loaded: grid.events" in output
    assert "of the recent median" in output
