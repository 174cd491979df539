"""Grid-management app (contract: grid.md): the vendor's daily JSON Lines exports.

Grid workers report events that move through 已上报 → 已派遣 → 处置中 → 已处置 → 已结案 (or
end as 已退回) over hours and days. The export for a day holds every event created or changed
that day, in its state at the end of that day, so an event shows up again in later files
with a new status (the latest `updated_at` wins). Events transferred from the 12345 hotline
come from `city.extras['hotline_to_grid']` (written by the hotline emitter); a few patrol
events describe the same problem as a hotline ticket without naming it (the pairs are in
the truth, for the linking step to be measured against).

Files and noise (each at its `NoiseRates` rate and logged): gzip-compressed files
(`gzip_file`), broken lines (`broken_line`: truncated, or not JSON at all), unknown extra
fields (`extra_field`), a required field left out (`missing`), noisy person and unit fields,
and re-exported days (`reexport_day`): the day's first export was cut short
(`grid_history/events_YYYYMMDD.v1.jsonl[.gz]`), the complete file replaced it later under
the same name (`grid/`).

Truth (`truth/grid_*.parquet`): `exports` (every export version: name, where its bytes are,
when it was dropped, sha256, lines), `emitted` (every line of every version: file, line
number, sha256, event_id and updated_at when parseable, valid or not, its noise),
`persons` / `units` (one row per array element, keyed event_id#index), `noise`, and
`hotline_same_problem` (event_id, ticket_id of the unlinked twins).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from simulator import identity
from simulator.model import City
from simulator.noise import Noiser

SOURCE_STREAM = 26482  # "gr": this emitter's own sub-stream of the city seed
SOURCE = "grid.events"
PERSONS_SOURCE = "grid.events.persons"
UNITS_SOURCE = "grid.events.units"
OWN_SEQUENCE_LIMIT = 9_000_000  # sequences from 9000000 up belong to hotline transfers
SAME_PROBLEM_SHARE = 0.05  # of transferred tickets, also reported by a patrol without a link
GEO_ZERO_SHARE = 0.02  # the contract's "sometimes 0/0 or swapped": part of the app, not noise
GEO_SWAPPED_SHARE = 0.01
DAY = 86_400
HOUR = 3_600

STATUSES = ["已上报", "已派遣", "处置中", "已处置", "已结案", "已退回"]
REPORTED, DISPATCHED, HANDLING, HANDLED, CLOSED, RETURNED = range(6)
OWN_SOURCES = ["巡查上报", "群众反映", "部门移交"]
OWN_SOURCE_WEIGHTS = [0.70, 0.20, 0.10]
REQUIRED_FIELDS = ["event_id", "grid_code", "reporter_staff_no", "reporter_name",
                   "reported_at", "source", "category_code", "category", "description",
                   "address_text", "status", "updated_at"]
# Fields the vendor adds without notice (vendor drift).
DRIFT_FIELDS = {"app_version": ["5.2.0", "5.2.1", "5.3.0"], "device_os": ["Android", "iOS"],
                "patrol_track_id": None, "weather": ["晴", "多云", "阴", "小雪"]}
NOT_JSON_LINES = ["<html><head><title>504 Gateway Time-out</title></head></html>",
                  "ERROR: record serialization failed", "[object Object]", "NaN"]

class GridCategory(NamedTuple):
    """One grid event category (data/grid_categories.yaml says what each field means)."""

    code: str
    name: str
    weight: float
    person_share: float
    unit_share: float
    dispatched_to: str
    deadline_hours: int
    problems: list[str]
    hotline_words: list[str]


CATEGORIES = [GridCategory(**entry) for entry in yaml.safe_load(
    (Path(__file__).parent / "data" / "grid_categories.yaml").read_text(encoding="utf-8"))]
OTHER_CATEGORY = len(CATEGORIES) - 1
SPOTS = ["东门", "西门", "南门", "北门", "停车场", "绿化带", "院内道路", "健身广场"]
PERSON_ROLES = {"04": "当事人", "05": "帮扶对象"}  # by category class; otherwise 反映人
UNIT_ROLES = ["责任单位", "涉事单位", "当事单位"]

EMITTED_SCHEMA = pa.schema([
    ("source", pa.string()), ("source_record_id", pa.string()), ("version", pa.string()),
    ("content_sha256", pa.string()), ("file", pa.string()), ("stored_path", pa.string()),
    ("export_version", pa.int16()), ("line_no", pa.int32()), ("emitted_event_id", pa.string()),
    ("parseable", pa.bool_()), ("valid", pa.bool_()), ("noise", pa.string()),
])


@dataclass
class Emitted:
    files: int
    re_exported_days: int
    events: int
    lines: int
    broken_lines: int
    hotline_transfers: int


def _iso(seconds: np.ndarray) -> np.ndarray:
    """Local (Asia/Shanghai) epoch seconds as ISO 8601 with the +08:00 offset."""
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"))
    return np.char.add(text.astype(str), "+08:00")


def _local_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps (naive local, aware, or ISO strings with offsets) as local epoch seconds."""
    stamps = pd.to_datetime(values, format="ISO8601", utc=False)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return stamps.astype("datetime64[s]").astype("int64").to_numpy()


