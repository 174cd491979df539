"""Every DAG file imports cleanly, fast, and follows the project's policy."""

import os
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "govshare_daily" in dagbag.dag_ids


def test_every_dag_has_owner_retries_tags_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.tags, dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)


def test_dag_files_import_no_heavy_modules():
    """Parsing a DAG file must not pull in pandas, GX, SQLAlchemy engines or our pipeline."""
    heavy = ["pandas", "great_expectations", "duckdb", "pyarrow", "pipeline.extraction",
             "connectors.sql", "splink"]
    for path in DAGS.glob("*.py"):
        code = (f"import runpy, sys; runpy.run_path({str(path)!r}); "
                f"print([m for m in {heavy!r} if m in sys.modules])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
                             check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]", (path.name, out.stdout)
