"""Addresses parsed into district / street / community / compound / building / unit / room.

One regular expression, built from the reference divisions, splits every address at once
(Arrow's RE2 kernel through `Series.str.extract`); the division names it found are then
resolved to their 12-digit codes by joins against the divisions, so a short or repeated name
(金隅社区 exists in several streets) is resolved only where the context makes it unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from transforms.city import City, city_from_reference
from transforms.text import CJK, nfkc, on_distinct, to_simplified

COMPOUND_SUFFIXES = ("小区", "花园", "家园", "嘉园", "新村", "公寓", "苑", "里")
LEVELS = ("none", "district", "street", "community", "compound", "building", "unit", "room")
COLUMNS = ["district", "district_code", "street", "street_code", "community", "community_code",
           "compound", "building", "unit", "room", "parse_level"]

_NUMBER = "[0-9]+|[零〇一二两三四五六七八九十百]+"
_IDEOGRAPH = f"[{CJK}]"
# Names not in the reference data still end where their level's word ends.
_OTHER_STREET = f"{_IDEOGRAPH}{{2,8}}?(?:街道办事处|街道|镇|乡|苏木)"
_OTHER_COMMUNITY = f"{_IDEOGRAPH}{{2,8}}?社区(?:居委会|居民委员会)?"
_COMPOUND = (f"[{CJK}A-Za-z]{{1,12}}?(?:{'|'.join(COMPOUND_SUFFIXES)})"
             "(?:[东西南北]区|[0-9一二三四五六七八九十]+期)?")
_FLAT = (
    # 3-2-501: building, unit, room
    "(?:(?P<building_dash>[0-9]+)-(?P<unit_dash>[0-9]+)-(?P<room_dash>[0-9]+))"
    f"|(?:(?P<building>{_NUMBER})(?:号楼|#楼|号|#|栋|幢|座|楼)"
    f"(?:(?P<unit>{_NUMBER})单元)?(?:底商)?(?:(?P<room>[0-9]{{1,5}})(?:室|号|房)?)?)"
)


def _street_variants(name: str) -> list[str]:
    stem = re.sub("(?:街道办事处|街道|办事处)$", "", name)
    return [name, f"{stem}街道办事处", f"{stem}办事处", stem] if stem != name else [name]


def _community_variants(name: str) -> list[str]:
    stem = re.sub("(?:社区|居委会)$", "", name)
    if stem == name:
        return [name]
    # The bare stem is not accepted: compounds carry the same stems (团结社区, 团结小区).
    return [name, f"{name}居委会", f"{name}居民委员会", f"{stem}居委会"]


def division_variants(divisions: pd.DataFrame,
                      aliases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every way an address may name a district, street or community: variant, level, code,
    parent_code. `aliases` adds local abbreviations (海东路街道 -> 海拉尔东路街道), keyed by the
    alias and naming the official name; an alias that is also another division's name makes
    both ambiguous, which is what it is."""
    rows = []
    for code, name, level, parent in divisions[["code", "name", "level", "parent_code"]] \
            .itertuples(index=False):
        if level == "district":
            rows.append((name, level, code, parent))
        elif level == "street":
            rows += [(v, level, code, parent) for v in _street_variants(name)]
        elif level == "community":
            rows += [(v, level, code, parent) for v in _community_variants(name)]
    official = divisions.set_index("name")
    for alias, name in (aliases or {}).items():
        if name not in official.index:
            raise ValueError(f"alias {alias!r} names {name!r}, which is not a division")
        for code, level, parent in official.loc[[name], ["code", "level", "parent_code"]] \
                .itertuples(index=False):
            variants = _street_variants(alias) if level == "street" else [alias]
            rows += [(v, level, code, parent) for v in variants]
    return pd.DataFrame(rows, columns=["variant", "level", "code", "parent_code"]) \
        .drop_duplicates(ignore_index=True)


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _city_prefix(city: City | None) -> str:
    """The optional province and city a full address starts with (广东省广州市,
    广东广州, 穗)."""
    if city is None:
        return ""
    province = _alternation(city.province_words)
    own = _alternation(city.city_words)
    return (f"(?:{province})?" if province else "") + (f"(?:{own})?" if own else "")


def _pattern(variants: pd.DataFrame, city: City | None) -> str:
    by_level = {level: _alternation(variants.loc[variants["level"] == level, "variant"])
                for level in ("district", "street", "community")}
    district = f"(?P<district>{by_level['district']})?" if by_level["district"] else ""
    streets = "|".join(p for p in (by_level["street"], _OTHER_STREET) if p)
    communities = "|".join(p for p in (by_level["community"], _OTHER_COMMUNITY) if p)
    return (f"^{_city_prefix(city)}{district}(?P<street>{streets})?(?P<community>{communities})?"
            f"(?P<compound>{_COMPOUND})?(?:{_FLAT})?(?P<rest>.*)$")


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int | None:
    """三 -> 3, 十二 -> 12, 二十三 -> 23, 一百零五 -> 105, 一二 -> 12; None if not a number."""
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    if all(c in _DIGITS for c in text):  # digit by digit, as in 一二〇三
        return int("".join(str(_DIGITS[c]) for c in text))
    match = re.fullmatch("(?:(?P<h>[一二两三四五六七八九])百)?(?:零?(?P<t>[一二两三四五六七八九]?)十)?"
                         "零?(?P<u>[一二三四五六七八九])?", text)
    if not match or not any(match.group(g) is not None for g in "htu"):
        return None
    hundreds = _DIGITS[match["h"]] if match["h"] else 0
    tens = (_DIGITS[match["t"]] if match["t"] else 1) if match["t"] is not None else 0
    units = _DIGITS[match["u"]] if match["u"] else 0
    return hundreds * 100 + tens * 10 + units


