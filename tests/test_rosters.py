"""Rosters: the simulator's drop folder and the connector that reads it (contracts/rosters.md).

Hand-made files check each parsing rule on its own; a simulated drop checks the whole path
against the simulator's truth (every data row landed once, exactly as its cells show it)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import fsspec
import numpy as np
import openpyxl
import pandas as pd
import pytest
from workbooks import csv_bytes, xls_bytes, xlsx_bytes

from connectors.base import Window
from connectors.landing import RawLanding
from connectors.rosters import (
    DEFAULT_HEADER_SYNONYMS,
    LOGICAL_COLUMNS,
    HeaderMap,
    RosterConnector,
    parse_roster,
)
from connectors.spreadsheet import cell_text, excel_general
from simulator.city import build_city
from simulator.noise import NoiseRates
from simulator.rosters import emit_rosters
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore

CONTRACT = Path(__file__).parents[1] / "docs" / "contracts" / "rosters.md"
HEADER = ["姓名", "身份证号码", "性别", "民族", "出生年月", "政治面貌", "学历", "所在社区", "岗位",
          "岗位等级", "工号", "入职时间", "联系电话", "备注"]
PEOPLE = [
    ["王伟", "150102198805031234", "男", "汉族", "1988.05", "中共党员", "大学本科", "团结社区",
     "社区党委书记", "一岗一级", "SG000001", "2015-03-01", "13847112345", None],
    ["乌仁", "15010219900101002X", "女", "蒙古族", "1990年1月", "群众", "大专", "团结社区",
     "网格员", "三岗十八级", "WG000001", "2020-07-01", "0471-6961234", None],
    ["李秀英", "150102197512120021", "女", "汉族", "1975-12-12", "共青团员", "高中", "和平社区",
     "专职社区工作者", "二岗七级", "SG000002", "2010-01-01", None, "新入职"],
]
NOV = Window(datetime(2026, 11, 1), datetime(2026, 12, 1))
ROSTER_DIR = "rosters/150102001000/202611"


def parse(data: bytes, name: str = "花名册.xlsx", **kwargs):
    return parse_roster(f"{ROSTER_DIR}/{name}", data, HeaderMap(DEFAULT_HEADER_SYNONYMS),
                        **kwargs)


def as_frame(parsed) -> pd.DataFrame:
    return pd.DataFrame(parsed.records)


def texts(column: pd.Series) -> list:
    """A landed column's values with nulls as None."""
    return [None if pd.isna(v) else v for v in column]


def flags_of(landed: pd.DataFrame) -> list[dict]:
    return [json.loads(f) if isinstance(f, str) else {} for f in landed["cell_flags"]]


@pytest.fixture
def state(tmp_path):
    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    create_all(engine)
    yield StateStore(engine)
    engine.dispose()


