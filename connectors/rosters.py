"""Community-worker rosters (contracts/rosters.md): hand-made workbooks and CSV files that
each street office drops monthly under `rosters/<street code>/<YYYYMM>/<file name>`.

The connector lands every file byte for byte, then reads it the way a person would look at
it in a spreadsheet: it finds the header row under any title rows, maps the header spellings
to logical columns, fills merged cells down, drops totals, notes and blank rows (recording
why), and keeps every value as the text the cell shows. Nothing is repaired here: ID numbers
that a spreadsheet turned into numbers are kept as shown and flagged for the transforms.
Reading cells as shown is `connectors.spreadsheet`; listing, the manifest, landing and file
quarantine are the shared file-drop machinery (`connectors.filedrop`).

A record's key (spec/warehouse.md) is `<path under the drop root>#<sheet>!<physical row>`,
with an empty sheet name and the line number for a CSV file.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from openpyxl.utils import get_column_letter

from common.settings import RosterSettings
from connectors.base import Window
from connectors.filedrop import FileContents, FileDropConnector
from connectors.limits import ParserLimits
from connectors.spreadsheet import (
    DEFAULT_ENCODINGS,
    DEFAULT_LIMITS,
    SheetRow,
    UnreadableFile,
    cell_json_value,
    read_spreadsheet,
)

SOURCE = "rosters"

LOGICAL_COLUMNS = (
    "name", "id_number", "gender", "ethnicity", "birth", "political_status", "education",
    "community", "post", "post_grade", "staff_no", "hired_on", "phone", "note",
)

# The contract's table of header spellings per logical column.
DEFAULT_HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名",),
    "id_number": ("身份证号码", "身份证号", "公民身份号码", "证件号码"),
    "gender": ("性别",),
    "ethnicity": ("民族",),
    "birth": ("出生年月", "出生日期"),
    "political_status": ("政治面貌",),
    "education": ("学历", "文化程度"),
    "community": ("所在社区", "社区", "工作单位"),
    "post": ("岗位", "职务"),
    "post_grade": ("岗位等级", "等级"),
    "staff_no": ("工号", "人员编号"),
    "hired_on": ("入职时间", "参加工作时间"),
    "phone": ("联系电话", "手机号码"),
    "note": ("备注",),
}

LANDED_COLUMNS = (
    "source_record_id", "street_code", "roster_month", "file", "file_sha256", "sheet",
    "row_number", *LOGICAL_COLUMNS, "extra", "cell_flags", "raw",
)

HEADER_SCAN_ROWS = 20
MIN_HEADER_MATCHES = 3
# Columns whose values are identifiers: a spreadsheet that stores them as numbers damages them.
IDENTIFIER_COLUMNS = ("id_number", "phone", "staff_no")

ROSTER_PATH = re.compile(r"^rosters/(?P<street>[^/]+)/(?P<month>\d{6})/(?P<name>[^/]+)$")
TOTALS_ROW = re.compile(r"^(合计|总计|小计|共计)")
NOTE_ROW = re.compile(r"^(注|备注|说明|填表人|填报人|制表人|制表|审核人|负责人|联系人|填报日期|"
                      r"填报单位)")
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")


# --------------------------------------------------------------------------- header mapping


def normalize_header(text: str) -> str:
    """Header text as compared with the synonyms: NFKC (full-width to half-width), no
    whitespace or required-field stars."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).strip("*")


class HeaderMap:
    def __init__(self, synonyms: Mapping[str, Sequence[str]]):
        self.lookup = {normalize_header(h): logical
                       for logical, headers in synonyms.items() for h in headers}

    def logical(self, header: str | None) -> str | None:
        if header is None:
            return None
        text = normalize_header(header)
        if text in self.lookup:
            return self.lookup[text]
        # '出生年月(年.月)': a hint in brackets after a known spelling
        return self.lookup.get(re.sub(r"\(.*\)$", "", text))

    def find_header(self, rows: Sequence[SheetRow]) -> int | None:
        """Index of the row (among the first few) naming the most logical columns, if it
        names at least MIN_HEADER_MATCHES of them."""
        best, best_score = None, MIN_HEADER_MATCHES - 1
        for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            score = len({self.logical(t) for t in row.texts} - {None})
            if score > best_score:
                best, best_score = index, score
        return best


