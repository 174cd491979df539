"""Bounded parsers (issue 14): each probe of the issue's table is a file that stopped a source
or exhausted memory. Now a file over a limit is quarantined whole, naming the limit it broke
and the file, and the rest of the drop loads; a record over a limit is quarantined by itself;
no parser error stops a source. The bombs run in a fresh process (tests/bounded_support.py)
whose peak resident memory (VmHWM) is asserted far below what the bomb inflates to."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import subprocess
import sys
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from bounded_support import MemoryState

from connectors.base import Window
from connectors.grid import GridFileConnector
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from pipeline.extraction import build_connector

SUPPORT = Path(__file__).with_name("bounded_support.py")
GRID_DAY = "grid/events_20261101.jsonl"
ROSTER_DIR = "rosters/150102001000/202611"
NOV = Window(datetime(2026, 11, 1), datetime(2026, 12, 1))
EVENT = {"event_id": "E1", "grid_code": "G1", "reporter_staff_no": "S1",
         "reporter_name": "网格员", "reported_at": "2026-11-01T09:00:00+08:00",
         "updated_at": "2026-11-01T09:00:00+08:00", "source": "巡查", "category_code": "01",
         "category": "环境", "description": "垃圾", "address_text": "某路1号", "status": "open"}
GOOD_LINE = json.dumps(EVENT, ensure_ascii=False).encode()
ROSTER_HEADER = ["姓名", "身份证号码", "性别", "所在社区", "岗位"]
ROSTER_ROW = ["王伟", "150102198805031234", "男", "团结社区", "社区党委书记"]


def _run(kind: str, root: Path, tmp_path: Path, limits: dict | None = None) -> dict:
    """One extraction of the drop in a fresh process: its report and peak memory."""
    args = [sys.executable, str(SUPPORT), kind, str(root), str(tmp_path / "landing")]
    done = subprocess.run(args + ([json.dumps(limits)] if limits else []), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(root: Path, relative: str, data: bytes) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_bytes(data)


def _gzip_stream(path: Path, chunk: bytes, repeats: int) -> None:
    """A gzip file of `chunk` repeated, compressed as it is written (never all in memory)."""
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        for _ in range(repeats):
            gz.write(chunk)


def _reasons(report: dict) -> dict[str, str]:
    return {location: reason for location, reason, _ in report["quarantined"]}


# ---- the bombs: memory stays bounded -------------------------------------------------------

@pytest.mark.slow
def test_a_gzip_bomb_is_quarantined_whole_with_bounded_memory(tmp_path):
    root = tmp_path / "drop"
    (root / "grid").mkdir(parents=True)
    # 1 GiB of JSON lines (empty objects) in about 1 MB of gzip.
    _gzip_stream(root / f"{GRID_DAY}.gz", b"{}\n" * (2 ** 20 // 3) + b"{", 1024)
    assert (root / f"{GRID_DAY}.gz").stat().st_size < 2 * 2 ** 20
    _write(root, "grid/events_20261102.jsonl", GOOD_LINE + b"\n")
    report = _run("grid", root, tmp_path)
    assert _reasons(report)[f"{GRID_DAY}.gz"] == (
        "over the limit max_file_bytes = 134217728: the gzip file decompresses to more bytes")
    assert report["landed"] == 1  # the rest of the drop loads
    assert report["peak_rss_mib"] < 450, report  # the bomb inflates to 1024 MiB


def test_two_million_empty_arrays_in_a_small_gzip_are_one_quarantined_file(tmp_path):
    root = tmp_path / "drop"
    (root / "grid").mkdir(parents=True)
    _gzip_stream(root / f"{GRID_DAY}.gz", b"[]\n" * 100_000, 20)
    assert (root / f"{GRID_DAY}.gz").stat().st_size < 16 * 1024
    _write(root, "grid/events_20261102.jsonl", GOOD_LINE + b"\n")
    report = _run("grid", root, tmp_path)
    assert report["quarantined"] == [[f"{GRID_DAY}.gz", "over the limit max_items_per_file = "
                                      "1000000: the file holds 2000000 lines", None]]
    assert (report["received"], report["landed"]) == (2, 1)
    assert report["peak_rss_mib"] < 300, report


def _roster_workbook(edit_sheet_xml, merge: str | None = None, far_cell: bool = False
                     ) -> bytes:
    """A two-row roster workbook whose first sheet's XML is passed through `edit_sheet_xml`:
    the only way to declare ranges openpyxl would build a cell object for, cell by cell."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ROSTER_HEADER)
    sheet.append(ROSTER_ROW)
    if merge:
        sheet.merge_cells(merge)
    if far_cell:
        sheet["XFD1048576"] = "x"
    buffer, out = io.BytesIO(), io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = edit_sheet_xml(data.decode()).encode()
            dst.writestr(info, data)
    return out.getvalue()


