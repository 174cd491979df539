"""Street offices' monthly rosters of community workers (contract: rosters.md).

For every street and every month the simulated period touches, one file lands under
`rosters/<street code>/<YYYYMM>/<file name>`: a workbook (one sheet per community or one for
the street) or, at the `gbk_csv` rate, a CSV file (GBK or GB18030 mostly, UTF-8 with BOM
sometimes). Each file is made the way a street office makes it by hand: title rows at the
`title_rows` rate (per sheet), headers spelled with the contract's synonyms at the
`header_variant` rate (per column), merged community cells, several styles of birth dates and
post grades, totals/notes/blank rows at the bottom, and at the `corrupt_workbook` rate a
workbook that cannot be opened. Values carry the record-level noise of the Noiser (ID numbers
turned into spreadsheet numbers, lost X, apostrophes, full-width digits, padded names).

Membership changes between months (a few leave, most are replaced by newcomers): a later
month's roster replaces the earlier one, so grid workers (whose staff numbers the grid app
uses) never churn.

Truth (`out_dir/truth/`): `rosters_persons.parquet` (every readable data row -> person_key),
`rosters_emitted.parquet` (every file with its sha256 and every readable data row; column
`kind` tells them apart), `rosters_noise.parquet`, plus `rosters_files.parquet` (each file's
layout), `rosters_shown.parquet` (what each data row's cells show, for exact parsing checks)
and `rosters_members.parquet` (who is on each street's roster each month).
Output is byte-identical for a seed: workbook properties and zip entry times are fixed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.writer.excel import ExcelWriter

from simulator.city import EDUCATION, GRADES, POLITICAL
from simulator.model import City
from simulator.noise import Noiser, excel_general

SOURCE = "rosters"
SOURCE_STREAM = 14  # this emitter's sub-stream of the city seed

COLUMNS = ("name", "id_number", "gender", "ethnicity", "birth", "political_status",
           "education", "community", "post", "post_grade", "staff_no", "hired_on", "phone",
           "note")
# The contract's header spellings, the usual one first. Kept apart from the connector's copy
# on purpose: the simulator and the connector are each checked against the contract.
HEADERS = {
    "name": ("姓名",), "id_number": ("身份证号码", "身份证号", "公民身份号码", "证件号码"),
    "gender": ("性别",), "ethnicity": ("民族",), "birth": ("出生年月", "出生日期"),
    "political_status": ("政治面貌",), "education": ("学历", "文化程度"),
    "community": ("所在社区", "社区", "工作单位"), "post": ("岗位", "职务"),
    "post_grade": ("岗位等级", "等级"), "staff_no": ("工号", "人员编号"),
    "hired_on": ("入职时间", "参加工作时间"), "phone": ("联系电话", "手机号码"),
    "note": ("备注",),
}
POST_ORDER = {"社区党委书记": 0, "社区居委会主任": 1, "副书记": 2, "委员": 3, "党建组织员": 4,
              "专职社区工作者": 5, "网格员": 6}
GRADE_LEVELS = {grade: level for level, grade in enumerate(GRADES, start=1)}  # 一岗一级 = 1
ENTRY_GRADES = ("三岗十六级", "三岗十七级", "三岗十八级")

# Membership churn between months; grid workers and leaders stay.
CHURN_POSTS = ("委员", "专职社区工作者")
LEAVE_RATE = 0.04
REPLACE_RATE = 0.8

# Office habits. Every style is a valid roster, so they are layout choices recorded in
# rosters_files.parquet, not noise kinds.
CSV_ENCODINGS = (("gbk", 0.55), ("gb18030", 0.25), ("utf-8-sig", 0.20))
PER_COMMUNITY_SHEETS = 0.4
MERGED_COMMUNITY = 0.5
SERIAL_COLUMN = 0.15  # a leading 序号 column, which the contract does not list
XLS_NAME = 0.03  # an .xlsx workbook saved under a .xls name
SPARE_SHEETS = 0.2  # the empty Sheet2/Sheet3 of a new workbook left in place
TOTALS_ROW = 0.4
NOTE_ROWS = 0.3
TRAILING_BLANKS = 0.3
BLOCK_SEPARATORS = 0.15  # a blank row between communities on a one-sheet roster
BIRTH_STYLES = (("dot_number", 0.20), ("dot_text", 0.15), ("chinese", 0.25),
                ("iso_date", 0.25), ("serial", 0.15))
HIRED_STYLES = (("iso_date", 0.6), ("dot_text", 0.4))
GRADE_AS_NUMBER = 0.25
NOTE_TEXTS = ("注：岗位等级按社区工作者岗位等级序列填写，新入职人员在备注栏注明。",
              "说明：本表由街道办事处组织人事办公室汇总，每月5日前报送。")
ID_NOISE = ["missing", "legacy15", "spreadsheet_number", "spreadsheet_lost_x", "lowercase_x",
            "typo_digit", "spaces", "full_width", "spreadsheet_apostrophe"]
NAME_NOISE = ["homophone", "traditional", "spaces"]
PHONE_NOISE = ["missing", "phone_format", "typo_digit", "spaces", "full_width",
               "spreadsheet_apostrophe"]

EXCEL_EPOCH = date(1899, 12, 30)
SCIENTIFIC = re.compile(r"^\d\.\d+E\+\d+$")
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


@dataclass
class Emitted:
    files: int
    data_rows: int  # rows of readable files
    corrupt_files: int
    months: list[str]
    by_format: dict[str, int] = field(default_factory=dict)


@dataclass
class Cell:
    shown: str | None  # the text a spreadsheet shows (what a CSV file holds)
    value: Any = None  # the workbook cell's value
    number_format: str = "General"


def _text(shown: str | None) -> Cell:
    return Cell(shown, shown)


def roster_months(start: date, days: int) -> list[str]:
    """YYYYMM of every month touched by [start, start + days)."""
    last = start + timedelta(days=max(days, 1) - 1)
    months, year, month = [], start.year, start.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*options, strict=True)
    return names[int(rng.choice(len(names), p=np.asarray(weights) / sum(weights)))]


def _newcomer(pool: np.ndarray | None, ever: set, rng: np.random.Generator,
              attempts: int = 50) -> str | None:
    """A random person of the street's pool who has never been on a roster (rejection
    sampling: the pool is far larger than the roster)."""
    if pool is None or not len(pool):
        return None
    for _ in range(attempts):
        candidate = str(pool[int(rng.integers(len(pool)))])
        if candidate not in ever:
            return candidate
    return None


def monthly_members(city: City, months: list[str], rng: np.random.Generator
                    ) -> dict[str, pd.DataFrame]:
    """Each month's workers (city.workers in the first month, then churned), with a `note`
    marking newcomers in the month they joined."""
    previous = city.workers.assign(note=None)
    rosters = {months[0]: previous}
    persons = city.persons
    age = city.start.year - persons["birth_date"].dt.year
    eligible = persons.loc[age.between(22, 55) & (persons["status"] == "正常")]
    pools = {street: group.to_numpy() for street, group in
             eligible["person_key"].groupby(eligible["community_code"].str[:9])}
    ever = set(previous["person_key"])
    next_staff = int(previous["staff_no"].str.extract(r"^SG(\d+)$")[0].dropna()
                     .astype(int).max()) + 1
    for month in months[1:]:
        previous = previous.assign(note=None)
        leaves = previous["post"].isin(CHURN_POSTS).to_numpy() & (
            rng.random(len(previous)) < LEAVE_RATE)
        replaced = leaves & (rng.random(len(previous)) < REPLACE_RATE)
        joiners = []
        for community, street in previous.loc[replaced, ["community_code", "street_code"]
                                              ].itertuples(index=False):
            person_key = _newcomer(pools.get(street[:9]), ever, rng)
            if person_key is None:
                continue
            ever.add(person_key)
            joiners.append({
                "person_key": person_key, "community_code": community, "street_code": street,
                "post": "专职社区工作者", "staff_no": f"SG{next_staff:06d}",
                "post_grade": ENTRY_GRADES[int(rng.integers(len(ENTRY_GRADES)))],
                "hired_on": pd.Timestamp(int(month[:4]), int(month[4:]),
                                         int(rng.integers(1, 29))),
                "political_status": POLITICAL[int(rng.choice(4, p=[0.4, 0.05, 0.3, 0.25]))],
                "education": EDUCATION[int(rng.choice(4, p=[0.1, 0.6, 0.28, 0.02]))],
                "note": "新入职",
            })
            next_staff += 1
        stay = previous.loc[~leaves]
        previous = (pd.concat([stay, pd.DataFrame(joiners, columns=stay.columns)],
                              ignore_index=True) if joiners else stay.reset_index(drop=True))
        rosters[month] = previous
    return rosters


def _month_roster(members: pd.DataFrame, city: City) -> pd.DataFrame:
    """A month's roster rows with the people's details, in the order offices list them:
    by street, community, then post."""
    names = city.divisions.set_index("code")["name"]
    rows = members.merge(city.persons[["person_key", "name", "gender", "ethnicity",
                                       "birth_date", "id_number", "phone"]],
                         on="person_key", how="left")
    rows["community"] = rows["community_code"].map(names)
    rows["post_rank"] = rows["post"].map(POST_ORDER)
    return rows.sort_values(["street_code", "community_code", "post_rank", "staff_no"],
                            kind="stable").reset_index(drop=True)


@dataclass
class FilePlan:
    """Layout decisions for one file (recorded in rosters_files.parquet)."""

    path: str
    street: str
    month: str
    fmt: str  # xlsx or csv
    encoding: str | None
    corrupt: str | None  # truncated / random_bytes
    per_community: bool
    merged_community: bool
    serial_column: bool
    headers: dict[str, str]
    birth_style: str
    hired_style: str
    grade_as_number: bool
    stamp: datetime


@dataclass
class SheetPlan:
    name: str
    rows: pd.DataFrame
    title_rows: int
    separators: bool
    totals: bool
    notes: list[str]
    trailing_blanks: int
    layout: list[tuple[str, Any]] = field(default_factory=list)  # (kind, data row or text)
    keys: list[str] = field(default_factory=list)  # source_record_id of each data row
    noisy: dict[str, np.ndarray] = field(default_factory=dict)  # name/id/phone after noise


def _plan_file(rng: np.random.Generator, noiser: Noiser, city: City, street: str,
               street_name: str, month: str) -> FilePlan:
    rates = city.noise
    is_csv = bool(noiser.chosen(rates.gbk_csv, 1)[0])
    corrupt = None
    if not is_csv and noiser.chosen(rates.corrupt_workbook, 1)[0]:
        corrupt = "truncated" if rng.random() < 0.6 else "random_bytes"
    headers = {}
    varied = noiser.chosen(rates.header_variant, len(COLUMNS))
    for logical, vary in zip(COLUMNS, varied, strict=True):
        spellings = HEADERS[logical]
        if vary and len(spellings) > 1:
            headers[logical] = spellings[1 + int(rng.integers(len(spellings) - 1))]
        else:
            headers[logical] = spellings[0]
    year, mon = int(month[:4]), int(month[4:])
    stem = (f"{street_name}社区工作者花名册（{year}年{mon}月）", f"{street_name}{month}花名册",
            f"花名册{month}", f"{street_name}社区工作者名单")[int(rng.integers(4))]
    suffix = ".csv" if is_csv else (".xls" if rng.random() < XLS_NAME else ".xlsx")
    return FilePlan(
        path=f"rosters/{street}/{month}/{stem}{suffix}", street=street, month=month,
        fmt="csv" if is_csv else "xlsx",
        encoding=_choice(rng, CSV_ENCODINGS) if is_csv else None, corrupt=corrupt,
        per_community=not is_csv and rng.random() < PER_COMMUNITY_SHEETS,
        merged_community=rng.random() < MERGED_COMMUNITY,
        serial_column=rng.random() < SERIAL_COLUMN, headers=headers,
        birth_style=_choice(rng, BIRTH_STYLES), hired_style=_choice(rng, HIRED_STYLES),
        grade_as_number=rng.random() < GRADE_AS_NUMBER,
        stamp=datetime(year, mon, int(rng.integers(1, 6)), int(rng.integers(8, 18)),
                       int(rng.integers(0, 60))),
    )


def _plan_sheets(rng: np.random.Generator, noiser: Noiser, city: City, plan: FilePlan,
                 roster: pd.DataFrame) -> list[SheetPlan]:
    if plan.per_community:
        named = [(rows["community"].iloc[0], rows.reset_index(drop=True))
                 for _, rows in roster.groupby("community_code", sort=True)]
    else:
        sheet_name = ("Sheet1", "花名册", "社区工作者")[int(rng.integers(3))]
        named = [("" if plan.fmt == "csv" else sheet_name, roster)]
    titled = noiser.chosen(city.noise.title_rows, len(named))
    sheets = []
    for (name, rows), has_title in zip(named, titled, strict=True):
        notes = []
        if rng.random() < NOTE_ROWS:
            notes.append(NOTE_TEXTS[int(rng.integers(len(NOTE_TEXTS)))])
            if rng.random() < 0.5:
                notes.append("填表人：刘某某        审核人：张某某")
        sheet = SheetPlan(
            name=name, rows=rows, title_rows=int(rng.integers(1, 4)) if has_title else 0,
            separators=not plan.per_community and rng.random() < BLOCK_SEPARATORS,
            totals=rng.random() < TOTALS_ROW, notes=notes,
            trailing_blanks=int(rng.integers(1, 6)) if rng.random() < TRAILING_BLANKS else 0)
        layout: list[tuple[str, Any]] = [("title", i) for i in range(sheet.title_rows)]
        layout.append(("header", None))
        previous = None
        for i, community in enumerate(rows["community_code"]):
            if sheet.separators and previous is not None and community != previous:
                layout.append(("blank", None))
            layout.append(("data", i))
            previous = community
        if sheet.totals:
            layout.append(("totals", len(rows)))
        layout += [("note", text) for text in notes]
        layout += [("blank", None)] * sheet.trailing_blanks
        sheet.layout = layout
        sheet.keys = [f"{plan.path}#{name}!{number}"
                      for number, (kind, _) in enumerate(layout, start=1) if kind == "data"]
        sheets.append(sheet)
    return sheets


def _birth_cell(birth: pd.Timestamp, style: str, fmt: str) -> Cell:
    day = birth.date()
    if style == "dot_number" and fmt == "xlsx":
        number = float(f"{day.year}.{day.month:02d}")
        return Cell(str(number), number)  # 1988.10 shows as 1988.1
    if style in ("dot_number", "dot_text"):
        return _text(f"{day.year}.{day.month:02d}")
    if style == "chinese":
        return Cell(f"{day.year}年{day.month}月", datetime(day.year, day.month, day.day),
                    'yyyy"年"m"月"')
    if style == "serial":
        serial = (day - EXCEL_EPOCH).days
        return Cell(str(serial), serial)
    return Cell(day.isoformat(), datetime(day.year, day.month, day.day), "yyyy-mm-dd")


def _id_cell(shown: str | None, clean: str) -> Cell:
    """An ID number that noise turned into a spreadsheet number, as the number the workbook
    cell holds (which shows as `shown`); any other value as text."""
    if shown is None:
        return _text(None)
    if SCIENTIFIC.match(shown):
        if clean.isdigit() and shown == excel_general(clean):
            # The cell keeps the first 15 digits: for example 150102198805031000 shows as 1.50102E+17.
            return Cell(shown, int(clean[:15] + "0" * (len(clean) - 15)))
        return Cell(shown, float(shown))
    if len(shown) == 18 and shown.isdigit() and shown != clean and shown.endswith("000"):
        return Cell(shown, int(shown), "0")
    return _text(shown)


def _data_cells(plan: FilePlan, sheet: SheetPlan) -> list[dict[str, Cell]]:
    rows = sheet.rows
    names, ids, phones = (sheet.noisy.get(c, rows[c].to_numpy(dtype=object))
                          for c in ("name", "id_number", "phone"))
    cells = []
    for i, row in enumerate(rows.itertuples(index=False)):
        hired = row.hired_on.date()
        if plan.hired_style == "iso_date":
            hired_cell = Cell(hired.isoformat(), datetime(hired.year, hired.month, hired.day),
                              "yyyy-mm-dd")
        else:
            hired_cell = _text(f"{hired.year}.{hired.month:02d}")
        level = GRADE_LEVELS[row.post_grade]
        cells.append({
            "name": _text(names[i]), "id_number": _id_cell(ids[i], row.id_number),
            "gender": _text(row.gender), "ethnicity": _text(row.ethnicity),
            "birth": _birth_cell(row.birth_date, plan.birth_style, plan.fmt),
            "political_status": _text(row.political_status),
            "education": _text(row.education), "community": _text(row.community),
            "post": _text(row.post),
            "post_grade": (Cell(str(level), level) if plan.grade_as_number
                           else _text(row.post_grade)),
            "staff_no": _text(row.staff_no), "hired_on": hired_cell,
            "phone": _text(phones[i]),
            "note": _text(row.note if isinstance(row.note, str) else None),
        })
    return cells


def _columns(plan: FilePlan) -> list[str]:
    return (["serial"] if plan.serial_column else []) + list(COLUMNS)


def _header_texts(plan: FilePlan) -> list[str]:
    return [("序号" if c == "serial" else plan.headers[c]) for c in _columns(plan)]


def _community_blocks(layout: list[tuple[str, Any]], cells: list[dict[str, Cell]]
                      ) -> list[tuple[int, int]]:
    """(first, last) physical rows of each run of adjacent data rows of one community."""
    blocks: list[list[int]] = []
    previous = None
    for number, (kind, data) in enumerate(layout, start=1):
        if kind != "data":
            previous = None
            continue
        community = cells[data]["community"].shown
        if previous == community:
            blocks[-1][1] = number
        else:
            blocks.append([number, number])
        previous = community
    return [(first, last) for first, last in blocks]


def _sheet_grid(plan: FilePlan, sheet: SheetPlan, cells: list[dict[str, Cell]],
                street_name: str) -> tuple[list[list[Cell]], list[tuple[int, int, int, int]]]:
    """The sheet as rows of cells, plus merged ranges (min_row, min_col, max_row, max_col)."""
    columns = _columns(plan)
    width = len(columns)
    year, mon = int(plan.month[:4]), int(plan.month[4:])
    grid: list[list[Cell]] = []
    merges = []
    serial = 0
    for number, (kind, data) in enumerate(sheet.layout, start=1):
        row = [_text(None) for _ in columns]
        if kind == "title" and data == 0:
            row[0] = _text(f"{street_name}社区工作者花名册（{year}年{mon}月）")
            merges.append((number, 1, number, width))
        elif kind == "title" and data == 1:
            half = width // 2
            row[0] = _text(f"填报单位：{street_name}办事处（盖章）")
            row[half] = _text(f"填报日期：{plan.stamp.year}年{plan.stamp.month}月"
                              f"{plan.stamp.day}日")
            merges += [(number, 1, number, half), (number, half + 1, number, width)]
        elif kind == "header":
            row = [_text(h) for h in _header_texts(plan)]
        elif kind == "data":
            serial += 1
            row = [Cell(str(serial), serial) if c == "serial" else cells[data][c]
                   for c in columns]
        elif kind == "totals":
            row[0] = _text("合计")
            row[1] = _text(f"共{data}人")
        elif kind == "note":
            row[0] = _text(data)
            merges.append((number, 1, number, width))
        grid.append(row)
    if plan.merged_community:
        # A merged range keeps its value in its top cell only (so does a CSV saved from it).
        col = columns.index("community") + 1
        for first, last in _community_blocks(sheet.layout, cells):
            if last > first:
                merges.append((first, col, last, col))
                for number in range(first + 1, last + 1):
                    grid[number - 1][col - 1] = _text(None)
    return grid, merges


def _workbook_bytes(plan: FilePlan, sheets: list[tuple[SheetPlan, list, list]],
                    spare_sheets: int) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    title_font = Font(bold=True, size=16)
    centered = Alignment(horizontal="center", vertical="center")
    for sheet, grid, merges in sheets:
        ws = workbook.create_sheet(sheet.name)
        for r, (row, (kind, _)) in enumerate(zip(grid, sheet.layout, strict=True), start=1):
            for c, cell in enumerate(row, start=1):
                if cell.value is None and kind not in ("header", "blank"):
                    continue
                target = ws.cell(row=r, column=c, value=cell.value)
                if cell.number_format != "General":
                    target.number_format = cell.number_format
                if kind in ("header", "blank"):  # a bordered empty cell keeps its row
                    target.border = BOX
                if kind == "header":
                    target.font = bold
            if kind == "title" and row[0].value is not None:
                ws.cell(row=r, column=1).font = title_font
        for min_row, min_col, max_row, max_col in merges:
            ws.merge_cells(start_row=min_row, start_column=min_col, end_row=max_row,
                           end_column=max_col)
            ws.cell(row=min_row, column=min_col).alignment = centered
    for i in range(spare_sheets):
        workbook.create_sheet(f"Sheet{len(sheets) + i + 1}")
    props = workbook.properties
    props.creator = props.lastModifiedBy = "Administrator"
    props.created = props.modified = plan.stamp
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps `modified` with the wall clock.
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return fixed_zip_times(buffer.getvalue(), plan.stamp)


def fixed_zip_times(data: bytes, stamp: datetime) -> bytes:
    """The same zip archive with every entry dated `stamp` (zipfile uses the wall clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


def _as_encoded(text: str | None, encoding: str | None) -> str | None:
    """`text` as it reads back from a file in `encoding` ('?' for what it cannot hold)."""
    if text is None or encoding is None:
        return text
    return text.encode(encoding, errors="replace").decode(encoding)


def _csv_bytes(plan: FilePlan, grid: list[list[Cell]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    for row in grid:
        writer.writerow(["" if c.shown is None else c.shown for c in row])
    # An office's ANSI code page writes '?' for a character it cannot encode.
    return text.getvalue().encode(plan.encoding, errors="replace")


def _corrupt(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    if kind == "truncated":
        return data[: int(len(data) * rng.uniform(0.3, 0.9))]
    return rng.bytes(len(data))


def emit_rosters(city: City, out_dir: Path) -> Emitted:
    out_dir = Path(out_dir)
    rng = np.random.default_rng([city.seed, SOURCE_STREAM])
    noiser = Noiser(city.noise, rng)
    months = roster_months(city.start, city.days)
    members = monthly_members(city, months, rng)
    names = city.divisions.set_index("code")["name"]
    streets = sorted(city.streets["code"])
    file_noise: dict[tuple[str, str | None], list[str]] = {}  # (kind, field) -> keys

    # Plan every file first, so that value noise runs once over all rows.
    planned: list[tuple[FilePlan, list[SheetPlan]]] = []
    for month in months:
        month_rows = _month_roster(members[month], city)
        by_street = dict(tuple(month_rows.groupby("street_code")))
        for street in streets:
            roster = by_street.get(street, month_rows.iloc[:0])
            plan = _plan_file(rng, noiser, city, street, names[street], month)
            sheets = _plan_sheets(rng, noiser, city, plan, roster.reset_index(drop=True))
            planned.append((plan, sheets))
            for column in COLUMNS:
                if plan.headers[column] != HEADERS[column][0]:
                    file_noise.setdefault(("header_variant", column), []).append(plan.path)
            for sheet in sheets:
                if sheet.title_rows:
                    file_noise.setdefault(("title_rows", None), []).append(
                        f"{plan.path}#{sheet.name}")
            if plan.fmt == "csv":
                file_noise.setdefault(("gbk_csv", None), []).append(plan.path)
            if plan.corrupt:
                file_noise.setdefault(("corrupt_workbook", None), []).append(plan.path)
    for (kind, column), keys in file_noise.items():
        noiser.record(SOURCE, keys, column, kind)

    # A corrupt workbook's rows never reach anyone, so they carry no value noise.
    readable = [s for plan, sheets in planned if plan.corrupt is None for s in sheets]
    rows = pd.concat([s.rows for s in readable], ignore_index=True)
    keys = pd.Series([k for s in readable for k in s.keys], dtype="str")
    noisy = {column: noiser.apply(SOURCE, column, keys, rows[column].astype(object), kinds)
             .to_numpy(dtype=object)
             for column, kinds in (("name", NAME_NOISE), ("id_number", ID_NOISE),
                                   ("phone", PHONE_NOISE))}
    offset = 0
    for sheet in readable:
        sheet.noisy = {c: values[offset:offset + len(sheet.rows)] for c, values in noisy.items()}
        offset += len(sheet.rows)

    files, shown = [], []
    for plan, sheets in planned:
        written = []
        for sheet in sheets:
            cells = _data_cells(plan, sheet)
            written.append((sheet, *_sheet_grid(plan, sheet, cells, names[plan.street])))
            if plan.corrupt is None:
                shown += [[key] + [_as_encoded(cell[c].shown, plan.encoding) for c in COLUMNS]
                          for key, cell in zip(sheet.keys, cells, strict=True)]
        if plan.fmt == "csv":
            data = _csv_bytes(plan, written[0][1])
        else:
            spare = int(rng.integers(1, 3)) if rng.random() < SPARE_SHEETS else 0
            data = _workbook_bytes(plan, written, spare)
        if plan.corrupt:
            data = _corrupt(data, plan.corrupt, rng)
        target = out_dir / plan.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files.append({
            "path": plan.path, "street_code": plan.street, "roster_month": plan.month,
            "format": plan.fmt, "encoding": plan.encoding, "corrupt": plan.corrupt,
            "sheets": len(sheets), "per_community": plan.per_community,
            "merged_community": plan.merged_community,
            "title_rows": [s.title_rows for s in sheets], "birth_style": plan.birth_style,
            "serial_column": plan.serial_column, "rows": sum(len(s.rows) for s in sheets),
            "sha256": hashlib.sha256(data).hexdigest(),
        })
    _write_truth(out_dir / "truth", files, shown, rows["person_key"], keys, members, noiser)
    by_format: dict[str, int] = {}
    for f in files:
        kind = f"csv-{f['encoding']}" if f["format"] == "csv" else "xlsx"
        by_format[kind] = by_format.get(kind, 0) + 1
    return Emitted(files=len(files), data_rows=len(keys),
                   corrupt_files=sum(f["corrupt"] is not None for f in files),
                   months=months, by_format=by_format)


def _write_truth(truth: Path, files: list[dict], shown: list[list], person_keys: pd.Series,
                 keys: pd.Series, members: dict[str, pd.DataFrame], noiser: Noiser) -> None:
    truth.mkdir(parents=True, exist_ok=True)
    file_frame = pd.DataFrame(files)
    file_frame.to_parquet(truth / "rosters_files.parquet", index=False)
    persons = pd.DataFrame({"source": SOURCE, "source_record_id": keys,
                            "person_key": person_keys.to_numpy()})
    persons.to_parquet(truth / "rosters_persons.parquet", index=False)
    emitted = pd.concat([
        pd.DataFrame({"source": SOURCE, "source_record_id": file_frame["path"],
                      "version": file_frame["path"].str.rsplit("/", n=1).str[1],
                      "content_sha256": file_frame["sha256"], "kind": "file"}),
        pd.DataFrame({"source": SOURCE, "source_record_id": keys,
                      "version": keys.str.split("#").str[0].str.rsplit("/", n=1).str[1],
                      "content_sha256": None, "kind": "row"}),
    ], ignore_index=True)
    emitted.to_parquet(truth / "rosters_emitted.parquet", index=False)
    pd.DataFrame(shown, columns=["source_record_id", *COLUMNS], dtype="str").to_parquet(
        truth / "rosters_shown.parquet", index=False)
    pd.concat([m.assign(roster_month=month) for month, m in members.items()],
              ignore_index=True).to_parquet(truth / "rosters_members.parquet", index=False)
    noiser.log_frame().to_parquet(truth / "rosters_noise.parquet", index=False)
