"""The simulated city's true state, shared by every source emitter.

`build_city()` (in `city.py`) creates a `City`; each emitter (departments, hotline, grid,
rosters) turns it into what its source system would emit, adds noise, and records the
ground truth. Frames use plain pandas dtypes; dates are `datetime64[ns]`; strings are clean
(noise is added by the emitters, never here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from simulator.noise import NoiseRates
from simulator.profiles import HOHHOT, CityProfile


@dataclass(frozen=True)
class Scale:
    name: str
    residents: int
    units: int
    tickets_per_year: int
    grid_events_per_year: int
    days: int  # default length of the simulated period


SCALES = {
    "tiny": Scale("tiny", residents=2_000, units=200, tickets_per_year=12_000,
                  grid_events_per_year=9_000, days=3),
    "small": Scale("small", residents=30_000, units=3_000, tickets_per_year=60_000,
                   grid_events_per_year=45_000, days=5),
    # One tenth of the city: benchmarks that cannot run the whole city in their time box.
    "district": Scale("district", residents=350_000, units=30_000, tickets_per_year=120_000,
                      grid_events_per_year=90_000, days=30),
    "city": Scale("city", residents=3_500_000, units=300_000, tickets_per_year=1_200_000,
                  grid_events_per_year=900_000, days=365),
}


@dataclass
class City:
    """True state of the city over the simulated period [start, start + days).

    divisions        code, name, level (city/district/street/community), parent_code
    grids            grid_code, community_code, name, grid_worker_staff_no
    departments      dept_code, name, kind (city_department/district_department/street_office/utility)
    service_centers  center_code, name, level, division_code
    compounds        compound_key, community_code, name, buildings (int), address_prefix
                     (the full text up to the compound, e.g. 新城区海拉尔东路街道团结社区团结小区)
    persons          person_key (P + 8 digits), name, gender ('男'/'女'), birth_date,
                     ethnicity (汉族, 蒙古族, 回族, 满族, ...), id_number (valid 18-char GB 11643),
                     phone (clean 11-digit mobile, or a landline like 0471-6961234 in the
                     profile's area code, or None),
                     household_key, relation_to_head, community_code, compound_key,
                     building (int), unit_no (int), room (str like '501'),
                     address (full clean residence address), registered_address,
                     status ('正常'/'迁出'/'死亡'), in_register (bool: has a civil-affairs row),
                     hotline_propensity (float >= 0: relative rate of calling 12345)
    units            unit_key (U + 7 digits), name (registered name), short_name (as people
                     type it, e.g. without the city prefix), uscc (valid GB 32100, or None for
                     old individual businesses), entity_type, legal_rep_person_key,
                     community_code, address, industry_code, established_on, status, phone,
                     is_branch (bool), parent_unit_key (for 分公司, else None)
    workers          person_key, community_code, street_code, post, post_grade, staff_no,
                     hired_on, political_status, education  (community workers; grid workers
                     have post '网格员' and the staff_no used in grids.csv and the grid app)
    party_members    member_no, person_key, party_org_name, workplace_unit_key (or None),
                     in_service (0/1), residence_community_code, reported_to_community (0/1),
                     reported_on (date or NaT)
    """

    seed: int
    scale: Scale
    start: date
    days: int
    noise: NoiseRates
    divisions: pd.DataFrame
    grids: pd.DataFrame
    departments: pd.DataFrame
    service_centers: pd.DataFrame
    compounds: pd.DataFrame
    persons: pd.DataFrame
    units: pd.DataFrame
    workers: pd.DataFrame
    party_members: pd.DataFrame
    profile: CityProfile = HOHHOT  # the city's name, divisions, habits (simulator/profiles.py)
    extras: dict = field(default_factory=dict)

    @property
    def communities(self) -> pd.DataFrame:
        return self.divisions[self.divisions["level"] == "community"]

    @property
    def streets(self) -> pd.DataFrame:
        return self.divisions[self.divisions["level"] == "street"]

    @property
    def city_code(self) -> str:
        return self.divisions.loc[self.divisions["level"] == "city", "code"].iloc[0]
