"""The indicators DAG: parsed, it is scheduled on the Asset the daily DAG's publish emits and
carries the 07:30 deadline (serialised for the scheduler, whose plugin finds the reference
again); run through Airflow's own runner (`dag.test()`) for a past day, it computes, builds
the report and delivers it to a local webhook, on each warehouse engine.

Airflow 3.3.2's `dag.test()` crashes when a run of a DAG with a DeadlineAlert succeeds, so
the run test clears the deadline on the loaded DAG object first (the parse tests prove the
deadline itself). The computation is the indicators module's (another branch): the run
stands a small module in for `pipeline.indicators` that publishes the fixture's rows, so
what is tested here is the DAG's wiring, the report and the delivery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def test_scheduled_on_the_asset_the_daily_publish_emits(dagbag):
    from pipeline.airflow_deadline import PUBLISHED

    assert dagbag.import_errors == {}
    dag = dagbag.dags["govshare_indicators"]
    assert list(dag.timetable.asset_condition.objects) == [PUBLISHED]
    assert dagbag.dags["govshare_daily"].get_task("publish").outlets == [PUBLISHED]
    assert [t.task_id for t in dag.topological_sort()] == ["compute", "build_report",
                                                           "deliver"]
    assert set(dag.params) == {"day"}


def test_the_deadline_is_0730_local_and_survives_serialisation(dagbag):
    from airflow.serialization.definitions.deadline import SerializedReferenceModels
    from airflow.serialization.serialized_objects import DagSerialization

    from pipeline.airflow_deadline import ReportDue, report_deadline_missed

    dag = dagbag.dags["govshare_indicators"]
    [alert] = dag.deadline
    assert isinstance(alert.reference, ReportDue) and alert.interval.total_seconds() == 0
    assert alert.callback.path == f"{report_deadline_missed.__module__}.report_deadline_missed"
    [stored] = DagSerialization.to_dict(dag)["dag"]["deadline"]
    assert stored["reference"] == {"reference_type": "ReportDue",
                                   "__class_path": "pipeline.airflow_deadline.ReportDue"}
    # What the scheduler does with it: find the class through the plugin, evaluate it.
    reference = SerializedReferenceModels.SerializedCustomReference.deserialize_reference(
        stored["reference"])

    class Session:  # answers the one query the reference makes: the run's queue time
        def scalar(self, _query):
            return datetime(2026, 11, 14, 17, 40, tzinfo=UTC)  # 01:40 local on the 15th

    from datetime import timedelta

    due = reference.evaluate_with(session=Session(), interval=timedelta(0),
                                  dag_id="govshare_indicators", run_id="r")
    assert due == datetime(2026, 11, 14, 23, 30, tzinfo=UTC)  # 07:30 Asia/Shanghai


def test_report_due_is_the_next_0730_local():
    from pipeline.airflow_deadline import report_due

    def local(text):
        from zoneinfo import ZoneInfo

        return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai"))

    assert report_due(local("2026-11-15T01:40")) == local("2026-11-15T07:30")
    assert report_due(local("2026-11-15T07:30")) == local("2026-11-15T07:30")
    # A re-run of a past day in the afternoon is due the next morning, not overdue at once.
    assert report_due(local("2026-11-15T14:00")) == local("2026-11-16T07:30")


SCRIPT = textwrap.dedent('''
    import json, os, sys, threading, types
    from datetime import date, datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    import yaml

    sys.path.insert(0, sys.argv[3])
    from report_support import DAY, publish_fixture, write_reference

    from govshare import airflow_local

    home, warehouse_url = Path(sys.argv[1]), sys.argv[2]
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (home / "recipients.yaml").write_text(yaml.safe_dump({"recipients": [
        {"name": "指挥中心", "webhook": f"http://127.0.0.1:{server.server_port}/in"}]},
        allow_unicode=True))
    sources = {"warehouse_url": warehouse_url,
               "reference": {"root": str(write_reference(home / "reference"))},
               "reports": {"out": str(home / "reports"),
                           "recipients": str(home / "recipients.yaml")}}
    (home / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True))
    os.environ.update({"GOVSHARE_HOME": str(home), "GOVSHARE_SOURCES": str(home / "sources.yaml")})

    computed = []

    def compute_for_day(config, day):  # stands in for the indicators branch's module
        from warehouse.migrate import open_warehouse

        engine = open_warehouse(config["warehouse_url"])
        publish_fixture(engine, day)
        engine.dispose()
        computed.append(day.isoformat())

    sys.modules["pipeline.indicators"] = types.SimpleNamespace(compute_for_day=compute_for_day)

    airflow_local.configure(home / "airflow")
    airflow_local.migrate()
    dag = airflow_local.load_dag("govshare_indicators")
    state = airflow_local.run_with_conf(dag, {"day": DAY.isoformat()})  # without deadline
    server.shutdown()
    print(json.dumps({"state": state, "computed": computed,
                      "received": [(r["day"], r["division_name"], len(r["feed"]["rows"]))
                                   for r in received]}))
''')


@pytest.mark.slow  # about 25-35 s per engine: Airflow's migration, runner and a PDF
def test_a_past_day_runs_through_airflow(warehouse_url, tmp_path):
    from report_support import DAY

    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), warehouse_url,
                           str(TESTS)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"].endswith("success"), done.stderr[-3000:]
    assert result["computed"] == [DAY.isoformat()]
    [(day, division, rows)] = result["received"]
    assert (day, division) == (DAY.isoformat(), "呼和浩特市") and rows > 0
    folder = tmp_path / "reports" / DAY.isoformat()
    assert (folder / f"report_{DAY}.html").exists() and (folder / f"report_{DAY}.pdf").exists()
    assert (folder / "feeds" / f"indicators_{DAY}.manifest.json").exists()
    import sqlalchemy as sa

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT recipient, status, attempt FROM "
                                    "ops.delivery_attempt")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("指挥中心", "delivered", 1)]
