from datetime import date, datetime

import pandas as pd

from connectors.landing import RawLanding, content_hashes


def test_content_hash_depends_on_content_only():
    a = pd.DataFrame({"id": ["1", "2"], "v": ["x", None]})
    b = pd.DataFrame({"v": ["x", None], "id": ["1", "2"]})  # column order does not matter
    assert list(content_hashes(a)) == list(content_hashes(b))
    c = a.assign(v=["x", "y"])
    assert content_hashes(a)[0] == content_hashes(c)[0]
    assert content_hashes(a)[1] != content_hashes(c)[1]


def test_rewriting_a_part_lands_each_version_once(tmp_path):
    landing = RawLanding(tmp_path)
    frame = pd.DataFrame({"id": ["1", "2"], "v": ["a", "b"]})
    day = date(2026, 11, 1)
    landing.write_records("s", day, "w1", "run-1", frame, "id", datetime(2026, 11, 2))
    landing.write_records("s", day, "w1", "run-2", frame, "id", datetime(2026, 11, 2))
    landing.write_records("s", day, "w2", "run-2", frame.iloc[:1], "id", datetime(2026, 11, 2))
    landed = landing.read_records("s", day)
    assert len(landed) == 2  # the same versions again add nothing
    assert set(landed["_run_id"]) == {"run-1"}  # each from its first landing
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind


def test_write_file_copies_bytes(tmp_path):
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(b"\x1f\x8b binary")
    landing = RawLanding(tmp_path / "landing")
    out = landing.write_file("grid.events", date(2026, 11, 1), src, "grid/in.jsonl.gz")
    assert out.read_bytes() == src.read_bytes()
    assert out.relative_to(tmp_path / "landing").as_posix() == \
        "files/grid.events/run_date=2026-11-01/grid/in.jsonl.gz"
