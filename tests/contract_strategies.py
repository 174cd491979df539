"""Hypothesis strategies for the value forms the source contracts allow (docs/contracts/).

Every strategy names, in its docstring, the contract field(s) it generates; the property
tests (tests/test_contract_properties.py) feed what they draw through each connector and its
validation. `docs/contracts-coverage.md` lists the forms per contract field.

A made-up city (not the simulator's) is the reference: other division codes, other names,
so nothing passes because it happens to look like the simulated city.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from common.reference import Reference, load_reference
from transforms.identifiers import gb11643_check_char, gb32100_check_char, known_area_codes

# --------------------------------------------------------------------------- reference city

CITY = ("330100000000", "钱塘市")
DISTRICTS = [("330102000000", "上城区"), ("330106000000", "西湖区")]
STREETS = [("330102001000", "湖滨街道", "330102000000"),
           ("330106002000", "北山街道", "330106000000")]
COMMUNITIES = [("330102001001", "东坡社区", "330102001000"),
               ("330102001002", "岳王社区", "330102001000"),
               ("330106002001", "保俶社区", "330106002000"),
               ("330106002002", "葛岭社区", "330106002000")]
GRIDS = [(code + f"{n:03d}", code, f"{name}第{n}网格", f"WG{n:04d}")
         for code, name, _ in COMMUNITIES for n in (1, 2)]
DEPARTMENTS = [("CG01", "城管局", "city_department"), ("ZJ01", "住建局", "city_department"),
               ("JD330102001", "湖滨街道办事处", "street_office"),
               ("RL01", "热力公司", "utility")]


def write_reference(root: Path, bom: bool = False, crlf: bool = False) -> Path:
    """The made-up city's reference tables (contracts/reference.md) as CSV under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    divisions = [(*CITY, "city", "")] + [(c, n, "district", CITY[0]) for c, n in DISTRICTS] + \
        [(c, n, "street", p) for c, n, p in STREETS] + \
        [(c, n, "community", p) for c, n, p in COMMUNITIES]
    tables = {"divisions.csv": (["code", "name", "level", "parent_code"], divisions),
              "grids.csv": (["grid_code", "community_code", "name", "grid_worker_staff_no"],
                            GRIDS),
              "departments.csv": (["dept_code", "name", "kind"], DEPARTMENTS)}
    for name, (header, rows) in tables.items():
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        writer.writerows(rows)
        (root / name).write_bytes((b"\xef\xbb\xbf" if bom else b"")
                                  + text.getvalue().encode("utf-8"))
    return root


def reference_city(root: Path) -> Reference:
    return load_reference(write_reference(root))


# --------------------------------------------------------------------------- text

# Characters GBK cannot hold (CJK extension B, a GB18030-only ideograph, an emoji): the
# UTF-8 sources and .xlsx carry them; a GBK database stored them as '?' long before us.
NOT_IN_GBK = "𠀾𪚥䶮㐂😀"
SURNAMES = "王李张刘陈杨赵黄周吴欧阳司马诸葛"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
TRADITIONAL = "張劉陳楊趙黃國華龍"


