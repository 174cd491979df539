"""Run one file-drop extraction in a fresh process and print what it did and its peak memory:
`python tests/bounded_support.py grid|rosters DROP_ROOT LANDING_ROOT [LIMITS_JSON]`.

The parser-limit tests run their bombs through this, so the peak resident set size measured
is that of the extraction alone, not of the test session: on Linux the process's own
high-water mark (`VmHWM`, reset by exec), since `getrusage`'s ru_maxrss keeps the forking
parent's peak across exec."""

from __future__ import annotations

import json
import resource
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.base import Window  # noqa: E402
from connectors.landing import RawLanding  # noqa: E402
from pipeline.extraction import build_connector  # noqa: E402


class MemoryState:
    """Watermarks and the file manifest in a dict (the connector sees only this interface)."""

    def __init__(self):
        self.manifest: dict[str, str] = {}

    def file_manifest(self, source):
        return dict(self.manifest)

    def record_file(self, source, path, sha256, run_id):
        self.manifest[path] = sha256


def main(kind: str, root: str, landing_root: str, limits: str | None = None) -> None:
    from common.sources import kinds

    [registered] = [k for k in kinds() if k.section == kind]
    settings = {"root": root} | ({"limits": json.loads(limits)} if limits else {})
    [source] = registered.configured({kind: settings})
    connector = build_connector(source.name, {kind: settings})
    window = Window(datetime(2026, 11, 1), datetime(2026, 12, 1))
    report = connector.extract(window, RawLanding(landing_root), MemoryState(), "run-1")
    print(json.dumps({
        "received": report.received, "landed": report.landed,
        "quarantined": [[q.location, q.reason, None if q.raw is None else len(q.raw)]
                        for q in report.quarantined],
        "peak_rss_mib": peak_rss_mib(),
    }))


def peak_rss_mib() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main(*sys.argv[1:])
