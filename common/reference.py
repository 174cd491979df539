"""The reference tables the suites check against (contracts/reference.md).

Read from the configured reference root (`reference.root` in the sources file): divisions.csv,
grids.csv and departments.csv. Rules name a set by its key (`{reference: community_codes}`),
so a rule file never holds the lists themselves and a corrected reference table takes effect
at the next validation or replay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

FILES = {
    "divisions": ("divisions.csv", ["code", "name", "level", "parent_code"]),
    "grids": ("grids.csv", ["grid_code", "community_code", "name", "grid_worker_staff_no"]),
    "departments": ("departments.csv", ["dept_code", "name", "kind"]),
}


class ReferenceError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    divisions: pd.DataFrame
    grids: pd.DataFrame
    departments: pd.DataFrame
    _sets: dict = field(default_factory=dict, compare=False, repr=False)

    def _codes(self, frame: pd.DataFrame, column: str, level: str | None = None) -> list[str]:
        if level is not None:
            frame = frame[frame["level"] == level]
        return sorted(frame[column].dropna().astype("str").unique())

    def value_set(self, name: str) -> list[str]:
        """A named list of allowed values (sorted, so suites built from it are stable)."""
        if name not in self._sets:
            builders = {
                "division_codes": lambda: self._codes(self.divisions, "code"),
                "district_codes": lambda: self._codes(self.divisions, "code", "district"),
                "street_codes": lambda: self._codes(self.divisions, "code", "street"),
                "community_codes": lambda: self._codes(self.divisions, "code", "community"),
                "community_names": lambda: self._codes(self.divisions, "name", "community"),
                "grid_codes": lambda: self._codes(self.grids, "grid_code"),
                "dept_codes": lambda: self._codes(self.departments, "dept_code"),
            }
            if name not in builders:
                raise ReferenceError(f"no reference set named {name!r}; known: {sorted(builders)}")
            self._sets[name] = builders[name]()
        return self._sets[name]

    def fingerprint(self) -> str:
        """Changes whenever any reference table changes (suites are rebuilt then)."""
        digest = hashlib.sha256()
        for frame in (self.divisions, self.grids, self.departments):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


def load_reference(root: str | Path | None = None, config: dict | None = None) -> Reference:
    """The reference tables under `root`, or under the sources file's `reference.root`."""
    if root is None:
        root = ((config or {}).get("reference") or {}).get("root")
    if root is None:
        raise ReferenceError("no reference root: set reference.root in the sources file")
    root = Path(root)
    frames = {}
    for attr, (filename, columns) in FILES.items():
        path = root / filename
        if not path.exists():
            raise ReferenceError(f"reference table {path} not found")
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
        missing = sorted(set(columns) - set(frame.columns))
        if missing:
            raise ReferenceError(f"{path} lacks columns {missing}")
        frames[attr] = frame[columns]
    return Reference(**frames)