def _gbk_safe(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def person_names(gbk: bool = False) -> st.SearchStrategy[str]:
    """departments.md `name` / `legal_rep_name`, hotline `caller.name`, grid
    `persons[].name`, rosters 姓名: Han names, traditional characters, a minority name with
    its middle dot (阿不都·热合曼, also the full-width and the katakana dot), embedded and
    full-width spaces, full-width Latin letters, characters GBK cannot hold (unless `gbk`)."""
    han = st.builds(lambda s, g: s + g, st.sampled_from(list(SURNAMES) + ["欧阳", "司马"]),
                    st.text(GIVEN + TRADITIONAL, min_size=1, max_size=2))
    minority = st.builds(lambda a, dot, b: a + dot + b,
                         st.sampled_from(["阿不都", "买买提", "古丽", "巴特尔"]),
                         st.sampled_from(["·", "・", "•", "．"]),
                         st.sampled_from(["热合曼", "艾力", "娜扎", "孟和"]))
    spaced = han.map(lambda n: n[0] + " " + n[1:]) | han.map(lambda n: n[0] + "\u3000" + n[1:])
    latin = st.sampled_from(["ＪＯＨＮ　ＳＭＩＴＨ", "Maria José", "李Ａ"])
    rare = st.builds(lambda s, c: s + c, st.sampled_from(list(SURNAMES)),
                     st.sampled_from(list(NOT_IN_GBK)))
    names = st.one_of(han, minority, spaced, latin) | (st.nothing() if gbk else rare)
    return names.filter(_gbk_safe) if gbk else names


def free_text(gbk: bool = False, max_size: int = 40) -> st.SearchStrategy[str]:
    """Free-text fields (addresses, descriptions, titles, items): mixed scripts, full-width
    punctuation and brackets, quotes, newlines, markup, characters GBK cannot hold."""
    alphabet = st.sampled_from(list("路号楼单元室社区小区东西南北供暖不热（）()【】，。、“”"
                                    "\"'<>&;=+-@ 　\n0123456789ABCabcＡＢＣ１２３")
                               + ([] if gbk else list(NOT_IN_GBK)))
    return st.text(alphabet, min_size=1, max_size=max_size).filter(lambda t: t.strip())


# --------------------------------------------------------------------------- identifiers


def _area_codes() -> list[str]:
    return [f"{c:06d}" for c in np.flatnonzero(known_area_codes())[:4000:37]]


@st.composite
def resident_ids(draw, legacy: bool = True, dirty: bool = True) -> str:
    """GB 11643 resident ID numbers (departments `id_number`, `legal_rep_id_number`; hotline
    `caller.id_number`; grid `persons[].id_number`; rosters 身份证号码): 18 characters with
    their mod 11-2 check character (X included), the legacy 15-digit form (born 1900-1999),
    a lower-case x, embedded spaces or dashes, full-width digits."""
    area = draw(st.sampled_from(_area_codes()))
    born = draw(st.dates(date(1900, 1, 1), date(2020, 12, 31)))
    sequence = draw(st.integers(0, 999))
    if legacy and born.year < 2000 and draw(st.booleans()):
        number = f"{area}{born:%y%m%d}{sequence:03d}"
    else:
        first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
        number = first17 + gb11643_check_char(first17)
    return draw(dirty_identifier(number)) if dirty else number


@st.composite
def dirty_identifier(draw, clean: str) -> str:
    """The contract's repairable damage of an identifier (contracts/README.md rule 3)."""
    form = draw(st.sampled_from(["clean", "lower", "spaces", "fullwidth", "dash"]))
    if form == "lower":
        return clean.lower()
    if form == "spaces":
        cut = draw(st.integers(1, len(clean) - 1))
        return f" {clean[:cut]} {clean[cut:]} "
    if form == "fullwidth":
        return clean.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    if form == "dash":
        return clean[:6] + "-" + clean[6:]
    return clean


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@st.composite
def credit_codes(draw) -> str:
    """GB 32100 unified social credit codes (departments `uscc`, `workplace_uscc`,
    `unit_uscc`; grid `units[].uscc`): 18 characters, a valid GB 11714 organisation code
    inside and the mod 31 check character; dirty as ID numbers are."""
    from transforms.identifiers import _GB11714_CHECK  # the organisation code's check table

    head = draw(st.sampled_from(["91", "92", "93", "11", "12", "51", "52"]))
    area = draw(st.sampled_from(_area_codes()))
    org8 = "".join(draw(st.lists(st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY"),
                                 min_size=8, max_size=8)))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in org8]
    org9 = org8 + chr(_GB11714_CHECK[sum(v * w for v, w in zip(values, weights)) % 11])
    first17 = head + area + org9
    return draw(dirty_identifier(first17 + gb32100_check_char(first17)))


MOBILE_PREFIXES = ("130", "139", "150", "186", "199", "177")


