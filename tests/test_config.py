"""The sources file: environment references, Airflow Connections, clear errors."""

import json

import pytest
import yaml

from pipeline.config import ConfigError, load_sources


def _write(tmp_path, config: dict):
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_environment_references_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_TOKEN", "secret-from-env")
    path = _write(tmp_path, {"hotline": {"base_url": "http://127.0.0.1:1",
                                         "token": "${HOTLINE_TOKEN}"},
                             "landing_root": "${NOT_SET_ANYWHERE:-/srv/landing}"})
    config = load_sources(path)
    assert config["hotline"]["token"] == "secret-from-env"
    assert config["landing_root"] == "/srv/landing"


def test_a_missing_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("HOTLINE_TOKEN", raising=False)
    path = _write(tmp_path, {"hotline": {"token": "${HOTLINE_TOKEN}"}})
    with pytest.raises(ConfigError, match="HOTLINE_TOKEN"):
        load_sources(path)


def test_a_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError, match="GOVSHARE_SOURCES"):
        load_sources(tmp_path / "nowhere.yaml")


def test_airflow_connections_supply_urls_and_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HOTLINE_PROD", json.dumps({
        "conn_type": "https", "host": "12345.example.gov.cn", "schema": "/api",
        "password": "token-from-airflow"}))
    monkeypatch.setenv("AIRFLOW_CONN_CIVIL_AFFAIRS_RO", json.dumps({
        "conn_type": "mysql", "host": "10.0.0.5", "login": "ro", "password": "pw",
        "schema": "civil_affairs", "extra": {"charset": "utf8mb4"}}))
    path = _write(tmp_path, {
        "hotline": {"conn_id": "hotline_prod", "page_size": 500},
        "departments": [{"table": "civil_affairs.residents", "key": "resident_no",
                         "conn_id": "civil_affairs_ro"}]})
    config = load_sources(path)
    assert config["hotline"] == {"base_url": "https://12345.example.gov.cn/api",
                                 "token": "token-from-airflow", "page_size": 500}
    table = config["departments"][0]
    assert table["url"] == "mysql+pymysql://ro:pw@10.0.0.5/civil_affairs?charset=utf8mb4"
    assert "conn_id" not in table
    assert table["key"] == "resident_no"


# ---- the typed models (common.settings) ----------------------------------------------------

def _model_keys(model, prefix="") -> set[str]:
    """Every key path a settings model declares (a list's or a mapping's items under `*`)."""
    import typing

    from pydantic import BaseModel

    keys = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        keys.add(prefix + key)
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        for kind in kinds + [a for k in kinds for a in typing.get_args(k)]:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                keys |= _model_keys(kind, f"{prefix}{key}.")
    return keys


def test_the_example_sources_file_documents_every_key_of_the_model():
    """Every key the model has is in config/sources.example.yaml, set or as a commented
    line `# key:` under its section; and the example itself is valid."""
    import re
    from pathlib import Path

    from common.settings_check import check_file, sources_file_model

    example = Path(__file__).parents[1] / "config" / "sources.example.yaml"
    assert check_file(example) == ("sources", [])
    text = example.read_text(encoding="utf-8")
    for path in sorted(_model_keys(sources_file_model())):
        leaf = path.rsplit(".", 1)[-1]
        assert re.search(rf"^[ #-]*{re.escape(leaf)}:", text, re.M), \
            f"config/sources.example.yaml does not document {path}"


def test_every_problem_of_a_sources_file_at_once_naming_file_key_and_expectation(tmp_path):
    path = _write(tmp_path, {
        "departments": [{"table": "civil_affairs.residents", "kye": "resident_no",
                         "url": "duckdb:///x"}],
        "hotline": {"base_url": "http://127.0.0.1:1", "page_size": "many",
                    "dialect": "open312"},
        "gird": {"root": "/srv/drop"},
    })
    with pytest.raises(ConfigError) as raised:
        load_sources(path)
    message = str(raised.value)
    assert str(path) in message and "5 problem(s)" in message
    for expected in ("departments.0.key: required key missing", "departments.0.kye: unknown key",
                     "hotline.page_size: Input should be a valid integer",
                     "hotline.dialect: Input should be 'govshare' or 'open311'",
                     "gird: unknown key"):
        assert expected in message


def test_rule_and_access_files_are_typed_too(tmp_path):
    from common.settings_check import check_file
    from expectations.runner import RuleFileError, load_rules
    from warehouse.access import AccessError, load_access

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"source": "x", "key": "k", "version": "v",
                                     "columns": {"k": {"type": "txt"}},
                                     "rules": [{"id": "k.present", "field": "k",
                                                "expectation": "e", "severity": "fatal",
                                                "description": "d"},
                                               {"id": "k.both", "expectation": "e",
                                                "severity": "critical", "description": "d"}]}))
    kind, problems = check_file(rules)
    assert kind == "rules"
    assert any(p.startswith("columns.k.type: Input should be") for p in problems)
    assert any(p.startswith("rules.0.severity: Input should be") for p in problems)
    assert any("exactly one of field / fields" in p for p in problems)
    with pytest.raises(AccessError, match=r"departments\.stats\.colums: unknown key"):
        load_access(raw={"departments": {"stats": {"colums": ["resident.name"]}}})
    with pytest.raises(RuleFileError, match="no rule file"):
        load_rules("no.such.source")


def test_config_check_command_prints_every_problem(tmp_path, capsys):
    from govshare.cli import main

    good = _write(tmp_path, {"grid": {"root": "/srv/drop"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"grid": {"root": "/srv/drop", "lookback": 3}}))
    assert main(["config", "check", str(good)]) == 0
    assert main(["config", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: sources file, ok" in out
    assert f"{bad}: sources file, 1 problem(s):" in out and "grid.lookback: unknown key" in out
