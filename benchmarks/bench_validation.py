"""Validation throughput of the largest source (civil_affairs.residents) through the GX runner
against the same checks as plain vectorised pandas (the floor), and their ratio.

    python benchmarks/bench_validation.py --scale small --rows 1000000   # small city, repeated
    python benchmarks/bench_validation.py --scale city                   # 3.5M residents

`--rows` repeats (or cuts) the simulated register to that many rows with fresh keys, so a
large batch can be measured without building the whole city.
"""

from __future__ import annotations

import argparse
import json

from measure import record, run_child

CODE = """
import json, resource, time
import numpy as np
import pandas as pd
from simulator.city import build_city
from simulator.departments import SOURCE_STREAM, build_tables
from simulator.noise import Noiser
from simulator.run import write_reference
from common.reference import load_reference
from transforms.records import checked_frame
from expectations import runner
import tempfile, pathlib

SOURCE = "civil_affairs.residents"
t0 = time.perf_counter()
city = build_city(42, {scale!r})
rng = np.random.default_rng([city.seed, SOURCE_STREAM])
table = build_tables(city, Noiser(city.noise, rng), rng)[SOURCE]
rows = {rows} or len(table)
copies = -(-rows // len(table))
table = pd.concat([table] * copies, ignore_index=True).iloc[:rows]
table["resident_no"] = pd.Series(np.arange(rows)).map("MZ{{:010d}}".format).astype("str")
landed = table.assign(
    _source_record_id=table["resident_no"], _extracted_at=pd.Timestamp.now(tz="UTC"),
    _run_id="bench",
    _content_hash=pd.util.hash_pandas_object(table, index=False).astype("str"))
ref_dir = pathlib.Path(tempfile.mkdtemp())
write_reference(city, ref_dir)
reference = load_reference(ref_dir / "reference")
prepare = time.perf_counter() - t0

ruleset = runner.load_rules(SOURCE)
runner.validate_landed(SOURCE, landed.head(1000), reference)  # imports, context, registry

def floor():
    frame = checked_frame(SOURCE, landed, ruleset.time_columns)
    critical = np.zeros(len(frame), dtype=bool)
    warned = np.zeros(len(frame), dtype=bool)
    failing = {{}}
    for rule in ruleset.rules:
        if rule.severity == "batch":
            continue
        mask = runner.failing_mask(frame, rule, reference)
        failing[rule.id] = int(mask.sum())
        if rule.severity == "critical":
            critical |= mask
        else:
            warned |= mask
    return failing, int(critical.sum()), int(warned.sum())

def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return min(times), out

floor_s, (failing, n_critical, n_warned) = best(floor, {repeat})
gx_s, outcome = best(lambda: runner.validate_landed(SOURCE, landed, reference,
                                                    recent_counts=[rows] * 7), {repeat})
assert outcome.stats["failed_rows_per_rule"] == {{k: v for k, v in failing.items() if v}}
assert len(outcome.quarantined) == n_critical
print(json.dumps({{"rows": rows, "prepare": prepare, "floor": floor_s, "runner": gx_s,
                  "gx_validate": outcome.stats["gx_seconds"], "rules": len(ruleset.rules),
                  "quarantined": n_critical, "warned": n_warned, "failing": failing,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "city"])
    parser.add_argument("--rows", type=int, default=0, help="rows to validate (0: as built)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    out = run_child(CODE.format(scale=args.scale, rows=args.rows, repeat=args.repeat))
    r = json.loads(out.splitlines()[-1])
    rows = r["rows"]
    lines = [
        f"civil_affairs.residents, {rows:,} rows (simulated `{args.scale}` register"
        + (", repeated with fresh keys" if args.rows else "") + f"), {r['rules']} rules; "
        f"{r['quarantined']:,} rows fail a critical rule, {r['warned']:,} a warning rule; "
        f"best of {args.repeat}; peak memory {r['peak_mib']:,.0f} MiB.",
        "",
        "| path | seconds | rows/s |",
        "|---|---|---|",
        f"| plain vectorised pandas, same checks (floor) | {r['floor']:.2f} | "
        f"{rows / r['floor']:,.0f} |",
        f"| `validate_landed` (GX 1.x suite, one validate call, sorting, quarantine frame) | "
        f"{r['runner']:.2f} | {rows / r['runner']:,.0f} |",
        f"| of which GX `batch.validate` | {r['gx_validate']:.2f} | "
        f"{rows / r['gx_validate']:,.0f} |",
        "",
        f"Ratio runner / floor: **{r['runner'] / r['floor']:.2f}×**.",
    ]
    record(f"Validation throughput, {rows:,} residents",
           "python benchmarks/bench_validation.py --scale "
           f"{args.scale}" + (f" --rows {args.rows}" if args.rows else ""), lines)


if __name__ == "__main__":
    main()
