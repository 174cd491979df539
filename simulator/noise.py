"""The dirt that real source systems put into identifiers, names and files.

`NoiseRates` holds one rate per kind of noise, in one place so that a run can be configured
(and a test can switch noise off). Record-level kinds are applied to values by `Noiser.apply`;
file- and line-level kinds are decisions each emitter makes itself with `Noiser.chosen` and
reports with `Noiser.record`, so that every change lands in one noise log.

Rates of record-level kinds are probabilities per *eligible* value: each kind has a documented
eligible set (for example `lowercase_x` only touches values ending in X), and a value outside
it is never changed by that kind. The log lists only changes that actually changed a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from numbers import Real

import numpy as np
import pandas as pd

from simulator import identity


@dataclass(frozen=True)
class NoiseRates:
    """Rates (probabilities in [0, 1]) of every kind of noise the simulator adds."""

    # ---- record level: applied by Noiser.apply to eligible non-null values ----
    full_width: float = 0.03
    """ASCII digits, letters, brackets and spaces typed as full-width forms (１５０１０２,
    （）, U+3000). Eligible: values containing any of them (IDs, phones, unit names)."""
    traditional: float = 0.02
    """Simplified Chinese converted to traditional (opencc s2t), as typed on a traditional
    input method or copied from a traditional page. Eligible: values that s2t changes."""
    mojibake: float = 0.005
    """UTF-8 bytes decoded as GBK (呼和浩特 -> 鍛煎拰娴╃壒). Recoverable by encoding back as
    GBK. Eligible: non-ASCII values whose UTF-8 bytes decode as GBK and round-trip exactly."""
    mojibake_lossy: float = 0.002
    """Encoding damage that lost bytes: GBK bytes read as UTF-8 with U+FFFD for undecodable
    bytes, then possibly stored in a GBK column as '?' or re-read as 锟斤拷. Not recoverable.
    Eligible: non-ASCII values that GBK can encode and whose GBK bytes are not valid UTF-8
    (nearly all Chinese text)."""
    spaces: float = 0.02
    """Spaces inside a value: 6-8-4 groups in IDs, 3-4-4 in phones, a half- or full-width
    space between surname and given name, or a stray leading/trailing space. Eligible:
    values of at least two characters."""
    lowercase_x: float = 0.25
    """Trailing check character X typed as x. Eligible: values ending in X."""
    legacy15: float = 0.01
    """18-digit ID number given in its 15-digit pre-1999 form (no century, no check
    character). Eligible: canonical 18-character ID numbers of people born 1900-1999."""
    missing: float = 0.03
    """Value not filled in (becomes null). Eligible: every non-null value."""
    phone_format: float = 0.10
    """Phone written another way: +86 prefix, 139-0471-2233, 139 0471 2233, (0471)6961234,
    area code dropped. Eligible: clean 11-digit mobiles and 0471-xxxxxxx landlines."""
    homophone: float = 0.05
    """One given-name character replaced by a homophone (李秀英 -> 李秀瑛), as a 12345 operator
    types from speech. Eligible: Chinese names with a character that has a homophone."""
    pinyin_annotation: float = 0.002
    """Pinyin with tone marks inserted after one character (強(qiáng)化), as web forms copied
    from online dictionaries carry. Eligible: values with a Chinese character."""
    spreadsheet_number: float = 0.02
    """ID number typed into a spreadsheet cell as a number: shown as 1.50102E+17 or with the
    digits past the 15th zeroed (for example 150102196503120000). Eligible: all-digit 18-character IDs
    (and 15-digit ones, which only take the 1.50102E+14 shape)."""
    spreadsheet_lost_x: float = 0.20
    """Trailing X of an ID number lost in a spreadsheet. Eligible: 17 digits + X/x."""
    spreadsheet_apostrophe: float = 0.10
    """Leading apostrophe kept from forcing a spreadsheet cell to text ('150102...).
    Eligible: digit strings of at least 6 characters (IDs, phones), X/x allowed."""
    typo_digit: float = 0.005
    """One digit mistyped (a keypad neighbour or a sound-alike) or two neighbouring digits
    swapped. Eligible: values with at least two ASCII digits."""

    # ---- file and line level: decided by the emitters with Noiser.chosen ----
    broken_line: float = 0.0005
    """Grid export line truncated or otherwise not valid JSON (per line)."""
    missing_field: float = 0.002
    """Grid export line lacking one of the contract's required fields (per line)."""
    extra_field: float = 0.01
    """Grid app vendor adds a field the contract does not list (per line)."""
    reexport_day: float = 0.05
    """A grid day exported again later with corrections (per day)."""
    gzip_file: float = 0.30
    """Grid export file delivered gzipped (per file)."""
    gbk_csv: float = 0.20
    """Roster delivered as a GBK/GB18030 CSV instead of a workbook (per file)."""
    corrupt_workbook: float = 0.01
    """Roster workbook that cannot be opened (per file)."""
    title_rows: float = 0.50
    """Roster sheet with title/notes rows above the header (per sheet)."""
    header_variant: float = 0.50
    """Roster column headed by a synonym of the usual header (per column)."""
    stale_operator_code: float = 0.02
    """Hotline operator picks an outdated or neighbouring community code (per ticket)."""
    anonymous: float = 0.08
    """Hotline caller stays anonymous: no caller data at all (per ticket)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(f"noise rate {f.name!r} must be a number, got {value!r}")
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"noise rate {f.name!r} must be in [0, 1], got {value!r}")

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float]) -> NoiseRates:
        """Defaults overridden by `mapping`; unknown kinds raise ValueError."""
        unknown = sorted(set(mapping) - set(cls.kinds()))
        if unknown:
            raise ValueError(f"unknown noise kind(s) {unknown}; known kinds: {list(cls.kinds())}")
        return cls(**dict(mapping))

    @classmethod
    def zero(cls) -> NoiseRates:
        """No noise at all: clean output, for tests and reference runs."""
        return cls(**dict.fromkeys(cls.kinds(), 0.0))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# Noise profiles: how careless a city's systems and operators are, independent of the city
# (any profile runs with any city). `default` is the simulator's usual noise; `heavy` doubles
# the typing and format damage that hurts linkage most (benchmarks run both to see that
# accuracy does not depend on a kind noise).
NOISE_PROFILES: dict[str, dict[str, float]] = {
    "default": {},
    "heavy": {"full_width": 0.06, "traditional": 0.04, "spaces": 0.04, "missing": 0.06,
              "phone_format": 0.20, "homophone": 0.10, "legacy15": 0.02,
              "spreadsheet_number": 0.04, "mojibake": 0.01},
    "none": dict.fromkeys(NoiseRates.kinds(), 0.0),
}


def noise_profile(name: str) -> NoiseRates:
    """The rates of the noise profile `name` (NOISE_PROFILES)."""
    if name not in NOISE_PROFILES:
        raise KeyError(f"no noise profile {name!r}; known: {sorted(NOISE_PROFILES)}")
    return NoiseRates.from_mapping(NOISE_PROFILES[name])


# Record-level kinds in the order Noiser.apply applies them: damage done at entry first,
# formatting next, encoding damage of the stored text last.
RECORD_KINDS = (
    "missing", "legacy15", "spreadsheet_number", "spreadsheet_lost_x", "lowercase_x",
    "typo_digit", "homophone", "phone_format", "traditional", "pinyin_annotation", "spaces",
    "full_width", "spreadsheet_apostrophe", "mojibake", "mojibake_lossy",
)
FILE_KINDS = tuple(k for k in NoiseRates.kinds() if k not in RECORD_KINDS)

LOG_COLUMNS = ["source", "source_record_id", "field", "kind"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_NAME = re.compile(r"^[\u3400-\u9fff·]{2,}$")
_FULL_WIDTH_ELIGIBLE = re.compile(r"[0-9A-Za-z() ]")
_FULL_WIDTH_TABLE = {c: c + 0xFEE0 for c in b"0123456789()"}
_FULL_WIDTH_TABLE |= {c: c + 0xFEE0 for c in range(ord("A"), ord("Z") + 1)}
_FULL_WIDTH_TABLE |= {c: c + 0xFEE0 for c in range(ord("a"), ord("z") + 1)}
_FULL_WIDTH_TABLE[ord(" ")] = 0x3000
_ID18 = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_MOBILE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_LANDLINE = re.compile(r"^(0\d{2,3})-(\d{7,8})$", re.ASCII)
_DIGITISH = re.compile(r"^[0-9Xx]{6,}$", re.ASCII)
_DIGIT = re.compile(r"\d", re.ASCII)
# Digits mistaken for each other: keypad neighbours and sound-alikes (6 liù / 9 jiǔ, 1 yāo / 7).
_CONFUSABLE = {"0": "689", "1": "247", "2": "135", "3": "268", "4": "157", "5": "246",
               "6": "359", "7": "148", "8": "0579", "9": "068"}


@cache
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


def _full_width(value: str, rng: np.random.Generator) -> str | None:
    if not _FULL_WIDTH_ELIGIBLE.search(value):
        return None
    return value.translate(_FULL_WIDTH_TABLE)


def _traditional(value: str, rng: np.random.Generator) -> str | None:
    converted = _s2t().convert(value)
    return converted if converted != value else None


def recoverable_mojibake(value: str) -> str | None:
    """`value`'s UTF-8 bytes decoded as GBK, if encoding that back as GBK restores the bytes."""
    raw = value.encode("utf-8")
    try:
        garbled = raw.decode("gbk")
        restored = garbled.encode("gbk")
    except UnicodeError:
        return None
    return garbled if restored == raw and garbled != value else None


def _mojibake(value: str, rng: np.random.Generator) -> str | None:
    return None if value.isascii() else recoverable_mojibake(value)


def _mojibake_lossy(value: str, rng: np.random.Generator) -> str | None:
    if value.isascii():
        return None
    try:
        raw = value.encode("gbk")
    except UnicodeError:
        return None
    damaged = raw.decode("utf-8", errors="replace")
    if "\ufffd" not in damaged:
        return None
    shape = rng.random()
    if shape < 0.3:  # stored into a GBK column: U+FFFD has no GBK code and becomes '?'
        damaged = damaged.encode("gbk", errors="replace").decode("gbk")
    elif shape < 0.5:  # that text's UTF-8 bytes read as GBK again: the famous 锟斤拷
        damaged = damaged.encode("utf-8").decode("gbk", errors="replace")
    return damaged


def _spaces(value: str, rng: np.random.Generator) -> str | None:
    if len(value) < 2:
        return None
    shape = rng.random()
    if shape < 0.15:
        return value + " " if rng.random() < 0.7 else " " + value
    if len(value) == 18 and _ID18.fullmatch(value.upper()) and shape < 0.6:
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    if _MOBILE.fullmatch(value) and shape < 0.6:
        return f"{value[:3]} {value[3:7]} {value[7:]}"
    if _NAME.fullmatch(value) and "·" not in value and shape < 0.8:
        # Names are padded to line up two- and three-character names (王　伟, 李 秀英).
        gap = (" ", "\u3000", "  ")[int(rng.integers(0, 3))]
        return value[0] + gap + value[1:]
    pos = int(rng.integers(1, len(value)))
    return value[:pos] + " " + value[pos:]


def _lowercase_x(value: str, rng: np.random.Generator) -> str | None:
    return value[:-1] + "x" if value.endswith("X") else None


def _legacy15(value: str, rng: np.random.Generator) -> str | None:
    canonical = (_ID18.fullmatch(value) and value[6:8] == "19"
                 and identity.gb11643_check(value[:17]) == value[17])
    return identity.to_legacy15(value) if canonical else None


_MOBILE_FORMATS = ("+86{0}", "+86 {0}", "{1}-{2}-{3}", "{1} {2} {3}", "86-{0}")
_LANDLINE_FORMATS = ("({0}){1}", "{0} {1}", "{0}{1}", "{1}", "({0}) {1}")


def _phone_format(value: str, rng: np.random.Generator) -> str | None:
    if _MOBILE.fullmatch(value):
        template = _MOBILE_FORMATS[int(rng.integers(0, len(_MOBILE_FORMATS)))]
        return template.format(value, value[:3], value[3:7], value[7:])
    landline = _LANDLINE.fullmatch(value)
    if landline:
        template = _LANDLINE_FORMATS[int(rng.integers(0, len(_LANDLINE_FORMATS)))]
        return template.format(*landline.groups())
    return None


def _homophone(value: str, rng: np.random.Generator) -> str | None:
    if not _NAME.fullmatch(value) or not identity.homophone_positions(value):
        return None
    return identity.homophone_variant(value, rng)


def _pinyin_annotation(value: str, rng: np.random.Generator) -> str | None:
    from pypinyin import Style, pinyin

    positions = [m.start() for m in _CJK.finditer(value)]
    if not positions:
        return None
    pos = positions[int(rng.integers(0, len(positions)))]
    reading = pinyin(value[pos], style=Style.TONE)[0][0]
    if reading == value[pos]:
        return None
    return f"{value[:pos + 1]}({reading}){value[pos + 1:]}"


def excel_general(number_text: str) -> str:
    """How a spreadsheet's General format shows a long digit string: 1.50102E+17."""
    mantissa, exponent = f"{float(number_text):.5E}".split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E+{int(exponent):02d}"


def _spreadsheet_number(value: str, rng: np.random.Generator) -> str | None:
    if not value.isascii() or not value.isdigit() or len(value) not in (15, 18):
        return None
    if len(value) == 15 or rng.random() < 0.6:
        return excel_general(value)
    return value[:15] + "000"  # a spreadsheet keeps 15 significant digits


def _spreadsheet_lost_x(value: str, rng: np.random.Generator) -> str | None:
    if len(value) == 18 and value[-1] in "Xx" and value[:17].isascii() and value[:17].isdigit():
        return value[:-1]
    return None


def _spreadsheet_apostrophe(value: str, rng: np.random.Generator) -> str | None:
    return "'" + value if _DIGITISH.fullmatch(value) else None


def _typo_digit(value: str, rng: np.random.Generator) -> str | None:
    positions = [m.start() for m in _DIGIT.finditer(value) if value[m.start()].isascii()]
    if len(positions) < 2:
        return None
    # The first digit is rarely wrong: it is said and heard with the most attention.
    index = int(rng.integers(1, len(positions)))
    pos = positions[index]
    chars = list(value)
    neighbour = positions[index + 1] if index + 1 < len(positions) else pos
    if rng.random() < 0.4 and chars[neighbour] != chars[pos]:
        chars[neighbour], chars[pos] = chars[pos], chars[neighbour]
    else:
        options = _CONFUSABLE[chars[pos]]
        chars[pos] = options[int(rng.integers(0, len(options)))]
    return "".join(chars)


_TRANSFORMS: dict[str, Callable[[str, np.random.Generator], str | None]] = {
    "full_width": _full_width, "traditional": _traditional, "mojibake": _mojibake,
    "mojibake_lossy": _mojibake_lossy, "spaces": _spaces, "lowercase_x": _lowercase_x,
    "legacy15": _legacy15, "phone_format": _phone_format,
    "homophone": _homophone, "pinyin_annotation": _pinyin_annotation,
    "spreadsheet_number": _spreadsheet_number, "spreadsheet_lost_x": _spreadsheet_lost_x,
    "spreadsheet_apostrophe": _spreadsheet_apostrophe, "typo_digit": _typo_digit,
}
assert set(_TRANSFORMS) | {"missing"} == set(RECORD_KINDS)


def _is_text(values: np.ndarray) -> np.ndarray:
    """Mask of the elements that are `str` (the only values noise touches)."""
    not_null = ~pd.isna(values)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return not_null
    return np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))


