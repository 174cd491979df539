"""The daily report and its feeds, built from a hand-made set of indicator rows
(tests/report_support.py) on DuckDB and on PostgreSQL: headline numbers and changes worked
out by hand from the fixture, the call-outs, the ranking, escaping of source text, feeds
(BOM, neutralised cells, one schema in three formats, checksums), a division's report, and
a day without rows refused."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from report_support import (
    CITY,
    COMMUNITIES,
    DAY,
    STREETS,
    indicator_rows,
    publish_fixture,
    write_reference,
)

from common.reference import load_reference
from reports.build import build_report
from reports.data import ReportError
from reports.feeds import SCHEMA


@pytest.fixture(scope="module")
def city(module_warehouse_url, tmp_path_factory):
    from warehouse.migrate import open_warehouse

    root = tmp_path_factory.mktemp("report")
    engine = open_warehouse(module_warehouse_url)
    publish_fixture(engine)
    reference = load_reference(write_reference(root / "reference"))
    built = build_report(engine, reference, DAY, root / "out", pdf=False,
                         freshness_limits={"grid.events": 36, "hotline.tickets": 36})
    yield engine, reference, root, built
    engine.dispose()


def _html(built) -> str:
    return built.html.read_text(encoding="utf-8")


def test_headline_is_the_citys_day_with_its_change(city):
    _, _, _, built = city
    html = _html(built)
    # Resolution on DAY: 向阳 6+6 of 20, 和平 9 of 10, 团结 no callback, 新华 9+9 of 20:
    # 39/50 = 78.0%; the day before 向阳 6+6, 光明 9+9, 新华 9+9 of 60 = 80.0%.
    assert '<div class="label">解决率</div>\n      <div class="value">78.0%</div>' in html
    assert "较前一日 ▼ 2.0 个百分点" in html
    assert "呼和浩特市 接诉即办与基层治理日报" in html
    assert f"数据日期 {DAY.isoformat()}（星期六）" in html


def test_callouts_name_what_needs_attention(city):
    _, _, _, built = city
    kinds = [(c.kind, c.division) for c in built.callouts]
    assert kinds == [("resolution_drop", "150102001000"), ("repeat_callers", "150102002001"),
                     ("organizers", "150102001001"), ("stale_source", "grid.events")]
    texts = [c.text for c in built.callouts]
    # 9 of 10 a day until DAY-7, then 6 of 10: 90.0% -> 60.0% over 7 days of 20 callbacks.
    assert texts[0].startswith("向阳街道近 7 天解决率 60.0%，比前 7 天的 90.0% 下降 30.0 个百分点"
                               "（近 7 天回访 140 件）")
    assert texts[1].startswith("和平社区有 2 位居民 30 天内已第 3 次及以上来电")
    assert texts[2].startswith("幸福社区党群服务中心党建组织员缺 1 名（每个中心应配 2 名）")
    assert texts[3].startswith("数据源 grid.events 已有 80 小时没有新数据（要求 36 小时内）")
    html = _html(built)
    for text in texts:
        assert text in html


def test_streets_ranked_on_the_months_composite_score(city):
    _, _, _, built = city
    rows = indicator_rows()
    month = rows[(rows["period_kind"] == "month")
                 & (rows["indicator_code"] == "hotline.composite_score")
                 & rows["division_code"].isin(STREETS)]
    expected = [STREETS[code] for code in
                month.sort_values("value", ascending=False)["division_code"]]
    html = _html(built)
    ranking = html[html.index('id="ranking"'):html.index('id="trend"')]
    positions = [ranking.index(f"<td>{name}</td>") for name in expected]
    assert positions == sorted(positions)
    assert expected[-1] == "向阳街道"  # the street whose resolution fell


def test_every_chart_and_the_community_grid_are_there(city):
    _, _, _, built = city
    html = _html(built)
    for chart in ("trend", "bars", "legend"):
        block = html[html.index(f'data-chart="{chart}"'):]
        assert block.index("<svg") < block.index("</svg>")
    assert len(re.findall(r'<div class="cell( empty)?"', html)) == len(COMMUNITIES)
    assert 'src: url("data:font/woff;base64,' in html  # the CJK font subset is embedded
    # Nothing to fetch: no external source, link or stylesheet URL.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)""",
                         html)