@st.composite
def phones(draw) -> str:
    """Phone numbers (departments `phone`; hotline `caller.phone`; grid `persons[].phone`;
    rosters 联系电话): an 11-digit mobile with or without +86 / 0086, spaces or dashes; a
    landline with its area code (3 or 4 digits: 010, 021, 0571, 0898) and a dash."""
    if draw(st.booleans()):
        number = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(
            st.text("0123456789", min_size=8, max_size=8))
        form = draw(st.sampled_from(["plain", "+86", "+86 ", "0086", "spaced", "dashed"]))
        return {"plain": number, "+86": "+86" + number, "+86 ": "+86 " + number,
                "0086": "0086" + number,
                "spaced": f"{number[:3]} {number[3:7]} {number[7:]}",
                "dashed": f"{number[:3]}-{number[3:7]}-{number[7:]}"}[form]
    area = draw(st.sampled_from(["010", "021", "0571", "0898", "0471"]))
    local = draw(st.sampled_from("2345678")) + draw(
        st.text("0123456789", min_size=7 if len(area) == 3 else 6, max_size=7))
    return f"{area}-{local}"


# --------------------------------------------------------------------------- times

@st.composite
def moments(draw, midnight_share: bool = True) -> datetime:
    """A local wall-clock time in precision classes: exactly midnight (a nightly batch), a
    whole minute, a whole second, with milliseconds, with microseconds."""
    day = draw(st.dates(date(2016, 1, 1), date(2026, 11, 30)))
    precision = draw(st.sampled_from(["midnight", "minute", "second", "milli", "micro"]
                                     if midnight_share else ["minute", "second", "micro"]))
    if precision == "midnight":
        return datetime.combine(day, time())
    moment = datetime.combine(day, time(draw(st.integers(0, 23)), draw(st.integers(0, 59))))
    if precision != "minute":
        moment = moment.replace(second=draw(st.integers(0, 59)))
    if precision == "milli":
        moment = moment.replace(microsecond=draw(st.integers(0, 999)) * 1000)
    if precision == "micro":
        moment = moment.replace(microsecond=draw(st.integers(0, 999_999)))
    return moment


OFFSETS = ("+08:00", "Z", "+00:00", "-05:00", "+05:45")


def iso_text(moment: datetime, separator: str, seconds: bool, offset: str | None) -> str:
    """ISO 8601 text of `moment`: `T` or space, seconds (and fractions where the moment has
    them) or only hours and minutes, an offset or none."""
    text = moment.strftime(f"%Y-%m-%d{separator}%H:%M")
    if seconds or moment.second or moment.microsecond:
        text += moment.strftime(":%S")
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
    return text + (offset or "")


@st.composite
def offset_timestamps(draw) -> str:
    """JSON timestamps of the hotline (`received_at`, `updated_at`, `dispatches[].*_at`,
    `first_contact_at`, `resolved_at`, `callback.called_at`, `whistle.blown_at`) and the grid
    app (`reported_at`, `updated_at`, `deadline_at`, `closed_at`): ISO 8601 with an offset
    (+08:00, Z, other zones), `T` or space, with or without seconds,
    fractions of any length, midnight included."""
    moment = draw(moments())
    return iso_text(moment, draw(st.sampled_from(["T", " "])), draw(st.booleans()),
                    draw(st.sampled_from(OFFSETS)))


def naive_timestamps() -> st.SearchStrategy[str]:
    """An ISO 8601 time without an offset: what the JSON contracts do not allow for their
    timestamps (the instant is ambiguous)."""
    return st.builds(lambda m, sep: iso_text(m, sep, True, None), moments(),
                     st.sampled_from(["T", " "]))


# --------------------------------------------------------------------------- departments

@dataclass(frozen=True)
class UpdatedAtForm:
    """How a department table holds `updated_at` (departments.md: datetime, local time):
    the column type and, for a text column, the text form."""

    column: str  # DATETIME, DATETIME(6), TIMESTAMP, TEXT
    separator: str = " "
    seconds: bool = True
    offset: str | None = None

    def value(self, moment: datetime):
        if self.column == "TEXT":
            return iso_text(moment, self.separator, self.seconds, self.offset)
        if self.column != "DATETIME(6)":
            return moment.replace(microsecond=0)
        return moment


