"""Build the simulated city's true state: divisions, grids, people, households, units.

Everything is vectorised (a `city` scale has 3.5 million people) and deterministic for a
seed: each part draws from its own generator, so changing one part leaves the others alone.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from simulator import identity
from simulator.model import SCALES, City, Scale
from simulator.noise import NoiseRates
from simulator.profiles import HOHHOT, CityProfile
from simulator.profiles import profile as city_profile

# The city's own names, divisions and utilities come from its profile (simulator/profiles.py).
COMPOUND_SUFFIXES = ["小区", "花园", "家园", "苑", "新村", "公寓", "嘉园", "里"]
CITY_DEPARTMENTS = [
    ("CG01", "市城市管理综合执法局"), ("ZJ01", "市住房和城乡建设局"), ("SJ01", "市市场监督管理局"),
    ("GA01", "市公安局"), ("MZ01", "市民政局"), ("RS01", "市人力资源和社会保障局"),
    ("WJ01", "市卫生健康委员会"), ("JY01", "市教育局"), ("JT01", "市交通运输局"),
    ("HJ01", "市生态环境局"), ("YJ01", "市应急管理局"),
]
ENTITY_TYPES = ["有限责任公司", "个体工商户", "股份有限公司", "农民专业合作社", "分公司",
                "事业单位", "社会组织"]
ENTITY_WEIGHTS = [0.45, 0.30, 0.03, 0.03, 0.07, 0.05, 0.07]
INDUSTRIES = {
    "有限责任公司": ["F5211", "K7020", "H6210", "E4790", "I6510", "M7240", "O8010", "G5430"],
    "个体工商户": ["F5211", "H6210", "O8010", "F5261", "O8051"],
    "股份有限公司": ["C1310", "D4411", "K7010", "J6620"],
    "农民专业合作社": ["A0141", "A0311"],
    "分公司": ["F5211", "K7020", "J6620", "I6311"],
    "事业单位": ["P8321", "Q8411", "Q8412", "R8831"],
    "社会组织": ["S9221", "S9522", "O8090"],
}
WORKER_POSTS = ["社区党委书记", "社区居委会主任", "副书记", "委员", "网格员", "党建组织员",
                "专职社区工作者"]
POLITICAL = ["中共党员", "中共预备党员", "共青团员", "群众"]
EDUCATION = ["研究生", "大学本科", "大专", "高中"]
GRADES = [f"{g}岗{lv}级" for g, lvs in (("一", range(1, 7)), ("二", range(7, 13)),
                                      ("三", range(13, 19))) for lv in
          ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三",
           "十四", "十五", "十六", "十七", "十八"][lvs.start - 1:lvs.stop - 1]]

# Distinct sub-streams of the seed, one per part of the city.
_STREAM = {"divisions": 1, "compounds": 2, "persons": 3, "units": 4, "workers": 5, "party": 6}


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[part]])


def _layout(scale: Scale, profile: CityProfile) -> tuple[int, int, int]:
    """(districts, streets per district, communities per street): the profile's for the
    scale, else ~3,000 per community at tiny/small and ~6,000 at city scale (Hohhot's urban
    communities are 3k–10k)."""
    if scale.name in profile.layout:
        return profile.layout[scale.name]
    if scale.residents <= 5_000:
        return 2, 2, 2
    if scale.residents <= 100_000:
        return 4, 3, 3
    communities = scale.residents // 6_000
    districts = len(profile.districts)
    streets = max(2, round(communities / districts / 9))
    return districts, streets, max(2, communities // (districts * streets))


def build_divisions(seed: int, scale: Scale, profile: CityProfile = HOHHOT
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Divisions (city → district → street → community) and grids."""
    rng = _rng(seed, "divisions")
    n_districts, n_streets, n_communities = _layout(scale, profile)
    rows = [(profile.city_code, profile.name, "city", None)]
    grids = []
    for d_code, d_name in profile.districts[:n_districts]:
        rows.append((f"{d_code}000000", d_name, "district", profile.city_code))
        street_names = rng.permutation(profile.street_stems)
        for s in range(n_streets):
            s_code = f"{d_code}{s + 1:03d}000"
            stem = street_names[s % len(street_names)]
            s_name = f"{stem}街道" if s < len(street_names) else f"{stem}第{s // len(street_names) + 1}街道"
            rows.append((s_code, s_name, "street", f"{d_code}000000"))
            community_names = rng.permutation(profile.community_stems)
            for c in range(n_communities):
                c_code = f"{s_code[:9]}{c + 1:03d}"
                stem = community_names[c % len(community_names)]
                suffix = "" if c < len(community_names) else str(c // len(community_names) + 1)
                rows.append((c_code, f"{stem}{suffix}社区", "community", s_code))
                for g in range(int(rng.integers(3, 9))):
                    grids.append((f"{c_code}{g + 1:03d}", c_code, f"第{g + 1}网格"))
    divisions = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code"])
    grid_frame = pd.DataFrame(grids, columns=["grid_code", "community_code", "name"])
    grid_frame["grid_worker_staff_no"] = [f"WG{i + 1:06d}" for i in range(len(grid_frame))]
    return divisions, grid_frame


def build_departments(divisions: pd.DataFrame, profile: CityProfile = HOHHOT) -> pd.DataFrame:
    rows = [(code, name, "city_department") for code, name in CITY_DEPARTMENTS]
    for _, d in divisions[divisions["level"] == "district"].iterrows():
        for short, what in (("CG", "城市管理综合执法局"), ("ZJ", "住房和城乡建设局"),
                            ("MZ", "民政局")):
            rows.append((f"Q{short}{d['code'][:6]}", f"{d['name']}{what}", "district_department"))
    for _, s in divisions[divisions["level"] == "street"].iterrows():
        rows.append((f"JD{s['code'][:9]}", f"{s['name']}办事处", "street_office"))
    rows += [(code, name, "utility") for code, name in profile.utilities]
    return pd.DataFrame(rows, columns=["dept_code", "name", "kind"])


def build_service_centers(divisions: pd.DataFrame) -> pd.DataFrame:
    suffix = {"city": "党群服务中心", "district": "党群服务中心", "street": "党群服务中心",
              "community": "党群服务站"}
    centers = divisions.assign(
        center_code="DQ" + divisions["code"],
        name=divisions["name"] + divisions["level"].map(suffix),
        division_code=divisions["code"],
    )
    return centers[["center_code", "name", "level", "division_code"]].reset_index(drop=True)


def build_compounds(seed: int, divisions: pd.DataFrame, profile: CityProfile = HOHHOT
                    ) -> pd.DataFrame:
    rng = _rng(seed, "compounds")
    names = divisions.set_index("code")["name"]
    parents = divisions.set_index("code")["parent_code"]
    rows = []
    for c_code in divisions.loc[divisions["level"] == "community", "code"]:
        street = parents[c_code]
        district = parents[street]
        stems = rng.permutation(profile.community_stems)
        prefix = f"{names[district]}{names[street]}{names[c_code]}"
        for k in range(int(rng.integers(3, 9))):
            name = f"{stems[k]}{COMPOUND_SUFFIXES[int(rng.integers(len(COMPOUND_SUFFIXES)))]}"
            rows.append((f"{c_code}-{k + 1:02d}", c_code, name, int(rng.integers(4, 31)),
                         prefix + name))
    return pd.DataFrame(rows, columns=["compound_key", "community_code", "name", "buildings",
                                       "address_prefix"])


def _random_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    starts = pd.to_datetime(pd.Series(years).astype("str") + "-01-01").to_numpy()
    return starts + rng.integers(0, 365, len(years)).astype("timedelta64[D]")


def build_persons(seed: int, scale: Scale, start: date, compounds: pd.DataFrame,
                  divisions: pd.DataFrame, profile: CityProfile = HOHHOT) -> pd.DataFrame:
    """Residents grouped into households that share an address."""
    rng = _rng(seed, "persons")
    n = scale.residents
    shares = profile.household_sizes
    sizes = rng.choice(np.arange(1, len(shares) + 1), p=shares, size=n // 2)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    sizes = sizes[sizes > 0]
    n_households = len(sizes)
    household = np.repeat(np.arange(n_households), sizes)
    position = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    # Each household lives in one flat of one compound.
    compound_idx = rng.integers(0, len(compounds), n_households)
    buildings = compounds["buildings"].to_numpy()[compound_idx]
    h_building = (rng.random(n_households) * buildings).astype(int) + 1
    h_unit = rng.integers(1, 5, n_households)
    h_room = rng.integers(1, 19, n_households) * 100 + rng.integers(1, 5, n_households)

    head_year = rng.integers(1940, 2001, n_households)
    year = np.repeat(head_year, sizes)
    is_head = position == 0
    is_spouse = (position == 1) & (rng.random(n) < 0.8)
    is_parent = (position >= 2) & (rng.random(n) < 0.12)
    is_child = ~(is_head | is_spouse | is_parent)
    year = np.where(is_spouse, year + rng.integers(-5, 6, n), year)
    year = np.where(is_child, year + rng.integers(22, 39, n), year)
    year = np.where(is_parent, year - rng.integers(22, 33, n), year)
    year = np.clip(year, 1925, start.year - 1)
    birth = _random_dates(rng, year)

    head_female = np.repeat(rng.random(n_households) < 0.3, sizes)
    female = np.where(is_head, head_female, rng.random(n) < 0.5)
    female = np.where(is_spouse, ~head_female, female)
    relation = np.select(
        [is_head, is_spouse, is_parent & female, is_parent, is_child & female],
        ["户主", "配偶", "母亲", "父亲", "女"], default="子")

    ethnicity = np.repeat(identity.ethnicities(rng, n_households, profile), sizes)
    names = identity.person_names(rng, ethnicity, female, birth_years=year, profile=profile)
    # Han children usually carry the male head's surname (single-character surnames only:
    # the rare compound ones, 欧阳 and the like, are left as drawn).
    head_name = np.repeat(names[np.cumsum(sizes) - sizes], sizes)
    compound = np.array([s for s in identity.han_surnames(profile)[0] if len(s) > 1])
    head_compound = np.isin(pd.Series(head_name, dtype="str").str[:2].to_numpy(), compound)
    inherit = is_child & (ethnicity == "汉族") & ~head_female & ~head_compound
    inherited = (pd.Series(head_name, dtype="str").str[0]
                 + pd.Series(names, dtype="str").str[1:]).to_numpy()
    names = np.where(inherit, inherited, names)

    community = compounds["community_code"].to_numpy()[compound_idx]
    home_area = np.repeat(np.array([c[:6] for c in community]), sizes)
    elsewhere = rng.random(n) < profile.born_elsewhere
    other_areas = np.array(profile.birthplaces_elsewhere)
    area = np.where(elsewhere, rng.choice(other_areas, n), home_area)
    ids = identity.resident_ids(rng, area, birth.astype("datetime64[D]"), female)

    age = start.year - year
    phone_kind = rng.choice(["mobile", "landline", "none"], p=[0.86, 0.05, 0.09], size=n)
    phone_kind = np.where(age < 14, "none", phone_kind)
    phones = np.full(n, None, dtype=object)
    mobile_mask = phone_kind == "mobile"
    phones[mobile_mask] = identity.mobiles(rng, int(mobile_mask.sum()), profile)
    landline_mask = phone_kind == "landline"
    phones[landline_mask] = identity.landlines(rng, int(landline_mask.sum()), profile)
    # Some elderly members give the head's phone: a shared number is normal in a household.
    head_phone = np.repeat(phones[np.cumsum(sizes) - sizes], sizes)
    share = (~is_head) & (age >= profile.phone_sharing_age) & \
        (rng.random(n) < profile.phone_sharing) & (head_phone != None)  # noqa: E711
    phones[share] = head_phone[share]

    prefix = compounds["address_prefix"].to_numpy()[compound_idx]
    h_address = pd.Series(prefix) + pd.Series(h_building).astype("str") + "号楼" + \
        pd.Series(h_unit).astype("str") + "单元" + pd.Series(h_room).astype("str")
    address = np.repeat(h_address.to_numpy(dtype=object), sizes)
    moved_in = rng.random(n) < 0.2
    registered_address = np.where(moved_in, np.roll(address, 7919), address)

    status = np.where(rng.random(n) < 0.03, "迁出", "正常")
    status = np.where((age > 70) & (rng.random(n) < 0.05), "死亡", status)
    propensity = rng.gamma(0.35, 1.0, n) * np.where(age >= 18, 1.0, 0.0)

    persons = pd.DataFrame({
        "person_key": pd.Series(np.arange(1, n + 1)).map("P{:08d}".format),
        "name": names.astype(str),
        "gender": np.where(female, "女", "男"),
        "birth_date": pd.to_datetime(birth),
        "ethnicity": ethnicity,
        "id_number": ids.astype(str),
        "phone": phones,
        "household_key": pd.Series(household).map("H{:08d}".format),
        "relation_to_head": relation,
        "community_code": np.repeat(community, sizes),
        "compound_key": np.repeat(compounds["compound_key"].to_numpy()[compound_idx], sizes),
        "building": np.repeat(h_building, sizes),
        "unit_no": np.repeat(h_unit, sizes),
        "room": np.repeat(h_room, sizes).astype(str),
        "address": address,
        "registered_address": registered_address,
        "status": status,
        "in_register": rng.random(n) < profile.in_register,
        "hotline_propensity": propensity,
    })
    return persons


def build_units(seed: int, scale: Scale, start: date, persons: pd.DataFrame,
                compounds: pd.DataFrame, divisions: pd.DataFrame,
                profile: CityProfile = HOHHOT) -> pd.DataFrame:
    rng = _rng(seed, "units")
    n = scale.units
    entity_type = rng.choice(ENTITY_TYPES, p=ENTITY_WEIGHTS, size=n)
    industry = np.array([INDUSTRIES[t][i % len(INDUSTRIES[t])]
                         for t, i in zip(entity_type, rng.integers(0, 840, n))])
    compound_idx = rng.integers(0, len(compounds), n)
    community = compounds["community_code"].to_numpy()[compound_idx]
    district_names = divisions.set_index("code")["name"]
    district = np.array([district_names[c[:6] + "000000"] for c in community])
    registered, short = identity.unit_names(rng, entity_type, industry, district, profile)
    if profile.homonymous_units > 0:
        # Some units carry a name another unit already has (small businesses in other
        # districts, a closed firm's name taken again); drawn from a stream of its own so
        # that the rest of the units stay as they were.
        same = np.random.default_rng([seed, _STREAM["units"], 1])
        copies = np.flatnonzero(same.random(n) < profile.homonymous_units)
        originals = same.integers(0, n, len(copies))
        registered[copies], short[copies] = registered[originals], short[originals]
    established_year = rng.integers(1990, start.year + 1, n)
    established = _random_dates(rng, established_year)
    usccs = identity.usccs(rng, np.array([c[:6] for c in community]), entity_type)
    # Old individual businesses predate the unified code.
    no_code = (entity_type == "个体工商户") & (established_year < 2016) & (rng.random(n) < 0.6)
    uscc = np.where(no_code, None, usccs)
    adults = persons.loc[(start.year - persons["birth_date"].dt.year).between(25, 70),
                         "person_key"].to_numpy()
    building = rng.integers(1, 30, n)
    address = compounds["address_prefix"].to_numpy()[compound_idx] + \
        pd.Series(building).astype("str").to_numpy() + "号楼底商" + \
        pd.Series(rng.integers(1, 40, n)).astype("str").to_numpy() + "号"
    phones = np.where(rng.random(n) < 0.5, identity.landlines(rng, n, profile),
                      identity.mobiles(rng, n, profile))
    is_branch = entity_type == "分公司"
    parents = np.flatnonzero(np.isin(entity_type, ["有限责任公司", "股份有限公司"]))
    parent_idx = rng.choice(parents, n) if len(parents) else np.zeros(n, dtype=int)
    keys = pd.Series(np.arange(1, n + 1)).map("U{:07d}".format).to_numpy()
    return pd.DataFrame({
        "unit_key": keys,
        "name": registered,
        "short_name": short,
        "uscc": uscc,
        "entity_type": entity_type,
        "legal_rep_person_key": rng.choice(adults, n),
        "community_code": community,
        "address": address,
        "industry_code": industry,
        "established_on": pd.to_datetime(established),
        "status": rng.choice(["存续", "在业", "吊销", "注销"], p=[0.70, 0.15, 0.05, 0.10], size=n),
        "phone": phones,
        "is_branch": is_branch,
        "parent_unit_key": np.where(is_branch, keys[parent_idx], None),
    })


def build_workers(seed: int, start: date, persons: pd.DataFrame, grids: pd.DataFrame,
                  divisions: pd.DataFrame) -> pd.DataFrame:
    """Each community's workers; grid workers carry the staff numbers of grids.csv."""
    rng = _rng(seed, "workers")
    communities = divisions.loc[divisions["level"] == "community", ["code", "parent_code"]]
    age = start.year - persons["birth_date"].dt.year
    pool = persons.loc[age.between(22, 58) & (persons["status"] == "正常")]
    pool_keys = pool["person_key"].to_numpy(dtype=object)
    pool_by_street = {street: pool_keys[rows] for street, rows in
                      pool.reset_index(drop=True).groupby(pool["community_code"].str[:9].to_numpy())
                      .indices.items()}
    grids_by_community = grids.groupby("community_code")["grid_worker_staff_no"].apply(list)
    rows = []
    other_staff = 0
    for c_code, s_code in communities.itertuples(index=False):
        organizers = int(rng.choice([2, 1, 0, 3], p=[0.82, 0.12, 0.03, 0.03]))
        posts = (["社区党委书记", "社区居委会主任"] + ["副书记"] * int(rng.integers(1, 3))
                 + ["委员"] * int(rng.integers(2, 5)) + ["党建组织员"] * organizers
                 + ["专职社区工作者"] * int(rng.integers(3, 9)))
        # A few grids have lost their worker (a vacancy the coverage indicator must show).
        grid_staff = [s for s in grids_by_community.get(c_code, []) if rng.random() > 0.04]
        staff = []
        for _ in posts:
            other_staff += 1
            staff.append(f"SG{other_staff:06d}")
        posts += ["网格员"] * len(grid_staff)
        staff += grid_staff
        candidates = pool_by_street.get(s_code[:9], pool_keys)
        chosen = rng.choice(candidates, len(posts), replace=len(candidates) < len(posts))
        for post, person_key, staff_no in zip(posts, chosen, staff):
            rows.append((person_key, c_code, s_code, post, staff_no))
    workers = pd.DataFrame(rows, columns=["person_key", "community_code", "street_code", "post",
                                          "staff_no"])
    workers = workers.drop_duplicates("person_key").reset_index(drop=True)
    n = len(workers)
    workers["post_grade"] = rng.choice(GRADES, n)
    workers["hired_on"] = pd.to_datetime(_random_dates(rng, rng.integers(2005, start.year, n)))
    secretary = workers["post"].isin(["社区党委书记", "副书记", "党建组织员"])
    workers["political_status"] = np.where(secretary, "中共党员",
                                           rng.choice(POLITICAL, p=[0.5, 0.05, 0.15, 0.3], size=n))
    workers["education"] = rng.choice(EDUCATION, p=[0.05, 0.55, 0.35, 0.05], size=n)
    return workers


def build_party_members(seed: int, start: date, persons: pd.DataFrame, units: pd.DataFrame,
                        divisions: pd.DataFrame) -> pd.DataFrame:
    rng = _rng(seed, "party")
    age = start.year - persons["birth_date"].dt.year
    adult = persons.loc[(age >= 18) & (persons["status"] == "正常")]
    members = adult.loc[rng.random(len(adult)) < 0.08, ["person_key", "community_code"]]
    members = members.reset_index(drop=True)
    n = len(members)
    member_age = (start.year - persons.set_index("person_key").loc[members["person_key"],
                                                                    "birth_date"].dt.year).to_numpy()
    in_service = (member_age < 60) & (rng.random(n) < 0.7)
    live_units = units.loc[units["status"].isin(["存续", "在业"]), "unit_key"].to_numpy()
    workplace = np.where(in_service, rng.choice(live_units, n), None)
    reported = in_service & (rng.random(n) < 0.75)
    reported_on = _random_dates(rng, rng.integers(2019, start.year + 1, n))
    reported_on = np.minimum(reported_on, np.datetime64(start - timedelta(days=1)))
    community_names = divisions.set_index("code")["name"]
    unit_names = units.set_index("unit_key")["name"]
    org = np.where(in_service,
                   "中共" + pd.Series(workplace).map(unit_names).fillna("").to_numpy() + "支部委员会",
                   "中共" + members["community_code"].map(community_names).to_numpy()
                   + "委员会第" + pd.Series(rng.integers(1, 6, n)).astype("str").to_numpy() + "支部")
    return pd.DataFrame({
        "member_no": pd.Series(np.arange(1, n + 1)).map("DY{:08d}".format),
        "person_key": members["person_key"],
        "party_org_name": org,
        "workplace_unit_key": workplace,
        "in_service": in_service.astype(int),
        "residence_community_code": members["community_code"],
        "reported_to_community": reported.astype(int),
        "reported_on": pd.to_datetime(np.where(reported, reported_on, np.datetime64("NaT"))),
    })


def build_city(seed: int, scale: str | Scale = "tiny", start: date | None = None,
               days: int | None = None, noise: NoiseRates | None = None,
               city: str | CityProfile | None = None) -> City:
    """The true state of the city `city` (a profile or its key; default hohhot)."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    profile = city_profile(city)
    start = start or date(2026, 11, 1)
    divisions, grids = build_divisions(seed, scale, profile)
    compounds = build_compounds(seed, divisions, profile)
    persons = build_persons(seed, scale, start, compounds, divisions, profile)
    units = build_units(seed, scale, start, persons, compounds, divisions, profile)
    return City(
        seed=seed, scale=scale, start=start, days=days or scale.days,
        noise=noise or NoiseRates(), profile=profile,
        divisions=divisions, grids=grids,
        departments=build_departments(divisions, profile),
        service_centers=build_service_centers(divisions), compounds=compounds,
        persons=persons, units=units,
        workers=build_workers(seed, start, persons, grids, divisions),
        party_members=build_party_members(seed, start, persons, units, divisions),
    )
