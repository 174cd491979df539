import re

import numpy as np
import pandas as pd
import pytest
from pypinyin import lazy_pinyin

from simulator import identity

HOHHOT = ["150102", "150103", "150104", "150105", "150121", "150122", "150123", "150124",
          "150125"]


def _rng(seed=7):
    return np.random.default_rng(seed)


# ---- GB 11643 ------------------------------------------------------------------------------

@pytest.mark.parametrize("example", ["11010519491231002X", "440524188001010014"])
def test_gb11643_examples_of_the_standard_validate(example):
    assert identity.gb11643_check(example[:17]) == example[17]
    assert identity.is_valid_gb11643(example)


@pytest.mark.parametrize("bad", [
    "11010519491231002x",        # lowercase x is not canonical
    "110105194912310021",        # wrong check character
    "11010519491231002",         # too short
    "1101051949123100２X",       # full-width digit
    "11010519491231 02X",        # space
    "11010519491231002X\n",      # trailing newline
    None,
])
def test_gb11643_rejects_malformed(bad):
    assert not identity.is_valid_gb11643(bad)


@pytest.mark.parametrize("first17", [
    "15010219990230003",  # 30 February
    "15010219991301003",  # month 13
    "15010217991231003",  # before 1800
])
def test_gb11643_rejects_impossible_birth_dates_even_with_right_check(first17):
    assert not identity.is_valid_gb11643(first17 + identity.gb11643_check(first17))


def test_gb11643_rejects_future_birth_date():
    first17 = "15010220300101003"
    number = first17 + identity.gb11643_check(first17)
    assert not identity.is_valid_gb11643(number, today=pd.Timestamp("2025-01-01"))
    assert identity.is_valid_gb11643(number, today=pd.Timestamp("2030-01-01"))


def test_legacy15_drops_century_and_check():
    assert identity.to_legacy15("11010519491231002X") == "110105491231002"


def _people(rng, n):
    area = rng.choice(HOHHOT, n)
    born = (np.datetime64("1930-01-01")
            + rng.integers(0, 33_000, n).astype("timedelta64[D]"))
    female = rng.random(n) < 0.5
    return area, born, female


def test_resident_ids_are_valid_and_agree_with_birth_date_gender_and_area():
    rng = _rng()
    area, born, female = _people(rng, 20_000)
    ids = identity.resident_ids(rng, area, born, female)
    assert all(identity.is_valid_gb11643(i) for i in ids)
    assert (np.strings.slice(ids, 0, 6) == area).all()
    born_text = pd.DatetimeIndex(born).strftime("%Y%m%d").to_numpy()
    assert (np.strings.slice(ids, 6, 14) == born_text).all()
    order = np.strings.slice(ids, 14, 17).astype(int)
    assert ((order % 2 == 0) == female).all()
    assert ((order >= 1) & (order <= 995)).all()


def test_resident_ids_unique_at_one_million():
    rng = _rng(1)
    area, born, female = _people(rng, 1_000_000)
    ids = identity.resident_ids(rng, area, born, female)
    assert len(np.unique(ids)) == len(ids)


def test_resident_ids_unique_in_a_crowded_birthday():
    rng = _rng(2)
    n = 900  # 450 per gender share one area and date: close to the 491 order codes
    ids = identity.resident_ids(rng, ["150102"] * n, np.full(n, np.datetime64("1980-05-01")),
                                np.arange(n) % 2 == 0)
    assert len(set(ids)) == n


def test_resident_ids_refuse_more_people_than_order_codes():
    n = 1000
    with pytest.raises(ValueError, match="too many"):
        identity.resident_ids(_rng(), ["150102"] * n, np.full(n, np.datetime64("1980-05-01")),
                              np.zeros(n, dtype=bool))


def test_resident_ids_deterministic():
    area, born, female = _people(_rng(3), 1000)
    first = identity.resident_ids(_rng(9), area, born, female)
    second = identity.resident_ids(_rng(9), area, born, female)
    assert (first == second).all()


def test_birthplace_tables_are_consistent():
    assert set(identity.BIRTHPLACE_WEIGHTS) == set(identity.AREA_CODES)
    assert all(re.fullmatch(r"\d{6}", c) for c in identity.AREA_CODES)
    assert set(HOHHOT) <= set(identity.AREA_CODES)
    drawn = identity.birthplace_codes(_rng(), 10_000)
    assert np.isin(drawn, HOHHOT).mean() > 0.6