def _as_number(s: pd.Series) -> pd.Series:
    """Digits or Chinese numerals to Int64, converting each distinct value once."""
    values = s.dropna().unique()
    lookup = {v: chinese_number(v) for v in values}
    return s.map(lookup).astype("Int64")


def _unique_lookup(keys: pd.Series, codes: pd.Series) -> pd.Series:
    """key -> code for the keys that name exactly one code."""
    pairs = pd.DataFrame({"key": keys.to_numpy(), "code": codes.to_numpy()}).drop_duplicates()
    pairs = pairs[~pairs["key"].duplicated(keep=False)]
    return pd.Series(pairs["code"].to_numpy(), index=pairs["key"].to_numpy())


def _resolve(found: pd.Series, context: pd.Series, candidates: pd.DataFrame) -> pd.Series:
    """Code of each found name among `candidates` (variant, code, context_code): within its
    context where the context is known, anywhere otherwise; null unless exactly one."""
    in_context = _unique_lookup(candidates["variant"] + "|" + candidates["context_code"],
                                candidates["code"])
    anywhere = _unique_lookup(candidates["variant"], candidates["code"])
    with_context = (found + "|" + context).map(in_context)
    return with_context.where(context.notna(), found.map(anywhere)).astype("str")


def parse_address(s: pd.Series, divisions: pd.DataFrame,
                  aliases: Mapping[str, str] | None = None,
                  city: City | None = None) -> pd.DataFrame:
    """Split addresses into their parts and resolve the divisions against `divisions`
    (columns code, name, level, parent_code; levels district, street, community).

    Accepts the full form (新城区海拉尔东路街道团结社区团结小区3号楼2单元501), any leading part
    left out (团结小区3号楼), a city or region prefix, a street without 街道 or with 办事处,
    a community with 居委会, full-width digits and Chinese numerals (三号楼, 十二单元), 3栋 / 3幢
    / 3#楼 / 3-2-501, 底商12号. A name is resolved to its code only when unambiguous in its
    context (the district for a street, the street or else the district for a community);
    a resolved community or street fills in its street and district.

    Returns one row per input, on its index: district, street, community (the official
    name when resolved, else the text as written), district_code, street_code,
    community_code (null unless resolved), compound, building and unit (Int64), room (text),
    parse_level (the deepest part found: one of LEVELS).

    `city` (default: the city row of `divisions`, if any) gives the province and city names
    an address may start with.
    """
    variants = division_variants(divisions, aliases)
    if city is None and (divisions["level"] == "city").any():
        city = city_from_reference(divisions)
    text = to_simplified(nfkc(s)).str.replace(" ", "", regex=False)
    # Addresses repeat (a household, a compound): each distinct text is parsed once.
    pattern = _pattern(variants, city)
    return on_distinct(text, lambda distinct: _parse(distinct, divisions, variants, pattern))


def _parse(text: pd.Series, divisions: pd.DataFrame, variants: pd.DataFrame,
           pattern: str) -> pd.DataFrame:
    parts = text.str.extract(pattern)
    parents = divisions.set_index("code")["parent_code"]
    districts = variants[variants["level"] == "district"].assign(context_code="")
    streets = variants[variants["level"] == "street"].rename(
        columns={"parent_code": "context_code"})
    communities = variants[variants["level"] == "community"]
    no_context = pd.Series(np.nan, index=text.index, dtype="str")
    district_code = _resolve(parts["district"], no_context, districts)
    street_code = _resolve(parts["street"], district_code, streets)
    # A community within its street when that is known, else within the district.
    in_street = _resolve(parts["community"], street_code,
                         communities.rename(columns={"parent_code": "context_code"}))
    in_district = _resolve(parts["community"], district_code,
                           communities.assign(context_code=communities["parent_code"]
                                              .map(parents)))
    community_code = in_street.where(street_code.notna(), in_district)
    street_code = street_code.fillna(community_code.map(parents))
    district_code = district_code.fillna(street_code.map(parents))

    names = divisions.set_index("code")["name"]
    result = pd.DataFrame({
        "district": district_code.map(names).fillna(parts["district"]),
        "district_code": district_code,
        "street": street_code.map(names).fillna(parts["street"]),
        "street_code": street_code,
        "community": community_code.map(names).fillna(parts["community"]),
        "community_code": community_code,
        "compound": parts["compound"],
        "building": _as_number(parts["building"].fillna(parts["building_dash"])),
        "unit": _as_number(parts["unit"].fillna(parts["unit_dash"])),
        "room": parts["room"].fillna(parts["room_dash"]),
    })
    result["parse_level"] = _parse_level(result)
    return result[COLUMNS]


def _parse_level(parts: pd.DataFrame) -> pd.Series:
    level = pd.Series(LEVELS[0], index=parts.index, dtype="str")
    for name in LEVELS[1:]:
        level = level.where(parts[name].isna(), name)
    return level
