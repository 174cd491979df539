"""Grid-management app: the simulated vendor exports and the file connector that lands them.

The emitter is checked against the contract (docs: contracts/grid.md) and its own ground
truth; the connector is checked against that truth: every line of every file version the
vendor dropped is landed exactly once or quarantined with a reason.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import shutil
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from connectors.base import Window
from connectors.grid import SOURCE, GridFileConnector
from connectors.landing import RawLanding
from simulator.city import build_city
from simulator.grid import REQUIRED_FIELDS, STATUSES, emit_grid
from simulator.model import Scale
from simulator.noise import NoiseRates

START = date(2026, 11, 1)
DAYS = 20
# Line-level rates well above the defaults so that ~5,000 lines show each kind
# often enough to measure its rate.
RATES = NoiseRates(broken_line=0.02, extra_field=0.05, missing_field=0.03, reexport_day=0.3,
                   gzip_file=0.4)
HOTLINE_CATEGORIES = [("0101", "市容环境/环境卫生/垃圾清运不及时"), ("0305", "城乡建设/供热/供暖不热"),
                      ("0302", "城乡建设/物业管理/电梯故障")]
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


class FakeState:
    """In-memory stand-in for warehouse.state.StateStore (same four methods)."""

    def __init__(self):
        self.manifest: dict[tuple[str, str], str] = {}
        self.watermarks: dict[str, str] = {}

    def get_watermark(self, source):
        return self.watermarks.get(source)

    def set_watermark(self, source, value, run_id):
        self.watermarks[source] = value

    def file_manifest(self, source):
        return {path: sha for (src, path), sha in self.manifest.items() if src == source}

    def record_file(self, source, path, sha256, run_id):
        self.manifest[(source, path)] = sha256


def hotline_transfers(city, n: int = 120) -> pd.DataFrame:
    """What the hotline emitter leaves in city.extras: tickets transferred to grids."""
    rng = np.random.default_rng(5)
    grids = city.grids.iloc[rng.integers(0, len(city.grids), n)].reset_index(drop=True)
    compounds = city.compounds.set_index("community_code")["address_prefix"]
    compounds = compounds[~compounds.index.duplicated()]
    received = (pd.Timestamp(START).tz_localize("Asia/Shanghai")
                + pd.to_timedelta(rng.integers(0, DAYS * 86_400, n), unit="s"))
    category = [HOTLINE_CATEGORIES[i] for i in rng.integers(0, len(HOTLINE_CATEGORIES), n)]
    return pd.DataFrame({
        "ticket_id": [f"HL{r:%Y%m%d}{i:06d}" for i, r in enumerate(received)],
        "grid_event_id": [f"GE{r:%Y%m%d}{9_000_000 + i:07d}" for i, r in enumerate(received)],
        "received_at": received,
        "transferred_at": received + pd.Timedelta(minutes=40),
        "community_code": grids["community_code"],
        "grid_code": grids["grid_code"],
        "address_text": grids["community_code"].map(compounds) + "北门",
        "category_code": [c for c, _ in category], "category": [name for _, name in category],
    })


def make_city(days: int, events_per_day: int, rates: NoiseRates, transfers: int = 120):
    scale = Scale("grid-test", residents=2_000, units=200, tickets_per_year=0,
                  grid_events_per_year=events_per_day * 365, days=days)
    city = build_city(42, scale, start=START, days=days, noise=rates)
    if transfers:
        city.extras["hotline_to_grid"] = hotline_transfers(city, transfers)
    return city


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """Twenty days of exports, ~100 events a day, with noise at RATES."""
    city = make_city(DAYS, 100, RATES)
    out = tmp_path_factory.mktemp("grid_month")
    summary = emit_grid(city, out)
    return city, out, summary


def truth(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / "truth" / f"grid_{name}.parquet")


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8").splitlines()


def parse(line: str):
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def final_lines(out: Path) -> list[str]:
    return [line for path in sorted((out / "grid").iterdir()) for line in read_lines(path)]


def within(count: int, n: int, rate: float) -> bool:
    """`count` of `n` draws is within 4 standard deviations of a binomial at `rate` (plus
    one for rounding): a correct emitter fails this about once in 16,000 seeds."""
    return abs(count - n * rate) <= 4 * math.sqrt(n * rate * (1 - rate)) + 1


# ---- the emitter -------------------------------------------------------------------------

def test_clean_lines_follow_the_contract(month):
    city, out, _ = month
    records = [r for r in map(parse, final_lines(out))
               if r and all(r.get(f) not in (None, "") for f in REQUIRED_FIELDS)]
    assert len(records) > 3_000
    grids = city.grids.set_index("grid_code")
    names = city.workers.set_index("staff_no")["person_key"].map(
        city.persons.set_index("person_key")["name"])
    departments = set(city.departments["dept_code"])
    for r in records:
        assert re.fullmatch(r"GE\d{15}", r["event_id"])
        assert re.fullmatch(r"\d{15}", r["grid_code"]) and r["grid_code"] in grids.index
        assert r["reporter_name"] == names[r["reporter_staff_no"]]
        assert ISO.match(r["reported_at"]) and ISO.match(r["updated_at"])
        assert r["updated_at"] >= r["reported_at"]
        assert r["source"] in {"巡查上报", "群众反映", "12345转办", "部门移交"}
        assert re.fullmatch(r"\d{4}", r["category_code"])
        assert re.fullmatch(r"[^/]+/[^/]+", r["category"])
        assert r["status"] in STATUSES
        assert isinstance(r["lat"], float) and isinstance(r["lon"], float)
        if r["status"] == "已结案":
            assert ISO.match(r["closed_at"]) and r["closed_at"] >= r["reported_at"]
        else:
            assert r["closed_at"] is None
        if r["dispatched_dept_code"] is not None:
            assert r["dispatched_dept_code"] in departments
            assert r["deadline_at"] > r["reported_at"]
        for person in r["persons"]:
            assert set(person) == {"name", "id_number", "phone", "role"}
        for unit in r["units"]:
            assert set(unit) == {"name", "uscc", "role"}
    # The categories' codes and names agree with each other across all events.
    assert len({(r["category_code"], r["category"]) for r in records}) == \
        len({r["category_code"] for r in records})
    # Some positions are 0/0 or swapped (the contract says so); most are near Hohhot.
    near = sum(40.7 < r["lat"] < 41.0 and 111.5 < r["lon"] < 111.9 for r in records)
    assert 0.9 * len(records) < near < len(records)


def test_events_progress_through_statuses_and_latest_update_wins(month):
    _, out, _ = month
    order = {"已上报": 0, "已派遣": 1, "处置中": 2, "已处置": 3, "已结案": 4, "已退回": 4}
    records = [r for r in map(parse, final_lines(out))
               if r and r.get("status") and r.get("updated_at") and r.get("event_id")]
    frame = pd.DataFrame(records)
    frame["rank"] = frame["status"].map(order)
    frame = frame.sort_values(["event_id", "updated_at"])
    assert (frame.groupby("event_id")["rank"].diff().dropna() >= 0).all()
    assert not frame.duplicated(["event_id", "updated_at"]).any()
    # Events come back on later days: most events are in more than one day's file.
    assert (frame.groupby("event_id").size() > 1).mean() > 0.5
    assert {"已结案", "已退回", "处置中"} <= set(frame["status"])


def test_hotline_transfers_and_same_problem_twins(month):
    city, out, _ = month
    records = [r for r in map(parse, final_lines(out)) if r and r.get("event_id")]
    by_id = {r["event_id"]: r for r in records}
    tickets = city.extras["hotline_to_grid"].set_index("grid_event_id")
    transferred = {r["event_id"]: r for r in records if r.get("source") == "12345转办"}
    assert len(transferred) > 0.8 * len(tickets)
    for event_id, r in transferred.items():
        assert r["hotline_ticket_id"] == tickets.loc[event_id, "ticket_id"]
        assert r["grid_code"] == tickets.loc[event_id, "grid_code"]
    own = [r for r in records if r.get("source") in {"巡查上报", "群众反映", "部门移交"}]
    assert all(r.get("hotline_ticket_id") is None for r in own)
    assert all(int(r["event_id"][10:]) < 9_000_000 for r in own)

    pairs = truth(out, "hotline_same_problem")
    assert len(pairs) >= 1
    by_ticket = city.extras["hotline_to_grid"].set_index("ticket_id")
    for event_id, ticket_id in pairs.itertuples(index=False):
        event, ticket = by_id[event_id], by_ticket.loc[ticket_id]
        assert event.get("hotline_ticket_id") is None
        assert event["address_text"] == ticket["address_text"]
        assert event["grid_code"] == ticket["grid_code"]
        gap = pd.Timestamp(event["reported_at"]) - ticket["received_at"]
        assert abs(gap) < pd.Timedelta(hours=48)


def test_persons_and_units_truth_cover_every_array_element(month):
    city, out, _ = month
    persons = truth(out, "persons").set_index("source_record_id")
    units = truth(out, "units").set_index("source_record_id")
    assert (persons["source"] == "grid.events.persons").all()
    assert (units["source"] == "grid.events.units").all()
    community = city.persons.set_index("person_key")["community_code"]
    unit_community = city.units.set_index("unit_key")["community_code"]
    seen_persons, seen_units = set(), set()
    for r in map(parse, final_lines(out)):
        if not r or "event_id" not in r or "grid_code" not in r:
            continue
        for i, _ in enumerate(r.get("persons") or []):
            key = f"{r['event_id']}#{i}"
            assert community[persons.loc[key, "person_key"]] == r["grid_code"][:12]
            seen_persons.add(key)
        for i, _ in enumerate(r.get("units") or []):
            key = f"{r['event_id']}#{i}"
            assert unit_community[units.loc[key, "unit_key"]] == r["grid_code"][:12]
            seen_units.add(key)
    assert len(seen_persons) > 100 and len(seen_units) > 50
    # Every truth row belongs to an element some line carries (broken lines aside).
    assert len(seen_persons) > 0.95 * len(persons) and len(seen_units) > 0.95 * len(units)
    noise = truth(out, "noise")
    person_noise = noise[noise["source"] == "grid.events.persons"]
    assert person_noise["source_record_id"].isin(persons.index).all()
    assert {"homophone", "phone_format"} <= set(person_noise["kind"])


def test_line_noise_kinds_appear_at_their_rates(month):
    """Each line kind is drawn independently per line at its rate; the counts over the final
    files must lie within 4 binomial standard deviations of rate × lines. Broken lines hide
    what else happened to them, so the other kinds are counted among parseable lines."""
    _, out, _ = month
    lines = final_lines(out)
    records = [parse(line) for line in lines]
    parsed = [r for r in records if r is not None]
    broken = len(lines) - len(parsed)
    missing = sum(any(f not in r for f in REQUIRED_FIELDS) for r in parsed)
    known = set(REQUIRED_FIELDS) | {"lat", "lon", "persons", "units", "deadline_at",
                                    "dispatched_dept_code", "closed_at", "hotline_ticket_id"}
    extra = sum(bool(set(r) - known) for r in parsed)
    assert within(broken, len(lines), RATES.broken_line), broken
    assert within(missing, len(parsed), RATES.missing_field), missing
    assert within(extra, len(parsed), RATES.extra_field), extra

    noise = truth(out, "noise")
    line_noise = noise[noise["source"] == SOURCE]
    emitted = truth(out, "emitted")
    final = emitted[emitted["stored_path"].str.startswith("grid/")]
    # The log and the emitted-lines truth agree with what the files hold.
    assert (~final["parseable"]).sum() == broken
    assert (line_noise["kind"] == "broken_line").sum() == broken
    assert set(line_noise.loc[line_noise["kind"] == "missing_field", "field"]) <= set(REQUIRED_FIELDS)


def test_file_noise_gzip_and_re_exports(month):
    city, out, summary = month
    exports = truth(out, "exports")
    finals = exports[exports["final"]]
    assert len(finals) == DAYS == summary.files
    assert finals["file"].str.fullmatch(r"grid/events_\d{8}\.jsonl(\.gz)?").all()
    assert within(int(finals["gzip"].sum()), DAYS, RATES.gzip_file)
    re_exported = exports[exports["export_version"] == 2]
    assert 1 <= len(re_exported) and within(len(re_exported), DAYS, RATES.reexport_day)
    for file in re_exported["file"]:
        v1, v2 = exports[exports["file"] == file].sort_values("export_version").itertuples()
        first, second = read_lines(out / v1.stored_path), read_lines(out / v2.stored_path)
        # The first export stopped part-way through a line; the second is complete.
        assert first[:-1] == second[:len(first) - 1]
        assert second[len(first) - 1].startswith(first[-1]) and first[-1] != second[len(first) - 1]
        assert v1.dropped_at < v2.dropped_at
        assert v1.stored_path.startswith("grid_history/") and ".v1.jsonl" in v1.stored_path
    for row in exports.itertuples():
        data = (out / row.stored_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        assert (data[:2] == b"\x1f\x8b") == row.gzip
    noise = truth(out, "noise")
    assert (noise["kind"] == "reexport_day").sum() == len(re_exported)
    assert (noise["kind"] == "gzip_file").sum() == finals["gzip"].sum()


def test_emitted_truth_lists_every_line_of_every_version(month):
    _, out, summary = month
    emitted = truth(out, "emitted")
    exports = truth(out, "exports")
    assert len(emitted) == exports["lines"].sum() == summary.lines
    for row in exports.itertuples():
        lines = read_lines(out / row.stored_path)
        rows = emitted[emitted["stored_path"] == row.stored_path].sort_values("line_no")
        assert rows["line_no"].tolist() == list(range(1, len(lines) + 1))
        assert rows["content_sha256"].tolist() == [
            hashlib.sha256(line.encode()).hexdigest() for line in lines]
    clean = emitted[emitted["valid"]]
    assert clean["source_record_id"].notna().all()
    assert clean["version"].str.match(ISO.pattern).all()


def test_same_seed_gives_byte_identical_files(tmp_path):
    rates = NoiseRates(reexport_day=1.0, gzip_file=0.5, broken_line=0.05)
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        emit_grid(make_city(3, 40, rates, transfers=20), out)
        outputs.append(out)
    files = sorted(p.relative_to(outputs[0]) for p in outputs[0].rglob("*") if p.is_file())
    assert any(str(f).endswith(".gz") for f in files)
    assert any(str(f).startswith("grid_history") for f in files)
    for relative in files:
        assert (outputs[0] / relative).read_bytes() == (outputs[1] / relative).read_bytes(), \
            relative
    other = tmp_path / "other-seed"
    city = make_city(3, 40, rates, transfers=20)
    city.seed = 43
    emit_grid(city, other)
    assert (other / "grid").exists() and sorted((other / "grid").iterdir()) != []
    assert [p.read_bytes() for p in sorted((other / "grid").iterdir())] != \
        [p.read_bytes() for p in sorted((outputs[0] / "grid").iterdir())]


# ---- the connector -----------------------------------------------------------------------

def day_window(day: date) -> Window:
    start = datetime.combine(day, datetime.min.time())
    return Window(start, start + timedelta(days=1))


def deliver(out: Path, drop: Path, exports: pd.DataFrame, at: datetime) -> dict[str, str]:
    """Make the drop folder hold what the vendor had dropped by `at`; returns path -> sha."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    present = {}
    for file, versions in exports[exports["dropped_at"] <= stamp].groupby("file"):
        latest = versions.sort_values("export_version").iloc[-1]
        target = drop / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / latest["stored_path"], target)
        present[file] = latest["sha256"]
    return present