def _huge_dimension_workbook(path: Path, cell_at_the_end: bool) -> None:
    """A roster whose sheet declares the dimension A1:XFD1048576 (the last cell there, or
    only the declaration)."""
    path.write_bytes(_roster_workbook(
        lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:XFD1048576"', xml),
        far_cell=cell_at_the_end))


def test_a_workbook_declaring_xfd1048576_is_read_streaming(tmp_path):
    root = tmp_path / "drop"
    (root / ROSTER_DIR).mkdir(parents=True)
    _huge_dimension_workbook(root / ROSTER_DIR / "declared.xlsx", cell_at_the_end=False)
    _huge_dimension_workbook(root / ROSTER_DIR / "filled.xlsx", cell_at_the_end=True)
    assert (root / ROSTER_DIR / "filled.xlsx").stat().st_size < 8 * 1024
    report = _run("rosters", root, tmp_path)
    # Only declared: read as the two rows it holds. A cell there: over the row limit.
    assert _reasons(report) == {f"{ROSTER_DIR}/filled.xlsx": "over the limit max_workbook_rows"
                                " = 200000: sheet 'Sheet' has row 1048576"}
    assert report["landed"] == 1
    assert report["peak_rss_mib"] < 300, report


def test_a_workbook_wider_than_the_cell_limit_stops_at_it(tmp_path):
    root = tmp_path / "drop"
    (root / ROSTER_DIR).mkdir(parents=True)
    book = openpyxl.Workbook()
    for row in range(1, 40):
        book.active.cell(row=row, column=16384, value="x")
    book.save(root / ROSTER_DIR / "wide.xlsx")
    report = _run("rosters", root, tmp_path, {"max_workbook_cells": 500_000})
    assert _reasons(report) == {f"{ROSTER_DIR}/wide.xlsx": "over the limit max_workbook_cells "
                                "= 500000: the workbook has more, sheet 'Sheet' included"}


# ---- records and fields over a limit -------------------------------------------------------

def _extract(connector, tmp_path):
    return connector.extract(NOV, RawLanding(tmp_path / "landing"), MemoryState(), "run-1")


def test_a_json_line_nested_100000_deep_is_quarantined_and_the_file_lands(tmp_path):
    root = tmp_path / "drop"
    deep = b"[" * 100_000 + b"]" * 100_000
    long = json.dumps({**EVENT, "event_id": "E3", "description": "x" * 2_000_000}).encode()
    _write(root, GRID_DAY, b"\n".join([GOOD_LINE, deep, long, b""]))
    report = _extract(GridFileConnector({"root": str(root)}), tmp_path)
    assert (report.received, report.landed) == (3, 1)
    assert [(q.location, q.reason, q.raw is None) for q in report.quarantined] == [
        (f"{GRID_DAY}#L2", "broken line: JSON nested deeper than the limit max_json_depth = 64",
         False),
        (f"{GRID_DAY}#L3", f"broken line: over the limit max_line_bytes = 1048576 ({len(long)} "
         "bytes; the landed file keeps it)", True)]


def test_a_file_with_more_broken_lines_than_the_limit_is_quarantined_whole(tmp_path):
    root = tmp_path / "drop"
    _write(root, GRID_DAY, b"\n".join([GOOD_LINE] + [b"{broken"] * 30))
    connector = GridFileConnector({"root": str(root), "limits": {"max_rejects_per_file": 20}})
    report = _extract(connector, tmp_path)
    assert [(q.location, q.reason) for q in report.quarantined] == [
        (GRID_DAY, "over the limit max_rejects_per_file = 20: more broken lines (line 22 is "
         "one)")]
    assert report.landed == 0


def _roster_csv(rows) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode("utf-8-sig")