def test_source_text_is_escaped_and_the_page_runs_no_script(city):
    _, _, _, built = city
    html = _html(built)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;锡林社区" in html


def test_settings_used_are_stated(city):
    _, _, _, built = city
    html = _html(built)
    settings = html[html.index('id="settings"'):]
    assert "<td>综合得分权重·解决率</td><td>0.45</td>" in settings
    assert "<td>每个服务中心应配党建组织员</td><td>2</td>" in settings


def test_feeds_one_schema_three_formats_and_checksums(city):
    _, _, _, built = city
    feeds = built.feeds
    table = pq.read_table(feeds["parquet"])
    assert table.schema.equals(SCHEMA, check_metadata=False)
    frame = table.to_pandas()
    rows = indicator_rows()
    scoped = rows[(rows["period_kind"] == "month")
                  | (rows["period_start"] == DAY)]
    assert len(frame) == len(scoped)
    # A zero denominator is published as null, never 0.
    zero = frame[(frame["division_code"] == "150102002002") & (frame["period_kind"] == "day")
                 & (frame["indicator_code"] == "hotline.resolution_rate")]
    assert zero["value"].isna().all() and (zero["denominator"] == 0).all()

    raw = feeds["csv"].read_bytes()
    assert raw.startswith("\ufeff".encode())
    csv = pd.read_csv(feeds["csv"], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(csv.columns) == SCHEMA.names and len(csv) == len(frame)
    hostile = csv[csv["division_code"] == "'150102003002"]["division_name"]
    assert set(hostile) == {"'=HYPERLINK(\"http://x\")社区"}  # a formula no more

    document = json.loads(feeds["json"].read_text(encoding="utf-8"))
    assert document["columns"] == SCHEMA.names and len(document["rows"]) == len(frame)
    assert document["rows"][0].keys() == set(SCHEMA.names)

    manifest = json.loads(feeds["manifest"].read_text(encoding="utf-8"))
    assert manifest["rows"] == len(frame)
    for entry in manifest["files"]:
        path = feeds["manifest"].parent / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert {e["format"] for e in manifest["files"]} == {"csv", "parquet", "json"}
    assert frame["revised"].sum() == 0  # the revised row is yesterday's, not in today's feed


def test_a_streets_report_ranks_its_communities(city):
    engine, reference, root, _ = city
    street = build_report(engine, reference, DAY, root / "street", "150102001000", pdf=False)
    html = _html(street)
    assert "向阳街道 接诉即办与基层治理日报" in html and "社区排名" in html
    frame = pq.read_table(street.feeds["parquet"]).to_pandas()
    inside = {"150102001000", "150102001001", "150102001002"}
    assert set(frame["division_code"]) == inside | {CITY}  # + the city's sharing rows
    assert set(frame.loc[frame["division_code"] == CITY, "indicator_code"]) == {
        "sharing.freshness_hours"}
    assert street.feeds["csv"].name == f"indicators_{DAY}_150102001000.csv"


def test_a_day_without_indicator_rows_is_refused(city):
    engine, reference, root, _ = city
    with pytest.raises(ReportError, match=f"no indicator rows for {DAY + timedelta(days=1)}"):
        build_report(engine, reference, DAY + timedelta(days=1), root / "none", pdf=False)
    assert not (root / "none").exists() or not any((root / "none").iterdir())
    with pytest.raises(ReportError, match="not in the reference divisions"):
        build_report(engine, reference, DAY, root / "none", "999999999999", pdf=False)


def test_both_engines_publish_the_same_feed(tmp_path, pg_url):
    """The same rows read from DuckDB and from PostgreSQL give the same feed and
    call-outs."""
    from warehouse.migrate import open_warehouse

    reference = load_reference(write_reference(tmp_path / "reference"))
    results = []
    for name, url in [("duckdb", f"duckdb:///{tmp_path / 'w.duckdb'}"), ("postgres", pg_url)]:
        engine = open_warehouse(url)
        publish_fixture(engine)
        built = build_report(engine, reference, DAY, tmp_path / name, pdf=False)
        results.append((pq.read_table(built.feeds["parquet"]).to_pandas(),
                        [c.text for c in built.callouts]))
        engine.dispose()
    (duck, duck_callouts), (pg, pg_callouts) = results
    pd.testing.assert_frame_equal(duck, pg)
    assert duck_callouts == pg_callouts
