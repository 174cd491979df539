"""Landed frame -> the frame a source's suite checks.

The department tables and rosters land as columns already: they are checked as landed. The
hotline and the grid app land each record's JSON text (`raw`); here it is parsed once per batch
and flattened into one column per contract field (`caller.phone` -> `caller_phone`,
`callback.reached` -> `callback_reached`), with the ISO timestamps also parsed (`<field>_ts`,
UTC) for the cross-field rules.

Child lists (a ticket's dispatches, a grid event's persons and units) are summarised into
per-record columns rather than validated as rows of their own: a child has no key in the raw
zone and is never loaded or quarantined on its own, so its defects are facts about the record
that holds it (`persons_bad_id_number` = how many persons carry an unusable ID number). The
children of a whole batch are checked in one vectorised call, exploded and grouped back.

Every checked frame keeps the landed row's position in `_row`, so a failing row found by GX
maps back to exactly one landed row, duplicates included.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from transforms import identifiers

ROW = "_row"
LIST_SEPARATOR = "|"

HOTLINE_FIELDS = (
    "ticket_id", "channel", "received_at", "type", "urgency", "category_code", "category",
    "title", "content", "anonymous", "address_text", "lat", "lon", "district_code",
    "street_code", "community_code", "status", "first_contact_at", "resolved_at",
    "related_grid_event_id", "updated_at",
)
HOTLINE_TIMESTAMPS = ("received_at", "first_contact_at", "resolved_at", "callback_called_at",
                      "updated_at")
GRID_FIELDS = (
    "event_id", "grid_code", "reporter_staff_no", "reporter_name", "reported_at", "source",
    "category_code", "category", "description", "address_text", "lat", "lon", "status",
    "deadline_at", "dispatched_dept_code", "closed_at", "hotline_ticket_id", "updated_at",
)
GRID_TIMESTAMPS = ("reported_at", "deadline_at", "closed_at", "updated_at")
# Open311 GeoReport v2 service requests (open311.org, GeoReport/v2; README "12345 hotline").
OPEN311_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "media_url",
    "token",
)
OPEN311_TIMESTAMPS = ("requested_datetime", "updated_datetime", "expected_datetime")


def rows_as_json(frame: pd.DataFrame, default, sort_keys: bool = False) -> list[str]:
    """Each row as one JSON object text (missing values as null), non-JSON values rendered
    by `default`: the landing's content hashes, the staged record and a quarantined row's
    replay copy all render rows so, each with its own `default`."""
    columns = list(frame.columns)
    values = frame.astype(object).where(frame.notna(), None)
    return [json.dumps(dict(zip(columns, row)), ensure_ascii=False, sort_keys=sort_keys,
                       default=default)
            for row in values.itertuples(index=False, name=None)]


def parse_records(raw: pd.Series) -> list[dict]:
    """Each raw JSON text as a dict; text that is not a JSON object becomes {} (its required
    fields are then missing, which the presence rules report)."""
    parsed = []
    for text in raw.tolist():
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        parsed.append(value if isinstance(value, dict) else {})
    return parsed


def _scalar(value):
    """A JSON scalar as stored in a column; nested objects and lists become JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _text_column(values: list) -> pd.Series:
    return pd.Series([None if v is None else str(_scalar(v)) for v in values], dtype="str")


def _number_column(values: list) -> pd.Series:
    return pd.to_numeric(pd.Series([v if isinstance(v, (int, float)) and not isinstance(v, bool)
                                    else None for v in values], dtype=object), errors="coerce")


def _bool_column(values: list) -> pd.Series:
    return pd.Series(pd.array([v if isinstance(v, bool) else None for v in values],
                              dtype="boolean"))


