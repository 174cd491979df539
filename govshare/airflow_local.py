"""Run the project's DAGs with Airflow's own in-process runner (`dag.test()`), on a SQLite
metadata database in a local folder: what the demo and the end-to-end tests use.

Airflow reads its configuration when first imported, so `configure()` must run before
anything imports `airflow`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags"


def configure(airflow_home: Path, quiet: bool = True) -> None:
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING" if quiet else "INFO",
    })
    if "airflow" in sys.modules and os.environ.get("_GOVSHARE_AIRFLOW_HOME") != str(airflow_home):
        raise RuntimeError("airflow was imported before govshare.airflow_local.configure()")
    os.environ["_GOVSHARE_AIRFLOW_HOME"] = str(airflow_home)


def migrate() -> None:
    """`airflow db migrate` in a child process (its own logging and ORM set-up)."""
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, env=os.environ.copy(),
                   stdout=subprocess.DEVNULL)


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.get_dag(dag_id)


def run_day(dag, logical_date: datetime) -> str:
    """Run one DAG run for `logical_date`; returns its final state."""
    run = dag.test(logical_date=logical_date)
    return str(getattr(run, "state", run))


def run_with_conf(dag, conf: dict) -> str:
    """Run one DAG run with `conf` (an Asset-scheduled DAG, e.g. govshare_indicators for a
    day); returns its final state. `dag.test()` in Airflow 3.3.2 crashes when a run of a DAG
    with a DeadlineAlert succeeds, so the in-process run goes without the deadline (the
    scheduler keeps it: tests/test_indicators_dag.py checks it parses and serialises)."""
    dag.deadline = None
    run = dag.test(run_conf=conf)
    return str(getattr(run, "state", run))