def _group_index(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order that groups `codes`, plus each distinct code's (start, count) in that order."""
    order = np.argsort(codes, kind="stable")
    uniq, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
    return order, uniq, np.stack([starts, counts])


def _pick_in_group(rng, group_of_item: np.ndarray, uniq: np.ndarray, spans: np.ndarray,
                   order: np.ndarray) -> np.ndarray:
    """For each item, a random member (index into the grouped frame) of its group, or -1."""
    if not len(uniq):
        return np.full(len(group_of_item), -1)
    pos = np.minimum(np.searchsorted(uniq, group_of_item), len(uniq) - 1)
    start, count = spans[0][pos], spans[1][pos]
    offset = (rng.random(len(group_of_item)) * count).astype(np.int64)
    return np.where(uniq[pos] == group_of_item, order[start + offset], -1)


class _Reference:
    """Lookups the events draw on: grids with their workers, compounds, residents, units."""

    def __init__(self, city: City, rng: np.random.Generator):
        grids = city.grids.reset_index(drop=True)
        workers = city.workers[["staff_no", "person_key", "community_code", "post"]]
        names = city.persons.set_index("person_key")["name"]
        worker_name = workers["person_key"].map(names)
        by_staff = dict(zip(workers["staff_no"], worker_name))
        # A vacant grid's events are entered by another grid worker of the community.
        grid_workers = workers[workers["post"] == "网格员"].sort_values("staff_no")
        standby = grid_workers.groupby("community_code")["staff_no"].first()
        standby = standby.combine_first(
            workers.sort_values("staff_no").groupby("community_code")["staff_no"].first())
        own = grids["grid_worker_staff_no"].where(grids["grid_worker_staff_no"].isin(by_staff))
        staff = own.fillna(grids["community_code"].map(standby))
        self.grid_code = grids["grid_code"].to_numpy(dtype=object)
        self.grid_community = grids["community_code"].to_numpy(dtype=object)
        self.reporter_staff = staff.to_numpy(dtype=object)
        self.reporter_name = staff.map(by_staff).to_numpy(dtype=object)
        self.grid_pos = {code: i for i, code in enumerate(self.grid_code)}

        compounds = city.compounds.reset_index(drop=True)
        self.compounds = compounds
        n_compounds = len(compounds)
        # Hohhot's built-up area: about 40.78–40.90 N, 111.58–111.82 E.
        self.compound_lat = 40.78 + rng.random(n_compounds) * 0.12
        self.compound_lon = 111.58 + rng.random(n_compounds) * 0.24
        self.compound_order, self.compound_communities, self.compound_spans = _group_index(
            compounds["community_code"].to_numpy(dtype=str))
        centroid = pd.DataFrame({"c": compounds["community_code"], "lat": self.compound_lat,
                                 "lon": self.compound_lon}).groupby("c").mean()
        self.community_lat = centroid["lat"]
        self.community_lon = centroid["lon"]

        residents = city.persons[city.persons["status"] == "正常"].reset_index(drop=True)
        self.residents = residents
        self.resident_order, self.resident_communities, self.resident_spans = _group_index(
            residents["community_code"].to_numpy(dtype=str))
        units = city.units[city.units["status"].isin(["存续", "在业"])].reset_index(drop=True)
        self.units = units
        self.unit_order, self.unit_communities, self.unit_spans = _group_index(
            units["community_code"].to_numpy(dtype=str))

        departments = set(city.departments["dept_code"])
        self.departments = departments
        self.fallback_dept = sorted(departments)[0] if departments else None


def _dispatch_codes(tokens: np.ndarray, communities: np.ndarray, ref: _Reference) -> np.ndarray:
    """Resolve each category's dispatch target to a department code of this city."""
    codes = np.empty(len(tokens), dtype=object)
    for token in np.unique(tokens):
        hit = tokens == token
        if token == "street":
            wanted = np.array(["JD" + c[:9] for c in communities[hit]], dtype=object)
        elif token.startswith("district:"):
            wanted = np.array([f"Q{token[9:]}{c[:6]}" for c in communities[hit]], dtype=object)
        else:
            wanted = np.full(hit.sum(), token, dtype=object)
        street = np.array(["JD" + c[:9] for c in communities[hit]], dtype=object)
        known = np.isin(wanted, list(ref.departments))
        street_known = np.isin(street, list(ref.departments))
        codes[hit] = np.where(known, wanted, np.where(street_known, street, ref.fallback_dept))
    return codes


def _grid_category(hotline_categories: pd.Series) -> np.ndarray:
    """The grid app's category for a hotline category (the grid worker re-classifies it)."""
    cat = np.full(len(hotline_categories), OTHER_CATEGORY)
    text = hotline_categories.fillna("").astype(str)
    # Later entries are more specific (物业 beats 纠纷): let them win.
    for index, entry in enumerate(CATEGORIES):
        for word in entry[8]:
            cat[text.str.contains(word, regex=False).to_numpy()] = index
    return cat


def _own_events(city: City, ref: _Reference, rng: np.random.Generator,
                hotline: pd.DataFrame) -> pd.DataFrame:
    """Events the grid workers open themselves, with ids, including a few "twins": the same
    problem at the same place as a hotline ticket within 48 hours, not linked to it (their
    `ticket_id` column holds the ticket, for the truth only)."""
    start = int(pd.Timestamp(city.start).timestamp())
    period_end = start + city.days * DAY
    usable = np.flatnonzero(np.isin(ref.grid_community, ref.compound_communities)
                            & pd.notna(ref.reporter_staff))
    per_day = rng.poisson(city.scale.grid_events_per_year / 365, city.days)
    if not len(usable):
        per_day[:] = 0
    n = int(per_day.sum())
    day = np.repeat(np.arange(city.days), per_day)
    hour = rng.choice(np.arange(24), size=n, p=_hour_weights())
    weights = np.array([c[2] for c in CATEGORIES], dtype=float)
    patrol = pd.DataFrame({
        "reported": start + day * DAY + hour * HOUR + rng.integers(0, HOUR, n),
        "grid_idx": rng.choice(usable, n) if n else np.zeros(0, dtype=np.int64),
        "cat": rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum()),
        "source": rng.choice(OWN_SOURCES, size=n, p=OWN_SOURCE_WEIGHTS),
        "origin": "patrol", "given_address": None, "hotline_category": None,
        "hotline_ticket_id": None, "ticket_id": None})

    picked = hotline[rng.random(len(hotline)) < SAME_PROBLEM_SHARE]
    grid_idx = picked["grid_code"].map(ref.grid_pos)
    staffed = grid_idx.notna().to_numpy().copy()
    staffed[staffed] = pd.notna(ref.reporter_staff[grid_idx[staffed].astype(int).to_numpy()])
    picked = picked[staffed]
    when = _local_seconds(picked["received_at"]) + \
        rng.integers(-47 * HOUR, 47 * HOUR, len(picked))
    inside = (when >= start) & (when < period_end)
    picked, when = picked[inside], when[inside]
    twins = pd.DataFrame({
        "reported": when, "grid_idx": picked["grid_code"].map(ref.grid_pos).to_numpy(),
        "cat": _grid_category(picked["category"]),
        "source": rng.choice(OWN_SOURCES[:2], size=len(picked)),
        "origin": "twin", "given_address": picked["address_text"].to_numpy(dtype=object),
        "hotline_category": None, "hotline_ticket_id": None,
        "ticket_id": picked["ticket_id"].to_numpy(dtype=object)})

    events = pd.concat([patrol, twins], ignore_index=True).astype(
        {"reported": "int64", "grid_idx": "int64", "cat": "int64"})
    events = events.sort_values("reported", kind="stable").reset_index(drop=True)
    # Event ids: GE + day + a 7-digit sequence in reporting order.
    event_day = (events["reported"].to_numpy() - start) // DAY
    seq = np.arange(len(events)) - np.searchsorted(event_day, event_day) + 1
    if len(seq) and seq.max() >= OWN_SEQUENCE_LIMIT:
        raise ValueError("more grid events in one day than the id sequence holds")
    dates = np.datetime_as_string(events["reported"].to_numpy().astype("datetime64[s]"),
                                  unit="D")
    events["event_id"] = ["GE" + d.replace("-", "") + f"{s:07d}" for d, s in zip(dates, seq)]
    return events


