"""Identifier normalisation: the standards' examples, edge cases, and simulator noise recovered."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from simulator import identity
from simulator.noise import Noiser, NoiseRates
from transforms.identifiers import (
    birth_date_from_id,
    gb11643_check_char,
    gb32100_check_char,
    gender_from_id,
    known_area_codes,
    normalize_division_code,
    normalize_id_number,
    normalize_phone,
    normalize_uscc,
)

GB11643_EXAMPLE = "11010519491231002X"  # the standard's own example (GB 11643-1999, annex)
TODAY = date(2026, 1, 1)


def with_check(first17: str) -> str:
    return first17 + gb11643_check_char(first17)


def ids(*values) -> pd.DataFrame:
    return normalize_id_number(pd.Series(list(values), dtype="str"), today=TODAY)


# ---- GB 11643 -------------------------------------------------------------------------------

def test_standard_example_validates():
    assert gb11643_check_char(GB11643_EXAMPLE[:17]) == "X"
    row = ids(GB11643_EXAMPLE).iloc[0]
    assert row["id_number"] == GB11643_EXAMPLE
    assert row["id_format_ok"] and row["id_checksum_ok"] and row["id_birth_ok"]
    assert row["id_area_ok"] and row["id_valid"]


def test_the_simulators_vectorised_ids_pass_the_check():
    """The simulator computes check characters in bulk on its own; they must agree."""
    rng = np.random.default_rng(7)
    n = 2000
    births = np.datetime64("1940-01-01") + rng.integers(0, 30_000, n).astype("timedelta64[D]")
    generated = identity.resident_ids(rng, np.full(n, "150102"), births, rng.random(n) < 0.5)
    checked = normalize_id_number(pd.Series(generated, dtype="str"))
    assert checked["id_checksum_ok"].all() and (checked["id_number"] == generated).all()


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100２", "11010519491231002X"])
def test_check_char_needs_17_ascii_digits(bad):
    with pytest.raises(ValueError):
        gb11643_check_char(bad)


@pytest.mark.parametrize("dirty", [
    "11010519491231002x",                       # lower-case x
    "１１０１０５１９４９１２３１００２Ｘ",         # full-width digits and X
    "110105 19491231 002X",                     # 6-8-4 groups
    " 11010519491231002X\u3000",                # stray spaces, ideographic space
    "110105-19491231-002X",
    "'11010519491231002X",                      # spreadsheet text apostrophe
])
def test_dirty_forms_normalise_to_the_canonical_number(dirty):
    row = ids(dirty).iloc[0]
    assert row["id_number"] == GB11643_EXAMPLE and row["id_valid"]
    assert not row["id_upgraded_from_15"]


def test_legacy_15_digits_upgrade_with_century_and_check_char():
    legacy = identity.to_legacy15(GB11643_EXAMPLE)
    assert legacy == "110105491231002"
    row = ids(legacy).iloc[0]
    assert row["id_number"] == GB11643_EXAMPLE
    assert row["id_upgraded_from_15"] and row["id_valid"]


def test_lost_trailing_x_is_restored_only_when_the_check_char_is_x():
    restored, other = ids(GB11643_EXAMPLE[:17], "15010219650312003").itertuples(index=False)
    assert restored.id_number == GB11643_EXAMPLE and restored.id_x_restored
    assert gb11643_check_char("15010219650312003") != "X"
    assert pd.isna(other.id_number) and not other.id_format_ok and not other.id_x_restored


def test_spreadsheet_mangling_is_flagged_and_unrecoverable():
    frame = ids("1.50102E+17", "1.50102e+14", "1.501 02E+17", "150102196503120000")
    assert frame["id_mangled_by_spreadsheet"].all()
    assert frame["id_number"].isna().all() and not frame["id_format_ok"].any()


def test_a_real_number_ending_in_000_is_kept():
    candidates = (f"150102196503{day:02d}{digit}00"
                  for day in range(1, 29) for digit in range(1, 10))
    first17 = next(c for c in candidates if gb11643_check_char(c) == "0")
    row = ids(first17 + "0").iloc[0]
    assert row["id_valid"] and not row["id_mangled_by_spreadsheet"]


def test_birth_date_rules():
    feb30 = with_check("11010519490230002")
    leap_day = with_check("11010519840229002")
    not_leap_1900 = with_check("11010519000229002")
    future = with_check("11010520300101002")
    too_old = with_check("11010518790101002")
    month13 = with_check("11010519491301002")
    frame = ids(feb30, leap_day, not_leap_1900, future, too_old, month13)
    assert frame["id_checksum_ok"].all()
    assert frame["id_birth_ok"].tolist() == [False, True, False, False, False, False]
    assert frame["id_valid"].tolist() == frame["id_birth_ok"].tolist()


def test_area_code_must_be_a_known_division():
    unknown = with_check("99010519491231002")
    abolished = with_check("15010119491231002")  # 呼和浩特市市辖区, listed 2002-2018
    permit = with_check("81000019491231002")      # Hong Kong residents' residence permit
    province = with_check("15000019491231002")
    frame = ids(unknown, abolished, permit, province)
    assert frame["id_checksum_ok"].all() and frame["id_birth_ok"].all()
    assert frame["id_area_ok"].tolist() == [False, True, True, False]
    assert known_area_codes()[[150102, 150105, 441900]].all()  # incl. a city without counties


def test_wrong_check_char_and_bad_shapes():
    frame = ids(GB11643_EXAMPLE[:17] + "1", "11010519491231002Y", "1101051949", "张三", "")
    assert frame["id_format_ok"].tolist() == [True, False, False, False, False]
    assert frame["id_checksum_ok"].tolist() == [False] * 5
    assert frame["id_number"].iloc[0] == GB11643_EXAMPLE[:17] + "1"


def test_nulls_give_null_flags_and_index_is_kept():
    values = pd.Series([None, GB11643_EXAMPLE], index=[10, 20], dtype=object)
    frame = normalize_id_number(values, today=TODAY)
    assert list(frame.index) == [10, 20]
    assert pd.isna(frame.loc[10, "id_number"]) and frame.loc[10].iloc[1:].isna().all()
    assert frame.loc[20, "id_valid"]


def test_birth_date_and_gender_from_id():
    values = pd.Series([GB11643_EXAMPLE, "150102650312003", "bad", None], dtype="str")
    born = birth_date_from_id(values)
    assert born.iloc[0] == pd.Timestamp("1949-12-31")
    assert born.iloc[1] == pd.Timestamp("1965-03-12")
    assert born.iloc[2:].isna().all()
    assert gender_from_id(values).tolist()[:2] == ["女", "男"]  # 2 even, 3 odd
    assert gender_from_id(values).iloc[2:].isna().all()


def test_simulated_ids_validate_and_noise_is_recovered():
    rng = np.random.default_rng(2024)
    n = 20_000
    born = np.datetime64("1930-01-01") + rng.integers(0, 30_000, n)
    original = pd.Series(identity.resident_ids(rng, identity.birthplace_codes(rng, n), born,
                                               rng.random(n) < 0.5), dtype="str")
    assert normalize_id_number(original)["id_valid"].all()

    recoverable = ["legacy15", "spreadsheet_lost_x", "lowercase_x", "spaces", "full_width",
                   "spreadsheet_apostrophe"]
    rates = NoiseRates.zero().to_dict() | dict.fromkeys(recoverable, 0.2) | {
        "spreadsheet_number": 0.05}
    noiser = Noiser(NoiseRates.from_mapping(rates), np.random.default_rng(1))
    keys = pd.Series(np.arange(n).astype(str))
    noisy = noiser.apply("test", "id_number", keys, original, recoverable + ["spreadsheet_number"])
    log = noiser.log_frame()
    assert set(log["kind"]) == set(recoverable) | {"spreadsheet_number"}

    result = normalize_id_number(noisy)
    mangled = log.loc[log["kind"] == "spreadsheet_number", "source_record_id"].astype(int)
    clean = np.setdiff1d(np.arange(n), mangled)
    assert (result["id_number"].iloc[clean] == original.iloc[clean]).all()
    assert result["id_valid"].iloc[clean].all()
    legacy = np.intersect1d(log.loc[log["kind"] == "legacy15", "source_record_id"].astype(int),
                            clean)
    assert result["id_upgraded_from_15"].iloc[legacy].all()
    # A number zeroed past its 15th digit escapes detection when the zeros happen to form a
    # valid check (about 1 in 11): it then reads as a different, valid number.
    caught = result["id_mangled_by_spreadsheet"].iloc[mangled]
    escaped = result.iloc[mangled][~caught.to_numpy()]
    assert escaped["id_number"].str.endswith("000").all() and escaped["id_valid"].all()
    assert caught.mean() > 0.9


# ---- GB 32100 -------------------------------------------------------------------------------

# 91350100M000100Y43: the example code used in GB 32100-2015 material; 914403001922038216:
# 华为技术有限公司 and 91110108551385082Q: 小米科技有限责任公司 (public registration records).
PUBLISHED_USCCS = ["91350100M000100Y43", "914403001922038216", "91110108551385082Q"]


def test_published_usccs_validate():
    for code in PUBLISHED_USCCS:
        assert gb32100_check_char(code[:17]) == code[17]
    frame = normalize_uscc(pd.Series(PUBLISHED_USCCS, dtype="str"))
    assert frame["uscc"].tolist() == PUBLISHED_USCCS
    assert frame[["uscc_format_ok", "uscc_checksum_ok", "uscc_org_code_ok"]].all().all()


def test_uscc_check_agrees_with_simulated_codes():
    rng = np.random.default_rng(3)
    codes = identity.usccs(rng, np.full(2000, "150102"), np.full(2000, "有限责任公司"))
    frame = normalize_uscc(pd.Series(codes, dtype="str"))
    assert frame["uscc_checksum_ok"].all() and frame["uscc_org_code_ok"].all()


def test_uscc_cleaning_and_rejections():
    example = PUBLISHED_USCCS[0]
    bad_org = "91350100M000100Y5"  # organisation check 4 -> 5, USCC check recomputed
    values = [example.lower(), "9135 0100 M000 100Y 43", "９１３５０１００Ｍ０００１００Ｙ４３",
              example[:17] + "4", example.replace("M", "I"), example.replace("M", "O"),
              example.replace("M", "Z"), example.replace("M", "S"), example.replace("M", "V"),
              bad_org + gb32100_check_char(bad_org), example[:17], None]
    frame = normalize_uscc(pd.Series(values, dtype="str"))
    assert frame["uscc"].iloc[:3].tolist() == [example] * 3
    assert frame["uscc_format_ok"].tolist()[:-1] == [True] * 4 + [False] * 5 + [True, False]
    assert frame["uscc_checksum_ok"].tolist()[:-1] == [True] * 3 + [False] * 6 + [True, False]
    assert not frame["uscc_org_code_ok"].iloc[9]
    assert frame.iloc[-1].isna().all()


def test_gb32100_check_char_rejects_letters_outside_the_alphabet():
    with pytest.raises(ValueError):
        gb32100_check_char("91350100I000100Y4")


# ---- phones ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "phone", "kind"), [
    ("13904712233", "13904712233", "mobile"),
    ("+8613904712233", "13904712233", "mobile"),
    ("+86 139 0471 2233", "13904712233", "mobile"),
    ("0086-13904712233", "13904712233", "mobile"),
    ("86-13904712233", "13904712233", "mobile"),
    ("139-0471-2233", "13904712233", "mobile"),
    ("１３９０４７１２２３３", "13904712233", "mobile"),
    ("0471-6961234", "0471-6961234", "landline"),
    ("(0471)6961234", "0471-6961234", "landline"),
    ("（0471） 6961234", "0471-6961234", "landline"),
    ("04716961234", "0471-6961234", "landline"),
    ("+86 471 6961234", "0471-6961234", "landline"),
    ("010-62345678", "010-62345678", "landline"),
    ("6961234", "0471-6961234", "landline"),
])
def test_phone_forms(raw, phone, kind):
    row = normalize_phone(pd.Series([raw], dtype="str"), default_area_code="0471").iloc[0]
    assert (row["phone"], row["phone_kind"], row["phone_ok"]) == (phone, kind, True)
    assert row["phone_area_assumed"] == (raw == "6961234")


@pytest.mark.parametrize("raw", ["12345678901", "14412345678", "1390471223", "139047122334",
                                 "0471-0961234", "12345", "电话", ""])
def test_phone_rejections(raw):
    row = normalize_phone(pd.Series([raw], dtype="str")).iloc[0]
    assert not row["phone_ok"] and pd.isna(row["phone"]) and pd.isna(row["phone_kind"])


def test_without_an_area_code_a_bare_local_number_stays_bare():
    frame = normalize_phone(pd.Series(["6961234", "86961234", "020-86961234"], dtype="str"))
    assert frame["phone"].tolist() == ["6961234", "86961234", "020-86961234"]
    assert frame["phone_ok"].all() and (frame["phone_kind"] == "landline").all()
    assert not frame["phone_area_assumed"].any()


def test_default_area_code_is_configurable_and_nulls_pass_through():
    frame = normalize_phone(pd.Series(["6961234", None], dtype="str"), default_area_code="0472")
    assert frame["phone"].iloc[0] == "0472-6961234"
    assert frame.iloc[1].isna().all()


# ---- division codes -------------------------------------------------------------------------

def test_division_codes():
    reference = ["150102001000", "150102001001"]
    values = pd.Series(["150102001001", "１５０１０２００１０００", " 150102 001 000",
                        "150102009999", "15010200100", "15010200100A", None], dtype="str")
    frame = normalize_division_code(values, reference)
    assert frame["division_code"].tolist()[:4] == ["150102001001", "150102001000",
                                                   "150102001000", "150102009999"]
    assert frame["division_code_format_ok"].tolist()[:-1] == [True] * 4 + [False] * 2
    assert frame["division_code_known"].tolist()[:-1] == [True] * 3 + [False] * 3
    assert frame.iloc[-1].isna().all()


def test_numbers_from_a_spreadsheet_are_read_as_text():
    frame = normalize_id_number(pd.Series([150102196503120038, 1.50102e17, None], dtype=object),
                                today=TODAY)
    assert frame["id_number"].iloc[0] == "150102196503120038" and frame["id_valid"].iloc[0]
    assert frame["id_mangled_by_spreadsheet"].iloc[1]
