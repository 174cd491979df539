"""Realistic identifiers, names and unit names for a Hohhot-like city, vectorised over numpy.

- Resident ID numbers follow GB 11643-1999 (18 characters, ISO 7064 MOD 11-2 check).
- Unified Social Credit Codes follow GB 32100-2015 (mod 31 check) with a GB 11714
  organisation code inside (mod 11 check).
- Mobile prefixes are the real allocations of the three carriers; landlines are Hohhot's.
- Names follow northern-China surname frequencies and era-typical given names, with
  Mongolian, Hui, Manchu, Daur, Ewenki and Korean naming customs.

Every generator draws from the caller's `np.random.Generator` only, so a seed fixes the output.
Batch functions return numpy arrays of `str`; uniqueness is guaranteed where documented.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd

from simulator.profiles import HOHHOT, CityProfile
from transforms.identifiers import gb11643_check_char as gb11643_check
from transforms.identifiers import gb32100_check_char as gb32100_check

# --------------------------------------------------------------------------------------------
# GB 11643-1999 resident identity numbers
# --------------------------------------------------------------------------------------------

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK_CHARS = "10X98765432"
_ID_CHECK_ASCII = np.frombuffer(_ID_CHECK_CHARS.encode(), dtype=np.uint8)
_ID_RE = re.compile(r"^\d{17}[\dX]$", re.ASCII)

# County-level division codes (GB/T 2260) seen as birthplaces in a Hohhot population.
AREA_CODES: dict[str, str] = {
    "150102": "内蒙古自治区呼和浩特市新城区",
    "150103": "内蒙古自治区呼和浩特市回民区",
    "150104": "内蒙古自治区呼和浩特市玉泉区",
    "150105": "内蒙古自治区呼和浩特市赛罕区",
    "150121": "内蒙古自治区呼和浩特市土默特左旗",
    "150122": "内蒙古自治区呼和浩特市托克托县",
    "150123": "内蒙古自治区呼和浩特市和林格尔县",
    "150124": "内蒙古自治区呼和浩特市清水河县",
    "150125": "内蒙古自治区呼和浩特市武川县",
    "150203": "内蒙古自治区包头市昆都仑区",
    "150206": "内蒙古自治区包头市青山区",
    "150402": "内蒙古自治区赤峰市红山区",
    "150502": "内蒙古自治区通辽市科尔沁区",
    "150602": "内蒙古自治区鄂尔多斯市东胜区",
    "150702": "内蒙古自治区呼伦贝尔市海拉尔区",
    "150802": "内蒙古自治区巴彦淖尔市临河区",
    "150902": "内蒙古自治区乌兰察布市集宁区",
    "150921": "内蒙古自治区乌兰察布市卓资县",
    "150926": "内蒙古自治区乌兰察布市察哈尔右翼前旗",
    "152502": "内蒙古自治区锡林郭勒盟锡林浩特市",
    "130102": "河北省石家庄市长安区",
    "130702": "河北省张家口市桥东区",
    "130722": "河北省张家口市张北县",
    "140105": "山西省太原市小店区",
    "140213": "山西省大同市平城区",
    "140602": "山西省朔州市朔城区",
    "140902": "山西省忻州市忻府区",
    "140932": "山西省忻州市偏关县",
    "610102": "陕西省西安市新城区",
    "610802": "陕西省榆林市榆阳区",
    "610824": "陕西省榆林市靖边县",
    "230102": "黑龙江省哈尔滨市道里区",
    "230602": "黑龙江省大庆市萨尔图区",
}

# Relative weights of birthplaces for residents of Hohhot (most were born in the city or its
# counties; migrants come mainly from the rest of Inner Mongolia, Shanxi, Hebei and Shaanxi).
BIRTHPLACE_WEIGHTS: dict[str, float] = {
    "150102": 14.0, "150103": 11.0, "150104": 9.0, "150105": 16.0, "150121": 6.0,
    "150122": 3.5, "150123": 3.5, "150124": 2.0, "150125": 3.0,
    "150203": 2.0, "150206": 1.2, "150402": 1.5, "150502": 1.2, "150602": 1.5,
    "150702": 0.8, "150802": 1.5, "150902": 2.5, "150921": 1.2, "150926": 1.0, "152502": 1.0,
    "130102": 0.5, "130702": 0.8, "130722": 0.6, "140105": 0.6, "140213": 1.2, "140602": 0.8,
    "140902": 0.8, "140932": 0.6, "610102": 0.4, "610802": 0.8, "610824": 0.5,
    "230102": 0.4, "230602": 0.3,
}


def birthplace_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw `n` birthplace county codes with `BIRTHPLACE_WEIGHTS`."""
    codes = np.array(list(BIRTHPLACE_WEIGHTS))
    weights = np.array(list(BIRTHPLACE_WEIGHTS.values()))
    return rng.choice(codes, size=n, p=weights / weights.sum())


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        pd.Timestamp(year=year, month=month, day=day)
    except ValueError:
        return False
    return True


def is_valid_gb11643(s: str, today: pd.Timestamp | None = None) -> bool:
    """True for a canonical 18-character GB 11643 number (uppercase X, no spaces).

    Checks length, digits, check character, a real calendar birth date on or after
    1800-01-01 and not after `today` (default: the current date).
    """
    if not isinstance(s, str) or not _ID_RE.fullmatch(s):
        return False
    if gb11643_check(s[:17]) != s[17]:
        return False
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if year < 1800 or not _valid_date(year, month, day):
        return False
    today = today if today is not None else pd.Timestamp.today().normalize()
    return pd.Timestamp(year=year, month=month, day=day) <= today


def to_legacy15(id18: str) -> str:
    """The 15-digit form used before 1999: no century digits, no check character."""
    if len(id18) != 18:
        raise ValueError("to_legacy15 needs an 18-character ID number")
    return id18[:6] + id18[8:17]


