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
(`s3://bucket/prefix` with `storage_options`, `memory://...` in tests). Listing, the
manifest, landing and file quarantine are the shared file-drop machinery
(`connectors.filedrop`).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from common.settings import GridSettings
from connectors.base import QuarantinedItem, Window
from connectors.filedrop import FileContents, FileDropConnector
from connectors.limits import LimitExceeded, ParserLimits, inflate_gzip, too_deep

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


class GridFileConnector(FileDropConnector):
    """Lands the grid app's daily exports.

    Config: `root` (folder or fsspec URL); optional `pattern` (glob under root, default
    `grid/events_*.jsonl*`), `storage_options` (for fsspec) and `lookback_days`: how many
    days before the window earlier files are re-checked for re-exports. Unset, every
    earlier file is read and hashed on each run, which misses nothing but grows with the
    archive; a re-export older than the look-back is then only found by a backfill run
    over its day."""

    source = SOURCE
    key_column = "event_id"
    # An object store may fail on one file: the others still land, that one waits.
    read_errors_quarantine = True

    settings_model = GridSettings

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        self.pattern = self.settings.pattern or DEFAULT_PATTERN
        self.lookback_days = self.settings.lookback_days

    def start_notes(self) -> dict[str, Any]:
        return {"blank_lines": 0}

    def window_files(self, window: Window, notes: dict[str, Any]) -> list[str]:
        """Files whose day ends by the window's end (earlier ones land only if new or
        changed), and files without a day in their name (landed when new or changed)."""
        until = _local(window.until)
        oldest = None if self.lookback_days is None else \
            _local(window.since) - timedelta(days=self.lookback_days)
        chosen = []
        for path in self.glob(self.pattern):
            day = file_day(path)
            if day is None:
                chosen.append(path)
                continue
            # A day's file covers (day 00:00, day+1 00:00]: it belongs where that end falls.
            end = datetime.combine(day, datetime.min.time()) + timedelta(days=1)
            if end <= until and (oldest is None or end > oldest):
                chosen.append(path)
        return chosen

    def run_date(self, relative_path: str, window: Window) -> date:
        # Partitioned by the file's own day, so how runs were sliced does not matter.
        return file_day(relative_path) or _local(window.until).date()

    def landed_name(self, relative_path: str, sha256: str) -> str:
        # Each version of a file gets its own place: a re-export never overwrites the bytes
        # of the version it supersedes, and landing the same version again is idempotent.
        return f"{sha256[:16]}/{relative_path}"

    def part_name(self, relative_path: str, sha256: str) -> str:
        stem = relative_path.rsplit("/", 1)[-1].split(".", 1)[0]
        return f"{stem}-{sha256[:16]}"

    def parse(self, relative_path: str, data: bytes, sha256: str,
              notes: dict[str, Any]) -> FileContents:
        """The file's lines as records; a damaged gzip file, or one over a limit, is
        quarantined whole."""
        if data[:2] == GZIP_MAGIC:
            try:
                text = inflate_gzip(data, self.limits.max_file_bytes)
            except (OSError, EOFError, zlib.error) as exc:
                return FileContents.quarantined_file(
                    relative_path, f"gzip file cannot be decompressed: {exc}")
        elif relative_path.endswith(".gz"):
            return FileContents.quarantined_file(relative_path,
                                                 "file is named .gz but is not gzip data")
        else:
            text = data
        return parse_lines(relative_path, text, sha256, notes, self.limits)


def parse_lines(path: str, text: bytes, sha256: str, notes: dict[str, Any],
                limits: ParserLimits) -> FileContents:
    """The records and broken lines of one JSON Lines text. Raises `LimitExceeded` for a
    file with more lines than max_items_per_file (counted before any line is split off) or
    more broken lines than max_rejects_per_file; a line over max_line_bytes or nested
    deeper than max_json_depth is quarantined by itself."""
    contents = FileContents()
    rows = []
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    lines = text.count(b"\n") + (not text.endswith(b"\n"))
    if lines > limits.max_items_per_file:
        raise LimitExceeded("max_items_per_file", limits.max_items_per_file,
                            f"the file holds {lines} lines")
    for line_no, raw in enumerate(_lines(text), start=1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            notes["blank_lines"] += 1
            continue
        location = f"{path}#L{line_no}"
        line = _line_text(raw, location, limits)
        item = line if isinstance(line, QuarantinedItem) else _record(line, location)
        if isinstance(item, QuarantinedItem):
            contents.quarantined.append(item)
            if len(contents.quarantined) > limits.max_rejects_per_file:
                raise LimitExceeded("max_rejects_per_file", limits.max_rejects_per_file,
                                    f"more broken lines (line {line_no} is one)")
            continue
        contents.schema_drift.update(item.keys() - KNOWN_FIELDS)
        rows.append((str(item["event_id"]), str(item["updated_at"]), path, line_no, line,
                     sha256))
    if rows:
        contents.records = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return contents


def _lines(text: bytes):
    """The lines of a text one at a time (no list of millions of line objects at once)."""
    start = 0
    while start < len(text):
        end = text.find(b"\n", start)
        if end < 0:
            end = len(text)
        yield text[start:end]
        start = end + 1


def _line_text(raw: bytes, location: str, limits: ParserLimits) -> str | QuarantinedItem:
    """The line as text, or why it cannot be read as JSON within the limits."""
    if len(raw) > limits.max_line_bytes:
        return QuarantinedItem(location, f"broken line: over the limit max_line_bytes = "
                               f"{limits.max_line_bytes} ({len(raw)} bytes; the landed file "
                               "keeps it)", None)
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return QuarantinedItem(location, "broken line: not valid UTF-8",
                               raw.decode("utf-8", "replace"))
    if too_deep(line, limits.max_json_depth):
        return QuarantinedItem(location, "broken line: JSON nested deeper than the limit "
                               f"max_json_depth = {limits.max_json_depth}", line)
    return line


def _record(line: str, location: str) -> dict | QuarantinedItem:
    """The line's event, or why it is not one."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return QuarantinedItem(location, f"broken line: not valid JSON ({exc})", line)
    if not isinstance(record, dict):
        return QuarantinedItem(location, "broken line: JSON but not an object", line)
    try:
        required = _required_values(record)
    except KeyError:
        required = (None,)
    if None in required or "" in required:
        missing = [f for f in REQUIRED_FIELDS if record.get(f) in (None, "")]
        return QuarantinedItem(location, f"missing required field: {', '.join(missing)}",
                               line)
    return record