def _hour_weights() -> np.ndarray:
    """Patrols run in office hours; residents' reports come at any time of the day."""
    weights = np.array([1, 1, 1, 1, 1, 2, 4, 10, 30, 40, 40, 35, 20, 25, 35, 40, 38, 30, 12,
                        6, 4, 3, 2, 1], dtype=float)
    return weights / weights.sum()


def _transferred_events(city: City, ref: _Reference, rng: np.random.Generator,
                        hotline: pd.DataFrame) -> pd.DataFrame:
    """Hotline tickets transferred to the grid, under the ids the hotline gave them."""
    start = int(pd.Timestamp(city.start).timestamp())
    period_end = start + city.days * DAY
    grid_idx = hotline["grid_code"].map(ref.grid_pos)
    known = grid_idx.notna().to_numpy()
    hotline, grid_idx = hotline[known], grid_idx[known].astype(int).to_numpy()
    # The grid worker opens the event soon after the hotline handed the ticket over.
    handed_over = hotline["transferred_at"] if "transferred_at" in hotline else \
        hotline["received_at"]
    reported = _local_seconds(handed_over) + rng.integers(5 * 60, HOUR, len(hotline))
    inside = (reported >= start) & (reported < period_end)
    hotline = hotline[inside]
    return pd.DataFrame({
        "reported": reported[inside], "grid_idx": grid_idx[inside],
        "cat": _grid_category(hotline["category"]), "source": "12345转办",
        "origin": "transfer", "given_address": hotline["address_text"].to_numpy(dtype=object),
        "hotline_category": hotline["category"].to_numpy(dtype=object),
        "hotline_ticket_id": hotline["ticket_id"].to_numpy(dtype=object), "ticket_id": None,
        "event_id": hotline["grid_event_id"].to_numpy(dtype=object)})


