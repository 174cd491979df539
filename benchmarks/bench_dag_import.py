"""Import time of the DAG folder: each DAG file parsed in a fresh interpreter, best of 5."""

from __future__ import annotations

import statistics

from measure import REPO, record, run_child

CODE = """
import os, time
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
import airflow.sdk  # Airflow itself is loaded by the dag-processor before any DAG file
t0 = time.perf_counter()
import runpy
runpy.run_path({path!r})
print(time.perf_counter() - t0)
"""


def main() -> None:
    lines = ["| DAG file | import time (best of 5) | median |", "|---|---|---|"]
    for path in sorted((REPO / "dags").glob("*.py")):
        times = [float(run_child(CODE.format(path=str(path))).split()[-1]) for _ in range(5)]
        lines.append(f"| `{path.name}` | {min(times) * 1000:.0f} ms | "
                     f"{statistics.median(times) * 1000:.0f} ms |")
    record("DAG folder import time", "python benchmarks/bench_dag_import.py", lines)


if __name__ == "__main__":
    main()
