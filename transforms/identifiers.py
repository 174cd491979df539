"""Normalisation and validation of Chinese identifiers over pandas Series, vectorised.

- Resident ID numbers: GB 11643-1999 (18 characters, ISO 7064 MOD 11-2 check character),
  legacy 15-digit numbers upgraded, spreadsheet damage detected.
- Unified Social Credit Codes: GB 32100-2015 (mod 31 check) with the GB 11714 organisation
  code inside (mod 11 check), flagged separately.
- Phone numbers: mobiles and landlines in one canonical form.
- 12-digit statistical division codes against a reference list.

Every function takes a Series of strings (any dtype that holds strings; nulls allowed) and
returns a DataFrame on the same index. A null input gives a null value and null (NA) flags;
everything else gets True/False flags. Values arrive clean most of the time, so the work is
split: a scan of the raw Arrow bytes finds the few rows that need cleaning (full-width forms,
separators, lower case, prefixes), only those go through Unicode and regex functions, and the
checks run on fixed-width byte matrices with numpy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

AREA_CODES_CSV = Path(__file__).with_name("data") / "area_codes.csv"

_DIGIT_BYTES = np.frombuffer(b"0123456789", dtype=np.uint8)
# Spaces (NFKC turns U+3000 into one), dashes, apostrophes kept from text-formatted
# spreadsheet cells, and the typographic quotes some keyboards produce instead.
_SEPARATORS_RE = r"[\s\-'‘’`]"


# --------------------------------------------------------------------------------------------
# Arrow plumbing
# --------------------------------------------------------------------------------------------

def _to_arrow(values: pd.Series) -> pa.LargeStringArray:
    """The Series as one contiguous Arrow large_string array (nulls kept)."""
    # Numbers (an ID typed into a spreadsheet cell as a number) are read as their text.
    if not isinstance(values.dtype, pd.StringDtype) and pd.api.types.infer_dtype(
            values, skipna=True) not in ("string", "empty"):
        values = values.astype("str")
    array = pa.array(values, type=pa.large_string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _offsets_and_bytes(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """Value offsets (len + 1) and the whole data buffer of a large_string array."""
    _, offset_buffer, data_buffer = array.buffers()
    start = array.offset
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[start:start + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else \
        np.empty(0, dtype=np.uint8)
    return offsets, data


def _rows_with_other_bytes(array: pa.LargeStringArray, allowed: bytes) -> np.ndarray:
    """Boolean mask of rows holding any byte outside `allowed` (non-ASCII included)."""
    offsets, data = _offsets_and_bytes(array)
    lookup = np.zeros(256, dtype=bool)
    lookup[np.frombuffer(allowed, dtype=np.uint8)] = True
    outside = np.flatnonzero(~lookup[data[offsets[0]:offsets[-1]]]) + offsets[0]
    mask = np.zeros(len(array), dtype=bool)
    mask[np.searchsorted(offsets, outside, side="right") - 1] = True
    return mask


def _byte_matrix(array: pa.LargeStringArray, width: int) -> np.ndarray:
    """(n, width) uint8 view of an array whose values all have `width` bytes, no nulls."""
    if len(array) == 0:
        return np.empty((0, width), dtype=np.uint8)
    offsets, data = _offsets_and_bytes(array)
    return data[offsets[0]:offsets[-1]].reshape(-1, width)


def _strings_from_matrix(matrix: np.ndarray) -> pa.LargeStringArray:
    """One ASCII string per row of a uint8 matrix."""
    rows, width = matrix.shape
    offsets = np.arange(0, rows * width + 1, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix).tobytes()))


def _scatter(values: pa.Array, positions: np.ndarray, n: int) -> pa.Array:
    """An array of length n with `values` at `positions` and nulls elsewhere."""
    index = np.zeros(n, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    index[positions] = np.arange(len(positions))
    present[positions] = True
    return pc.take(values, pa.array(index, mask=~present))


def _clean_rows(array: pa.LargeStringArray, dirty: np.ndarray, upper: bool) -> pa.LargeStringArray:
    """NFKC (full-width to ASCII), separators removed and optionally upper case, on the
    `dirty` rows only."""
    if not dirty.any():
        return array
    subset = pc.utf8_normalize(array.filter(pa.array(dirty)), "NFKC")
    subset = pc.replace_substring_regex(subset, _SEPARATORS_RE, "")
    if upper:
        subset = pc.utf8_upper(subset)
    return pc.replace_with_mask(array, pa.array(dirty), subset.cast(pa.large_string()))


def _lengths(array: pa.LargeStringArray) -> np.ndarray:
    """Byte length of each value, -1 for nulls."""
    return pc.fill_null(pc.binary_length(array), -1).to_numpy(zero_copy_only=False)


def _fixed_width_rows(array: pa.LargeStringArray, lengths: np.ndarray, width: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(positions, matrix) of the rows whose value has exactly `width` bytes."""
    positions = np.flatnonzero(lengths == width)
    return positions, _byte_matrix(array.take(pa.array(positions)), width)


