"""Spreadsheet and CSV files read the way a person sees them in a spreadsheet program.

Every cell becomes the text its number format shows (Excel's General format, fixed-point,
percent and date formats), merged ranges are filled from their top-left cell, and CSV text
is decoded by its byte-order mark, then by a list of encodings tried strictly in order. A
file's kind is told by its content, since a hand-made file's name may be wrong.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.read_only import ReadOnlyCell
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.worksheet.cell_range import CellRange

from connectors.limits import LimitExceeded, ParserLimits

DEFAULT_LIMITS = ParserLimits()

# Tried in order after a BOM check: strict UTF-8 first (GBK bytes of Chinese text almost
# never decode as UTF-8), then GB18030, a superset of GBK.
DEFAULT_ENCODINGS = ("utf-8", "gb18030")

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
ENCRYPTED_OLE2_STREAM = "EncryptionInfo".encode("utf-16-le")


class UnreadableFile(Exception):
    """The file cannot be read as a spreadsheet at all; the message says why (no personal
    data)."""


# --------------------------------------------------------------------------- cell display


def excel_general(number: float | int) -> str:
    """The text Excel's General format shows for a number in a standard-width column:
    15 significant digits, at most 11 characters, scientific notation beyond that
    (an 18-digit ID number shows as 1.50102E+17)."""
    value = float(f"{float(number):.15g}")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e11:
        return str(int(value))
    if 1e-5 <= magnitude < 1e11:
        integer_digits = len(str(int(magnitude)))
        decimals = max(0, 10 - integer_digits - (value < 0))
        return f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    mantissa, exponent = f"{value:.5E}".split("E")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{exponent}"


def _strip_format_decorations(section: str) -> str:
    # Locale tags ([$-804]), colours ([Red]) and conditions are not part of what is shown.
    return re.sub(r"\[[^\]]*\]", "", section)


def _fixed_number(number: float | int, fmt: str) -> str | None:
    """Render a fixed-point format such as 0, 0.00, #,##0, 0%; None for other formats."""
    percent = fmt.endswith("%")
    core = fmt.rstrip("%")
    if not re.fullmatch(r"[#0,]*0(\.0+)?|#,##0(\.0+)?|[#0]+", core):
        return None
    decimals = len(core.split(".")[1]) if "." in core else 0
    value = Decimal(f"{float(number) * (100 if percent else 1):.15g}")
    text = format(value.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP),
                  ",f" if "," in core else "f")
    return text + ("%" if percent else "")


@cache
def _date_tokens(fmt: str) -> tuple[tuple[str, str], ...]:
    """Split a date format into (kind, text) tokens: kind is 'lit' or a field code."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == '"':
            end = fmt.find('"', i + 1)
            end = len(fmt) if end < 0 else end
            tokens.append(("lit", fmt[i + 1:end]))
            i = end + 1
        elif ch == "\\" and i + 1 < len(fmt):
            tokens.append(("lit", fmt[i + 1]))
            i += 2
        elif fmt[i:i + 5].upper() == "AM/PM":
            tokens.append(("ampm", ""))
            i += 5
        elif ch.lower() in "ymdhs":
            j = i
            while j < len(fmt) and fmt[j].lower() == ch.lower():
                j += 1
            tokens.append((ch.lower(), fmt[i:j].lower()))
            i = j
        elif ch in "_*":  # padding instructions take the next character
            i += 2
        else:
            tokens.append(("lit", ch))
            i += 1
    return tuple(tokens)


def _render_date(value: datetime | date | time, fmt: str) -> str:
    if isinstance(value, time):
        value = datetime.combine(date(1899, 12, 30), value)
    elif not isinstance(value, datetime):
        value = datetime.combine(value, time())
    tokens = _date_tokens(fmt)
    has_ampm = any(kind == "ampm" for kind, _ in tokens)
    out = []
    for index, (kind, text) in enumerate(tokens):
        if kind == "lit":
            out.append(text)
        elif kind == "y":
            out.append(f"{value.year:04d}" if len(text) > 2 else f"{value.year % 100:02d}")
        elif kind == "m":
            before = [k for k, _ in tokens[:index] if k != "lit"]
            after = [k for k, _ in tokens[index + 1:] if k != "lit"]
            minutes = (before and before[-1] == "h") or (after and after[0] == "s")
            number = value.minute if minutes else value.month
            if not minutes and len(text) >= 3:
                out.append(value.strftime("%B" if len(text) == 4 else "%b"))
            else:
                out.append(f"{number:02d}" if len(text) == 2 else str(number))
        elif kind == "d":
            if len(text) >= 3:
                out.append(value.strftime("%A" if len(text) == 4 else "%a"))
            else:
                out.append(f"{value.day:02d}" if len(text) == 2 else str(value.day))
        elif kind == "h":
            hour = (value.hour % 12 or 12) if has_ampm else value.hour
            out.append(f"{hour:02d}" if len(text) == 2 else str(hour))
        elif kind == "s":
            out.append(f"{value.second:02d}" if len(text) == 2 else str(value.second))
        elif kind == "ampm":
            out.append("AM" if value.hour < 12 else "PM")
    return "".join(out)


def cell_text(value: Any, number_format: str | None) -> str | None:
    """What a spreadsheet shows for a cell value under its number format (None if empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    fmt = _strip_format_decorations((number_format or "General").split(";")[0]).strip()
    if isinstance(value, (datetime, date, time)):
        if any(kind not in ("lit", "ampm") for kind, _ in _date_tokens(fmt)):
            return _render_date(value, fmt)
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if fmt in ("", "General", "@"):
        return excel_general(value)
    return _fixed_number(value, fmt) or excel_general(value)


def cell_json_value(value: Any) -> Any:
    """A cell value as read, as a value JSON can hold."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


# --------------------------------------------------------------------------- file reading


@dataclass
class SheetRow:
    number: int  # 1-based physical row number
    texts: list[str | None]  # what each cell shows, merged cells filled from their anchor
    values: list[Any]  # each cell as read (typed for a workbook)
    numeric: list[bool]  # the cell holds a number (workbooks only)
    merged: set[int] = field(default_factory=set)  # column indexes filled from a merged anchor


@dataclass
class Sheet:
    name: str  # '' for a CSV file
    rows: list[SheetRow]


def decode_csv(data: bytes, encodings: Sequence[str] = DEFAULT_ENCODINGS) -> tuple[str, str]:
    """Decode CSV bytes: a UTF-8 BOM decides first, then each encoding strictly in order.
    Returns (text, encoding used)."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UnreadableFile("UTF-8 byte-order mark but the content is not UTF-8") from exc
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"text does not decode as any of {', '.join(encodings)}")


