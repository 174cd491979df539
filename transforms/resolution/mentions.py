"""One row per person or unit mention in the staged records, normalised for matching.

Fields are pulled out of the staged JSON by an in-process DuckDB (set-based, whichever engine
the warehouse runs on); normalisation reuses transforms.identifiers / text / address.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from common.sources import ENTERPRISES, GRID, HOTLINE, RESIDENTS, ROSTERS
from common.sources import PARTY_MEMBERS as PARTY
from common.sources import UNIT_REPORTS as REPORTS
from transforms.address import parse_address
from transforms.identifiers import normalize_id_number, normalize_phone, normalize_uscc
from transforms.text import (
    name_pinyin,
    normalize_person_name,
    normalize_unit_name,
    on_distinct,
    repair_mojibake,
)

# A mention's source: the record's source, or a part of it that names another person/unit.
LEGAL_REP = f"{ENTERPRISES}.legal_rep"
WORKPLACE = f"{PARTY}.workplace"
GRID_PERSONS = f"{GRID}.persons"
GRID_UNITS = f"{GRID}.units"

PERSON_SOURCES = (RESIDENTS, LEGAL_REP, PARTY, HOTLINE, GRID_PERSONS, ROSTERS)
UNIT_SOURCES = (ENTERPRISES, WORKPLACE, REPORTS, GRID_UNITS)
# The staged source each mention source is read from.
STAGED_SOURCE = {RESIDENTS: RESIDENTS, LEGAL_REP: ENTERPRISES, PARTY: PARTY, HOTLINE: HOTLINE,
                 GRID_PERSONS: GRID, ROSTERS: ROSTERS, ENTERPRISES: ENTERPRISES,
                 WORKPLACE: PARTY, REPORTS: REPORTS, GRID_UNITS: GRID}

PERSON_COLUMNS = [
    "source", "source_record_id", "content_hash", "name", "name_pinyin", "surname_pinyin",
    "given_pinyin", "id_number", "id_valid", "id_checksum_ok", "id_area_ok", "phone",
    "birth_date", "birth_ym", "gender", "district_code", "street_code", "community_code",
    "compound", "building", "address", "household", "first_seen", "last_seen",
]
UNIT_COLUMNS = [
    "source", "source_record_id", "content_hash", "name", "unit_name_key", "parent_name_key",
    "is_branch", "uscc", "uscc_valid", "entity_type", "status", "phone", "community_code",
    "first_seen", "last_seen",
]

# Per mention source: SQL over `versions` (the latest staged version of each record) giving
# raw fields; `j` is the record as JSON. Arrays (grid persons/units) give one row per item.
_S = "json_extract_string"
_PERSON_SQL = {
    RESIDENTS: f"""
        SELECT source_record_id, {_S}(j,'$.name') name,
          CASE WHEN coalesce({_S}(j,'$.id_type'),'居民身份证') = '居民身份证'
               THEN {_S}(j,'$.id_number') END id_number,
          {_S}(j,'$.phone') phone, {_S}(j,'$.birth_date') birth, {_S}(j,'$.gender') gender,
          {_S}(j,'$.residence_address') address, {_S}(j,'$.community_code') community_code,
          {_S}(j,'$.household_no') household, NULL street_code, NULL community_name""",
    LEGAL_REP: f"""
        SELECT source_record_id, {_S}(j,'$.legal_rep_name') name,
          {_S}(j,'$.legal_rep_id_number') id_number, NULL phone, NULL birth, NULL gender,
          NULL address, NULL community_code, NULL household, NULL street_code,
          NULL community_name""",
    PARTY: f"""
        SELECT source_record_id, {_S}(j,'$.name') name, {_S}(j,'$.id_number') id_number,
          {_S}(j,'$.phone') phone, NULL birth, NULL gender, NULL address,
          {_S}(j,'$.residence_community_code') community_code, NULL household,
          NULL street_code, NULL community_name""",
    HOTLINE: f"""
        SELECT source_record_id, {_S}(j,'$.caller.name') name,
          {_S}(j,'$.caller.id_number') id_number, {_S}(j,'$.caller.phone') phone, NULL birth,
          NULL gender, {_S}(j,'$.address_text') address, {_S}(j,'$.community_code')
          community_code, NULL household, NULL street_code, NULL community_name""",
    GRID_PERSONS: f"""
        SELECT source_record_id || '#' || i source_record_id, {_S}(p,'$.name') name,
          {_S}(p,'$.id_number') id_number, {_S}(p,'$.phone') phone, NULL birth, NULL gender,
          NULL address, substr({_S}(j,'$.grid_code'), 1, 12) community_code, NULL household,
          NULL street_code, NULL community_name
        FROM (SELECT *, unnest(range(coalesce(json_array_length(j,'$.persons'),0)::BIGINT)) i FROM versions)
          , LATERAL (SELECT json_extract(j, '$.persons[' || i || ']') p)""",
    ROSTERS: f"""
        SELECT source_record_id, {_S}(j,'$.name') name, {_S}(j,'$.id_number') id_number,
          {_S}(j,'$.phone') phone, {_S}(j,'$.birth') birth, {_S}(j,'$.gender') gender,
          NULL address, NULL community_code, NULL household, {_S}(j,'$.street_code')
          street_code, {_S}(j,'$.community') community_name""",
}
_UNIT_SQL = {
    ENTERPRISES: f"""
        SELECT source_record_id, {_S}(j,'$.name') name, {_S}(j,'$.uscc') uscc,
          {_S}(j,'$.entity_type') entity_type, {_S}(j,'$.status') status,
          {_S}(j,'$.phone') phone, {_S}(j,'$.community_code') community_code""",
    WORKPLACE: f"""
        SELECT source_record_id, {_S}(j,'$.workplace_name') name,
          {_S}(j,'$.workplace_uscc') uscc, NULL entity_type, NULL status, NULL phone,
          NULL community_code""",
    REPORTS: f"""
        SELECT source_record_id, {_S}(j,'$.unit_name') name, {_S}(j,'$.unit_uscc') uscc,
          NULL entity_type, NULL status, NULL phone, {_S}(j,'$.community_code')
          community_code""",
    GRID_UNITS: f"""
        SELECT source_record_id || '#' || i source_record_id, {_S}(u,'$.name') name,
          {_S}(u,'$.uscc') uscc, NULL entity_type, NULL status, NULL phone,
          substr({_S}(j,'$.grid_code'), 1, 12) community_code
        FROM (SELECT *, unnest(range(coalesce(json_array_length(j,'$.units'),0)::BIGINT)) i FROM versions)
          , LATERAL (SELECT json_extract(j, '$.units[' || i || ']') u)""",
}


def latest_sql(sources, since: bool = False) -> str:
    """SQL (PostgreSQL and DuckDB alike) for the latest staged version of each record of the
    staged `sources`, with the first and last time a version of it landed, among versions
    staged up to `:until`; with `since`, only records with a version staged after `:since`
    (staged, not landed: a version released from quarantine is staged after it landed).
    Run in the warehouse, so that no engine holds every version in Python."""
    names = ", ".join(f"'{s}'" for s in sorted(set(sources)))
    changed = (f"JOIN (SELECT DISTINCT source, source_record_id FROM staging.record_version "
               f"WHERE source IN ({names}) AND staged_at > :since AND staged_at <= :until) c "
               f"USING (source, source_record_id)") if since else ""
    return f"""
        SELECT source, source_record_id, content_hash, record, first_seen, last_seen FROM (
          SELECT r.source, r.source_record_id, r.content_hash, r.record,
                 row_number() OVER (PARTITION BY r.source, r.source_record_id
                   ORDER BY r.record_updated_at DESC NULLS LAST, r.landed_at DESC) AS rank,
                 min(r.landed_at) OVER (PARTITION BY r.source, r.source_record_id) AS first_seen,
                 max(r.landed_at) OVER (PARTITION BY r.source, r.source_record_id) AS last_seen
          FROM staging.record_version r {changed}
          WHERE r.source IN ({names}) AND r.staged_at <= :until) latest
        WHERE rank = 1"""


def _extract(latest: pd.DataFrame, queries: dict[str, str]) -> pd.DataFrame:
    con = duckdb.connect()
    frames = []
    for source, sql in queries.items():
        subset = latest[latest["source"] == STAGED_SOURCE[source]]
        if subset.empty:
            continue
        con.register("versions_raw", subset)
        con.execute("CREATE OR REPLACE TEMP TABLE versions AS SELECT *, record::JSON j "
                    "FROM versions_raw")
        body = sql if "FROM (" in sql else sql + " FROM versions"
        body = body.replace("SELECT ", "SELECT content_hash, first_seen, last_seen, ", 1)
        frame = con.execute(body).df()
        frame.insert(0, "source", source)
        frames.append(frame)
        con.unregister("versions_raw")
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


_HONORIFIC_GENDER = {"先生": "男", "女士": "女", "小姐": "女", "大爷": "男", "阿姨": "女",
                     "师傅": None, "老师": None}
_HONORIFIC_RE = f"^(.{{1,2}}?)({'|'.join(_HONORIFIC_GENDER)})$"


def _gender(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip()
    return text.map({"1": "男", "2": "女", "男": "男", "女": "女", "M": "男", "F": "女"}) \
        .astype("str")


_BIRTH_RE = r"^\s*(\d{4})\s*(?:[-./年]\s*(\d{1,2}))?\s*(?:[-./月]\s*(\d{1,2}))?"


def _birth(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(full birth date as 'YYYY-MM-DD' or null, 'YYYY-MM' or null) from what a source wrote:
    1988-05-03, 1988.05, 1988年5月, or an Excel date serial."""
    text = values.astype("str").str.strip()
    serial = pd.to_numeric(text.where(text.str.fullmatch(r"\d{5}(\.0+)?").fillna(False)),
                           errors="coerce")
    from_serial = (pd.Timestamp("1899-12-30") + pd.to_timedelta(serial, unit="D")) \
        .dt.strftime("%Y-%m-%d")
    text = text.where(serial.isna(), from_serial)
    parts = text.str.extract(_BIRTH_RE)
    month = pd.to_numeric(parts[1], errors="coerce")
    day = pd.to_numeric(parts[2], errors="coerce")
    ok_month = month.between(1, 12)
    ym = (parts[0] + "-" + month.astype("Int64").astype("str").str.zfill(2)).where(ok_month)
    full = pd.to_datetime(ym + "-" + day.astype("Int64").astype("str").str.zfill(2),
                          errors="coerce", format="%Y-%m-%d")
    return full.dt.strftime("%Y-%m-%d").astype("str"), ym.astype("str")


