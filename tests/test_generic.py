"""The generic person model (transforms.resolution.generic): its screened edit-distance levels
decide exactly what Damerau-Levenshtein alone would."""

import random
import re

import duckdb
import pandas as pd

from transforms.resolution.engine import splink_settings
from transforms.resolution.generic import person_kind


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    letter = rng.choice("abcdexyz0123")
    return rng.choice([
        word[:i] + letter + word[i + 1:],  # substituted
        word[:i] + letter + word[i:],  # inserted
        word[:i] + word[i + 1:],  # dropped
        word[:i] + word[i + 1:i + 2] + word[i:i + 1] + word[i + 2:],  # transposed
    ])


def _pairs() -> pd.DataFrame:
    rng = random.Random(7)
    words = ["ab", "ca", "abc", "smith", "nguyen", "pridhamstreet", "2617", "165378912"]
    pairs = [("ca", "abc"), ("ab", "ba"), ("abcd", "badc"), ("", "ab")]
    for _ in range(3000):
        word = rng.choice(words)
        other = word
        for _ in range(rng.randint(1, 3)):
            other = _typo(other, rng) or other
        pairs.append((word, other))
    pairs += [(rng.choice(words), rng.choice(words)) for _ in range(200)]
    return pd.DataFrame(pairs, columns=["l", "r"])


def test_screened_damerau_levenshtein_levels_decide_as_damerau_levenshtein():
    settings = splink_settings(person_kind())["settings"].get_settings("duckdb").as_dict()
    levels = [(level["label_for_charts"], level["sql_condition"])
              for comparison in settings["comparisons"]
              for level in comparison["comparison_levels"]
              if "damerau_levenshtein" in level["sql_condition"]]
    assert len(levels) == 5  # both names, the number at 1 and 2, the postcode
    con = duckdb.connect()
    con.register("pairs", _pairs())
    for label, condition in levels:
        column, edits = re.fullmatch(r"Damerau-Levenshtein distance of (\w+) <= (\d)",
                                     label).groups()
        screened = condition.replace(f'"{column}_l"', "l").replace(f'"{column}_r"', "r")
        disagree = con.execute(f"SELECT count(*) FROM pairs WHERE ({screened}) IS DISTINCT "
                               f"FROM (damerau_levenshtein(l, r) <= {edits})").fetchone()[0]
        agree_within = con.execute(f"SELECT count(*) FROM pairs WHERE {screened}").fetchone()[0]
        assert disagree == 0 and agree_within > 100, label
