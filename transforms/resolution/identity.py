"""Stable ids: a cluster keeps the id most of its members had; merges and splits are
recorded so that holders of an old id can follow it; ids are never reused."""

from __future__ import annotations

import numpy as np
import pandas as pd


def format_id(prefix: str, numbers) -> list[str]:
    return [f"{prefix}{int(n):012d}" for n in numbers]


def assign_ids(labels: pd.Series, keys: pd.Series, previous: pd.Series, prefix: str,
               last_issued: int) -> tuple[pd.Series, pd.DataFrame, list[str], int]:
    """Ids for clustered mentions.

    `labels`: cluster of each mention; `keys`: a sortable mention key (for deterministic
    order); `previous`: each mention's id before this run (null for new mentions).
    Each old id goes to the cluster holding most of its mentions (ties: the cluster whose
    first mention key sorts first); a cluster given several old ids keeps the lowest (the
    oldest) and the others are merged into it; a cluster given none gets a new id above
    `last_issued`, recorded as split from any old ids among its members.
    Returns (ids, history [old_id, new_id, reason], retired old ids, new last_issued).
    """
    frame = pd.DataFrame({"label": labels.to_numpy(), "key": keys.to_numpy(),
                          "old": previous.to_numpy()}, index=labels.index)
    first_key = frame.groupby("label")["key"].min()
    held = frame.dropna(subset=["old"]).groupby(["old", "label"]).size().rename("n") \
        .reset_index()
    held["first_key"] = held["label"].map(first_key)
    heirs = held.sort_values(["old", "n", "first_key"], ascending=[True, False, True]) \
        .drop_duplicates("old")
    kept = heirs.sort_values(["label", "old"]).drop_duplicates("label")
    id_of_label = dict(zip(kept["label"], kept["old"]))
    merged = heirs[~heirs["old"].isin(kept["old"])]
    history = [pd.DataFrame({"old_id": merged["old"].to_numpy(),
                             "new_id": merged["label"].map(id_of_label).to_numpy(),
                             "reason": "merge"})]
    fresh = first_key[~first_key.index.isin(kept["label"])].sort_values()
    numbers = np.arange(last_issued + 1, last_issued + 1 + len(fresh))
    id_of_label.update(zip(fresh.index, format_id(prefix, numbers)))
    ids = frame["label"].map(id_of_label)
    split = held[held["label"].isin(fresh.index)]
    history.append(pd.DataFrame({"old_id": split["old"].to_numpy(),
                                 "new_id": split["label"].map(id_of_label).to_numpy(),
                                 "reason": "split"}))
    history = pd.concat(history, ignore_index=True).drop_duplicates(["old_id", "new_id"])
    return ids, history, sorted(merged["old"]), int(last_issued + len(fresh))
