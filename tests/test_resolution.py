"""Resolution: hard constraints under adversarial inputs, stable ids across runs, merges and
splits (fast, inline fixtures; the simulated-city tests are in test_resolution_city.py)."""

import numpy as np
import pandas as pd
from city_support import pipeline_city

from transforms.identifiers import gb11643_check_char
from transforms.resolution.engine import RESIDENT, UNIT, cluster, with_usage
from transforms.resolution.identity import assign_ids


def _id(first17: str) -> str:
    return first17 + gb11643_check_char(first17)


def _people(rows) -> pd.DataFrame:
    columns = ["name", "id_number", "id_valid", "phone", "birth_date", "birth_ym", "gender"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["id_valid"] = frame["id_valid"].astype(bool)
    return frame


def _pairs(*edges) -> pd.DataFrame:
    return pd.DataFrame(edges, columns=["left", "right", "match_probability"])


TWIN_A, TWIN_B = _id("15010219900101123"), _id("15010219900101125")


def test_twins_with_different_valid_ids_never_merge_however_strong_the_pair():
    people = _people([
        ["王伟", TWIN_A, True, "13904712233", "1990-01-01", "1990-01", "男"],
        ["王伟", TWIN_B, True, "13904712233", "1990-01-01", "1990-01", "男"],
    ])
    result = cluster(RESIDENT, people, _pairs((0, 1, 0.9999)))
    assert result["label"].nunique() == 2
    assert (result["match_rule"] == "exact_id").all()


def test_a_caller_on_a_shared_household_phone_joins_one_member_only():
    mother, son = _id("15010219650312004"), _id("15010219900101123")
    people = _people([
        ["李秀英", mother, True, "13904712233", "1965-03-12", "1965-03", "女"],
        ["王强", son, True, "13904712233", "1990-01-01", "1990-01", "男"],
        ["李秀瑛", None, False, "13904712233", None, None, None],  # homophone on the phone
    ])
    pairs = _pairs((0, 2, 0.995), (1, 2, 0.93))
    result = cluster(RESIDENT, people, pairs)
    labels = result["label"].to_numpy()
    assert labels[2] == labels[0] and labels[1] != labels[0]
    assert result.loc[2, "match_rule"] == "probabilistic"
    assert result.loc[2, "match_score"] == 0.995


def test_an_id_numbers_mentions_carry_what_any_of_them_knows_into_the_constraints():
    a = _id("15010219700101123")
    people = _people([
        ["赵敏", a, True, None, None, None, None],  # the first mention knows no birth date
        ["陈静", None, False, None, None, None, None],
        ["赵敏", a, True, None, "1970-01-01", "1970-01", "女"],
        ["赵敏", None, False, "13904710001", "1985-06-01", "1985-06", "女"],  # another 赵敏
        ["赵敏", None, False, "13904710002", "1970-01-01", "1970-01", "女"],
    ])
    result = cluster(RESIDENT, people, _pairs((0, 3, 0.9999), (0, 4, 0.99)))
    labels = result["label"].to_numpy()
    assert labels[0] == labels[2] == labels[4]  # one entity, joined by the agreeing caller
    assert labels[3] != labels[0] and labels[1] != labels[0]  # the other birth date stays out
    assert result["match_rule"].tolist() == ["exact_id", "new_entity", "exact_id", "new_entity",
                                             "probabilistic"]


def test_a_reused_invalid_id_number_links_nothing_by_itself():
    typo = _id("15010219800101123")[:-1] + "0"  # the same wrong check digit, twice
    assert typo != _id("15010219800101123")
    people = _people([["张三", typo, False, None, None, None, "男"],
                      ["李四", typo, False, None, None, None, "女"]])
    result = cluster(RESIDENT, people, _pairs())
    assert result["label"].nunique() == 2
    assert (result["match_rule"] == "new_entity").all()


def test_a_weak_link_does_not_chain_two_established_clusters():
    a = _id("15010219700101123")
    people = _people([
        ["赵敏", a, True, "13904710001", "1970-01-01", "1970-01", "女"],
        ["赵敏", a, True, None, "1970-01-01", "1970-01", "女"],
        ["赵明", None, False, "13904710002", None, None, None],
        ["赵明", None, False, "13904710002", None, None, None],
    ])
    # 2-3 are one person for sure; 1-2 look alike only weakly.
    result = cluster(RESIDENT, people, _pairs((2, 3, 0.999), (1, 2, 0.95)))
    labels = result["label"].to_numpy()
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    # The same weak pair may attach a single mention.
    single = cluster(RESIDENT, people.iloc[:3], _pairs((1, 2, 0.95)))
    assert single["label"].nunique() == 1


def test_conflicting_birth_dates_block_a_probabilistic_merge():
    people = _people([
        ["刘洋", None, False, "13904710003", "1980-05-01", "1980-05", None],
        ["刘洋", None, False, "13904710003", "1985-07-09", "1985-07", None],
    ])
    assert cluster(RESIDENT, people, _pairs((0, 1, 0.999)))["label"].nunique() == 2


def test_units_with_different_valid_usccs_stay_apart():
    units = pd.DataFrame({"uscc": ["91150102MA0N123408", "91150102MA0N123416"],
                          "uscc_valid": [True, True], "name": ["某物业", "某物业"]})
    assert cluster(UNIT, units, _pairs((0, 1, 0.999)))["label"].nunique() == 2


REGISTER, WORKPLACE = "market_regulation.enterprises", "organization.party_members.workplace"


def _units(rows, communities=None, city="hohhot") -> pd.DataFrame:
    from transforms.text import normalize_unit_name

    frame = pd.DataFrame(rows, columns=["source", "name", "uscc", "uscc_valid"])
    frame["source_record_id"] = [f"r{i}" for i in range(len(frame))]
    if communities is not None:
        frame["community_code"] = communities
    keys = normalize_unit_name(frame["name"], pipeline_city(city))
    return frame.assign(unit_name_key=keys["unit_name_key"],
                        parent_name_key=keys["parent_name_key"])


def test_a_typed_workplace_joins_the_one_registered_unit_with_its_name_key():
    units = _units([
        [REGISTER, "呼和浩特市赛罕区蒙岭德餐饮服务有限公司", "91150105MA7WLG939K", True],
        [WORKPLACE, "呼市赛罕区蒙岭德餐饮服务有限责任公司", None, False],
        # Not in the register as a branch: the party member means the registered company.
        [WORKPLACE, "呼和浩特市赛罕区蒙岭德餐饮服务有限公司呼和浩特分公司", None, False],
    ])
    result = cluster(UNIT, units, _pairs())
    assert result["label"].nunique() == 1
    assert list(result["match_rule"]) == ["exact_uscc", "exact_name_key", "registered_parent"]


def test_a_registered_branch_and_its_parent_stay_apart():
    units = _units([
        [REGISTER, "呼和浩特市源泽汽车服务有限公司", "911501037640056966", True],
        [REGISTER, "呼和浩特市源泽汽车服务有限公司呼和浩特分公司", None, False],
        [WORKPLACE, "源泽汽车服务有限公司呼市分公司", None, False],
    ])
    labels = cluster(UNIT, units, _pairs())["label"].to_numpy()
    assert labels[2] == labels[1] and labels[1] != labels[0]


def test_a_name_key_two_registered_units_share_decides_nothing():
    units = _units([
        [REGISTER, "呼和浩特市回民区和记便利店", None, False],
        [REGISTER, "呼和浩特市赛罕区和记便利店", None, False],
        [WORKPLACE, "和记便利店", None, False],
    ])
    result = cluster(UNIT, units, _pairs())
    assert result["label"].nunique() == 3
    assert (result["match_rule"] == "new_entity").all()


# ---- the failure classes of a city we did not make (issue 12) -----------------------------

def _pinyin(frame: pd.DataFrame) -> pd.DataFrame:
    """The readings the mentions carry (transforms.resolution.mentions computes them so)."""
    from transforms.text import name_pinyin

    pinyin = name_pinyin(frame["name"].astype("str"))
    return frame.assign(name_pinyin=pinyin,
                        surname_pinyin=name_pinyin(frame["name"].astype("str").str[:1]))


def test_a_phone_is_counted_by_the_people_who_use_it_not_by_its_records():
    people = pd.DataFrame({"phone": ["13912340001"] * 4 + ["13912340002"] * 3 + [None],
                           "name_pinyin": ["lixiuying", "lixiuying", "wangqiang", None,
                                           "zhaomin", "zhaomin", "zhaomin", "chenjing"]})
    assert with_usage(RESIDENT, people)["phone_users"].tolist() == [2, 2, 2, 2, 1, 1, 1, 0]


def test_a_shared_household_phone_does_not_merge_names_that_share_nothing():
    mother = _id("44010419650312004")
    people = _pinyin(_people([
        ["李秀英", mother, True, "13912340001", "1965-03-12", "1965-03", "女"],
        ["王强", None, False, "13912340001", None, None, None],  # her son calls from it
        ["李秀瑛", None, False, "13912340001", None, None, None],  # she calls (a homophone)
    ]))
    # Both scored high on the phone and the address.
    labels = cluster(RESIDENT, people, _pairs((0, 1, 0.999), (0, 2, 0.998)))["label"]
    assert labels[0] == labels[2] and labels[1] != labels[0]


def test_names_that_disagree_still_link_through_a_near_identical_id_number():
    person = _id("44010419650312004")
    people = _pinyin(_people([["李秀英", person, True, None, "1965-03-12", "1965-03", "女"],
                              ["张强", person[:-2] + "99", False, None, None, None, None]]))
    assert cluster(RESIDENT, people, _pairs((0, 1, 0.99)))["label"].nunique() == 1


GZ_A, GZ_B = "440105001001", "440106002003"


def test_homonymous_units_with_different_credit_codes_stay_apart():
    units = _units([
        [REGISTER, "广州市海珠区旺川超市", "92440105MA5A1B2C3D", True],
        [REGISTER, "广州市海珠区旺川超市", "92440106MA5X9Y8Z7W", True],
        # A report with the name, a credit code of neither, in a third community.
        ["organization.unit_reports", "广州市海珠区旺川超市", "92440199MA0000000X", False],
    ], communities=[GZ_A, GZ_B, "440111003001"], city="guangzhou")
    assert with_usage(UNIT, units)["name_holders"].tolist() == [2, 2, 2]
    result = cluster(UNIT, units, _pairs((0, 2, 0.97), (1, 2, 0.96)))
    assert result["label"].nunique() == 3
    assert result.loc[2, "match_rule"] == "new_entity"


def test_a_homonymous_unit_links_where_its_credit_code_agrees():
    units = _units([
        [REGISTER, "广州市海珠区旺川超市", "92440105MA5A1B2C3D", True],
        [REGISTER, "广州市海珠区旺川超市", "92440106MA5X9Y8Z7W", True],
        [WORKPLACE, "旺川超市", "92440106MA5X9Y8Z7V", False],  # one character off B's
    ], communities=[GZ_A, GZ_B, None], city="guangzhou")
    labels = cluster(UNIT, units, _pairs((0, 2, 0.99), (1, 2, 0.98)))["label"].to_numpy()
    assert labels[2] == labels[1] != labels[0]


def test_the_same_name_in_the_same_community_links_without_a_credit_code():
    units = _units([
        [REGISTER, "广州市海珠区旺川超市", "92440105MA5A1B2C3D", True],
        [REGISTER, "广州市海珠区旺川超市", "92440106MA5X9Y8Z7W", True],
        ["organization.unit_reports", "广州市海珠区旺川超市", None, False],
        ["organization.unit_reports", "广州市海珠区旺川超市", "9244010", False],  # dirty code
    ], communities=[GZ_A, GZ_B, GZ_B, GZ_A], city="guangzhou")
    result = cluster(UNIT, units, _pairs())
    labels = result["label"].to_numpy()
    assert labels[2] == labels[1] and labels[3] == labels[0] and labels[0] != labels[1]
    assert list(result["match_rule"][2:]) == ["exact_name_community"] * 2


def test_the_registered_name_in_another_community_is_not_joined_on_the_name_alone():
    units = _units([
        [REGISTER, "广州市麟鼎通物业管理有限责任公司", "91440104MA3UQA2K5R", True],
        ["organization.unit_reports", "广州市麟鼎通物业管理有限责任公司", None, False],
        [WORKPLACE, "麟鼎通物业管理有限公司", None, False],  # no community: the name decides
    ], communities=[GZ_A, GZ_B, None], city="guangzhou")
    result = cluster(UNIT, units, _pairs())
    labels = result["label"].to_numpy()
    assert labels[1] != labels[0] and labels[2] == labels[0]
    assert list(result["match_rule"]) == ["exact_uscc", "new_entity", "exact_name_key"]


def test_a_credit_code_that_contradicts_keeps_the_same_name_apart():
    units = _units([
        [REGISTER, "广州市海珠区旺川超市", "92440105MA5A1B2C3D", True],
        ["organization.unit_reports", "广州市海珠区旺川超市", "92440106MA5X9Y8Z7W", True],
    ], communities=[GZ_A, GZ_A], city="guangzhou")
    assert cluster(UNIT, units, _pairs())["label"].nunique() == 2


def test_a_one_to_one_link_takes_one_record_from_each_list():
    from transforms.resolution.generic import person_kind

    kind = person_kind("dataset")
    people = pd.DataFrame({"dataset": ["a", "b", "b"], "soc_sec_id": ["1", "2", "3"],
                           "soc_sec_id_valid": False})
    labels = cluster(kind, people, _pairs((0, 1, 0.99), (0, 2, 0.98)))["label"].to_numpy()
    assert labels[0] == labels[1] and labels[2] != labels[0]


def _keys(n):
    return pd.Series([f"k{i:03d}" for i in range(n)])


def test_ids_are_kept_across_an_unchanged_rerun():
    labels = pd.Series([0, 0, 2, 3])
    first, history, retired, issued = assign_ids(labels, _keys(4), pd.Series([None] * 4),
                                                 "R", 0)
    assert list(first) == ["R000000000001", "R000000000001", "R000000000002",
                           "R000000000003"]
    again, history, retired, issued_again = assign_ids(pd.Series([5, 5, 7, 9]), _keys(4),
                                                       first, "R", issued)
    assert list(again) == list(first) and history.empty and not retired
    assert issued_again == issued


def test_a_merge_keeps_the_oldest_id_and_records_the_other():
    previous = pd.Series(["R000000000001", "R000000000002", "R000000000002"])
    ids, history, retired, issued = assign_ids(pd.Series([4, 4, 4]), _keys(3), previous,
                                               "R", 2)
    assert set(ids) == {"R000000000001"}
    assert retired == ["R000000000002"]
    assert history.to_dict("records") == [
        {"old_id": "R000000000002", "new_id": "R000000000001", "reason": "merge"}]
    assert issued == 2


def test_a_split_gives_the_minority_a_new_never_used_id():
    previous = pd.Series(["R000000000005"] * 3)
    ids, history, retired, issued = assign_ids(pd.Series([0, 0, 1]), _keys(3), previous,
                                               "R", 9)
    assert list(ids) == ["R000000000005", "R000000000005", "R000000000010"]
    assert history.to_dict("records") == [
        {"old_id": "R000000000005", "new_id": "R000000000010", "reason": "split"}]
    assert issued == 10 and not retired


def test_new_ids_follow_the_mentions_order_not_the_labels():
    ids, *_ = assign_ids(pd.Series([9, 3]), pd.Series(["a", "b"]), pd.Series([np.nan] * 2),
                         "U", 0)
    assert list(ids) == ["U000000000001", "U000000000002"]


def _model_with_place_weights(mentions: pd.DataFrame) -> str:
    """The resident model untrained, its location levels (same community, street, district,
    elsewhere) and home levels (same compound, another) given m and u: each level's weight
    is known in advance."""
    import json

    from transforms.resolution.engine import _linker, splink_settings

    with _linker(RESIDENT, mentions, splink_settings(RESIDENT)["settings"]) as linker:
        model = linker.misc.save_model_to_json()
    weights = {"location": ((0.8, 0.15, 0.04, 0.01), (0.03, 0.05, 0.17, 0.75)),
               "home": ((0.9, 0.1), (0.005, 0.995))}
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for level, m, u in zip(levels, *weights.get(comparison["output_column_name"], ((),))):
            level.update(m_probability=m, u_probability=u)
    return json.dumps(model)


def test_a_callers_place_elsewhere_is_no_evidence_two_homes_elsewhere_are():
    from common.sources import HOTLINE, PARTY_MEMBERS, RESIDENTS
    from transforms.resolution.engine import explain_pair

    place = ["district_code", "street_code", "community_code", "compound", "building"]
    home = dict(zip(place, ["150102", "150102002", "150102002002", "康乐苑", "1"]))
    elsewhere = dict(zip(place, ["150105", "150105003", "150105003001", "草原苑", "2"]))
    person = {**dict.fromkeys(RESIDENT.columns), "name": "马媛媛", "name_pinyin": "mayuanyuan",
              "surname_pinyin": "ma", "given_pinyin": "yuanyuan", "phone_users": 1,
              "id_valid": False}
    registered = {**person, **home, "source": RESIDENTS}
    caller = {**person, **elsewhere, "source": HOTLINE}
    model = _model_with_place_weights(pd.DataFrame([registered, caller]))

    def weights(other):
        return explain_pair(RESIDENT, registered, other, model).set_index("comparison")

    for comparison in ("location", "home"):  # the caller's problem is elsewhere: no evidence
        assert weights(caller).loc[comparison, "match_weight"] == 0
        assert "elsewhere" in weights(caller).loc[comparison, "level"]
    at_home = weights({**caller, **home})  # the caller at home: evidence
    assert at_home.loc["location", "match_weight"] > 0 < at_home.loc["home", "match_weight"]
    two_homes = weights({**caller, "source": PARTY_MEMBERS, "compound": None})
    assert two_homes.loc["location", "match_weight"] < 0  # two homes that disagree count
    # A household shares its phone and its home: with the phones agreeing, the compound
    # adds nothing.
    shared = {"phone": "15231475471"}
    household = explain_pair(RESIDENT, {**registered, **shared}, {**caller, **home, **shared},
                             model).set_index("comparison")
    assert household.loc["home", "match_weight"] == 0
    assert household.loc["location", "match_weight"] > 0
