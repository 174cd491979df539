"""Every indicator of docs/spec/indicators.md on a small, hand-checkable city whose right
answers are written below, on DuckDB and on PostgreSQL: zero denominators, a caller with two
phones, a household sharing one phone, a late callback that revises yesterday, a roster
correction that drops a row, the pipeline's own grid-hotline match."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from indicator_support import (
    C1,
    C2,
    C3,
    C4,
    CITY,
    DISTRICT,
    DIVISIONS,
    GRIDS,
    S1,
    S2,
    insert,
    roster_records,
    staged,
    tickets,
    ts,
    values,
)
from warehouse_support import stage

from common.settings import SettingsError
from indicators.compute import compute_day, compute_days
from indicators.settings import load_settings, settings_json
from pipeline.publication import link_resolved, publish_rosters

DAY = date(2026, 11, 10)
ORDER = [C1, C2, C3, C4, S1, S2, DISTRICT, CITY]

TICKETS = [
    # id, received, urgency, community, street, first contact, resolved, callback called,
    # reached, answer, satisfaction, resident, phone
    ("T0", "10-05 10:00", "一般", C3, S2, None, None, None, None, None, None, "R5", "P5"),
    ("T1", "11-10 09:00", "一般", C1, S1, "11-10 20:00", "11-11 09:00", None, None, None, None,
     "R1", "P1"),
    ("T2", "11-10 10:00", "紧急", C1, S1, "11-10 13:00", None, None, None, None, None, "R6",
     "P6"),
    ("T3", "11-10 11:00", "一般", C2, S1, None, None, None, None, None, None, "R2", "PH"),
    ("T4", "11-10 23:30", "一般", C3, S2, None, None, None, None, None, None, "R4", "P4"),
    # a ticket whose address names only the street
    ("T5", "11-10 08:00", "一般", None, S2, "11-10 09:00", None, None, None, None, None, "R5",
     "P5"),
    ("T6", "11-09 23:59", "一般", C2, S1, "11-10 08:00", None, None, None, None, None, "R3",
     "PH"),
    # R1 calls from a second phone; R2 and R3 share the household phone PH
    ("T7", "11-03 10:00", "一般", C1, S1, "11-03 11:00", "11-08 10:00", "11-10 10:00", True,
     "已解决", "满意", "R1", "P1b"),
    ("T8", "11-04 10:00", "一般", C1, S1, None, None, "11-10 11:00", True, "未解决", "基本满意",
     "R1", "P1"),
    ("T9", "11-05 10:00", "一般", C3, S2, None, None, "11-10 12:00", False, None, None, "R5",
     "P5"),
    ("T10", "11-02 10:00", "一般", C2, S1, None, None, "11-10 13:00", True, "已解决", "不满意",
     "R2", "PH"),
    ("T11", "11-08 10:00", "一般", C3, S2, None, None, None, None, None, None, "R7", "P7"),
    ("T12", "11-09 12:00", "紧急", C3, S2, "11-09 12:30", "11-10 14:00", None, None, None, None,
     "R4", "P4"),
    ("T13", "11-09 15:00", "紧急", C3, S2, None, None, None, None, None, None, "R4", "P4"),
    ("T14", "11-10 15:00", "一般", C4, S2, None, None, None, None, None, None, None, None),
]
TEXTS = {  # address, category, title of the tickets the matching looks at
    "T3": ("新城区海拉尔东路街道幸福社区和平小区5号楼", "生态环境/噪声/噪音扰民", "和平小区5号楼噪音扰民"),
    "T4": ("新城区东街街道光明社区阳光小区3号楼2单元501", "城乡建设/供热/供暖不热",
           "阳光小区3号楼供暖不热"),
    "T12": ("新城区东街街道光明社区阳光小区5号楼", "城乡建设/物业管理/电梯故障", "阳光小区5号楼电梯故障"),
    "T13": ("新城区东街街道光明社区阳光小区5号楼", "城乡建设/物业管理/电梯故障", "阳光小区5号楼电梯故障"),
}
DISPATCHES = [  # ticket, seq, mode, dispatched, returned
    ("T1", 0, "派单", "11-10 09:30", "11-10 12:00"), ("T1", 1, "派单", "11-10 12:30", None),
    ("T2", 0, "直派", "11-10 10:10", None), ("T2", 1, "吹哨", "11-10 12:00", None),
    ("T4", 0, "派单", "11-10 23:40", None), ("T5", 0, "派单", "11-10 08:10", "11-10 09:00"),
    ("T7", 0, "派单", "11-03 10:30", None), ("T12", 0, "直派", "11-09 12:10", None),
    ("T13", 0, "派单", "11-09 15:10", None),
]
SUMMONS = [("T2", 0, "A", "11-10 20:00"), ("T2", 1, "B", "11-11 13:00"), ("T2", 2, "C", None)]
EVENTS = [  # id, community, reported, deadline, closed, hotline id, category, description, address
    ("E1", C1, "11-10 09:00", "11-10 18:00", "11-10 15:00", "T2", "市容环境/暴露垃圾",
     "垃圾桶满溢", "新城区海拉尔东路街道团结社区团结小区"),
    ("E2", C1, "11-08 10:00", "11-10 10:00", "11-10 12:00", None, "市容环境/暴露垃圾",
     "垃圾未清运", "新城区海拉尔东路街道团结社区团结小区"),
    # the same problem at the same place as T4, 9.5 hours earlier, with no id linking them
    ("E3", C3, "11-10 14:00", "11-11 14:00", None, None, "公用事业/供暖不热",
     "阳光小区3号楼居民家中供暖不热", "新城区东街街道光明社区阳光小区3号楼"),
    # same community and day as T3, another problem at another compound: no link
    ("E4", C2, "11-10 16:00", "11-10 20:00", None, None, "公共设施/井盖破损",
     "幸福小区东门井盖破损", "新城区海拉尔东路街道幸福社区幸福小区东门"),
    ("E5", C3, "11-08 08:00", "11-09 08:00", "11-10 08:00", None, "市容环境/暴露垃圾",
     "光明小区垃圾堆放未清运", "新城区东街街道光明社区光明小区"),
]
ROSTER_V1 = [("W1", "团结社区", "党建组织员", "G1"), ("W2", "团结社区", "党建组织员", "G9"),
             ("W3", "幸福社区", "网格员", "G2"), ("W4", "幸福社区", "党建组织员", None),
             ("W5", "团结社区", "网格员", None), ("W8", "幸福社区", "党建组织员", None)]
ROSTER_S2 = [("W6", "光明社区", "党建组织员", None), ("W7", "光明社区", "网格员", "G3")]
# The corrected file drops W2: every later row moves up one.
ROSTER_V2 = [p for p in ROSTER_V1 if p[0] != "W2"]
ROSTER_XREF = {"a.csv#!2": "RW1", "a.csv#!3": "RW3", "a.csv#!4": "RW4", "a.csv#!6": "RW8",
               "b.csv#!2": "RW6", "b.csv#!3": "RW7"}  # W5 (a.csv#!5) is not resolved
REGISTER = [  # record, resident, community, status, updated
    ("reg1", "R1", C1, "正常", "2026-11-10 20:00:00"), ("reg2", "R2", C2, "正常", None),
    ("reg3", "R3", C2, "正常", None), ("reg4", "R4", C3, "迁出", None),
    ("reg5", "R5", C3, "正常", None), ("reg6", "R1", C1, "正常", None),
    ("reg7", "RW1", C1, "正常", None), ("reg8", None, C2, "正常", None),
    ("reg9", None, C4, "正常", "2026-11-11 08:00:00"),  # changed after the day ended
]
MEMBERS = [  # record, resident, in service, residence, reported, reported on, updated
    ("pm1", "R1", 1, C1, 1, "2026-10-01", None),
    ("pm2", "R2", 1, C2, 1, "2026-11-01", "2026-11-05 08:00:00"),
    ("pm2", "R2", 1, C2, 0, None, "2026-11-08 08:00:00"),  # the newer version wins
    ("pm3", "R1", 1, C1, 0, None, None),  # a second record of R1: the person reported
    ("pm4", "R5", 0, C3, 1, "2026-10-01", None),  # retired
    ("pm5", "R3", 1, C2, 1, "2026-11-20", None),  # reports after the day
    ("pm6", None, 1, C3, 1, "2026-10-01", None),  # not resolved
]
UNIT_REPORTS = [  # record, unit, community, reported on, list type, status
    ("ur1", "U1", C1, "2026-11-01", "需求", "已对接"), ("ur2", "U1", C1, "2026-11-05", "资源", "待对接"),
    ("ur3", "U2", C3, "2026-11-09", "需求", "待对接"), ("ur4", "U3", C3, "2026-11-11", "需求", "已完成"),
    ("ur5", "U2", C2, "2026-10-20", "需求", "已完成"),
]
MENTIONS = [  # source, record, name, phone, id number, resident
    ("hotline.tickets", "T1", "张三", "P1", None, "R1"),
    ("hotline.tickets", "T3", "王五", "PH", None, "R2"),
    ("hotline.tickets", "T6", "赵六", "PH", None, "R3"),
    ("hotline.tickets", "T14", None, "P14", None, None),  # no name: not a person record
    ("grid.events.persons", "E1#0", "李四", None, "150102196503120038", "RX"),  # no register
    ("rosters", "rosters/150102001000/202611/a.csv#!5", "W5", "13800000000", None, None),
    ("organization.party_members", "pm6", "孙七", None, None, None),  # name only
]


def rate(numerator, denominator):
    return (numerator / denominator if denominator else None, numerator, denominator)


def count(n):
    return (n, n, None)


def per_10k(workers, residents):
    return (workers * 10000 / residents if residents else None, workers, residents)


def by_division(values_in_order):
    return dict(zip(ORDER, values_in_order))


EXPECTED = {
    "hotline.received": by_division(map(count, [2, 1, 1, 1, 3, 3, 6, 6])),
    "hotline.response_rate": by_division([rate(1, 2), rate(0, 0), rate(0, 1), rate(0, 0),
                                          rate(1, 2), rate(1, 2), rate(2, 4), rate(2, 4)]),
    "hotline.resolution_rate": by_division([rate(1, 2), rate(1, 1), rate(0, 0), rate(0, 0),
                                            rate(2, 3), rate(0, 0), rate(2, 3), rate(2, 3)]),
    "hotline.satisfaction_rate": by_division([rate(1.9, 2), rate(0, 1), rate(0, 0),
                                              rate(0, 0), rate(1.9, 3), rate(0, 0),
                                              rate(1.9, 3), rate(1.9, 3)]),
    "hotline.composite_score": by_division(
        [(v, None, None) for v in (70.25, None, None, None, 63.5, None, 63.5, 63.5)]),
    "hotline.ontime_resolution_rate": by_division([rate(1, 1), rate(0, 0), rate(0, 2),
                                                   rate(0, 0), rate(1, 1), rate(0, 2),
                                                   rate(1, 3), rate(1, 3)]),
    "hotline.return_rate": by_division([rate(1, 3), rate(0, 0), rate(0, 1), rate(0, 0),
                                        rate(1, 3), rate(1, 2), rate(2, 5), rate(2, 5)]),
    "hotline.whistle_report_rate": by_division([rate(1, 3), rate(0, 0), rate(0, 0), rate(0, 0),
                                                rate(1, 3), rate(0, 0), rate(1, 3),
                                                rate(1, 3)]),
    # persons: R1 (two phones, three tickets) and R4; not the household phone PH
    "hotline.repeat_callers": by_division(map(count, [1, 0, 1, 0, 1, 1, 2, 2])),
    "grid.events": by_division(map(count, [1, 1, 1, 0, 2, 1, 3, 3])),
    "grid.ontime_close_rate": by_division([rate(1, 2), rate(0, 1), rate(0, 0), rate(0, 0),
                                           rate(1, 3), rate(0, 0), rate(1, 3), rate(1, 3)]),
    # closed in the day: E1 after 6 h, E2 after 50 h (C1), E5 after 48 h (C3)
    "grid.median_close_hours": by_division([(28.0, None, 2), (None, None, 0), (48.0, None, 1),
                                            (None, None, 0), (28.0, None, 2), (48.0, None, 1),
                                            (48.0, None, 3), (48.0, None, 3)]),
    "grid.hotline_linked": by_division(map(count, [1, 0, 1, 0, 1, 1, 2, 2])),
    "workers.count": by_division(map(count, [2, 3, 2, 0, 5, 2, 7, 7])),
    "workers.per_10k_residents": by_division([per_10k(2, 2), per_10k(3, 2), per_10k(2, 1),
                                              per_10k(0, 0), per_10k(5, 4), per_10k(2, 1),
                                              per_10k(7, 5), per_10k(7, 5)]),
    "workers.organizer_shortfall": by_division(map(count, [1, 0, 1, 1, 1, 2, 3, 3])),
    "workers.organizers_missing": by_division(map(count, [1, 0, 1, 2, 1, 3, 4, 4])),
    "workers.grid_coverage": by_division([rate(1, 2), rate(1, 1), rate(1, 1), rate(0, 1),
                                          rate(2, 3), rate(1, 2), rate(3, 5), rate(3, 5)]),
    "dual.member_report_rate": by_division([rate(1, 1), rate(0, 2), rate(0, 0), rate(0, 0),
                                            rate(1, 3), rate(0, 0), rate(1, 3), rate(1, 3)]),
    "dual.units_reported": by_division(map(count, [1, 1, 1, 0, 2, 1, 2, 2])),
    "lists.need_match_rate": by_division([rate(1, 1), rate(1, 1), rate(0, 1), rate(0, 0),
                                          rate(2, 2), rate(0, 1), rate(2, 3), rate(2, 3)]),
    "sharing.resident_coverage": {CITY: rate(3, 5)},
}
FRESHNESS = {"hotline.tickets": 1.5, "civil_affairs.residents": 4.0,
             "organization.party_members": 12.0, "organization.unit_reports": 48.0,
             "rosters": 37.0}


def load_city(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        rows = tickets(TICKETS)
        for row in rows:
            address, category, title = TEXTS.get(row["ticket_id"], (None, None, None))
            row.update(address_text=address, category=category, title=title,
                       related_grid_event_id="E2" if row["ticket_id"] == "T6" else None,
                       whistle_blown_at=ts("11-10 12:00") if row["ticket_id"] == "T2" else None)
        insert(conn, "shared.hotline_ticket", rows)
        insert(conn, "shared.hotline_dispatch", [
            {"ticket_id": t, "seq": s, "mode": m, "dispatched_at": ts(d), "returned_at": ts(r)}
            for t, s, m, d, r in DISPATCHES], content_hash="h")
        insert(conn, "shared.hotline_whistle_summons", [
            {"ticket_id": t, "seq": s, "dept_code": d, "reported_at": ts(r)}
            for t, s, d, r in SUMMONS], content_hash="h")
        insert(conn, "shared.grid_event", [
            {"event_id": e, "community_code": c, "street_code": c[:9] + "000",
             "district_code": DISTRICT, "grid_code": c + "001", "reported_at": ts(r),
             "deadline_at": ts(d), "closed_at": ts(x), "hotline_ticket_id": h, "category": cat,
             "description": text, "address_text": address, "source": "grid.events",
             "source_record_id": e, "updated_at": ts("11-10 23:00"),
             "content_hash": "h", "run_id": "test", "loaded_at": ts("11-11 01:00")}
            for e, c, r, d, x, h, cat, text, address in EVENTS])
        insert(conn, "staging.record_version", [
            *staged("civil_affairs.residents", [
                {"resident_no": r, "community_code": c, "status": s,
                 **({"_updated": u} if u else {})} for r, _, c, s, u in REGISTER], "resident_no"),
            *staged("organization.party_members", [
                {"member_no": m, "in_service": i, "residence_community_code": c,
                 "reported_to_community": r, "reported_on": on,
                 "_updated": u or "2026-11-10 12:00:00"} for m, _, i, c, r, on, u in MEMBERS],
                "member_no"),
            *staged("organization.unit_reports", [
                {"report_id": r, "community_code": c, "reported_on": on, "list_type": kind,
                 "status": s, "_updated": "2026-11-09 00:00:00"}
                for r, _, c, on, kind, s in UNIT_REPORTS], "report_id"),
            *staged("hotline.tickets", [{"ticket_id": "T1",
                                         "_updated": "2026-11-10T22:30:00+08:00"}], "ticket_id"),
        ])
        xrefs = [("civil_affairs.residents", r, p) for r, p, *_ in REGISTER if p] + \
            [("organization.party_members", m, p) for m, p, *_ in MEMBERS if p] + \
            [(s, r, p) for s, r, *_, p in MENTIONS if p]
        insert(conn, "shared.resident_xref", [
            {"source": s, "source_record_id": r, "resident_id": p} for s, r, p in
            dict(((s, r), (s, r, p)) for s, r, p in xrefs).values()], match_rule="exact_id")
        insert(conn, "shared.unit_xref", [
            {"source": "organization.unit_reports", "source_record_id": r, "unit_id": u}
            for r, u, *_ in UNIT_REPORTS], match_rule="exact_uscc")
        insert(conn, "core.person_mention", [
            {"source": s, "source_record_id": r, "name": n, "phone": p, "id_number": i,
             "resident_id": x or "R?", "first_seen": ts("11-09 10:00")}
            for s, r, n, p, i, x in MENTIONS], content_hash="h", match_rule="exact_id",
            run_id="test")
    publish_roster_correction(engine)


def publish_roster_correction(engine: sa.Engine) -> list[str]:
    """The rosters arrive, then S1's file is corrected (W2 dropped); returns the names on the
    published roster before the correction."""
    a, b = f"rosters/{S1}/202611/a.csv", f"rosters/{S2}/202611/b.csv"
    stage(engine, "rosters", roster_records(S1, "a.csv", "a1", ROSTER_V1)
          + roster_records(S2, "b.csv", "b1", ROSTER_S2), "source_record_id", "r1",
          landed_at="2026-11-09T02:00:00+00:00")
    now = datetime(2026, 11, 9, 3, tzinfo=UTC)
    with engine.begin() as conn:
        publish_rosters(conn, DIVISIONS, "r1", now)
        before = sorted(n for (n,) in conn.exec_driver_sql(
            "SELECT name FROM shared.community_worker"))
    stage(engine, "rosters", roster_records(S1, "a.csv", "a2", ROSTER_V2), "source_record_id",
          "r2", landed_at="2026-11-09T03:00:00+00:00")
    with engine.begin() as conn:
        publish_rosters(conn, DIVISIONS, "r2", now)
        insert(conn, "shared.resident_xref", [
            {"source": "rosters", "source_record_id": (a if key.startswith("a") else b)
             + key[5:], "resident_id": rid} for key, rid in ROSTER_XREF.items()],
            match_rule="exact_id")
        link_resolved(conn)
    return before


def compute(engine, day=DAY, run_id="run"):
    return compute_day(engine, load_settings(), DIVISIONS, GRIDS, day, run_id)


def close(actual, expected) -> bool:
    return all((a is None and e is None) or (a is not None and e is not None
                                              and abs(a - e) < 1e-9)
               for a, e in zip(actual, expected))


def test_every_indicator_of_a_hand_checked_day(engine):
    load_city(engine)
    summary = compute(engine)
    got = values(engine)
    wrong = {}
    for code, divisions in EXPECTED.items():
        for division, want in divisions.items():
            have = got.get((code, division))
            if have is None or not close(have, want):
                wrong[(code, division)] = (have, want)
    assert wrong == {}
    assert {key[2]: got[key][0] for key in got if key[0] == "sharing.freshness_hours"} == \
        pytest.approx(FRESHNESS)
    # every division has a row of every indicator (the sharing ones: the city)
    assert len(summary["indicators"]) == 23
    assert summary["indicators"]["hotline.received"] == {"day": 8, "month": 8}
    assert summary["indicators"]["sharing.resident_coverage"] == {"day": 1, "month": 1}
    assert summary["links"] == {"hotline_ticket_id": 1, "related_grid_event_id": 1,
                                "same_problem": 1}


def test_month_to_date_and_the_published_links(engine):
    load_city(engine)
    compute(engine)
    month = values(engine, "month", date(2026, 11, 1))
    assert [month[("hotline.received", d)][0] for d in ORDER] == [4, 3, 5, 1, 7, 7, 14, 14]
    assert [month[("grid.hotline_linked", d)][0] for d in ORDER] == [2, 0, 1, 0, 2, 1, 3, 3]
    assert month[("grid.events", CITY)][0] == 5
    # the same 30 days end on the month's last loaded day
    assert month[("hotline.repeat_callers", CITY)][0] == 2
    with engine.connect() as conn:
        links = pd.DataFrame(conn.exec_driver_sql(
            "SELECT event_id, ticket_id, match_reason, score, hours_apart, community_code "
            "FROM shared.grid_hotline_link ORDER BY event_id").all(),
            columns=["event", "ticket", "reason", "score", "hours", "community"])
    assert links[["event", "ticket", "reason"]].values.tolist() == [
        ["E1", "T2", "hotline_ticket_id"], ["E2", "T6", "related_grid_event_id"],
        ["E3", "T4", "same_problem"]]
    matched = links.iloc[2]
    assert matched["hours"] == pytest.approx(-9.5) and matched["community"] == C3
    assert 0.75 <= matched["score"] < 1


def test_a_late_callback_revises_yesterday_and_keeps_the_old_value(engine):
    load_city(engine)
    yesterday = date(2026, 11, 9)
    compute(engine, yesterday, "run-9")
    compute(engine, DAY, "run-10")
    before = values(engine, "day", yesterday)
    assert before[("hotline.resolution_rate", C3)] == (None, 0, 0)
    with engine.begin() as conn:  # the callback of T11, made on the 9th, arrives late
        conn.execute(sa.text(
            "UPDATE shared.hotline_ticket SET callback_called_at = :at, callback_reached = TRUE, "
            "callback_resolved = '已解决', callback_satisfaction = '满意' WHERE ticket_id = 'T11'"),
            {"at": ts("11-09 15:00")})
    summary = compute(engine, yesterday, "run-late")
    after = values(engine, "day", yesterday)
    assert after[("hotline.resolution_rate", C3)] == (1.0, 1, 1)
    assert after[("hotline.satisfaction_rate", C3)] == (1.0, 1, 1)
    with engine.connect() as conn:
        revised = conn.execute(sa.text(
            "SELECT indicator_code, division_code, period_kind FROM shared.indicator_value "
            "WHERE revised ORDER BY 1, 2, 3")).all()
        history = conn.execute(sa.text(
            "SELECT value, numerator, denominator, run_id, replaced_by_run FROM "
            "shared.indicator_value_history WHERE indicator_code = 'hotline.resolution_rate' "
            "AND division_code = :c AND period_kind = 'day'"), {"c": C3}).all()
    assert history == [(None, 0, 0, "run-9", "run-late")]
    codes = {(code, division, kind) for code, division, kind in revised}
    for division in (C3, S2, DISTRICT, CITY):
        for kind in ("day", "month"):
            assert ("hotline.resolution_rate", division, kind) in codes
    assert all(code.startswith("hotline.") for code, _, _ in revised)
    assert summary["rows_revised"] == len(revised)
    # the day itself is untouched by yesterday's callback
    today = values(engine)
    assert today[("hotline.resolution_rate", C3)] == EXPECTED["hotline.resolution_rate"][C3]
    # idempotent: the same input again changes nothing and adds no history
    again = compute(engine, yesterday, "run-again")
    assert again["rows_written"] == 0 and again["rows_revised"] == 0
    assert values(engine, "day", yesterday) == after


def test_a_corrected_roster_removes_the_dropped_worker(engine):
    before = publish_roster_correction(engine)
    assert before == ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT source_record_id, name, resident_id FROM shared.community_worker "
            "ORDER BY source_record_id").all()
    a = f"rosters/{S1}/202611/a.csv#!"
    b = f"rosters/{S2}/202611/b.csv#!"
    assert [tuple(r) for r in rows] == [
        (a + "2", "W1", "RW1"), (a + "3", "W3", "RW3"), (a + "4", "W4", "RW4"),
        (a + "5", "W5", None), (a + "6", "W8", "RW8"), (b + "2", "W6", "RW6"),
        (b + "3", "W7", "RW7")]


def test_the_run_records_its_settings_and_the_file_is_checked(engine, tmp_path):
    load_city(engine)
    compute(engine)
    with engine.connect() as conn:
        recorded = conn.exec_driver_sql("SELECT settings_json FROM ops.indicator_run").scalar()
    used = json.loads(recorded)
    assert used["contact_limit"] == {"urgent_hours": 2.0, "normal_hours": 24.0}
    assert used["resolution_limit"] == {"urgent_hours": 24.0, "normal_hours": 168.0}
    assert used["composite_weights"] == {"response": 0.1, "resolution": 0.45,
                                         "satisfaction": 0.45}
    assert used["satisfaction_scores"] == {"satisfied": 1.0, "basically_satisfied": 0.9,
                                           "dissatisfied": 0.0}
    assert recorded == settings_json(load_settings())
    bad = tmp_path / "indicators.yaml"
    bad.write_text("contact_limit:\n  urgent_hour: 3\ncomposite_weights:\n  response: 0.5\n",
                   encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings(bad)
    assert str(bad) in str(error.value)
    assert "contact_limit.urgent_hour: unknown key" in error.value.problems
    assert any("composite_weights" in p and "add up to 1" in p for p in error.value.problems)


def test_changed_settings_change_the_values(engine, tmp_path):
    load_city(engine)
    path = tmp_path / "indicators.yaml"
    path.write_text("contact_limit:\n  urgent_hours: 4\n", encoding="utf-8")
    compute_day(engine, load_settings(path), DIVISIONS, GRIDS, DAY, "run")
    # T2 (紧急, contacted after 3 h) is in time under a 4-hour limit
    assert values(engine)[("hotline.response_rate", C1)] == (1.0, 2, 2)


def test_a_range_in_one_run_gives_what_each_day_gives(engine):
    load_city(engine)
    summary = compute_days(engine, load_settings(), DIVISIONS, GRIDS,
                           [date(2026, 11, 9), DAY], "range")
    assert summary["days"] == ["2026-11-09", "2026-11-10"]
    assert summary["indicators"]["hotline.received"] == {"day": 16, "month": 8}
    got = values(engine)
    assert all(close(got[(code, division)], want) for code, divisions in EXPECTED.items()
               for division, want in divisions.items())
    month = values(engine, "month", date(2026, 11, 1))
    assert month[("hotline.received", CITY)][0] == 14
    # computing the days one by one afterwards changes nothing
    assert compute(engine, date(2026, 11, 9), "a")["rows_written"] == 0
    assert compute(engine, DAY, "b")["rows_written"] == 0


def test_the_settings_file_of_the_project_writes_out_the_defaults():
    """config/indicators.yaml documents every setting with the spec's value: the same settings
    the pipeline uses when the sources file names no file."""
    project = Path(__file__).resolve().parent.parent
    assert load_settings(project / "config" / "indicators.yaml") == load_settings()


def test_members_and_units_count_from_the_day_they_reported(engine):
    """dual.* are placed once per run with the day each member or unit counts from; every
    day of a range counts those reported by its own last day (hand-checked: ur3 reports U2
    in C3 on 11-09 and ur4 U3 on 11-11; pm5, R3 in C2, reports on 11-20)."""
    load_city(engine)
    days = [date(2026, 11, 1), DAY, date(2026, 11, 20)]
    compute_days(engine, load_settings(), DIVISIONS, GRIDS, days, "range")
    got = {day: values(engine, "day", day) for day in days}
    assert [got[d][("dual.units_reported", C3)][0] for d in days] == [0, 1, 2]
    assert [got[d][("dual.units_reported", CITY)][0] for d in days] == [2, 2, 3]
    assert [got[d][("dual.member_report_rate", C2)][1:] for d in days] == [(0, 2), (0, 2), (1, 2)]
    assert [got[d][("dual.member_report_rate", CITY)][1:] for d in days] == \
        [(1, 3), (1, 3), (2, 3)]
    # each day computed on its own gives the same rows
    assert all(compute(engine, day, f"again-{day}")["rows_written"] == 0 for day in days)


def test_every_parameter_that_differs_between_periods_is_known_to_read_the_period():
    """An indicator whose items read none of PERIOD_PARAMETERS is computed once per run and
    copied to the other periods: a new period parameter must be listed there."""
    from indicators.compute import PERIOD_PARAMETERS, _parameters
    from indicators.periods import periods_of

    settings = load_settings()
    periods = [*periods_of(date(2026, 3, 31), "Etc/GMT+5"),
               *periods_of(date(2026, 11, 10), settings.timezone)]
    params = [_parameters(settings, period, CITY) for period in periods]
    differ = {key for key in params[0] if any(p[key] != params[0][key] for p in params)}
    # (kind and period_start only name the result row)
    assert differ - {"kind", "period_start"} <= set(PERIOD_PARAMETERS)
    assert {"t0", "t1", "last_day", "tz_offset"} <= differ
