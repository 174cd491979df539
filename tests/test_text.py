import dataclasses

import numpy as np
import opencc
import pandas as pd
import pytest
from city_support import pipeline_city

from simulator import identity
from simulator.city import build_city
from simulator.noise import Noiser, NoiseRates
from simulator.profiles import PROFILES
from transforms.text import (
    name_pinyin,
    nfkc,
    normalize_person_name,
    normalize_unit_name,
    on_distinct,
    repair_mojibake,
    strip_pinyin_annotations,
    to_simplified,
)

HOHHOT_CITY = pipeline_city("hohhot")


def series(*values, index=None):
    return pd.Series(list(values), index=index, dtype=object)


def noised(kind: str, values: pd.Series, seed: int = 0) -> pd.Series:
    rates = dataclasses.replace(NoiseRates.zero(), **{kind: 1.0})
    noiser = Noiser(rates, np.random.default_rng(seed))
    keys = pd.Series(np.arange(len(values)).astype(str))
    # A copy: Noiser.apply may write into an object array it was given.
    return noiser.apply("test", "field", keys, values.astype("str").copy(), [kind])


@pytest.fixture(scope="module")
def city_text(tiny_city):
    """Names, addresses and unit names of the tiny city, distinct."""
    values = pd.concat([tiny_city.persons["name"], tiny_city.persons["address"],
                        tiny_city.units["name"]], ignore_index=True).astype("str")
    return values.drop_duplicates(ignore_index=True)


# ---- nfkc ----------------------------------------------------------------------------------

def test_nfkc_turns_full_width_into_ascii_and_collapses_whitespace():
    out = nfkc(series("１５０１０２１９６５０３１２００３Ｘ", "（集团）", "李\u3000秀英",
                      "  a \t\n b  ", "呼和\u200b浩特", "abc"))
    assert out.tolist() == ["15010219650312003X", "(集团)", "李 秀英", "a b", "呼和浩特", "abc"]


def test_nfkc_keeps_nulls_and_index():
    out = nfkc(series(None, "Ａ", np.nan, index=[7, 3, 5]))
    assert out.index.tolist() == [7, 3, 5]
    assert out.isna().tolist() == [True, False, True]
    assert out[3] == "A"


def test_nfkc_undoes_the_simulators_full_width_noise(city_text):
    noisy = noised("full_width", city_text)
    assert (noisy != city_text).sum() > 100  # the values with ASCII in them
    # Registered names' own full-width brackets become half-width too.
    expected = city_text.str.replace("（", "(").str.replace("）", ")")
    assert (nfkc(noisy) == expected).all()


# ---- to_simplified -------------------------------------------------------------------------

def test_to_simplified_converts_traditional_and_leaves_simplified_alone():
    out = to_simplified(series("呼和浩特市鑫源物業服務有限公司", "強化", "李秀英", "ABC 123", None))
    assert out.tolist()[:4] == ["呼和浩特市鑫源物业服务有限公司", "强化", "李秀英", "ABC 123"]
    assert pd.isna(out.iloc[4])


def test_to_simplified_undoes_opencc_s2t(city_text):
    traditional = city_text.map(opencc.OpenCC("s2t").convert)
    assert (traditional != city_text).any()
    back = to_simplified(traditional)
    # s2t writes 于 and 宁 as 於 and 甯, which are also surnames, so t2s keeps them.
    differing = back[back != city_text]
    assert differing.str.contains("[於甯]", regex=True).all()
    assert (back == city_text).mean() > 0.999


# ---- strip_pinyin_annotations --------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("強(qiáng)化", "強化"),
    ("李(lǐ)秀英", "李秀英"),
    ("李（lǐ）秀英", "李秀英"),
    ("吕(lǚ)梅", "吕梅"),
    ("化(hua4)学", "化学"),
    ("李(li)秀英", "李秀英"),
    ("强化(qiáng huà)训练", "强化训练"),
    ("内蒙古恒达（集团）有限公司", "内蒙古恒达（集团）有限公司"),
    ("肯德基(KFC)呼和浩特店", "肯德基(KFC)呼和浩特店"),
    ("中国(CHINA)公司", "中国(CHINA)公司"),
    ("3号楼(A)", "3号楼(A)"),
    ("(lǐ)李", "(lǐ)李"),
])
def test_strip_pinyin_annotations(raw, expected):
    assert strip_pinyin_annotations(series(raw)).iloc[0] == expected


def test_strip_pinyin_undoes_the_simulators_annotations(city_text):
    annotated = noised("pinyin_annotation", city_text)
    assert (annotated != city_text).mean() > 0.9
    assert (strip_pinyin_annotations(annotated) == city_text).all()


# ---- repair_mojibake -----------------------------------------------------------------------

