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
