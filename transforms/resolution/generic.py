"""The resolution engine configured for generic (Latin-script) person records: given name,
surname, date of birth, street address, postcode, a social-security-like number. Used by the
public Febrl benchmarks; training, scoring and clustering are the engine's own
(`engine.train`, `engine.score_pairs`, `engine.cluster`).

Differences from a plain Splink person model, each for a kind of error such registers carry:
names compared with a swap level (given name and surname entered the other way round); the
street compared without spaces (`pridhamstreet` = `pridham street`); the number compared at
one and two edits (typed digits); clustering under the engine's hard constraints (a weak pair
attaches one record, never joins two established clusters; in a link between two lists of
unique people, one record per list).
"""

from __future__ import annotations

import pandas as pd

from transforms.resolution.engine import EntityKind

FIELDS = ("given_name", "surname", "date_of_birth", "soc_sec_id", "street_number",
          "address_1", "address_key", "suburb", "postcode", "state")


def person_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalised generic person fields: trimmed lower-case text, nulls for blanks, the street
    without spaces, dates of birth only when they are real dates."""
    out = pd.DataFrame(index=frame.index)
    for column in ("given_name", "surname", "street_number", "address_1", "suburb", "postcode",
                   "state", "soc_sec_id", "date_of_birth"):
        text = frame[column].astype("str").str.strip().str.lower()
        out[column] = text.where(text.str.len() > 0)
    for column in ("given_name", "surname"):
        out[column] = out[column].str.replace(r"[^a-z]", "", regex=True)
    out["address_key"] = out["address_1"].str.replace(r"\s+", "", regex=True)
    real = pd.to_datetime(out["date_of_birth"], format="%Y%m%d", errors="coerce").notna()
    out["date_of_birth"] = out["date_of_birth"].where(real)
    out["soc_sec_id_valid"] = False  # no check character: never a deterministic key
    return out


def _model(kind: EntityKind) -> dict:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def within_edits(column: str, edits: int):
        # Damerau-Levenshtein <= edits, the same level as cll.DamerauLevenshteinLevel; DuckDB's
        # Damerau-Levenshtein is ~5x slower than its Levenshtein, which screens first: a
        # transposition is two Levenshtein edits, so DL <= k implies Levenshtein <= 2k.
        left, right = f'"{column}_l"', f'"{column}_r"'
        return cll.CustomLevel(
            f"levenshtein({left}, {right}) <= {2 * edits} AND "
            f"damerau_levenshtein({left}, {right}) <= {edits}",
            label_for_charts=f"Damerau-Levenshtein distance of {column} <= {edits}")

    def typed(column: str, thresholds: list[int], term_frequencies: bool = False):
        # cl.DamerauLevenshteinAtThresholds with the screened levels.
        return cl.CustomComparison(output_column_name=column, comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=term_frequencies),
            *[within_edits(column, edits) for edits in thresholds], cll.ElseLevel()])

    def name(column: str, other: str):
        return cl.CustomComparison(output_column_name=column, comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            within_edits(column, 1),
            cll.JaroWinklerLevel(column, 0.9),
            cll.CustomLevel(f"{column}_l = {other}_r OR {other}_l = {column}_r",
                            label_for_charts="swapped with the other name"),
            cll.JaroWinklerLevel(column, 0.8),
            cll.ElseLevel()])

    comparisons = [
        name("given_name", "surname"),
        name("surname", "given_name"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                 datetime_format="%Y%m%d"),
        typed("soc_sec_id", [1, 2]),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.CustomComparison(output_column_name="street", comparison_levels=[
            cll.NullLevel("address_key"), cll.ExactMatchLevel("address_key"),
            cll.JaroWinklerLevel("address_key", 0.9), cll.ElseLevel()]),
        cl.JaroWinklerAtThresholds("suburb", [0.9]),
        typed("postcode", [1], term_frequencies=True),
    ]
    rules = [block_on("soc_sec_id"), block_on("given_name", "surname"),
             "l.given_name = r.surname AND l.surname = r.given_name",
             block_on("date_of_birth"), block_on("postcode"),
             block_on("street_number", "address_key"), block_on("suburb", "surname")]
    link_type = "dedupe_only" if kind.dataset_column is None else "link_only"
    return {"settings": SettingsCreator(
        link_type=link_type, unique_id_column_name="mention_idx", comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False, retain_matching_columns=False),
        "training": [block_on("date_of_birth"), block_on("postcode")],
        "deterministic": [block_on("soc_sec_id"), block_on("given_name", "surname",
                                                            "date_of_birth")]}


def person_kind(link_between: str | None = None) -> EntityKind:
    """Dedupe one list, or (with `link_between`, the column naming each record's list) link
    lists that hold each person at most once."""
    columns = FIELDS + ("soc_sec_id_valid",) + ((link_between,) if link_between else ())
    return EntityKind("person", "P", "soc_sec_id", "soc_sec_id_valid", "exact_soc_sec_id",
                      (), columns, threshold=0.5, strong=0.99, model=_model, u_max_pairs=1e5,
                      dataset_column=link_between, one_per_dataset=link_between is not None)
