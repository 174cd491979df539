"""Fuzzing every parser that reads what a source delivers (issue 14): grid JSON lines (plain and
gzipped), roster CSV and .xlsx files, hotline JSON pages and department rows as they become
landed records. Whatever the input, a parser returns records and quarantined items, each item
with a location and a reason; it never raises (the file-drop base turns a file over a limit
or any parser error into one quarantined file), and the memory it allocates stays bounded by
the limits, not by what the input asks for.

Budget: `GOVSHARE_FUZZ_EXAMPLES` examples per test (default 10, part of `make test`);
`make test-fuzz` (a step of .ci/run) runs the `fuzz` marker with 400 each. The examples are
derandomised (the same inputs on every run, so CI's verdict is reproducible); set
`GOVSHARE_FUZZ_RANDOM=1` to explore new inputs (that is how the member-name recursion in
hotline pages was found).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import tracemalloc
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.filedrop import FileContents
from connectors.grid import GridFileConnector
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from connectors.rest import split_envelope
from connectors.rosters import RosterConnector
from pipeline.staging import _record_json

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("GOVSHARE_FUZZ_EXAMPLES", "10"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=os.environ.get("GOVSHARE_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
# Small limits, so that the fuzzer reaches every one of them with small inputs.
LIMITS = {"max_file_bytes": 64 * 1024, "max_items_per_file": 500, "max_line_bytes": 4096,
          "max_json_depth": 16, "max_workbook_rows": 200, "max_workbook_cells": 4000,
          "max_field_chars": 2000, "max_rejects_per_file": 100}
# What one parse may allocate: a few times the largest input the limits let through.
MEMORY_BOUND = 48 * 2 ** 20
GRID_FILE = "grid/events_20261101.jsonl"
ROSTER_FILE = "rosters/150102001000/202611/roster"


def _bounded(parse, *args) -> FileContents:
    """Run a parse under tracemalloc; assert the peak it allocated stays within the bound."""
    tracemalloc.start()
    try:
        contents = parse(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"a parse allocated {peak / 2 ** 20:.0f} MiB"
    return contents


def _only_records_or_reasons(contents: FileContents, path: str) -> None:
    assert isinstance(contents, FileContents)
    for item in contents.quarantined:
        assert item.location.startswith(path) and item.reason.strip()
    if contents.records is not None:
        assert len(contents.records) + len(contents.quarantined) <= LIMITS["max_items_per_file"]


# ---- grid JSON lines ----------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
    st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=30)
EVENT_FIELDS = ["event_id", "grid_code", "reporter_staff_no", "reporter_name", "reported_at",
                "updated_at", "source", "category_code", "category", "description",
                "address_text", "status", "persons", "units"]


@st.composite
def grid_lines(draw) -> bytes:
    """Lines that are events with fields missing or of any type, any JSON, deep nesting,
    long lines, broken UTF-8, NUL bytes and raw noise."""
    lines = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["event", "json", "deep", "long", "bytes"]))
        if kind == "event":
            fields = draw(st.lists(st.sampled_from(EVENT_FIELDS), unique=True))
            line = json.dumps({f: draw(JSON_VALUES) for f in fields}).encode()
        elif kind == "json":
            line = json.dumps(draw(JSON_VALUES)).encode()
        elif kind == "deep":
            depth = draw(st.integers(1, 5000))
            line = b"[" * depth + draw(st.sampled_from([b"", b"1"])) + b"]" * depth
        elif kind == "long":
            line = b'{"event_id": "' + b"x" * draw(st.integers(4000, 6000)) + b'"}'
        else:
            line = draw(st.binary(max_size=200))
        lines.append(line)
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


def _grid(tmp_path) -> GridFileConnector:
    return GridFileConnector({"root": str(tmp_path), "limits": LIMITS})


@FUZZ
@given(text=grid_lines(), compress=st.booleans())
def test_fuzz_grid_lines(tmp_path, text, compress):
    connector = _grid(tmp_path)
    data = gzip.compress(text) if compress else text
    path = GRID_FILE + (".gz" if compress else "")
    notes = {"blank_lines": 0}
    contents = _bounded(connector._parse, path, data, "0" * 64, notes)
    _only_records_or_reasons(contents, path)
    whole_file = [q for q in contents.quarantined if q.location == path]
    if not whole_file:  # every non-blank line is a record or a quarantined line
        lines = len(text.rstrip(b"\n").split(b"\n")) if text.rstrip(b"\n") else 0
        records = 0 if contents.records is None else len(contents.records)
        assert records + len(contents.quarantined) + notes["blank_lines"] >= lines - 1


@FUZZ
@given(data=st.binary(max_size=2000), repeat=st.integers(1, 300_000))
def test_fuzz_grid_gzip_bombs_and_garbage(tmp_path, data, repeat):
    """Any bytes named .gz, and gzip files inflating up to megabytes past the limit."""
    connector = _grid(tmp_path)
    for payload in (data, gzip.compress((data[:8] or b"[]\n") * repeat, compresslevel=1)):
        contents = _bounded(connector._parse, GRID_FILE + ".gz", payload, "0" * 64,
                            {"blank_lines": 0})
        _only_records_or_reasons(contents, GRID_FILE + ".gz")


# ---- roster CSV and workbooks ---------------------------------------------------------------

# Text a workbook can hold (openpyxl refuses control characters in cells).
CELL_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
CELLS = st.none() | CELL_TEXT | st.integers(-10 ** 18, 10 ** 18) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.dates(date(1900, 1, 1)) | \
    st.booleans()
HEADERS = ["姓名", "身份证号码", "性别", "所在社区", "岗位", "联系电话", "备注", "合计"]


def _roster() -> RosterConnector:
    return RosterConnector({"root": "/nonexistent", "limits": LIMITS})


def _roster_notes() -> dict:
    return _roster().start_notes()


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=40) | st.sampled_from(HEADERS), max_size=12),
                     max_size=40),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
       noise=st.binary(max_size=60), field=st.integers(0, 3000))
def test_fuzz_roster_csv(rows, encoding, noise, field):
    text = io.StringIO()
    csv.writer(text).writerows(rows + [["王伟", "x" * field]])
    try:
        data = text.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = text.getvalue().encode("utf-8")
    for payload in (data, data + noise, noise):
        contents = _bounded(_roster()._parse, ROSTER_FILE + ".csv", payload, "0" * 64,
                            _roster_notes())
        _only_records_or_reasons(contents, ROSTER_FILE + ".csv")


@FUZZ
@given(cells=st.lists(st.lists(CELLS, max_size=10), max_size=30),
       header=st.permutations(HEADERS), merges=st.lists(st.tuples(
           st.integers(1, 40), st.integers(1, 12), st.integers(0, 5), st.integers(0, 3)),
           max_size=4),
       far=st.sampled_from([None, "XFD1", "A1048576", "L300", "CV60"]),
       damage=st.integers(0, 5000))
def test_fuzz_roster_workbooks(cells, header, merges, far, damage):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["某某街道社区工作者花名册"])
    sheet.append(list(header))
    for row in cells:
        sheet.append(row)
    for row, col, height, width in merges:
        sheet.merge_cells(start_row=row, start_column=col, end_row=row + height,
                          end_column=col + width)
    if far:
        sheet[far] = "尾"
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    damaged = data[:damage] + data[damage + 7:]  # bytes cut out of the zip
    for payload in (data, damaged):
        contents = _bounded(_roster()._parse, ROSTER_FILE + ".xlsx", payload, "0" * 64,
                            _roster_notes())
        _only_records_or_reasons(contents, ROSTER_FILE + ".xlsx")


# ---- hotline JSON pages -----------------------------------------------------------------------

TICKET_FIELDS = ["ticket_id", "updated_at", "received_at", "caller", "content", "dispatches"]


@st.composite
def pages(draw) -> str:
    tickets = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["ticket", "json", "deep"]))
        if kind == "ticket":
            fields = draw(st.lists(st.sampled_from(TICKET_FIELDS), unique=True))
            value = {f: draw(JSON_VALUES | st.just("2026-11-01T09:00:00+08:00")) for f in fields}
            tickets.append(json.dumps(value, ensure_ascii=draw(st.booleans())))
        elif kind == "json":
            tickets.append(json.dumps(draw(JSON_VALUES)))
        else:
            depth = draw(st.integers(1, 20000))
            tickets.append("[" * depth + "]" * depth)
    body = '{"tickets": [' + ", ".join(tickets) + '], "next_page_token": ' + \
        draw(st.sampled_from(["null", '"t2"', "[[[[]]]]"])) + "}"
    cut = draw(st.integers(0, len(body)))
    return draw(st.sampled_from([body, body[:cut], body[:cut] + body[cut + 1:]]))


@FUZZ
@given(body=pages())
def test_fuzz_hotline_pages(body):
    connector = HotlineConnector({"base_url": "http://hotline.invalid",
                                  "limits": {"max_json_depth": 16}})
    tracemalloc.start()
    try:
        try:
            _, items = split_envelope(body, "tickets", 16)
        except ValueError:
            return  # an unreadable page: retried like a dropped connection, never landed
        problems = [connector.minimal_problem(value) for _, value in items]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND
    for (raw, value), problem in zip(items, problems):
        assert problem is None or problem.strip()
        if problem is None:
            assert isinstance(value, dict) and raw.lstrip().startswith("{")


# ---- department rows -> landed records ----------------------------------------------------------

COLUMN_KINDS = {
    "text": st.text(max_size=40) | st.just("NUL\x00inside"),
    "int": st.integers(-2 ** 63, 2 ** 63 - 1),
    "float": st.floats(),
    "decimal": st.decimals(allow_nan=False, places=4, min_value=-10 ** 12, max_value=10 ** 12),
    "datetime": st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)),
    "date": st.dates(date(1900, 1, 1)),
    "bool": st.booleans(),
    "bytes": st.binary(max_size=20),
}


@st.composite
def department_rows(draw) -> pd.DataFrame:
    """Rows as a driver returns them: each column of one type, with nulls."""
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_KINDS)), min_size=1, max_size=6))
    n = draw(st.integers(1, 20))
    columns = {"item_id": [f"K{i}" for i in range(n)]}
    for index, kind in enumerate(kinds):
        columns[f"c{index}_{kind}"] = draw(st.lists(st.none() | COLUMN_KINDS[kind],
                                                    min_size=n, max_size=n))
    return pd.DataFrame(columns)


@FUZZ
@given(rows=department_rows())
def test_fuzz_department_rows_become_landed_records(tmp_path_factory, rows):
    landing = RawLanding(tmp_path_factory.mktemp("landing"))
    landing.write_records("toy.items", date(2026, 11, 1), "w1", "run-1", rows, "item_id")
    landed = landing.read_records("toy.items", date(2026, 11, 1))
    assert list(landed["_source_record_id"]) == list(rows["item_id"])
    assert landed["_content_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    records = _record_json("toy.items", landed)
    for text, (_, row) in zip(records, rows.iterrows()):
        parsed = json.loads(text)
        assert parsed["item_id"] == row["item_id"]
        for column, value in row.items():
            if isinstance(value, float) and math.isnan(value) or value is None:
                continue
            if isinstance(value, (str, int, bool)) and not isinstance(value, Decimal):
                assert parsed[column] is not None