def _column(entries, position: int, cat: np.ndarray) -> np.ndarray:
    return np.array([entry[position] for entry in entries], dtype=object)[cat]


def _describe(events: pd.DataFrame, ref: _Reference, rng: np.random.Generator) -> pd.DataFrame:
    """Category, place, description, coordinates, deadline and dispatch target per event."""
    n = len(events)
    cat = events["cat"].to_numpy()
    patrol = (events["origin"] == "patrol").to_numpy()
    community = ref.grid_community[events["grid_idx"].to_numpy()].astype(str)
    compound = _pick_in_group(rng, community, ref.compound_communities, ref.compound_spans,
                              ref.compound_order)
    in_compound = patrol & (compound >= 0)
    compound = np.where(in_compound, compound, 0)
    comp = ref.compounds
    has_compounds = len(comp) > 0
    buildings = comp["buildings"].to_numpy()[compound] if has_compounds else np.ones(n, int)
    building = (rng.random(n) * buildings).astype(int) + 1
    spot = np.where(rng.random(n) < 0.5,
                    pd.Series(building).astype(str).to_numpy(dtype=object) + "号楼",
                    np.array(SPOTS, dtype=object)[rng.integers(0, len(SPOTS), n)])
    compound_name = comp["name"].to_numpy(dtype=object)[compound] if has_compounds else spot
    prefix = comp["address_prefix"].to_numpy(dtype=object)[compound] if has_compounds else spot
    problem = np.array([CATEGORIES[c][7][k % len(CATEGORIES[c][7])]
                        for c, k in zip(cat, rng.integers(0, 6, n))], dtype=object)

    given_address = events["given_address"].fillna("").astype(str).to_numpy(dtype=object)
    hotline_leaf = events["hotline_category"].fillna("").astype(str).str.split("/").str[-1]
    transfer = (events["origin"] == "transfer").to_numpy()
    description = np.where(
        patrol, compound_name + spot + problem,
        np.where(transfer, "12345热线转办：" + given_address + hotline_leaf.to_numpy(dtype=object),
                 given_address + problem))

    fix = in_compound & has_compounds
    lat = np.where(fix, ref.compound_lat[compound] if has_compounds else 0.0,
                   pd.Series(community).map(ref.community_lat).fillna(40.84).to_numpy())
    lon = np.where(fix, ref.compound_lon[compound] if has_compounds else 0.0,
                   pd.Series(community).map(ref.community_lon).fillna(111.70).to_numpy())
    deadline_hours = np.array([c[6] for c in CATEGORIES])[cat]
    return events.assign(
        category_code=_column(CATEGORIES, 0, cat), category=_column(CATEGORIES, 1, cat),
        address_text=np.where(patrol, prefix + spot, given_address),
        description=description,
        lat=np.round(lat + rng.normal(0, 0.0008, n), 6),
        lon=np.round(lon + rng.normal(0, 0.0008, n), 6),
        community=community,
        deadline=events["reported"].to_numpy() + deadline_hours * HOUR,
        dept=_dispatch_codes(_column(CATEGORIES, 5, cat).astype(str), community, ref),
    )