def _ascii_matrix(values, width: int) -> np.ndarray:
    """Strings as an (n, width) uint8 matrix of their code points (0 past the end).

    Works on numpy's UCS-4 layout directly: much faster than encoding to bytes. Callers
    check the range they need; any character above 255 is mapped to 0.
    """
    codes = np.asarray(values).astype(f"U{width}").view(np.uint32).reshape(-1, width)
    return np.where(codes < 256, codes, 0).astype(np.uint8)


def _matrix_to_str(matrix: np.ndarray) -> np.ndarray:
    """An (n, width) matrix of ASCII codes as an array of `str` (numpy UCS-4 layout)."""
    width = matrix.shape[1]
    return np.ascontiguousarray(matrix, dtype=np.uint32).view(f"U{width}").ravel()


# ASCII of the two decimal digits of 0..99, for building digit strings without division.
_TWO_DIGITS = np.array([[ord("0") + i // 10, ord("0") + i % 10] for i in range(100)],
                       dtype=np.uint8)


def _weighted_sum(values: np.ndarray, weights, offset: int = 0) -> np.ndarray:
    """Row sums of (values - offset) * weights; a column loop avoids an (n, k) int64 copy."""
    total = np.zeros(values.shape[0], dtype=np.int64)
    for column, weight in enumerate(weights):
        total += (values[:, column].astype(np.int64) - offset) * int(weight)
    return total


def _gb11643_check_ascii(ascii17: np.ndarray) -> np.ndarray:
    return _ID_CHECK_ASCII[_weighted_sum(ascii17, _ID_WEIGHTS, ord("0")) % 11]


# Order codes 996-999 are reserved for centenarians and 000 is not issued; a prime number of
# slots per gender lets an affine map give distinct codes without redrawing.
_ORDER_SLOTS = 491


def _ranks_within_groups(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group index, 0-based rank of each element within its group), in input order."""
    n = len(group)
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    starts[1:] = sorted_group[1:] != sorted_group[:-1]
    positions = np.arange(n)
    rank_sorted = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    group_index, rank = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    group_index[order] = np.cumsum(starts) - 1
    rank[order] = rank_sorted
    return group_index, rank


def resident_ids(rng: np.random.Generator, area_codes, birth_dates, female) -> np.ndarray:
    """Unique 18-character ID numbers for people born in `area_codes` on `birth_dates`.

    The 3-digit order code is odd for men and even for women. Numbers are unique within
    the call; raises ValueError if more people share an (area, birth date, gender) than
    the standard has order codes for.
    """
    born = np.asarray(birth_dates, dtype="datetime64[D]")
    is_female = np.asarray(female, dtype=bool)
    n = len(born)
    if not (len(np.asarray(area_codes)) == len(is_female) == n):
        raise ValueError("area_codes, birth_dates and female must have the same length")
    if n == 0:
        return np.array([], dtype="U18")
    if np.isnat(born).any():
        raise ValueError("birth_dates must not contain NaT")
    area = _ascii_matrix(area_codes, 6)
    if ((area < ord("0")) | (area > ord("9"))).any():
        raise ValueError("area codes must be 6 ASCII digits")

    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (born - month_start).astype(np.int64) + 1
    area_int = _weighted_sum(area, 10 ** np.arange(5, -1, -1), ord("0"))
    group = ((area_int * 10_000 + year) * 10_000 + month * 100 + day) * 2 + is_female
    group_index, rank = _ranks_within_groups(group)
    if rank.max() >= _ORDER_SLOTS:
        raise ValueError("too many people share an area, birth date and gender for GB 11643")
    # A random affine map per group spreads its members over distinct order slots.
    n_groups = int(group_index.max()) + 1
    scale = rng.integers(1, _ORDER_SLOTS, n_groups)[group_index]
    shift = rng.integers(0, _ORDER_SLOTS, n_groups)[group_index]
    order = ((scale * rank + shift) % _ORDER_SLOTS) * 2 + np.where(is_female, 2, 1)

    matrix = np.empty((n, 18), dtype=np.uint8)
    matrix[:, :6] = area
    matrix[:, 6:8] = _TWO_DIGITS[year // 100]
    matrix[:, 8:10] = _TWO_DIGITS[year % 100]
    matrix[:, 10:12] = _TWO_DIGITS[month]
    matrix[:, 12:14] = _TWO_DIGITS[day]
    matrix[:, 14] = order // 100 + ord("0")
    matrix[:, 15:17] = _TWO_DIGITS[order % 100]
    matrix[:, 17] = _gb11643_check_ascii(matrix[:, :17])
    return _matrix_to_str(matrix)


# --------------------------------------------------------------------------------------------
# GB 32100-2015 unified social credit codes (with GB 11714 organisation codes)
# --------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28],
                         dtype=np.int64)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_USCC_RE = re.compile(r"^[0-9ABCDEFGHJKLMNPQRTUWXY]{18}$")

# ASCII code -> value in the USCC alphabet (-1 if absent) and GB 11714 value (A=10 .. Z=35).
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _ORG_VALUE[ord(_c)] = _i
_USCC_ASCII = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_ORG_CHECK_ASCII = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index 11 - (sum % 11)

# Registration authority + entity category (chars 1-2) per entity type.
USCC_TYPE_PREFIX = {
    "有限责任公司": "91", "股份有限公司": "91", "分公司": "91",
    "个体工商户": "92", "农民专业合作社": "93", "事业单位": "12", "社会组织": "52",
}
# First two characters of newly assigned organisation codes (主体标识码) per registering
# authority: market regulation MA, civil affairs MJ, public-institution registration MB.
_NEW_ORG_PREFIX = {"9": "MA", "5": "MJ", "1": "MB"}


def gb11714_check(first8: str) -> str:
    """Check character of a GB 11714 organisation code from its first 8 characters."""
    values = [int(_ORG_VALUE[ord(c)]) if c.isascii() else -1 for c in first8]
    if len(values) != 8 or min(values) < 0:
        raise ValueError("GB 11714 check needs 8 digits or uppercase letters")
    total = sum(v * w for v, w in zip(values, _ORG_WEIGHTS.tolist(), strict=True))
    return "0123456789X0"[11 - total % 11]


def is_valid_gb32100(s: str, check_org_code: bool = False) -> bool:
    """True for a canonical 18-character USCC with the right check character.

    With `check_org_code`, the embedded GB 11714 organisation code (chars 9-17) must carry
    its own right check character too. Off by default: some codes issued in pilot regions
    before the standard (e.g. in Fujian) do not, and they are still legal codes.
    """
    if not isinstance(s, str) or not _USCC_RE.fullmatch(s):
        return False
    if gb32100_check(s[:17]) != s[17]:
        return False
    if not check_org_code:
        return True
    try:
        return gb11714_check(s[8:16]) == s[16]
    except ValueError:
        return False


def usccs(rng: np.random.Generator, division6, entity_types) -> np.ndarray:
    """Unique USCCs for units registered in `division6` (6-digit county or city codes).

    Chars 1-2 follow `USCC_TYPE_PREFIX`; chars 9-17 are an organisation code with its GB 11714
    check character: about two thirds newly assigned (MA/MJ/MB + 6 characters), the rest
    older all-digit codes carried over from before 2015.
    """
    division = np.asarray(division6).astype("U6")
    kinds = np.asarray(entity_types)
    n = len(division)
    if len(kinds) != n:
        raise ValueError("division6 and entity_types must have the same length")
    unknown = sorted(set(np.unique(kinds).tolist()) - set(USCC_TYPE_PREFIX))
    if unknown:
        raise ValueError(f"no USCC prefix for entity types {unknown}")
    if n == 0:
        return np.array([], dtype="U18")
    prefix = pd.Series(kinds).map(USCC_TYPE_PREFIX).to_numpy().astype("U2")

    matrix = np.empty((n, 18), dtype=np.uint8)
    matrix[:, :2] = _ascii_matrix(prefix, 2)
    matrix[:, 2:8] = _ascii_matrix(division, 6)
    new_prefix = pd.Series(prefix.astype("U1")).map(_NEW_ORG_PREFIX).to_numpy().astype("U2")
    new_prefix_ascii = _ascii_matrix(new_prefix, 2)

    pending = np.arange(n)
    while len(pending):
        m = len(pending)
        body = np.empty((m, 8), dtype=np.uint8)
        is_new = rng.random(m) < 0.65
        # New codes: MA + a digit + 5 characters of the USCC alphabet minus its last letters.
        body[:, :2] = new_prefix_ascii[pending]
        body[:, 2] = rng.integers(0, 10, m) + ord("0")
        body[:, 3:] = _USCC_ASCII[rng.integers(0, 31, (m, 5))]
        legacy = rng.integers(0, 10, (m, 8)) + ord("0")
        legacy[:, 0] = np.where(rng.random(m) < 0.5, ord("7"), rng.integers(0, 10, m) + ord("0"))
        body = np.where(is_new[:, None], body, legacy).astype(np.uint8)
        org_sum = (_ORG_VALUE[body] @ _ORG_WEIGHTS) % 11
        matrix[pending, 8:16] = body
        matrix[pending, 16] = _ORG_CHECK_ASCII[11 - org_sum]
        matrix[pending, 17] = _USCC_ASCII[
            (31 - (_USCC_VALUE[matrix[pending, :17]] @ _USCC_WEIGHTS) % 31) % 31]
        codes = _matrix_to_str(matrix)
        pending = np.flatnonzero(pd.Series(codes).duplicated().to_numpy())
    return codes


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

# Mobile prefixes with relative weights (China Mobile dominates Inner Mongolia; the oldest
# number blocks are the fullest).
MOBILE_PREFIXES: dict[str, float] = {
    # China Mobile
    "134": 2.0, "135": 4.0, "136": 3.5, "137": 3.5, "138": 5.5, "139": 6.0, "147": 0.8,
    "150": 3.5, "151": 3.0, "152": 3.0, "157": 0.8, "158": 3.0, "159": 3.0, "178": 1.2,
    "182": 2.0, "183": 2.0, "184": 0.5, "187": 2.0, "188": 1.5, "195": 0.5, "198": 1.0,
    # China Unicom
    "130": 2.0, "131": 1.8, "132": 1.8, "145": 0.4, "155": 1.5, "156": 1.5, "166": 0.8,
    "175": 0.8, "176": 1.0, "185": 1.5, "186": 1.8,
    # China Telecom
    "133": 1.8, "149": 0.3, "153": 1.5, "173": 0.8, "177": 1.0, "180": 1.5, "181": 1.2,
    "189": 1.8, "191": 0.5, "199": 0.8,
}


def mobiles(rng: np.random.Generator, n: int, profile: CityProfile = HOHHOT) -> np.ndarray:
    """`n` unique 11-digit mobile numbers.

    About half carry one of the city's number blocks (`profile.mobile_blocks`; Hohhot's:
    138 4711 xxxx, 139 0471 xxxx).
    """
    prefixes = np.array(list(MOBILE_PREFIXES)).astype(np.int64)
    weights = np.array(list(MOBILE_PREFIXES.values()))
    numbers = np.empty(n, dtype=np.int64)
    pending = np.arange(n)
    first_round = True
    while len(pending):
        m = len(pending)
        prefix = rng.choice(prefixes, size=m, p=weights / weights.sum())
        rest = rng.integers(0, 100_000_000, m)
        if first_round:
            # Local blocks (Hohhot: 471d + 4 digits or 0471 + 4 digits). Redraws are
            # unconstrained so that a full local block cannot stall the loop.
            block = rng.random(m)
            span = {b: 10 ** (8 - len(b)) for b in profile.mobile_blocks}
            local = [int(b) * span[b] + rng.integers(0, span[b], m) for b in span]
            below = np.cumsum(list(profile.mobile_blocks.values()))
            rest = np.select([block < t for t in below], local, rest)
            first_round = False
        numbers[pending] = prefix * 100_000_000 + rest
        pending = np.flatnonzero(pd.Series(numbers).duplicated().to_numpy())
    return numbers.astype("U11")


def landlines(rng: np.random.Generator, n: int, profile: CityProfile = HOHHOT) -> np.ndarray:
    """`n` unique fixed-line numbers in the city's area like '0471-6961234' (7 or 8 digits,
    starting 2-6)."""
    digits = profile.landline_digits
    available = 5 * 10 ** (digits - 1)
    if n > available:
        raise ValueError(f"a {digits}-digit numbering area has at most {available:,} numbers "
                         "starting 2-6")
    numbers = rng.choice(available, size=n, replace=False) + 2 * 10 ** (digits - 1)
    return np.strings.add(f"{profile.area_code}-", numbers.astype(f"U{digits}"))


# --------------------------------------------------------------------------------------------
# Ethnicity and personal names
# --------------------------------------------------------------------------------------------

ETHNICITY_SHARES: dict[str, float] = {
    "汉族": 0.8675, "蒙古族": 0.0900, "回族": 0.0250, "满族": 0.0110, "达斡尔族": 0.0025,
    "鄂温克族": 0.0010, "朝鲜族": 0.0020, "藏族": 0.0005, "壮族": 0.0005,
}


def ethnicities(rng: np.random.Generator, n: int, profile: CityProfile = HOHHOT) -> np.ndarray:
    """`n` ethnicities with the city's shares (Hohhot's: `ETHNICITY_SHARES`)."""
    table = profile.ethnicity_shares or ETHNICITY_SHARES
    names = np.array(list(table))
    shares = np.array(list(table.values()))
    return rng.choice(names, size=n, p=shares / shares.sum())


def _table(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """'王7.1 李7.0 ...' -> (values, probabilities)."""
    parsed = [re.match(r"^(\D+)([\d.]+)$", token).groups() for token in spec.split()]
    values = np.array([v for v, _ in parsed])
    weights = np.array([float(w) for _, w in parsed])
    return values, weights / weights.sum()


# Surnames of northern China, percent of the population (north-weighted national census
# figures; 曾 单 解 仇 区 have surname-only readings: zēng, shàn, xiè, qiú, ōu).
HAN_SURNAMES = _table(
    "王7.6 李7.2 张7.0 刘5.6 赵3.0 杨3.1 陈3.0 孙1.9 郭1.7 马1.7 高1.5 周1.4 吴1.1 徐1.1 "
    "胡1.1 朱0.9 黄0.8 何0.7 林0.5 罗0.5 梁0.9 宋0.9 郑0.6 谢0.4 韩1.0 唐0.5 冯0.8 于0.9 "
    "董0.8 肖0.4 程0.5 曹0.6 袁0.5 邓0.3 许0.6 傅0.2 沈0.3 曾0.2 彭0.3 吕0.6 苏0.6 卢0.4 "
    "蒋0.3 蔡0.3 贾0.8 丁0.4 魏0.7 薛0.5 叶0.2 闫0.6 余0.2 潘0.3 杜0.6 戴0.2 夏0.2 钟0.1 "
    "汪0.2 田0.6 任0.7 姜0.5 范0.5 方0.2 石0.5 姚0.3 谭0.1 廖0.1 邹0.2 熊0.1 金0.3 陆0.1 "
    "郝0.6 孔0.2 白0.6 崔0.5 康0.4 毛0.2 邱0.1 秦0.4 江0.1 史0.4 顾0.1 侯0.5 邵0.2 孟0.5 "
    "龙0.1 万0.1 段0.4 雷0.2 钱0.1 汤0.1 尹0.3 易0.05 常0.4 武0.6 乔0.4 贺0.4 赖0.03 龚0.05 "
    "文0.1 云0.2 樊0.3 霍0.3 牛0.3 安0.3 岳0.2 齐0.2 温0.3 申0.1 单0.06 解0.06 仇0.03 区0.005 "
    "欧阳0.01 上官0.004 司马0.004 诸葛0.002"
)
MONGOL_SURNAMES = _table("包4 白3 鲍1.5 韩1.5 云1.5 奇1 吴1 王1 胡0.8 乌0.6 敖0.6 李0.6 张0.5")
HUI_SURNAMES = _table("马8 白2 杨2 丁1.5 哈1 海1 李1 王1 张1 刘0.8 金0.6 纳0.4 沙0.4 穆0.4 "
                      "回0.3 米0.3")
MANCHU_SURNAMES = _table("关2 佟1.5 那1 金1 赵1 王1 傅0.8 富0.6 汪0.5 肖0.5 洪0.4 何0.4 "
                         "爱新觉罗0.05")
DAUR_SURNAMES = _table("敖2 郭2 孟1.5 何1 苏1 沃0.6 金0.5")
EVENKI_SURNAMES = _table("杜1 涂1 何1 吴0.8 孟0.6 卡0.3")
KOREAN_SURNAMES = _table("金5 李4 朴3 崔2 郑1.5 张1 姜0.8 赵0.8 韩0.6 尹0.6 申0.4")
_SURNAMES_BY_ETHNICITY = {"蒙古族": MONGOL_SURNAMES, "回族": HUI_SURNAMES,
                          "满族": MANCHU_SURNAMES, "达斡尔族": DAUR_SURNAMES,
                          "鄂温克族": EVENKI_SURNAMES, "朝鲜族": KOREAN_SURNAMES}

# Given-name characters by era of birth (before 1970, 1970-1994, 1995 on) and gender.
GIVEN_CHARS = {
    ("old", False): "建国军华明平文德福生永志庆振海山林成宝贵忠义伟强刚勇红卫东民兴全发顺祥荣根富喜树",
    ("mid", False): "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳峰亮成东海志文博晓建新立永利江春金",
    ("new", False): "子轩浩宇然博文涵航泽睿瑞俊杰皓晨宸逸梓铭煜嘉奕豪昊锦一诺天佑思远明哲鑫鹏",
    ("old", True): "秀英兰桂珍凤玉芳淑华荣琴霞梅莲翠花云素美金银菊彩芬香萍",
    ("mid", True): "丽娜敏静艳娟霞燕红玲芳婷雪琳晶颖慧丹萍莉倩欣佳洁宁春晓媛",
    ("new", True): "梓涵欣怡子萱雨诗思佳可馨悦琪妍晨若依一诺紫梦瑶语彤嘉",
}
# Whole given names typical of the older generations.
OLD_GIVEN_NAMES = {
    False: "建国 建军 建华 国庆 国强 志强 志刚 德福 永生 振华 卫东 红兵 文革 海龙 满仓 福生",
    True: "秀英 桂兰 淑珍 玉兰 凤英 秀兰 桂英 玉珍 秀珍 淑兰 凤兰 玉梅 秀芳 翠花 金凤 桂芳",
}
# Female names with a doubled character (婷婷, 丹丹) are common from the 1980s on.
_DOUBLED_FEMALE = "婷丹莹倩晶娜琳敏静欢佳璐媛"

MONGOL_GIVEN = {
    False: "巴特尔 额尔敦 苏和 孟克 那仁 朝鲁 宝音 巴雅尔 毕力格 阿拉坦 布和 特木尔 哈斯 巴图 "
           "乌力吉 朝克 达来 满都拉 呼斯乐 格日勒图 额尔德尼 吉日嘎拉 敖其尔 图门 斯琴巴特尔 "
           "宝力道 额尔敦巴雅尔 那顺 孟和 朝格图",
    True: "其其格 乌云 斯琴高娃 萨仁 高娃 娜仁 图雅 托娅 塔娜 乌兰 萨日娜 乌日娜 斯日古楞 "
          "诺敏 格日勒 萨如拉 苏布达 阿茹娜 其木格 乌仁 阿拉坦其其格 额尔敦其其格 娜仁花 "
          "乌云毕力格 塔娜 萨仁高娃 吉雅 琪琪格 哈斯其其格",
}
HUI_DOTTED = {
    False: ("阿不都 穆罕默德 尤素甫 伊布拉欣 艾力 买买提 努尔 哈桑", "热合曼 阿里 艾山 吐尔逊 卡德尔 哈力克 伊明 优素福"),
    True: ("阿依古丽 古丽 帕提古丽 阿娜尔 阿依努尔 再努尔", "热合曼 阿里 艾山 吐尔逊 卡德尔 哈力克 伊明"),
}
KOREAN_GIVEN = {False: "英哲 成浩 永洙 光日 哲洙 东浩 正勋 昌浩 俊赫 成民",
                True: "美玉 顺姬 贞淑 英爱 春花 明淑 玉顺 惠善 恩静 秀贤"}


def _era(birth_years: np.ndarray) -> np.ndarray:
    return np.where(birth_years < 1970, "old", np.where(birth_years < 1995, "mid", "new"))


def _draw(rng: np.random.Generator, pool, size: int) -> np.ndarray:
    values = np.array(pool.split() if isinstance(pool, str) and " " in pool else list(pool))
    return values[rng.integers(0, len(values), size)]


def han_surnames(profile: CityProfile = HOHHOT) -> tuple[np.ndarray, np.ndarray]:
    """(surnames, probabilities) of the city's Han residents."""
    return HAN_SURNAMES if profile.han_surnames is None else _parsed_table(profile.han_surnames)


