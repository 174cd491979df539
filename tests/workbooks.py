"""Roster files made the way street offices make them (contracts/rosters.md): .xlsx through
openpyxl, legacy binary .xls through xlwt (BIFF8, as Excel 97-2003 saves it) and CSV text
in any encoding. Cells are written typed as given (a number stays a number, a date a date);
`merges` are A1 ranges, `formats` number formats by cell."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import openpyxl
import xlwt
from openpyxl.utils.cell import range_boundaries


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig") -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(
        [["" if v is None else v for v in row] for row in rows])
    return text.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None,
               formats: dict[str, dict[str, str]] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        ws = workbook.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(row=r, column=c, value=value)
        for ref, fmt in (formats or {}).get(name, {}).items():
            ws[ref].number_format = fmt
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xls_bytes(sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None
              ) -> bytes:
    """A real .xls file; dates get Excel's yyyy-mm-dd format, as a typed date cell has."""
    workbook = xlwt.Workbook(encoding="utf-8")
    dated = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for name, rows in sheets.items():
        ws = workbook.add_sheet(name)
        spans = [range_boundaries(ref) for ref in (merges or {}).get(name, [])]
        covered = {(r, c) for c0, r0, c1, r1 in spans for r in range(r0, r1 + 1)
                   for c in range(c0, c1 + 1)}
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None or (r, c) in covered:
                    continue
                if isinstance(value, (date, datetime)):
                    ws.write(r - 1, c - 1, value, dated)
                else:
                    ws.write(r - 1, c - 1, value)
        for c0, r0, c1, r1 in spans:
            anchor = rows[r0 - 1][c0 - 1] if len(rows[r0 - 1]) >= c0 else None
            ws.write_merge(r0 - 1, r1 - 1, c0 - 1, c1 - 1, anchor)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
