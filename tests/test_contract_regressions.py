"""Regression tests for the defects the contract property tests
(tests/test_contract_properties.py) found, one each, in the smallest form that shows it.
docs/contracts-coverage.md lists them."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from contract_strategies import reference_city
from property_support import (
    RESIDENT_COLUMNS,
    MemoryState,
    create_department_table,
    quarantine_reasons,
    scratch,
    warnings_of,
)

from connectors.base import Window
from connectors.landing import RawLanding
from connectors.sql import SqlTableConnector
from expectations.runner import validate_landed
from transforms.identifiers import normalize_phone

pytest.importorskip("great_expectations")

TABLE = "civil_affairs.residents"
# A text change-time column as an older system keeps it: `T` or space, with or without
# seconds, +08:00 written out, and one value that is no time at all.
TEXT_TIMES = {"R1": "2024-10-31T08:00", "R2": "2024-10-31 09:00",
              "R3": "2024-10-31T10:00:00.250+08:00", "R4": "2024-10-31T03:30:00Z",
              "R5": "2024-10-30 23:59", "R6": "昨天"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_city(tmp_path_factory.mktemp("reference"))


@pytest.fixture(params=["duckdb", "mariadb"])
def text_time_table(request, tmp_path):
    """A resident table whose `updated_at` is VARCHAR, on each department database kind."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'departments.duckdb'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    if request.param == "mariadb":
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql("CREATE DATABASE civil_affairs CHARACTER SET utf8mb4")
        admin.dispose()
    row = {"name": "王伟", "id_type": "居民身份证", "id_number": None, "gender": "男",
           "birth_date": None, "ethnicity": None, "phone": None, "household_no": None,
           "relation_to_head": None, "registered_address": None, "residence_address": None,
           "community_code": None, "status": "正常"}
    create_department_table(url, TABLE, RESIDENT_COLUMNS, "TEXT",
                            [row | {"resident_no": k, "updated_at": t}
                             for k, t in TEXT_TIMES.items()])
    return url


def test_a_text_change_time_column_is_windowed_by_its_parsed_times(text_time_table, reference):
    """Defects: DuckDB refused `VARCHAR <= TIMESTAMP` (the whole table failed to extract) and
    MariaDB compared the text ('2024-10-31T08:00' sorts after '2024-10-31 09:00'). Read from
    the watermark 2024-10-31 08:30 to 2024-11-01, the table now takes 09:00, 10:00+08:00 and 03:30Z (11:30 local), not
    08:00 or the day before; text that is no time lands, and validation quarantines it; a change time written to the
    minute (09:00) passes `updated_at.is_timestamp`, which required seconds."""
    with scratch() as folder:
        landing = RawLanding(folder)
        state = MemoryState()
        state.set_watermark(TABLE, "2024-10-31T08:30:00", "r0")  # the last run's newest
        report = SqlTableConnector({"url": text_time_table, "table": TABLE,
                                    "key": "resident_no", "overlap_seconds": 0}).extract(
            Window(datetime(2024, 10, 31, 8, 30), datetime(2024, 11, 1)), landing, state, "r1")
        landed = landing.read_records(TABLE)
    assert sorted(landed["resident_no"]) == ["R2", "R3", "R4", "R6"]
    assert report.watermark_after == "2024-10-31T11:30:00"
    outcome = validate_landed(TABLE, landed, reference)
    assert outcome.batch_failures == [], outcome.batch_failures
    assert set(quarantine_reasons(outcome)) == {"R6"}
    assert "updated_at.is_timestamp" in quarantine_reasons(outcome)["R6"]


def _ticket(received_at: str, updated_at: str) -> dict:
    return {"ticket_id": "HL20261125000123", "channel": "电话", "received_at": received_at,
            "type": "投诉", "urgency": "一般", "category_code": "0305", "category": "供热",
            "content": "来电人反映", "anonymous": False, "status": "待派单",
            "dispatches": [], "updated_at": updated_at}


@pytest.mark.parametrize("received_at, updated_at", [
    ("2026-11-25 08:03:11+08:00", "2026-11-25 09:00:00+08:00"),  # a space for the T
    ("2026-11-25T08:03+08:00", "2026-11-25T09:00Z"),  # minutes only
    ("2026-11-25T00:00:00.5+08:00", "2026-11-25T01:00:00.123456-05:00"),  # fractions
])
def test_hotline_timestamps_in_every_iso_form_with_an_offset_pass(received_at, updated_at,
                                                                   reference):
    """Defect: `received_at.is_timestamp` / `updated_at.is_timestamp` (and grid.events'
    timestamps, same pattern) required `T` and seconds, though ISO 8601 with an offset allows
    a space (RFC 3339) and minute precision."""
    ticket = _ticket(received_at, updated_at)
    landed = pd.DataFrame({"ticket_id": [ticket["ticket_id"]], "updated_at": [updated_at],
                           "raw": [json.dumps(ticket, ensure_ascii=False)],
                           "_source_record_id": [ticket["ticket_id"]], "_content_hash": ["h"]})
    outcome = validate_landed("hotline.tickets", landed, reference)
    assert outcome.quarantined.empty
    assert warnings_of(outcome) == {ticket["ticket_id"]: set()}


def test_a_mobile_with_the_0086_prefix_is_a_valid_phone():
    """Defect: 0086 before a mobile is all digits, so the cleaning step that removes an
    international prefix never saw it and `phone.valid_phone` flagged the number."""
    phones = normalize_phone(pd.Series(["008613904712233", "0086 13904712233",
                                        "+8613904712233", "00862161234567"]))
    assert phones["phone"].tolist() == ["13904712233"] * 3 + ["021-61234567"]
    assert phones["phone_ok"].all()