def updated_at_forms(engine: str) -> st.SearchStrategy[UpdatedAtForm]:
    """departments.md `updated_at`: a DATETIME column (with or without fractional seconds),
    a TIMESTAMP column, or a text column holding the time as text (`T` or space, with or
    without seconds or fractions, +08:00 written out)."""
    typed = st.sampled_from([UpdatedAtForm("DATETIME"), UpdatedAtForm("TIMESTAMP")]
                            + ([UpdatedAtForm("DATETIME(6)")] if engine == "mariadb" else []))
    text = st.builds(UpdatedAtForm, st.just("TEXT"), st.sampled_from([" ", "T"]),
                     st.booleans(), st.sampled_from([None, None, "+08:00"]))
    return typed | text


def community_codes() -> st.SearchStrategy[str]:
    """A `community_code` / `residence_community_code` of the reference city."""
    return st.sampled_from([code for code, _, _ in COMMUNITIES])


def nullable(strategy: st.SearchStrategy, null_share: bool = True) -> st.SearchStrategy:
    """A contract column marked `null`: NULL or a value."""
    return st.none() | strategy if null_share else strategy


@st.composite
def resident_rows(draw, gbk: bool = False) -> dict:
    """One row of civil_affairs.residents as the contract allows every column
    (departments.md): `name` in every script, `id_type` of the five document types,
    `id_number` 18-digit / legacy 15-digit / dirty / NULL, `gender` 男/女 or 1/2,
    `birth_date` a date or NULL, `ethnicity` a 民族 or NULL, `phone` mobile/landline/NULL,
    addresses free text or NULL, `community_code` or NULL, `status` of three; `updated_at`
    is filled by the caller (its form is the table's)."""
    id_type = draw(st.sampled_from(["居民身份证"] * 4 + ["护照", "港澳居民来往内地通行证",
                                                          "台湾居民来往大陆通行证",
                                                          "外国人永久居留身份证"]))
    return {
        "name": draw(person_names(gbk)),
        "id_type": id_type,
        "id_number": draw(nullable(resident_ids() if id_type == "居民身份证"
                                   else st.text("ABCDEFGH0123456789", min_size=8,
                                                max_size=12))),
        "gender": draw(st.sampled_from(["男", "女", "1", "2"])),
        "birth_date": draw(nullable(st.dates(date(1900, 1, 1), date(2024, 12, 31)))),
        "ethnicity": draw(nullable(st.sampled_from(["汉族", "蒙古族", "回族", "满族",
                                                    "维吾尔族"]))),
        "phone": draw(nullable(phones())),
        "household_no": draw(nullable(st.text("0123456789", min_size=9, max_size=12))),
        "relation_to_head": draw(nullable(st.sampled_from(["户主", "配偶", "子", "女", "父亲",
                                                           "母亲"]))),
        "registered_address": draw(nullable(free_text(gbk))),
        "residence_address": draw(nullable(free_text(gbk))),
        "community_code": draw(nullable(community_codes())),
        "status": draw(st.sampled_from(["正常", "迁出", "死亡"])),
    }


# A contract-invalid change to one column of a resident row, and the rule that must name it.
RESIDENT_DEFECTS = {
    "status": ("在册", "status.allowed"),
    "gender": ("M", "gender.allowed"),
    "id_type": ("军官证", "id_type.allowed"),
    "name": (None, "name.present"),
}

# Warnings a contract-valid resident row may carry: a 居民身份证 holder without a number
# (the contract lets it be missing, the register flags it).
RESIDENT_ALLOWED_WARNINGS = {"id_number.present_for_resident_id"}


def one_row_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


PLATFORM_TZ = timezone(timedelta(hours=8))


# --------------------------------------------------------------------------- hotline

