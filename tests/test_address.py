import pandas as pd
import pytest
from city_support import pipeline_city

from simulator.city import build_city
from transforms.address import COLUMNS, LEVELS, chinese_number, division_variants, parse_address


@pytest.fixture(scope="module")
def divisions(tiny_city):
    return tiny_city.divisions


@pytest.fixture(scope="module")
def names(divisions):
    return divisions.set_index("code")["name"]


def code_of(divisions, level, name, parent=None):
    rows = divisions[(divisions["level"] == level) & (divisions["name"] == name)]
    if parent is not None:
        rows = rows[rows["parent_code"] == parent]
    assert len(rows) == 1
    return rows["code"].iloc[0]


def one(address, divisions, **kwargs):
    return parse_address(pd.Series([address]), divisions, **kwargs).iloc[0]


def a_community(divisions, shared: bool):
    """(district, street, community) rows of a community whose name is / is not shared by
    another community of the city."""
    communities = divisions[divisions["level"] == "community"]
    counts = communities["name"].map(communities["name"].value_counts())
    community = communities[(counts > 1) if shared else (counts == 1)].iloc[0]
    by_code = divisions.set_index("code", drop=False)
    street = by_code.loc[community["parent_code"]]
    district = by_code.loc[street["parent_code"]]
    return district, street, community


def test_full_simulated_address(tiny_city, divisions, names):
    person = tiny_city.persons.iloc[0]
    row = one(person["address"], divisions)
    community = person["community_code"]
    assert row["community_code"] == community
    assert row["street_code"] == divisions.set_index("code").loc[community, "parent_code"]
    assert row["district_code"] == community[:6] + "000000"
    assert row["community"] == names[community]
    compound = tiny_city.compounds.set_index("compound_key").loc[person["compound_key"], "name"]
    assert row["compound"] == compound
    assert row["building"] == person["building"]
    assert row["unit"] == person["unit_no"]
    assert row["room"] == person["room"]
    assert row["parse_level"] == "room"


def test_every_simulated_address_parses_completely(tiny_city, divisions):
    persons = tiny_city.persons
    parsed = parse_address(persons["address"], divisions)
    assert list(parsed.columns) == COLUMNS
    assert parsed.index.equals(persons.index)
    assert (parsed["community_code"] == persons["community_code"]).all()
    assert (parsed["building"].to_numpy() == persons["building"].to_numpy()).all()
    assert (parsed["unit"].to_numpy() == persons["unit_no"].to_numpy()).all()
    assert (parsed["room"] == persons["room"]).all()
    assert (parsed["parse_level"] == "room").all()


def test_unit_addresses_with_shop_numbers(tiny_city, divisions):
    units = tiny_city.units
    parsed = parse_address(units["address"], divisions)
    assert (parsed["community_code"] == units["community_code"]).all()
    assert parsed["building"].notna().all() and parsed["room"].notna().all()


def test_short_forms_a_hotline_caller_uses(divisions):
    district, street, community = a_community(divisions, shared=False)
    stem = street["name"].removesuffix("街道")
    row = one(f"{stem}幸福小区东门", divisions)
    assert row["street_code"] == street["code"]
    assert row["district_code"] == district["code"]  # filled in from the street
    assert row["compound"] == "幸福小区"
    assert row["parse_level"] == "compound"

    row = one("幸福小区3号楼", divisions)
    assert pd.isna(row["street_code"]) and pd.isna(row["community"])
    assert row["compound"] == "幸福小区" and row["building"] == 3
    assert row["parse_level"] == "building"

    row = one(f"{community['name']}居委会", divisions)
    assert row["community_code"] == community["code"]  # unique in the city
    assert row["street_code"] == street["code"]
    assert row["parse_level"] == "community"

    row = one(f"{stem}街道办事处", divisions)
    assert row["street_code"] == street["code"] and row["parse_level"] == "street"


def test_a_shared_community_name_is_resolved_only_in_context(divisions):
    district, street, community = a_community(divisions, shared=True)
    alone = one(f"{community['name']}团结小区", divisions)
    assert pd.isna(alone["community_code"])
    assert alone["community"] == community["name"]  # as written
    in_street = one(f"{street['name']}{community['name']}团结小区", divisions)
    assert in_street["community_code"] == community["code"]
    others = divisions[(divisions["level"] == "community")
                       & (divisions["name"] == community["name"])]
    assert others["parent_code"].str[:6].nunique() == len(others)  # one per district here
    in_district = one(f"{district['name']}{community['name']}", divisions)
    assert in_district["community_code"] == community["code"]