def _people(events: pd.DataFrame, ref: _Reference, rng: np.random.Generator,
            noiser: Noiser) -> tuple[pd.DataFrame, pd.DataFrame]:
    """persons[] and units[] slots (event row, index, fields) with noise, and their truth."""
    # Only events a grid worker found on the spot name the people and units involved.
    patrol = (events["origin"] == "patrol").to_numpy()
    cat = events["cat"].to_numpy()
    person_share = np.where(patrol, np.array([c[3] for c in CATEGORIES])[cat], 0.0)
    unit_share = np.where(patrol, np.array([c[4] for c in CATEGORIES])[cat], 0.0)
    n_persons = np.where(rng.random(len(events)) < person_share,
                         rng.choice([1, 2, 3], size=len(events), p=[0.6, 0.3, 0.1]), 0)
    n_units = np.where(rng.random(len(events)) < unit_share,
                       rng.choice([1, 2], size=len(events), p=[0.85, 0.15]), 0)
    community = events["community"].to_numpy().astype(str)
    event_ids = events["event_id"].to_numpy(dtype=object)

    def slots(counts, uniq, spans, order):
        row = np.repeat(np.arange(len(events)), counts)
        member = _pick_in_group(rng, community[row], uniq, spans, order)
        row, member = row[member >= 0], member[member >= 0]
        index = np.arange(len(row)) - np.searchsorted(row, row)
        keys = pd.Series(event_ids[row] + "#" + index.astype(str), dtype="str")
        return row, index, member, keys

    row, index, member, keys = slots(n_persons, ref.resident_communities, ref.resident_spans,
                                     ref.resident_order)
    chosen = ref.residents.iloc[member]
    n = len(row)
    # Grid workers write down what they can get: a name nearly always, ID numbers and
    # phones far less often.
    name = chosen["name"].where(rng.random(n) < 0.95).reset_index(drop=True)
    id_number = chosen["id_number"].where(rng.random(n) < 0.45).reset_index(drop=True)
    phone = chosen["phone"].where(rng.random(n) < 0.65).reset_index(drop=True)
    name.index = id_number.index = phone.index = keys.index
    role = np.array([PERSON_ROLES.get(code[:2], "反映人") for code in
                     events["category_code"].to_numpy(dtype=str)[row]], dtype=object)
    persons = pd.DataFrame({
        "row": row, "index": index,
        "name": noiser.apply(PERSONS_SOURCE, "name", keys, name.astype(object),
                             ["homophone", "traditional", "spaces"]),
        "id_number": noiser.apply(PERSONS_SOURCE, "id_number", keys, id_number.astype(object),
                                  ["full_width", "spaces", "lowercase_x", "legacy15"]),
        "phone": noiser.apply(PERSONS_SOURCE, "phone", keys, phone.astype(object),
                              ["phone_format", "spaces", "full_width"]),
        "role": role,
        "source": PERSONS_SOURCE, "source_record_id": keys,
        "person_key": chosen["person_key"].to_numpy(),
    })

    row, index, member, keys = slots(n_units, ref.unit_communities, ref.unit_spans,
                                     ref.unit_order)
    chosen = ref.units.iloc[member].reset_index(drop=True)
    n = len(row)
    typed = rng.random(n)
    registered = chosen["name"].to_numpy(dtype=object)
    name = np.where(typed < 0.2, registered, chosen["short_name"].to_numpy(dtype=object))
    variant = typed >= 0.5
    name[variant] = [identity.unit_name_variant(v, rng) for v in registered[variant]]
    uscc = chosen["uscc"].where(rng.random(n) < 0.35)
    uscc.index = keys.index
    units = pd.DataFrame({
        "row": row, "index": index,
        "name": noiser.apply(UNITS_SOURCE, "name", keys, pd.Series(name, index=keys.index),
                             ["traditional", "spaces"]),
        "uscc": noiser.apply(UNITS_SOURCE, "uscc", keys, uscc.astype(object),
                             ["full_width", "spaces"]),
        "role": np.array(UNIT_ROLES, dtype=object)[rng.integers(0, len(UNIT_ROLES), n)],
        "source": UNITS_SOURCE, "source_record_id": keys,
        "unit_key": chosen["unit_key"].to_numpy(),
    })
    return persons, units


