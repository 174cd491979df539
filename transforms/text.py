"""Normalisation of Chinese text: width, script, pinyin notes, mojibake, names, unit names.

Every function takes a pandas Series and returns Series on the same index (text as the `str`
dtype, nulls kept as nulls). Work that Arrow's string kernels can do runs on the whole column;
the few steps that need Python (OpenCC, encoding repair, regexes with look-arounds) run only on
the values a vectorised pre-check picked, so their cost grows with the dirt, not the data.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import numpy as np
import pandas as pd

from transforms.city import City, national

CJK = "\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_HAS_CJK = f"[{CJK}]"
_CJK_RE = re.compile(_HAS_CJK)

# Patterns hold literal characters, not \u escapes or \s / \d, so that pandas runs them on
# Arrow's RE2 kernels instead of falling back to Python's re value by value.
# Whitespace NFKC leaves alone and zero-width characters that copy-paste from web pages
# brings along.
_SPACE_RUN = "[ \t\n\r\f\v\x85\u2028\u2029]+"
_ZERO_WIDTH = "[\u200b\u200c\u200d\u2060\ufeff]"


def _text(s: pd.Series) -> pd.Series:
    """`s` as the `str` dtype (Arrow-backed), so the vectorised string kernels apply."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is np.nan:
        return s
    return s.astype("str")


def _replace_where(s: pd.Series, mask: pd.Series, func) -> pd.Series:
    """`s` with `func` applied (in Python) to the values where `mask` is True."""
    mask = mask.fillna(False).astype(bool) & s.notna()
    if not mask.any():
        return s
    out = s.copy()
    out[mask] = [func(v) for v in s[mask].tolist()]
    return out


def on_distinct(s: pd.Series, func) -> pd.Series | pd.DataFrame:
    """`func` (Series -> Series or DataFrame, row for row) computed once per distinct value
    of `s` and spread back over `s`'s rows: identity data repeats (a unit's name in every
    record of it, a household's address), so this divides the work by the repetition."""
    row_of, distinct = pd.factorize(_text(s))
    computed = func(pd.Series(distinct, dtype="str"))
    with_null = pd.concat([computed, func(pd.Series([np.nan], dtype="str"))],
                          ignore_index=True)  # the last row is for nulls
    return with_null.iloc[np.where(row_of < 0, len(computed), row_of)].set_axis(s.index)


# ---- width and whitespace ------------------------------------------------------------------

def nfkc(s: pd.Series) -> pd.Series:
    """Unicode NFKC (full-width letters, digits and brackets to ASCII, U+3000 to a space),
    zero-width characters removed, whitespace runs collapsed to one space, ends trimmed."""
    s = _text(s)
    non_ascii = ~s.str.isascii().fillna(True).astype(bool)
    s = _replace_where(s, non_ascii, lambda v: unicodedata.normalize("NFKC", v))
    s = s.str.replace(_ZERO_WIDTH, "", regex=True)
    return s.str.replace(_SPACE_RUN, " ", regex=True).str.strip()


# ---- traditional -> simplified -------------------------------------------------------------

@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@cache
def _traditional_pattern() -> str:
    """Character class of every BMP character that OpenCC t2s changes on its own.

    Computed from the installed dictionaries (one conversion of all candidates, joined by
    newlines so that no phrase spans two of them), so it follows OpenCC updates. Astral-plane
    characters are rare in names and all go to the converter.
    """
    candidates = [chr(c) for c in range(0x2E80, 0xA000)] + [chr(c) for c in range(0xF900, 0xFB00)]
    converted = _t2s().convert("\n".join(candidates)).split("\n")
    changing = "".join(c for c, out in zip(candidates, converted, strict=True) if out != c)
    return f"[{changing}\U00020000-\U0003ffff]"


def to_simplified(s: pd.Series) -> pd.Series:
    """Traditional characters to simplified with OpenCC t2s (phrase-aware), run only on values
    holding a character that t2s changes by itself.

    A phrase whose every character also exists in simplified text (深沈 -> 深沉, 答覆 -> 答复)
    is left as it is: in names and addresses such phrases are rarer than the damage a phrase
    rewrite of a name would do.
    """
    s = _text(s)
    needs_conversion = s.str.contains(_traditional_pattern(), regex=True)
    return _replace_where(s, needs_conversion, _t2s().convert)