def read_csv(data: bytes, encodings: Sequence[str] = DEFAULT_ENCODINGS,
             limits: ParserLimits = DEFAULT_LIMITS) -> tuple[Sheet, str]:
    text, encoding = decode_csv(data, encodings)
    if "\x00" in text:
        raise UnreadableFile("binary content in a .csv file")
    rows = []
    # The csv module's field limit is process-wide: set to this source's before each read.
    csv.field_size_limit(limits.max_field_chars)
    reader = csv.reader(io.StringIO(text, newline=""))
    next_line = 1
    try:
        for fields in reader:
            if len(rows) >= limits.max_items_per_file:
                raise LimitExceeded("max_items_per_file", limits.max_items_per_file,
                                    f"the file has more rows (line {next_line} is one)")
            texts = [f if f != "" else None for f in fields]
            rows.append(SheetRow(next_line, texts, list(fields), [False] * len(fields)))
            next_line = reader.line_num + 1
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise LimitExceeded("max_field_chars", limits.max_field_chars,
                                f"a field on line {reader.line_num} is longer") from exc
        raise UnreadableFile(f"not readable as CSV at line {reader.line_num}: {exc}") from exc
    return Sheet("", rows), encoding


def _check_zip_size(data: bytes, limits: ParserLimits) -> None:
    """A workbook is a zip archive: its members' declared sizes (which zipfile enforces when
    reading them) bound what opening it inflates."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"corrupt workbook: damaged zip archive ({exc})") from exc
    if inflated > limits.max_file_bytes:
        raise LimitExceeded("max_file_bytes", limits.max_file_bytes,
                            f"the workbook decompresses to {inflated} bytes")


def _sheet_rows(sheet, limits: ParserLimits, cells: list[int]) -> list[SheetRow]:
    """A read-only worksheet's rows as displayed text, streamed from its XML, every row as
    wide as the sheet's widest row or merged range, merged ranges filled from their top-left
    cell (openpyxl's read-only mode does not expose them; its sheet parser reads them after
    the rows). Rows count up to the last one used and columns up to the last one used,
    whatever dimension the sheet declares; `cells` counts the workbook's cells so far."""
    rows: list[SheetRow] = []
    width = 0
    with sheet._get_source() as source:
        parser = WorkSheetParser(source, sheet._shared_strings, data_only=True,
                                 epoch=sheet.parent.epoch,
                                 date_formats=sheet.parent._date_formats,
                                 timedelta_formats=sheet.parent._timedelta_formats)
        for number, parsed in parser.parse():
            if number > limits.max_workbook_rows:
                raise LimitExceeded("max_workbook_rows", limits.max_workbook_rows,
                                    f"sheet {sheet.title!r} has row {number}")
            row_width = parsed[-1]["column"] if parsed else 0
            width = max(width, row_width)
            _count_cells(cells, number * width, limits, sheet.title)
            values: list[Any] = [None] * row_width
            texts: list[str | None] = [None] * row_width
            for cell in parsed:
                read = ReadOnlyCell(sheet, **cell)
                values[cell["column"] - 1] = read.value
                texts[cell["column"] - 1] = cell_text(read.value, read.number_format)
            # Rows the sheet's XML skips are blank: kept, so row numbers stay physical.
            rows += [SheetRow(n, [], [], []) for n in range(len(rows) + 1, number)]
            numeric = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in values]
            rows.append(SheetRow(number, texts, values, numeric))
        merged = [CellRange(m.ref) for m in
                  (parser.merged_cells.mergeCell if parser.merged_cells else [])]
    width = max([width, *(m.max_col for m in merged if m.min_row <= len(rows))])
    _count_cells(cells, len(rows) * width, limits, sheet.title)
    for row in rows:
        pad = width - len(row.texts)
        row.texts += [None] * pad
        row.values += [None] * pad
        row.numeric += [False] * pad
    _fill_merged(rows, merged)
    return rows


