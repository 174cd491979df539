import ast
import dataclasses
import inspect
import re

import numpy as np
import pandas as pd
import pytest
from pypinyin import lazy_pinyin

from simulator import identity, noise
from simulator.noise import FILE_KINDS, RECORD_KINDS, Noiser, NoiseRates

ID_X = "11010519491231002X"
ID_DIGITS = "150102196503120038"
MOBILE = "13904712233"
LANDLINE = "0471-6961234"


def only(kind: str, rate: float = 1.0) -> NoiseRates:
    return dataclasses.replace(NoiseRates.zero(), **{kind: rate})


def run(kind, values, rate=1.0, seed=0):
    noiser = Noiser(only(kind, rate), np.random.default_rng(seed))
    series = pd.Series(values, dtype=object)
    keys = pd.Series([f"r{i}" for i in range(len(values))])
    return noiser.apply("src", "field", keys, series, [kind]), noiser.log_frame()


# ---- NoiseRates ----------------------------------------------------------------------------

def test_defaults_are_valid_probabilities_and_cover_every_kind():
    rates = NoiseRates().to_dict()
    assert set(rates) == set(RECORD_KINDS) | set(FILE_KINDS)
    assert all(0 < r < 1 for r in rates.values())


def test_every_rate_has_a_docstring():
    tree = ast.parse(inspect.getsource(NoiseRates))
    body = tree.body[0].body
    documented = {stmt.target.id for stmt, after in zip(body, body[1:], strict=False)
                  if isinstance(stmt, ast.AnnAssign) and isinstance(after, ast.Expr)
                  and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)}
    assert documented == set(NoiseRates.kinds())


def test_from_mapping_overrides_and_round_trips():
    rates = NoiseRates.from_mapping({"full_width": 0.5, "gzip_file": 1})
    assert rates.full_width == 0.5 and rates.gzip_file == 1
    assert rates.traditional == NoiseRates().traditional
    assert NoiseRates.from_mapping(rates.to_dict()) == rates


@pytest.mark.parametrize("mapping, message", [
    ({"fullwidth": 0.1}, "unknown noise kind.*fullwidth"),
    ({"missing": 1.5}, "missing.*\\[0, 1\\]"),
    ({"missing": -0.1}, "missing.*\\[0, 1\\]"),
    ({"missing": True}, "missing.*number"),
    ({"missing": "0.1"}, "missing.*number"),
])
def test_invalid_rates_fail_clearly(mapping, message):
    with pytest.raises(ValueError, match=message):
        NoiseRates.from_mapping(mapping)


# ---- each record-level kind: effect on eligible values, no effect on others -----------------

def _is_full_width(text):
    return not re.search(r"[0-9A-Za-z() ]", text)


CASES = {
    # kind: (eligible values, check(before, after), ineligible values)
    "full_width": ([ID_X, MOBILE, "内蒙古恒达(集团)有限公司", "李 秀英"],
                   lambda b, a: _is_full_width(a) and a != b, ["李秀英", "（集团）"]),
    "traditional": (["呼和浩特市新城区", "发展", "内蒙古"],
                    lambda b, a: a == noise._s2t().convert(b), ["李秀英", MOBILE, "其其格"]),
    "mojibake": (["呼和浩特市新城区", "乌云", "发展"],
                 lambda b, a: a.encode("gbk").decode("utf-8") == b, [MOBILE, "王建国"]),
    "mojibake_lossy": (["李秀英", "呼和浩特市新城区", "王建国"],
                       lambda b, a: ("\ufffd" in a or "?" in a or "锟" in a), [MOBILE, ID_X]),
    "spaces": ([ID_DIGITS, MOBILE, "李秀英", "王伟"],
               lambda b, a: a.replace(" ", "").replace("\u3000", "") == b, ["李", ""]),
    "lowercase_x": ([ID_X], lambda b, a: a == b[:-1] + "x", [ID_DIGITS, "11010519491231002x"]),
    "legacy15": ([ID_X, ID_DIGITS], lambda b, a: a == identity.to_legacy15(b),
                 ["150102200503120031", "150102196503120039", MOBILE]),
    "phone_format": ([MOBILE, LANDLINE],
                     lambda b, a: re.sub(r"\D", "", a).endswith(re.sub(r"\D", "", b)[-7:]),
                     [ID_DIGITS, "李秀英", "1390471223"]),
    "homophone": (["李秀英", "王华", "张军"],
                  lambda b, a: lazy_pinyin(a) == lazy_pinyin(b) and a[0] == b[0],
                  ["王", MOBILE, "呼和浩特市(集团)"]),
    "pinyin_annotation": (["強化", "李秀英"],
                          lambda b, a: re.sub(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)", "", a) == b
                          and a != b, [MOBILE, "ABC"]),
    "spreadsheet_number": ([ID_DIGITS, "150102650312003"],
                           lambda b, a: a in (noise.excel_general(b), b[:15] + "000"),
                           [ID_X, MOBILE]),
    "spreadsheet_lost_x": ([ID_X, "11010519491231002x"], lambda b, a: a == b[:17],
                           [ID_DIGITS, MOBILE]),
    "spreadsheet_apostrophe": ([ID_DIGITS, ID_X, MOBILE], lambda b, a: a == "'" + b,
                               ["李秀英", LANDLINE]),
    "typo_digit": ([ID_DIGITS, MOBILE, LANDLINE],
                   lambda b, a: len(a) == len(b) and a[0] == b[0]
                   and 1 <= sum(x != y for x, y in zip(a, b, strict=True)) <= 2, ["李秀英", "A1"]),
    "missing": (["李秀英", ID_X], lambda b, a: a is None, []),
}