@st.composite
def tickets(draw, number: int) -> dict:
    """One 12345 ticket as hotline.openapi.yaml allows it: every enum value (`channel`,
    `type`, `urgency`, `status`, `dispatches[].mode`, `callback.resolved/satisfaction`),
    every nullable field NULL or filled (`title`, `caller` and each of its fields,
    `address_text`, `lat`/`lon`, the three division codes, `whistle`, `first_contact_at`,
    `resolved_at`, `callback`, `related_grid_event_id`), `anonymous` tickets without caller
    data, an unreached callback without verdicts, timestamps in every ISO 8601 form with an
    offset (offset_timestamps), names in every script. Times are consistent (nothing happens
    before the ticket was received)."""
    received = draw(moments())
    zone = draw(st.sampled_from(OFFSETS))
    separator = draw(st.sampled_from(["T", " "]))
    seconds = draw(st.booleans())

    def at(moment: datetime) -> str:
        offset_hours = {"+08:00": 8, "Z": 0, "+00:00": 0, "-05:00": -5, "+05:45": 5.75}[zone]
        # The same instant written in the drawn zone (source-local time is UTC+8).
        local = moment - timedelta(hours=8) + timedelta(hours=offset_hours)
        return iso_text(local, separator, seconds, zone)

    later = st.builds(lambda m: received + timedelta(minutes=m), st.integers(1, 60 * 24 * 20))
    anonymous = draw(st.booleans())
    caller = None if anonymous and draw(st.booleans()) else {
        "name": None if anonymous else draw(nullable(person_names())),
        "phone": None if anonymous else draw(nullable(phones())),
        "id_number": None if anonymous else draw(nullable(resident_ids())),
    }
    community = draw(nullable(st.sampled_from(COMMUNITIES)))
    dispatches = []
    for _ in range(draw(st.integers(0, 2))):
        sent = draw(later)
        returned = draw(nullable(later.filter(lambda m, s=sent: m >= s)))
        dispatches.append({
            "dept_code": draw(st.sampled_from([d[0] for d in DEPARTMENTS])),
            "mode": draw(st.sampled_from(["派单", "直派", "吹哨"])),
            "dispatched_at": at(sent),
            "accepted_at": draw(nullable(later.map(at))),
            "returned_at": None if returned is None else at(returned),
            "return_reason": None if returned is None else draw(free_text(max_size=10))})
    whistle = draw(nullable(st.builds(lambda blown, reported: {
        "blown_at": at(blown), "street_code": STREETS[0][0],
        "summoned": [{"dept_code": "CG01", "reported_at": reported}]},
        later, nullable(later.map(at)))))
    resolved = draw(nullable(later))
    reached = draw(st.booleans())
    callback = draw(nullable(st.builds(lambda called: {
        "called_at": at(called), "reached": reached,
        "resolved": draw(st.sampled_from(["已解决", "未解决"])) if reached else None,
        "satisfaction": draw(nullable(st.sampled_from(["满意", "基本满意", "不满意"])))
        if reached else None}, later)))
    changes = [m for m in [received, resolved] if m is not None]
    updated = max(changes) + timedelta(minutes=draw(st.integers(0, 600)))
    category = draw(st.sampled_from(["0305", "0102", "1201"]))
    return {
        "ticket_id": f"HL2026{number:010d}",
        "channel": draw(st.sampled_from(["电话", "网站", "微信", "APP", "市长信箱"])),
        "received_at": at(received),
        "type": draw(st.sampled_from(["投诉", "求助", "咨询", "建议", "举报", "表扬"])),
        "urgency": draw(st.sampled_from(["一般", "紧急"])),
        "category_code": category,
        "category": draw(free_text(max_size=12)),
        "title": draw(nullable(free_text())),
        "content": draw(free_text(max_size=80)),
        "caller": caller,
        "anonymous": anonymous,
        "address_text": draw(nullable(free_text())),
        "lat": draw(nullable(st.floats(18.5, 53.5))),
        "lon": draw(nullable(st.floats(73.5, 134.5))),
        "district_code": None if community is None else
        next(s[2] for s in STREETS if s[0] == community[2]),
        "street_code": None if community is None else community[2],
        "community_code": None if community is None else community[0],
        "status": draw(st.sampled_from(["待派单", "已派单", "处理中", "已办结", "已回访",
                                        "已退单"])),
        "dispatches": dispatches,
        "whistle": whistle,
        "first_contact_at": draw(nullable(later.map(at))),
        "resolved_at": None if resolved is None else at(resolved),
        "callback": callback,
        "related_grid_event_id": draw(nullable(st.just("GE2026112500017"))),
        "updated_at": at(updated),
    }