# ---- pinyin annotations --------------------------------------------------------------------

_TONE_VOWELS = {"a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò", "u": "ūúǔù",
                "v": "üǖǘǚǜ"}
_TONE_MARKED = "".join(_TONE_VOWELS.values()).replace("ü", "") + "ḿńňǹ"
_UMLAUT_TO_V = str.maketrans(dict.fromkeys("üǖǘǚǜ", "v"))


def _toneless(reading: str) -> str:
    plain = unicodedata.normalize("NFD", reading.translate(_UMLAUT_TO_V))
    return "".join(c for c in plain if not unicodedata.combining(c))


@cache
def _syllables() -> frozenset[str]:
    """Every tone-less syllable in pypinyin's character table (ü written v)."""
    from pypinyin.pinyin_dict import pinyin_dict

    readings = {_toneless(r) for rs in pinyin_dict.values() for r in rs.split(",")}
    return frozenset(r for r in readings if r.isascii() and r.isalpha())


@cache
def _first_readings() -> dict[int, str]:
    """Code point -> tone-less first (most common) reading, from pypinyin's character table."""
    from pypinyin.pinyin_dict import pinyin_dict

    return {code: _toneless(readings.split(",")[0]) for code, readings in pinyin_dict.items()}


@cache
def _syllable_re() -> re.Pattern:
    """Exactly one tone-less syllable."""
    return re.compile("|".join(sorted(_syllables(), key=len, reverse=True)))


@cache
def _annotation_re() -> re.Pattern:
    """Bracketed pinyin right after a Chinese character: 强(qiáng), 李（lǐ）, 化(hua4).

    Only real syllables match (each vowel with its tone marks), so bracketed Chinese such as
    (集团) or most bracketed English ((KFC)) never does.
    """
    def pattern(syllable: str) -> str:
        return "".join(f"[{c}{_TONE_VOWELS[c]}]" if c in _TONE_VOWELS else c for c in syllable)

    alternatives = "|".join(pattern(s) for s in sorted(_syllables(), key=len, reverse=True))
    syllable = f"(?:{alternatives}|[ḿńňǹ]g?)[1-5]?"
    return re.compile(
        rf"(?<=[{CJK}])\s?[(（]\s*(?P<pinyin>{syllable}(?:[\s'’-]?{syllable}){{0,3}})\s*[)）]",
        re.IGNORECASE)


def _is_annotation(pinyin: str) -> bool:
    """Tone-marked or tone-numbered pinyin, or one lower-case syllable (李(li)): a bare
    capitalised or multi-syllable word such as (CHINA) or (china) may be a brand."""
    if any(c in _TONE_MARKED for c in pinyin.lower()) or any(c.isdigit() for c in pinyin):
        return True
    return pinyin.islower() and _syllable_re().fullmatch(pinyin) is not None


def _strip_annotations(value: str) -> str:
    return _annotation_re().sub(
        lambda m: "" if _is_annotation(m.group("pinyin")) else m.group(0), value)


def strip_pinyin_annotations(s: pd.Series) -> pd.Series:
    """Remove pinyin notes inserted after characters: 強(qiáng)化 -> 強化, 李（lǐ）秀英 -> 李秀英.

    Half- and full-width brackets, tone marks or tone numbers; bracketed Chinese such as
    （集团） and bracketed brands such as (KFC) stay.
    """
    s = _text(s)
    candidates = s.str.contains(f"{_HAS_CJK} ?[(（] *[A-Za-z{_TONE_MARKED}]", regex=True)
    return _replace_where(s, candidates, _strip_annotations)


# ---- GBK / UTF-8 mojibake ------------------------------------------------------------------