def _split_pinyin(name: pd.Series, pinyin: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Surname and given-name pinyin (one-character surname unless a known compound one)."""
    surname_len = name.str[:2].isin(["欧阳", "司马", "诸葛", "上官", "尉迟", "万俟", "单于",
                                     "长孙", "澹台", "令狐", "东方", "皇甫", "慕容"]) + 1
    surname = name.str[:1].where(surname_len == 1, name.str[:2])
    surname_py = name_pinyin(on_distinct(surname, lambda s: s) if len(surname) else surname)
    surname_py = surname_py.where(surname_len == 1, name_pinyin(name.str[:2]))
    # Given-name pinyin: what is left of the whole name's reading after the surname's.
    given = pd.Series([p[len(s):] if isinstance(p, str) and isinstance(s, str)
                       and p.startswith(s) else None
                       for p, s in zip(pinyin.tolist(), surname_py.tolist())],
                      index=name.index, dtype="str")
    return surname_py, given


def _community_codes(street_code: pd.Series, community_name: pd.Series,
                     divisions: pd.DataFrame) -> pd.Series:
    """Community code of a community named within a known street (rosters name it)."""
    communities = divisions[divisions["level"] == "community"]
    lookup = dict(zip(communities["parent_code"] + "|" + communities["name"],
                      communities["code"]))
    name = normalize_person_name(community_name.astype("str"))
    return (street_code.astype("str") + "|" + name).map(lookup).astype("str")


def person_mentions(latest: pd.DataFrame, divisions: pd.DataFrame) -> pd.DataFrame:
    """Normalised person mentions (PERSON_COLUMNS) of the latest staged versions."""
    raw = _extract(latest, _PERSON_SQL)
    if raw.empty:
        return pd.DataFrame(columns=PERSON_COLUMNS)
    # A record with none of name, ID or phone (an anonymous caller) mentions nobody.
    raw = raw[raw[["name", "id_number", "phone"]].notna().any(axis=1)].reset_index(drop=True)
    name, _ = repair_mojibake(raw["name"].astype("str"))
    name = on_distinct(name, normalize_person_name)
    name = name.where(name.str.len() > 0)
    # An operator writes 李先生 / 王女士 when the caller gives only a surname.
    honorific = name.str.extract(_HONORIFIC_RE)
    surname_only = honorific[0].notna()
    name = name.where(~surname_only)
    pinyin = on_distinct(name, name_pinyin)
    surname_py, given_py = _split_pinyin(name, pinyin)
    surname_py = surname_py.fillna(name_pinyin(honorific[0]).where(surname_only))
    ids = normalize_id_number(raw["id_number"].astype("str"))
    phones = normalize_phone(raw["phone"].astype("str"))
    birth_full, birth_ym = _birth(raw["birth"])
    id_birth = (ids["id_number"].str[6:10] + "-" + ids["id_number"].str[10:12] + "-"
                + ids["id_number"].str[12:14]).where(ids["id_birth_ok"].fillna(False))
    id_gender = ids["id_number"].str[16].astype("float").mod(2).map({1.0: "男", 0.0: "女"})
    birth_date = birth_full.fillna(id_birth)
    address = parse_address(raw["address"].astype("str"), divisions)
    community = raw["community_code"].astype("str").where(
        raw["community_code"].astype("str").str.fullmatch(r"\d{12}").fillna(False))
    community = community.fillna(address["community_code"]).fillna(
        _community_codes(raw["street_code"], raw["community_name"], divisions))
    valid = ids["id_valid"].fillna(False).astype(bool)
    return pd.DataFrame({
        "source": raw["source"], "source_record_id": raw["source_record_id"],
        "content_hash": raw["content_hash"], "name": name, "name_pinyin": pinyin,
        "surname_pinyin": surname_py, "given_pinyin": given_py,
        "id_number": ids["id_number"], "id_valid": valid,
        "id_checksum_ok": ids["id_checksum_ok"].fillna(False).astype(bool),
        "id_area_ok": ids["id_area_ok"].fillna(False).astype(bool),
        "phone": phones["phone"],
        "birth_date": birth_date.astype("str"),
        "birth_ym": birth_ym.fillna(birth_date.str[:7]).astype("str"),
        "gender": _gender(raw["gender"]).fillna(id_gender.where(valid)).fillna(
            honorific[1].map(_HONORIFIC_GENDER)).astype("str"),
        "district_code": community.str[:6].where(community.notna()).fillna(
            address["district_code"].str[:6]).astype("str"),
        "street_code": community.str[:9].where(community.notna()).fillna(
            address["street_code"].str[:9]).astype("str"),
        "community_code": community.astype("str"),
        "compound": address["compound"].astype("str"),
        "building": address["building"].astype("str").where(address["building"].notna()),
        "address": raw["address"].astype("str"),
        "household": raw["household"].astype("str"),
        "first_seen": pd.to_datetime(raw["first_seen"], utc=True),
        "last_seen": pd.to_datetime(raw["last_seen"], utc=True),
    })[PERSON_COLUMNS]


def unit_mentions(latest: pd.DataFrame) -> pd.DataFrame:
    """Normalised unit mentions (UNIT_COLUMNS) of the latest staged versions."""
    raw = _extract(latest, _UNIT_SQL)
    if raw.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    raw = raw[raw[["name", "uscc"]].notna().any(axis=1)].reset_index(drop=True)
    repaired, _ = repair_mojibake(raw["name"].astype("str"))
    names = normalize_unit_name(repaired)
    uscc = normalize_uscc(raw["uscc"].astype("str"))
    phones = normalize_phone(raw["phone"].astype("str"))
    community = raw["community_code"].astype("str")
    return pd.DataFrame({
        "source": raw["source"], "source_record_id": raw["source_record_id"],
        "content_hash": raw["content_hash"], "name": names["unit_name"],
        "unit_name_key": names["unit_name_key"].where(names["unit_name_key"] != ""),
        "parent_name_key": names["parent_name_key"].where(names["parent_name_key"] != ""),
        "is_branch": names["is_branch"].fillna(False).astype(bool),
        "uscc": uscc["uscc"],
        "uscc_valid": uscc["uscc_checksum_ok"].fillna(False).astype(bool),
        "entity_type": raw["entity_type"].astype("str"),
        "status": raw["status"].astype("str"),
        "phone": phones["phone"],
        "community_code": community.where(community.str.fullmatch(r"\d{12}").fillna(False)),
        "first_seen": pd.to_datetime(raw["first_seen"], utc=True),
        "last_seen": pd.to_datetime(raw["last_seen"], utc=True),
    })[UNIT_COLUMNS]
