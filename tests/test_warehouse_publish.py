"""Publishing staged records into the shared tables, on DuckDB and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from warehouse_support import (
    COMMUNITY_A,
    COMMUNITY_B,
    STREET_A,
    STREET_B,
    config_for,
    grid_event,
    stage,
    table,
    ticket,
)

from pipeline.freshness import StaleSourceError, check_freshness
from pipeline.publication import publish


@pytest.fixture
def setup(engine, warehouse_url, tmp_path):
    return engine, config_for(warehouse_url, tmp_path)


def test_ticket_divisions_follow_the_address_and_children_are_flattened(setup):
    engine, config = setup
    wrong_codes = ticket("HL2", "2026-11-25T09:00:00+08:00", street_code=STREET_B,
                         community_code=COMMUNITY_B)
    no_address = ticket("HL3", "2026-11-25T09:00:00+08:00", address_text="不详",
                        street_code=STREET_B, community_code=COMMUNITY_B,
                        whistle={"blown_at": "2026-11-25T10:02:00+08:00",
                                 "street_code": STREET_B,
                                 "summoned": [{"dept_code": "CG01", "reported_at": None},
                                              {"dept_code": "RL01", "reported_at": None}]})
    stage(engine, "hotline.tickets", [wrong_codes, no_address], "ticket_id", "run-1")
    summary = publish(config, "run-1")
    assert summary["hotline.tickets"] == {"received": 2, "changed": 2}

    tickets = table(engine, "shared.hotline_ticket", "ticket_id").set_index("ticket_id")
    assert tickets.loc["HL2", "community_code"] == COMMUNITY_A  # the address wins
    assert tickets.loc["HL2", "street_code"] == STREET_A
    assert tickets.loc["HL2", "operator_community_code"] == COMMUNITY_B
    assert tickets.loc["HL2", "division_basis"] == "address"
    assert tickets.loc["HL3", "community_code"] == COMMUNITY_B  # nothing to contradict it
    assert tickets.loc["HL3", "division_basis"] == "operator"
    assert tickets.loc["HL2", "caller_phone"] == "13904712233"
    assert tickets.loc["HL2", "source"] == "hotline.tickets"
    assert tickets.loc["HL2", "run_id"] == "run-1"
    assert len(tickets.loc["HL2", "content_hash"]) == 64
    dispatches = table(engine, "shared.hotline_dispatch", "ticket_id, seq")
    assert list(dispatches["ticket_id"]) == ["HL2", "HL3"]
    summons = table(engine, "shared.hotline_whistle_summons", "ticket_id, seq")
    assert list(summons["dept_code"]) == ["CG01", "RL01"] and list(summons["seq"]) == [0, 1]


def test_rerunning_a_days_publish_changes_nothing(setup):
    engine, config = setup
    stage(engine, "hotline.tickets", [ticket("HL1", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-1")
    stage(engine, "grid.events", [grid_event("GE1", "2026-11-25T10:00:00+08:00")],
          "event_id", "run-1")
    publish(config, "run-1")
    names = ["shared.hotline_ticket", "shared.hotline_ticket_history", "shared.grid_event",
             "shared.grid_event_history", "shared.grid_event_person", "shared.hotline_dispatch"]
    before = {n: table(engine, n, "1, 2") for n in names}
    again = publish(config, "run-1")
    assert again["hotline.tickets"]["changed"] == 0 and again["grid.events"]["changed"] == 0
    again = publish(config, "run-1", full=True)
    assert again["hotline.tickets"]["changed"] == 0
    for name in names:
        pd.testing.assert_frame_equal(table(engine, name, "1, 2"), before[name])


def test_a_corrected_record_updates_latest_state_and_keeps_history(setup):
    engine, config = setup
    stage(engine, "hotline.tickets", [ticket("HL1", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-1")
    publish(config, "run-1")
    corrected = ticket("HL1", "2026-11-26T16:30:00+08:00", status="已办结",
                       dispatches=[{"dept_code": "CG01", "mode": "派单",
                                    "dispatched_at": "2026-11-26T08:00:00+08:00"}])
    stage(engine, "hotline.tickets", [corrected], "ticket_id", "run-2",
          landed_at="2026-11-27T01:00:00+00:00")
    assert publish(config, "run-2")["hotline.tickets"]["changed"] == 1

    latest = table(engine, "shared.hotline_ticket", "ticket_id")
    assert list(latest["status"]) == ["已办结"] and list(latest["run_id"]) == ["run-2"]
    history = table(engine, "shared.hotline_ticket_history", "valid_from")
    assert list(history["status"]) == ["已派单", "已办结"]
    assert list(history["is_current"]) == [False, True]
    assert history["valid_to"].iloc[0] == history["valid_from"].iloc[1]
    assert pd.isna(history["valid_to"].iloc[1])
    assert list(table(engine, "shared.hotline_dispatch", "seq")["dept_code"]) == ["CG01"]

    # An older version delivered late never overwrites the newer state.
    late = ticket("HL1", "2026-11-25T12:00:00+08:00", status="处理中")
    stage(engine, "hotline.tickets", [late], "ticket_id", "run-3",
          landed_at="2026-11-28T01:00:00+00:00")
    assert publish(config, "run-3")["hotline.tickets"]["changed"] == 0
    assert list(table(engine, "shared.hotline_ticket", "ticket_id")["status"]) == ["已办结"]


def test_grid_events_get_children_and_the_ticket_that_names_them(setup):
    engine, config = setup
    stage(engine, "grid.events", [grid_event("GE1", "2026-11-25T10:00:00+08:00")],
          "event_id", "run-1")
    publish(config, "run-1")
    stage(engine, "hotline.tickets", [ticket("HL9", "2026-11-25T11:00:00+08:00",
                                             related_grid_event_id="GE1")],
          "ticket_id", "run-2", landed_at="2026-11-27T01:00:00+00:00")
    summary = publish(config, "run-2")
    assert summary["grid.events"]["linked_tickets"] == 1
    event = table(engine, "shared.grid_event", "event_id").iloc[0]
    assert (event["community_code"], event["street_code"]) == (COMMUNITY_B, STREET_B)
    assert event["hotline_ticket_id"] == "HL9" and event["report_source"] == "巡查上报"
    person = table(engine, "shared.grid_event_person", "seq").iloc[0]
    assert person["source_record_id"] == "GE1#0" and person["id_number"] == "150102196503120038"


def roster_row(row: int, month: str, name: str, community: str = "团结社区") -> dict:
    return {"source_record_id": f"rosters/{STREET_A}/{month}/hm.xlsx#Sheet1!{row}",
            "street_code": STREET_A, "roster_month": month, "name": name,
            "id_number": "15010219650312003８", "community": community,
            "post": "网格员", "post_grade": "三岗十八级", "staff_no": f"WG{row:04d}",
            "phone": "13847112345", "updated_at": None}


def test_the_newest_roster_month_replaces_the_street_roster(setup):
    engine, config = setup
    stage(engine, "rosters", [roster_row(3, "202610", "甲"), roster_row(4, "202610", "乙")],
          "source_record_id", "run-1")
    publish(config, "run-1")
    stage(engine, "rosters", [roster_row(3, "202611", "甲", "团结社区居委会")],
          "source_record_id", "run-2", landed_at="2026-11-27T01:00:00+00:00")
    summary = publish(config, "run-2")
    assert summary["rosters"]["left"] == 2
    workers = table(engine, "shared.community_worker", "source_record_id")
    assert list(workers["roster_month"]) == ["202611"]
    assert list(workers["community_code"]) == [COMMUNITY_A]
    assert list(workers["id_number"]) == ["150102196503120038"]
    stage(engine, "rosters", [roster_row(5, "202609", "丙")], "source_record_id", "run-3",
          landed_at="2026-11-28T01:00:00+00:00")
    publish(config, "run-3")  # an older month delivered late
    assert list(table(engine, "shared.community_worker", "source_record_id")["name"]) == ["甲"]


def test_freshness_fails_loudly_for_a_stale_or_missing_source(setup):
    engine, config = setup
    stage(engine, "hotline.tickets", [ticket("HL1", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-1")
    config["hotline"] = {"freshness_hours": 24}
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    [checked] = check_freshness(config, now=now)
    assert checked["source"] == "hotline.tickets" and checked["hours_since"] == pytest.approx(11)
    with pytest.raises(StaleSourceError, match="hotline.tickets: newest change 35.0 h ago"):
        check_freshness(config, now=datetime(2026, 11, 26, 12, tzinfo=UTC))
    config["grid"] = {"freshness_hours": 48}
    with pytest.raises(StaleSourceError, match="grid.events: nothing loaded yet"):
        check_freshness(config, now=now)


def test_scd2_helper_keeps_golden_record_history_by_load_time(setup):
    """Golden records have no source change time: versions are timed by the load."""
    import sqlalchemy as sa

    from warehouse.scd2 import apply_scd2
    from warehouse.schema import history_table

    engine, _ = setup
    metadata = sa.MetaData()
    golden = sa.Table("golden_test", metadata, sa.Column("resident_id", sa.String(13),
                                                           primary_key=True),
                      sa.Column("name", sa.Text), sa.Column("run_id", sa.String(32)),
                      schema="core")
    history_table(golden)
    metadata.create_all(engine)
    first, second = datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)
    batch = pd.DataFrame({"resident_id": ["R1", "R2"], "name": ["李秀英", "王建国"],
                          "run_id": "run-1"})
    with engine.begin() as conn:
        assert apply_scd2(conn, batch, "core.golden_test", ["resident_id"],
                          history="core.golden_test_history", now=first).changed_count == 2
    renamed = batch.assign(name=["李秀瑛", "王建国"], run_id="run-2")
    with engine.begin() as conn:
        result = apply_scd2(conn, renamed, "core.golden_test", ["resident_id"],
                            history="core.golden_test_history", now=second)
    assert list(result.changed["resident_id"]) == ["R1"]  # a new run id alone is no change
    history = table(engine, "core.golden_test_history", "resident_id, valid_from")
    assert list(history["name"]) == ["李秀英", "李秀瑛", "王建国"]
    assert list(history["is_current"]) == [False, True, True]
    assert history["valid_to"].iloc[0] == second and history["valid_from"].iloc[1] == second


def test_a_published_row_traces_back_to_its_staged_version_and_runs(setup):
    from warehouse.lineage import trace_row

    engine, config = setup
    stage(engine, "hotline.tickets", [ticket("HL1", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-land")
    publish(config, "run-publish")
    trace = trace_row(engine, "hotline_ticket", "HL1")
    assert trace["published"]["run_id"] == "run-publish"
    assert trace["staged"]["run_id"] == "run-land"
    assert '"ticket_id": "HL1"' in trace["staged"]["record"]
    assert trace_row(engine, "hotline_ticket", "HL-unknown") is None