@cache
def _parsed_table(spec: str) -> tuple[np.ndarray, np.ndarray]:
    return _table(spec)


def person_names(rng: np.random.Generator, ethnicity, female, birth_years=None,
                 profile: CityProfile = HOHHOT) -> np.ndarray:
    """Names matching each person's ethnicity, gender and (optionally) birth year.

    Han-style names are a surname plus one or two given-name characters of the person's era
    (default era mix when `birth_years` is None). Mongolian people mostly carry a
    transliterated name without surname (巴特尔, 斯琴高娃), some with 包/白/鲍/韩...; a small share
    of Hui people carry a dotted transliteration (阿不都·热合曼).
    """
    eth = np.asarray(ethnicity).astype(str)
    is_female = np.asarray(female, dtype=bool)
    n = len(eth)
    if birth_years is None:
        years = rng.choice([1955, 1980, 2005], size=n, p=[0.3, 0.45, 0.25])
    else:
        years = np.asarray(birth_years, dtype=np.int64)
    era = _era(years)

    surname = np.empty(n, dtype="U4")
    han_table = ~np.isin(eth, list(_SURNAMES_BY_ETHNICITY))
    han = han_surnames(profile)
    surname[han_table] = rng.choice(han[0], size=int(han_table.sum()), p=han[1])
    for group, (values, probs) in _SURNAMES_BY_ETHNICITY.items():
        mask = eth == group
        surname[mask] = rng.choice(values, size=int(mask.sum()), p=probs)

    given = np.empty(n, dtype="U4")
    single_share = np.where(era == "mid", 0.35, np.where(era == "old", 0.25, 0.12))
    single = rng.random(n) < single_share
    for (era_name, fem), chars in GIVEN_CHARS.items():
        mask = (era == era_name) & (is_female == fem)
        m = int(mask.sum())
        first, second = _draw(rng, chars, m), _draw(rng, chars, m)
        given[mask] = np.where(single[mask], first, np.strings.add(first, second))
    for fem, names in OLD_GIVEN_NAMES.items():
        mask = (era == "old") & (is_female == fem) & (rng.random(n) < 0.3)
        given[mask] = _draw(rng, names, int(mask.sum()))
    doubled = is_female & (era != "old") & (rng.random(n) < 0.06)
    char = _draw(rng, _DOUBLED_FEMALE, int(doubled.sum()))
    given[doubled] = np.strings.add(char, char)
    korean = eth == "朝鲜族"
    for fem, names in KOREAN_GIVEN.items():
        mask = korean & (is_female == fem) & (rng.random(n) < 0.6)
        given[mask] = _draw(rng, names, int(mask.sum()))

    names = np.strings.add(surname, given).astype("U16")

    # Mongolian customs: 55% transliterated name alone, 15% surname + transliterated name.
    mongol = eth == "蒙古族"
    style = rng.random(n)
    for fem, pool in MONGOL_GIVEN.items():
        alone = mongol & (is_female == fem) & (style < 0.55)
        names[alone] = _draw(rng, pool, int(alone.sum()))
        with_surname = mongol & (is_female == fem) & (style >= 0.55) & (style < 0.70)
        names[with_surname] = np.strings.add(surname[with_surname],
                                             _draw(rng, pool, int(with_surname.sum())))
    dotted = (eth == "回族") & (rng.random(n) < 0.03)
    for fem, (firsts, seconds) in HUI_DOTTED.items():
        mask = dotted & (is_female == fem)
        m = int(mask.sum())
        names[mask] = np.strings.add(np.strings.add(_draw(rng, firsts, m), "·"),
                                     _draw(rng, seconds, m))
    return names.astype(str)