def drop_reason(row: SheetRow, name_col: int | None, id_col: int | None) -> str | None:
    """Why a row under the header is not a roster entry, or None if it is one."""
    own = [t.strip() for i, t in enumerate(row.texts)
           if t is not None and t.strip() and i not in row.merged]
    if not own:
        return "blank row"
    if any(TOTALS_ROW.match(normalize_header(t)) for t in own[:2]):
        return "totals row"
    if NOTE_ROW.match(normalize_header(own[0])) and len(own) <= 3:
        return "note row"
    person_cols = {c for c in (name_col, id_col) if c is not None}
    if len(own) == 1 and not any(c < len(row.texts) and row.texts[c] for c in person_cols):
        return "note row (one free-text cell, no name or ID number)"
    return None


@dataclass
class ParsedFile:
    records: list[dict]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)
    unknown_headers: list[tuple[str, str]] = field(default_factory=list)  # (location, header)
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)
    header_rows: dict[str, int] = field(default_factory=dict)  # sheet -> header row number
    encoding: str | None = None


def _map_header(header: SheetRow, headers: HeaderMap, where: str, parsed: ParsedFile
                ) -> tuple[dict[int, str], dict[int, str]]:
    """(column index -> logical column, column index -> header kept in `extra`). A second
    column with the same meaning goes to `extra`; unknown headers are reported as drift."""
    columns: dict[int, str] = {}
    extra: dict[int, str] = {}
    for col, text in enumerate(header.texts):
        logical = headers.logical(text)
        if logical and logical not in columns.values():
            columns[col] = logical
        elif text is not None and text.strip():
            extra[col] = text
            if not logical:
                parsed.unknown_headers.append(
                    (f"{where}!{get_column_letter(col + 1)}{header.number}", text))
    return columns, extra


def _cell_flags(row: SheetRow, columns: dict[int, str]) -> dict[str, list[str]]:
    """What the transforms should know about how a value was stored."""
    flags: dict[str, list[str]] = {}
    for col, logical in columns.items():
        text = row.texts[col] if col < len(row.texts) else None
        if col in row.merged:
            flags.setdefault(logical, []).append("merged_cell")
        if logical in IDENTIFIER_COLUMNS and text is not None:
            if row.numeric[col]:
                flags.setdefault(logical, []).append("stored_as_number")
            if SCIENTIFIC.match(text.strip()):
                flags.setdefault(logical, []).append("scientific_notation")
    return flags


def parse_roster(relative_path: str, data: bytes, headers: HeaderMap,
                 encodings: Sequence[str] = DEFAULT_ENCODINGS,
                 limits: ParserLimits = DEFAULT_LIMITS) -> ParsedFile:
    """Roster entries of one file as text records keyed per spec/warehouse.md (raises
    `LimitExceeded` for a file over the parser limits)."""
    sheets, encoding = read_spreadsheet(relative_path, data, encodings, limits)
    parsed = ParsedFile(records=[], encoding=encoding)
    match = ROSTER_PATH.match(relative_path)
    street, month = (match["street"], match["month"]) if match else (None, None)
    for sheet in sheets:
        where = f"{relative_path}#{sheet.name}"
        header_index = headers.find_header(sheet.rows)
        if header_index is None:
            nonblank = any(t for row in sheet.rows for t in row.texts)
            parsed.skipped_sheets.append((where, "no header row" if nonblank else "empty sheet"))
            continue
        header = sheet.rows[header_index]
        parsed.header_rows[sheet.name] = header.number
        parsed.dropped += [(f"{where}!{row.number}", "title row above the header")
                           for row in sheet.rows[:header_index]]
        columns, extra_names = _map_header(header, headers, where, parsed)
        by_logical = {v: k for k, v in columns.items()}
        last_community = None
        for row in sheet.rows[header_index + 1:]:
            location = f"{where}!{row.number}"
            reason = drop_reason(row, by_logical.get("name"), by_logical.get("id_number"))
            if reason:
                parsed.dropped.append((location, reason))
                continue
            width = len(row.texts)
            record = dict.fromkeys(LOGICAL_COLUMNS)
            record.update({logical: row.texts[col] if col < width else None
                           for col, logical in columns.items()})
            flags = _cell_flags(row, columns)
            # A CSV saved from a sheet keeps a merged community name on its first row only.
            if encoding and "community" in by_logical:
                if record["community"] is None and last_community is not None:
                    record["community"] = last_community
                    flags.setdefault("community", []).append("filled_down")
                last_community = record["community"]
            extra = {name: row.texts[col] if col < width else None
                     for col, name in extra_names.items()}
            extra |= {f"column_{get_column_letter(col + 1)}": text
                      for col, text in enumerate(row.texts)
                      if text is not None and col not in columns and col not in extra_names}
            raw = {get_column_letter(col + 1): cell_json_value(value)
                   for col, value in enumerate(row.values) if value not in (None, "")}
            record.update(
                source_record_id=location, street_code=street, roster_month=month,
                file=relative_path, sheet=sheet.name, row_number=row.number,
                extra=json.dumps(extra, ensure_ascii=False) if extra else None,
                cell_flags=json.dumps(flags, ensure_ascii=False, sort_keys=True) if flags else None,
                raw=json.dumps(raw, ensure_ascii=False, default=str),
            )
            parsed.records.append(record)
    return parsed


