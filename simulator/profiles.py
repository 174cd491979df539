"""City profiles: what makes one simulated city unlike another.

A profile holds the city's name and divisions, its telephone area and mobile number blocks,
the mix of surnames and ethnicities, household sizes and how people share phones in them,
how often units share a registered name and how often residents are missing from the
register. Noise (typos, formats, encodings) is not part of a city: it comes from a noise
profile (`simulator.noise.NOISE_PROFILES`), so each city can be run under each noise.

`hohhot` is the default and reproduces the simulator's original city exactly; `guangzhou`
is a southern city built to be unlike it (another area code and province, a Cantonese
surname mix, larger households that share phones more, more homonymous units, more people
missing from the register). Describing a new city: docs/cities.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CityProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="the profile's name (`govshare simulate --city KEY`)")
    name: str = Field(description="the city's official name, e.g. 呼和浩特市")
    short_name: str = Field(description="the name without 市, as in 呼和浩特分公司")
    abbreviation: str = Field(description="what people type for the city, e.g. 呼市")
    aliases: dict[str, str] = Field(default_factory=dict, description="local abbreviations "
                                    "of districts: alias -> official name (土左旗: 土默特左旗)")
    province: str = Field(description="official name of the province, e.g. 内蒙古自治区")
    province_short: str = Field(description="the province as names carry it, e.g. 内蒙古")
    division_root: str = Field(pattern=r"^\d{4}00$", description="the city's GB/T 2260 code")
    area_code: str = Field(pattern=r"^0\d{2,3}$", description="telephone area code")
    landline_digits: int = Field(7, ge=7, le=8, description="digits of a local number")
    mobile_blocks: dict[str, float] = Field(
        description="local mobile number blocks (digits after the 3-digit prefix) and the "
                    "share of first draws that carry each")
    centre: tuple[float, float] = Field(description="latitude, longitude of the city centre")
    built_up_area: tuple[float, float, float, float] = Field(
        description="south, west, height, width in degrees of the built-up area")
    districts: list[tuple[str, str]] = Field(description="(6-digit code, name), urban first")
    layout: dict[str, tuple[int, int, int]] = Field(
        default_factory=dict, description="per scale name: districts, streets per district, "
        "communities per street (default: from the scale's population)")
    street_stems: list[str] = Field(min_length=8)
    community_stems: list[str] = Field(min_length=8, description="community (and compound) "
                                       "name stems")
    utilities: list[tuple[str, str]] = Field(description="(dept_code, name) of the water, "
                                             "power, heating and gas companies")
    branch_parents: list[str] = Field(description="places outside parents of local branches "
                                      "are registered in")
    han_surnames: str | None = Field(None, description="'王7.6 李7.2 …' percent table; None: "
                                     "northern China (identity.HAN_SURNAMES)")
    ethnicity_shares: dict[str, float] | None = Field(None, description="None: Hohhot's")
    born_elsewhere: float = Field(0.2, ge=0, le=1, description="share of residents whose ID "
                                  "number carries a birthplace outside the city")
    birthplaces_elsewhere: list[str] = Field(description="GB/T 2260 county codes outside the "
                                             "city those residents were born in")
    household_sizes: list[float] = Field(description="probabilities of households of 1, 2, …")
    phone_sharing_age: int = Field(70, description="members this old or older may give the "
                                   "household head's phone as theirs")
    phone_sharing: float = Field(0.4, ge=0, le=1, description="share of those who do")
    caller_household_phone: float = Field(0.0, ge=0, le=1, description="share of hotline "
                                          "callers without a phone of their own who give a "
                                          "household member's")
    homonymous_units: float = Field(0.0, ge=0, le=1, description="share of units registered "
                                    "under a name another unit also carries")
    in_register: float = Field(0.93, gt=0, le=1, description="share of residents with a "
                               "civil-affairs record (the rest are missing from the register)")

    @field_validator("household_sizes")
    @classmethod
    def _probabilities(cls, value: list[float]) -> list[float]:
        if abs(sum(value) - 1) > 1e-9 or min(value) < 0:
            raise ValueError("household_sizes must be probabilities summing to 1")
        return value

    @model_validator(mode="after")
    def _districts_in_city(self) -> CityProfile:
        outside = [c for c, _ in self.districts if c[:4] != self.division_root[:4]]
        if outside:
            raise ValueError(f"districts outside division_root {self.division_root}: {outside}")
        return self

    @property
    def city_code(self) -> str:
        """12-digit division code of the city itself."""
        return f"{self.division_root}000000"

    @property
    def county_names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.districts)

    def sources_city(self) -> dict:
        """The `city:` section of a sources file for this city (config/sources.example.yaml):
        what the pipeline cannot read from the reference divisions."""
        return {"division_root": self.division_root, "area_codes": [self.area_code],
                "aliases": {self.abbreviation: self.name} | self.aliases}


HOHHOT = CityProfile(
    key="hohhot", name="呼和浩特市", short_name="呼和浩特", abbreviation="呼市",
    aliases={"土左旗": "土默特左旗", "和林县": "和林格尔县"},
    province="内蒙古自治区", province_short="内蒙古", division_root="150100", area_code="0471",
    mobile_blocks={"471": 0.42, "0471": 0.08}, centre=(40.82, 111.70),
    built_up_area=(40.78, 111.58, 0.12, 0.24),
    # The four urban districts first, then the counties/banners (used at larger scales).
    districts=[("150102", "新城区"), ("150103", "回民区"), ("150104", "玉泉区"),
               ("150105", "赛罕区"), ("150121", "土默特左旗"), ("150122", "托克托县"),
               ("150123", "和林格尔县"), ("150124", "清水河县"), ("150125", "武川县")],
    street_stems=[
        "海拉尔东路", "锡林北路", "中山东路", "东街", "西街", "东风路", "迎新路", "成吉思汗大街",
        "丁香路", "保合少", "光明路", "新华西路", "通道街", "攸攸板", "钢铁路", "环河街",
        "小召前街", "长和廊", "兴隆巷", "昭君路", "大学东路", "人民路", "乌兰察布东路",
        "敕勒川路", "金桥", "巴彦", "鄂尔多斯大街", "腾飞路", "呼伦贝尔南路", "桥靠", "海东路",
        "察素齐"],
    community_stems=[
        "团结", "和平", "幸福", "光明", "新华", "友谊", "育才", "康乐", "春华", "丰泽", "富丽",
        "惠民", "东站", "青城", "草原", "阳光", "锦绣", "曙光", "朝阳", "钢铁", "金隅", "明泽",
        "南茶坊", "大召", "五塔", "苏虎", "滨河", "北垣", "通达", "安泰", "昭乌达", "如意"],
    utilities=[("RL01", "呼和浩特市热力有限责任公司"), ("GS01", "呼和浩特首创春华水务有限责任公司"),
               ("GD01", "国网呼和浩特供电公司"), ("RQ01", "呼和浩特中燃城市燃气发展有限公司")],
    branch_parents="北京 天津 河北 山西 陕西 包头市 鄂尔多斯市 内蒙古".split(),
    birthplaces_elsewhere=[
        "150203", "150206", "150402", "150502", "150602", "150702", "150802", "150902",
        "150921", "150926", "152502", "130102", "130702", "130722", "140105", "140213",
        "140602", "140902", "140932", "610102", "610802", "610824", "230102", "230602"],
    # China's average household is about 2.6 people.
    household_sizes=[0.22, 0.30, 0.26, 0.15, 0.07],
)

GUANGZHOU = CityProfile(
    key="guangzhou", name="广州市", short_name="广州", abbreviation="穗",
    province="广东省", province_short="广东", division_root="440100", area_code="020",
    landline_digits=8, mobile_blocks={"20": 0.35, "020": 0.05}, centre=(23.13, 113.26),
    built_up_area=(23.05, 113.20, 0.15, 0.25),
    districts=[("440103", "荔湾区"), ("440104", "越秀区"), ("440105", "海珠区"),
               ("440106", "天河区"), ("440111", "白云区"), ("440112", "黄埔区"),
               ("440113", "番禺区"), ("440114", "花都区"), ("440115", "南沙区"),
               ("440117", "从化区"), ("440118", "增城区")],
    # More, smaller streets than Hohhot's at the same population.
    layout={"tiny": (3, 2, 1), "small": (6, 3, 2)},
    street_stems=[
        "沙面", "岭南", "华林", "多宝", "逢源", "龙津", "昌华", "金花", "彩虹", "西村", "南源",
        "东山", "农林", "梅花村", "华乐", "黄花岗", "大塘", "珠光", "建设", "洪桥", "赤岗",
        "新港", "昌岗", "滨江", "素社", "海幢", "南华西", "龙凤", "沙园", "石牌", "五山",
        "员村"],
    community_stems=[
        "荔湾", "陶街", "锦城", "华侨", "海印", "东湖", "二沙", "花城", "珠江", "骏景", "棠下",
        "猎德", "沙河", "南华", "凤凰", "江燕", "宝岗", "怡乐", "晓港", "榕树", "木棉",
        "荔枝湾", "泮塘", "恩宁", "金沙", "流花", "越华", "东风", "花地", "芳村", "鹤洞",
        "聚龙"],
    utilities=[("RL01", "广州珠江新城能源有限公司"), ("GS01", "广州市自来水有限公司"),
               ("GD01", "广东电网广州供电局"), ("RQ01", "广州燃气集团有限公司")],
    branch_parents="北京 上海 深圳市 佛山市 东莞市 湖南 福建 广东".split(),
    han_surnames=(
        "陈9.0 李6.5 黄6.0 梁4.5 张4.0 林3.5 何3.0 吴3.0 刘3.0 罗2.5 王2.5 杨2.0 郑2.0 "
        "谢1.8 邓1.8 周1.5 冯1.5 曾1.5 叶1.5 钟1.2 苏1.2 卢1.2 郭1.0 余1.0 潘1.0 蔡1.0 "
        "朱1.0 赖1.0 徐0.8 胡0.8 区0.6 麦0.6 伍0.6 莫0.6 邱0.6 高0.6 关0.5 温0.5 彭0.5 "
        "江0.5 谭0.5 廖0.5 方0.4 马0.4 古0.3 黎0.4 甘0.3 欧阳0.1"),
    ethnicity_shares={"汉族": 0.985, "壮族": 0.008, "回族": 0.003, "满族": 0.003,
                      "朝鲜族": 0.001},
    born_elsewhere=0.35,
    birthplaces_elsewhere=[
        "440303", "440604", "441900", "440402", "445102", "441502", "440802", "441302",
        "430102", "430602", "431002", "450102", "450702", "360102", "360702", "510104",
        "420102", "350102", "460105"],
    household_sizes=[0.12, 0.22, 0.26, 0.20, 0.12, 0.08],
    phone_sharing_age=60, phone_sharing=0.6, caller_household_phone=0.5,
    homonymous_units=0.03, in_register=0.88,
)

PROFILES: dict[str, CityProfile] = {p.key: p for p in (HOHHOT, GUANGZHOU)}
DEFAULT = HOHHOT  # the simulator's original city


def simulated_city(sim_dir) -> CityProfile:
    """The profile of the city simulated into `sim_dir` (its manifest names it)."""
    import json
    from pathlib import Path

    manifest = json.loads((Path(sim_dir) / "manifest.json").read_text(encoding="utf-8"))
    return profile(manifest.get("city"))


def profile(key: str | CityProfile | None) -> CityProfile:
    """The profile named `key` (default hohhot); a profile is returned as it is."""
    if isinstance(key, CityProfile):
        return key
    if key is None:
        return DEFAULT
    if key not in PROFILES:
        raise KeyError(f"no city profile {key!r}; known: {sorted(PROFILES)}")
    return PROFILES[key]
