"""The pipeline's `City` for a simulator profile, as the sources file's `city:` section and
the reference divisions would give it."""

from __future__ import annotations

import pandas as pd

from simulator.profiles import CityProfile
from simulator.profiles import profile as city_profile
from transforms.city import City, city_from_reference


def pipeline_city(profile: str | CityProfile = "hohhot",
                  divisions: pd.DataFrame | None = None) -> City:
    profile = city_profile(profile)
    if divisions is None:
        divisions = pd.DataFrame({"code": [profile.city_code], "name": [profile.name],
                                  "level": ["city"], "parent_code": [None]})
    return city_from_reference(divisions, profile.sources_city())
