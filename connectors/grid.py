"""Grid-management app exports (contract: grid.md) from a drop folder or an object store.

The vendor drops one JSON Lines file per day (`grid/events_YYYYMMDD.jsonl`, sometimes
gzipped) and may later replace a day's file with a corrected one under the same name. The
connector recognises files by content: each file version is landed byte for byte and its
lines are landed as records (or quarantined) exactly once, and the file manifest in the
warehouse state remembers each path's sha256 so a re-export is noticed and an unchanged
file is never landed twice.

A window (since, until] takes the files whose day ends inside it, plus every earlier file
that is new or changed since it was last landed (a late delivery or a re-export), so a
backfill over a range lands exactly what the same days run one by one land.

Where the files live is configuration: `root` is a local folder or any fsspec URL
(`s3://bucket/prefix` with `storage_options`, `memory://...` in tests).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tempfile
import zlib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from zoneinfo import ZoneInfo

import fsspec
import pandas as pd

from connectors.base import Connector, ExtractionState, ExtractReport, QuarantinedItem, Window
from connectors.landing import RawLanding

SOURCE = "grid.events"
DEFAULT_PATTERN = "grid/events_*.jsonl*"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
REQUIRED_FIELDS = ("event_id", "grid_code", "reporter_staff_no", "reporter_name",
                   "reported_at", "updated_at", "source", "category_code", "category",
                   "description", "address_text", "status")
OPTIONAL_FIELDS = ("lat", "lon", "persons", "units", "deadline_at", "dispatched_dept_code",
                   "closed_at", "hotline_ticket_id")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
RECORD_COLUMNS = ["event_id", "updated_at", "source_file", "line_no", "raw", "file_sha256"]
_required_values = itemgetter(*REQUIRED_FIELDS)
FILE_DAY = re.compile(r"events_(\d{8})\.jsonl(?:\.gz)?$")
GZIP_MAGIC = b"\x1f\x8b"


def _local(moment: datetime) -> datetime:
    """A window bound as naive Asia/Shanghai time (the files are named in local days)."""
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None) if moment.tzinfo else moment


def file_day(relative_path: str) -> date | None:
    """The day a file covers, from its name (`events_YYYYMMDD.jsonl[.gz]`)."""
    match = FILE_DAY.search(relative_path)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


class GridFileConnector(Connector):
    """Lands the grid app's daily exports.

    Config: `root` (folder or fsspec URL); optional `pattern` (glob under root, default
    `grid/events_*.jsonl*`), `storage_options` (for fsspec) and `lookback_days`: how many
    days before the window earlier files are re-checked for re-exports. Unset, every
    earlier file is read and hashed on each run, which misses nothing but grows with the
    archive; a re-export older than the look-back is then only found by a backfill run
    over its day."""

    source = SOURCE

    def __init__(self, config: Mapping):
        self.root = str(config["root"]).rstrip("/")
        self.pattern = config.get("pattern") or DEFAULT_PATTERN
        self.fs, self.root_path = fsspec.core.url_to_fs(
            self.root, **dict(config.get("storage_options") or {}))
        self.root_path = self.root_path.rstrip("/")
        lookback = config.get("lookback_days")
        self.lookback_days = None if lookback in (None, "") else int(lookback)

    def list_files(self) -> list[str]:
        """Paths (relative to root, `/`-separated) of every file matching the pattern."""
        found = self.fs.glob(f"{self.root_path}/{self.pattern}", detail=True)
        prefix = self.root_path + "/"
        return sorted(p.removeprefix(prefix) for p, info in found.items()
                      if p.startswith(prefix) and info.get("type") != "directory")

    def _candidates(self, window: Window, files: list[str]) -> list[tuple[str, date | None]]:
        """Files whose day ends by the window's end (earlier ones land only if new or
        changed), and files without a day in their name (landed when new or changed)."""
        until = _local(window.until)
        oldest = None if self.lookback_days is None else \
            _local(window.since) - timedelta(days=self.lookback_days)
        chosen = []
        for path in files:
            day = file_day(path)
            if day is None:
                chosen.append((path, day))
                continue
            # A day's file covers (day 00:00, day+1 00:00]: it belongs where that end falls.
            end = datetime.combine(day, datetime.min.time()) + timedelta(days=1)
            if end <= until and (oldest is None or end > oldest):
                chosen.append((path, day))
        return chosen

    def extract(self, window: Window, landing: RawLanding, state: ExtractionState,
                run_id: str) -> ExtractReport:
        report = ExtractReport(source=SOURCE, run_id=run_id, window=window)
        manifest = state.file_manifest(SOURCE)
        drift: set[str] = set()
        counts = {"files_landed": 0, "files_unchanged": 0, "blank_lines": 0}
        for path, day in self._candidates(window, self.list_files()):
            try:
                data = self.fs.cat_file(f"{self.root_path}/{path}")
            except Exception as exc:  # noqa: BLE001 (any storage error: report it, go on)
                report.received += 1
                report.quarantined.append(QuarantinedItem(
                    location=path, reason=f"file cannot be read: {type(exc).__name__}: {exc}",
                    raw=None))
                continue
            sha256 = hashlib.sha256(data).hexdigest()
            if manifest.get(path) == sha256:
                counts["files_unchanged"] += 1
                continue
            # Partitioned by the file's own day, so how runs were sliced does not matter.
            run_date = day or _local(window.until).date()
            self._land_file(path, run_date, data, sha256, landing, state, run_id, report,
                            drift, counts)
        report.schema_drift = sorted(drift)
        report.notes.update(counts)
        return report

    def _land_file(self, path: str, run_date: date, data: bytes, sha256: str,
                   landing: RawLanding, state: ExtractionState, run_id: str,
                   report: ExtractReport, drift: set[str], counts: dict) -> None:
        # Each version of a file gets its own place: a re-export never overwrites the bytes
        # of the version it replaces, and landing the same version again is idempotent.
        version = sha256[:16]
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "export"
            copy.write_bytes(data)
            landed_file = landing.write_file(SOURCE, run_date, copy, f"{version}/{path}")
        report.files.append(str(landed_file))

        rows = []
        text = self._decompress(path, data, report)
        if text is not None:
            rows = self._parse_lines(path, text, sha256, report, drift, counts)
        if rows:
            frame = pd.DataFrame(rows, columns=RECORD_COLUMNS)
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
            part = landing.write_records(SOURCE, run_date, f"{stem}-{version}", run_id, frame,
                                         key_column="event_id")
            report.files.append(str(part))
            report.landed += len(rows)
        state.record_file(SOURCE, path, sha256, run_id)
        counts["files_landed"] += 1

    @staticmethod
    def _decompress(path: str, data: bytes, report: ExtractReport) -> bytes | None:
        """The file's text bytes, or None after quarantining it (it counts as one item
        received, so received = landed + quarantined always holds)."""
        reason = None
        if data[:2] == GZIP_MAGIC:
            try:
                return gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                reason = f"gzip file cannot be decompressed: {exc}"
        elif path.endswith(".gz"):
            reason = "file is named .gz but is not gzip data"
        else:
            return data
        report.received += 1
        report.quarantined.append(QuarantinedItem(location=path, reason=reason, raw=None))
        return None

    @staticmethod
    def _parse_lines(path: str, text: bytes, sha256: str, report: ExtractReport,
                     drift: set[str], counts: dict) -> list[tuple]:
        rows = []
        if text.startswith(b"\xef\xbb\xbf"):
            text = text[3:]
        lines = text.split(b"\n")
        if lines[-1] == b"":  # the newline that ends the last line
            lines.pop()
        for line_no, raw in enumerate(lines, start=1):
            raw = raw.removesuffix(b"\r")
            if not raw.strip():
                counts["blank_lines"] += 1
                continue
            report.received += 1
            location = f"{path}#L{line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                report.quarantined.append(QuarantinedItem(
                    location, "broken line: not valid UTF-8", raw.decode("utf-8", "replace")))
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                report.quarantined.append(QuarantinedItem(
                    location, f"broken line: not valid JSON ({exc})", line))
                continue
            if not isinstance(record, dict):
                report.quarantined.append(QuarantinedItem(
                    location, "broken line: JSON but not an object", line))
                continue
            try:
                required = _required_values(record)
            except KeyError:
                required = (None,)
            if None in required or "" in required:
                missing = [f for f in REQUIRED_FIELDS if record.get(f) in (None, "")]
                report.quarantined.append(QuarantinedItem(
                    location, f"missing required field: {', '.join(missing)}", line))
                continue
            unknown = record.keys() - KNOWN_FIELDS
            if unknown:
                drift.update(unknown)
            rows.append((str(record["event_id"]), str(record["updated_at"]), path, line_no,
                         line, sha256))
        return rows