def records_frame(records: list[dict], file_sha256: str) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=[c for c in LANDED_COLUMNS if c != "file_sha256"])
    frame.insert(LANDED_COLUMNS.index("file_sha256"), "file_sha256", file_sha256)
    text_columns = [c for c in LANDED_COLUMNS if c != "row_number"]
    frame[text_columns] = frame[text_columns].astype("str")
    frame["row_number"] = frame["row_number"].astype("int64")
    return frame


# --------------------------------------------------------------------------- connector


class RosterConnector(FileDropConnector):
    """Config keys: `root` (drop root holding `rosters/`, a local path or fsspec URL),
    `storage_options` (for fsspec), `header_synonyms` (logical column -> list of headers,
    replacing the contract's spellings for the columns it names), `encodings` (CSV
    encodings to try after the BOM check, in order)."""

    source = SOURCE
    key_column = "source_record_id"
    landed_files_note = "files_considered"  # the name roster reports have always used
    # A file version lands once: unchanged files are skipped, except on a re-run of the
    # window that landed them (landed again as new attempts, as for every source).
    reland_on_window_rerun = True

    settings_model = RosterSettings

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        synonyms = {k: tuple(v) for k, v in DEFAULT_HEADER_SYNONYMS.items()}
        overrides = self.settings.header_synonyms
        unknown = sorted(set(overrides) - set(LOGICAL_COLUMNS))
        if unknown:
            raise ValueError(f"header_synonyms names unknown logical columns: {unknown}")
        synonyms.update({k: tuple(v) for k, v in overrides.items()})
        self.headers = HeaderMap(synonyms)
        self.encodings = tuple(self.settings.encodings or DEFAULT_ENCODINGS)

    def start_notes(self) -> dict[str, Any]:
        return dict(dropped_rows=[], encodings={}, header_rows={}, skipped_sheets=[],
                    skipped_files=[], unknown_headers=[])

    def window_files(self, window: Window, notes: dict[str, Any]) -> list[str]:
        """Every file under rosters/ but office lock and hidden files, whatever the window:
        a file never seen before is always taken."""
        taken = []
        for relative in self.find("rosters"):
            if relative.rsplit("/", 1)[-1].startswith(("~$", ".")):
                notes["skipped_files"].append((relative, "office lock or hidden file"))
            else:
                taken.append(relative)
        return taken

    def part_name(self, relative_path: str, sha256: str) -> str:
        # One part per file version: files with equal bytes under two names stay apart, and a
        # corrected file lands beside the version it corrects.
        match = ROSTER_PATH.match(relative_path)
        path_digest = hashlib.sha256(relative_path.encode("utf-8")).hexdigest()
        return f"{match['street']}_{match['month']}_{path_digest[:12]}_{sha256[:16]}"

    def parse(self, relative_path: str, data: bytes, sha256: str,
              notes: dict[str, Any]) -> FileContents:
        if not ROSTER_PATH.match(relative_path):
            return FileContents.quarantined_file(relative_path,
                                                 "not under rosters/<street code>/<YYYYMM>/")
        try:
            parsed = parse_roster(relative_path, data, self.headers, self.encodings,
                                  self.limits)
        except UnreadableFile as exc:
            return FileContents.quarantined_file(relative_path, str(exc))
        if parsed.encoding:
            notes["encodings"][relative_path] = parsed.encoding
        notes["header_rows"][relative_path] = parsed.header_rows
        notes["dropped_rows"].extend(parsed.dropped)
        notes["skipped_sheets"].extend(parsed.skipped_sheets)
        notes["unknown_headers"].extend(parsed.unknown_headers)
        if not parsed.header_rows:
            return FileContents.quarantined_file(relative_path,
                                                 "no header row found in any sheet")
        return FileContents(
            records=records_frame(parsed.records, sha256) if parsed.records else None,
            schema_drift={header for _, header in parsed.unknown_headers})
