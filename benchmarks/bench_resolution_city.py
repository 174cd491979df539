"""Resolution against the simulator's ground truth: pairwise precision / recall / F1 and
B-cubed for residents and units, overall, among linkable person records (a valid ID number,
or a name with a phone or birth date), per source and per noise kind; beside them a baseline,
plain Splink on the same staged records without our normalisation. Usage:
    python benchmarks/bench_resolution_city.py [--scale tiny|small|city] [--days N]
        [--root DIR]  (stage into DIR once and reuse it on later runs)"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from resolution_support import staged_city  # noqa: E402

from benchmarks.measure import bcubed, pairwise, peak_rss_mib, record  # noqa: E402
from pipeline.resolution import resolve  # noqa: E402
from transforms.resolution import mentions as mn  # noqa: E402
from warehouse.engine import read_frame  # noqa: E402

# Noise on a staged record's field that reaches a mention of another source.
NOISE_SOURCE = {("market_regulation.enterprises", "legal_rep"): mn.LEGAL_REP,
                ("organization.party_members", "workplace"): mn.WORKPLACE}
IDENTITY_FIELDS = r"name|id_number|phone|uscc|address|caller|community|birth"


def scores(frame: pd.DataFrame, id_column: str, truth_key: str) -> str:
    s = {**pairwise(frame[id_column], frame[truth_key]),
         **bcubed(frame[id_column], frame[truth_key])}
    return ", ".join(f"{k} {v:.4f}" for k, v in s.items()) + f" ({len(frame):,} records)"


def noise_recall(frame: pd.DataFrame, noise: pd.DataFrame, id_column: str,
                 truth_key: str) -> list[str]:
    """Per noise kind: of the true pairs that involve a record carrying it, the share linked."""
    frame = frame.assign(
        partners=frame.groupby(truth_key)[truth_key].transform("size") - 1,
        linked=frame.groupby([truth_key, id_column])[truth_key].transform("size") - 1)
    carried = noise.merge(frame, on=["source", "source_record_id"])
    lines = []
    for label, part in carried.groupby("label"):
        part = part.drop_duplicates(["source", "source_record_id"])
        if part["partners"].sum() == 0:
            continue
        lines.append(f"  - {label}: R {part['linked'].sum() / part['partners'].sum():.4f} "
                     f"({len(part):,} records)")
    return lines


def _noise(sim: Path) -> pd.DataFrame:
    noise = pd.concat([pd.read_parquet(f) for f in (sim / "truth").glob("*_noise.parquet")])
    noise = noise[noise["field"].str.contains(IDENTITY_FIELDS)]
    for (source, prefix), mention_source in NOISE_SOURCE.items():
        moved = (noise["source"] == source) & noise["field"].str.startswith(prefix)
        noise.loc[moved, "source"] = mention_source
    return noise.assign(label=noise["field"] + ": " + noise["kind"])


def baseline(config: dict, kind: str) -> pd.DataFrame:
    """Plain Splink on the raw staged fields (no normalisation, no hard constraints):
    source, source_record_id, baseline_id (connected components of pairs >= 0.9)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    engine = sa.create_engine(config["warehouse_url"])
    sources = mn.PERSON_SOURCES if kind == "resident" else mn.UNIT_SOURCES
    with engine.connect() as conn:
        until = conn.exec_driver_sql("SELECT max(landed_at) FROM staging.record_version").scalar()
        latest = read_frame(conn, mn.latest_sql({mn.STAGED_SOURCE[s] for s in sources}),
                            {"until": until})
    engine.dispose()
    raw = mn._extract(latest, mn._PERSON_SQL if kind == "resident" else mn._UNIT_SQL)
    identity = ["name", "id_number", "phone"] if kind == "resident" else ["name", "uscc"]
    raw = raw[raw[identity].notna().any(axis=1)].reset_index(drop=True)
    if kind == "resident":
        columns = ["name", "id_number", "phone", "birth", "community_code"]
        comparisons = [cl.JaroWinklerAtThresholds("name", [0.9, 0.8]),
                       cl.DamerauLevenshteinAtThresholds("id_number", [2]),
                       cl.DamerauLevenshteinAtThresholds("phone", [1]),
                       cl.ExactMatch("birth"), cl.ExactMatch("community_code")]
        rules = [block_on("id_number"), block_on("phone"), block_on("name", "birth"),
                 block_on("name", "community_code")]
        training, deterministic = [block_on("name"), block_on("phone")], [block_on("id_number")]
    else:
        columns = ["name", "uscc", "phone", "community_code"]
        comparisons = [cl.JaroWinklerAtThresholds("name", [0.9, 0.8]),
                       cl.DamerauLevenshteinAtThresholds("uscc", [2]),
                       cl.ExactMatch("phone"), cl.ExactMatch("community_code")]
        rules = [block_on("uscc"), block_on("name"), block_on("phone")]
        training, deterministic = [block_on("name"), block_on("uscc")], [block_on("uscc")]
    data = raw[columns].astype(object).where(raw[columns].notna(), None)
    data.insert(0, "uid", np.arange(len(data), dtype=np.int64))
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(data), SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="uid", comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in training:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=0.9)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.9).as_pandas_dataframe()
    label = dict(zip(clusters["uid"].astype(np.int64), clusters["cluster_id"].astype(str)))
    return pd.DataFrame({"source": raw["source"], "source_record_id": raw["source_record_id"],
                         "baseline_id": [label.get(i, f"b{i}") for i in range(len(raw))]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="bench_resolution_"))
    saved = root / "bench_config.json"
    if saved.exists():
        config = json.loads(saved.read_text())
        sim = root / "sim"
    else:
        root.mkdir(parents=True, exist_ok=True)
        config, sim = staged_city(root, scale=args.scale, days=args.days)
        saved.write_text(json.dumps(config))
    engine = sa.create_engine(config["warehouse_url"])
    last_day = f"day{args.days - 1}"
    # The last day is held back, the rest resolved in full, then the last day resolved
    # incrementally against those entities (the daily run's path).
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS staging.bench_held")
        conn.exec_driver_sql("CREATE TABLE staging.bench_held AS SELECT * FROM "
                             "staging.record_version WHERE run_id = ?", (last_day,))
        conn.exec_driver_sql("DELETE FROM staging.record_version WHERE run_id = ?",
                             (last_day,))
    try:
        t0 = time.perf_counter()
        counts = resolve(config, "bench-full", full=True)
        full_s = time.perf_counter() - t0
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO staging.record_version SELECT * FROM "
                                 "staging.bench_held")
            conn.exec_driver_sql("DROP TABLE staging.bench_held")
    t0 = time.perf_counter()
    daily = resolve(config, "bench-day")
    day_s = time.perf_counter() - t0
    lines = [f"- full resolution of days 0..{args.days - 2}: {full_s:.1f} s, peak memory "
             f"{peak_rss_mib():,.0f} MiB (process, incl. staging); "
             f"{counts['resident']['entities']:,} residents, "
             f"{counts['unit']['entities']:,} units",
             f"- incremental run for {last_day} against those entities: {day_s:.1f} s "
             f"(residents: {daily['resident']['mentions']:,} new/changed mentions, scope "
             f"{daily['resident']['scope']:,}; units: {daily['unit']['mentions']:,}, scope "
             f"{daily['unit']['scope']:,})",
             "- scores below: the state after the incremental run"]
    noise = _noise(sim)
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
        t0 = time.perf_counter()
        plain = frame.merge(baseline(config, kind), on=["source", "source_record_id"],
                            how="left")
        plain["baseline_id"] = plain["baseline_id"].fillna("none:" + plain["source_record_id"])
        lines.append(f"- {kind}s, baseline (plain Splink on raw staged fields, "
                     f"{time.perf_counter() - t0:.0f} s): "
                     f"{scores(plain, 'baseline_id', truth_key)}")
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
        lines.append(f"- {kind}s by noise kind (pairwise recall of the records carrying it; "
                     f"ours / baseline):")
        ours = noise_recall(frame, noise, f"{kind}_id", truth_key)
        theirs = noise_recall(plain, noise, "baseline_id", truth_key)
        by_label = {line.split(": R ")[0]: line.split(": R ")[1] for line in theirs}
        lines += [f"{line} / baseline {by_label.get(line.split(': R ')[0], '-').split()[0]}"
                  for line in ours]
    engine.dispose()
    record(f"Resolution against ground truth ({args.scale})",
           f"python benchmarks/bench_resolution_city.py --scale {args.scale} --days {args.days}",
           lines)


if __name__ == "__main__":
    main()