def _concat(left, right, separator: str = "") -> pa.Array:
    """Element-wise left + separator + right on strings (scalars broadcast)."""
    def large(value):
        return pa.scalar(value, pa.large_string()) if isinstance(value, str) \
            else value.cast(pa.large_string())
    return pc.binary_join_element_wise(large(left), large(right), large(separator))


def _weighted_sum(values: np.ndarray, weights: Iterable[int]) -> np.ndarray:
    """Row sums of values * weights; a column loop avoids an (n, k) int64 temporary."""
    total = np.zeros(values.shape[0], dtype=np.int64)
    for column, weight in enumerate(weights):
        total += values[:, column].astype(np.int64) * weight
    return total


def _digits_value(digits: np.ndarray) -> np.ndarray:
    """Integer value of each row of an ASCII-digit matrix."""
    return _weighted_sum(digits - ord("0"), 10 ** np.arange(digits.shape[1] - 1, -1, -1))


def _is_digit(matrix: np.ndarray) -> np.ndarray:
    return (matrix >= ord("0")) & (matrix <= ord("9"))


def _flag(values: np.ndarray, null: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values.astype(bool), null.copy())


def _str_series(array: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(array, dtype="str"), index=index)


# --------------------------------------------------------------------------------------------
# GB 11643 resident identity numbers
# --------------------------------------------------------------------------------------------

_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_EARLIEST_BIRTH_YEAR = 1880
# Residence permits of Hong Kong, Macao and Taiwan residents (2018) use these prefixes.
_PERMIT_AREA_CODES = ("810000", "820000", "830000")
# How a spreadsheet's General format shows a long number: 1.50102E+17 (maybe lower case).
_SCIENTIFIC_RE = r"^[0-9](\.[0-9]+)?E\+?[0-9]+$"


@cache
def known_area_codes() -> np.ndarray:
    """Boolean lookup of size 1,000,000: True at each 6-digit code valid as an ID prefix.

    Every county- and prefecture-level code listed in any GB/T 2260 revision since 1980 or in
    the current list (`data/area_codes.csv`): an ID keeps the code of where it was first
    issued, even after that division was merged or renamed. Province-level codes (xx0000) are
    not issued, except the prefixes of Hong Kong, Macao and Taiwan residence permits.
    """
    lookup = np.zeros(1_000_000, dtype=bool)
    with AREA_CODES_CSV.open(encoding="utf-8") as handle:
        codes = [int(row["code"]) for row in csv.DictReader(handle)
                 if not row["code"].endswith("0000")]
    lookup[codes] = True
    lookup[[int(code) for code in _PERMIT_AREA_CODES]] = True
    return lookup


def _gb11643_check_bytes(first17: np.ndarray) -> np.ndarray:
    """Check character (ASCII code) of each row of an (n, 17) ASCII-digit matrix."""
    return _GB11643_CHECK[_weighted_sum(first17 - ord("0"), _GB11643_WEIGHTS) % 11]


def gb11643_check_char(first17: str) -> str:
    """Check character of a GB 11643 number from its first 17 digits ('0'-'9' or 'X')."""
    raw = first17.encode("ascii", errors="replace") if isinstance(first17, str) else b""
    matrix = np.frombuffer(raw, dtype=np.uint8).reshape(1, -1)
    if matrix.shape[1] != 17 or not _is_digit(matrix).all():
        raise ValueError("GB 11643 check needs exactly 17 ASCII digits")
    return chr(_gb11643_check_bytes(matrix)[0])