@pytest.mark.parametrize("text, building, unit, room", [
    ("幸福小区３号楼１单元５０１", 3, 1, "501"),
    ("幸福小区三号楼二单元501室", 3, 2, "501"),
    ("幸福小区十二栋", 12, None, None),
    ("幸福小区3幢2单元1203", 3, 2, "1203"),
    ("幸福小区3#楼4单元502", 3, 4, "502"),
    ("幸福小区3-2-501", 3, 2, "501"),
    ("幸福小区 3 号楼", 3, None, None),
    ("幸福小区3号楼底商12号", 3, None, "12"),
])
def test_building_unit_room(divisions, text, building, unit, room):
    row = one(text, divisions)
    assert row["compound"] == "幸福小区"
    assert row["building"] == building
    assert (pd.isna(row["unit"]) if unit is None else row["unit"] == unit)
    assert (pd.isna(row["room"]) if room is None else row["room"] == room)


@pytest.mark.parametrize("compound", ["团结小区", "丰泽花园", "春华家园", "青城嘉园", "育才新村",
                                      "五塔苑", "苏虎公寓", "和平里", "滨河花园二期", "锦绣家园东区"])
def test_compound_suffixes(divisions, compound):
    assert one(f"{compound}3号楼", divisions)["compound"] == compound


def test_prefixes_traditional_script_and_nulls(divisions, names):
    district, street, community = a_community(divisions, shared=False)
    full = f"{district['name']}{street['name']}{community['name']}团结小区3号楼"
    variants = pd.Series([f"内蒙古自治区呼和浩特市{full}", f"呼市{full}",
                          full.replace("区", "區").replace("结", "結"), None, ""],
                         index=[5, 6, 7, 8, 9])
    # 呼市 is the city's abbreviation: the sources file's city section names it.
    parsed = parse_address(variants, divisions, city=pipeline_city("hohhot", divisions))
    assert parsed.index.tolist() == [5, 6, 7, 8, 9]
    assert (parsed["community_code"].iloc[:3] == community["code"]).all()
    assert parsed.loc[8, "parse_level"] == "none" and parsed.loc[9, "parse_level"] == "none"
    assert parsed.loc[8, ["district_code", "compound", "building"]].isna().all()


def test_unknown_divisions_are_kept_as_written(divisions):
    row = one("某某路街道幸福社区幸福里2幢", divisions)
    assert row["street"] == "某某路街道" and pd.isna(row["street_code"])
    assert row["community"] == "幸福社区" and pd.isna(row["community_code"])
    assert row["compound"] == "幸福里" and row["building"] == 2


def test_aliases_resolve_unless_they_collide(divisions):
    street = divisions[divisions["level"] == "street"].iloc[0]
    row = one("海东路团结小区", divisions, aliases={"海东路街道": street["name"]})
    assert row["street_code"] == street["code"]
    other = divisions[divisions["level"] == "street"].iloc[1]
    colliding = {other["name"]: street["name"]}  # an alias that is another street's name
    assert pd.isna(one(f"{other['name']}团结小区", divisions, aliases=colliding)["street_code"])
    with pytest.raises(ValueError, match="not a division"):
        division_variants(divisions, {"x": "不存在街道"})


def test_parse_level_is_the_deepest_part(divisions):
    district = divisions[divisions["level"] == "district"].iloc[0]
    levels = parse_address(pd.Series([district["name"], "团结小区", "东门"]), divisions)
    assert levels["parse_level"].tolist() == ["district", "compound", "none"]
    assert set(LEVELS) >= set(levels["parse_level"])


@pytest.mark.parametrize("text, number", [
    ("3", 3), ("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("两", 2),
    ("一百零五", 105), ("一百一十", 110), ("一二〇三", 1203), ("百", None), ("三五十", None), ("", None),
])
def test_chinese_number(text, number):
    assert chinese_number(text) == number


def test_another_citys_province_and_name_prefix_its_addresses():
    city = build_city(42, "tiny", city="guangzhou")
    person = city.persons.iloc[0]
    variants = pd.Series([f"广东省广州市{person['address']}", f"广东广州{person['address']}",
                          f"穗{person['address']}", person["address"]])
    parsed = parse_address(variants, city.divisions,
                           city=pipeline_city("guangzhou", city.divisions))
    assert (parsed["community_code"] == person["community_code"]).all()
    assert (parsed["room"] == person["room"]).all()
