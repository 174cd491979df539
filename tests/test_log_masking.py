"""Personal data is masked in Airflow task logs, not only in the CLI's: every task of the
daily DAG installs the masking (common.masking.install_log_masking) before it runs, and a
task's log lines, through stdlib logging, structlog and the failure's traceback alike, show
ID and phone numbers masked, in the console form `dag.test()` writes and in the JSON stream
a worker's task process sends to its supervisor.

Airflow reads its configuration at import, so each check runs in a child interpreter."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

from pii_scan import check_char, findings

ID_NUMBER = "15010219650312003" + check_char("15010219650312003")
PHONE = "13904712233"
MASKED = (ID_NUMBER[:6] + "*" * 12, "139****2233")

# What a task logs: a stdlib record with arguments, a structlog event with a bound value,
# then an exception whose message carries both numbers.
TASK_BODY = f"""
    import logging
    import structlog
    logging.getLogger("pipeline.probe").warning("caller id %s phone %s", "{ID_NUMBER}", "{PHONE}")
    structlog.get_logger("probe").info("structlog caller {ID_NUMBER}", phone="{PHONE}")
    raise ValueError("bad record {ID_NUMBER} / {PHONE}")
"""

# A one-task DAG whose task runs the callbacks the daily DAG's tasks run before executing,
# run with dag.test() on a SQLite metadata database; prints the daily DAG's callbacks.
DAG_TEST = """
import json, os, sys, textwrap
from pathlib import Path
from govshare import airflow_local

home = Path(sys.argv[1])
dags = home / "dags"
dags.mkdir(parents=True)
head = textwrap.dedent('''
    import importlib.util
    import pendulum
    from airflow.sdk import dag, task

    spec = importlib.util.spec_from_file_location("_daily", %r)
    daily = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(daily)
    CALLBACKS = daily.govshare_daily().task_dict["resolve"].on_execute_callback

    @task
    def leaky():
''') % str(airflow_local.DAGS_FOLDER / "govshare_daily.py")
tail = textwrap.dedent('''
    @dag(dag_id="log_probe", schedule=None, start_date=pendulum.datetime(2026, 11, 1),
         default_args={"owner": "test", "retries": 0, "on_execute_callback": CALLBACKS})
    def log_probe():
        leaky()

    log_probe()
''')
body = textwrap.indent(textwrap.dedent(sys.argv[2]), " " * 4)
(dags / "log_probe.py").write_text(head + body + tail)
airflow_local.configure(home / "airflow", quiet=False)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
airflow_local.migrate()
from airflow.dag_processing.dagbag import DagBag

def listed(callbacks):  # an operator holds one callback or a list of them
    return callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []

daily = DagBag(dag_folder=str(airflow_local.DAGS_FOLDER)).get_dag("govshare_daily")
callbacks = {t.task_id: [c.__name__ for c in listed(t.on_execute_callback)] for t in daily.tasks}
probes = DagBag(dag_folder=str(dags))
assert not probes.import_errors, probes.import_errors
run = probes.get_dag("log_probe").test()
print(json.dumps({"state": str(getattr(run, "state", run)), "callbacks": callbacks}))
"""


def test_a_task_of_the_daily_dag_logs_personal_data_masked(tmp_path):
    done = subprocess.run([sys.executable, "-c", DAG_TEST, str(tmp_path), TASK_BODY],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Every task of the daily DAG installs the masking before it runs.
    assert result["callbacks"] and all(
        "mask_personal_data" in names for names in result["callbacks"].values()), \
        result["callbacks"]
    assert result["state"] == "failed"  # the probe task raised, as it should
    log = done.stdout + done.stderr
    # The task did log its lines and its traceback (the scan below is not vacuous) ...
    assert "caller id" in log and "structlog caller" in log and "ValueError: bad record" in log
    # ... with the numbers masked everywhere.
    assert findings(log) == [] and all(masked in log for masked in MASKED)


# The logging a worker's task process sets up before running the task (task_runner: JSON
# lines to the supervisor's socket, here a buffer), then the callbacks of a daily task.
WORKER = """
import io, json, sys
from airflow.sdk.log import configure_logging
from govshare import airflow_local

import importlib.util

spec = importlib.util.spec_from_file_location(
    "_daily", airflow_local.DAGS_FOLDER / "govshare_daily.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
callbacks = module.govshare_daily().task_dict["publish"].on_execute_callback
stream = io.BytesIO()
configure_logging(json_output=True, output=stream, sending_to_supervisor=True)
for callback in callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []:
    callback({})
def task():
%(body)s
try:
    task()
except ValueError:
    import structlog
    structlog.get_logger("task").exception("Task failed with exception")
sys.stdout.write(stream.getvalue().decode())
"""


def test_the_worker_log_stream_is_masked(tmp_path):
    script = WORKER % {"body": textwrap.indent(textwrap.dedent(TASK_BODY), "    ")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={"AIRFLOW_HOME": str(tmp_path),
                                            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    text = json.dumps(events, ensure_ascii=False)
    assert [e["event"] for e in events if e.get("logger") in ("pipeline.probe", "probe")] == [
        f"caller id {MASKED[0]} phone {MASKED[1]}", f"structlog caller {MASKED[0]}"]
    failure = next(e for e in events if e["event"] == "Task failed with exception")
    assert "bad record" in json.dumps(failure["exception"], ensure_ascii=False)
    assert findings(text) == []


def test_masking_processor_masks_a_live_exception_for_a_console_renderer():
    """A renderer after the processor gets the traceback as masked text, not the live
    exception it would format itself."""
    from common.masking import mask_log_event

    try:
        raise ValueError(f"bad id {ID_NUMBER}")
    except ValueError:
        event = mask_log_event(None, "error", {"event": f"phone {PHONE}", "exc_info": True,
                                               "_record": logging.makeLogRecord({})})
    assert event["event"] == f"phone {MASKED[1]}" and "exc_info" not in event
    assert f"ValueError: bad id {MASKED[0]}" in event["exception"]
    assert isinstance(event["_record"], logging.LogRecord)  # structlog's own entries kept
