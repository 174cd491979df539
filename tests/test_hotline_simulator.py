"""The 12345 hotline emitter: every version valid, lives that make sense, truth complete."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta

import pandas as pd
import pytest
import yaml
from hotline_support import CONTRACT, PLATFORM_TZ, SEED
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from simulator.city import build_city
from simulator.hotline import emit_hotline

STATUS_ORDER = {"待派单": 0, "已派单": 1, "已退单": 1, "处理中": 2, "已办结": 3, "已回访": 4}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small city's hotline (about 800 tickets): the output folder, the city, and every
    version (ticket_id, updated_at_utc, ticket) in store order."""
    out = tmp_path_factory.mktemp("hotline-small")
    city = build_city(SEED, "small")
    summary = emit_hotline(city, out)
    with sqlite3.connect(out / "hotline" / "tickets.sqlite") as store:
        rows = store.execute("SELECT ticket_id, updated_at_utc, body FROM versions "
                             "ORDER BY ticket_id, updated_at_utc").fetchall()
    versions = pd.DataFrame(rows, columns=["ticket_id", "updated_at_utc", "body"])
    versions["ticket"] = [json.loads(b) for b in versions["body"]]
    return out, city, summary, versions


@pytest.fixture(scope="module")
def latest(small):
    _, _, _, versions = small
    return versions.groupby("ticket_id").tail(1)["ticket"].tolist()


def at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def test_every_version_is_a_valid_ticket(small):
    _, _, summary, versions = small
    spec = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    validator = OAS30Validator(spec["components"]["schemas"]["Ticket"],
                               format_checker=oas30_format_checker)
    for ticket in versions["ticket"]:
        errors = list(validator.iter_errors(ticket))
        assert not errors, (ticket["ticket_id"], errors[:2])
    assert len(versions) == summary.versions
    assert 4.0 <= len(versions) / summary.tickets <= 6.0


def test_each_version_is_the_whole_ticket_as_of_its_updated_at(small):
    _, _, _, versions = small
    for ticket_id, utc, ticket in versions[["ticket_id", "updated_at_utc", "ticket"]] \
            .itertuples(index=False):
        updated = at(ticket["updated_at"])
        assert ticket["ticket_id"] == ticket_id and updated.timestamp() == utc
        assert updated.utcoffset() == timedelta(hours=8)
        moments = [ticket["received_at"], ticket["first_contact_at"], ticket["resolved_at"]]
        moments += [d[k] for d in ticket["dispatches"]
                    for k in ("dispatched_at", "accepted_at", "returned_at")]
        if ticket["callback"]:
            moments.append(ticket["callback"]["called_at"])
        if ticket["whistle"]:
            moments.append(ticket["whistle"]["blown_at"])
            moments += [s["reported_at"] for s in ticket["whistle"]["summoned"]]
        assert all(at(m) <= updated for m in moments if m), ticket_id
        if not ticket["callback"] or ticket["callback"]["reached"]:
            continue
        assert "resolved" not in ticket["callback"] and "satisfaction" not in ticket["callback"]


def test_statuses_progress_and_changes_go_on_after_the_period(small):
    _, city, _, versions = small
    end = datetime.combine(city.start + timedelta(days=city.days), datetime.min.time(),
                           PLATFORM_TZ)
    received = [at(t["received_at"]) for t in versions["ticket"]]
    assert max(received) < end
    assert max(at(t["updated_at"]) for t in versions["ticket"]) > end + timedelta(days=7)
    for _, group in versions.groupby("ticket_id"):
        ranks = [STATUS_ORDER[t["status"]] for t in group["ticket"]]
        assert ranks == sorted(ranks)
        first = group["ticket"].iloc[0]
        assert first["status"] in ("待派单", "已办结")
        assert all(t["received_at"] == first["received_at"] for t in group["ticket"])
    history = {t["status"] for t in versions["ticket"]}
    assert history == set(STATUS_ORDER)


