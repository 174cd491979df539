"""Resolution on a simulated tiny city staged through the pipeline package: stable ids across
runs, incremental equals full, precision against the ground truth, explain output, a caller's
event place."""

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from db_support import clone_warehouse
from resolution_support import staged_city

from common.reference import load_reference
from common.sources import HOTLINE, RESIDENTS
from pipeline.explain import explain
from pipeline.resolution import resolve, resolve_kind
from transforms.city import city_from_reference
from transforms.resolution import engine as eng
from warehouse import resolution_tables as tables
from warehouse.engine import read_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory, module_warehouse_url):
    """A tiny city staged into each warehouse engine in turn."""
    root = tmp_path_factory.mktemp("resolution")
    config, sim = staged_city(root, scale="tiny", days=2, warehouse_url=module_warehouse_url)
    return root, config, sim


def _copy(root, config, name):
    """A copy of the staged warehouse for one test: (its config, its URL)."""
    url = clone_warehouse(config["warehouse_url"], root, name)
    return {**config, "warehouse_url": url}, url


def _xref(url, kind="resident"):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text(f"SELECT * FROM shared.{kind}_xref"), conn)
    engine.dispose()
    return frame


def _partition(xref, id_column):
    return {frozenset(zip(g["source"], g["source_record_id"]))
            for _, g in xref.groupby(id_column)}


def test_ids_survive_a_rerun_and_an_incremental_run(city):
    root, config, _ = city
    config, url = _copy(root, config, "rerun")
    first = resolve(config, "run1")
    before = _xref(url)
    assert first["resident"]["mode"] == "full"
    assert resolve(config, "run2")["resident"]["mode"] == "incremental"
    resolve(config, "run3", full=True)
    after = _xref(url)
    again = resolve(config, "run4", full=True)  # the same records, the same model
    assert again["resident"]["changed"] == again["unit"]["changed"] == 0
    assert again["resident"]["entities"] == again["unit"]["entities"] == 0  # none rebuilt
    merged = before.merge(after, on=["source", "source_record_id"], suffixes=("_1", "_3"))
    assert len(merged) == len(before)
    assert (merged["resident_id_1"] == merged["resident_id_3"]).all()
    assert before["resident_id"].str.fullmatch(r"R\d{12}").all()


def test_incremental_day_equals_full_with_the_same_model(city):
    root, config, _ = city
    incremental, inc_url = _copy(root, config, "incremental")
    engine = sa.create_engine(inc_url)
    with engine.begin() as conn:  # hold back day 1 and resolve day 0 alone
        conn.exec_driver_sql("CREATE TABLE held AS SELECT * FROM staging.record_version "
                             "WHERE run_id = 'day1'")
        conn.exec_driver_sql("DELETE FROM staging.record_version WHERE run_id = 'day1'")
    resolve(incremental, "day0")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO staging.record_version SELECT * FROM held")
        model = pd.read_sql(sa.select(tables.resolution_model), conn)
    counts = resolve(incremental, "day1")
    assert counts["resident"]["mode"] == "incremental"
    assert counts["resident"]["scope"] < counts["resident"]["mentions"] + 2000
    with engine.connect() as conn:  # golden records keep their history (SCD type 2)
        current, replaced, published = conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE is_current), count(*) FILTER (WHERE NOT is_current), "
            "(SELECT count(*) FROM shared.resident) FROM shared.resident_history").one()
        unclosed = conn.exec_driver_sql(
            "SELECT count(*) FROM shared.resident_history "
            "WHERE NOT is_current AND valid_to IS NULL").scalar()
    assert current == published and replaced > 0 and unclosed == 0
    engine.dispose()

    full, full_url = _copy(root, config, "full")
    full_engine = sa.create_engine(full_url)
    tables.create_all(full_engine)
    with full_engine.begin() as conn:
        conn.execute(tables.resolution_model.insert(), model.to_dict("records"))
    divisions = load_reference(config=config).divisions
    city = city_from_reference(divisions, config["city"])  # the sources file's, as resolve's
    for kind in ("resident", "unit"):
        resolve_kind(full_engine, kind, divisions, "full", full=True, retrain=False, city=city)
    full_engine.dispose()
    for kind in ("resident", "unit"):
        assert _partition(_xref(inc_url, kind), f"{kind}_id") == \
            _partition(_xref(full_url, kind), f"{kind}_id"), kind