def test_a_csv_field_over_128_kb_quarantines_its_file_by_name_and_the_rest_loads(tmp_path):
    from connectors.rosters import RosterConnector

    root = tmp_path / "drop"
    _write(root, f"{ROSTER_DIR}/big.csv",
           _roster_csv([ROSTER_HEADER, [*ROSTER_ROW[:4], "备注" * 70_000]]))
    _write(root, f"{ROSTER_DIR}/fine.csv", _roster_csv([ROSTER_HEADER, ROSTER_ROW]))
    report = _extract(RosterConnector({"root": str(root)}), tmp_path)
    assert [(q.location, q.reason) for q in report.quarantined] == [
        (f"{ROSTER_DIR}/big.csv", "over the limit max_field_chars = 131072: a field on line 2 "
         "is longer")]
    assert report.landed == 1


def test_a_file_over_max_file_bytes_is_landed_streaming_and_quarantined_unread(tmp_path):
    root = tmp_path / "drop"
    _write(root, GRID_DAY, b"\n".join([GOOD_LINE] * 50))
    _write(root, "grid/events_20261102.jsonl", GOOD_LINE)
    connector = GridFileConnector({"root": str(root), "limits": {"max_file_bytes": 2048}})
    landing = RawLanding(tmp_path / "landing")
    report = connector.extract(NOV, landing, MemoryState(), "run-1")
    assert [(q.location, q.reason) for q in report.quarantined] == [
        (GRID_DAY, f"over the limit max_file_bytes = 2048: the file holds "
                   f"{(root / GRID_DAY).stat().st_size} bytes")]
    assert report.landed == 1
    [copy] = landing.root.joinpath("files").rglob("events_20261101.jsonl")
    assert copy.read_bytes() == (root / GRID_DAY).read_bytes()


@pytest.mark.parametrize("error", [RecursionError("deep"), KeyError("x"), MemoryError(),
                                   UnicodeError("bad"), zlib.error("bad"), csv.Error("bad"),
                                   IndexError("x"), TypeError("x")])
def test_no_parser_error_stops_a_source(tmp_path, monkeypatch, error):
    import connectors.rosters as rosters

    root = tmp_path / "drop"
    _write(root, f"{ROSTER_DIR}/a-bad.csv", _roster_csv([ROSTER_HEADER, ROSTER_ROW]))
    _write(root, f"{ROSTER_DIR}/b-fine.csv", _roster_csv([ROSTER_HEADER, ROSTER_ROW]))
    original = rosters.parse_roster

    def failing(relative_path, *args, **kwargs):
        if relative_path.endswith("a-bad.csv"):
            raise error
        return original(relative_path, *args, **kwargs)

    monkeypatch.setattr(rosters, "parse_roster", failing)
    report = _extract(rosters.RosterConnector({"root": str(root)}), tmp_path)
    [item] = report.quarantined
    assert item.location == f"{ROSTER_DIR}/a-bad.csv"
    assert item.reason.startswith(f"file cannot be parsed: {type(error).__name__}")
    assert report.landed == 1


@pytest.mark.parametrize("member", ["[" * 100_000 + "]" * 100_000, "{" * 50_000])
def test_a_page_whose_member_name_is_not_a_string_is_unreadable_not_a_recursion(member):
    """Found by make test-fuzz: a deep array where the envelope's next member name belongs
    reached json's recursive decoder."""
    from connectors.rest import split_envelope

    body = '{"tickets": [{"ticket_id": "T1"}], ' + member + "}"
    with pytest.raises(ValueError, match="expected a member name at character 35"):
        split_envelope(body, "tickets", 64)


def test_a_too_deep_hotline_ticket_is_quarantined_and_its_page_lands():
    deep = "[" * 100_000 + "]" * 100_000
    ticket = '{"ticket_id": "T1", "updated_at": "2026-11-01T09:00:00+08:00"}'
    body = '{"tickets": [' + ticket + ", " + deep + '], "next_page_token": null}'

    connector = HotlineConnector({"base_url": "http://hotline.invalid"},
                                 session=AnsweringSession([body.encode()]))
    rows, quarantined, stats = connector.collect(NOV.since, NOV.until)
    assert list(rows["ticket_id"]) == ["T1"]
    assert [(q.location, q.reason) for q in quarantined] == [
        ("hotline.tickets page 1 item 2",
         "JSON nested deeper than the limit max_json_depth = 64")]


