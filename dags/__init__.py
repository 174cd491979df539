"""Airflow DAG files. A package only so that the import contracts in pyproject.toml cover
them: DAG files wire, calling `pipeline` (and `common`) inside their tasks."""