def test_repair_mojibake_repairs_utf8_read_as_gbk():
    garbled = "呼和浩特".encode().decode("gbk")
    repaired, flag = repair_mojibake(series(garbled, "呼和浩特", None))
    assert garbled == "鍛煎拰娴╃壒"
    assert repaired.tolist()[:2] == ["呼和浩特", "呼和浩特"]
    assert flag.tolist() == [False, False, False]
    assert flag.name == "mojibake_unrecoverable"


@pytest.mark.parametrize("damaged", [
    "鏉庣鑻?",          # 李秀英 whose last byte became '?'
    "鍛煎拰娴╃壒甯傛柊鍩",  # 呼和浩特市新城区 with its last bytes lost
    "\ufffd\ufffd英",   # replacement characters
    "锟斤拷锟斤拷",       # U+FFFD's UTF-8 read as GBK
    "????",             # a GBK column's stand-ins
    "李?英",
])
def test_repair_mojibake_flags_what_it_cannot_repair(damaged):
    repaired, flag = repair_mojibake(series(damaged))
    assert flag.iloc[0]
    assert repaired.iloc[0] == damaged


@pytest.mark.parametrize("clean", ["李秀英", "瑛", "阿不都·热合曼", "鄂尔多斯大街", "why?", "3号楼2单元",
                                   "Café", "翟曌", "赵薇薇"])
def test_repair_mojibake_leaves_clean_text_alone(clean):
    repaired, flag = repair_mojibake(series(clean))
    assert repaired.iloc[0] == clean
    assert not flag.iloc[0]


def test_repair_mojibake_against_the_simulators_noise(city_text):
    recoverable = noised("mojibake", city_text)
    changed = recoverable != city_text
    assert changed.sum() > 100
    repaired, flag = repair_mojibake(recoverable)
    assert (repaired == city_text).all()
    assert not flag.any()

    lossy = noised("mojibake_lossy", city_text)
    changed = lossy != city_text
    assert changed.sum() > 100
    _, flag = repair_mojibake(lossy)
    assert flag[changed].all()
    _, clean_flag = repair_mojibake(city_text)
    assert not clean_flag.any()


# ---- person names --------------------------------------------------------------------------

@pytest.mark.parametrize("dot", ["\u2022", "\u30fb", "\uff65", "\u2027", "\u22c5", "\u00b7", ".",
                                 "\uff0e", " · "])
def test_normalize_person_name_unifies_middle_dots(dot):
    assert normalize_person_name(series(f"阿不都{dot}热合曼")).iloc[0] == "阿不都·热合曼"


@pytest.mark.parametrize("raw, expected", [
    ("王　伟", "王伟"),
    ("李  秀英 ", "李秀英"),
    (" 李秀英", "李秀英"),
    ("張(zhāng)偉", "张伟"),
    ("ＬＩ　Ｍｉｎｇ", "LI Ming"),
    ("·阿里·", "阿里"),
])
def test_normalize_person_name(raw, expected):
    assert normalize_person_name(series(raw)).iloc[0] == expected


def test_normalize_person_name_undoes_name_noise(tiny_city):
    names = tiny_city.persons["name"].astype("str")
    for kind in ("spaces", "traditional", "pinyin_annotation", "full_width"):
        out = normalize_person_name(noised(kind, names))
        assert (out == names).mean() > 0.999, kind


# ---- name_pinyin ---------------------------------------------------------------------------

def test_name_pinyin_gives_homophones_one_key():
    keys = name_pinyin(series("李秀英", "李秀瑛", "李秀兰", None))
    assert keys[0] == keys[1] == "lixiuying"
    assert keys[2] != keys[0]
    assert pd.isna(keys[3])


@pytest.mark.parametrize("name, key", [
    ("曾国藩", "zengguofan"), ("单田芳", "shantianfang"), ("解缙", "xiejin"),
    ("仇英", "qiuying"), ("区伟", "ouwei"), ("朴成浩", "piaochenghao"), ("查良镛", "zhaliangyong"),
    ("盖丽丽", "gelili"), ("乐嘉", "yuejia"), ("翟志刚", "zhaizhigang"), ("覃敏", "qinmin"),
    ("尉迟恭", "yuchigong"), ("阿不都·热合曼", "abudoureheman"), ("吕梅", "lvmei"),
])
def test_name_pinyin_reads_surnames_as_surnames(name, key):
    assert name_pinyin(series(name)).iloc[0] == key


def test_name_pinyin_reads_a_surname_character_elsewhere_in_its_common_reading():
    assert name_pinyin(series("李曾")).iloc[0] == "liceng"


def test_name_pinyin_matches_the_simulators_homophones(tiny_city):
    names = tiny_city.persons["name"].astype("str")
    variants = noised("homophone", names)
    changed = variants != names
    assert changed.sum() > 100
    assert (name_pinyin(variants[changed]) == name_pinyin(names[changed])).all()


# ---- unit names ----------------------------------------------------------------------------