def test_precision_against_ground_truth(city):
    root, config, sim = city
    config, url = _copy(root, config, "truth")
    resolve(config, "run1")
    for kind, truth_key in (("resident", "person_key"), ("unit", "unit_key")):
        suffix = "persons" if kind == "resident" else "units"
        truth = pd.concat([pd.read_parquet(f) for f in (sim / "truth").glob(f"*_{suffix}.parquet")])
        joined = _xref(url, kind).merge(truth, on=["source", "source_record_id"])
        impure = joined.groupby(f"{kind}_id")[truth_key].nunique()
        assert (impure == 1).mean() > 0.995, kind


def test_explain_shows_each_comparison(city):
    root, config, _ = city
    config, url = _copy(root, config, "explain")
    resolve(config, "run1")
    xref = _xref(url)
    linked = xref[xref["match_rule"] == "probabilistic"].iloc[0]
    anchor = xref[(xref["resident_id"] == linked["resident_id"])
                  & (xref["match_rule"] == "exact_id")].iloc[0]
    engine = sa.create_engine(config["warehouse_url"])
    text = explain(engine, f"{anchor['source']}:{anchor['source_record_id']}",
                   f"{linked['source']}:{linked['source_record_id']}")
    engine.dispose()
    for comparison in ("name", "phone", "birth", "location", "household"):
        assert f"\n{comparison} " in text
    assert "match probability" in text and linked["resident_id"] in text


def _resolved_people(city, name):
    """A copy of the city resolved in full: its resident model (JSON) and person mentions."""
    root, config, _ = city
    config, url = _copy(root, config, name)
    resolve(config, "run1")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        model = conn.execute(sa.select(tables.resolution_model.c.settings_json)
                             .where(tables.resolution_model.c.kind == "resident")).scalar()
        people = read_frame(conn, "SELECT * FROM core.person_mention")
    engine.dispose()
    return model, people


def test_a_caller_reporting_a_place_in_another_district_joins_the_registered_resident(city):
    """A hotline ticket's address is where the problem is, not the caller's home: the caller
    with the register's name and phone joins the registered resident wherever the problem
    is (tests/test_resolution.py: two homes that disagree still count against a link)."""
    model, people = _resolved_people(city, "event_place")
    people = eng.with_usage(eng.RESIDENT, people)
    placed = people[people["street_code"].notna()]
    registered = placed[(placed["source"] == RESIDENTS) & (placed["phone_users"] == 1)] \
        .iloc[0].to_dict()
    # Another district and another compound (compound names repeat across districts).
    elsewhere = placed[(placed["district_code"] != registered["district_code"])
                       & (placed["compound"] != registered["compound"])].iloc[0]
    caller = {**{column: None for column in registered}, "source": HOTLINE,
              "source_record_id": "T-elsewhere", "id_valid": False, "phone_users": 1,
              **{column: registered[column] for column in
                 ("name", "name_pinyin", "surname_pinyin", "given_pinyin", "phone")},
              **{column: elsewhere[column] for column in
                 ("district_code", "street_code", "community_code", "compound", "building")}}
    mentions = pd.DataFrame([registered, caller])
    pairs = eng.score_pairs(eng.RESIDENT, mentions, model)
    labels = eng.cluster(eng.RESIDENT, mentions, pairs)["label"]
    assert labels.iloc[0] == labels.iloc[1]
    as_caller = eng.explain_pair(eng.RESIDENT, registered, caller, model)
    location = as_caller.set_index("comparison").loc["location"]
    assert location["match_weight"] == 0 and "elsewhere" in location["level"]


def test_the_model_trains_where_no_match_has_homes_that_disagree(city):
    """The register and the party roll place a person at one home, so without the event
    places no match has homes that disagree: a level EM finds no match at (here the
    location's else level) must not stop training (Splink refuses an m driven to 0), and
    the model still scores."""
    _, people = _resolved_people(city, "homes_agree")
    homes = people[~people["source"].isin(eng.RESIDENT.event_place_sources)] \
        .reset_index(drop=True)
    model = eng.train(eng.RESIDENT, homes)
    location = next(c for c in json.loads(model)["comparisons"]
                    if c["output_column_name"] == "location")
    trained = [lv["m_probability"] for lv in location["comparison_levels"]
               if "m_probability" in lv]
    assert trained and all(0 < m <= 1 for m in trained)
    assert len(eng.score_pairs(eng.RESIDENT, homes, model))