# Characters outside CJK, ASCII and CJK/full-width punctuation that Chinese identity data
# legitimately contains; anything else in a "repaired" value means the repair was wrong.
_ALLOWED_OTHER = "·×°—–‘’“”…•‧⋅℃№"
_PLAUSIBLE_RE = re.compile(f"[\\x00-\\x7f{_ALLOWED_OTHER}\u3000-\u303f\uff00-\uffef{CJK}]*")
# Damage no encoding round trip can undo: U+FFFD, the 锟斤拷 of U+FFFD's UTF-8 read as GBK,
# question marks that a GBK column put in place of characters it could not store (so this is
# for identity fields, not free text where a question may end in '?').
_DAMAGE = "\ufffd|锟|\\?{2,}|[^\\x00-\\x7f]\\?|\\?[^\\x00-\\x7f]"


@cache
def _common_chars() -> frozenset[str]:
    """GB 2312 level-1 ideographs: the 3,755 most common (rows B0-D7)."""
    chars = set()
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeError:
                continue
    return frozenset(chars)


@cache
def _uncommon_pattern() -> str:
    """A character that is neither ASCII, nor a common ideograph, nor usual punctuation.

    Every GBK reading of UTF-8 Chinese holds one (UTF-8 lead bytes E4-E9 read as GBK lead
    bytes give level-2 or extension characters), so values without one need no repair.
    """
    common = "".join(sorted(_common_chars()))
    return f"[^\\x00-\\x7f{_ALLOWED_OTHER}\u3000-\u303f\uff00-\uffef{common}]"


def _common_share(value: str) -> float:
    ideographs = _CJK_RE.findall(value)
    if not ideographs:
        return 0.0
    common = _common_chars()
    return sum(c in common for c in ideographs) / len(ideographs)


def _gbk_bytes(value: str) -> bytes | None:
    for codec in ("gbk", "gb18030"):
        try:
            return value.encode(codec)
        except UnicodeError:
            continue
    return None


def _undo_gbk_misread(value: str) -> str:
    """`value` read back from the UTF-8 bytes it was decoded from as GBK, if that gives
    plausible Chinese; else `value` itself."""
    raw = _gbk_bytes(value)
    if raw is None:
        return value
    try:
        repaired = raw.decode("utf-8")
    except UnicodeError:
        return value
    plausible = (_CJK_RE.search(repaired) and _PLAUSIBLE_RE.fullmatch(repaired)
                 and _common_share(repaired) >= _common_share(value))
    return repaired if plausible else value


def _lost_a_byte(value: str) -> bool:
    """Mojibake that lost a byte (truncated, or one byte replaced): mostly rare characters,
    and GBK bytes that decode as UTF-8 ideographs for the most part."""
    if _common_share(value) >= 0.5:
        return False
    raw = _gbk_bytes(value)
    if raw is None:
        return False
    decoded = raw.decode("utf-8", errors="replace")
    good = len(_CJK_RE.findall(decoded))
    return good >= 2 and good >= 2 * decoded.count("\ufffd")