# ---- GB 32100 ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    "91350100M000100Y43",  # the example of GB 32100-2015
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
    "914403001922038216",  # 华为技术有限公司
])
def test_gb32100_real_codes_validate(code):
    assert identity.gb32100_check(code[:17]) == code[17]
    assert identity.gb11714_check(code[8:16]) == code[16]
    assert identity.is_valid_gb32100(code, check_org_code=True)


@pytest.mark.parametrize("bad", [
    "91350100M000100Y44",  # wrong check
    "91350100M000100I43",  # I is not in the alphabet
    "91350100m000100y43",  # lowercase
    "91350100M000100Y4",   # short
])
def test_gb32100_rejects_malformed(bad):
    assert not identity.is_valid_gb32100(bad)


def test_gb32100_org_code_check_is_optional():
    # Right outer check, wrong embedded organisation-code check (as in some pilot codes).
    first17 = "91350100M000100Y5"
    code = first17 + identity.gb32100_check(first17)
    assert identity.is_valid_gb32100(code)
    assert not identity.is_valid_gb32100(code, check_org_code=True)


def test_usccs_valid_unique_and_typed():
    rng = _rng(4)
    types = np.array(list(identity.USCC_TYPE_PREFIX))
    kinds = rng.choice(types, 200_000)
    division = rng.choice(["150100", "150102", "150105", "150121"], 200_000)
    codes = identity.usccs(rng, division, kinds)
    assert len(set(codes)) == len(codes)
    sample = range(0, len(codes), 20)
    assert all(identity.is_valid_gb32100(codes[i], check_org_code=True) for i in sample)
    prefix = pd.Series(kinds).map(identity.USCC_TYPE_PREFIX).to_numpy()
    assert (np.strings.slice(codes, 0, 2) == prefix).all()
    assert (np.strings.slice(codes, 2, 8) == division).all()
    new_style = np.strings.slice(codes, 8, 10)
    assert set(new_style[kinds == "社会组织"]) >= {"MJ"}
    assert set(new_style[kinds == "有限责任公司"]) >= {"MA"}


def test_usccs_reject_unknown_entity_type():
    with pytest.raises(ValueError, match="合伙企业"):
        identity.usccs(_rng(), ["150102"], ["合伙企业"])


# ---- phones --------------------------------------------------------------------------------

def test_mobiles_unique_with_real_prefixes():
    numbers = identity.mobiles(_rng(5), 300_000)
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"1\d{10}", m) for m in numbers[:1000])
    assert set(np.strings.slice(numbers, 0, 3)) <= set(identity.MOBILE_PREFIXES)
    china_mobile = np.isin(np.strings.slice(numbers, 0, 3),
                           ["134", "135", "136", "137", "138", "139", "150", "151", "152"])
    assert 0.3 < china_mobile.mean() < 0.7


def test_landlines_are_hohhot_and_unique():
    numbers = identity.landlines(_rng(), 50_000)
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"0471-[2-6]\d{6}", x) for x in numbers)


# ---- names ---------------------------------------------------------------------------------

def test_ethnicity_shares_are_hohhot_like():
    drawn = pd.Series(identity.ethnicities(_rng(), 200_000)).value_counts(normalize=True)
    assert drawn["汉族"] == pytest.approx(0.8675, abs=0.01)
    assert drawn["蒙古族"] == pytest.approx(0.09, abs=0.005)
    assert drawn["回族"] == pytest.approx(0.025, abs=0.003)


def test_han_names_use_common_surnames_and_short_given_names():
    rng = _rng(6)
    n = 50_000
    names = identity.person_names(rng, np.full(n, "汉族"), rng.random(n) < 0.5)
    assert all(2 <= len(x) <= 4 for x in names)
    top = pd.Series([x[0] for x in names]).value_counts(normalize=True)
    assert set(top.index[:4]) == {"王", "李", "张", "刘"}
    expected = dict(zip(*identity.HAN_SURNAMES, strict=True))["王"]
    assert top["王"] == pytest.approx(expected, abs=0.01)