def landed_records(landing: RawLanding) -> pd.DataFrame:
    records = landing.read_records(SOURCE)
    return records.drop(columns=["_run_id", "_extracted_at"]).sort_values(
        ["file_sha256", "line_no"]).reset_index(drop=True)


def landing_snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every landed raw file (record parts carry run ids)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "files").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def daily_runs(month, tmp_path_factory):
    """The connector run once a day at 04:00 while the vendor drops files (v1s, then v2s)."""
    _, out, _ = month
    exports = truth(out, "exports")
    base = tmp_path_factory.mktemp("grid_daily")
    drop, landing, state = base / "drop", RawLanding(base / "landing"), FakeState()
    quarantined = []  # (file sha, line number or None, reason)
    reports = []
    for d in range(DAYS + 5):
        day = START + timedelta(days=d)
        present = deliver(out, drop, exports, datetime.combine(day + timedelta(days=1),
                                                               datetime.min.time()) +
                          timedelta(hours=4))
        report = GridFileConnector({"root": str(drop)}).extract(
            day_window(day), landing, state, f"daily-{d}")
        reports.append(report)
        for item in report.quarantined:
            path, _, line = item.location.partition("#L")
            quarantined.append((present[path], int(line) if line else None, item.reason))
    return drop, landing, state, reports, quarantined