# Cheap necessary conditions of eligibility, vectorised over the rows a kind picked, so that
# kinds with narrow eligible sets (lowercase_x) skip the per-row transform for most rows.
_PREFILTERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "lowercase_x": lambda s: s.str.endswith("X"),
    "spreadsheet_lost_x": lambda s: s.str.fullmatch(r"[0-9]{17}[Xx]"),
    "legacy15": lambda s: s.str.fullmatch(r"[0-9]{6}19[0-9]{9}[0-9X]"),
    "spreadsheet_number": lambda s: s.str.fullmatch(r"[0-9]{15}|[0-9]{18}"),
    "spreadsheet_apostrophe": lambda s: s.str.fullmatch(r"[0-9Xx]{6,}"),
    "phone_format": lambda s: s.str.fullmatch(r"1[3-9][0-9]{9}|0[0-9]{2,3}-[0-9]{7,8}"),
    "typo_digit": lambda s: s.str.count(r"[0-9]") >= 2,
    "full_width": lambda s: s.str.contains(r"[0-9A-Za-z() ]"),
    "mojibake": lambda s: s.str.contains(r"[^\x00-\x7f]"),
    "mojibake_lossy": lambda s: s.str.contains(r"[^\x00-\x7f]"),
    "spaces": lambda s: s.str.len() >= 2,
}


