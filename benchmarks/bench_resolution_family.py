"""Resolution accuracy over a family of simulated cities: every city profile × several seeds,
each staged through the pipeline and resolved in full, scored against its ground truth; the
**worst** case of each figure is what counts (goals: residents precision >= 0.999, F1 among
records with strong evidence >= 0.995, units F1 >= 0.98), with per-source and per-noise-kind
worst cases beside it. Usage:
    python benchmarks/bench_resolution_family.py [--scale small] [--seeds 1 2 3]
        [--cities KEY ...] [--noise default] [--root DIR] [--label TEXT]
        [--no-record]
`--root` keeps each staged city (DIR/<city>-<seed>/) for later runs, which then only
resolve again (on a fresh copy of the staged warehouse)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from resolution_support import staged_city  # noqa: E402

from benchmarks.bench_resolution_city import _noise  # noqa: E402
from benchmarks.measure import pairwise, record  # noqa: E402
from pipeline.resolution import resolve  # noqa: E402
from simulator.profiles import PROFILES  # noqa: E402

GOALS = {"residents P": 0.999, "residents F1 (strong evidence)": 0.995, "units F1": 0.98}


def _staged(root: Path, city: str, seed: int, scale: str, noise: str, days: int) -> tuple:
    run = root / f"{city}-{noise}-{seed}"
    saved = run / "bench_config.json"
    if not saved.exists():
        run.mkdir(parents=True, exist_ok=True)
        config, _ = staged_city(run, scale=scale, seed=seed, days=days, city=city, noise=noise)
        saved.write_text(json.dumps(config))
    return json.loads(saved.read_text()), run / "sim"


def _fresh_copy(config: dict, run: Path) -> dict:
    """The staged warehouse copied, so that every measurement resolves from scratch."""
    staged = Path(config["warehouse_url"].removeprefix("duckdb:///"))
    copy = run / "resolved.duckdb"
    shutil.copyfile(staged, copy)
    return {**config, "warehouse_url": f"duckdb:///{copy}"}


def _truth(sim: Path, suffix: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in (sim / "truth").glob(f"*_{suffix}.parquet")])


def _scored(engine, sim: Path, kind: str) -> pd.DataFrame:
    suffix, truth_key = ("persons", "person_key") if kind == "resident" else ("units", "unit_key")
    with engine.connect() as conn:
        xref = pd.read_sql(sa.text(f"SELECT source, source_record_id, {kind}_id "
                                   f"FROM shared.{kind}_xref"), conn)
    frame = _truth(sim, suffix).merge(xref, on=["source", "source_record_id"], how="left")
    # A record without a mention (an anonymous caller) is its own entity.
    frame["id"] = frame[f"{kind}_id"].fillna("none:" + frame["source_record_id"])
    return frame.rename(columns={truth_key: "truth"})


def _strong(engine) -> pd.DataFrame:
    """Person records with strong evidence: a valid ID number, or a name with a phone or a
    birth date."""
    with engine.connect() as conn:
        return pd.read_sql(sa.text(
            "SELECT source, source_record_id FROM core.person_mention WHERE id_valid "
            "OR (name IS NOT NULL AND (phone IS NOT NULL OR birth_date IS NOT NULL))"), conn)


def _per_noise(frame: pd.DataFrame, noise: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """Per noise kind: pairwise recall of the true pairs that involve a record carrying it."""
    frame = frame.assign(partners=frame.groupby("truth")["truth"].transform("size") - 1,
                         linked=frame.groupby(["truth", "id"])["truth"].transform("size") - 1)
    carried = noise.merge(frame, on=["source", "source_record_id"])
    out = {}
    for label, part in carried.groupby("label"):
        part = part.drop_duplicates(["source", "source_record_id"])
        if part["partners"].sum():
            out[label] = (part["linked"].sum() / part["partners"].sum(), len(part))
    return out


def measure(config: dict, sim: Path) -> dict:
    """Every figure of one staged city, resolved in full."""
    began = time.perf_counter()
    counts = resolve(config, "bench-family", full=True)
    seconds = time.perf_counter() - began
    engine = sa.create_engine(config["warehouse_url"])
    figures: dict = {"seconds": seconds, "residents": counts["resident"]["entities"],
                     "units": counts["unit"]["entities"], "per_source": {}, "per_noise": {}}
    noise = _noise(sim)
    for kind, label in (("resident", "residents"), ("unit", "units")):
        frame = _scored(engine, sim, kind)
        overall = pairwise(frame["id"], frame["truth"])
        figures[f"{label} P"], figures[f"{label} R"] = overall["P"], overall["R"]
        figures[f"{label} F1"] = overall["F1"]
        if kind == "resident":
            strong = frame.merge(_strong(engine))
            figures["residents F1 (strong evidence)"] = pairwise(strong["id"],
                                                                 strong["truth"])["F1"]
        for source, part in frame.groupby("source"):
            # Pairs that involve this source's records, against everything.
            touched = frame[frame["truth"].isin(part["truth"]) | frame["id"].isin(part["id"])]
            figures["per_source"][f"{label}: {source}"] = \
                pairwise(touched["id"], touched["truth"]) | {"records": len(part)}
        for noise_label, (recall, n) in _per_noise(frame, noise).items():
            figures["per_noise"][f"{label}: {noise_label}"] = {"R": recall, "records": n}
    engine.dispose()
    return figures


HEADLINE = ["residents P", "residents F1 (strong evidence)", "residents R", "residents F1",
            "units P", "units F1", "units R"]


def report(runs: dict[str, dict], label: str) -> list[str]:
    lines = [f"- {label}" if label else "- (no label)",
             f"- runs: {', '.join(runs)} (each resolved in full from its staged records)", "",
             "| figure | worst | run | " + " | ".join(runs) + " | goal |",
             "|---|---|---|" + "---|" * len(runs) + "---|"]
    for figure in HEADLINE:
        values = {run: f[figure] for run, f in runs.items()}
        worst = min(values, key=values.get)
        goal = GOALS.get(figure)
        lines.append(f"| {figure} | **{values[worst]:.4f}** | {worst} | "
                     + " | ".join(f"{v:.4f}" for v in values.values())
                     + f" | {'>= ' + str(goal) if goal else 'reported'} |")
    lines += ["", "Per source, worst case over the runs (pairs that involve the source's "
              "records):", "", "| source | worst P | worst R | worst F1 | records (max) |",
              "|---|---|---|---|---|"]
    sources = sorted({s for f in runs.values() for s in f["per_source"]})
    for source in sources:
        rows = [f["per_source"][source] for f in runs.values() if source in f["per_source"]]
        lines.append(f"| {source} | {min(r['P'] for r in rows):.4f} | "
                     f"{min(r['R'] for r in rows):.4f} | {min(r['F1'] for r in rows):.4f} | "
                     f"{max(r['records'] for r in rows):,} |")
    lines += ["", "Per noise kind, worst pairwise recall over the runs of the records carrying "
              "it (kinds carried by fewer than 20 records in every run left out):", "",
              "| noise | worst R | records (max) |", "|---|---|---|"]
    kinds = sorted({k for f in runs.values() for k in f["per_noise"]})
    for kind in kinds:
        rows = [f["per_noise"][kind] for f in runs.values() if kind in f["per_noise"]]
        if max(r["records"] for r in rows) >= 20:
            lines.append(f"| {kind} | {min(r['R'] for r in rows):.4f} | "
                         f"{max(r['records'] for r in rows):,} |")
    seconds = [f["seconds"] for f in runs.values()]
    lines += ["", f"- full resolution per city: {min(seconds):.0f}–{max(seconds):.0f} s"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cities", nargs="+", default=sorted(PROFILES))
    parser.add_argument("--noise", default="default")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--label", default="", help="what this measurement is of")
    parser.add_argument("--section", default=None, help="docs/benchmarks.md section name")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="bench_family_"))
    runs = {}
    for city in args.cities:
        for seed in args.seeds:
            config, sim = _staged(root, city, seed, args.scale, args.noise, args.days)
            name = f"{city}/{seed}"
            runs[name] = measure(_fresh_copy(config, sim.parent), sim)
            print(name, {k: round(v, 4) for k, v in runs[name].items()
                         if isinstance(v, float)}, flush=True)
    (root / "family.json").write_text(json.dumps(runs, indent=1))
    lines = report(runs, args.label)
    command = (f"python benchmarks/bench_resolution_family.py --scale {args.scale} --seeds "
               f"{' '.join(map(str, args.seeds))} --cities {' '.join(args.cities)} "
               f"--noise {args.noise}")
    section = args.section or f"Resolution over the family of cities ({args.scale}, " \
                              f"{args.noise} noise)"
    if args.no_record:
        print("\n".join(lines))
    else:
        record(section, command, lines)


if __name__ == "__main__":
    main()
