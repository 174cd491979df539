"""Resolution against the simulator's ground truth: pairwise precision / recall / F1 and
B-cubed for residents and units, overall, among linkable person records (a valid ID number,
or a name with a phone or birth date) and per source. Usage:
    python benchmarks/bench_resolution_city.py [--scale tiny|small|city] [--days N]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from resolution_support import staged_city  # noqa: E402

from benchmarks.common import peak_rss_mib, record  # noqa: E402
from transforms.resolution.run import resolve  # noqa: E402


def pairwise(pred: pd.Series, truth: pd.Series) -> dict:
    def pairs(*keys):
        sizes = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(keys)}) \
            .groupby(list(f"k{i}" for i in range(len(keys)))).size()
        return float((sizes * (sizes - 1) / 2).sum())
    both, predicted, true = pairs(pred, truth), pairs(pred), pairs(truth)
    p = both / predicted if predicted else 1.0
    r = both / true if true else 1.0
    return {"P": p, "R": r, "F1": 2 * p * r / (p + r) if p + r else 0.0}


def bcubed(pred: pd.Series, truth: pd.Series) -> dict:
    frame = pd.DataFrame({"p": pred.to_numpy(), "t": truth.to_numpy()})
    both = frame.groupby(["p", "t"])["p"].transform("size")
    p = (both / frame.groupby("p")["p"].transform("size")).mean()
    r = (both / frame.groupby("t")["t"].transform("size")).mean()
    return {"B3_P": p, "B3_R": r, "B3_F1": 2 * p * r / (p + r)}


def scores(frame: pd.DataFrame, id_column: str, truth_key: str) -> str:
    s = {**pairwise(frame[id_column], frame[truth_key]),
         **bcubed(frame[id_column], frame[truth_key])}
    return ", ".join(f"{k} {v:.4f}" for k, v in s.items()) + f" ({len(frame):,} records)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small")
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_resolution_"))
    config, sim = staged_city(root, scale=args.scale, days=args.days)
    t0 = time.perf_counter()
    counts = resolve(config, "bench-full")
    full_s = time.perf_counter() - t0
    engine = sa.create_engine(config["warehouse_url"])
    lines = [f"- full resolution: {full_s:.1f} s, peak memory {peak_rss_mib():,.0f} MiB "
             f"(process, incl. staging); {counts['resident']['entities']:,} residents, "
             f"{counts['unit']['entities']:,} units"]
    for kind, suffix, truth_key in (("resident", "persons", "person_key"),
                                    ("unit", "units", "unit_key")):
        truth = pd.concat([pd.read_parquet(f) for f in (sim / "truth").glob(f"*_{suffix}.parquet")])
        with engine.connect() as conn:
            xref = pd.read_sql(sa.text(f"SELECT * FROM shared.{kind}_xref"), conn)
            mentions = pd.read_sql(sa.text(
                "SELECT source, source_record_id, name, phone, birth_date, id_valid "
                "FROM core.person_mention"), conn) if kind == "resident" else None
        frame = truth.merge(xref, on=["source", "source_record_id"], how="left")
        # Records without a mention (an anonymous caller) are their own entity.
        frame[f"{kind}_id"] = frame[f"{kind}_id"].fillna("none:" + frame["source_record_id"])
        lines.append(f"- {kind}s overall: {scores(frame, f'{kind}_id', truth_key)}")
        if mentions is not None:
            evidence = mentions[mentions["id_valid"].fillna(False).astype(bool)
                                | (mentions["name"].notna()
                                   & (mentions["phone"].notna() | mentions["birth_date"].notna()))]
            linkable = frame.merge(evidence[["source", "source_record_id"]])
            lines.append(f"- residents among linkable records: "
                         f"{scores(linkable, f'{kind}_id', truth_key)}")
        for source, part in frame.groupby("source"):
            # Per source: pairs that involve this source's records, against everything.
            touched = frame[frame[truth_key].isin(part[truth_key])
                            | frame[f"{kind}_id"].isin(part[f"{kind}_id"])]
            lines.append(f"  - {source}: {scores(touched, f'{kind}_id', truth_key)}")
    incremental_note = "incremental one-day run: see test_resolution_city (not timed here)"
    lines.append(f"- {incremental_note}")
    engine.dispose()
    record(f"Resolution against ground truth ({args.scale})",
           f"python benchmarks/bench_resolution_city.py --scale {args.scale} --days {args.days}",
           lines)


if __name__ == "__main__":
    main()
