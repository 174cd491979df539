"""The city is configuration: no pipeline code names the city it was first written for.
Everything but the simulator (which makes the cities), the tests, the configuration
examples, the docs and reference data (GB/T 2260 lists every city) is searched."""

import re
from pathlib import Path

import pytest

from simulator.profiles import HOHHOT

REPO = Path(__file__).resolve().parents[1]
EXEMPT = {"simulator", "tests", "config", "docs", ".venv", ".git", "var",
          "govshare.egg-info", "node_modules"}
CODE = {".py", ".yaml", ".yml", ".sql", ".toml", ".cfg", ".ini", ".json", ".sh"}
REFERENCE_DATA = {REPO / "transforms" / "data"}
# The city's names (official, short, abbreviated, romanised) and its telephone area code.
FORBIDDEN = re.compile("|".join(re.escape(w) for w in (
    HOHHOT.name, HOHHOT.short_name, HOHHOT.abbreviation, "Hohhot", "Huhhot",
    HOHHOT.area_code)), re.IGNORECASE)


def pipeline_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO)
        if relative.parts[0] in EXEMPT or relative.parts[0].startswith(".") \
                or not path.is_file():
            continue
        if path.suffix in CODE or path.name in ("Dockerfile", "Makefile"):
            if not any(parent in REFERENCE_DATA for parent in path.parents):
                files.append(path)
    return files


def test_the_search_covers_the_pipeline():
    found = {p.relative_to(REPO).parts[0] for p in pipeline_files()}
    assert {"common", "transforms", "connectors", "expectations", "pipeline", "warehouse",
            "dags", "govshare"} <= found


@pytest.mark.parametrize("word", ["呼和浩特市", "呼市", "HOHHOT", "0471"])
def test_the_pattern_catches_each_name(word):
    assert FORBIDDEN.search(f"x{word}y")


def test_no_city_name_or_area_code_in_pipeline_code():
    hits = []
    for path in pipeline_files():
        for number, line in enumerate(path.read_text(encoding="utf-8",
                                                     errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    assert not hits, "city-specific code (put it in the sources file's city section):\n" \
        + "\n".join(hits)