class AnsweringSession:
    """A requests session whose every GET answers 200 with the given body chunks."""

    headers: dict = {}

    def __init__(self, chunks):
        self.chunks, self.sent = chunks, 0

    def get(self, url, params=None, timeout=None, stream=False):
        session = self

        class Answer:
            status_code, encoding, reason, headers = 200, "utf-8", "OK", {}

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def iter_content(self, chunk_size):
                for chunk in session.chunks:
                    session.sent += 1
                    yield chunk

        return Answer()


def test_a_hotline_page_over_the_byte_limit_fails_the_source_naming_the_limit():
    """A page body is read as it arrives: one endless page stops being read one chunk past
    `max_file_bytes`, and the extraction fails with the limit named (not retried: the same
    page would be as large), never holding the page."""
    from connectors.rest import SourceError

    def endless():
        while True:
            yield b"x" * 65_536

    session = AnsweringSession(endless())
    connector = HotlineConnector({"base_url": "http://hotline.invalid",
                                  "limits": {"max_file_bytes": 1_000_000}}, session=session)
    with pytest.raises(SourceError, match="over the limit max_file_bytes = 1000000"):
        connector.collect(NOV.since, NOV.until)
    assert session.sent == 1_000_000 // 65_536 + 1


def test_the_sources_file_limits_reach_every_connector_with_section_overrides(tmp_path):
    config = {"limits": {"max_json_depth": 5, "max_line_bytes": 10_000},
              "grid": {"root": str(tmp_path), "limits": {"max_line_bytes": 100}},
              "hotline": {"base_url": "http://hotline.invalid"}}
    grid = build_connector("grid.events", config)
    assert (grid.limits.max_json_depth, grid.limits.max_line_bytes) == (5, 100)
    hotline = build_connector("hotline.tickets", config)
    assert (hotline.config.limits.max_json_depth, hotline.config.limits.max_line_bytes) == \
        (5, 10_000)
    departments = {"departments": [{"table": "t.x", "key": "k", "url": "duckdb:///x"}],
                   "limits": {"max_json_depth": 5}}
    build_connector("t.x", departments)  # no parser there: the limits are not its keys
    with pytest.raises(ValueError, match="max_json_depth"):
        build_connector("grid.events", {"grid": {"root": str(tmp_path),
                                                 "limits": {"max_json_depth": 0}}})


def _merged_over(ref: str) -> bytes:
    return _roster_workbook(lambda xml: xml.replace('ref="A1:B2"', f'ref="{ref}"'), "A1:B2")


def test_a_merged_range_over_the_whole_sheet_costs_only_the_rows_read():
    from connectors.limits import LimitExceeded, ParserLimits
    from connectors.spreadsheet import read_workbook

    [sheet] = read_workbook(_merged_over("A1:XFD1048576"))
    assert [len(row.texts) for row in sheet.rows] == [16384, 16384]
    assert sheet.rows[1].texts[:3] == [ROSTER_HEADER[0]] * 3  # filled from A1
    with pytest.raises(LimitExceeded, match="max_workbook_cells = 20000"):
        read_workbook(_merged_over("A1:XFD1048576"), ParserLimits(max_workbook_cells=20_000))


def test_a_legacy_xls_workbook_stops_at_the_row_and_cell_limits():
    from workbooks import xls_bytes

    from connectors.limits import LimitExceeded, ParserLimits
    from connectors.spreadsheet import read_spreadsheet

    rows = [ROSTER_HEADER] + [[f"r{n}"] + [""] * (len(ROSTER_HEADER) - 1) for n in range(30)]
    data = xls_bytes({"花名册": rows})
    sheets, _ = read_spreadsheet("roster.xls", data)
    assert len(sheets[0].rows) == 31
    with pytest.raises(LimitExceeded, match="max_workbook_rows = 10"):
        read_spreadsheet("roster.xls", data, limits=ParserLimits(max_workbook_rows=10))
    with pytest.raises(LimitExceeded, match="max_workbook_cells = 50"):
        read_spreadsheet("roster.xls", data, limits=ParserLimits(max_workbook_cells=50))