class Noiser:
    """Applies record-level noise at `rates`, drawing only from `rng`, and logs every change.

    Choosing rows is vectorised (one uniform draw per row and kind); Python runs only over the
    rows a kind picked, so the cost grows with the amount of noise, not with the data.
    """

    def __init__(self, rates: NoiseRates, rng: np.random.Generator) -> None:
        self.rates = rates
        self.rng = rng
        self._log: list[pd.DataFrame] = []

    def chosen(self, rate: float, n: int) -> np.ndarray:
        """Boolean mask of `n` independent draws, each True with probability `rate`."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate!r}")
        return self.rng.random(n) < rate

    def record(self, source: str, keys, field: str | None, kind: str) -> None:
        """Log noise an emitter applied itself (file- and line-level kinds)."""
        if kind not in NoiseRates.kinds():
            raise ValueError(f"unknown noise kind {kind!r}")
        ids = np.asarray(keys, dtype=object).ravel()
        if len(ids):
            self._log.append((source, field, kind, ids))

    def apply(self, source: str, field: str, keys: pd.Series, values: pd.Series,
              kinds: list[str]) -> pd.Series:
        """`values` with each kind in `kinds` applied independently at its rate.

        Kinds run in the fixed order of RECORD_KINDS whatever the order of `kinds`; a kind
        sees the output of the kinds before it. Non-string and null values are never changed.
        Returns a Series on `values`' index (null for `missing`), with `values`' dtype when
        it is a string dtype, else object.
        """
        unknown = [k for k in kinds if k not in RECORD_KINDS]
        if unknown:
            file_level = [k for k in unknown if k in FILE_KINDS]
            if file_level:
                raise ValueError(f"{file_level} are file-level kinds: decide them with "
                                 "Noiser.chosen and log them with Noiser.record")
            raise ValueError(f"unknown noise kind(s) {unknown}; record-level kinds: "
                             f"{list(RECORD_KINDS)}")
        if len(keys) != len(values):
            raise ValueError("keys and values must have the same length")
        # np.array(..., copy) because pandas 3 may return a view even with copy=True
        current = np.array(values.to_numpy(dtype=object, na_value=None), dtype=object, copy=True)
        key_array = keys.to_numpy(dtype=object)
        is_text = _is_text(current)
        for kind in (k for k in RECORD_KINDS if k in kinds):
            rate = getattr(self.rates, kind)
            picked = np.flatnonzero(is_text & (self.rng.random(len(current)) < rate))
            if kind == "missing":
                current[picked] = None
                is_text[picked] = False
                self.record(source, key_array[picked], field, kind)
                continue
            prefilter = _PREFILTERS.get(kind)
            if prefilter is not None and len(picked):
                picked = picked[prefilter(pd.Series(current[picked], dtype="str")).to_numpy(
                    dtype=bool)]
            transform = _TRANSFORMS[kind]
            changed = []
            for row in picked.tolist():
                before = current[row]
                after = transform(before, self.rng)
                if after is not None and after != before:
                    current[row] = after
                    changed.append(row)
            self.record(source, key_array[changed], field, kind)
        dtype = values.dtype if isinstance(values.dtype, pd.StringDtype) else object
        return pd.Series(current, index=values.index, name=values.name, dtype=dtype)

    def log_frame(self) -> pd.DataFrame:
        """Every logged change: source, source_record_id, field, kind (all strings; field is
        null for noise that concerns a whole line or file)."""
        if not self._log:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in LOG_COLUMNS})
        counts = [len(ids) for *_, ids in self._log]
        frame = pd.DataFrame({
            "source": np.repeat([source for source, *_ in self._log], counts),
            "source_record_id": np.concatenate([ids for *_, ids in self._log]),
            "field": np.repeat(np.array([f for _, f, *_ in self._log], dtype=object), counts),
            "kind": np.repeat([kind for _, _, kind, _ in self._log], counts),
        })
        return frame.astype("str")