def _birth_dates(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[D] birth dates, real-calendar-date mask) of an (n, 18) ID matrix."""
    year = _digits_value(ids[:, 6:10])
    month = _digits_value(ids[:, 10:12])
    day = _digits_value(ids[:, 12:14])
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[
        np.clip(month, 0, 12)] + ((month == 2) & leap)
    real = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    months = np.where(real, (year - 1970) * 12 + month - 1, 0)
    born = months.astype("datetime64[M]").astype("datetime64[D]") + np.where(real, day - 1, 0)
    return np.where(real, born, np.datetime64("NaT")), real


def normalize_id_number(values: pd.Series, today: date | None = None) -> pd.DataFrame:
    """Normalise resident ID numbers and check them.

    Cleaning: NFKC (full-width digits and U+3000), spaces, dashes and apostrophes removed,
    x upper-cased; a legacy 15-digit number becomes 18 digits ('19' century, new check
    character); 17 digits whose computed check character is X become that number with its X
    (a spreadsheet drops a trailing X; any other lost check character cannot be told apart
    from a truncated number).

    Columns:
    - `id_number`: 18 characters when the cleaned value has the GB 11643 shape, else null;
    - `id_format_ok`: that shape was reached;
    - `id_checksum_ok`: the check character matches;
    - `id_birth_ok`: a real calendar date, from 1880 up to `today` (default: today);
    - `id_area_ok`: the 6-digit area code is a known division (`known_area_codes`);
    - `id_valid`: all four;
    - `id_upgraded_from_15`, `id_x_restored`: how the number was reached;
    - `id_mangled_by_spreadsheet`: scientific notation (1.50102E+17), or 18 digits ending in
      000 that fail the check (a spreadsheet keeps 15 significant digits): unrecoverable, so
      `id_number` is null. A real number ending in 000 passes the check and is kept; a
      mangled one passes it by chance 1 time in 11 and cannot be caught.
    """
    n = len(values)
    array = _to_arrow(values)
    null = np.asarray(array.is_null())
    array = _clean_rows(array, _rows_with_other_bytes(array, b"0123456789X"), upper=True)
    lengths = _lengths(array)

    ids = np.full((n, 18), ord("0"), dtype=np.uint8)  # digits everywhere keep lookups in range
    format_ok = np.zeros(n, dtype=bool)
    upgraded = np.zeros(n, dtype=bool)
    restored = np.zeros(n, dtype=bool)

    rows, matrix = _fixed_width_rows(array, lengths, 18)
    shaped = _is_digit(matrix[:, :17]).all(axis=1) & (
        _is_digit(matrix[:, 17]) | (matrix[:, 17] == ord("X")))
    ids[rows[shaped]] = matrix[shaped]
    format_ok[rows[shaped]] = True

    rows, matrix = _fixed_width_rows(array, lengths, 15)
    rows, matrix = rows[_is_digit(matrix).all(axis=1)], matrix[_is_digit(matrix).all(axis=1)]
    ids[rows, :6] = matrix[:, :6]
    ids[rows, 6:8] = np.frombuffer(b"19", dtype=np.uint8)
    ids[rows, 8:17] = matrix[:, 6:]
    ids[rows, 17] = _gb11643_check_bytes(ids[rows, :17])
    format_ok[rows] = upgraded[rows] = True

    rows, matrix = _fixed_width_rows(array, lengths, 17)
    digits = _is_digit(matrix).all(axis=1)
    rows, matrix = rows[digits], matrix[digits]
    lost_x = _gb11643_check_bytes(matrix) == ord("X")
    rows, matrix = rows[lost_x], matrix[lost_x]
    ids[rows, :17] = matrix
    ids[rows, 17] = ord("X")
    format_ok[rows] = restored[rows] = True

    checksum_ok = format_ok & (_gb11643_check_bytes(ids[:, :17]) == ids[:, 17])
    zeroed_tail = format_ok & ~upgraded & ~restored & (ids[:, 15:18] == ord("0")).all(axis=1)
    mangled = zeroed_tail & ~checksum_ok
    unshaped = np.flatnonzero(~format_ok & ~null)
    if len(unshaped):
        mangled[unshaped] = np.asarray(pc.fill_null(pc.match_substring_regex(
            array.take(pa.array(unshaped)), _SCIENTIFIC_RE), False))
    format_ok &= ~mangled
    checksum_ok &= ~mangled

    born, real_date = _birth_dates(ids)
    latest = np.datetime64(today or date.today(), "D")
    birth_ok = format_ok & real_date & (born >= np.datetime64(f"{_EARLIEST_BIRTH_YEAR}-01-01")) \
        & (born <= latest)
    area_ok = format_ok & known_area_codes()[_digits_value(ids[:, :6])]

    good = np.flatnonzero(format_ok)
    id_number = _scatter(_strings_from_matrix(ids[good]), good, n)
    return pd.DataFrame({
        "id_number": _str_series(id_number, values.index),
        "id_format_ok": _flag(format_ok, null),
        "id_checksum_ok": _flag(checksum_ok, null),
        "id_birth_ok": _flag(birth_ok, null),
        "id_area_ok": _flag(area_ok, null),
        "id_valid": _flag(format_ok & checksum_ok & birth_ok & area_ok, null),
        "id_upgraded_from_15": _flag(upgraded, null),
        "id_x_restored": _flag(restored, null),
        "id_mangled_by_spreadsheet": _flag(mangled, null),
    }, index=values.index)


def _normalized_id_matrix(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(positions, (k, 18) matrix) of the values that normalise to an 18-character ID."""
    ids = _to_arrow(normalize_id_number(values)["id_number"])
    lengths = _lengths(ids)
    return _fixed_width_rows(ids, lengths, 18)