def _timestamp(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601") \
        .astype("datetime64[ns, UTC]")


# GX compares datetime64[ns] columns vectorised only; a date outside what nanoseconds can hold
# (a typo like 2999-01-01) is kept at the edge, where any range rule still catches it.
_NS_EDGES = (pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01"))


def _nanosecond_times(values: pd.Series) -> pd.Series:
    """Parsed times for range rules, naive: a value with an offset (a TIMESTAMP WITH TIME
    ZONE column, or text like 2024-10-31T08:00:00+08:00) in UTC, one without as it is."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values.astype(object), errors="coerce", format="ISO8601",
                                utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.clip(*_NS_EDGES).astype("datetime64[ns]")


def local_times(values: pd.Series, zone: str) -> pd.Series:
    """Times a source keeps as text (a department's VARCHAR change-time column) as naive
    local times: ISO 8601 with `T` or a space, with or without seconds or fractions; a value
    written with an offset is converted to `zone`. Unreadable text becomes NaT (validation
    then names the rule it breaks). Per value: such columns are a legacy exception, and
    one column may mix naive and offset forms, which no vectorised parser accepts."""
    tz = ZoneInfo(zone)
    parsed = []
    for value in values.tolist():
        try:
            moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(tz).replace(tzinfo=None)
        parsed.append(moment)
    return pd.Series(pd.to_datetime(pd.Series(parsed, dtype=object)).to_numpy(
        dtype="datetime64[us]"), index=values.index)


def as_delivered_text(values: pd.Series) -> pd.Series:
    """A date/time column as the source's own text of its values: a DATETIME or TIMESTAMP
    value always with its time (2024-10-31 00:00:00, as the driver's datetime renders it),
    fractions and offset only where the value has them. pandas renders a column whose
    values all fall at midnight as dates only, which a rule on the text would reject."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
    fraction = values.dt.microsecond.fillna(0).astype("int64") != 0
    text = text.where(~fraction, values.dt.strftime("%Y-%m-%d %H:%M:%S.%f"))
    if values.dt.tz is not None:
        offset = values.dt.strftime("%z").str.replace(r"(\d{2})(\d{2})$", r"\1:\2", regex=True)
        text = text + offset
    return text.astype("str").where(values.notna(), None)


def _child_counts(owner: np.ndarray, bad: pd.Series, n: int) -> np.ndarray:
    """How many children of each record are bad (False/NA flags of null values are not bad)."""
    flags = bad.fillna(False).to_numpy(dtype=bool)
    return np.bincount(owner[flags], minlength=n).astype(np.int64)


def explode_children(records: list[dict], field: str) -> tuple[np.ndarray, list[dict]]:
    """(owner record position, child dict) of every element of each record's `field` list."""
    owners, children = [], []
    for position, record in enumerate(records):
        items = record.get(field)
        if isinstance(items, list):
            for item in items:
                owners.append(position)
                children.append(item if isinstance(item, dict) else {})
    return np.asarray(owners, dtype=np.int64), children


def _child_text(children: list[dict], key: str) -> pd.Series:
    return _text_column([c.get(key) for c in children])


def _located_records(landed: pd.DataFrame, fields) -> tuple[list[dict], pd.DataFrame]:
    """The landed JSON records, and their text fields plus coordinates as columns."""
    records = parse_records(landed["raw"])
    frame = pd.DataFrame({name: _text_column([r.get(name) for r in records])
                          for name in fields})
    frame["lat"] = _number_column([r.get("lat") for r in records])
    frame["lon"] = _number_column([r.get("lon") for r in records])
    return records, frame


def _with_parsed_times(frame: pd.DataFrame, names) -> pd.DataFrame:
    for name in names:
        frame[f"{name}_ts"] = _timestamp(frame[name])
    return frame


def flatten_hotline(landed: pd.DataFrame) -> pd.DataFrame:
    records, frame = _located_records(landed, HOTLINE_FIELDS)
    n = len(records)
    frame["anonymous"] = _bool_column([r.get("anonymous") for r in records])
    callers = [r.get("caller") if isinstance(r.get("caller"), dict) else {} for r in records]
    for key in ("name", "phone", "id_number"):
        frame[f"caller_{key}"] = _text_column([c.get(key) for c in callers])
    callbacks = [r.get("callback") if isinstance(r.get("callback"), dict) else {}
                 for r in records]
    frame["callback_present"] = pd.Series([bool(c) for c in callbacks])
    frame["callback_called_at"] = _text_column([c.get("called_at") for c in callbacks])
    frame["callback_reached"] = _bool_column([c.get("reached") for c in callbacks])
    frame["callback_resolved"] = _text_column([c.get("resolved") for c in callbacks])
    frame["callback_satisfaction"] = _text_column([c.get("satisfaction") for c in callbacks])
    owners, dispatches = explode_children(records, "dispatches")
    frame["dispatch_count"] = np.bincount(owners, minlength=n).astype(np.int64)
    codes = _child_text(dispatches, "dept_code")
    joined = pd.Series(codes.to_numpy(dtype=object)).groupby(owners).agg(
        lambda c: LIST_SEPARATOR.join(x for x in c if isinstance(x, str)))
    frame["dispatch_dept_codes"] = pd.Series(joined.reindex(range(n)).to_numpy(), dtype="str") \
        .replace("", None)
    return _with_parsed_times(frame, HOTLINE_TIMESTAMPS)


def flatten_grid(landed: pd.DataFrame) -> pd.DataFrame:
    records, frame = _located_records(landed, GRID_FIELDS)
    n = len(records)
    # A grid code is its community's 12-digit code + a 3-digit grid number.
    well_formed = frame["grid_code"].str.fullmatch(r"[0-9]{15}").fillna(False).astype(bool)
    frame["grid_community_code"] = frame["grid_code"].str.slice(0, 12).where(well_formed)
    owners, persons = explode_children(records, "persons")
    frame["persons_count"] = np.bincount(owners, minlength=n).astype(np.int64)
    ids = identifiers.normalize_id_number(_child_text(persons, "id_number"))
    phones = identifiers.normalize_phone(_child_text(persons, "phone"))
    frame["persons_bad_id_number"] = _child_counts(owners, ~ids["id_valid"].astype("boolean"), n)
    frame["persons_bad_phone"] = _child_counts(owners, ~phones["phone_ok"].astype("boolean"), n)
    owners, units = explode_children(records, "units")
    frame["units_count"] = np.bincount(owners, minlength=n).astype(np.int64)
    uscc = identifiers.normalize_uscc(_child_text(units, "uscc"))
    valid_uscc = uscc["uscc_format_ok"] & uscc["uscc_checksum_ok"]
    frame["units_bad_uscc"] = _child_counts(owners, ~valid_uscc.astype("boolean"), n)
    frame["units_missing_name"] = _child_counts(
        owners, _child_text(units, "name").isna().astype("boolean"), n)
    return _with_parsed_times(frame, GRID_TIMESTAMPS)


def flatten_open311(landed: pd.DataFrame) -> pd.DataFrame:
    """Open311 requests as columns: every GeoReport v2 field as the text sent (a numeric
    service_request_id as its digits), `lat` and `long` as numbers, the three times also
    parsed (`<field>_ts`, UTC)."""
    records = parse_records(landed["raw"])
    frame = pd.DataFrame({name: _text_column([r.get(name) for r in records])
                          for name in OPEN311_FIELDS})
    frame["lat"] = _number_column([r.get("lat") for r in records])
    frame["long"] = _number_column([r.get("long") for r in records])
    return _with_parsed_times(frame, OPEN311_TIMESTAMPS)


FLATTENERS = {"hotline.tickets": flatten_hotline, "grid.events": flatten_grid,
              "open311.requests": flatten_open311}


def checked_frame(source: str, landed: pd.DataFrame, time_columns=()) -> pd.DataFrame:
    """The frame the source's suite validates, row i standing for landed row i (`_row`).

    `time_columns` (date or datetime columns of a landed table) also get a parsed `<name>_ts`
    for range rules: a department driver may hand over dates as objects or text.
    """
    flatten = FLATTENERS.get(source)
    if flatten:
        frame = flatten(landed)
        # The landed columns travel along (schema rules look for them).
        for column in landed.columns:
            if column not in frame.columns:
                frame[column] = landed[column].to_numpy()
    else:
        frame = landed.reset_index(drop=True).copy(deep=False)
        for name in time_columns:
            if name in frame.columns:
                frame[f"{name}_ts"] = _nanosecond_times(frame[name])
        # Rules see each value as the source delivered it, not as pandas would print it.
        for name in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[name]) and not name.endswith("_ts"):
                frame[name] = as_delivered_text(frame[name])
    frame[ROW] = np.arange(len(frame), dtype=np.int64)
    return frame