def test_normalize_unit_name_columns_and_keys():
    out = normalize_unit_name(series(
        "呼和浩特市鑫源物业服务有限公司", "鑫源物业服务", "内蒙古自治区鑫源物业服务有限责任公司",
        "呼市鑫源物业服务公司", "鑫源（呼和浩特）物业服务有限公司", " 鑫源物业服务有限公司 ",
        "呼和浩特市鑫源物業服務有限公司", None), HOHHOT_CITY)
    assert list(out.columns) == ["unit_name", "unit_name_key", "parent_name_key", "is_branch",
                                 "branch_name"]
    assert (out["unit_name_key"].iloc[:7] == "鑫源物业服务").all()
    assert pd.isna(out["unit_name_key"].iloc[7])
    assert out["unit_name"].iloc[4] == "鑫源(呼和浩特)物业服务有限公司"
    assert out["unit_name"].iloc[5] == "鑫源物业服务有限公司"
    assert not out["is_branch"].any()


def test_normalize_unit_name_keeps_what_tells_units_apart():
    out = normalize_unit_name(series("内蒙古恒达（集团）有限公司", "恒达集团有限公司", "恒达商贸有限公司",
                                     "托克托县金盛种植农民专业合作社", "金盛种植合作社", "公司"),
                              HOHHOT_CITY)
    keys = out["unit_name_key"].tolist()
    assert keys[0] == keys[1] == "恒达"
    assert keys[2] == "恒达商贸"
    assert keys[3] == keys[4] == "金盛种植"
    assert keys[5] == "公司"


def test_normalize_unit_name_separates_branches():
    out = normalize_unit_name(series("北京鑫源科技有限公司呼和浩特分公司", "鑫源科技呼市分公司",
                                     "北京鑫源科技有限公司呼和浩特市新城区分公司", "金盛超市赛罕区分店",
                                     "中国银行股份有限公司呼和浩特新华营业部"), HOHHOT_CITY)
    assert out["is_branch"].all()
    assert out["branch_name"].tolist() == ["呼和浩特分公司", "呼市分公司", "呼和浩特市新城区分公司",
                                           "赛罕区分店", "呼和浩特新华营业部"]
    assert out["unit_name_key"].tolist()[:3] == ["鑫源科技分公司"] * 3
    assert out["parent_name_key"].tolist() == ["鑫源科技", "鑫源科技", "鑫源科技", "金盛超市", "中国银行"]


def test_without_a_city_only_provinces_are_dropped_from_keys():
    out = normalize_unit_name(series("呼和浩特市鑫源物业服务有限公司", "内蒙古鑫源物业服务有限公司"))
    assert out["unit_name_key"].tolist() == ["呼和浩特市鑫源物业服务", "鑫源物业服务"]


def test_another_citys_names_are_its_own_region_words():
    out = normalize_unit_name(series("广州市鑫源物业服务有限公司", "穗鑫源物业服务公司",
                                     "广东鑫源物业服务有限公司", "深圳市鑫源物业服务有限公司",
                                     "鑫源（广州）物业服务有限公司", "北京鑫源科技有限公司广州分公司",
                                     "鑫源科技穗分公司", "呼和浩特市鑫源物业服务有限公司"),
                              pipeline_city("guangzhou"))
    keys = out["unit_name_key"].tolist()
    assert keys[:5] == ["鑫源物业服务"] * 5
    assert keys[5] == keys[6] == "鑫源科技分公司"
    assert keys[7] == "呼和浩特市鑫源物业服务"  # another province's city is not a region here


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_unit_name_keys_survive_the_simulators_variants(profile):
    city = build_city(42, "tiny", city=profile)
    names = city.units["name"].astype("str")
    pairs = [(name, op(name)) for name in names
             for op in identity._variant_ops(name, city.profile)]
    here = pipeline_city(profile)
    original = normalize_unit_name(pd.Series([p[0] for p in pairs], dtype="str"), here)
    variant = normalize_unit_name(pd.Series([p[1] for p in pairs], dtype="str"), here)
    same = original["unit_name_key"].to_numpy() == variant["unit_name_key"].to_numpy()
    # The one variant that is a different key: a branch suffix typed after a company name.
    appended = variant["is_branch"].to_numpy() & ~original["is_branch"].to_numpy()
    assert (same | appended).all()
    assert (original["unit_name_key"].to_numpy()[appended]
            == variant["parent_name_key"].to_numpy()[appended]).all()
    short = normalize_unit_name(city.units["short_name"], here)
    assert (short["unit_name_key"].to_numpy()
            == normalize_unit_name(names, here)["unit_name_key"].to_numpy()).all()


def test_on_distinct_spreads_results_back_over_repeats_and_nulls():
    s = series("b", None, "a", "b", index=[10, 11, 12, 13])
    calls = []

    def upper(values):
        calls.append(len(values))
        return values.str.upper()

    out = on_distinct(s, upper)
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out.tolist()[0] == "B" and pd.isna(out[11]) and out[12] == "A" and out[13] == "B"
    assert calls[0] == 2
