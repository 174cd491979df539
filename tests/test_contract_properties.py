"""Contract-wide properties: every value form a source contract allows (docs/contracts/) goes
through its connector and its validation without a single quarantine, and every invalid
record is quarantined with a reason naming the rule it breaks.

Strategies: tests/contract_strategies.py (each names the contract fields it generates);
which forms per field: docs/contracts-coverage.md. The examples run under the `ci`
hypothesis profile of tests/conftest.py (few examples, a fixed seed), so `make test` stays
fast and reproducible; `GOVSHARE_HYPOTHESIS_PROFILE=deep` draws many more.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from contract_strategies import (
    COMMUNITIES,
    GRID_ALLOWED_WARNINGS,
    GRID_DEFECTS,
    RESIDENT_ALLOWED_WARNINGS,
    RESIDENT_DEFECTS,
    ROSTER_FORMATS,
    ROSTER_VALUES,
    STREETS,
    TICKET_DEFECTS,
    UpdatedAtForm,
    grid_events,
    moments,
    naive_timestamps,
    nullable,
    person_names,
    phones,
    reference_city,
    resident_ids,
    resident_rows,
    roster_dates,
    roster_headers,
    tickets,
    updated_at_forms,
    write_reference,
)
from hotline_support import write_version_store
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from property_support import (
    RESIDENT_COLUMNS,
    MemoryState,
    assert_properties,
    create_department_table,
    landing_in,
    rejected_by_connector,
    scratch,
)
from workbooks import csv_bytes, xls_bytes, xlsx_bytes

from common.reference import load_reference
from connectors.base import Window
from connectors.grid import GridFileConnector
from connectors.hotline import HotlineConnector
from connectors.rosters import RosterConnector
from connectors.sql import SqlTableConnector
from expectations.runner import validate_landed
from simulator.hotline_server import serve_hotline

pytest.importorskip("great_expectations")

EVERYTHING = Window(datetime(1900, 1, 1), datetime(2100, 1, 1))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_city(tmp_path_factory.mktemp("reference"))


# --------------------------------------------------------------------------- reference


@given(bom=st.booleans(), crlf=st.booleans())
def test_reference_tables_load_in_every_csv_form(bom, crlf):
    """reference.md `divisions.csv`, `grids.csv`, `departments.csv`: UTF-8 with or without a
    BOM, LF or CRLF line ends; every 12-digit code stays text (no number conversion), every
    level and parent is kept."""
    with scratch() as folder:
        reference = load_reference(write_reference(folder / "ref", bom=bom, crlf=crlf))
    assert list(reference.divisions.columns) == ["code", "name", "level", "parent_code"]
    assert reference.value_set("community_codes") == ["330102001001", "330102001002",
                                                      "330106002001", "330106002002"]
    assert reference.value_set("street_codes") == ["330102001000", "330106002000"]
    assert len(reference.value_set("grid_codes")) == 8
    assert "JD330102001" in reference.value_set("dept_codes")


# --------------------------------------------------------------------------- departments

RESIDENTS = "civil_affairs.residents"


@st.composite
def resident_batches(draw, engine: str, gbk: bool = False):
    """(updated_at form, rows, {resident_no: the rule its defect breaks}) of one batch."""
    form = draw(updated_at_forms(engine))
    rows = draw(st.lists(resident_rows(gbk=gbk), min_size=1, max_size=10))
    defects = {}
    for row in draw(st.lists(st.sampled_from(rows), max_size=2, unique_by=id)):
        column = draw(st.sampled_from(sorted(RESIDENT_DEFECTS)))
        row[column], defects[id(row)] = RESIDENT_DEFECTS[column][0], RESIDENT_DEFECTS[column][1]
    numbered = []
    for n, row in enumerate(rows):
        numbered.append({"resident_no": f"R{n:05d}", **row,
                         "updated_at": form.value(draw(moments()))})
    return form, numbered, {f"R{n:05d}": defects[id(r)] for n, r in enumerate(rows)
                            if id(r) in defects}


def _department_run(url: str, form: UpdatedAtForm, rows: list[dict], reference):
    create_department_table(url, RESIDENTS, RESIDENT_COLUMNS, form.column, rows)
    with scratch() as folder:
        landing = landing_in(folder)
        report = SqlTableConnector({"url": url, "table": RESIDENTS, "key": "resident_no"}) \
            .extract(EVERYTHING, landing, MemoryState(), "run-prop")
        landed = landing.read_records(RESIDENTS)
    assert report.landed == len(rows)
    return validate_landed(RESIDENTS, landed, reference)


def _check_residents(outcome, rows, defects):
    assert_properties(outcome, {r["resident_no"] for r in rows} - set(defects), defects,
                      RESIDENT_ALLOWED_WARNINGS)


@given(batch=resident_batches("duckdb"))
def test_duckdb_resident_register_every_contract_form(batch, reference, tmp_path):
    """departments.md civil_affairs.residents, every column (resident_rows), on a DuckDB
    department database; `updated_at` as DATETIME, TIMESTAMP or text (updated_at_forms),
    midnight and fractional times included."""
    form, rows, defects = batch
    outcome = _department_run(f"duckdb:///{tmp_path / 'departments.duckdb'}", form, rows,
                              reference)
    _check_residents(outcome, rows, defects)


@pytest.mark.mariadb
@pytest.mark.parametrize("charset", ["utf8mb4", "gbk"])
@given(data=st.data())
def test_mariadb_resident_register_every_contract_form(data, charset, reference, mariadb_url):
    """departments.md civil_affairs.residents, every column, on a MariaDB department
    database in utf8mb4 (characters GBK cannot hold included) and in GBK (the older
    system); `updated_at` as DATETIME, DATETIME(6), TIMESTAMP or text."""
    form, rows, defects = data.draw(resident_batches("mariadb", gbk=charset == "gbk"))
    admin = sa.create_engine(mariadb_url)
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS civil_affairs")
        conn.exec_driver_sql(f"CREATE DATABASE civil_affairs CHARACTER SET {charset}")
    admin.dispose()
    outcome = _department_run(mariadb_url, form, rows, reference)
    _check_residents(outcome, rows, defects)
    if charset == "utf8mb4":  # text the GBK system could never hold comes back unchanged
        landed_names = set(outcome.valid["name"].dropna())
        expected = {r["name"] for r in rows if r["resident_no"] not in defects and r["name"]}
        assert expected <= landed_names


# --------------------------------------------------------------------------- hotline

HOTLINE_TOKEN = "property-token"
HOTLINE_WINDOW = Window(datetime(2015, 1, 1, tzinfo=timezone(timedelta(hours=8))),
                        datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=8))))


@st.composite
def ticket_batches(draw):
    """(tickets, {ticket_id: the rule its defect breaks}, {ticket_id: the connector's
    reason}) of one window."""
    batch = [draw(tickets(n)) for n in range(draw(st.integers(1, 8)))]
    defects = {}
    for position in draw(st.lists(st.integers(0, len(batch) - 1), max_size=2, unique=True)):
        kind = draw(st.sampled_from(sorted(TICKET_DEFECTS)))
        change, rule = TICKET_DEFECTS[kind]
        batch[position] = change(batch[position], draw(naive_timestamps()))
        defects[batch[position]["ticket_id"]] = rule
    # A change time without an offset cannot even be filed by the connector: it rejects the
    # ticket with its reason (and pipeline.extraction quarantines it).
    rejected = {}
    clean = [t for t in batch if t["ticket_id"] not in defects]
    if len(clean) >= 2 and draw(st.booleans()):  # one still lands, so there is a batch
        ticket = clean[-1]
        ticket["updated_at"] = draw(naive_timestamps())
        rejected[ticket["ticket_id"]] = "no readable updated_at"
    return batch, defects, rejected


@given(batch=ticket_batches())
def test_hotline_every_contract_form(batch, reference):
    """hotline.md + hotline.openapi.yaml, every ticket field (tickets): served by the local
    hotline server (a version store by tests/hotline_support.py), extracted by the hotline
    connector, validated by hotline.tickets.yaml."""
    tickets_, defects, rejected = batch
    with scratch() as folder:
        store = write_version_store(folder / "tickets.sqlite", tickets_)
        landing = landing_in(folder)
        with serve_hotline(store, token=HOTLINE_TOKEN) as server:
            report = HotlineConnector({"base_url": server.url, "token": HOTLINE_TOKEN,
                                       "page_size": 3, "max_requests_per_second": 200,
                                       "overlap_seconds": 0}).extract(
                HOTLINE_WINDOW, landing, MemoryState(), "run-prop")
        landed = landing.read_records("hotline.tickets")
    assert report.received == len(tickets_)
    outcome = validate_landed("hotline.tickets", landed, reference)
    assert_properties(outcome, {t["ticket_id"] for t in tickets_} - set(defects) - set(rejected),
                      defects, connector_rejects=rejected_by_connector(report),
                      connector_defects=rejected)


# --------------------------------------------------------------------------- grid

GRID_FILE_DAY = "20261125"
GRID_WINDOW = Window(datetime(2026, 11, 1), datetime(2026, 12, 1))


@st.composite
def grid_files(draw):
    """(file name, bytes, {event_id: rule}, {line location: connector reason}) of one day's
    export: plain or gzip, LF or CRLF, a UTF-8 BOM or not, blank lines, broken lines."""
    events = [draw(grid_events(n)) for n in range(draw(st.integers(1, 8)))]
    defects = {}
    for position in draw(st.lists(st.integers(0, len(events) - 1), max_size=2, unique=True)):
        change, rule = GRID_DEFECTS[draw(st.sampled_from(sorted(GRID_DEFECTS)))]
        events[position] = change(events[position], draw(naive_timestamps()))
        defects[events[position]["event_id"]] = rule
    lines = [json.dumps(e, ensure_ascii=draw(st.booleans())) for e in events]
    broken = {}
    for kind in draw(st.lists(st.sampled_from(["truncated", "not_json", "missing"]),
                              max_size=2)):
        text = {"truncated": lines[0][: len(lines[0]) // 2], "not_json": "<html>502</html>",
                "missing": json.dumps({k: v for k, v in events[0].items()
                                       if k != "reporter_name"}, ensure_ascii=False)}[kind]
        lines.append(text)
        broken[len(lines)] = {"truncated": "broken line", "not_json": "broken line",
                              "missing": "missing required field: reporter_name"}[kind]
    if draw(st.booleans()):
        lines.insert(len(lines), "")  # a blank line at the end: skipped and counted
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + \
        newline.join(lines).encode("utf-8") + newline.encode()
    zipped = draw(st.booleans())
    name = f"grid/events_{GRID_FILE_DAY}.jsonl" + (".gz" if zipped else "")
    return name, gzip.compress(data) if zipped else data, defects, \
        {f"{name}#L{n}": reason for n, reason in broken.items()}


@given(drop=grid_files())
def test_grid_export_every_contract_form(drop, reference):
    """grid.md, every field of a line (grid_events) and every file form (grid_files: .jsonl
    or .jsonl.gz, BOM, CRLF, blank and broken lines, vendor-added fields), through the
    grid connector's drop folder and grid.events.yaml."""
    name, data, defects, broken = drop
    with scratch() as folder:
        (folder / "drop" / "grid").mkdir(parents=True)
        (folder / "drop" / name).write_bytes(data)
        landing = landing_in(folder)
        report = GridFileConnector({"root": str(folder / "drop")}).extract(
            GRID_WINDOW, landing, MemoryState(), "run-prop")
        landed = landing.read_records("grid.events")
    outcome = validate_landed("grid.events", landed, reference)
    valid = {json.loads(line)["event_id"] for line in landed["raw"]} - set(defects)
    assert_properties(outcome, valid, defects, GRID_ALLOWED_WARNINGS,
                      connector_rejects=rejected_by_connector(report),
                      connector_defects=broken)