# Characters that are common in names and sound like pool characters; they widen the set of
# homophones an operator's input method offers.
_HOMOPHONE_EXTRA = (
    "瑛桦骅君钧均莹滢鹰樱亭庭俐利力立俪玮炜维威蔷洁捷婕婧靖敬涓鹃虹宏鸿洪苹评霖芹勤秦艳彦雁"
    "慧惠卉晖钢岗博勃韬恺楷彬滨雨语羽馨新心宜仪萱宣寒晗昊皓锐睿家琦棋祺淇玫媚侠锋丰枫靓良梁"
    "健剑坚岚蓝澜绣贞桢芸昀纳潮朝辰臣凡繁贵果雯闻纯醇冬栋凝隆珑永咏泳朋彭智致翔详扬杨洋影"
    "玲铃菱灵凌伶琳麟磊蕾镭娜丹耽珊姗杉倩茜芊燕妍研岩炎"
)


@cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Character -> other characters with the same reading (same tone first, else any tone)."""
    from pypinyin import Style, lazy_pinyin

    pool = "".join(GIVEN_CHARS.values()) + "".join(
        OLD_GIVEN_NAMES.values()).replace(" ", "") + "".join(
        MONGOL_GIVEN.values()).replace(" ", "") + _DOUBLED_FEMALE + _HOMOPHONE_EXTRA
    chars = sorted(set(pool))
    toned = lazy_pinyin(chars, style=Style.TONE3, neutral_tone_with_five=True)
    by_toned: dict[str, list[str]] = {}
    by_plain: dict[str, list[str]] = {}
    for char, reading in zip(chars, toned, strict=True):
        by_toned.setdefault(reading, []).append(char)
        by_plain.setdefault(reading.rstrip("12345"), []).append(char)
    result = {}
    for char, reading in zip(chars, toned, strict=True):
        same = [c for c in by_toned[reading] if c != char]
        same = same or [c for c in by_plain[reading.rstrip("12345")] if c != char]
        if same:
            result[char] = tuple(same)
    return result


def _surname_length(name: str) -> int:
    for compound in ("爱新觉罗", "欧阳", "上官", "司马", "诸葛"):
        if name.startswith(compound):
            return len(compound)
    return 1


def homophone_positions(name: str) -> list[int]:
    """Positions in `name` (after the surname) whose character has a homophone."""
    table = _homophones()
    start = _surname_length(name)
    return [i for i in range(start, len(name)) if name[i] in table]


def homophone_variant(name: str, rng: np.random.Generator) -> str:
    """`name` with one given-name character replaced by a homophone (李秀英 -> 李秀瑛), as an
    operator typing from speech would; unchanged if no character has a homophone."""
    positions = homophone_positions(name)
    if not positions:
        return str(name)
    pos = positions[int(rng.integers(0, len(positions)))]
    options = _homophones()[name[pos]]
    return name[:pos] + options[int(rng.integers(0, len(options)))] + name[pos + 1:]


# --------------------------------------------------------------------------------------------
# Unit names
# --------------------------------------------------------------------------------------------

# Trade-name (字号) characters and whole trade names that are typical of the region.
_TRADE_CHARS = (
    "鑫源恒达金盛泰华兴隆宏昌瑞祥博远通顺福利安康嘉诚信德天宇中正蒙青城北疆塞汇丰润泽鼎晟"
    "佳禾亿众合创新辉煌明光耀阳春晨星海川峰岭原野骏驰腾飞龙凤麒麟云霄万家和美乐旺荣富贵"
    "同心聚力益民惠宁"
)
_TRADE_WORDS = "青城 昭君 敕勒川 大青山 塞北 蒙源 草原 北疆 阴山 黄河 大召 金川 如意 盛乐 白塔"
# Industry words by GB/T 4754 code prefix (longest prefix wins), for registered names:
# (industry words, form for individual businesses).
_INDUSTRY_WORDS: dict[str, tuple[str, str]] = {
    "A01": ("种植 蔬菜种植 马铃薯种植 种养殖", "种植园"),
    "A03": ("养殖 肉牛养殖 奶牛养殖 肉羊养殖", "养殖场"),
    "A": ("农牧业 农业科技 种养殖", "农场"),
    "C13": ("粮油 面粉 农产品加工", "粮油加工坊"),
    "C": ("乳业 食品 机械制造 建材", "加工坊"),
    "D44": ("热电 电力 能源", "供电所"),
    "D": ("热力 供热 燃气", "供热站"),
    "E": ("建筑工程 建筑安装工程 装饰工程 市政工程", "装修队"),
    "F52": ("商贸 超市 百货 日用品 烟酒", "便利店 超市 烟酒店 日杂店 商行 五金店"),
    "F": ("商贸 贸易 物资 农资", "商行"),
    "G": ("物流 运输 货运", "货运部"),
    "H": ("餐饮管理 餐饮服务 酒店管理", "烧麦馆 面馆 莜面馆 涮肉馆 家常菜馆 奶茶馆 饭店"),
    "I63": ("通信工程 网络工程", "手机店"),
    "I": ("网络科技 信息技术 软件开发 电子科技", "电脑维修部"),
    "J": ("小额贷款 融资担保 投资管理", "典当行"),
    "K701": ("房地产开发 置业 房地产", "房产中介"),
    "K": ("物业服务 物业管理", "房屋中介"),
    "L": ("商务服务 广告传媒 人力资源服务", "广告部"),
    "M": ("工程咨询 检测 工程技术", "测绘部"),
    "N": ("环境工程 园林绿化 保洁服务", "保洁部"),
    "O": ("家政服务 保洁服务 汽车服务", "家政服务部 洗衣店 理发店 修车行 美容美发店 开锁店"),
    "P": ("教育咨询 培训", "培训部"),
    "Q": ("医疗管理 健康管理 医药", "诊所 药店"),
    "R": ("文化传媒 体育文化 文化旅游", "文化工作室"),
    "S": ("社会服务", "服务部"),
}
# Public institutions (事业单位) and social organisations (社会组织) by code prefix.
_PUBLIC_INSTITUTIONS = {
    "P8321": "小学", "P": "中学", "Q8411": "医院", "Q8412": "中医医院", "Q": "社区卫生服务中心",
    "R8831": "图书馆", "R": "文化馆",
}
_CHINESE_NUMBERS = [
    f"{tens}{units}" for tens in ("", "十", "二十", "三十") for units in "一二三四五六七八九"
] + ["十", "二十", "三十"]
_PUBLIC_INSTITUTIONS_OTHER = "供热管理站 环境卫生管理站 社会福利院 就业服务中心 房屋征收服务中心"
_SOCIAL_ORGS = "协会 商会 社会工作服务中心 志愿者协会 养老服务中心 慈善基金会 老年人协会 书画协会"


def _industry_entry(code: str) -> tuple[str, str]:
    for length in (4, 3, 1):
        entry = _INDUSTRY_WORDS.get(code[:length])
        if entry:
            return entry
    return ("商贸", "商行")


def _public_name(code: str) -> str | None:
    for length in (5, 1):
        name = _PUBLIC_INSTITUTIONS.get(code[:length])
        if name:
            return name
    return None


def _trade_names(rng: np.random.Generator, n: int, three_share: float) -> np.ndarray:
    chars = np.array(list(_TRADE_CHARS))
    a, b, c = (chars[rng.integers(0, len(chars), n)] for _ in range(3))
    names = np.where(rng.random(n) < three_share, np.strings.add(np.strings.add(a, b), c),
                     np.strings.add(a, b))
    words = np.array(_TRADE_WORDS.split())
    regional = rng.random(n) < 0.08
    names[regional] = np.strings.add(words[rng.integers(0, len(words), int(regional.sum()))],
                                     b[regional])
    return names


def _compose_unit_names(rng: np.random.Generator, entity_types: np.ndarray,
                        industry_codes: np.ndarray, district_names: np.ndarray,
                        first_round: bool, profile: CityProfile) -> tuple[list[str], list[str]]:
    city, region = profile.name, profile.province_short
    # Longer trade names in later rounds make the rare collisions vanish fast.
    three_share = 0.2 if first_round else 1.0
    n = len(entity_types)
    trade = _trade_names(rng, n, three_share)
    pick = rng.random((n, 4))
    registered: list[str] = []
    short: list[str] = []
    parents = profile.branch_parents
    for i in range(n):
        kind, code, district, t = entity_types[i], industry_codes[i], district_names[i], trade[i]
        words, shop_forms = _industry_entry(code)
        words, shop_forms = words.split(), shop_forms.split()
        word = words[int(pick[i, 1] * len(words))]
        county = district if district.endswith(("县", "旗")) else ""
        if kind in ("有限责任公司", "股份有限公司"):
            form = "股份有限公司" if kind == "股份有限公司" else (
                "有限责任公司" if pick[i, 2] < 0.3 else "有限公司")
            group = "（集团）" if pick[i, 3] < 0.04 else ""
            r = pick[i, 0]
            if r < 0.45:
                reg = f"{city}{t}{word}{group}{form}"
            elif r < 0.75:
                reg = f"{region}{t}{word}{group}{form}"
            elif r < 0.92:
                reg = f"{city}{district}{t}{word}{form}"
            else:
                reg = f"{t}（{profile.short_name}）{word}{form}"
            sht = f"{t}{word}" if pick[i, 3] < 0.6 else f"{t}{word}公司"
        elif kind == "分公司":
            parent = parents[int(pick[i, 0] * len(parents))]
            parent_form = "股份有限公司" if pick[i, 3] < 0.1 else "有限公司"
            branch = f"{profile.short_name}分公司" if pick[i, 2] < 0.7 else \
                f"{city}{district}分公司"
            reg = f"{parent}{t}{word}{parent_form}{branch}"
            sht = f"{t}{word}{profile.abbreviation}分公司" if pick[i, 3] < 0.5 else \
                f"{t}{word}分公司"
        elif kind == "个体工商户":
            shop = shop_forms[int(pick[i, 1] * len(shop_forms))]
            owner_style = pick[i, 2] < 0.2
            label = (t[0] + "记") if owner_style else t
            place = f"{city}{district}" if pick[i, 0] < 0.6 else district
            reg = f"{place}{label}{shop}"
            sht = f"{label}{shop}"
        elif kind == "农民专业合作社":
            place = county or district
            reg = f"{place}{t}{word}农民专业合作社"
            sht = f"{t}{word}合作社"
        elif kind == "事业单位":
            # The trade-name slot holds a place name here (呼和浩特市新城区金盛社区卫生服务中心).
            institution = _public_name(code)
            if institution is None or pick[i, 2] < 0.25:
                options = _PUBLIC_INSTITUTIONS_OTHER.split()
                institution = options[int(pick[i, 1] * len(options))]
            if institution in ("小学", "中学") and pick[i, 0] < 0.5 and first_round:
                number = _CHINESE_NUMBERS[int(pick[i, 3] * len(_CHINESE_NUMBERS))]
                reg = f"{city}{district}第{number}{institution}"
            else:
                reg = f"{city}{district}{t}{institution}"
            sht = reg.removeprefix(city)
        else:  # 社会组织
            options = _SOCIAL_ORGS.split()
            org = options[int(pick[i, 1] * len(options))]
            reg = f"{city}{district}{t}{org}" if pick[i, 0] < 0.5 else f"{city}{t}{org}"
            sht = reg.removeprefix(city)
        registered.append(reg)
        short.append(sht)
    return registered, short


def unit_names(rng: np.random.Generator, entity_types, industry_codes,
               district_names, profile: CityProfile = HOHHOT) -> tuple[np.ndarray, np.ndarray]:
    """Registered names (unique within the call) and short names as people type them.

    Registered names follow 行政区划 + 字号 + 行业 + 组织形式: 呼和浩特市鑫源物业服务有限公司,
    内蒙古恒达商贸有限责任公司, 呼和浩特市新城区金盛便利店 (个体工商户), 托克托县XX种植农民专业合作社,
    北京XX科技有限公司呼和浩特分公司, 内蒙古XX（集团）有限公司. Short names drop the place prefix
    and the legal form (鑫源物业, 金盛便利店, XX科技呼市分公司).
    """
    kinds = np.asarray(entity_types).astype(str)
    codes = np.asarray(industry_codes).astype(str)
    districts = np.asarray(district_names).astype(str)
    n = len(kinds)
    if not (len(codes) == len(districts) == n):
        raise ValueError("entity_types, industry_codes and district_names must match in length")
    registered = np.empty(n, dtype=object)
    short = np.empty(n, dtype=object)
    pending = np.arange(n)
    first_round = True
    while len(pending):
        reg, sht = _compose_unit_names(rng, kinds[pending], codes[pending], districts[pending],
                                       first_round, profile)
        registered[pending] = reg
        short[pending] = sht
        pending = np.flatnonzero(pd.Series(registered).duplicated().to_numpy())
        first_round = False
    return registered.astype(str), short.astype(str)


_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司")


def _variant_ops(name: str, profile: CityProfile) -> list:
    city, region, province = profile.name, profile.province_short, profile.province
    branch = f"{profile.short_name}分公司"
    ops = []
    if name.startswith(city):
        ops.append(lambda s: s.removeprefix(city))
        ops.append(lambda s: profile.abbreviation + s.removeprefix(city))
    if name.startswith(region) and not name.startswith(province):
        ops.append(lambda s: s.removeprefix(region))
        ops.append(lambda s: province + s.removeprefix(region))
    if "有限责任公司" in name:
        ops.append(lambda s: s.replace("有限责任公司", "有限公司"))
    elif "有限公司" in name and "股份有限公司" not in name:
        ops.append(lambda s: s.replace("有限公司", "有限责任公司"))
    if "（" in name or "）" in name:
        ops.append(lambda s: s.replace("（", "(").replace("）", ")"))
    if "(" in name or ")" in name:
        ops.append(lambda s: s.replace("(", "（").replace(")", "）"))
    if name.endswith(_LEGAL_FORMS):
        ops.append(lambda s: _short_form(s, profile))
        if "分公司" not in name:
            ops.append(lambda s: s + branch)
    if name.endswith("分公司") and branch in name:
        ops.append(lambda s: s.replace(branch, f"{profile.abbreviation}分公司"))
    if name.startswith(profile.county_names):
        ops.append(lambda s: city + s)
    if "（集团）" in name:
        ops.append(lambda s: s.replace("（集团）", "集团"))
    return ops or [lambda s: s + " "]


def _short_form(name: str, profile: CityProfile) -> str:
    stripped = name.removeprefix(profile.name).removeprefix(profile.province_short)
    for form in _LEGAL_FORMS:
        if stripped.endswith(form):
            return stripped[: -len(form)]
    return stripped


def unit_name_variant(name: str, rng: np.random.Generator,
                      profile: CityProfile = HOHHOT) -> str:
    """`name` typed one of the ways people type a unit's name: without or with an abbreviated
    city prefix, 有限公司 <-> 有限责任公司, half- <-> full-width brackets, the short name,
    a branch suffix, or a trailing space. Always differs from `name`."""
    ops = _variant_ops(name, profile)
    return ops[int(rng.integers(0, len(ops)))](name)
