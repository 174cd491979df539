"""Custom GX expectations: each catches its bad rows and names them by key."""

from __future__ import annotations

import pandas as pd
import pytest

gx = pytest.importorskip("great_expectations")

import expectations.custom as custom  # noqa: E402  (registers the expectations)
from transforms.identifiers import gb11643_check_char  # noqa: E402

KEY = "record_id"
COMPLETE = {"result_format": "COMPLETE", "unexpected_index_column_names": [KEY]}
GB11643_EXAMPLE = "11010519491231002X"


@pytest.fixture(scope="module")
def context():
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


@pytest.fixture(scope="module")
def batch_of(context):
    asset = context.data_sources.add_pandas("records").add_dataframe_asset("frame")
    definition = asset.add_batch_definition_whole_dataframe("whole")
    return lambda frame: definition.get_batch(batch_parameters={"dataframe": frame})


def failing_keys(batch, expectation) -> list[str]:
    result = batch.validate(expectation, result_format=COMPLETE)
    return sorted(row[KEY] for row in result.result["unexpected_index_list"])


def frame(column: str, rows: dict[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame({KEY: list(rows), column: pd.Series(list(rows.values()), dtype="str")})


def test_resident_id(batch_of):
    feb30 = "11010519490230002"
    unknown_area = "99010519491231002"
    future = "11010520991231002"
    batch = batch_of(frame("id_number", {
        "ok": GB11643_EXAMPLE, "lower_x": GB11643_EXAMPLE.lower(),
        "full_width": "１１０１０５１９４９１２３１００２Ｘ", "spaced": "110105 19491231 002X",
        "legacy": "110105491231002", "missing": None,
        "bad_check": GB11643_EXAMPLE[:17] + "1", "excel": "1.10105E+17",
        "feb30": feb30 + gb11643_check_char(feb30),
        "unknown_area": unknown_area + gb11643_check_char(unknown_area),
        "future": future + gb11643_check_char(future), "garbage": "身份证",
    }))
    always_bad = ["bad_check", "excel", "feb30", "future", "garbage", "unknown_area"]
    expectation = custom.ExpectColumnValuesToBeValidResidentId(column="id_number")
    assert failing_keys(batch, expectation) == always_bad
    strict = custom.ExpectColumnValuesToBeValidResidentId(column="id_number",
                                                          allow_legacy_15=False)
    assert failing_keys(batch, strict) == sorted([*always_bad, "legacy"])
    any_area = custom.ExpectColumnValuesToBeValidResidentId(column="id_number",
                                                            require_known_area=False)
    assert "unknown_area" not in failing_keys(batch, any_area)
    as_of_1949 = custom.ExpectColumnValuesToBeValidResidentId(column="id_number",
                                                              as_of="1949-12-30")
    assert "ok" in failing_keys(batch, as_of_1949)


def test_uscc(batch_of):
    batch = batch_of(frame("uscc", {
        "ok": "91350100M000100Y43", "huawei": "914403001922038216", "lower": "91350100m000100y43",
        "bad_check": "91350100M000100Y44", "letter_o": "91350100O000100Y43", "short": "9135",
        "missing": None,
    }))
    expectation = custom.ExpectColumnValuesToBeValidUscc(column="uscc")
    assert failing_keys(batch, expectation) == ["bad_check", "letter_o", "short"]


def test_phone(batch_of):
    batch = batch_of(frame("phone", {
        "mobile": "13904712233", "plus86": "+86 139 0471 2233", "landline": "0471-6961234",
        "bracketed": "(0471)6961234", "local": "6961234", "bad_prefix": "12345678901",
        "short": "1390471", "text": "无", "missing": None,
    }))
    expectation = custom.ExpectColumnValuesToBeValidChinesePhone(column="phone")
    assert failing_keys(batch, expectation) == ["bad_prefix", "short", "text"]
    mobile_only = custom.ExpectColumnValuesToBeValidChinesePhone(column="phone", kinds=["mobile"])
    assert failing_keys(batch, mobile_only) == sorted(
        ["bad_prefix", "short", "text", "landline", "bracketed", "local"])


def test_known_division_code(batch_of):
    reference = ["150102001000", "150102001001"]
    batch = batch_of(frame("community_code", {
        "ok": "150102001001", "spaced": " 150102 001 000", "unknown": "150102009999",
        "short": "15010200100", "missing": None,
    }))
    expectation = custom.ExpectColumnValuesToBeKnownDivisionCode(column="community_code",
                                                                 value_set=reference)
    assert failing_keys(batch, expectation) == ["short", "unknown"]


def test_known_division_code_in_sql(context, tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = sa.create_engine(url)
    pd.DataFrame({KEY: ["a", "b", "c"],
                  "community_code": ["150102001001", "150102009999", None]}).to_sql(
        "events", engine, index=False)
    engine.dispose()
    asset = context.data_sources.add_sqlite("warehouse", connection_string=url) \
        .add_table_asset("events", table_name="events")
    batch = asset.add_batch_definition_whole_table("whole").get_batch()
    expectation = custom.ExpectColumnValuesToBeKnownDivisionCode(
        column="community_code", value_set=["150102001000", "150102001001"])
    assert failing_keys(batch, expectation) == ["b"]


def test_volume_band(batch_of):
    history = [1000, 990, 1010, 1000, 5000]  # one spike: the median ignores it
    batch = batch_of(pd.DataFrame({KEY: [str(i) for i in range(400)]}))
    collapse = batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=history))
    assert not collapse.success
    details = collapse.result["details"]
    assert collapse.result["observed_value"] == 400 and details["ratio_to_median"] == 0.4
    assert "400 rows is 40% of the median 1000" in details["explanation"]
    assert "below the band" in details["explanation"]

    normal = batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=[420, 400, 390]))
    assert normal.success and "within the band" in normal.result["details"]["explanation"]
    doubled = batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=[190, 200, 210], max_ratio=1.5))
    assert not doubled.success and "above the band" in doubled.result["details"]["explanation"]
    first_day = batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(recent_counts=[]))
    assert first_day.success


def test_custom_expectations_run_in_a_suite(context, batch_of):
    suite = context.suites.add(gx.ExpectationSuite(name="persons", expectations=[
        custom.ExpectColumnValuesToBeValidResidentId(column="id_number"),
        custom.ExpectColumnValuesToBeValidChinesePhone(column="phone", mostly=0.5),
        custom.ExpectTableRowCountToBeWithinHistoryBand(recent_counts=[2, 2, 2]),
    ]))
    data = pd.DataFrame({KEY: ["a", "b"], "id_number": [GB11643_EXAMPLE, "bad"],
                         "phone": ["13904712233", "bad"]})
    results = batch_of(data).validate(suite, result_format=COMPLETE)
    outcome = {r.expectation_config.type: r.success for r in results.results}
    assert outcome == {"expect_column_values_to_be_valid_resident_id": False,
                       "expect_column_values_to_be_valid_chinese_phone": True,
                       "expect_table_row_count_to_be_within_history_band": True}
