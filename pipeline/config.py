"""Where things are and how each source is reached: one YAML file, secrets from the
environment (`${NAME}`) or from Airflow Connections (`conn_id`), never from code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# Airflow connection types -> the SQLAlchemy drivers this project installs.
SQL_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mysql+pymysql",
               "postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


class ConfigError(ValueError):
    pass


def home() -> Path:
    """Working folder for the landing zone, the embedded warehouse and Data Docs."""
    return Path(os.environ.get("GOVSHARE_HOME", "var")).resolve()


def sources_path() -> Path:
    return Path(os.environ.get("GOVSHARE_SOURCES", home() / "sources.yaml"))


def _expand(value, missing: set):
    """Replace ${NAME} / ${NAME:-default}; names that are not set are left as written and
    collected in `missing`."""
    if isinstance(value, str):
        def sub(match):
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.add(name)
            return match.group(0)
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, missing) for v in value]
    return value


def _from_airflow_connection(conn_id: str) -> dict:
    """url/base_url/token from an Airflow Connection (imported lazily: Airflow is optional
    outside DAG runs)."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    if conn.conn_type in ("http", "https"):
        values = {"base_url": f"{conn.conn_type}://{conn.host}"
                              + (f":{conn.port}" if conn.port else "") + (conn.schema or "")}
        if conn.password:
            values["token"] = conn.password
        return {**values, **(conn.extra_dejson or {})}  # extras: connector settings
    # Database connections: the URI (extras become its query), with our installed drivers.
    scheme, _, rest = conn.get_uri().partition("://")
    return {"url": f"{SQL_DRIVERS.get(scheme, scheme)}://{rest}"}


def load_sources(path: str | os.PathLike | None = None, require_env: bool = True) -> dict:
    """The sources file as a dict: {'departments': [...], 'hotline': {...}, 'grid': {...},
    'rosters': {...}, 'reference': {...}}. With require_env=False (tools that only read the
    warehouse), unset environment variables are left unexpanded instead of failing, except
    in `warehouse_url`: those tools need it, and one that cannot be read is an error naming
    the variable, never a fall-back to another warehouse."""
    path = Path(path or sources_path())
    if not path.exists():
        raise ConfigError(f"sources file {path} not found (set GOVSHARE_SOURCES; "
                          "config/sources.example.yaml documents every key)")
    missing: set[str] = set()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = _expand(raw, missing)
    if missing and require_env:
        raise ConfigError(f"environment variable(s) not set: {', '.join(sorted(missing))}")
    if isinstance(raw, dict) and "warehouse_url" in raw:
        _check_warehouse_url(raw["warehouse_url"], path)
    for section in ("hotline", "grid", "rosters"):
        if isinstance(config.get(section), dict) and config[section].get("conn_id"):
            config[section] = {**_from_airflow_connection(config[section]["conn_id"]),
                               **{k: v for k, v in config[section].items() if k != "conn_id"}}
    for table in config.get("departments", []):
        if table.get("conn_id"):
            table.update({**_from_airflow_connection(table.pop("conn_id")), **table})
    check_sources(config, path)
    return config


def _check_warehouse_url(value, path: Path) -> None:
    missing: set[str] = set()
    expanded = _expand(value, missing)
    if missing:
        raise ConfigError(f"{path}: warehouse_url needs the environment variable(s) "
                          f"{', '.join(sorted(missing))}, not set")
    if isinstance(expanded, str) and not expanded.strip():
        raise ConfigError(f"{path}: warehouse_url is empty (leave the key out for the "
                          "embedded warehouse)")


def check_sources(config: dict, path: str | os.PathLike) -> None:
    """Raise ConfigError listing every key of the sources file that the model
    (common.settings) does not know or whose value has the wrong type."""
    from common.settings import SettingsError, validate
    from common.settings_check import sources_file_model

    try:
        validate(sources_file_model(), config, path)
    except SettingsError as error:
        raise ConfigError(str(error)) from None


def access_path() -> Path:
    return Path(os.environ.get("GOVSHARE_ACCESS", home() / "access.yaml"))
