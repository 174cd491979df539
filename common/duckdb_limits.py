"""How much memory an embedded DuckDB may use, and where it spills: shared by the warehouse
and by the matcher's own in-memory DuckDB."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def duckdb_memory_limit() -> str:
    """Memory one DuckDB instance may use before it spills to disk: `GOVSHARE_DUCKDB_MEMORY`
    (e.g. `6GB`), else a quarter of physical memory. DuckDB's own default (80%) is per
    instance; the warehouse, the matcher and pandas share one process."""
    configured = os.environ.get("GOVSHARE_DUCKDB_MEMORY")
    if configured:
        return configured
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{physical // 4 // 2**20}MB"


def configure_duckdb(connection) -> None:
    """Bound a DuckDB database's memory and give it one place to spill beyond that (an
    in-memory database, as Splink's, would otherwise fail instead)."""
    connection.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
    spill = Path(os.environ.get("GOVSHARE_DUCKDB_SPILL")
                 or Path(tempfile.gettempdir()) / "govshare-duckdb-spill")
    connection.execute(f"SET temp_directory = '{spill}'")
