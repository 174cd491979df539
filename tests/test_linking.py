"""The grid-hotline pairs scored in one DuckDB pass (indicators.linking.scored_pairs) against
a plain Python scoring of every pair: the pairs dropped early for their place (a different
compound far away cannot reach `min_score`) are exactly those that would not have scored
enough, and the scores of the rest are the same."""

from __future__ import annotations

import math
import re
from itertools import product

import pandas as pd
import pytest

from common.settings import IndicatorSettings
from indicators.linking import _places, best_matches, scored_pairs

DIVISIONS = pd.DataFrame({"code": ["150100000000", "150102000000", "150102001000",
                                   "150102001001", "150102001002"],
                          "name": ["示例市", "第一区", "第一街道", "第一社区", "第二社区"],
                          "level": ["city", "district", "street", "community", "community"],
                          "parent_code": [None, "150100000000", "150102000000",
                                          "150102001000", "150102001000"]})
A, B = "150102001001", "150102001002"
HOUR = 3600.0
COLUMNS = ["community_code", "at", "address", "lat", "lon", "category", "text"]

EVENTS = pd.DataFrame([
    ("E1", A, 10 * HOUR, "团结小区3号楼", None, None, "公用事业/供暖不热", "团结小区3号楼供暖不热"),
    ("E2", A, 20 * HOUR, "幸福家园", 40.0, 111.0, "市容环境/暴露垃圾", "楼下垃圾没人清"),
    ("E3", A, 30 * HOUR, "东门", 40.5, 111.5, "公共设施/电梯故障", "电梯坏了"),
    ("E4", B, 40 * HOUR, "", None, None, "", ""),
], columns=["event_id", *COLUMNS])
TICKETS = pd.DataFrame([
    # same compound and building, same problem
    ("T1", A, 12 * HOUR, "团结小区3号楼", None, None, "城乡建设/供热/供暖不热", "供暖不热"),
    # same compound, another building
    ("T2", A, 11 * HOUR, "团结小区5号楼", None, None, "城乡建设/供热/供暖不热", "家里不热"),
    # no compound named, 100 m away
    ("T3", A, 21 * HOUR, "西门", 40.0009, 111.0, "城乡建设/市容环卫/垃圾清运", "垃圾没有清运"),
    # far away, the very same problem: its place leaves it below min_score
    ("T4", A, 31 * HOUR, "北门", 41.0, 112.0, "城乡建设/物业管理/电梯故障", "电梯坏了"),
    # the same problem and compound, but outside the 48 h window
    ("T5", A, 80 * HOUR, "团结小区3号楼", None, None, "城乡建设/供热/供暖不热", "供暖不热"),
    # another community
    ("T6", B, 12 * HOUR, "团结小区3号楼", None, None, "城乡建设/供热/供暖不热", "供暖不热"),
    ("T7", B, 41 * HOUR, "", None, None, "", ""),
], columns=["ticket_id", *COLUMNS])


def _chars(category: str, text: str, address: str, compound) -> set[str]:
    problem = (category.split("/")[-1] + text).replace(address, "")
    if isinstance(compound, str):
        problem = problem.replace(compound, "")
    problem = re.sub(r"[0-9０-９]+号楼", "", problem)
    return {c for c in problem if "\u4e00" <= c <= "\u9fff"}


def reference(settings: IndicatorSettings) -> pd.DataFrame:
    """Every pair of the same community within the window, scored in Python."""
    window = settings.linking.window_hours * HOUR
    weight = settings.linking.address_weight
    events = EVENTS.join(_places(EVENTS["address"], DIVISIONS))
    tickets = TICKETS.join(_places(TICKETS["address"], DIVISIONS))
    rows = []
    for (_, e), (_, t) in product(events.iterrows(), tickets.iterrows()):
        if e["community_code"] != t["community_code"] or abs(e["at"] - t["at"]) > window:
            continue
        if isinstance(e["compound"], str) and e["compound"] == t["compound"]:
            same = not isinstance(e["building"], str) or not isinstance(t["building"], str) \
                or e["building"] == t["building"]
            place = 1.0 if same else 0.7
        elif e["lat"] is not None and t["lat"] is not None and 111320 * math.hypot(
                e["lat"] - t["lat"], (e["lon"] - t["lon"]) * math.cos(math.radians(e["lat"]))
        ) <= 150:
            place = 0.9
        else:
            place = 0.0
        ec = _chars(e["category"], e["text"], e["address"], e["compound"])
        tc = _chars(t["category"], t["text"], t["address"], t["compound"])
        problem = 2 * len(ec & tc) / (len(ec) + len(tc)) if ec or tc else 0.0
        rows.append((e["event_id"], t["ticket_id"], (e["at"] - t["at"]) / HOUR,
                     weight * place + (1 - weight) * problem))
    return pd.DataFrame(rows, columns=["event_id", "ticket_id", "hours_apart", "score"])


@pytest.mark.parametrize("min_score", [0.0, 0.3, 0.75])
def test_the_pairs_scored_in_one_pass_are_every_pair_that_scores_enough(min_score):
    settings = IndicatorSettings(linking={"min_score": min_score})
    want = reference(settings)
    want = want[want["score"] >= min_score].sort_values(["event_id", "ticket_id"])
    got = scored_pairs(EVENTS, TICKETS, DIVISIONS, settings).sort_values(
        ["event_id", "ticket_id"])
    assert got[["event_id", "ticket_id"]].values.tolist() == \
        want[["event_id", "ticket_id"]].values.tolist()
    assert got["score"].tolist() == pytest.approx(want["score"].tolist())
    assert got["hours_apart"].tolist() == pytest.approx(want["hours_apart"].tolist())
    assert set(got["community_code"]) <= {A, B}


def test_the_default_settings_link_the_same_problem_at_the_same_place():
    settings = IndicatorSettings()
    pairs = scored_pairs(EVENTS, TICKETS, DIVISIONS, settings)
    matched = best_matches(pairs, settings.linking.min_score)
    # E1 takes T1 (same building) over T2; E2 takes T3 (within 150 m); E3's twin T4 is far
    assert sorted(zip(matched["event_id"], matched["ticket_id"])) == [("E1", "T1"),
                                                                      ("E2", "T3")]


def test_no_events_or_no_tickets_score_no_pairs():
    settings = IndicatorSettings()
    assert scored_pairs(EVENTS.iloc[:0], TICKETS, DIVISIONS, settings).empty
    assert scored_pairs(EVENTS, TICKETS.iloc[:0], DIVISIONS, settings).empty