# A contract-invalid change to a ticket, and the rule (or connector reason) that must name it.
TICKET_DEFECTS = {
    "channel": (lambda t, bad: t | {"channel": "短信"}, "channel.allowed"),
    "type": (lambda t, bad: t | {"type": "其他"}, "type.allowed"),
    "status": (lambda t, bad: t | {"status": "已关闭"}, "status.allowed"),
    "received_at_naive": (lambda t, bad: t | {"received_at": bad}, "received_at.is_timestamp"),
    "received_at_missing": (lambda t, bad: {k: v for k, v in t.items() if k != "received_at"},
                            "received_at.present"),
    "anonymous_with_caller": (lambda t, bad: t | {"anonymous": True, "caller": {
        "name": "李秀英", "phone": None, "id_number": None}}, "caller_name.absent_when_anonymous"),
    "unreached_with_verdict": (lambda t, bad: t | {"callback": {
        "called_at": t["updated_at"], "reached": False, "resolved": None,
        "satisfaction": "满意"}}, "callback_satisfaction.absent_when_unreached"),
}


# --------------------------------------------------------------------------- grid


@st.composite
def grid_events(draw, number: int) -> dict:
    """One line of the grid app's export as grid.md allows it: every required field, each
    optional one (`lat`/`lon` also 0/0 or swapped, `persons[]` whose name / id_number /
    phone may each be missing, `units[]` with or without a uscc, `deadline_at`,
    `dispatched_dept_code`, `closed_at` set when 已结案, `hotline_ticket_id`) present or
    not, every `source` and `status`, timestamps in every ISO 8601 form with an offset,
    and fields the vendor added without notice."""
    reported = draw(moments())
    zone = draw(st.sampled_from(OFFSETS))
    separator, seconds = draw(st.sampled_from(["T", " "])), draw(st.booleans())

    def at(moment: datetime) -> str:
        hours = {"+08:00": 8, "Z": 0, "+00:00": 0, "-05:00": -5, "+05:45": 5.75}[zone]
        return iso_text(moment - timedelta(hours=8 - hours), separator, seconds, zone)

    later = st.builds(lambda m: reported + timedelta(minutes=m), st.integers(1, 60 * 24 * 9))
    status = draw(st.sampled_from(["已上报", "已派遣", "处置中", "已处置", "已结案", "已退回"]))
    closed = draw(later) if status == "已结案" else None
    grid = draw(st.sampled_from(GRIDS))
    event = {
        "event_id": f"GE2026{number:09d}",
        "grid_code": grid[0],
        "reporter_staff_no": grid[3],
        "reporter_name": draw(person_names()),
        "reported_at": at(reported),
        "source": draw(st.sampled_from(["巡查上报", "群众反映", "12345转办", "部门移交"])),
        "category_code": draw(st.sampled_from(["0102", "0305", "1201"])),
        "category": "市容环境/暴露垃圾",
        "description": draw(free_text()),
        "address_text": draw(free_text()),
        "status": status,
        "updated_at": at(max([reported, closed or reported]) + timedelta(minutes=1)),
    }
    place = draw(st.sampled_from(["inside", "zero", "swapped", "absent", "null"]))
    lat, lon = draw(st.floats(18.5, 53.5)), draw(st.floats(73.5, 134.5))
    event |= {"inside": {"lat": lat, "lon": lon}, "zero": {"lat": 0, "lon": 0},
              "swapped": {"lat": lon, "lon": lat}, "absent": {},
              "null": {"lat": None, "lon": None}}[place]
    optional = {
        "persons": st.lists(st.fixed_dictionaries({}, optional={
            "name": person_names(), "id_number": resident_ids(), "phone": phones(),
            "role": st.sampled_from(["当事人", "反映人"])}), max_size=3),
        "units": st.lists(st.fixed_dictionaries({"name": free_text(max_size=20)}, optional={
            "uscc": credit_codes(), "role": st.just("责任单位")}), max_size=2),
        "deadline_at": later.map(at),
        "dispatched_dept_code": st.sampled_from([d[0] for d in DEPARTMENTS]),
        "hotline_ticket_id": st.just("HL20261125000123"),
        "vendor_added_field": free_text(max_size=8),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    if closed is not None:
        event["closed_at"] = at(closed)
    return event


# Warnings a contract-valid event may carry: 0/0 and swapped coordinates are the contract's
# own noise ("sometimes 0/0 or swapped"), flagged, never quarantined.
GRID_ALLOWED_WARNINGS = {"lat.range", "lon.range"}

GRID_DEFECTS = {
    "status": (lambda e, bad: e | {"status": "已关闭"}, "status.allowed"),
    "source": (lambda e, bad: e | {"source": "电话"}, "source.allowed"),
    "reported_at_naive": (lambda e, bad: e | {"reported_at": bad}, "reported_at.is_timestamp"),
    "unknown_community": (lambda e, bad: e | {"grid_code": "330199999001001"},
                          "grid_code.known_community"),
}


# --------------------------------------------------------------------------- rosters

ROSTER_VALUES = {
    "gender": st.sampled_from(["男", "女"]),
    "ethnicity": st.sampled_from(["汉族", "蒙古族", "回族", "满族"]),
    "political_status": st.sampled_from(["中共党员", "中共预备党员", "共青团员", "群众"]),
    "education": st.sampled_from(["大学本科", "大专", "高中", "硕士研究生"]),
    "post": st.sampled_from(["社区党委书记", "社区居委会主任", "副书记", "委员", "网格员",
                             "党建组织员", "专职社区工作者"]),
    "post_grade": st.sampled_from(["一岗一级", "二岗七级", "三岗十八级", "1", "18", 7]),
    "staff_no": st.builds(lambda n: f"WG{n:04d}", st.integers(1, 9999)),
    "note": st.sampled_from(["新入职", "借调", "备注：产假"]),
}


def roster_dates() -> st.SearchStrategy:
    """rosters.md `birth` / `hired_on`: 1988.05, 1988年5月, 1988-05-03, an Excel date serial
    as text, or a typed date cell (workbooks)."""
    day = st.dates(date(1960, 1, 1), date(2005, 12, 31))
    return st.one_of(day.map(lambda d: f"{d.year}.{d.month:02d}"),
                     day.map(lambda d: f"{d.year}年{d.month}月"),
                     day.map(lambda d: f"{d.year}年{d.month}月{d.day}日"),
                     day.map(lambda d: d.isoformat()),
                     day.map(lambda d: str((d - date(1899, 12, 30)).days)),
                     day)


@st.composite
def roster_headers(draw) -> list[tuple[str, str]]:
    """(logical column, header text) of a roster's columns, in the office's order: every
    header spelling of the contract's table (rosters.md), sometimes with a required-field
    star, full-width letters or a hint in brackets; `name` always, two to all others."""
    from connectors.rosters import DEFAULT_HEADER_SYNONYMS

    others = [c for c in DEFAULT_HEADER_SYNONYMS if c != "name"]
    chosen = ["name", *draw(st.lists(st.sampled_from(others), min_size=2, unique=True))]
    columns = draw(st.permutations(chosen))
    headers = []
    for logical in columns:
        spelling = draw(st.sampled_from(DEFAULT_HEADER_SYNONYMS[logical]))
        decorate = draw(st.sampled_from(["plain", "plain", "star", "hint", "spaced"]))
        headers.append((logical, {"plain": spelling, "star": "*" + spelling,
                                  "hint": spelling + "（必填）", "spaced": " ".join(spelling)
                                  }[decorate]))
    return headers


ROSTER_FORMATS = ("xlsx", "xls", "csv:utf-8-sig", "csv:gbk", "csv:gb18030")