def repair_mojibake(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Undo UTF-8 text that was decoded as GBK (绀惧尯鏈嶅姟 -> 社区服务).

    Returns `(repaired, mojibake_unrecoverable)`. A value is repaired when encoding it back
    as GBK (or GB 18030) gives valid UTF-8 that reads as plausible Chinese (CJK, ASCII and
    usual punctuation only, and no rarer characters than before). The flag marks values that
    look damaged but cannot be repaired (U+FFFD, 锟斤拷, '?' in place of characters, mojibake
    that lost a byte); they are returned unchanged for the caller to decide.
    """
    s = _text(s)
    candidates = s.str.contains(_uncommon_pattern(), regex=True).fillna(False).astype(bool)
    repaired = _replace_where(s, candidates, _undo_gbk_misread)
    was_repaired = (repaired != s).fillna(False).astype(bool)
    damaged = repaired.str.contains(_DAMAGE, regex=True).fillna(False).astype(bool)
    lost_a_byte = pd.Series(False, index=s.index)
    unexplained = candidates & ~was_repaired & ~damaged
    if unexplained.any():
        lost_a_byte[unexplained] = [_lost_a_byte(v) for v in repaired[unexplained].tolist()]
    return repaired, (damaged | lost_a_byte).rename("mojibake_unrecoverable")


# ---- person names --------------------------------------------------------------------------

# Middle dots of minority names as typed on various input methods (after NFKC: ･ -> ・, ． -> .).
_NAME_DOTS = "•・‧⋅·.∙"
_DOT_RUN = f" *[{_NAME_DOTS}]+ *"
_SPACE_NEAR_CJK = re.compile(f"(?<=[{CJK}·])\\s+|\\s+(?=[{CJK}·])")


def normalize_person_name(s: pd.Series) -> pd.Series:
    """NFKC, simplified, pinyin notes removed, middle dots unified to U+00B7, spaces next to
    Chinese characters removed (王　伟 -> 王伟), ends trimmed."""
    s = strip_pinyin_annotations(to_simplified(nfkc(s)))
    chinese = s.str.contains(_HAS_CJK, regex=True).fillna(False).astype(bool)
    dotted = s.str.replace(_DOT_RUN, "·", regex=True).str.strip("·")
    s = s.where(~chinese, dotted)
    spaced = chinese & s.str.contains(" ", regex=False).fillna(False).astype(bool)
    s = _replace_where(s, spaced, lambda v: _SPACE_NEAR_CJK.sub("", v))
    return s.str.strip()


# Surnames whose reading differs from the character's most common one; compound surnames
# first (尉 alone is wèi, in 尉迟 yù).
SURNAME_READINGS = {
    "尉迟": "yuchi", "万俟": "moqi", "单于": "chanyu", "长孙": "zhangsun", "澹台": "tantai",
    "令狐": "linghu", "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "区": "ou",
    "朴": "piao", "查": "zha", "盖": "ge", "乐": "yue", "秘": "bi", "种": "chong", "翟": "zhai",
    "覃": "qin", "缪": "miao", "员": "yun", "尉": "wei", "召": "shao", "繁": "po", "句": "gou",
    "折": "she", "隗": "wei", "宿": "su", "藏": "zang", "过": "guo", "那": "na", "黑": "he",
    "阚": "kan", "冼": "xian", "洗": "xian", "能": "nai", "任": "ren", "燕": "yan",
}


def name_pinyin(s: pd.Series) -> pd.Series:
    """Tone-less pinyin of a (normalised) name, syllables joined: 李秀英 -> lixiuying.

    Each character takes its most common reading, so homophones share a key (李秀英 and
    李秀瑛 both give lixiuying); the surname takes its surname reading (曾 zeng, not ceng;
    尉迟 yuchi). Middle dots and spaces are dropped; characters without a reading are kept.
    """
    s = _text(s)
    compact = s.str.replace(f"[ {_NAME_DOTS}]", "", regex=True)
    readings = compact.str.translate(_first_readings()).str.lower()
    for length in (2, 1):
        surnames = {k: v for k, v in SURNAME_READINGS.items() if len(k) == length}
        head = compact.str[:length]
        override = head.isin(list(surnames)) & (compact.str.len() > length)
        if override.any():
            rest = compact[override].str[length:].str.translate(_first_readings()).str.lower()
            readings[override] = head[override].map(surnames) + rest
            # Read with a compound surname: the one-character pass must not read them again.
            compact = compact.where(~override, "")
    return readings


# ---- unit names ----------------------------------------------------------------------------

_LEGAL_FORMS = ("股份有限公司 有限责任公司 有限公司 股份公司 总公司 公司 (集团) 集团 "
                "农民专业合作社 专业合作社 合作社").split()
_LEGAL = "|".join(re.escape(f) for f in _LEGAL_FORMS)
# Not 办事处: a 街道办事处 is a government office, not a branch.
_BRANCH_WORDS = "分公司|分店|营业部|分行|支行|分理处|分部|分厂|分社"
_BRANCH_AFTER_LEGAL = f"^(?P<main>.*(?:{_LEGAL}))(?P<branch>[^()]*?(?:{_BRANCH_WORDS}))$"
_OPENING_BRACKETS = "[【〔〖\\[]"
_CLOSING_BRACKETS = "[】〕〗\\]]"


@cache
def _region(city: City) -> str:
    """Alternation of the place names that may prefix a unit name in `city`."""
    return "|".join(re.escape(w) for w in city.region_words)


def _name_key(s: pd.Series, region: str) -> pd.Series:
    """Matching key of a name part: region prefixes and legal-form suffixes dropped, only
    letters, digits and ideographs kept, lower case."""
    key = s.str.replace(f"^(?:{region})+", "", regex=True)
    key = key.str.replace(f"(?:{_LEGAL})+$", "", regex=True)
    return key.str.replace(f"[^0-9A-Za-z{CJK}]", "", regex=True).str.lower()


def normalize_unit_name(s: pd.Series, city: City | None = None) -> pd.DataFrame:
    """Canonical name and matching key of unit (enterprise, organisation) names.

    Columns:
    - `unit_name`: NFKC, simplified, brackets unified to half-width, no spaces next to
      Chinese characters: the registered name as written, cleaned.
    - `unit_name_key`: for matching: region prefixes (the province, the city, its
      abbreviations and districts, the province's other cities: `City.region_words`; every
      province), bracketed regions ((广州)) and legal-form suffixes (有限公司, 有限责任公司,
      股份有限公司, 公司, (集团), 合作社...) dropped; a branch keeps its branch word without the
      region (XX有限公司广州分公司 and XX穗分公司 both give xx分公司). Without `city`, only
      province names are region words.
    - `parent_name_key`: the key of the part before the branch (equal to `unit_name_key` for
      a unit that is not a branch).
    - `is_branch`, `branch_name`: 分公司/分店/营业部/分行/支行... and the branch part as written.

    Each distinct name is normalised once.
    """
    region = _region(city or national())
    return on_distinct(s, lambda distinct: _normalize_unit_names(distinct, region))


def _normalize_unit_names(s: pd.Series, region: str) -> pd.DataFrame:
    name = to_simplified(nfkc(s)).str.replace(_OPENING_BRACKETS, "(", regex=True) \
        .str.replace(_CLOSING_BRACKETS, ")", regex=True)
    chinese = name.str.contains(_HAS_CJK, regex=True).fillna(False).astype(bool)
    spaced = chinese & name.str.contains(" ", regex=False).fillna(False).astype(bool)
    name = _replace_where(name, spaced, lambda v: _SPACE_NEAR_CJK.sub("", v))
    name = name.str.replace(r"\( *", "(", regex=True).str.replace(r" *\)", ")", regex=True)

    without_region = name.str.replace(f"\\((?:{region})+\\)", "", regex=True)
    branch_like = without_region.str.contains(f"(?:{_BRANCH_WORDS})$", regex=True) \
        .fillna(False).astype(bool)
    after_legal = without_region[branch_like].str.extract(_BRANCH_AFTER_LEGAL) \
        .reindex(s.index)
    after_region = without_region[branch_like].str.extract(
        f"^(?P<main>.+?)(?P<branch>(?:{region})*(?:{_BRANCH_WORDS}))$") \
        .reindex(s.index)
    branch = after_legal["branch"].fillna(after_region["branch"])
    main = after_legal["main"].fillna(after_region["main"]).fillna(without_region)
    is_branch = branch.notna() & (branch != "")
    main_key = _name_key(main, region)
    branch_key = branch.str.replace(f"^(?:{region})+", "", regex=True)
    # A name that is only a region or a legal form (公司) keeps its cleaned self as key.
    main_key = main_key.where(main_key != "", without_region.str.replace(
        f"[^0-9A-Za-z{CJK}]", "", regex=True).str.lower())
    return pd.DataFrame({
        "unit_name": name,
        "unit_name_key": main_key.where(~is_branch, main_key + branch_key.fillna("")),
        "parent_name_key": main_key,
        "is_branch": is_branch.astype(bool),
        "branch_name": branch.where(is_branch),
    }, index=s.index)
