"""Replay that reaches the shared tables (issue 14): a record released from quarantine flows
through the next ordinary (incremental) daily run into staging, resolution and publication.
It used to reach `shared.*` only with `publish --full`: incremental runs selected versions by
when they landed, and a replayed version landed days before it was staged."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("great_expectations")

from test_quarantine import NEW_COMMUNITY, with_new_community  # noqa: E402
from test_validation import event, reference  # noqa: E402

from pipeline.extraction import extract  # noqa: E402
from pipeline.publication import publish  # noqa: E402
from pipeline.quarantine import replay  # noqa: E402
from pipeline.resolution import resolve  # noqa: E402
from pipeline.staging import validate_and_load  # noqa: E402

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(birth: date, serial: int) -> str:
    """A valid 18-digit resident ID number (GB 11643 check digit) of district 150102."""
    body = f"150102{birth:%Y%m%d}{serial:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


HELD_ID = resident_id(date(1990, 3, 7), 123)  # the person of the held event only
SURNAMES, GIVEN = "王李张刘陈杨赵黄周吴", "伟芳娜敏静丽强磊军洋"


def _crowd(stamp: str, n: int = 80) -> list[dict]:
    """Events naming 40 people twice each: enough mentions for resolution to train on."""
    people = [{"name": SURNAMES[i % 10] + GIVEN[i // 10 % 10] + GIVEN[(i * 3) % 10],
               "id_number": resident_id(date(1960 + i % 40, 1 + i % 12, 1 + i % 28), i),
               "phone": f"139047{i:05d}", "role": "当事人"} for i in range(n // 2)]
    return [event(event_id=f"GC{i:03d}", updated_at=stamp, persons=[people[i % len(people)]],
                  units=[]) for i in range(n)]


def _write_reference(ref, root):
    root.mkdir(parents=True, exist_ok=True)
    ref.divisions.to_csv(root / "divisions.csv", index=False)
    ref.grids.to_csv(root / "grids.csv", index=False)
    ref.departments.to_csv(root / "departments.csv", index=False)
    return str(root)


def _drop_day(drop, day: date, events: list[dict]) -> None:
    folder = drop / "grid"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"events_{day:%Y%m%d}.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")


def _daily_run(config: dict, day: date) -> None:
    """The daily DAG's steps for the grid source, in order, for one local day."""
    run_id = f"scheduled__{day.isoformat()}"
    since = datetime.combine(day, datetime.min.time())
    extract("grid.events", since, since + timedelta(days=1), run_id, config)
    validate_and_load("grid.events", day, run_id, config)
    resolve(config, run_id)
    publish(config, run_id)


def _ids(url: str, sql: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql)).scalars().all()
    engine.dispose()
    return sorted(rows)


@pytest.mark.slow  # two daily runs with resolution: about 30 s per engine
def test_a_replayed_record_reaches_shared_tables_and_xrefs_in_the_next_daily_run(
        tmp_path, warehouse_url):
    day1, day2 = date(2026, 11, 25), date(2026, 11, 26)
    drop = tmp_path / "drop"
    stamp = "2026-11-25T15:02:44+08:00"
    held_event = event(event_id="GE2", grid_code=NEW_COMMUNITY + "001", updated_at=stamp,
                       persons=[{"name": "乌兰", "id_number": HELD_ID, "phone": "13904710000",
                                 "role": "当事人"}], units=[])
    _drop_day(drop, day1, [event(event_id="GE1", updated_at=stamp, units=[]), held_event,
                           *_crowd(stamp)])
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"), "grid": {"root": str(drop)},
              "reference": {"root": _write_reference(reference(), tmp_path / "ref1")}}
    _daily_run(config, day1)
    events = "SELECT event_id FROM shared.grid_event WHERE event_id LIKE 'GE%'"
    assert _ids(warehouse_url, events) == ["GE1"]  # GE2's community is not in the reference
    assert _ids(warehouse_url, "SELECT source_record_id FROM shared.quarantine") == ["GE2"]

    # The divisions gain the community; the held record is replayed, then the next day runs.
    fixed = with_new_community(reference())
    config["reference"] = {"root": _write_reference(fixed, tmp_path / "ref2")}
    engine = sa.create_engine(warehouse_url)
    assert replay(engine, fixed)["grid.events"]["loaded"] == 1
    engine.dispose()
    _drop_day(drop, day2, [event(event_id="GE3", updated_at="2026-11-26T10:00:00+08:00",
                                 units=[])])
    _daily_run(config, day2)

    assert _ids(warehouse_url, events) == ["GE1", "GE2", "GE3"]
    assert _ids(warehouse_url, "SELECT event_id FROM shared.grid_event_person "
                               "WHERE event_id = 'GE2'") == ["GE2"]
    xrefs = pd.read_sql("SELECT source, source_record_id, resident_id FROM "
                        "shared.resident_xref", warehouse_url)
    held = xrefs[xrefs["source_record_id"].str.startswith("GE2")]
    assert len(held) == 1 and held["resident_id"].notna().all()
    residents = _ids(warehouse_url, "SELECT resident_id FROM shared.resident")
    assert held["resident_id"].iloc[0] in residents
