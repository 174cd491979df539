"""Golden records by survivorship rules.

Residents: the name, community, address and household come from the most authoritative
source that has them (the civil-affairs register keeps household registration and is
checked against the ID card; party members and rosters are checked at enrolment; legal
representatives are copied from business filings; grid workers and hotline operators type
what they hear): residents > party members > rosters > legal reps > grid > hotline; ties go
to the most recently seen. ID number, gender and birth date come from a valid ID number
(they are encoded in it), else by the same order. The phone is the most recently seen one
(people change phones; the newest contact wins).

Units: name, entity type and status from the enterprise register (the registered name),
then unit reports, party members' workplaces and grid events; the USCC is the valid one;
the phone is the most recent; the community follows the source order.
"""

from __future__ import annotations

import pandas as pd

from transforms.resolution import mentions as m

RESIDENT_PRIORITY = {m.RESIDENTS: 0, m.PARTY: 1, m.ROSTERS: 2, m.LEGAL_REP: 3,
                     m.GRID_PERSONS: 4, m.HOTLINE: 5}
UNIT_PRIORITY = {m.ENTERPRISES: 0, m.REPORTS: 1, m.WORKPLACE: 2, m.GRID_UNITS: 3}


def _by(frame: pd.DataFrame, id_column: str, order: list[str], ascending: list[bool],
        columns: list[str]) -> pd.DataFrame:
    """First non-null value of each column per entity, in `order`."""
    ranked = frame[[id_column, *order, *columns]].sort_values([id_column, *order],
                                                             ascending=[True, *ascending])
    return ranked.groupby(id_column, sort=True)[columns].first()


def _counts(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    grouped = frame.groupby(id_column, sort=True)
    return pd.DataFrame({"source_count": grouped["source"].nunique(),
                         "mention_count": grouped.size(),
                         "first_seen": grouped["first_seen"].min(),
                         "last_seen": grouped["last_seen"].max()})


def _golden(mentions: pd.DataFrame, id_column: str, priority: dict[str, int],
            identifier: str, valid_flag: str, by_source: list[str],
            from_identifier: list[str]) -> pd.DataFrame:
    """One golden record per entity: `by_source` columns from the most authoritative source
    (ties to the most recently seen), the valid `identifier` and the columns encoded in it
    (`from_identifier`) from a mention whose identifier is valid, else by source order, the
    newest phone, and the mention counts."""
    frame = mentions.assign(priority=mentions["source"].map(priority),
                            no_valid=~mentions[valid_flag].fillna(False).astype(bool))
    frame["valid_identifier"] = frame[identifier].where(~frame["no_valid"])
    return pd.concat([
        _by(frame, id_column, ["priority", "last_seen"], [True, False], by_source),
        _by(frame, id_column, ["no_valid", "priority"], [True, True],
            ["valid_identifier", *from_identifier])
        .rename(columns={"valid_identifier": identifier}),
        _by(frame, id_column, ["last_seen"], [False], ["phone"]),
        _counts(frame, id_column)], axis=1)


def resident_golden(mentions: pd.DataFrame) -> pd.DataFrame:
    out = _golden(mentions, "resident_id", RESIDENT_PRIORITY, "id_number", "id_valid",
                  ["name", "community_code", "address", "household"], ["gender", "birth_date"])
    out["birth_date"] = pd.to_datetime(out["birth_date"], errors="coerce").dt.date
    return out.reset_index()


def unit_golden(mentions: pd.DataFrame) -> pd.DataFrame:
    return _golden(mentions, "unit_id", UNIT_PRIORITY, "uscc", "uscc_valid",
                   ["name", "entity_type", "status", "community_code"], []).reset_index()
