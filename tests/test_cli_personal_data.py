"""What the `govshare` commands print and write, on a small warehouse holding (synthetic)
personal data, on DuckDB and PostgreSQL: `warehouse trace` masks personal data unless the
department it runs as is granted it; `export` writes cells a spreadsheet never runs as
formulas and keeps long numbers as text; no command's output carries an unmasked ID number
or mobile number (tests/pii_scan.py); a configuration error is an error, never a fall-back
to the default warehouse."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml
from cli_support import run_cli
from db_support import drop_roles
from pii_scan import check_char, findings
from warehouse_support import STREET_A, config_for, grid_event, stage, ticket

from pipeline.publication import publish
from warehouse.migrate import open_warehouse
from warehouse.schema import quarantine


def _id(first17: str) -> str:
    return first17 + check_char(first17)


# Valid numbers (right check character): the scan would find them if they leaked.
CALLER_ID, PERSON_ID, WORKER_ID = (_id("15010219650312003"), _id("15010219880514002"),
                                   _id("15010219901123004"))
CALLER_PHONE, PERSON_PHONE, WORKER_PHONE = "13904712233", "13847112345", "15904716789"
FORMULAS = {"title": '=HYPERLINK("http://example.invalid/x","点击")', "content": "@SUM(A1:A9)",
            "caller_name": "-2+3", "category": "+1+1", "type": "\t=1+1"}
ROSTER_KEY = f"rosters/{STREET_A}/202611/hm.xlsx#Sheet1!3"

def _access(suffix: str) -> dict:
    return {"reader_role": f"reader_{suffix}", "departments": {
        "hotline": {"name": "12345", "role": f"hotline_{suffix}",
                    "columns": ["hotline_ticket.caller_name", "hotline_ticket.caller_phone",
                                "hotline_ticket.title", "hotline_ticket.content"]},
        "civil": {"name": "民政局", "role": f"civil_{suffix}", "tables": ["grid_event_person"],
                  "columns": ["hotline_ticket.caller_id_number", "grid_event_person.id_number",
                              "community_worker.id_number"]},
        "street": {"name": "海拉尔东路街道", "role": f"street_{suffix}", "scope": [STREET_A]},
        "stats": {"name": "统计局", "role": f"stats_{suffix}"}}}


@pytest.fixture
def city(warehouse_url, tmp_path):
    """A published warehouse with a ticket in each street, a grid event with a person, a
    community worker and a quarantined record; its sources and access files; roles dropped
    after (PostgreSQL roles belong to the whole server)."""
    engine = open_warehouse(warehouse_url)
    caller = {"name": "李秀英", "phone": "139 0471 2233", "id_number": CALLER_ID}
    stage(engine, "hotline.tickets", [
        ticket("HLA", "2026-11-25T09:00:00+08:00", caller=caller),
        ticket("HLB", "2026-11-25T09:00:00+08:00", caller=caller,
               address_text="新城区锡林北路街道丰泽社区2号楼", street_code=None,
               community_code=None),
        ticket("HLF", "2026-11-25T09:00:00+08:00",
               caller={"name": FORMULAS["caller_name"], "phone": CALLER_PHONE,
                       "id_number": CALLER_ID},
               **{k: v for k, v in FORMULAS.items() if k != "caller_name"})],
        "ticket_id", "run-1")
    stage(engine, "grid.events", [grid_event("GE1", "2026-11-25T10:00:00+08:00", persons=[
        {"name": "王建国", "id_number": PERSON_ID, "phone": PERSON_PHONE, "role": "当事人"}])],
        "event_id", "run-1")
    stage(engine, "rosters", [{
        "source_record_id": ROSTER_KEY, "street_code": STREET_A, "roster_month": "202611",
        "name": "赵然睿", "id_number": WORKER_ID, "community": "团结社区", "post": "网格员",
        "phone": WORKER_PHONE, "birth": "1990年11月", "note": f"备用电话{WORKER_PHONE}",
        "updated_at": None}], "source_record_id", "run-1")
    config = config_for(warehouse_url, tmp_path)
    publish(config, "run-1", engine=engine)
    with engine.begin() as conn:
        conn.execute(quarantine.insert().values(
            quarantine_id="Q" * 32, source="hotline.tickets", source_record_id="HLQ",
            raw_location="hotline.tickets/HLQ@1", reason="failed critical rules: test",
            raw=json.dumps({"caller": {"name": "李秀英", "phone": CALLER_PHONE,
                                       "id_number": CALLER_ID},
                            "content": f"身份证{CALLER_ID}电话{CALLER_PHONE}"},
                           ensure_ascii=False),
            rules="test", severity="critical", run_id="run-1",
            quarantined_at=datetime.now(UTC)))
    suffix = uuid.uuid4().hex[:8]
    access = _access(suffix)
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (tmp_path / "access.yaml").write_text(yaml.safe_dump(access, allow_unicode=True))
    env = {"GOVSHARE_SOURCES": str(tmp_path / "sources.yaml"),
           "GOVSHARE_ACCESS": str(tmp_path / "access.yaml"),
           "GOVSHARE_HOME": str(tmp_path / "home")}
    engine.dispose()  # the commands open the warehouse themselves (DuckDB: one writer)
    yield engine, env, tmp_path, suffix
    if engine.dialect.name == "postgresql":
        drop_roles(engine, [access["reader_role"], f"pipe_{suffix}"]
                   + [d["role"] for d in access["departments"].values()])
    engine.dispose()


def test_trace_masks_personal_data_unless_the_department_is_granted_it(city):
    _, env, _, _ = city
    traces = [("hotline_ticket", "HLA"), ("hotline_ticket", "HLA", "--as-department", "hotline"),
              ("grid_event", "GE1", "--as-department", "civil"),
              ("hotline_ticket", "HLB", "--as-department", "street"),
              ("hotline_ticket", "HLA", "--as-department", "street"),
              ("community_worker", ROSTER_KEY)]
    applied, *results = run_cli([["access", "apply", "--reason", "test"]]
                                + [["warehouse", "trace", *argv] for argv in traces], env)
    assert applied[1] == 0, applied
    assert [code for _, code, _, _ in results] == [0, 0, 0, 2, 0, 0], results
    # Each trace's staged record (JSON text, as staged).
    default, hotline, civil, _, _, worker = [json.loads(json.loads(out)["staged"]["record"])
                                             if code == 0 else None
                                             for _, code, out, _ in results]
    lineage = json.loads(results[0][2])["published"]
    caller = default["caller"]
    # By default nothing personal is shown in full: masked as the views mask it.
    assert caller == {"name": "李**", "phone": "139 **** 2233",
                      "id_number": CALLER_ID[:6] + "*" * 12}
    assert default["content"] is None  # free text withheld
    assert default["address_text"] == "新城区海拉尔东路街道团结社区团结小区*号楼"
    # Lineage columns are not personal: shown as they are (a hash is not a number to mask).
    assert len(lineage["content_hash"]) == 64 and lineage["run_id"] == "run-1"
    # The 12345 hotline is granted the caller's name and phone, not the ID number.
    assert hotline["caller"] == {
        "name": "李秀英", "phone": "139 0471 2233", "id_number": CALLER_ID[:6] + "*" * 12}
    assert hotline["content"] == "来电人反映"
    # Civil affairs sees the grid event's person's ID number (granted), not the name.
    [person] = civil["persons"]
    assert person == {"name": "王**", "id_number": PERSON_ID, "phone": "138****2345",
                      "role": "当事人"}
    # A street office sees only its own street's rows: the other street's ticket is refused.
    assert "street does not see HLB" in results[3][3]
    # A community worker's roster fields: birth withheld, a phone in a note masked.
    assert worker["birth"] is None and worker["note"] == "备用电话159****6789"
    assert worker["id_number"] == WORKER_ID[:6] + "*" * 12 and worker["name"] == "赵**"


def _cells(path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return {row["ticket_id"]: row for row in csv.DictReader(handle)}


def test_export_never_writes_a_formula_and_keeps_long_numbers_as_text(city):
    _, env, tmp_path, _ = city
    out = {d: tmp_path / f"{d}.csv" for d in ("hotline", "civil")}
    results = run_cli([["access", "apply", "--reason", "test"]] + [
        ["export", "--department", d, "--table", "hotline_ticket", "--out", str(path),
         "--reason", "test"] for d, path in out.items()], env)
    assert [code for _, code, _, _ in results] == [0, 0, 0], results
    row = _cells(out["hotline"])["HLF"]
    # Each cell that would start a formula starts with an apostrophe instead.
    for column, value in FORMULAS.items():
        assert row[column] == "'" + value, column
    assert row["caller_phone"] == CALLER_PHONE  # 11 digits: Excel shows them as they are
    assert row["ticket_id"] == "HLF" and row["street_code"] == "'" + STREET_A
    # An 18-digit ID number stays text (Excel would round it to 150102196503120000).
    assert _cells(out["civil"])["HLA"]["caller_id_number"] == "'" + CALLER_ID


def test_no_command_output_carries_an_unmasked_id_or_mobile(city):
    engine, env, tmp_path, suffix = city
    export = tmp_path / "stats.csv"
    commands = [
        ["access", "apply", "--reason", "test"],
        ["access", "who-can-see", "R000000000001"],
        ["warehouse", "trace", "hotline_ticket", "HLA"],
        ["warehouse", "trace", "hotline_ticket", "HLF"],
        ["warehouse", "trace", "grid_event", "GE1"],
        ["warehouse", "trace", "community_worker", ROSTER_KEY],
        ["warehouse", "trace", "hotline_ticket", "HLA", "--as-department", "street"],
        ["warehouse", "freshness"],
        ["export", "--department", "stats", "--table", "hotline_ticket", "--out", str(export),
         "--reason", "test"],
        ["export", "--department", "street", "--table", "community_worker", "--out",
         str(tmp_path / "workers.csv"), "--reason", "test"],
        ["quarantine", "list"],
        ["quarantine", "explain", "Q" * 12],
        ["batch", "list"],
        ["-v", "warehouse", "publish", "--run-id", "run-2", "--full"],
    ]
    if engine.dialect.name == "postgresql":
        commands.append(["warehouse", "roles", "--pipeline-role", f"pipe_{suffix}",
                         "--reason", "test"])
    results = run_cli(commands, env)
    assert [code for _, code, _, _ in results] == [0] * len(commands), \
        [(argv, code, err[-500:]) for argv, code, _, err in results if code != 0]
    texts = [out + err for _, _, out, err in results] + [
        export.read_text(encoding="utf-8-sig"),
        (tmp_path / "workers.csv").read_text(encoding="utf-8-sig")]
    leaks = [(argv, findings(text)) for argv, text in zip(commands + [["csv"]] * 2, texts)
             if findings(text)]
    assert leaks == []
    # The scan is not vacuous: the warehouse does hold the numbers in clear.
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT record FROM staging.record_version")).scalars()
        assert findings("\n".join(stored))


def _unset_warehouse_variable(tmp_path, **extra) -> dict:
    sources = tmp_path / "broken-sources.yaml"
    sources.write_text(yaml.safe_dump({"warehouse_url": "${GOVSHARE_TEST_UNSET_URL}",
                                       **extra}))
    return {"GOVSHARE_SOURCES": str(sources), "GOVSHARE_HOME": str(tmp_path / "home")}


WAREHOUSE_COMMANDS = [
    ["warehouse", "freshness"],
    ["warehouse", "trace", "hotline_ticket", "HLA"],
    ["access", "who-can-see", "R000000000001"],
    ["export", "--department", "stats", "--table", "hotline_ticket", "--out", "x.csv",
     "--reason", "test"],
    ["quarantine", "list"],
    ["batch", "list"],
    ["explain", "hotline.tickets:HLA", "hotline.tickets:HLB"],
]


def test_an_unset_warehouse_variable_is_an_error_naming_it(tmp_path):
    env = _unset_warehouse_variable(tmp_path)
    results = run_cli(WAREHOUSE_COMMANDS, env)
    for argv, code, _, err in results:
        assert code == 2 and "GOVSHARE_TEST_UNSET_URL" in err, (argv, code, err[-300:])
    # Nothing went to the embedded default warehouse.
    assert not (tmp_path / "home").exists()


def test_an_unset_source_secret_does_not_switch_warehouses(tmp_path):
    """A missing hotline token is no reason for a warehouse-only command to use another
    warehouse: it works on the configured one."""
    url = f"duckdb:///{tmp_path / 'configured.duckdb'}"
    open_warehouse(url).dispose()
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({
        "warehouse_url": url,
        "hotline": {"base_url": "http://127.0.0.1:9", "token": "${GOVSHARE_TEST_UNSET_TOKEN}"}}))
    (tmp_path / "access.yaml").write_text(yaml.safe_dump(_access("x")))
    env = {"GOVSHARE_SOURCES": str(sources), "GOVSHARE_HOME": str(tmp_path / "home"),
           "GOVSHARE_ACCESS": str(tmp_path / "access.yaml")}
    results = run_cli([["access", "apply", "--reason", "test"],
                       ["access", "who-can-see", "R000000000001"]], env)
    assert [code for _, code, _, _ in results] == [0, 0], results
    assert "no department sees this resident" in results[1][2]
    assert not (tmp_path / "home").exists()
    with sa.create_engine(url).connect() as conn:  # the views went to the configured one
        assert conn.exec_driver_sql("SELECT count(*) FROM dept_stats.hotline_ticket").scalar() == 0


@pytest.mark.parametrize("value, message", [
    ("", "warehouse_url is empty"),
    ("${GOVSHARE_TEST_UNSET_URL:-}", "warehouse_url is empty"),
])
def test_an_empty_warehouse_url_is_an_error(tmp_path, value, message):
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"warehouse_url": value}))
    [(_, code, _, err)] = run_cli([["warehouse", "freshness"]], {
        "GOVSHARE_SOURCES": str(sources), "GOVSHARE_HOME": str(tmp_path / "home")})
    assert code == 2 and message in err
    assert not (tmp_path / "home").exists()


def test_an_empty_warehouse_variable_is_an_error(tmp_path):
    """No sources file at all, and GOVSHARE_WAREHOUSE_URL set but empty: an error, not the
    embedded default."""
    [(_, code, _, err)] = run_cli([["warehouse", "freshness"]], {
        "GOVSHARE_WAREHOUSE_URL": "", "GOVSHARE_HOME": str(tmp_path / "home")})
    assert code == 2 and "GOVSHARE_WAREHOUSE_URL is empty" in err
    assert not (tmp_path / "home").exists()