def drop(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


# ---- header row and header spellings ----------------------------------------------------

def contract_header_table() -> dict[str, list[str]]:
    """The 'headers seen' column of the contract's table, read from the contract itself."""
    table = {}
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in LOGICAL_COLUMNS:
            spellings = re.sub(r"\s*\(.*\)", "", cells[1])
            table[cells[0]] = [s.strip() for s in spellings.split(",")]
    return table


def test_default_synonyms_are_the_contract_table():
    contract = contract_header_table()
    assert set(contract) == set(LOGICAL_COLUMNS)
    assert {k: list(v) for k, v in DEFAULT_HEADER_SYNONYMS.items()} == contract


@pytest.mark.parametrize("logical,spelling", [
    (logical, spelling) for logical, spellings in contract_header_table().items()
    for spelling in spellings])
def test_every_contract_spelling_maps_to_its_column(logical, spelling):
    header = [spelling if c == logical else DEFAULT_HEADER_SYNONYMS[c][0]
              for c in LOGICAL_COLUMNS]
    parsed = parse(csv_bytes([header, *PEOPLE]), "花名册.csv")
    landed = as_frame(parsed)
    column = LOGICAL_COLUMNS.index(logical)
    assert texts(landed[logical]) == [row[column] for row in PEOPLE]
    assert not parsed.unknown_headers


@pytest.mark.parametrize("title_rows", [0, 1, 2, 3])
def test_header_found_under_title_rows(title_rows):
    titles = [["团结街道社区工作者花名册（2026年11月）"] + [None] * 13,
              ["填报单位：团结街道办事处"] + [None] * 6 + ["填报日期：2026年11月5日"] + [None] * 6,
              [None] * 14][:title_rows]
    merges = {"Sheet1": (["A1:N1"] if title_rows >= 1 else [])
              + (["A2:G2", "H2:N2"] if title_rows >= 2 else [])}
    parsed = parse(xlsx_bytes({"Sheet1": titles + [HEADER] + PEOPLE}, merges))
    assert parsed.header_rows == {"Sheet1": title_rows + 1}
    landed = as_frame(parsed)
    assert list(landed["row_number"]) == [title_rows + 2, title_rows + 3, title_rows + 4]
    assert list(landed["source_record_id"]) == [
        f"{ROSTER_DIR}/花名册.xlsx#Sheet1!{n}" for n in landed["row_number"]]
    assert parsed.dropped == [(f"{ROSTER_DIR}/花名册.xlsx#Sheet1!{n}",
                               "title row above the header") for n in range(1, title_rows + 1)]


def test_header_needs_three_known_columns_and_headers_are_normalised():
    parsed = parse(csv_bytes([["姓名", "电话"], ["王伟", "13847112345"]]), "a.csv")
    assert parsed.records == [] and parsed.skipped_sheets == [
        (f"{ROSTER_DIR}/a.csv#", "no header row")]
    # full-width stars, spaces, line breaks and a bracketed hint still match
    header = ["*姓 名", "身份证号码\n", "性　别", "出生年月（年.月）"]
    parsed = parse(csv_bytes([header, PEOPLE[0][:3] + ["1988.05"]]), "b.csv")
    assert as_frame(parsed).loc[0, ["name", "gender", "birth"]].tolist() == [
        "王伟", "男", "1988.05"]


def test_configured_synonyms_and_unknown_headers_as_schema_drift(tmp_path, state):
    header = ["序号", *HEADER[:10], "员工编号", *HEADER[11:], "身份证地址"]
    rows = [[str(i + 1), *p[:10], p[10], *p[11:], "呼和浩特市新城区"] for i, p in enumerate(PEOPLE)]
    root = drop(tmp_path / "drop", {f"{ROSTER_DIR}/a.csv": csv_bytes([header, *rows])})
    connector = RosterConnector({"root": str(root),
                                 "header_synonyms": {"staff_no": ["员工编号", "工号"]}})
    report = connector.extract(NOV, RawLanding(tmp_path / "landing"), state, "run-1")
    landed = RawLanding(tmp_path / "landing").read_records("rosters")
    assert list(landed["staff_no"]) == [p[10] for p in PEOPLE]
    assert report.schema_drift == ["序号", "身份证地址"]
    assert [json.loads(e) for e in landed["extra"]][0] == {"序号": "1",
                                                           "身份证地址": "呼和浩特市新城区"}
    with pytest.raises(ValueError, match="unknown logical columns"):
        RosterConnector({"root": str(root), "header_synonyms": {"staff_number": ["工号"]}})


# ---- cells as a spreadsheet shows them ----------------------------------------------------

@pytest.mark.parametrize("number,shown", [
    (150102198805031234, "1.50102E+17"), (150102198805031000, "1.50102E+17"),
    (150100000000000000, "1.501E+17"), (13847112345, "13847112345"), (1988.05, "1988.05"),
    (1988.1, "1988.1"), (32266, "32266"), (0.5, "0.5"), (123456789012, "1.23457E+11"),
    (2.0, "2")])
def test_excel_general_format(number, shown):
    assert excel_general(number) == shown


@pytest.mark.parametrize("value,fmt,shown", [
    (datetime(1988, 5, 3), "yyyy-mm-dd", "1988-05-03"),
    (datetime(1988, 5, 3), 'yyyy"年"m"月"', "1988年5月"),
    (datetime(1988, 5, 3), "yyyy.mm", "1988.05"),
    (datetime(1988, 5, 3), '[$-804]yyyy"年"m"月"d"日";@', "1988年5月3日"),
    (datetime(1988, 5, 3, 14, 5), "yyyy-mm-dd h:mm", "1988-05-03 14:05"),
    (150102198805031234, "0", "150102198805031000"), (2.5, "0", "3"),
    (1234.5, "#,##0.00", "1,234.50"), ("'150102198805031234", "@", "'150102198805031234"),
    (True, "General", "TRUE"), (None, "General", None)])
def test_cell_text_follows_the_number_format(value, fmt, shown):
    assert cell_text(value, fmt) == shown


def test_numbers_in_identifier_columns_are_kept_as_shown_and_flagged():
    rows = [HEADER,
            ["王伟", 150102198805031000, "男", "汉族", datetime(1988, 5, 3), "中共党员", "大学本科",
             "团结社区", "委员", 7, "SG000001", datetime(2015, 3, 1), 13847112345, None],
            ["乌仁", 150102199001010000, "女", "蒙古族", 32874, "群众", "大专", "团结社区", "委员",
             "三岗十八级", "SG000002", "2020.07", "'13904712233", None],
            ["李秀英", "15010219751212002", "女", "汉族", 1975.1, "群众", "高中", "团结社区", "委员",
             "二岗七级", "SG000003", "2010.01", "13904712233", None]]
    formats = {"Sheet1": {"E2": 'yyyy"年"m"月"', "B3": "0", "L2": "yyyy-mm-dd"}}
    landed = as_frame(parse(xlsx_bytes({"Sheet1": rows}, formats=formats)))
    assert list(landed["id_number"]) == ["1.50102E+17", "150102199001010000", "15010219751212002"]
    assert list(landed["birth"]) == ["1988年5月", "32874", "1975.1"]
    assert list(landed["post_grade"]) == ["7", "三岗十八级", "二岗七级"]
    assert list(landed["hired_on"]) == ["2015-03-01", "2020.07", "2010.01"]
    assert list(landed["phone"]) == ["13847112345", "'13904712233", "13904712233"]
    flags = flags_of(landed)
    assert flags[0] == {"id_number": ["stored_as_number", "scientific_notation"],
                        "phone": ["stored_as_number"]}
    assert flags[1] == {"id_number": ["stored_as_number"]}
    assert flags[2] == {}
    raw = json.loads(landed.loc[0, "raw"])
    # a workbook stores 15 significant digits, which is what `raw` keeps
    assert raw["B"] == 1.50102198805031e17 and raw["E"] == "1988-05-03T00:00:00"


def test_scientific_notation_in_a_csv_is_flagged():
    landed = as_frame(parse(csv_bytes([HEADER, ["王伟", "1.50102E+17", *PEOPLE[0][2:]]]), "a.csv"))
    assert landed.loc[0, "id_number"] == "1.50102E+17"
    assert json.loads(landed.loc[0, "cell_flags"]) == {"id_number": ["scientific_notation"]}


def test_merged_cells_are_filled_from_their_top_left_cell():
    rows = [HEADER] + [p[:7] + [p[7] if i in (0, 2) else None] + p[8:] for i, p in
                       enumerate(PEOPLE + [PEOPLE[2]])]
    # 团结社区 spans rows 2-3, 和平社区 rows 4-5; a post merged over rows 4-5 too
    rows[4][8] = None
    data = xlsx_bytes({"一社区": rows}, {"一社区": ["H2:H3", "H4:H5", "I4:I5"]})
    landed = as_frame(parse(data))
    assert list(landed["community"]) == ["团结社区", "团结社区", "和平社区", "和平社区"]
    assert list(landed["post"]) == ["社区党委书记", "网格员", "专职社区工作者", "专职社区工作者"]
    assert flags_of(landed) == [{}, {"community": ["merged_cell"]}, {},
                     {"community": ["merged_cell"], "post": ["merged_cell"]}]
    assert "H" not in json.loads(landed.loc[1, "raw"])  # raw keeps the cells as read


def test_blank_community_in_a_csv_is_filled_down_from_the_row_above():
    rows = [HEADER, PEOPLE[0], PEOPLE[1][:7] + [None] + PEOPLE[1][8:], PEOPLE[2]]
    landed = as_frame(parse(csv_bytes(rows), "a.csv"))
    assert list(landed["community"]) == ["团结社区", "团结社区", "和平社区"]
    assert json.loads(landed.loc[1, "cell_flags"]) == {"community": ["filled_down"]}


# ---- encodings -----------------------------------------------------------------------------

@pytest.mark.parametrize("encoding,reported,name", [
    ("gbk", "gb18030", "王伟"),
    ("gb18030", "gb18030", "刘䶮"),  # 䶮 (U+4DAE) has no GBK code
    ("utf-8-sig", "utf-8-sig", "刘䶮"),
    ("utf-8", "utf-8", "刘䶮"),
])
def test_csv_encodings(encoding, reported, name):
    data = csv_bytes([HEADER, [name, *PEOPLE[0][1:]], PEOPLE[1]], encoding)
    if encoding == "gb18030":  # the file really needs GB18030: a GBK decoder fails on it
        with pytest.raises(UnicodeDecodeError):
            data.decode("gbk")
    parsed = parse(data, "a.csv")
    assert parsed.encoding == reported
    assert list(as_frame(parsed)["name"]) == [name, "乌仁"]


def test_undecodable_csv_is_unreadable(tmp_path, state):
    gbk = csv_bytes([HEADER, *PEOPLE], "gbk")
    root = drop(tmp_path / "drop", {f"{ROSTER_DIR}/a.csv": gbk})
    report = RosterConnector({"root": str(root), "encodings": ["utf-8"]}).extract(
        NOV, RawLanding(tmp_path / "landing"), state, "run-1")
    assert [(q.location, q.reason) for q in report.quarantined] == [
        (f"{ROSTER_DIR}/a.csv", "text does not decode as any of utf-8")]


# ---- rows that are not roster entries -------------------------------------------------------

def test_totals_notes_and_blank_rows_are_dropped_with_reasons():
    rows = [HEADER, PEOPLE[0], [None] * 14, PEOPLE[1], PEOPLE[2],
            ["合计", "共3人"] + [None] * 12,
            [None, "合计：3人"] + [None] * 12,
            ["注：岗位等级按社区工作者岗位等级序列填写。"] + [None] * 13,
            ["填表人：刘某某        审核人：张某某"] + [None] * 13,
            [None] * 5 + ["（此页无正文）"] + [None] * 8,
            [None] * 14]
    for name, data in (("a.xlsx", xlsx_bytes({"S": rows}, {"S": ["A8:N8"]})),
                       ("a.csv", csv_bytes(rows))):
        parsed = parse(data, name)
        sheet = "S" if name.endswith("xlsx") else ""
        where = f"{ROSTER_DIR}/{name}#{sheet}!"
        assert list(as_frame(parsed)["row_number"]) == [2, 4, 5]
        assert parsed.dropped == [
            (where + "3", "blank row"), (where + "6", "totals row"), (where + "7", "totals row"),
            (where + "8", "note row"), (where + "9", "note row"),
            (where + "10", "note row (one free-text cell, no name or ID number)"),
        ] + ([(where + "11", "blank row")] if name.endswith("csv") else [])


# ---- the connector over a drop folder --------------------------------------------------------

def encrypted_ole2() -> bytes:
    """The start of an OLE2 compound file holding an encrypted OOXML package."""
    return (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
            + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 512)


def test_unreadable_files_are_quarantined_and_the_rest_loads(tmp_path, state):
    good = xlsx_bytes({"Sheet1": [HEADER, *PEOPLE]})
    files = {
        f"{ROSTER_DIR}/good.xlsx": good,
        f"{ROSTER_DIR}/xlsx-under-xls-name.xls": good,
        f"{ROSTER_DIR}/truncated.xlsx": good[: len(good) // 2],
        f"{ROSTER_DIR}/random.xlsx": np.random.default_rng(1).bytes(3000),
        f"{ROSTER_DIR}/protected.xlsx": encrypted_ole2(),
        f"{ROSTER_DIR}/old.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000,
        f"{ROSTER_DIR}/scan.pdf": b"%PDF-1.4",
        f"{ROSTER_DIR}/no-header.csv": csv_bytes([["说明"], ["本月无变动"]]),
        f"{ROSTER_DIR}/~$good.xlsx": b"\x05owner",
        "rosters/stray.xlsx": good,
    }
    root = drop(tmp_path / "drop", files)
    landing = RawLanding(tmp_path / "landing")
    report = RosterConnector({"root": str(root)}).extract(NOV, landing, state, "run-1")
    assert sorted((q.location.rsplit("/", 1)[1], q.reason) for q in report.quarantined) == [
        ("no-header.csv", "no header row found in any sheet"),
        ("old.xls", "corrupt .xls workbook: CalamineError"),
        ("protected.xlsx", "password-protected workbook"),
        ("random.xlsx", "corrupt workbook: not a workbook (no zip or OLE2 signature)"),
        ("scan.pdf", "unknown file format .pdf"),
        ("stray.xlsx", "not under rosters/<street code>/<YYYYMM>/"),
        ("truncated.xlsx", "corrupt workbook: damaged zip archive (File is not a zip file)"),
    ]
    landed = landing.read_records("rosters")
    assert sorted(landed["file"].unique()) == [f"{ROSTER_DIR}/good.xlsx",
                                               f"{ROSTER_DIR}/xlsx-under-xls-name.xls"]
    assert report.landed == len(landed) == 6
    assert report.received == 6 + 7
    assert report.notes["skipped_files"] == [(f"{ROSTER_DIR}/~$good.xlsx",
                                              "office lock or hidden file")]
    # every file arrived byte for byte in the landing zone and is in the manifest
    landed_files = landing.file_partition("rosters", NOV.run_date)
    for relative, data in files.items():
        if "~$" in relative:
            continue
        assert (landed_files / relative).read_bytes() == data
        assert state.file_manifest("rosters")[relative] == hashlib.sha256(data).hexdigest()


def test_legacy_xls_roster_lands_as_its_cells_show(tmp_path, state):
    """A real Excel 97-2003 (.xls, BIFF8) roster, made by xlwt: a merged title row above the
    header, an ID number typed as a number (shown 1.50102E+17 and flagged), a typed date,
    a community name merged down two rows, a character GBK cannot hold. It lands like the
    same roster saved as .xlsx, not as an unreadable file."""
    title = ["湖滨街道社区工作者花名册（2026年11月）"] + [None] * (len(HEADER) - 1)
    first, second = list(PEOPLE[0]), list(PEOPLE[1])
    first[1] = 150102198805031234  # typed into the cell as a number
    first[11] = date(2015, 3, 1)
    second[0], second[7] = "乌𪚥", None  # the community cell is covered by a merge
    rows = [title, HEADER, first, second]
    merges = {"团结社区": ["A1:N1", "H3:H4"]}
    root = drop(tmp_path / "drop", {f"{ROSTER_DIR}/roster.xls": xls_bytes({"团结社区": rows},
                                                                       merges)})
    report = RosterConnector({"root": str(root)}).extract(NOV, RawLanding(tmp_path / "l"),
                                                          state, "run-xls")
    assert report.quarantined == []
    landed = RawLanding(tmp_path / "l").read_records("rosters").sort_values("row_number")
    assert landed["source_record_id"].tolist() == [f"{ROSTER_DIR}/roster.xls#团结社区!3",
                                                   f"{ROSTER_DIR}/roster.xls#团结社区!4"]
    assert landed["name"].tolist() == ["王伟", "乌𪚥"]
    assert landed["id_number"].tolist() == ["1.50102E+17", PEOPLE[1][1]]
    assert landed["hired_on"].tolist() == ["2015-03-01", PEOPLE[1][11]]
    assert landed["community"].tolist() == ["团结社区", "团结社区"]
    flags = [json.loads(f) for f in landed["cell_flags"]]
    assert flags[0]["id_number"] == ["stored_as_number", "scientific_notation"]
    assert flags[1]["community"] == ["merged_cell"]
    assert report.notes["dropped_rows"] == [(f"{ROSTER_DIR}/roster.xls#团结社区!1",
                                             "title row above the header")]


def test_each_file_version_lands_once(tmp_path, state):
    october = "rosters/150102001000/202610"
    root = drop(tmp_path / "drop", {
        f"{october}/a.csv": csv_bytes([HEADER, PEOPLE[0]]),
        f"{october}/b.csv": csv_bytes([HEADER, PEOPLE[1]]),
        f"{ROSTER_DIR}/c.csv": csv_bytes([HEADER, PEOPLE[2]]),
    })
    landing = RawLanding(tmp_path / "landing")
    connector = RosterConnector({"root": str(root)})
    first = connector.extract(Window(datetime(2026, 10, 1), datetime(2026, 11, 1)), landing,
                              state, "run-1")
    # October's files, and November's too: a file never seen before is always taken
    assert first.landed == 3 and set(state.file_manifest("rosters")) == {
        f"{october}/a.csv", f"{october}/b.csv", f"{ROSTER_DIR}/c.csv"}
    # October's a.csv is corrected and a late d.csv arrives; b.csv is unchanged
    drop(root, {f"{october}/a.csv": csv_bytes([HEADER, PEOPLE[0], PEOPLE[2]]),
                f"{october}/d.csv": csv_bytes([HEADER, PEOPLE[1]])})
    second = connector.extract(NOV, landing, state, "run-2")
    files = sorted(second.notes["header_rows"])
    assert files == [f"{october}/a.csv", f"{october}/d.csv"]  # new and changed only
    assert second.notes["files_unchanged"] == 2
    assert second.landed == 3
    assert state.file_manifest("rosters")[f"{october}/a.csv"] == hashlib.sha256(
        (root / october / "a.csv").read_bytes()).hexdigest()
    # re-running a window lands the same records again under the same part names
    before = sorted(p.name for p in landing.root.rglob("*.parquet"))
    connector.extract(NOV, landing, state, "run-3")
    assert sorted(p.name for p in landing.root.rglob("*.parquet")) == before


def test_manifest_advances_only_after_landing(tmp_path, state):
    root = drop(tmp_path / "drop", {f"{ROSTER_DIR}/a.csv": csv_bytes([HEADER, *PEOPLE])})

    class FailingLanding(RawLanding):
        def write_records(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError):
        RosterConnector({"root": str(root)}).extract(NOV, FailingLanding(tmp_path / "l"), state,
                                                     "run-1")
    assert state.file_manifest("rosters") == {}


def test_fsspec_url_root(tmp_path, state):
    fs = fsspec.filesystem("memory")
    fs.pipe(f"/govshare-test-drop/{ROSTER_DIR}/a.csv", csv_bytes([HEADER, *PEOPLE]))
    try:
        report = RosterConnector({"root": "memory://govshare-test-drop"}).extract(
            NOV, RawLanding(tmp_path / "landing"), state, "run-1")
    finally:
        fs.rm("/govshare-test-drop", recursive=True)
    assert report.landed == 3
    landed = RawLanding(tmp_path / "landing").read_records("rosters")
    assert list(landed["source_record_id"]) == [f"{ROSTER_DIR}/a.csv#!{n}" for n in (2, 3, 4)]


# ---- the simulator, and the connector against its truth --------------------------------------

RATES = dataclasses.replace(NoiseRates(), gbk_csv=0.3, corrupt_workbook=0.2,
                            spreadsheet_number=0.3, spreadsheet_apostrophe=0.2)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Six months of a tiny city's rosters, extracted in one window."""
    out = tmp_path_factory.mktemp("sim")
    city = build_city(42, "tiny", start=date(2026, 6, 10), days=170, noise=RATES)
    summary = emit_rosters(city, out)
    engine = create_warehouse_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    create_all(engine)
    landing = RawLanding(out / "landing")
    report = RosterConnector({"root": str(out)}).extract(
        Window(datetime(2026, 6, 1), datetime(2026, 12, 1)), landing, StateStore(engine),
        "run-1")
    engine.dispose()
    truth = {name: pd.read_parquet(out / "truth" / f"rosters_{name}.parquet")
             for name in ("emitted", "persons", "noise", "files", "shown", "members")}
    return {"out": out, "city": city, "summary": summary, "report": report,
            "landed": landing.read_records("rosters"), "truth": truth}


def test_simulated_drop_layout(simulated):
    files = simulated["truth"]["files"]
    summary = simulated["summary"]
    assert summary.months == ["202606", "202607", "202608", "202609", "202610", "202611"]
    assert summary.files == len(files) == 6 * len(simulated["city"].streets)
    for row in files.itertuples():
        assert re.fullmatch(r"rosters/\d{12}/\d{6}/[^/]+\.(xlsx|xls|csv)", row.path)
        assert row.path.split("/")[2] == row.roster_month
        assert hashlib.sha256((simulated["out"] / row.path).read_bytes()).hexdigest() == row.sha256
    # membership changes a little from month to month; grid workers stay
    members = simulated["truth"]["members"]
    by_month = [set(g["person_key"]) for _, g in members.groupby("roster_month")]
    changes = [len(a ^ b) for a, b in zip(by_month, by_month[1:], strict=False)]
    assert sum(changes) > 0 and max(changes) < 0.2 * len(by_month[0])
    grid_workers = members[members["post"] == "网格员"].groupby("roster_month")["staff_no"]
    assert grid_workers.apply(frozenset).nunique() == 1


def test_every_emitted_row_landed_once_exactly_as_shown(simulated):
    landed, truth, report = simulated["landed"], simulated["truth"], simulated["report"]
    rows = truth["emitted"][truth["emitted"]["kind"] == "row"]
    assert landed["source_record_id"].is_unique
    assert set(landed["source_record_id"]) == set(rows["source_record_id"])
    assert set(truth["persons"]["source_record_id"]) == set(rows["source_record_id"])
    corrupt = set(truth["files"].loc[truth["files"]["corrupt"].notna(), "path"])
    assert corrupt and {q.location for q in report.quarantined} == corrupt
    assert report.landed == len(rows) == simulated["summary"].data_rows
    shown = truth["shown"].set_index("source_record_id")
    mine = landed.set_index("source_record_id").loc[shown.index, list(LOGICAL_COLUMNS)]
    pd.testing.assert_frame_equal(mine.fillna("<empty>"), shown.fillna("<empty>"),
                                  check_dtype=False)


def test_record_ids_name_the_physical_row(simulated):
    out, landed = simulated["out"], simulated["landed"]
    for path, rows in landed.groupby("file"):
        data = (out / path).read_bytes()
        if path.endswith(".csv"):
            encoding = simulated["report"].notes["encodings"][path]
            lines = data.decode(encoding).splitlines()
            for row in rows.itertuples():
                cells = next(csv.reader([lines[row.row_number - 1]]))
                raw = json.loads(row.raw)
                assert all(cells[openpyxl.utils.column_index_from_string(k) - 1] == v
                           for k, v in raw.items())
            continue
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        for row in rows.itertuples():
            sheet = workbook[row.sheet]
            assert row.source_record_id == f"{path}#{row.sheet}!{row.row_number}"
            for ref, value in json.loads(row.raw).items():
                cell = sheet[f"{ref}{row.row_number}"].value
                assert (cell.isoformat() if isinstance(cell, datetime) else cell) == value


def test_spreadsheet_numbers_reach_the_landing_flagged(simulated):
    landed = simulated["landed"].set_index("source_record_id")
    noise = simulated["truth"]["noise"]
    ids = noise[noise["field"] == "id_number"]
    later = {"typo_digit", "spaces", "full_width", "spreadsheet_apostrophe"}
    touched_later = set(ids.loc[ids["kind"].isin(later), "source_record_id"])
    numbers = set(ids.loc[ids["kind"] == "spreadsheet_number", "source_record_id"])
    checked = 0
    for key in sorted(numbers - touched_later):
        row = landed.loc[key]
        flags = flags_of(landed.loc[[key]])[0].get("id_number", [])
        scientific = re.fullmatch(r"\d\.\d+E\+\d+", row["id_number"])
        assert scientific or re.fullmatch(r"\d{15}000", row["id_number"])
        assert ("stored_as_number" in flags) == (not row["file"].endswith(".csv"))
        assert ("scientific_notation" in flags) == bool(scientific)
        checked += 1
    assert checked >= 20


def within(count: int, trials: int, rate: float) -> bool:
    """`count` successes of `trials` is within 4 standard deviations of `rate`."""
    spread = 4 * (trials * rate * (1 - rate)) ** 0.5 + 1
    return abs(count - trials * rate) <= spread


def test_noise_kinds_at_their_rates(simulated):
    truth = simulated["truth"]
    noise, files = truth["noise"], truth["files"]
    kinds = noise.groupby("kind").size()
    sheets = int(files["sheets"].sum())
    assert within(kinds["gbk_csv"], len(files), RATES.gbk_csv)
    workbooks = int((files["format"] == "xlsx").sum())
    assert within(kinds["corrupt_workbook"], workbooks, RATES.corrupt_workbook)
    assert within(kinds["title_rows"], sheets, RATES.title_rows)
    varied_columns = sum(len(v) > 1 for v in DEFAULT_HEADER_SYNONYMS.values())
    assert within(kinds["header_variant"], len(files) * varied_columns, RATES.header_variant)
    # every CSV is GBK, GB18030 or UTF-8 with a BOM, mostly the first two
    encodings = files["encoding"].dropna()
    assert set(encodings) <= {"gbk", "gb18030", "utf-8-sig"} and len(encodings) > 0
    # record-level kinds on ID numbers: all-digit IDs that were not blanked are eligible
    ids = noise[noise["field"] == "id_number"]
    shown = truth["shown"]
    persons = truth["persons"].merge(simulated["city"].persons[["person_key", "id_number"]])
    digit_ids = persons["id_number"].str.isdigit()
    eligible = int(digit_ids.sum()) - int(
        ids.loc[ids["kind"] == "missing", "source_record_id"].isin(
            persons.loc[digit_ids, "source_record_id"]).sum())
    assert within(int((ids["kind"] == "spreadsheet_number").sum()), eligible,
                  RATES.spreadsheet_number)
    assert within(int((ids["kind"] == "missing").sum()), len(shown), RATES.missing)


def test_same_seed_same_bytes(tmp_path):
    city = build_city(3, "tiny", start=date(2026, 11, 20), days=15)
    emit_rosters(city, tmp_path / "a")
    emit_rosters(city, tmp_path / "b")
    other = build_city(4, "tiny", start=date(2026, 11, 20), days=15)
    emit_rosters(other, tmp_path / "c")

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert first == second and any(k.endswith(".xlsx") for k in first)
    assert digests(tmp_path / "c") != first
    files = pd.read_parquet(tmp_path / "a" / "truth" / "rosters_files.parquet")
    for path in files.loc[(files["format"] == "xlsx") & files["corrupt"].isna(), "path"]:
        props = openpyxl.load_workbook(io.BytesIO((tmp_path / "a" / path).read_bytes())).properties
        assert props.created == props.modified and props.created.strftime("%Y%m") in path
