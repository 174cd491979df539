"""The city the pipeline serves, as data rather than code.

A `City` is built from the reference divisions (the city row names the city and carries its
division code) and the sources file's `city:` section (area codes, local abbreviations; a
division root or name given there wins over the reference). Everything else is looked up in
GB/T 2260 (`data/area_codes.csv`) from the division root: the province, the other cities of
the province and the city's own districts, whose names prefix unit names and addresses
(内蒙古XX有限公司, 包头市XX有限公司, 新城区XX便利店) and are dropped from matching keys.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property

import pandas as pd

from transforms.identifiers import AREA_CODES_CSV

_ETHNIC_SUFFIX = re.compile("(?:壮族|回族|维吾尔)$")
# Placeholders GB/T 2260 lists among prefecture- and county-level rows.
_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


@cache
def _gb2260() -> tuple[dict[str, str], dict[str, str]]:
    """(every code -> name, current codes -> name) of GB/T 2260."""
    every, current = {}, {}
    with AREA_CODES_CSV.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            every[row["code"]] = row["name"]
            if row["in_current_list"] == "1":
                current[row["code"]] = row["name"]
    return every, current


def _forms(name: str) -> list[str]:
    """The ways a division's name is written as a prefix: 广东省 / 广东, 包头市 / 包头,
    广西壮族自治区 / 广西壮族 / 广西 / 广西自治区; leagues and prefectures (兴安盟) in full."""
    if name.endswith("自治区"):
        stem = name.removesuffix("自治区")
        short = _ETHNIC_SUFFIX.sub("", stem)
        return [name, stem, short, f"{short}自治区"]
    if name.endswith(("省", "市")) and len(name) > 2:
        return [name, name[:-1]]
    return [name]


def _provinces() -> list[str]:
    every, _ = _gb2260()
    return [form for code, name in every.items()
            if code.endswith("0000") and not name.endswith("特别行政区") for form in _forms(name)]


@dataclass(frozen=True)
class City:
    division_root: str  # the city's 6-digit GB/T 2260 code, e.g. 150100
    name: str  # as the reference divisions write it, e.g. 广州市
    area_codes: tuple[str, ...] = ()  # telephone area codes; the first is assumed for bare numbers
    aliases: tuple[tuple[str, str], ...] = ()  # (what people write, official name)
    district_names: tuple[str, ...] = field(default=())  # besides GB/T 2260's

    @property
    def default_area_code(self) -> str | None:
        return self.area_codes[0] if self.area_codes else None

    def _aliases_of(self, names: Iterable[str]) -> list[str]:
        wanted = set(names)
        return [alias for alias, official in self.aliases if official in wanted]

    @cached_property
    def city_words(self) -> tuple[str, ...]:
        """The city's own name as written before an address or a unit name."""
        if not self.name:
            return ()
        return tuple(_forms(self.name) + self._aliases_of([self.name]))

    @cached_property
    def province_words(self) -> tuple[str, ...]:
        every, _ = _gb2260()
        province = every.get(f"{self.division_root[:2]}0000")
        return tuple(_forms(province)) if province else ()

    @cached_property
    def districts(self) -> tuple[str, ...]:
        """The city's districts and counties (GB/T 2260's current list and the reference's),
        with their local abbreviations (土左旗 for 土默特左旗)."""
        _, current = _gb2260()
        prefix = self.division_root[:4]
        names = [name for code, name in current.items() if code.startswith(prefix)
                 and not code.endswith("00") and name not in _PLACEHOLDERS]
        names += [n for n in self.district_names if n not in names]
        return tuple(names + self._aliases_of(names))

    @cached_property
    def neighbours(self) -> tuple[str, ...]:
        """The other cities, leagues and prefectures of the province."""
        _, current = _gb2260()
        province = self.division_root[:2]
        return tuple(form for code, name in current.items()
                     if code.startswith(province) and code.endswith("00")
                     and not code.endswith("0000") and code != self.division_root
                     and name not in _PLACEHOLDERS for form in _forms(name))

    @cached_property
    def region_words(self) -> tuple[str, ...]:
        """Every place name that may prefix a unit's name, longest first (an alternation
        tries them in order)."""
        words = set(self.city_words + self.districts + self.neighbours + self.province_words)
        words |= set(_provinces())
        return tuple(sorted(words, key=lambda w: (-len(w), w)))


def city_from_reference(divisions: pd.DataFrame, settings: Mapping | None = None) -> City:
    """The city of the reference divisions, with the sources file's `city:` section
    (`settings`: division_root, name, area_codes, aliases, districts) over them."""
    settings = dict(settings or {})
    cities = divisions[divisions["level"] == "city"] if "level" in divisions else divisions[:0]
    root = settings.get("division_root") or (
        str(cities["code"].iloc[0])[:6] if len(cities) else None)
    if root is None:
        raise ValueError("no city: the reference divisions hold no city row and the sources "
                         "file's city section names no division_root")
    name = settings.get("name") or (str(cities["name"].iloc[0]) if len(cities) else
                                    _gb2260()[0].get(root, ""))
    districts = divisions.loc[divisions["level"] == "district", "name"] \
        if "level" in divisions else []
    aliases = settings.get("aliases") or {}
    return City(division_root=root, name=name,
                area_codes=tuple(settings.get("area_codes") or ()),
                aliases=tuple(sorted(aliases.items())),
                district_names=tuple(dict.fromkeys(list(districts)
                                                   + list(settings.get("districts") or ()))))


def national() -> City:
    """No city in particular: only province names are region words (a unit name's key
    without configuration)."""
    return City(division_root="000000", name="")
