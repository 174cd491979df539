"""Matching: exact links on valid identifiers, Splink (Fellegi-Sunter, DuckDB) for the rest,
and clustering under hard constraints.

Clustering rules (why: precision first, and no chains through one weak link):
1. mentions sharing a valid ID number (USCC) form one cluster;
3. Splink pairs at or above `threshold` are applied in descending probability; a merge is
   refused when the two clusters carry different valid identifiers, or conflicting birth
   dates or genders (residents);
4. two clusters that both already hold several mentions merge only through a strong pair
   (probability >= `strong`); a weaker pair may only attach a single mention to a cluster;
2. (units) a mention without a valid identifier whose normalised name key is the key of
   exactly one record of the register (`register_source`: the enterprise register lists every
   unit) joins that record: an exact key that is unique in the register is rare enough to be
   decisive. A key shared by two registered units decides nothing (left to Splink). A branch
   name the register does not hold (XX有限公司广州分公司 typed for XX有限公司) joins the
   registered unit its parent key names; a registered branch keeps its own key, so a
   branch and its parent stay apart;
3. Splink pairs that each list an entity at most once (`one_per_dataset`), a
   cluster never takes two mentions of the same dataset.
5. a pair the kind's `veto` rejects is never applied (residents: names that disagree
   completely, with no ID number near-agreeing: a shared household phone is not the same
   person; units: an exact name that several registered units carry, with neither credit
   code nor community agreeing: homonymous units stay apart).

Usage counts (`usage`): how many people use a phone, how many registered units carry a
name key. A phone several people use is weaker evidence (its own comparison level, as
Splink's term-frequency adjustments weaken common values), and a name key several registered
units carry decides nothing on its own. The counts are over every current mention holding
the value (the pipeline supplies them for an incremental scope, so that they equal a full
run's); without them they are counted within the mentions given.

Event places (`event_place_sources`): a hotline ticket's address is where the caller's
problem is, a grid event's community where the event happened; neither is a home. Their
place agreeing with another mention's is evidence as a home's is; disagreeing, it is no
evidence at all (the null level of the location and home comparisons), where two homes that
disagree count against a link. No level of its own, so no EM session can find it without
matches and drive its m to 0 (a level "elsewhere, not both homes" failed so); and the
phone-blocked EM session, whose pairs are mostly households at one home, leaves the location
to the other sessions (its rule also requires the same street).

An `EntityKind` carries its own Splink model (`model`), so the same training, scoring and
clustering serve residents, units and other record types (e.g. the Febrl benchmark's).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from common.sources import HOTLINE
from transforms.resolution.mentions import GRID_PERSONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntityKind:
    name: str  # resident / unit
    prefix: str  # R / U
    key: str  # the identifier column: id_number / uscc
    key_valid: str
    exact_rule: str
    conflict_columns: tuple[str, ...]
    columns: tuple[str, ...]  # what Splink sees
    threshold: float = 0.9
    strong: float = 0.99
    # Builds {"settings": SettingsCreator, "training": [EM blocking rules],
    # "deterministic": [rules for the prior]}; None: the resident / unit model below.
    model: Callable[[EntityKind], dict] | None = None
    # link_only: mentions are split into Splink input tables by this column.
    dataset_column: str | None = None
    one_per_dataset: bool = False
    u_max_pairs: float = 2e6  # random pairs sampled to estimate u
    # Rule 2: the source that lists every entity once, and (mention column, register column,
    # match_rule) tried in order for mentions without a valid identifier.
    register_source: str | None = None
    register_keys: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = ()
    # A register join is refused where the mention and the register record are both placed
    # (this column) and the places differ: a homonym of another community.
    register_place: str | None = None
    # (count column, value column, counted column, only mentions of this source or None):
    # the number of distinct `counted` values among mentions holding each `value`.
    usage: tuple[tuple[str, str, str, str | None], ...] = ()
    # Pairs (positions into the mentions) that must never link: a boolean mask per pair.
    veto: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | None = None
    # Sources whose mentions are placed where something happened (the problem a caller
    # reports, a grid event), not at a home: Splink sees `event_place` true for them.
    event_place_sources: tuple[str, ...] = ()


EVENT_PLACE_ELSEWHERE = "missing on one side, or an event's place elsewhere"
HOME_NOT_COMPARED = "no compound on one side, the phones agreeing, or an event elsewhere"


def _pairs_where(condition: str, columns: list[str]):
    """A veto: `condition` (DuckDB SQL over <column>_l / <column>_r) evaluated for every
    pair, set-based in an in-process DuckDB (the same functions Splink's levels use)."""
    def veto(mentions: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        import duckdb

        # A column the mentions lack is unknown (null): a condition on it vetoes nothing.
        known = pd.DataFrame({c: mentions[c] if c in mentions else
                              pd.Series([None] * len(mentions), dtype=object)
                              for c in columns})
        sides = [known.iloc[pairs[side].to_numpy()].reset_index(drop=True)
                 .add_suffix(suffix) for side, suffix in (("left", "_l"), ("right", "_r"))]
        connection = duckdb.connect()
        try:
            connection.register("pairs", pd.concat(sides, axis=1))
            mask = connection.execute(f"SELECT coalesce({condition}, false) FROM pairs") \
                .fetchnumpy()
        finally:
            connection.close()
        return np.asarray(next(iter(mask.values())), dtype=bool)
    return veto


def _near(column: str, edits: int) -> str:
    return f"coalesce(levenshtein({column}_l::VARCHAR, {column}_r::VARCHAR) <= {edits}, false)"


# Residents: names that share nothing (surnames differ, the readings are not even close: the
# else level of the name comparison), with no ID number within two edits. A phone or an
# address in common is then a household's, not a person's.
_names_disagree = _pairs_where(
    "surname_pinyin_l::VARCHAR <> surname_pinyin_r::VARCHAR AND coalesce("
    "jaro_winkler_similarity(name_pinyin_l::VARCHAR, name_pinyin_r::VARCHAR), 0) < 0.8 "
    f"AND NOT {_near('id_number', 2)}",
    ["surname_pinyin", "name_pinyin", "id_number"])
# Units: a name key several registered units carry is no evidence by itself: such a pair
# needs its credit codes within two edits or the same community.
_homonymous = _pairs_where(
    "greatest(name_holders_l::BIGINT, name_holders_r::BIGINT) > 1 "
    "AND unit_name_key_l::VARCHAR = unit_name_key_r::VARCHAR "
    f"AND NOT {_near('uscc', 2)} "
    "AND NOT coalesce(community_code_l::VARCHAR = community_code_r::VARCHAR, false)",
    ["name_holders", "unit_name_key", "uscc", "community_code"])


RESIDENT = EntityKind(
    "resident", "R", "id_number", "id_valid", "exact_id",
    ("birth_date", "birth_ym", "gender"),
    ("name", "name_pinyin", "surname_pinyin", "given_pinyin", "id_number", "id_valid", "phone",
     "phone_users", "birth_date", "birth_ym", "gender", "district_code", "street_code",
     "community_code", "compound", "building", "household"),
    usage=(("phone_users", "phone", "name_pinyin", None),), veto=_names_disagree,
    event_place_sources=(HOTLINE, GRID_PERSONS))
UNIT = EntityKind(
    "unit", "U", "uscc", "uscc_valid", "exact_uscc", (),
    ("name", "unit_name_key", "parent_name_key", "is_branch", "uscc", "uscc_valid", "phone",
     "community_code", "name_holders"), threshold=0.5, strong=0.99,
    register_source="market_regulation.enterprises",
    # The same name in the same community first: it tells homonymous units apart.
    register_keys=((("unit_name_key", "community_code"), ("unit_name_key", "community_code"),
                    "exact_name_community"),
                   (("unit_name_key",), ("unit_name_key",), "exact_name_key"),
                   (("parent_name_key",), ("unit_name_key",), "registered_parent")),
    usage=(("name_holders", "unit_name_key", "source_record_id",
            "market_regulation.enterprises"),), veto=_homonymous,
    register_place="community_code")


def with_usage(kind: EntityKind, mentions: pd.DataFrame,
               population: pd.DataFrame | None = None) -> pd.DataFrame:
    """`mentions` with the kind's usage counts, counted over `population` (every current
    mention holding the values; default `mentions` itself). A null value counts 0; a count
    whose columns the mentions do not carry is left out."""
    population = mentions if population is None else population
    out = mentions.copy()
    for column, value, counted, source in kind.usage:
        if not {value, counted} | ({"source"} if source else set()) <= set(population):
            continue
        holders = population if source is None else \
            population[population["source"] == source]
        counts = holders.dropna(subset=[value, counted]).groupby(value)[counted].nunique()
        out[column] = mentions[value].map(counts).fillna(0).astype(np.int64)
    return out


def _not_both_keyed(kind: EntityKind, rule: str) -> str:
    """A blocking rule that skips pairs whose sides both carry a valid identifier: the
    deterministic step decides those."""
    return f"({rule}) AND NOT (coalesce(l.{kind.key_valid}, false) AND " \
           f"coalesce(r.{kind.key_valid}, false))"


def splink_settings(kind: EntityKind) -> dict:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    if kind.model is not None:
        return kind.model(kind)
    if kind is RESIDENT:
        comparisons = [
            cl.CustomComparison(output_column_name="name", comparison_levels=[
                cll.NullLevel("surname_pinyin"),
                cll.ExactMatchLevel("name").configure(label_for_charts="same characters"),
                cll.ExactMatchLevel("name_pinyin").configure(
                    label_for_charts="same pinyin (homophone)"),
                cll.And(cll.ExactMatchLevel("surname_pinyin"),
                        cll.JaroWinklerLevel("given_pinyin", 0.88)).configure(
                    label_for_charts="same surname, given name pinyin close"),
                cll.CustomLevel(
                    "surname_pinyin_l = surname_pinyin_r AND (given_pinyin_l IS NULL OR "
                    "given_pinyin_r IS NULL)", label_for_charts="same surname, given name "
                    "unknown (李先生)"),
                cll.JaroWinklerLevel("name_pinyin", 0.8),
                cll.ElseLevel()]),
            cl.CustomComparison(output_column_name="id_number", comparison_levels=[
                cll.NullLevel("id_number"), cll.ExactMatchLevel("id_number"),
                cll.LevenshteinLevel("id_number", 2), cll.ElseLevel()]),
            cl.CustomComparison(output_column_name="phone", comparison_levels=[
                cll.NullLevel("phone"),
                cll.CustomLevel("phone_l = phone_r AND phone_users_l <= 1",
                                label_for_charts="same phone, one person uses it"),
                cll.ExactMatchLevel("phone").configure(
                    label_for_charts="same phone, several people use it"),
                cll.LevenshteinLevel("phone", 1), cll.ElseLevel()]),
            cl.CustomComparison(output_column_name="birth", comparison_levels=[
                cll.NullLevel("birth_ym"), cll.ExactMatchLevel("birth_date"),
                cll.ExactMatchLevel("birth_ym"), cll.ElseLevel()]),
            cl.ExactMatch("gender"),
            cl.CustomComparison(output_column_name="location", comparison_levels=[
                # A caller's or a grid event's place is where something happened, not a
                # home: the same place is evidence, another one says nothing (a caller
                # reporting a problem across town is not someone else).
                cll.CustomLevel(
                    "street_code_l IS NULL OR street_code_r IS NULL OR ((event_place_l OR "
                    "event_place_r) AND community_code_l IS DISTINCT FROM community_code_r)",
                    label_for_charts=EVENT_PLACE_ELSEWHERE).configure(is_null_level=True),
                cll.ExactMatchLevel("community_code"),
                cll.ExactMatchLevel("street_code"), cll.ExactMatchLevel("district_code"),
                cll.ElseLevel()]),
            # The compound of a home (registers and callers at home name it): a comparison
            # of its own, compared only where both sides name one, so that its m is learnt
            # among the pairs that can agree on it (under the location, the many matches
            # without a compound made "same compound" look rarer among matches than among
            # random pairs). Not where the phones agree: a household shares both, and one
            # of them is all the household evidence there is. An event's place elsewhere
            # says nothing, as for the location.
            cl.CustomComparison(output_column_name="home", comparison_levels=[
                cll.CustomLevel(
                    "compound_l IS NULL OR compound_r IS NULL OR community_code_l IS NULL OR "
                    "community_code_r IS NULL OR coalesce(phone_l = phone_r, false) OR "
                    "((event_place_l OR event_place_r) AND NOT "
                    "(community_code_l = community_code_r AND compound_l = compound_r))",
                    label_for_charts=HOME_NOT_COMPARED).configure(is_null_level=True),
                cll.CustomLevel("community_code_l = community_code_r AND compound_l = compound_r",
                                label_for_charts="same compound of the same community"),
                cll.ElseLevel()]),
            cl.ExactMatch("household"),
        ]
        rules = ["l.phone = r.phone", "l.name_pinyin = r.name_pinyin AND l.birth_ym = r.birth_ym",
                 "l.name_pinyin = r.name_pinyin AND l.community_code = r.community_code",
                 "l.id_number = r.id_number",
                 "l.surname_pinyin = r.surname_pinyin AND l.birth_date = r.birth_date",
                 "l.name = r.name AND l.street_code = r.street_code"]
        # Pairs sharing a phone are mostly one household at one home, whatever the names:
        # the location says nothing there about being one person, and EM, finding no match
        # whose homes disagree, drives that level's m to 0 (which Splink refuses). The
        # phone session takes pairs on the same street, so it leaves the location (whose
        # columns its rule uses) to the other two sessions.
        training = [block_on("phone", "street_code"), block_on("name_pinyin", "birth_ym"),
                    block_on("id_number")]
        deterministic = ["l.id_number = r.id_number AND l.id_valid AND r.id_valid"]
    else:
        comparisons = [
            cl.CustomComparison(output_column_name="name", comparison_levels=[
                cll.NullLevel("unit_name_key"), cll.ExactMatchLevel("name"),
                cll.ExactMatchLevel("unit_name_key"),
                cll.JaroWinklerLevel("unit_name_key", 0.92),
                cll.ExactMatchLevel("parent_name_key"),
                cll.JaroWinklerLevel("unit_name_key", 0.8), cll.ElseLevel()]),
            cl.CustomComparison(output_column_name="uscc", comparison_levels=[
                cll.NullLevel("uscc"), cll.ExactMatchLevel("uscc"),
                cll.LevenshteinLevel("uscc", 2), cll.ElseLevel()]),
            cl.ExactMatch("phone"),
            cl.CustomComparison(output_column_name="location", comparison_levels=[
                cll.NullLevel("community_code"), cll.ExactMatchLevel("community_code"),
                cll.ExactMatchLevel("street_code"), cll.ExactMatchLevel("district_code"),
                cll.ElseLevel()]),
        ]
        rules = ["l.unit_name_key = r.unit_name_key", "l.uscc = r.uscc", "l.phone = r.phone",
                 "l.parent_name_key = r.parent_name_key AND l.community_code = r.community_code",
                 "substr(l.unit_name_key, 1, 4) = substr(r.unit_name_key, 1, 4) "
                 "AND l.community_code = r.community_code"]
        # Between them the two sessions estimate every comparison; a session blocked on the
        # community would pair every unit of a community (tens of millions at city scale).
        training = [block_on("unit_name_key"), block_on("uscc")]
        deterministic = ["l.uscc = r.uscc AND l.uscc_valid AND r.uscc_valid"]
    return {"settings": SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="mention_idx",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[_not_both_keyed(kind, r) for r in rules],
        retain_intermediate_calculation_columns=False, retain_matching_columns=False),
        "training": training, "deterministic": deterministic}


def _splink_frame(kind: EntityKind, mentions: pd.DataFrame) -> pa.Table:
    """What Splink sees, as an Arrow table: text columns typed as strings with real nulls
    (never Python objects: a city's mentions would take gigabytes so)."""
    mentions = with_usage(kind, mentions) if any(
        column not in mentions.columns for column, *_ in kind.usage) else mentions
    frame = mentions[[c for c in kind.columns if c in mentions.columns]].copy()
    if kind is UNIT:
        frame["street_code"] = frame["community_code"].str[:9]
        frame["district_code"] = frame["community_code"].str[:6]
    if kind.event_place_sources:
        frame["event_place"] = mentions["source"].isin(kind.event_place_sources).to_numpy() \
            if "source" in mentions else False
    frame[kind.key_valid] = frame[kind.key_valid].fillna(False).astype(bool)
    columns = {"mention_idx": pa.array(np.arange(len(frame), dtype=np.int64))}
    for column in frame.columns:
        values = frame[column]
        text = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        columns[column] = pa.array(values, type=pa.string() if text else None,
                                   from_pandas=True)
    return pa.table(columns)


@contextmanager
def _linker(kind: EntityKind, mentions: pd.DataFrame, settings) -> Iterator:
    """A Splink linker over `mentions` on a DuckDB of its own, closed (its tables freed)
    on leaving."""
    import duckdb
    from splink import DuckDBAPI, Linker

    from common.duckdb_limits import configure_duckdb

    connection = duckdb.connect()
    try:
        configure_duckdb(connection)  # bounded memory, spilling to disk beyond it
        db_api = DuckDBAPI(connection)
        frame = _splink_frame(kind, mentions)
        if kind.dataset_column is None:
            tables = db_api.register(frame)
        else:
            datasets = frame[kind.dataset_column]
            tables = [db_api.register(frame.filter(pc.equal(datasets, name)),
                                      dataset_display_name=str(name))
                      for name in sorted(pc.unique(datasets).to_pylist())]
        # Splink's settings validation only logs warnings, which this log level drops.
        yield Linker(tables, settings, log_level=logging.ERROR, validate_settings=False)
    finally:
        connection.close()


def train(kind: EntityKind, mentions: pd.DataFrame, seed: int = 1) -> str:
    """Estimate the model's m and u without labels; returns it as Splink JSON."""
    spec = splink_settings(kind)
    with _linker(kind, mentions, spec["settings"]) as linker:
        linker.training.estimate_probability_two_random_records_match(
            spec["deterministic"], recall=0.8)
        # Splink counts u in chunks (a probe, then ten, stopping early once every level is
        # seen 100 times), which pays off on samples of 1e8+ pairs; on up to a million pairs
        # the chunks' fixed per-query cost dominates: count them in one query.
        chunks = {"num_chunks": 1} if kind.u_max_pairs <= 1e6 else {}
        linker.training.estimate_u_using_random_sampling(max_pairs=kind.u_max_pairs,
                                                         seed=seed, **chunks)
        # EM iterates over counts of agreement patterns, not every pair: the same estimates
        # for a model without term frequencies; with them (as in Splink's Febrl4 tutorial)
        # EM leaves them out, and scoring still applies them.
        for rule in spec["training"]:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        return json.dumps(linker.misc.save_model_to_json())


def score_pairs(kind: EntityKind, mentions: pd.DataFrame, model_json: str,
                threshold: float | None = None) -> pd.DataFrame:
    """Scored candidate pairs (positions into `mentions`): left, right, match_probability."""
    if len(mentions) < 2:
        return pd.DataFrame({"left": [], "right": [], "match_probability": []})
    with _linker(kind, mentions, json.loads(model_json)) as linker:
        predictions = linker.inference.predict(
            threshold_match_probability=kind.threshold if threshold is None else threshold)
        pairs = predictions.as_duckdbpyrelation().select(
            "mention_idx_l", "mention_idx_r", "match_probability").to_arrow_table()
    return pd.DataFrame({"left": pairs["mention_idx_l"].to_numpy().astype(np.int64),
                         "right": pairs["mention_idx_r"].to_numpy().astype(np.int64),
                         "match_probability": pairs["match_probability"].to_numpy()
                         .astype(float)})


def explain_pair(kind: EntityKind, left: dict, right: dict, model_json: str) -> pd.DataFrame:
    """Each comparison's level and Bayes factor for two mentions, plus the total."""
    frame = pd.DataFrame([left, right])
    model = json.loads(model_json)
    records = _splink_frame(kind, frame).to_pylist()
    with _linker(kind, frame, model) as linker:
        scored = linker.inference.score_pair(records[0], records[1]).as_pandas_dataframe()
    rows = []
    for comparison in model["comparisons"]:
        column = comparison["output_column_name"]
        gamma = int(scored[f"gamma_{column}"].iloc[0])
        # Splink numbers the non-null levels from the last (0, the else level) upwards.
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        level = levels[len(levels) - 1 - gamma] if gamma >= 0 else None
        null = next((lv.get("label_for_charts") for lv in comparison["comparison_levels"]
                     if lv.get("is_null_level")), None)
        if level is None:
            label = null if null in (EVENT_PLACE_ELSEWHERE, HOME_NOT_COMPARED) \
                else "missing on one side"
        else:
            label = level.get("label_for_charts") or level["sql_condition"]
        # The level's Bayes factor is its m / u probability in the trained model.
        bf = 1.0 if level is None else \
            float(level.get("m_probability") or 1) / float(level.get("u_probability") or 1)
        rows.append({"comparison": column, "level": label, "bayes_factor": bf,
                     "match_weight": float(np.log2(bf))})
    total = pd.DataFrame(rows)
    total.attrs["match_probability"] = float(scored["match_probability"].iloc[0])
    total.attrs["match_weight"] = float(scored["match_weight"].iloc[0])
    return total


# ---- clustering ----------------------------------------------------------------------------

class _Clusters:
    """Union-find whose roots carry the attributes the hard constraints check, each as an
    integer code per distinct value (-1: unknown), so that a city's mentions cost a few
    arrays rather than millions of Python objects."""

    def __init__(self, attributes: list[np.ndarray], datasets: np.ndarray | None = None):
        self.parent = np.arange(len(attributes[0]))
        self.size = np.ones(len(attributes[0]), dtype=np.int64)
        self.attributes = [a.copy() for a in attributes]
        # With one_per_dataset: the datasets each root's cluster already draws on.
        self.datasets = None if datasets is None else [{d} for d in datasets]

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def roots(self) -> np.ndarray:
        """Every element's root (pointer jumping over the whole forest at once)."""
        parent = self.parent
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent.copy()
            parent = grand

    def join_groups(self, first: np.ndarray, members: np.ndarray) -> None:
        """Put each of `members` (no two of them joined yet) under `first` (its group's first
        member); a group's root keeps each attribute's first known value in member order."""
        moved = members != first
        self.parent[members[moved]] = first[moved]
        self.size[:] = np.bincount(self.parent, minlength=len(self.parent))
        order = np.argsort(first, kind="stable")
        for values in self.attributes:
            known = order[values[members[order]] >= 0]
            _, at = np.unique(first[known], return_index=True)
            values[first[known[at]]] = values[members[known[at]]]

    def conflict(self, a: int, b: int) -> bool:
        for values in self.attributes:
            x, y = values[a], values[b]
            if x >= 0 and y >= 0 and x != y:
                return True
        return self.datasets is not None and not self.datasets[a].isdisjoint(self.datasets[b])

    def union(self, a: int, b: int) -> None:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        for values in self.attributes:
            if values[a] < 0:
                values[a] = values[b]
        if self.datasets is not None:
            self.datasets[a] |= self.datasets[b]


def _attribute(values: pd.Series) -> np.ndarray:
    return pd.factorize(values.astype(object).where(values.notna(), None))[0].astype(np.int64)


def _joined(mentions: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """The columns' values joined into one key; null where any is null."""
    key = mentions[columns[0]].astype("str")
    for column in columns[1:]:
        key = key + "\x1f" + mentions[column].astype("str")
    return key


def _join_register(kind: EntityKind, mentions: pd.DataFrame, clusters: _Clusters,
                   valid: np.ndarray) -> np.ndarray:
    """Rule 2: mentions joined to the one register record holding their key; the rule that
    joined each (None where none did)."""
    joined = np.full(len(mentions), None, dtype=object)
    if kind.register_source is None or "source" not in mentions.columns:
        return joined
    register = (mentions["source"] == kind.register_source).to_numpy()
    done = valid | register
    place = mentions[kind.register_place].to_numpy(dtype=object) \
        if kind.register_place in mentions else np.full(len(mentions), None, dtype=object)
    for columns, register_columns, rule in kind.register_keys:
        if not set(columns + register_columns) <= set(mentions.columns):
            continue  # mentions that do not carry a key's parts (no community) skip its rule
        keys = _joined(mentions, register_columns).where(register)
        counts = keys.value_counts()
        unique = register & keys.isin(counts.index[counts == 1]).to_numpy()
        holder = pd.Series(np.flatnonzero(unique), index=keys[unique].to_numpy())
        wanted = _joined(mentions, columns)
        target = wanted.map(holder).to_numpy()
        # A key the register holds (once or more) is decided here: no later, looser rule.
        present = wanted.isin(counts.index).to_numpy()
        for i in np.flatnonzero(~done & present & pd.notna(target)):
            here, there = place[i], place[int(target[i])]
            if pd.notna(here) and pd.notna(there) and here != there:
                continue
            a, b = clusters.find(int(i)), clusters.find(int(target[i]))
            if a != b and not clusters.conflict(a, b):
                clusters.union(a, b)
                joined[i] = rule
        done |= present
    return joined


def cluster(kind: EntityKind, mentions: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Cluster label, match_rule and match_score per mention (positions of `mentions`)."""
    n = len(mentions)
    valid = mentions[kind.key_valid].fillna(False).astype(bool).to_numpy()
    key = mentions[kind.key].where(valid)
    attributes = [_attribute(key)] + [_attribute(mentions[c]) for c in kind.conflict_columns]
    clusters = _Clusters(attributes, mentions[kind.dataset_column].to_numpy()
                         if kind.one_per_dataset else None)
    # Rule 1: a valid identifier is one entity. (Conflicts inside it are the source's word.)
    keyed = np.flatnonzero(key.notna().to_numpy())
    first_of_key = pd.Series(keyed).groupby(key.iloc[keyed].to_numpy()).transform("min")
    clusters.join_groups(first_of_key.to_numpy(), keyed)
    register_rule = _join_register(kind, mentions, clusters, valid)
    pairs = pairs.astype({"left": np.int64, "right": np.int64})
    pairs = pairs[~(valid[pairs["left"].to_numpy()] & valid[pairs["right"].to_numpy()])]
    if kind.veto is not None and len(pairs):
        if any(column not in mentions.columns for column, *_ in kind.usage):
            mentions = with_usage(kind, mentions)
        pairs = pairs[~kind.veto(mentions, pairs)]
    pairs = pairs.sort_values(["match_probability", "left", "right"],
                              ascending=[False, True, True], kind="stable")
    attached = np.full(n, np.nan)
    for left, right, probability in zip(pairs["left"].to_numpy(), pairs["right"].to_numpy(),
                                        pairs["match_probability"].to_numpy()):
        a, b = clusters.find(int(left)), clusters.find(int(right))
        if a == b:
            for m in (left, right):
                if not valid[m] and np.isnan(attached[m]):
                    attached[m] = probability
            continue
        if clusters.size[a] > 1 and clusters.size[b] > 1 and probability < kind.strong:
            continue
        if clusters.conflict(a, b):
            continue
        clusters.union(a, b)
        for m in (left, right):
            if not valid[m] and np.isnan(attached[m]):
                attached[m] = probability
    labels = clusters.roots()
    rule = np.where(valid, kind.exact_rule, np.where(
        register_rule != None, register_rule,  # noqa: E711 (elementwise)
        np.where(np.isnan(attached), "new_entity", "probabilistic")))
    score = np.where(valid | (register_rule != None), 1.0, attached)  # noqa: E711
    return pd.DataFrame({"label": labels, "match_rule": rule, "match_score": score},
                        index=mentions.index)
