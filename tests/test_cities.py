"""A city unlike the one the pipeline was first written for (the simulator's `guangzhou`
profile: area code 020, Guangdong, Cantonese surnames, larger households that share phones,
homonymous units, more people missing from the register) runs end to end on both warehouse
engines: the city comes from the sources file and the reference data alone, resolution
keeps its precision, and both engines publish the same state."""

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from db_support import both_warehouses
from resolution_support import run_city

from pipeline.reconcile import state_differences, warehouse_state
from simulator.run import simulate

pytestmark = pytest.mark.slow

START, DAYS = date(2026, 11, 2), 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("guangzhou")
    simulate(root / "sim", scale="tiny", seed=5, start=START, days=DAYS, city="guangzhou",
             progress=lambda m: None)
    with both_warehouses(root) as urls:
        result = {}
        for engine, url in urls.items():
            config = run_city(root / "sim", root / engine, START, DAYS, warehouse_url=url,
                              resolve_and_publish=True)
            result[engine] = (config, warehouse_state(url, schemas=("shared", "core")),
                              _scored(url, root / "sim"))
        yield result


def _scored(url: str, sim) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    scored = {}
    for kind, suffix in (("resident", "persons"), ("unit", "units")):
        truth = pd.concat([pd.read_parquet(f) for f in (sim / "truth").glob(f"*_{suffix}.parquet")])
        with engine.connect() as conn:
            xref = pd.read_sql(sa.text(f"SELECT * FROM shared.{kind}_xref"), conn)
        scored[kind] = xref.merge(truth, on=["source", "source_record_id"])
    engine.dispose()
    return scored


def test_the_city_section_is_the_second_citys(runs):
    config, _, _ = runs["duckdb"]
    assert config["city"]["area_codes"] == ["020"] and config["city"]["division_root"] == "440100"


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_resolution_keeps_its_precision_on_the_second_city(runs, engine):
    _, _, scored = runs[engine]
    for kind, truth_key in (("resident", "person_key"), ("unit", "unit_key")):
        joined = scored[kind]
        assert len(joined) > 100, kind
        pure = joined.groupby(f"{kind}_id")[truth_key].nunique() == 1
        assert pure.mean() > 0.995, kind


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_020_numbers_are_normalised_with_the_citys_area_code(runs, engine):
    _, state, _ = runs[engine]
    phones = state["core.person_mention"]["phone"].dropna()
    landlines = phones[phones.str.startswith("0")]
    assert len(landlines) > 0 and landlines.str.startswith("020-").all()


def test_both_engines_publish_the_same_state(runs):
    (_, duck, _), (_, pg, _) = runs["duckdb"], runs["postgres"]
    for table in ("shared.resident", "shared.unit", "shared.resident_xref", "shared.unit_xref",
                  "shared.hotline_ticket", "shared.grid_event"):
        assert len(duck[table]) > 0, table
        assert not state_differences(duck[table], pg[table]), table