def _office_hours(seconds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Work that would fall at night (20:00–08:00) is done the next morning instead."""
    of_day = seconds % DAY
    morning = rng.integers(8 * HOUR, 10 * HOUR, len(seconds))
    return np.where(of_day < 8 * HOUR, seconds - of_day + morning,
                    np.where(of_day >= 20 * HOUR, seconds - of_day + DAY + morning, seconds))


def _lifecycle(events: pd.DataFrame, rng: np.random.Generator, period_end: int,
               start: int) -> pd.DataFrame:
    """One row per (event, day with a change): the status and time of the day's last change."""
    n = len(events)
    reported = events["reported"].to_numpy()
    delays = np.stack([
        rng.exponential(1.5 * HOUR, n) + 300,  # dispatched
        rng.exponential(3 * HOUR, n) + 600,  # handling started
        rng.exponential(20 * HOUR, n) + 1800,  # handled
        rng.exponential(10 * HOUR, n) + 600,  # closed (checked by the grid worker)
    ], axis=1).astype("int64")
    times = np.empty((n, 5), dtype=np.int64)
    times[:, 0] = reported
    for stage in range(1, 5):
        times[:, stage] = _office_hours(times[:, stage - 1] + delays[:, stage - 1], rng)
    statuses = np.tile(np.arange(5), (n, 1))
    # A few events are returned: as not a grid matter, or by the department it went to.
    returned = rng.random(n) < 0.04
    returned_at = np.where(rng.random(n) < 0.5, DISPATCHED, HANDLING)
    keep = np.ones((n, 5), dtype=bool)
    stage = np.arange(5)[None, :]
    keep &= ~(returned[:, None] & (stage > returned_at[:, None]))
    statuses = np.where(returned[:, None] & (stage == returned_at[:, None]), RETURNED, statuses)
    keep &= times < period_end
    ev, st = np.nonzero(keep)
    changes = pd.DataFrame({"ev": ev, "status": statuses[ev, st], "updated": times[ev, st],
                            "day": (times[ev, st] - start) // DAY})
    closed_time = times[:, CLOSED]
    lines = changes.sort_values(["ev", "updated"], kind="stable")
    lines = lines.drop_duplicates(["ev", "day"], keep="last")
    status = lines["status"].to_numpy()
    was_dispatched = (status >= DISPATCHED) & ~((status == RETURNED)
                                                & (returned_at[lines["ev"]] == DISPATCHED))
    return lines.assign(
        closed=np.where(status == CLOSED, closed_time[lines["ev"]], -1),
        dispatched=was_dispatched,
    ).reset_index(drop=True)


def _phone_positions(events: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Phones without a fix report 0/0; one app version wrote lat and lon swapped."""
    n = len(events)
    zero = rng.random(n) < GEO_ZERO_SHARE
    swapped = ~zero & (rng.random(n) < GEO_SWAPPED_SHARE)
    lat, lon = events["lat"].to_numpy(), events["lon"].to_numpy()
    return events.assign(lat=np.where(zero, 0.0, np.where(swapped, lon, lat)),
                         lon=np.where(zero, 0.0, np.where(swapped, lat, lon)))


def _as_list(values) -> list:
    """Values as Python objects with None for missing (for json.dumps)."""
    series = pd.Series(values).astype(object)
    return series.where(series.notna(), None).tolist()


class _EventText:
    """Serialises events in the contract's field order: the part that never changes
    (event_id … units) once for each event while it is still changing, the status part per
    line. Python objects are made a day's events at a time, never for the whole period."""

    def __init__(self, events: pd.DataFrame, ref: _Reference, persons: pd.DataFrame,
                 units: pd.DataFrame):
        self.events, self.ref = events, ref
        self.persons = self._slots(persons, len(events), ["name", "id_number", "phone", "role"])
        self.units = self._slots(units, len(events), ["name", "uscc", "role"])
        self.heads: dict[int, str] = {}
        self.status_parts: dict[int, tuple[str, str, str]] = {}  # deadline, dept, hotline id

    @staticmethod
    def _slots(slots: pd.DataFrame, n_events: int, fields: list[str]):
        row = slots["row"].to_numpy()
        events = np.arange(n_events)
        return slots, fields, np.searchsorted(row, events), np.searchsorted(row, events, "right")

    @staticmethod
    def _arrays(slots, evs: np.ndarray) -> list[list[dict]]:
        """Each event's array (persons[] or units[]) as dicts."""
        frame, fields, starts, ends = slots
        start, count = starts[evs], ends[evs] - starts[evs]
        total = int(count.sum())
        first = np.cumsum(count) - count
        take = np.repeat(start, count) + np.arange(total) - np.repeat(first, count)
        values = list(zip(*[_as_list(frame[f].iloc[take]) for f in fields]))
        return [[dict(zip(fields, v)) for v in values[f:f + c]] for f, c in zip(first, count)]

    def _prepare(self, evs: list[int]) -> None:
        new = np.array(sorted({ev for ev in evs if ev not in self.heads}), dtype=np.int64)
        if not len(new):
            return
        rows = self.events.iloc[new]
        grid_idx = rows["grid_idx"].to_numpy()
        columns = zip(
            rows["event_id"].tolist(), _as_list(self.ref.grid_code[grid_idx]),
            _as_list(self.ref.reporter_staff[grid_idx]),
            _as_list(self.ref.reporter_name[grid_idx]), _iso(rows["reported"]).tolist(),
            rows["source"].tolist(), _as_list(rows["category_code"]),
            _as_list(rows["category"]), _as_list(rows["description"]),
            _as_list(rows["address_text"]), rows["lat"].astype(float).tolist(),
            rows["lon"].astype(float).tolist(), self._arrays(self.persons, new),
            self._arrays(self.units, new))
        names = ["event_id", "grid_code", "reporter_staff_no", "reporter_name", "reported_at",
                 "source", "category_code", "category", "description", "address_text", "lat",
                 "lon", "persons", "units"]
        for ev, values in zip(new.tolist(), columns):
            record = dict(zip(names, values))
            self.heads[ev] = json.dumps(record, ensure_ascii=False, separators=(",", ":"))[:-1]
        parts = zip([f'"{d}"' for d in _iso(rows["deadline"])],
                    [json.dumps(v) for v in _as_list(rows["dept"])],
                    [json.dumps(v) for v in _as_list(rows["hotline_ticket_id"])])
        self.status_parts.update(zip(new.tolist(), parts))

    def lines(self, day_lines: pd.DataFrame) -> list[str]:
        evs = day_lines["ev"].tolist()
        self._prepare(evs)
        updated = _iso(day_lines["updated"].to_numpy()).tolist()
        closed = np.where(day_lines["closed"].to_numpy() >= 0,
                          np.char.add(np.char.add('"', _iso(day_lines["closed"].to_numpy())),
                                      '"'), "null").tolist()
        dispatched = day_lines["dispatched"].tolist()
        statuses = [STATUSES[s] for s in day_lines["status"].tolist()]
        lines = []
        for ev, status, sent, closed_at, up in zip(evs, statuses, dispatched, closed, updated):
            deadline, dept, hotline = self.status_parts[ev]
            lines.append(
                f'{self.heads[ev]},"status":"{status}",'
                f'"deadline_at":{deadline if sent else "null"},'
                f'"dispatched_dept_code":{dept if sent else "null"},'
                f'"closed_at":{closed_at},"hotline_ticket_id":{hotline},"updated_at":"{up}"}}')
        return lines

    def forget(self, evs) -> None:
        """Drop events that will not change again."""
        for ev in evs:
            self.heads.pop(ev, None)
            self.status_parts.pop(ev, None)


def _line_noise(texts: list[str], event_ids: list[str], noiser: Noiser,
                rng: np.random.Generator, log: dict[tuple, list[str]]) -> list[str | None]:
    """Vendor damage to individual lines, in place; returns each line's noise (or None).

    Collects in `log` ((kind, field) -> event ids) the kinds `missing_field` (a required
    field left out), `extra_field` and `broken_line`; the returned labels also tell a truncated
    line from one that is not JSON at all."""
    n = len(texts)
    rates = noiser.rates
    missing = noiser.chosen(rates.missing_field, n)
    extra = noiser.chosen(rates.extra_field, n)
    broken = noiser.chosen(rates.broken_line, n)
    field = rng.integers(0, len(REQUIRED_FIELDS), n)
    drift = rng.integers(0, len(DRIFT_FIELDS), n)
    choice = rng.integers(0, 1_000_000, n)
    truncate = rng.random(n) < 0.5
    cut = rng.random(n)
    labels: list[str | None] = [None] * n
    drift_names = list(DRIFT_FIELDS)
    for i in np.flatnonzero(missing | extra | broken):
        applied = []
        text = texts[i]
        if missing[i]:
            record = json.loads(text)
            record.pop(REQUIRED_FIELDS[field[i]])
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            applied.append(("missing_field", REQUIRED_FIELDS[field[i]], "missing_required_field"))
        if extra[i]:
            name = drift_names[drift[i]]
            options = DRIFT_FIELDS[name]
            value = options[choice[i] % len(options)] if options else f"T{choice[i]:08d}"
            text = text[:-1] + f',"{name}":{json.dumps(value, ensure_ascii=False)}}}'
            applied.append(("extra_field", name, "unknown_field"))
        if broken[i]:
            if truncate[i]:
                text = text[:1 + int(cut[i] * (len(text) - 2))]
                applied.append(("broken_line", None, "broken_line_truncated"))
            else:
                text = NOT_JSON_LINES[choice[i] % len(NOT_JSON_LINES)]
                applied.append(("broken_line", None, "broken_line_not_json"))
        texts[i] = text
        labels[i] = "+".join(label for _, _, label in applied)
        for kind, name, _ in applied:
            log.setdefault((kind, name), []).append(event_ids[i])
    return labels


def _parse(text: str) -> dict | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _emitted_rows(texts: list[str], kinds: list[str | None], event_ids: list[str],
                  file: str, stored: str, export_version: int) -> pd.DataFrame:
    """Truth for every line of one export: what an ingester must land or quarantine."""
    record_ids, versions, parseable, valid = [], [], [], []
    name = file.rsplit("/", 1)[-1]
    for text, kind, event_id in zip(texts, kinds, event_ids):
        if kind is None:  # clean line: no need to parse it again
            record_ids.append(event_id)
            versions.append(text[text.rindex('"updated_at":"') + 14:-2])
            parseable.append(True)
            valid.append(True)
            continue
        record = _parse(text)
        parseable.append(record is not None)
        record = record or {}
        record_ids.append(record.get("event_id"))
        versions.append(record.get("updated_at") or name)
        valid.append(bool(record) and all(record.get(f) not in (None, "")
                                          for f in REQUIRED_FIELDS))
    return pd.DataFrame({
        "source": SOURCE, "source_record_id": record_ids, "version": versions,
        "content_sha256": [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts],
        "file": file, "stored_path": stored, "export_version": export_version,
        "line_no": np.arange(1, len(texts) + 1, dtype=np.int32),
        "emitted_event_id": event_ids, "parseable": parseable, "valid": valid,
        "noise": kinds,
    })


def _encode(texts: list[str], gzipped: bool) -> bytes:
    data = ("\n".join(texts) + "\n").encode("utf-8") if texts else b""
    # mtime=0 and no file name in the header: the same seed gives the same bytes.
    return gzip.compress(data, compresslevel=6, mtime=0) if gzipped else data


def emit_grid(city: City, out_dir: Path) -> Emitted:
    """Write the app's daily exports for the simulated period, with their ground truth."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng([city.seed, SOURCE_STREAM])
    # Separate streams: changing a noise rate leaves the events themselves unchanged.
    noiser = Noiser(city.noise, np.random.default_rng([city.seed, SOURCE_STREAM, 1]))
    file_rng = np.random.default_rng([city.seed, SOURCE_STREAM, 2])
    start = int(pd.Timestamp(city.start).timestamp())
    period_end = start + city.days * DAY
    ref = _Reference(city, rng)
    hotline = city.extras.get("hotline_to_grid")
    if hotline is None:
        hotline = pd.DataFrame(columns=["ticket_id", "grid_event_id", "received_at",
                                        "community_code", "grid_code", "address_text",
                                        "category_code", "category"])
    own = _own_events(city, ref, rng, hotline)
    pairs = own.loc[own["ticket_id"].notna(), ["event_id", "ticket_id"]].reset_index(drop=True)
    transferred = _transferred_events(city, ref, rng, hotline)
    events = pd.concat([own.drop(columns="ticket_id"), transferred], ignore_index=True)
    events = events.sort_values(["reported", "event_id"], kind="stable").reset_index(drop=True)
    events = _describe(events, ref, rng)
    events = _phone_positions(events, rng)
    persons, units = _people(events, ref, rng, noiser)
    lines = _lifecycle(events, rng, period_end, start)
    lines["event_id"] = events["event_id"].to_numpy()[lines["ev"]]
    lines = lines.sort_values(["day", "updated", "event_id"], kind="stable").reset_index(drop=True)
    last_day = lines.groupby("ev")["day"].max()
    day_bounds = np.searchsorted(lines["day"].to_numpy(), np.arange(city.days + 1))
    text = _EventText(events, ref, persons, units)

    grid_dir, history_dir, truth_dir = out_dir / "grid", out_dir / "grid_history", out_dir / "truth"
    for folder in (grid_dir, history_dir, truth_dir):
        folder.mkdir(parents=True, exist_ok=True)
    exports, n_lines, n_broken = [], 0, 0
    line_log: dict[tuple, list[str]] = {}
    with pq.ParquetWriter(truth_dir / "grid_emitted.parquet", EMITTED_SCHEMA) as emitted:
        for d in range(city.days):
            day_lines = lines.iloc[day_bounds[d]:day_bounds[d + 1]]
            texts = text.lines(day_lines)
            event_ids = day_lines["event_id"].tolist()
            kinds = _line_noise(texts, event_ids, noiser, file_rng, line_log)
            text.forget(last_day.index[last_day.to_numpy() == d])
            day = (pd.Timestamp(city.start) + pd.Timedelta(days=d)).strftime("%Y%m%d")
            gzipped = bool(noiser.chosen(city.noise.gzip_file, 1)[0])
            reexported = bool(noiser.chosen(city.noise.reexport_day, 1)[0])
            suffix = ".jsonl.gz" if gzipped else ".jsonl"
            name = f"grid/events_{day}{suffix}"
            first_drop = start + (d + 1) * DAY + int(file_rng.integers(300, 1800))
            versions = []
            if reexported:
                # The first export died part-way through a line; the vendor re-sent it whole.
                keep = max(1, int(len(texts) * file_rng.uniform(0.5, 0.95)))
                cut_texts = texts[:keep]
                cut_kinds = kinds[:keep]
                if cut_texts:
                    last = cut_texts[-1]
                    cut_texts[-1] = last[:max(1, len(last) // 2)]
                    cut_kinds[-1] = "+".join(filter(None, [cut_kinds[-1], "export_cut_short"]))
                noiser.record(SOURCE, [name], None, "reexport_day")
                versions.append((1, f"grid_history/events_{day}.v1{suffix}", cut_texts,
                                 cut_kinds, event_ids[:keep], first_drop))
                later = first_drop + int(file_rng.integers(1, 4)) * DAY + \
                    int(file_rng.integers(0, 2 * HOUR))
                versions.append((2, name, texts, kinds, event_ids, later))
            else:
                versions.append((1, name, texts, kinds, event_ids, first_drop))
            if gzipped:
                noiser.record(SOURCE, [name], None, "gzip_file")
            for version, stored, v_texts, v_kinds, v_ids, dropped in versions:
                data = _encode(v_texts, gzipped)
                (out_dir / stored).write_bytes(data)
                rows = _emitted_rows(v_texts, v_kinds, v_ids, name, stored, version)
                emitted.write_table(pa.Table.from_pandas(rows, schema=EMITTED_SCHEMA,
                                                         preserve_index=False))
                n_lines += len(v_texts)
                n_broken += int((~rows["parseable"]).sum())
                exports.append({"file": name, "export_version": version, "stored_path": stored,
                                "dropped_at": _iso(np.array([dropped]))[0],
                                "sha256": hashlib.sha256(data).hexdigest(),
                                "lines": len(v_texts), "gzip": gzipped,
                                "final": version == len(versions)})

    pd.DataFrame(exports).to_parquet(truth_dir / "grid_exports.parquet", index=False)
    persons[["source", "source_record_id", "person_key"]].to_parquet(
        truth_dir / "grid_persons.parquet", index=False)
    units[["source", "source_record_id", "unit_key"]].to_parquet(
        truth_dir / "grid_units.parquet", index=False)
    pairs.to_parquet(truth_dir / "grid_hotline_same_problem.parquet", index=False)
    for (kind, field), ids in line_log.items():
        noiser.record(SOURCE, ids, field, kind)
    noiser.log_frame().to_parquet(truth_dir / "grid_noise.parquet", index=False)
    return Emitted(
        files=city.days, re_exported_days=sum(e["export_version"] == 2 for e in exports),
        events=int(lines["ev"].nunique()), lines=n_lines, broken_lines=n_broken,
        hotline_transfers=int((events["source"] == "12345转办").sum()))
