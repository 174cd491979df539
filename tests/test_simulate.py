"""`govshare simulate` as a whole: the same seed gives the same bytes; the CLI works."""

import hashlib
import json
from pathlib import Path

import pandas as pd

from govshare.cli import main
from simulator.departments import read_tables
from simulator.run import simulate


def _file_digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".duckdb"}


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    return read_tables(f"duckdb:///{root / 'departments.duckdb'}")


def test_same_seed_same_output_anywhere(tmp_path):
    first, second = tmp_path / "a", tmp_path / "elsewhere" / "b"
    simulate(first, "tiny", seed=11, days=2, progress=lambda m: None)
    simulate(second, "tiny", seed=11, days=2, progress=lambda m: None)
    digests = _file_digests(first)
    assert digests == _file_digests(second)
    assert {"manifest.json", "reference/divisions.csv", "hotline/tickets.sqlite"} <= set(digests)
    for name, frame in _tables(first).items():
        pd.testing.assert_frame_equal(frame, _tables(second)[name], obj=name)


def test_another_seed_gives_another_city(tmp_path):
    simulate(tmp_path / "a", "tiny", seed=1, days=1, progress=lambda m: None)
    simulate(tmp_path / "b", "tiny", seed=2, days=1, progress=lambda m: None)
    a, b = _file_digests(tmp_path / "a"), _file_digests(tmp_path / "b")
    assert a["reference/divisions.csv"] != b["reference/divisions.csv"] or \
        a["hotline/tickets.sqlite"] != b["hotline/tickets.sqlite"]


def test_cli_simulate_with_noise_overrides(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--scale", "tiny", "--days", "1", "--out", str(out),
                 "--noise", "traditional=0.5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["noise"]["traditional"] == 0.5
    assert manifest["days"] == 1 and manifest["scale"] == "tiny"
    noise = pd.read_parquet(out / "truth" / "departments_noise.parquet")
    names = noise[(noise["source"] == "civil_affairs.residents") & (noise["field"] == "name")]
    residents = manifest["sources"]["departments"]["rows"]["civil_affairs.residents"]
    # About half of the names that have a traditional form (most do) were converted.
    assert 0.3 < (names["kind"] == "traditional").sum() / residents < 0.6
    assert str(out.resolve()) in capsys.readouterr().out


def test_cli_hands_serve_hotline_its_own_options(capsys):
    import pytest

    with pytest.raises(SystemExit) as done:
        main(["serve-hotline", "--help"])
    assert done.value.code == 0
    assert "--rate-429" in capsys.readouterr().out