def test_every_line_of_every_version_landed_once_or_quarantined(month, daily_runs):
    _, out, _ = month
    _, landing, _, reports, quarantined = daily_runs
    exports = truth(out, "exports")
    emitted = truth(out, "emitted").merge(exports[["stored_path", "sha256"]], on="stored_path")
    assert (exports["export_version"] == 2).any()

    records = landed_records(landing)
    landed = set(zip(records["file_sha256"], records["line_no"]))
    assert len(landed) == len(records)  # nothing landed twice
    expected_landed = emitted[emitted["valid"]]
    assert landed == set(zip(expected_landed["sha256"], expected_landed["line_no"]))
    by_line = dict(zip(zip(emitted["sha256"], emitted["line_no"]), emitted["content_sha256"]))
    assert all(hashlib.sha256(raw.encode()).hexdigest() == by_line[key]
               for key, raw in zip(zip(records["file_sha256"], records["line_no"]),
                                   records["raw"]))

    rejected = {(sha, line): reason for sha, line, reason in quarantined}
    assert len(rejected) == len(quarantined)  # nothing quarantined twice
    expected_rejected = emitted[~emitted["valid"]]
    assert set(rejected) == set(zip(expected_rejected["sha256"], expected_rejected["line_no"]))
    for row in expected_rejected.itertuples():
        reason = rejected[(row.sha256, row.line_no)]
        if row.parseable:
            assert reason.startswith("missing required field: ")
        else:
            assert reason.startswith("broken line")
    assert sum(r.received for r in reports) == len(emitted)
    assert sum(r.landed for r in reports) == len(records)
    assert all(r.received == r.landed + len(r.quarantined) for r in reports)
    assert {"app_version", "device_os", "weather", "patrol_track_id"} & \
        set().union(*(r.schema_drift for r in reports))
    # Unknown fields stay in the landed raw line.
    assert records["raw"].str.contains('"app_version"').any()