def test_minority_naming_customs():
    rng = _rng(8)
    n = 20_000
    female = rng.random(n) < 0.5
    mongol = identity.person_names(rng, np.full(n, "蒙古族"), female)
    transliterated = set(" ".join(identity.MONGOL_GIVEN.values()).split())
    assert np.isin(mongol, list(transliterated)).mean() == pytest.approx(0.55, abs=0.03)
    hui = identity.person_names(rng, np.full(n, "回族"), female)
    assert pd.Series([x[0] for x in hui]).value_counts().index[0] == "马"
    assert 0.01 < np.mean(["·" in x for x in hui]) < 0.06


def test_given_names_follow_era_when_birth_years_are_known():
    rng = _rng(10)
    n = 20_000
    old = identity.person_names(rng, np.full(n, "汉族"), np.ones(n, bool), np.full(n, 1950))
    young = identity.person_names(rng, np.full(n, "汉族"), np.ones(n, bool), np.full(n, 2010))
    assert np.mean([x.endswith(("秀英", "桂兰", "淑珍")) for x in old]) > 0.01
    assert np.mean([x.endswith(("秀英", "桂兰", "淑珍")) for x in young]) == 0


@pytest.mark.parametrize("name", ["李秀英", "王华", "张军", "乌云", "欧阳明"])
def test_homophone_variant_keeps_sound_and_surname(name):
    rng = _rng(11)
    variant = identity.homophone_variant(name, rng)
    assert variant != name
    assert len(variant) == len(name)
    assert lazy_pinyin(variant) == lazy_pinyin(name)
    surname_length = 2 if name.startswith("欧阳") else 1
    assert variant[:surname_length] == name[:surname_length]


def test_homophone_variant_leaves_names_without_homophones():
    assert identity.homophone_variant("王", _rng()) == "王"


# ---- units ---------------------------------------------------------------------------------

_TYPES = ["有限责任公司", "个体工商户", "股份有限公司", "农民专业合作社", "分公司", "事业单位",
          "社会组织"]
_INDUSTRY = {"有限责任公司": "K7020", "个体工商户": "H6210", "股份有限公司": "C1310",
             "农民专业合作社": "A0141", "分公司": "F5211", "事业单位": "P8321",
             "社会组织": "S9522"}


def _units(n=30_000, seed=12):
    rng = _rng(seed)
    kinds = rng.choice(_TYPES, n)
    codes = pd.Series(kinds).map(_INDUSTRY).to_numpy()
    districts = rng.choice(["新城区", "回民区", "赛罕区", "托克托县"], n)
    registered, short = identity.unit_names(rng, kinds, codes, districts)
    return kinds, registered, short


def test_unit_names_unique_and_shaped_by_entity_type():
    kinds, registered, short = _units()
    assert len(set(registered)) == len(registered)
    frame = pd.DataFrame({"kind": kinds, "name": registered, "short": short})
    by_kind = dict(tuple(frame.groupby("kind")))
    assert by_kind["有限责任公司"]["name"].str.endswith(("有限公司", "有限责任公司")).all()
    assert by_kind["股份有限公司"]["name"].str.endswith("股份有限公司").all()
    assert by_kind["分公司"]["name"].str.endswith("分公司").all()
    assert by_kind["农民专业合作社"]["name"].str.endswith("农民专业合作社").all()
    companies = by_kind["有限责任公司"]["name"]
    assert companies.str.startswith("呼和浩特市").mean() > 0.3
    assert companies.str.startswith("内蒙古").mean() > 0.2
    assert companies.str.contains("（集团）").any()
    # Short names never carry the place prefix or the full legal form.
    assert not frame["short"].str.startswith(("呼和浩特市", "内蒙古")).any()
    assert not frame["short"].str.endswith(("有限公司", "有限责任公司")).any()


def test_unit_name_variant_differs_in_realistic_ways():
    rng = _rng(13)
    _, registered, _ = _units(2000)
    variants = [identity.unit_name_variant(name, rng) for name in registered]
    assert all(v != name for v, name in zip(variants, registered, strict=True))
    name = "内蒙古恒达（集团）有限公司"
    seen = {identity.unit_name_variant(name, _rng(s)) for s in range(60)}
    assert {"恒达（集团）有限公司", "内蒙古恒达(集团)有限公司", "内蒙古恒达（集团）有限责任公司",
            "恒达（集团）", "内蒙古自治区恒达（集团）有限公司"} <= seen