def _count_cells(cells: list[int], sheet_cells: int, limits: ParserLimits,
                 title: str) -> None:
    if cells[0] + sheet_cells > limits.max_workbook_cells:
        raise LimitExceeded("max_workbook_cells", limits.max_workbook_cells,
                            f"the workbook has more, sheet {title!r} included")


def _fill_merged(rows: list[SheetRow], merged: list[CellRange]) -> None:
    """Fill merged ranges from their top-left cell, within the rows the sheet has."""
    for bounds in merged:
        if bounds.min_row > len(rows):
            continue
        anchor = rows[bounds.min_row - 1]
        for number in range(bounds.min_row, min(bounds.max_row, len(rows)) + 1):
            target = rows[number - 1]
            for col in range(bounds.min_col, bounds.max_col + 1):
                if (number, col) == (bounds.min_row, bounds.min_col):
                    continue
                target.texts[col - 1] = anchor.texts[bounds.min_col - 1]
                target.numeric[col - 1] = anchor.numeric[bounds.min_col - 1]
                target.merged.add(col - 1)


def read_workbook(data: bytes, limits: ParserLimits = DEFAULT_LIMITS) -> list[Sheet]:
    """Every worksheet of an .xlsx file as displayed text, merged ranges filled from their
    top-left cell. Read in openpyxl's read-only (streaming) mode and stopped at the limits:
    a sheet declaring `A1:XFD1048576` costs only the cells it holds."""
    _check_zip_size(data, limits)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True, read_only=True)
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"corrupt workbook: damaged zip archive ({exc})") from exc
    except Exception as exc:  # openpyxl raises many kinds (KeyError, XML errors, ...)
        raise UnreadableFile(f"corrupt workbook: {type(exc).__name__}") from exc
    sheets = []
    cells = [0]
    try:
        for sheet in workbook.worksheets:
            rows = _sheet_rows(sheet, limits, cells)
            cells[0] += sum(len(row.texts) for row in rows)
            sheets.append(Sheet(sheet.title, rows))
    finally:
        workbook.close()
    return sheets


def read_spreadsheet(name: str, data: bytes, encodings: Sequence[str] = DEFAULT_ENCODINGS,
                     limits: ParserLimits = DEFAULT_LIMITS) -> tuple[list[Sheet], str | None]:
    """Sheets of a workbook or CSV file, told apart by content (a `.xls` name may hold an
    .xlsx), and the encoding used for a CSV file."""
    suffix = Path(name).suffix.lower()
    if data.startswith(ZIP_MAGIC):
        return read_workbook(data, limits), None
    if data.startswith(OLE2_MAGIC):
        if ENCRYPTED_OLE2_STREAM in data:
            raise UnreadableFile("password-protected workbook")
        raise UnreadableFile("legacy binary .xls workbook (not supported: save as .xlsx)")
    if suffix in (".xlsx", ".xlsm", ".xls"):
        reason = "empty file" if not data else "not a workbook (no zip or OLE2 signature)"
        raise UnreadableFile(f"corrupt workbook: {reason}")
    if suffix in (".csv", ".txt"):
        sheet, encoding = read_csv(data, encodings, limits)
        return [sheet], encoding
    raise UnreadableFile(f"unknown file format {suffix or '(no extension)'}")