def test_a_missing_field_quarantine_names_the_field(month, daily_runs):
    _, out, _ = month
    _, _, _, _, quarantined = daily_runs
    noise = truth(out, "noise")
    dropped = set(noise.loc[noise["kind"] == "missing_field", "field"])
    named = {reason.removeprefix("missing required field: ")
             for _, _, reason in quarantined if reason.startswith("missing required field")}
    assert named and named <= dropped


def test_rerunning_a_window_changes_nothing(daily_runs):
    drop, landing, state, _, _ = daily_runs
    before_files = landing_snapshot(landing.root)
    before_records = landed_records(landing)
    before_manifest = dict(state.manifest)
    for d in (0, 7, DAYS - 1):
        report = GridFileConnector({"root": str(drop)}).extract(
            day_window(START + timedelta(days=d)), landing, state, f"rerun-{d}")
        assert report.landed == 0 and report.quarantined == [] and report.received == 0
        assert report.notes["files_unchanged"] == d + 1
    assert landing_snapshot(landing.root) == before_files
    pd.testing.assert_frame_equal(landed_records(landing), before_records)
    assert state.manifest == before_manifest


def test_backfill_lands_the_same_as_day_by_day(daily_runs, tmp_path):
    drop, *_ = daily_runs
    daily, daily_state = RawLanding(tmp_path / "daily"), FakeState()
    daily_rejects = []
    for d in range(DAYS):
        report = GridFileConnector({"root": str(drop)}).extract(
            day_window(START + timedelta(days=d)), daily, daily_state, f"d{d}")
        daily_rejects += [(q.location, q.reason) for q in report.quarantined]
    backfill, backfill_state = RawLanding(tmp_path / "backfill"), FakeState()
    end = datetime.combine(START + timedelta(days=DAYS), datetime.min.time())
    report = GridFileConnector({"root": str(drop)}).extract(
        Window(end - timedelta(days=DAYS), end), backfill, backfill_state, "backfill")
    assert sorted(daily_rejects) == sorted((q.location, q.reason) for q in report.quarantined)
    pd.testing.assert_frame_equal(landed_records(daily), landed_records(backfill))
    assert landing_snapshot(daily.root) == landing_snapshot(backfill.root)
    assert daily_state.manifest == backfill_state.manifest


