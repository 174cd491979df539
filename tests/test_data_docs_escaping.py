"""Source values reach the Data Docs site inert and masked: a roster cell holding markup
(`<svg onload=...>`) used to be written into the validation page as HTML, where it ran in
the browser of whoever opened the site (stored XSS)."""

from __future__ import annotations

import pytest

pytest.importorskip("great_expectations")

from pii_scan import check_char, findings  # noqa: E402
from test_validation import batch_of, reference, roster_row  # noqa: E402

from expectations.runner import validate_landed  # noqa: E402

ID_NUMBER = "15010219650312003" + check_char("15010219650312003")
SVG = "<svg onload=alert(document.cookie)>"


def test_markup_and_personal_data_in_roster_cells_reach_the_docs_inert(tmp_path):
    ref = reference()
    # Reference data is a source too: a community name with markup in a rule's value set.
    ref.divisions.loc[ref.divisions["level"] == "community", "name"] = "<i>丰泽</i>社区"
    rows = [
        roster_row(gender=SVG, post="<b>网格员</b>", ethnicity=f'"><script>x("{ID_NUMBER}")'),
        roster_row(source_record_id="rosters/150102001000/202611/a.xlsx#丰泽社区!3",
                   gender=SVG, phone="<img src=x onerror=alert(1)>", name=f"{SVG}名",
                   community="<i>外</i>社区"),
    ]
    docs = tmp_path / "docs"
    validate_landed("rosters", batch_of("rosters", rows), ref, docs_dir=docs, run_id="run-1")
    pages = {p.relative_to(docs).as_posix(): p.read_text(encoding="utf-8")
             for p in docs.rglob("*.html")}
    assert any(name.startswith("validations/") for name in pages)
    text = "\n".join(pages.values())
    for markup in ("<svg", "<img src=x", "<b>网格员", "<script>x(", "<i>外", "<i>丰泽"):
        assert markup not in text, markup
    # The values are there, readable and inert (they did reach the page: not a vacuous test).
    assert "＜svg onload=alert(document.cookie)＞" in text
    assert "＜b＞网格员＜/b＞" in text
    assert findings(text) == [] and ID_NUMBER[:6] + "*" * 12 in text