def test_cases_cover_every_record_kind():
    assert set(CASES) == set(RECORD_KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_changes_every_eligible_value_and_nothing_else(kind):
    eligible, check, ineligible = CASES[kind]
    values = (eligible + ineligible) * 20 + [None]
    out, log = run(kind, values)
    n_eligible = len(eligible)
    for i, (before, after) in enumerate(zip(values, out.tolist(), strict=True)):
        if before is not None and i % len(eligible + ineligible) < n_eligible:
            assert check(before, after), (before, after)
        else:
            assert after == before
    changed = [f"r{i}" for i, (b, a) in enumerate(zip(values, out.tolist(), strict=True))
               if a != b]
    assert log["source_record_id"].tolist() == changed
    assert set(log["kind"]) == {kind} and set(log["field"]) == {"field"}


def test_mojibake_only_emits_recoverable_shapes_and_lossy_never_round_trips():
    names = identity.person_names(np.random.default_rng(1), np.full(3000, "汉族"),
                                  np.arange(3000) % 2 == 0).tolist()
    recoverable, _ = run("mojibake", names)
    lossy, _ = run("mojibake_lossy", names)
    n_garbled = 0
    for before, after in zip(names, recoverable, strict=True):
        if after != before:
            n_garbled += 1
            assert after.encode("gbk").decode("utf-8") == before
    assert n_garbled > 100  # even-byte names (two or four characters) are eligible
    shapes = set()
    damaged = [(b, a) for b, a in zip(names, lossy, strict=True) if a != b]
    # Ineligible: names whose GBK bytes happen to be valid UTF-8 (牛萍 -> ţƼ) lose nothing.
    assert len(damaged) > 0.9 * len(names)
    for before, after in damaged:
        for attempt in (lambda s: s.encode("gbk", "replace").decode("utf-8", "replace"),
                        lambda s: s.encode("utf-8", "replace").decode("gbk", "replace")):
            assert attempt(after) != before
        shapes.add("fffd" if "\ufffd" in after else "kun" if "锟斤拷" in after else "?")
    assert shapes == {"fffd", "kun", "?"}


# ---- rates ---------------------------------------------------------------------------------

def test_rate_holds_over_the_eligible_set_only():
    n = 200_000
    rng = np.random.default_rng(3)
    ends_x = rng.random(n) < 0.1
    values = np.where(ends_x, ID_X, ID_DIGITS)
    out, log = run("lowercase_x", values.tolist(), rate=0.25, seed=4)
    changed = (out.to_numpy() != values)
    assert not changed[~ends_x].any()
    assert changed[ends_x].mean() == pytest.approx(0.25, abs=0.01)
    assert len(log) == changed.sum()


@pytest.mark.parametrize("kind, rate", [("full_width", 0.03), ("missing", 0.03),
                                        ("spaces", 0.02)])
def test_rate_within_tolerance_on_a_large_sample(kind, rate):
    n = 200_000
    values = [MOBILE] * n
    out, log = run(kind, values, rate=rate, seed=5)
    share = len(log) / n
    assert share == pytest.approx(rate, abs=4 * (rate * (1 - rate) / n) ** 0.5)


# ---- Noiser behaviour ----------------------------------------------------------------------

def _mixed(n=5000):
    rng = np.random.default_rng(6)
    names = identity.person_names(rng, identity.ethnicities(rng, n), rng.random(n) < 0.5)
    return pd.Series(names), pd.Series([f"k{i}" for i in range(n)])


def test_deterministic_for_a_seed_and_independent_of_kind_order():
    values, keys = _mixed()
    rates = NoiseRates.from_mapping({k: 0.2 for k in RECORD_KINDS})
    kinds = list(RECORD_KINDS)
    first = Noiser(rates, np.random.default_rng(42))
    second = Noiser(rates, np.random.default_rng(42))
    out1 = first.apply("s", "name", keys, values, kinds)
    out2 = second.apply("s", "name", keys, values, kinds[::-1])
    pd.testing.assert_series_equal(out1, out2)
    pd.testing.assert_frame_equal(first.log_frame(), second.log_frame())
    other = Noiser(rates, np.random.default_rng(43)).apply("s", "name", keys, values, kinds)
    assert not out1.equals(other)


def test_only_listed_kinds_apply_and_input_is_untouched():
    values, keys = _mixed()
    original = values.copy()
    noiser = Noiser(NoiseRates.from_mapping({k: 0.5 for k in RECORD_KINDS}),
                    np.random.default_rng(7))
    out = noiser.apply("s", "name", keys, values, ["homophone"])
    pd.testing.assert_series_equal(values, original)
    assert set(noiser.log_frame()["kind"]) == {"homophone"}
    assert (out.str.len() == values.str.len()).all()


def test_missing_keeps_string_dtype_and_index():
    values = pd.Series(["a", "b", None] * 100, index=range(10, 310), dtype="str")
    keys = pd.Series(range(300))
    out = Noiser(only("missing", 0.5), np.random.default_rng(8)).apply(
        "s", "f", keys, values, ["missing"])
    assert out.dtype == values.dtype
    assert (out.index == values.index).all()
    assert out.isna().sum() > values.isna().sum()


def test_log_frame_lists_source_record_field_and_kind():
    noiser = Noiser(only("lowercase_x"), np.random.default_rng(9))
    assert noiser.log_frame().columns.tolist() == noise.LOG_COLUMNS
    assert noiser.log_frame().empty
    noiser.apply("civil_affairs.residents", "id_number", pd.Series([1, 2]),
                 pd.Series([ID_X, ID_DIGITS]), ["lowercase_x"])
    noiser.record("grid", pd.Series(["2025-01-01.jsonl"]), None, "gzip_file")
    log = noiser.log_frame()
    assert log[["source", "source_record_id", "kind"]].to_dict("records") == [
        {"source": "civil_affairs.residents", "source_record_id": "1", "kind": "lowercase_x"},
        {"source": "grid", "source_record_id": "2025-01-01.jsonl", "kind": "gzip_file"},
    ]
    assert log["field"].iloc[0] == "id_number" and pd.isna(log["field"].iloc[1])
    assert (log.dtypes == noiser.log_frame().dtypes).all() and str(log.dtypes.iloc[0]) == "str"


def test_file_level_and_unknown_kinds_are_refused_by_apply():
    noiser = Noiser(NoiseRates(), np.random.default_rng())
    keys, values = pd.Series(["k"]), pd.Series(["v"])
    with pytest.raises(ValueError, match="file-level.*Noiser.chosen"):
        noiser.apply("s", "f", keys, values, ["gzip_file"])
    with pytest.raises(ValueError, match="unknown noise kind.*typo"):
        noiser.apply("s", "f", keys, values, ["typo"])
    with pytest.raises(ValueError, match="unknown noise kind"):
        noiser.record("s", keys, "f", "typo")


def test_chosen_draws_at_rate_and_rejects_bad_rates():
    noiser = Noiser(NoiseRates(), np.random.default_rng(10))
    mask = noiser.chosen(0.3, 100_000)
    assert mask.dtype == bool and mask.mean() == pytest.approx(0.3, abs=0.01)
    assert not noiser.chosen(0.0, 1000).any() and noiser.chosen(1.0, 1000).all()
    with pytest.raises(ValueError):
        noiser.chosen(1.2, 10)


def test_excel_general_format():
    assert noise.excel_general("150102196503120038") == "1.50102E+17"
    assert noise.excel_general("150100006503120038") == "1.501E+17"