def test_object_store_root_lands_the_same_as_a_folder(daily_runs, tmp_path):
    drop, *_ = daily_runs
    root = f"memory://grid-{uuid.uuid4().hex}"
    memory = fsspec.filesystem("memory")
    for path in sorted(drop.rglob("*")):
        if path.is_file():
            memory.pipe(f"{root}/{path.relative_to(drop).as_posix()}", path.read_bytes())
    window = Window(datetime(2026, 10, 1), datetime(2026, 12, 10))
    try:
        from_memory = RawLanding(tmp_path / "memory")
        report = GridFileConnector({"root": root}).extract(window, from_memory, FakeState(), "m")
        assert report.notes["files_landed"] == DAYS
    finally:
        memory.rm(root.removeprefix("memory://"), recursive=True)
    from_folder = RawLanding(tmp_path / "folder")
    GridFileConnector({"root": str(drop)}).extract(window, from_folder, FakeState(), "f")
    pd.testing.assert_frame_equal(landed_records(from_memory), landed_records(from_folder))
    assert landing_snapshot(from_memory.root) == landing_snapshot(from_folder.root)


def test_damaged_files_are_quarantined_and_the_rest_loads(tmp_path):
    drop = tmp_path / "drop" / "grid"
    drop.mkdir(parents=True)
    line = {f: "x" for f in REQUIRED_FIELDS} | {"event_id": "GE202611010000001",
                                                 "updated_at": "2026-11-01T10:00:00+08:00",
                                                 "vendor_note": "新增字段"}
    good = "\ufeff" + json.dumps(line, ensure_ascii=False) + "\n\n" + "{\"event_id\": \n"
    (drop / "events_20261101.jsonl").write_text(good, encoding="utf-8")
    whole = gzip.compress(good.encode("utf-8"), mtime=0)
    (drop / "events_20261102.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (drop / "events_20261103.jsonl.gz").write_text("not gzip at all", encoding="utf-8")
    (drop / "events_20261104.jsonl").write_bytes(b"\xff\xfe broken bytes\n")
    landing, state = RawLanding(tmp_path / "landing"), FakeState()
    window = Window(datetime(2026, 11, 1), datetime(2026, 11, 5))
    report = GridFileConnector({"root": str(tmp_path / "drop")}).extract(
        window, landing, state, "r1")

    reasons = {q.location: q.reason for q in report.quarantined}
    assert reasons["grid/events_20261102.jsonl.gz"].startswith("gzip file cannot be decompressed")
    assert reasons["grid/events_20261103.jsonl.gz"] == "file is named .gz but is not gzip data"
    assert reasons["grid/events_20261104.jsonl#L1"] == "broken line: not valid UTF-8"
    assert reasons["grid/events_20261101.jsonl#L3"].startswith("broken line: not valid JSON")
    # Three lines and two unreadable files arrived; one line landed.
    assert report.received == 5 and report.landed == 1 and len(report.quarantined) == 4
    assert report.notes["blank_lines"] == 1
    assert report.schema_drift == ["vendor_note"]
    records = landing.read_records(SOURCE)
    assert records["event_id"].tolist() == ["GE202611010000001"]
    # Every file, damaged or not, is kept byte for byte and not offered again.
    landed = {p.name: p.read_bytes() for p in (landing.root / "files").rglob("events_*")}
    assert landed == {p.name: p.read_bytes() for p in drop.iterdir()}
    again = GridFileConnector({"root": str(tmp_path / "drop")}).extract(
        window, landing, state, "r2")
    assert again.quarantined == [] and again.landed == 0


def test_files_after_the_window_wait_and_late_files_are_not_lost(tmp_path):
    drop = tmp_path / "grid"
    drop.mkdir()
    record = {f: "x" for f in REQUIRED_FIELDS} | {"updated_at": "2026-11-01T10:00:00+08:00"}
    for day in ("20261101", "20261102", "20261103"):
        (drop / f"events_{day}.jsonl").write_text(
            json.dumps(record | {"event_id": f"GE{day}0000001"}) + "\n", encoding="utf-8")
    landing, state = RawLanding(tmp_path / "landing"), FakeState()
    connector = GridFileConnector({"root": str(tmp_path)})
    first = connector.extract(day_window(date(2026, 11, 2)), landing, state, "r1")
    # The 2nd's file plus the 1st's, which no earlier run had seen; the 3rd's waits.
    assert first.landed == 2
    assert set(state.file_manifest(SOURCE)) == {"grid/events_20261101.jsonl",
                                                "grid/events_20261102.jsonl"}
    second = connector.extract(day_window(date(2026, 11, 3)), landing, state, "r2")
    assert second.landed == 1 and second.notes["files_unchanged"] == 2


def test_lookback_bounds_which_earlier_files_are_checked(tmp_path):
    drop = tmp_path / "grid"
    drop.mkdir()
    record = {f: "x" for f in REQUIRED_FIELDS} | {"updated_at": "2026-11-01T10:00:00+08:00"}
    for day in range(1, 6):
        (drop / f"events_202611{day:02d}.jsonl").write_text(
            json.dumps(record | {"event_id": f"GE202611{day:02d}0000001"}) + "\n")
    landing, state = RawLanding(tmp_path / "landing"), FakeState()
    connector = GridFileConnector({"root": str(tmp_path), "lookback_days": "2"})
    report = connector.extract(day_window(date(2026, 11, 5)), landing, state, "r1")
    # The 5th, plus the 3rd and 4th (whose days end within two days before the window).
    assert set(state.file_manifest(SOURCE)) == {f"grid/events_202611{d:02d}.jsonl"
                                                for d in (3, 4, 5)}
    assert report.landed == 3


def test_real_state_store_keeps_the_manifest(month, tmp_path):
    from warehouse.engine import create_warehouse_engine
    from warehouse.schema import create_all
    from warehouse.state import StateStore

    _, out, _ = month
    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    create_all(engine)
    state = StateStore(engine)
    drop = tmp_path / "drop"
    deliver(out, drop, truth(out, "exports"), datetime(2027, 1, 1))
    connector = GridFileConnector({"root": str(drop)})
    landing = RawLanding(tmp_path / "landing")
    window = day_window(START + timedelta(days=2))
    first = connector.extract(window, landing, state, "r1")
    assert first.notes["files_landed"] == 3
    manifest = state.file_manifest(SOURCE)
    assert len(manifest) == 3 and all(len(sha) == 64 for sha in manifest.values())
    again = connector.extract(window, landing, state, "r2")
    assert again.landed == 0 and again.notes["files_unchanged"] == 3
    engine.dispose()