def birth_date_from_id(values: pd.Series) -> pd.Series:
    """Birth date (datetime64[s]) encoded in each ID number; NaT where none is readable."""
    rows, matrix = _normalized_id_matrix(values)
    born = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[s]")
    born[rows] = _birth_dates(matrix)[0]
    return pd.Series(born, index=values.index, name="birth_date")


def gender_from_id(values: pd.Series) -> pd.Series:
    """'男' (odd 17th digit) or '女' (even) from each ID number; null where none is readable."""
    rows, matrix = _normalized_id_matrix(values)
    gender = np.full(len(values), None, dtype=object)
    gender[rows] = np.where((matrix[:, 16] - ord("0")) % 2 == 1, "男", "女")
    return pd.Series(gender, index=values.index, name="gender", dtype="str")


# --------------------------------------------------------------------------------------------
# GB 32100 unified social credit codes
# --------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_GB32100_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_BYTES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
# ASCII code -> value in the USCC alphabet (-1 outside it); GB 11714 values (A=10 .. Z=35).
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[_USCC_BYTES] = np.arange(31)
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
_ORG_VALUE[np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = np.arange(36)
_GB11714_CHECK = np.frombuffer(b"0X987654321", dtype=np.uint8)  # by (weighted sum) % 11


def _gb32100_check_bytes(first17_values: np.ndarray) -> np.ndarray:
    """Check character of each row of an (n, 17) matrix of alphabet values."""
    return _USCC_BYTES[(31 - _weighted_sum(first17_values, _GB32100_WEIGHTS) % 31) % 31]


def gb32100_check_char(first17: str) -> str:
    """Check character of a GB 32100 code from its first 17 characters."""
    raw = first17.encode("ascii", errors="replace") if isinstance(first17, str) else b""
    codes = _USCC_VALUE[np.frombuffer(raw, dtype=np.uint8)].reshape(1, -1)
    if codes.shape[1] != 17 or (codes < 0).any():
        raise ValueError("GB 32100 check needs 17 characters of the USCC alphabet")
    return chr(_gb32100_check_bytes(codes)[0])


def normalize_uscc(values: pd.Series) -> pd.DataFrame:
    """Normalise unified social credit codes (NFKC, separators removed, upper case).

    Columns: `uscc` (18 characters of the alphabet, else null), `uscc_format_ok`,
    `uscc_checksum_ok` (GB 32100 mod 31), `uscc_org_code_ok` (characters 9-17 form a GB 11714
    organisation code with its own mod 11 check: a separate flag, because codes issued in
    some pilot regions before the standard do not carry one and are still legal).
    """
    n = len(values)
    array = _to_arrow(values)
    null = np.asarray(array.is_null())
    array = _clean_rows(array, _rows_with_other_bytes(array, USCC_ALPHABET.encode()), upper=True)
    rows, matrix = _fixed_width_rows(array, _lengths(array), 18)
    codes = _USCC_VALUE[matrix]
    shaped = (codes >= 0).all(axis=1)
    rows, matrix, codes = rows[shaped], matrix[shaped], codes[shaped]

    format_ok = np.zeros(n, dtype=bool)
    checksum_ok = np.zeros(n, dtype=bool)
    org_ok = np.zeros(n, dtype=bool)
    format_ok[rows] = True
    checksum_ok[rows] = _gb32100_check_bytes(codes[:, :17]) == matrix[:, 17]
    org_sum = _weighted_sum(_ORG_VALUE[matrix[:, 8:16]], _GB11714_WEIGHTS)
    org_ok[rows] = _GB11714_CHECK[org_sum % 11] == matrix[:, 16]
    return pd.DataFrame({
        "uscc": _str_series(_scatter(_strings_from_matrix(matrix), rows, n), values.index),
        "uscc_format_ok": _flag(format_ok, null),
        "uscc_checksum_ok": _flag(checksum_ok, null),
        "uscc_org_code_ok": _flag(org_ok, null),
    }, index=values.index)


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

# Three-digit mobile prefixes allocated to subscribers (data-only and IoT blocks excluded).
MOBILE_PREFIXES = tuple(
    [*range(130, 140), 145, 147, 149, *range(150, 154), *range(155, 160), 162, 165, 166, 167,
     *range(170, 179), *range(180, 190), *range(190, 194), *range(195, 200)])
_MOBILE_PREFIX_OK = np.zeros(1000, dtype=bool)
_MOBILE_PREFIX_OK[list(MOBILE_PREFIXES)] = True
# An international prefix, with the trunk 0 of a landline put back where it was dropped.
_INTERNATIONAL_RE = r"^(\+|00)86"
# Area codes: 010 and 02x have 3 digits and 8-digit locals; the rest 4 digits and 7-8.
_LANDLINE_RE = r"^(?P<area>0(?:10|2[0-9])|0[3-9][0-9]{2})(?P<local>[2-9][0-9]{6,7})$"
_LOCAL_RE = r"^[2-9][0-9]{6,7}$"


def _international_removed(array: pa.LargeStringArray) -> pa.LargeStringArray:
    """+86 / 0086 removed; a landline number given internationally gets its trunk 0 back."""
    international = np.asarray(pc.fill_null(pc.match_substring_regex(array, _INTERNATIONAL_RE),
                                            False))
    if not international.any():
        return array
    national = pc.replace_substring_regex(array.filter(pa.array(international)),
                                          _INTERNATIONAL_RE, "")
    landline = pc.invert(pc.starts_with(national, "1"))
    national = pc.if_else(landline, _concat("0", national), national)
    return pc.replace_with_mask(array, pa.array(international), national)


def normalize_phone(values: pd.Series, default_area_code: str | None = None) -> pd.DataFrame:
    """Normalise phone numbers: mobiles to 11 digits, landlines to 'area-local'.

    Accepts +86 / 0086 / 86- prefixes, spaces, dashes, dots, brackets and full-width forms.
    A mobile is 11 digits with an allocated prefix (`MOBILE_PREFIXES`); a landline is an area
    code (010, 02x, or 0xxx) and a 7-8 digit local number not starting with 0 or 1; a bare
    7-8 digit local number gets `default_area_code` (`phone_area_assumed`): the city's, from
    the sources file's `city.area_codes`; without one it stays a bare local number (a valid
    landline of an unknown area, which matches only the same bare number).
    Columns: `phone` (canonical or null), `phone_kind` ('mobile', 'landline' or null),
    `phone_ok`, `phone_area_assumed`.
    """
    n = len(values)
    array = _to_arrow(values)
    null = np.asarray(array.is_null())
    # 0086 before a number is all digits, yet an international prefix to remove.
    dirty = _rows_with_other_bytes(array, b"0123456789") | np.asarray(
        pc.fill_null(pc.starts_with(array, "0086"), False))
    if dirty.any():
        subset = pc.utf8_normalize(array.filter(pa.array(dirty)), "NFKC")
        subset = _international_removed(pc.replace_substring_regex(
            subset, r"[\s\-'()（）.]", "").cast(pa.large_string()))
        array = pc.replace_with_mask(array, pa.array(dirty), subset)
    lengths = _lengths(array)

    # A bare 86 before a mobile (8613812345678): 13 digits starting 861.
    rows, matrix = _fixed_width_rows(array, lengths, 13)
    with_86 = _is_digit(matrix).all(axis=1) & (matrix[:, :3] == np.frombuffer(
        b"861", dtype=np.uint8)).all(axis=1)
    mobile_rows, mobile = rows[with_86], matrix[with_86, 2:]
    rows, matrix = _fixed_width_rows(array, lengths, 11)
    plain = _is_digit(matrix).all(axis=1) & (matrix[:, 0] == ord("1"))
    mobile_rows = np.concatenate([mobile_rows, rows[plain]])
    mobile = np.concatenate([mobile, matrix[plain]])
    allocated = _MOBILE_PREFIX_OK[_digits_value(mobile[:, :3])]
    mobile_rows, mobile = mobile_rows[allocated], mobile[allocated]

    phone = _scatter(_strings_from_matrix(mobile), mobile_rows, n)
    kind = np.full(n, None, dtype=object)
    kind[mobile_rows] = "mobile"

    is_mobile = _scatter_mask(mobile_rows, n)
    local_only = ((lengths == 7) | (lengths == 8)) & ~is_mobile
    candidates = np.flatnonzero(~null & ~is_mobile & (lengths >= 7))
    if len(candidates):
        texts = array.take(pa.array(candidates))
        if default_area_code is not None:
            texts = pc.if_else(pa.array(local_only[candidates]),
                               _concat(default_area_code, texts), texts)
        parts = pc.extract_regex(texts, _LANDLINE_RE)
        matched = np.asarray(parts.is_valid())
        landline = _concat(parts.field(0), parts.field(1), "-")
        if default_area_code is None:
            bare = np.asarray(pc.match_substring_regex(texts, _LOCAL_RE)) & local_only[candidates]
            landline = pc.if_else(pa.array(bare), texts.cast(pa.large_string()), landline)
            matched |= bare
        phone = pc.if_else(pa.array(_scatter_mask(candidates[matched], n)),
                           _scatter(landline.filter(pa.array(matched)), candidates[matched], n),
                           phone)
        kind[candidates[matched]] = "landline"
    landline_rows = kind == "landline"
    return pd.DataFrame({
        "phone": _str_series(phone, values.index),
        "phone_kind": pd.Series(kind, index=values.index, dtype="str"),
        "phone_ok": _flag(kind != None, null),  # noqa: E711
        "phone_area_assumed": _flag(local_only & landline_rows & (default_area_code is not None),
                                    null),
    }, index=values.index)


def _scatter_mask(positions: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return mask


# --------------------------------------------------------------------------------------------
# Statistical division codes
# --------------------------------------------------------------------------------------------

def normalize_division_code(values: pd.Series, reference_codes: Iterable[str]) -> pd.DataFrame:
    """Normalise 12-digit statistical division codes and look them up.

    Columns: `division_code` (12 digits, else null), `division_code_format_ok`,
    `division_code_known` (in `reference_codes`, e.g. the `code` column of divisions.csv).
    """
    n = len(values)
    array = _to_arrow(values)
    null = np.asarray(array.is_null())
    array = _clean_rows(array, _rows_with_other_bytes(array, b"0123456789"), upper=False)
    rows, matrix = _fixed_width_rows(array, _lengths(array), 12)
    digits = _is_digit(matrix).all(axis=1)
    rows, matrix = rows[digits], matrix[digits]
    reference = np.unique(pd.to_numeric(pd.Series(list(reference_codes), dtype="str"),
                                        errors="coerce").dropna().astype(np.int64))
    format_ok = _scatter_mask(rows, n)
    known = np.zeros(n, dtype=bool)
    known[rows] = np.isin(_digits_value(matrix), reference, assume_unique=False)
    return pd.DataFrame({
        "division_code": _str_series(_scatter(_strings_from_matrix(matrix), rows, n),
                                     values.index),
        "division_code_format_ok": _flag(format_ok, null),
        "division_code_known": _flag(known, null),
    }, index=values.index)