# --------------------------------------------------------------------------- rosters

ROSTER_STREET = STREETS[0][0]


@st.composite
def roster_drops(draw):
    """One street's monthly roster file in every form rosters.md allows: .xlsx, .xls or a
    CSV in UTF-8 with BOM, GBK or GB18030; title and 填报单位 rows above the header; every
    header spelling (roster_headers); ID numbers as text (dirty, legacy, leading
    apostrophe); dates in every written form (roster_dates); a community name merged down
    the rows (blank below its first row in a CSV); totals, note and blank rows below.
    Returns (path, bytes, people as {logical: value}, {physical row: rule})."""
    file_format = draw(st.sampled_from(ROSTER_FORMATS))
    gbk = file_format == "csv:gbk"
    headers = draw(roster_headers())
    merged = "community" in dict(headers) and draw(st.booleans())
    community = draw(st.sampled_from([c[1] for c in COMMUNITIES if c[2] == ROSTER_STREET]))
    people = []
    for _ in range(draw(st.integers(1, 8))):
        person = {"name": draw(person_names(gbk)),
                  "id_number": draw(nullable(resident_ids().map(
                      lambda i: draw(st.sampled_from(["", "'"])) + i))),
                  "birth": draw(roster_dates()), "hired_on": draw(roster_dates()),
                  "phone": draw(nullable(phones())),
                  "community": community if merged else draw(st.sampled_from(
                      [c[1] for c in COMMUNITIES if c[2] == ROSTER_STREET])),
                  **{k: draw(v) for k, v in ROSTER_VALUES.items()}}
        people.append(person)
    titles = draw(st.lists(st.sampled_from([
        "湖滨街道社区工作者花名册（2026年11月）", "填报单位：湖滨街道办事处  填报日期：2026-11-05"]),
        max_size=2))
    width = len(headers)
    logicals = [logical for logical, _ in headers]
    grid = [[text] + [None] * (width - 1) for text in titles]
    grid.append([h for _, h in headers])
    first_person_row = len(grid) + 1
    defects = {}
    for n, person in enumerate(people):
        row = [person[logical] for logical, _ in headers]
        # No name: critical. Only where the row still reads as a record (three more filled
        # cells); one or two cells without a name is a note row, dropped with that reason.
        if draw(st.integers(0, 9)) == 0 and sum(v is not None for v in row) >= 4:
            row[logicals.index("name")] = None
            person["name"] = None
            defects[first_person_row + n] = "name.present"
        grid.append(row)
    if merged and file_format.startswith("csv"):
        column = logicals.index("community")
        for row in grid[first_person_row:]:
            row[column] = None
    grid += draw(st.lists(st.sampled_from([["合计", f"{len(people)}人"], ["注：本表由街道填报"],
                                           [None]]), max_size=2))
    if file_format.startswith("csv"):
        # A CSV has no types: a typed date cell was saved as the text the sheet showed.
        text_grid = [[v.isoformat() if isinstance(v, date) else v for v in row] for row in grid]
        data = csv_bytes(text_grid, file_format.split(":")[1])
        name, sheet = "花名册.csv", ""
    else:
        sheet = community if merged else "花名册"
        merges = [f"A{i + 1}:{get_column_letter(width)}{i + 1}" for i in range(len(titles))]
        if merged and len(people) > 1:
            letter = get_column_letter(logicals.index("community") + 1)
            merges.append(f"{letter}{first_person_row}:{letter}{first_person_row + len(people) - 1}")
        build = xlsx_bytes if file_format == "xlsx" else xls_bytes
        data = build({sheet: grid}, {sheet: merges})
        name = f"花名册.{file_format}"
    path = f"rosters/{ROSTER_STREET}/202611/{name}"
    return path, data, people, {f"{path}#{sheet}!{row}": rule for row, rule in defects.items()}


@given(drop=roster_drops())
def test_roster_every_contract_form(drop, reference):
    """rosters.md: file forms (.xlsx, .xls, CSV in UTF-8 BOM / GBK / GB18030), layout
    (title rows, merged cells, totals and notes), every header spelling and the values of
    every logical column, through the roster connector's drop folder and rosters.yaml."""
    path, data, people, defects = drop
    with scratch() as folder:
        (folder / "drop" / path).parent.mkdir(parents=True)
        (folder / "drop" / path).write_bytes(data)
        landing = landing_in(folder)
        report = RosterConnector({"root": str(folder / "drop")}).extract(
            GRID_WINDOW, landing, MemoryState(), "run-prop")
        landed = landing.read_records("rosters")
    assert report.quarantined == []
    assert len(landed) == len(people)  # every person row, none of the titles and totals
    assert sorted(landed["name"].dropna()) == sorted(p["name"] for p in people if p["name"])
    outcome = validate_landed("rosters", landed, reference)
    # A worker without an ID number is allowed (flagged); a name with characters GBK
    # cannot hold stays as typed.
    assert_properties(outcome, set(landed["source_record_id"]) - set(defects), defects,
                      {"id_number.present"})
