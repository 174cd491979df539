"""Simulator throughput: records per second per source, wall time and peak memory.

    python benchmarks/bench_simulate.py --scale small
    python benchmarks/bench_simulate.py --scale city --out /tmp/city   # ~15 GB of disk, minutes
"""

from __future__ import annotations

import argparse
import json
import tempfile

from measure import record, run_child

CODE = """
import json, resource, time
from pathlib import Path
import pandas as pd
from simulator.run import simulate
t0 = time.perf_counter()
manifest = simulate({out!r}, scale={scale!r}, seed=42, progress=lambda m: None)
wall = time.perf_counter() - t0
truth = Path({out!r}) / "truth"
counts = {{src: len(pd.read_parquet(truth / f"{{src}}_emitted.parquet", columns=["source"]))
          for src in ("departments", "hotline", "grid", "rosters")}}
print(json.dumps({{"timings": manifest["timings"], "counts": counts, "wall": wall,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small")
    parser.add_argument("--out")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix=f"govshare-sim-{args.scale}-")
    result = json.loads(run_child(CODE.format(out=out, scale=args.scale)).splitlines()[-1])
    t = result["timings"]
    lines = [f"Scale `{args.scale}`: whole run {result['wall']:.0f} s, peak memory "
             f"{result['peak_mib']:,.0f} MiB; building the city's true state {t['city']:.1f} s.",
             "", "| source | records emitted (versions, lines, rows) | seconds | records/s |",
             "|---|---|---|---|"]
    for source, count in result["counts"].items():
        lines.append(f"| {source} | {count:,} | {t[source]:.1f} | {count / t[source]:,.0f} |")
    record(f"Simulator, scale {args.scale}",
           f"python benchmarks/bench_simulate.py --scale {args.scale}", lines)


if __name__ == "__main__":
    main()
