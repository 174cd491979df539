"""Quarantine: rows held with their reasons, listed and explained without personal data,
replayed once the cause is fixed (once only), and a held batch loads nothing."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

pytest.importorskip("great_expectations")

from test_validation import (  # noqa: E402
    COMMUNITY,
    ID,
    batch_of,
    event,
    reference,
    resident,
    unit_report,
)

from common.reference import Reference  # noqa: E402
from govshare import quarantine_cli  # noqa: E402
from pipeline import quarantine, staging  # noqa: E402

NEW_COMMUNITY = "150102001002"




def with_new_community(ref: Reference) -> Reference:
    divisions = pd.concat([ref.divisions, pd.DataFrame({
        "code": [NEW_COMMUNITY], "name": ["通达社区"], "level": ["community"],
        "parent_code": ["150102001000"]})], ignore_index=True)
    return Reference(divisions=divisions, grids=ref.grids, departments=ref.departments)


def staged(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT source_record_id, content_hash FROM "
                                   "staging.record_version WHERE source = :s"), conn,
                           params={"s": source})


def test_replay_after_the_reference_gains_a_community(engine):
    reports = batch_of("organization.unit_reports", [
        unit_report(report_id="BD1"), unit_report(report_id="BD2", community_code=NEW_COMMUNITY),
        unit_report(report_id="BD3", community_code=NEW_COMMUNITY)])
    events = batch_of("grid.events", [event(event_id="GE1"),
                                      event(event_id="GE2", grid_code=NEW_COMMUNITY + "001")])
    first = staging.validate_and_stage(engine, "organization.unit_reports", reports,
                                          reference(), "run-1")
    staging.validate_and_stage(engine, "grid.events", events, reference(), "run-1")
    assert first["staged"] == 1 and first["quarantine_rows"] == 2
    held = quarantine.list_quarantine(engine)
    assert sorted(held["source_record_id"]) == ["BD2", "BD3", "GE2"]
    assert set(quarantine.list_quarantine(engine, rule="grid_code.known_community")
               ["source_record_id"]) == {"GE2"}
    assert quarantine.list_quarantine(engine, run_id="run-0").empty

    # Nothing fixed yet: nothing replays.
    nothing = quarantine.replay(engine, reference())
    assert nothing["organization.unit_reports"]["loaded"] == 0
    assert nothing["organization.unit_reports"]["still_failing"] == 2

    fixed = with_new_community(reference())
    summary = quarantine.replay(engine, fixed, source="organization.unit_reports")
    assert summary == {"organization.unit_reports": {"considered": 2, "not_replayable": 0,
                                                     "loaded": 2, "still_failing": 0}}
    rows = staged(engine, "organization.unit_reports")
    assert sorted(rows["source_record_id"]) == ["BD1", "BD2", "BD3"]
    # The replayed versions are the landed versions, not copies with a new hash.
    assert set(rows["content_hash"]) == set(reports["_content_hash"])
    replayed = quarantine.list_quarantine(engine, source="organization.unit_reports",
                                          include_replayed=True)
    assert replayed["replayed_at"].notna().all()
    assert quarantine.list_quarantine(engine, source="organization.unit_reports").empty

    again = quarantine.replay(engine, fixed, source="organization.unit_reports")
    assert again == {}  # nothing left to replay there
    assert len(staged(engine, "organization.unit_reports")) == 3
    # The grid event's community exists now; it replays (with --rule) and loads once.
    by_rule = quarantine.replay(engine, fixed, rule="grid_code.known_community")
    assert by_rule["grid.events"]["loaded"] == 1
    assert sorted(staged(engine, "grid.events")["source_record_id"]) == ["GE1", "GE2"]


def test_recording_the_same_rejection_twice_keeps_one_row(engine):
    batch = batch_of("organization.unit_reports", [unit_report(community_code="150102001099")])
    for _ in range(2):
        staging.validate_and_stage(engine, "organization.unit_reports", batch, reference(),
                                      "run-1")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shared.quarantine")).scalar() == 1
    assert len(staged(engine, "organization.unit_reports")) == 0


def test_volume_collapse_stages_and_quarantines_nothing(engine):
    batch = batch_of("civil_affairs.residents",
                     [resident(resident_no=f"MZ{i}") for i in range(40)]
                     + [resident(resident_no="bad", status="失踪")])
    with pytest.raises(staging.BatchHeldError, match="41 rows is 41% of the median 100"):
        staging.validate_and_stage(engine, "civil_affairs.residents", batch, reference(),
                                      "run-9", recent_counts=[100, 100, 99, 101])
    assert staged(engine, "civil_affairs.residents").empty
    assert quarantine.list_quarantine(engine).empty


def test_explain_names_the_rules_and_masks_personal_data(engine):
    batch = batch_of("civil_affairs.residents", [resident(
        resident_no="MZ7", name="李秀英", id_number=ID, phone="13904712233", status="失踪",
        community_code=COMMUNITY)])
    staging.validate_and_stage(engine, "civil_affairs.residents", batch, reference(), "run-1")
    (quarantine_id,) = quarantine.list_quarantine(engine)["quarantine_id"]
    text = quarantine.explain(engine, quarantine_id)
    assert "status.allowed (status): the status is 正常, 迁出 or 死亡 [critical" in text
    assert "MZ7" in text and "run-1" in text
    assert ID not in text and "13904712233" not in text and "李秀英" not in text
    assert "110105************" in text and "139****2233" in text and "李**" in text


def test_cli_lists_explains_and_replays(engine, warehouse_url, tmp_path, monkeypatch, capsys):
    import argparse

    ref_root = tmp_path / "reference"
    ref_root.mkdir()
    ref = reference()
    ref.divisions.to_csv(ref_root / "divisions.csv", index=False)
    ref.grids.to_csv(ref_root / "grids.csv", index=False)
    ref.departments.to_csv(ref_root / "departments.csv", index=False)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"warehouse_url": warehouse_url,
                                       "reference": {"root": str(ref_root)},
                                       "data_docs_dir": str(tmp_path / "docs")}))
    monkeypatch.setenv("GOVSHARE_SOURCES", str(sources))
    staging.validate_and_stage(engine, "organization.unit_reports", batch_of(
        "organization.unit_reports", [unit_report(community_code=NEW_COMMUNITY)]),
        reference(), "run-1")
    parser = argparse.ArgumentParser()
    quarantine_cli.add_quarantine_parser(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args(["quarantine", *argv])
        assert args.func(args) == 0
        return capsys.readouterr().out

    listed = run("list", "--rule", "community_code.known_community")
    assert "organization.unit_reports" in listed and "1 record(s)" in listed
    prefix = quarantine.list_quarantine(engine)["quarantine_id"].iloc[0][:12]
    assert "community_code.known_community" in run("explain", prefix)
    with_new_community(ref).divisions.to_csv(ref_root / "divisions.csv", index=False)
    assert "1 loaded" in run("replay", "--source", "organization.unit_reports")
    assert "nothing in quarantine" in run("list")
    assert (tmp_path / "docs" / "index.html").exists()
