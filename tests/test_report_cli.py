"""`govshare report --date D [--division CODE] [--out DIR]` from an existing warehouse, on
both engines: it prints where the report and each feed are; a day without indicator rows
is refused with a message that says so (exit 1), never an empty report."""

from __future__ import annotations

import yaml
from report_support import DAY, DISTRICT, publish_fixture, write_reference

from govshare.cli import main


def test_report_command_builds_one_day_and_refuses_a_day_without_rows(
        engine, warehouse_url, tmp_path, monkeypatch, capsys):
    publish_fixture(engine)
    sources = {"warehouse_url": warehouse_url,
               "reference": {"root": str(write_reference(tmp_path / "reference"))},
               "reports": {"out": str(tmp_path / "reports")}}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True))
    monkeypatch.setenv("GOVSHARE_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("GOVSHARE_HOME", str(tmp_path))

    assert main(["report", "--date", DAY.isoformat(), "--division", DISTRICT, "--no-pdf",
                 "--out", str(tmp_path / "out")]) == 0
    printed = {key.strip(): value.strip() for key, value in
               (line.split(":", 1) for line in capsys.readouterr().out.splitlines()
                if ":" in line)}
    html = tmp_path / "out" / f"report_{DAY}_{DISTRICT}.html"
    assert printed["report"] == str(html) and html.exists()
    assert "新城区 接诉即办与基层治理日报" in html.read_text(encoding="utf-8")
    for kind in ("csv", "parquet", "json", "manifest"):
        assert (tmp_path / "out" / "feeds").joinpath(
            printed[kind].rsplit("/", 1)[1]).exists()

    # Default folder: reports.out / the day.
    assert main(["report", "--date", DAY.isoformat(), "--no-pdf"]) == 0
    assert (tmp_path / "reports" / DAY.isoformat() / f"report_{DAY}.html").exists()

    assert main(["report", "--date", "2026-11-20", "--no-pdf"]) == 1
    error = capsys.readouterr().err
    assert "no indicator rows for 2026-11-20 in shared.indicator_value" in error
    assert not (tmp_path / "reports" / "2026-11-20").exists()