def test_a_city_worth_of_behaviour(small, latest):
    _, city, _, _ = small
    n = len(latest)
    anonymous = [t for t in latest if t["anonymous"]]
    assert all(t["caller"] is None for t in anonymous)
    assert 0.04 < len(anonymous) / n < 0.13
    callbacks = [t["callback"] for t in latest if t["callback"]]
    unreached = [c for c in callbacks if not c["reached"]]
    assert 0.05 < len(unreached) / len(callbacks) < 0.16
    assert {c["satisfaction"] for c in callbacks if c["reached"]} == {"满意", "基本满意", "不满意"}
    modes = {d["mode"] for t in latest for d in t["dispatches"]}
    assert modes == {"派单", "直派", "吹哨"}
    departments = set(city.departments["dept_code"])
    assert {d["dept_code"] for t in latest for d in t["dispatches"]} <= departments
    returned = [d for t in latest for d in t["dispatches"] if d["returned_at"]]
    assert returned and all(d["return_reason"] for d in returned)
    whistles = [t["whistle"] for t in latest if t["whistle"]]
    reports = [(at(s["reported_at"]) - at(w["blown_at"])) for w in whistles
               for s in w["summoned"] if s["reported_at"]]
    assert sum(r <= timedelta(hours=24) for r in reports) / len(reports) > 0.8
    dispatched = [t for t in latest if t["dispatches"]]
    in_time = [t for t in dispatched if t["first_contact_at"] and at(t["first_contact_at"])
               - at(t["received_at"]) <= timedelta(hours=2 if t["urgency"] == "紧急" else 24)]
    assert 0.75 < len(in_time) / len(dispatched) < 0.98
    assert {t["channel"] for t in latest} == {"电话", "网站", "微信", "APP", "市长信箱"}
    assert {t["type"] for t in latest} == {"投诉", "求助", "咨询", "建议", "举报", "表扬"}
    assert all(len(t["category"].split("/")) == 3 and t["category_code"].isdigit()
               for t in latest)
    located = [t for t in latest if t["lat"] is not None]
    assert 0.6 < len(located) / n < 0.95
    assert all(40.5 < t["lat"] < 41.1 and 111.3 < t["lon"] < 112.1 for t in located)
    assert any(t["community_code"] is None for t in latest)


def test_callers_are_residents_some_of_whom_call_again(small, latest):
    out, city, _, _ = small
    persons = pd.read_parquet(out / "truth" / "hotline_persons.parquet")
    assert sorted(persons["source_record_id"]) == sorted(t["ticket_id"] for t in latest)
    assert set(persons["source"]) == {"hotline.tickets"}
    by_id = {t["ticket_id"]: t for t in latest}
    anonymous = {i for i, t in by_id.items() if t["anonymous"]}
    known = persons.dropna(subset=["person_key"])
    assert not anonymous & set(known["source_record_id"])
    assert known["person_key"].isin(city.persons["person_key"]).all()
    assert known["person_key"].value_counts().max() >= 2
    names = city.persons.set_index("person_key")["name"]
    typed = [by_id[i]["caller"]["name"] for i in known["source_record_id"]]
    true = names.reindex(known["person_key"]).tolist()
    same = sum(a == b for a, b in zip(typed, true, strict=True))
    assert 0.75 < same / len(known) < 1.0  # homophones, 李女士-style notes, blanks


def test_truth_lists_every_version_and_the_noise(small):
    out, _, _, versions = small
    emitted = pd.read_parquet(out / "truth" / "hotline_emitted.parquet")
    assert list(emitted.columns) == ["source", "source_record_id", "version", "content_sha256"]
    assert emitted["source_record_id"].tolist() == versions["ticket_id"].tolist()
    assert emitted["version"].tolist() == [t["updated_at"] for t in versions["ticket"]]
    assert emitted["content_sha256"].tolist() == [
        hashlib.sha256(b.encode()).hexdigest() for b in versions["body"]]
    noise = pd.read_parquet(out / "truth" / "hotline_noise.parquet")
    assert {"anonymous", "stale_operator_code"} <= set(noise["kind"])
    stale = noise[noise["kind"] == "stale_operator_code"]["source_record_id"]
    assert stale.isin(versions["ticket_id"]).all()


def test_tickets_handed_to_the_grid_app(small, latest):
    _, city, _, _ = small
    handed = city.extras["hotline_to_grid"]
    assert {"ticket_id", "grid_event_id", "received_at", "community_code", "grid_code",
            "address_text", "category_code", "category"} <= set(handed.columns)
    assert len(handed) > 0 and handed["grid_event_id"].is_unique
    assert handed["grid_event_id"].str.fullmatch(r"GE\d{8}9\d{6}").all()
    assert str(handed["received_at"].dt.tz) == "Asia/Shanghai"
    grids = city.grids.set_index("grid_code")["community_code"]
    assert (grids.reindex(handed["grid_code"]).to_numpy() == handed["community_code"]).all()
    linked = {t["ticket_id"]: t["related_grid_event_id"] for t in latest
              if t["related_grid_event_id"]}
    assert linked == dict(zip(handed["ticket_id"], handed["grid_event_id"], strict=True))


def test_same_seed_same_bytes(tmp_path):
    for name in ("one", "two"):
        emit_hotline(build_city(SEED, "tiny"), tmp_path / name)
    for relative in ("hotline/tickets.sqlite", "truth/hotline_emitted.parquet",
                     "truth/hotline_persons.parquet", "truth/hotline_noise.parquet"):
        assert (tmp_path / "one" / relative).read_bytes() == \
            (tmp_path / "two" / relative).read_bytes(), relative
