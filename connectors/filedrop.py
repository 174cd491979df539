"""One base for the sources that deliver files into a drop (grid exports, rosters).

A drop is a local folder or any fsspec URL (`s3://bucket/prefix` with `storage_options`,
`memory://...` in tests) where a vendor or an office puts files, and may later replace one
with a corrected file under the same name. The base owns what every drop needs: listing
it, reading each file once, knowing each file version by its sha256 against the file
manifest in the state store (an unchanged file is not landed twice; a re-export under the
same name is noticed), landing the exact bytes it read atomically, quarantining a file that
cannot be read as a whole, and landing the records found in a file as one part per file
version. A file's manifest row is written only after the file and its records have landed
(and the pipeline commits it only with the run's audit and quarantine rows).

Parsing is bounded (`common.settings.ParserLimits`, the `limits` of the source's settings):
a file larger than `max_file_bytes` is landed by streaming its bytes and quarantined whole
without being read into memory; a parser that finds a file over a limit raises
`LimitExceeded`, and the file is quarantined whole with the limit it broke. No parser error
stops a source: any exception parsing one file quarantines that file with its name and the
reason, and the rest of the drop loads.

A source declares which files a window takes, where each lands, and how the bytes of one
file become records and quarantined items.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pandas as pd

from common.masking import mask_text
from common.settings import FileDropSettings
from connectors.base import Connector, ExtractionState, ExtractReport, QuarantinedItem, Window
from connectors.landing import RawLanding
from connectors.limits import LimitExceeded


@dataclass
class FileContents:
    """What a source found in one file. Every item it holds was received: each record and
    each quarantined item counts once, so received = landed + quarantined."""

    records: pd.DataFrame | None = None  # landed as the file version's part; None: no records
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    schema_drift: set[str] = field(default_factory=set)  # unknown fields or headers seen

    @classmethod
    def quarantined_file(cls, relative_path: str, reason: str) -> FileContents:
        """The whole file rejected; its raw copy in the landing zone keeps the bytes."""
        return cls(quarantined=[QuarantinedItem(location=relative_path, reason=reason,
                                                raw=None)])


class FileDropConnector(Connector):
    """Base of the file-drop connectors. Subclasses set `source` and `key_column`, and say
    which files a window takes (`window_files`), how to name a file version's part
    (`part_name`) and how to read one file (`parse`).

    Settings: `settings_model` (common.settings.FileDropSettings or a subclass)."""

    key_column: ClassVar[str]  # the records' key, landed as `_source_record_id`
    settings_model: ClassVar[type[FileDropSettings]] = FileDropSettings
    # The report note counting the files that were new or changed, hence landed.
    landed_files_note: ClassVar[str] = "files_landed"
    # Whether a storage error on one file quarantines it and the run goes on (the file is
    # not in the manifest, so the next run tries it again), or fails the run.
    read_errors_quarantine: ClassVar[bool] = False
    # Whether an unchanged file lands again on a re-run of the window that landed it (found
    # by its copy under the partition it would land in now), so that the re-run reports
    # and lands what the first run did, as every source's re-run does (as a new attempt
    # of its part: the landing zone never replaces anything).
    reland_on_window_rerun: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any]):
        self.settings = self.settings_model.model_validate(config)
        self.limits = self.settings.limits
        self.fs, root_path = fsspec.core.url_to_fs(self.settings.root,
                                                   **self.settings.storage_options)
        self.root_path = root_path.rstrip("/")

    # ---- what a source declares ----------------------------------------------------------

    @abstractmethod
    def window_files(self, window: Window, notes: dict[str, Any]) -> list[str]:
        """Paths (relative to the root, `/`-separated) of the files `window` takes, in the
        order they are landed; may note in `notes` why a listed file is not taken."""

    def run_date(self, relative_path: str, window: Window) -> date:
        """The landing partition of a file taken by `window`."""
        return window.run_date

    def landed_name(self, relative_path: str, sha256: str) -> str:
        """Where a file version's raw copy lands, relative to its partition."""
        return relative_path

    @abstractmethod
    def part_name(self, relative_path: str, sha256: str) -> str:
        """The name of a file version's records part."""

    @abstractmethod
    def parse(self, relative_path: str, data: bytes, sha256: str,
              notes: dict[str, Any]) -> FileContents:
        """The records and quarantined items in one file's bytes; `notes` is the report's,
        for what the source tells about its files."""

    def start_notes(self) -> dict[str, Any]:
        """The source's own report notes, as they start before any file."""
        return {}

    # ---- listing ---------------------------------------------------------------------------

    def glob(self, pattern: str) -> list[str]:
        """The files matching an fsspec glob pattern under the root, relative and sorted."""
        found = self.fs.glob(f"{self.root_path}/{pattern}", detail=True)
        return self._relative(path for path, info in found.items()
                              if info.get("type") != "directory")

    def find(self, folder: str) -> list[str]:
        """Every file below a folder of the root, relative and sorted (none when the folder
        is missing)."""
        base = f"{self.root_path}/{folder}"
        return self._relative(self.fs.find(base)) if self.fs.exists(base) else []

    def _relative(self, paths: Iterable[str]) -> list[str]:
        prefix = self.root_path + "/"
        return sorted(path.removeprefix(prefix) for path in paths if path.startswith(prefix))

    # ---- the extraction ----------------------------------------------------------------

    def extract(self, window: Window, landing: RawLanding, state: ExtractionState,
                run_id: str) -> ExtractReport:
        report = ExtractReport(source=self.source, run_id=run_id, window=window)
        notes = report.notes
        notes.update(self.start_notes())
        notes.update({self.landed_files_note: 0, "files_unchanged": 0})
        manifest = state.file_manifest(self.source)
        drift: set[str] = set()
        for relative in self.window_files(window, notes):
            try:
                data = self._read(relative)
            except Exception as exc:
                if not self.read_errors_quarantine:
                    raise
                self._take(report, drift, FileContents.quarantined_file(
                    relative, f"file cannot be read: {type(exc).__name__}: {exc}"))
                continue
            if isinstance(data, Path):  # over max_file_bytes: streamed to a local copy
                self._land_oversized(report, drift, landing, window, state, run_id, manifest,
                                     relative, data)
                continue
            sha256 = hashlib.sha256(data).hexdigest()
            run_date = self.run_date(relative, window)
            landed_name = self.landed_name(relative, sha256)
            if self._unchanged(manifest, landing, relative, sha256, run_date, landed_name):
                notes["files_unchanged"] += 1
                continue
            notes[self.landed_files_note] += 1
            report.files.append(str(self._land_file(landing, run_date, landed_name, data)))
            records = self._take(report, drift, self._parse(relative, data, sha256, notes))
            if records is not None and len(records):
                part = landing.write_records(self.source, run_date,
                                             self.part_name(relative, sha256), run_id, records,
                                             key_column=self.key_column)
                report.files.append(str(part))
                report.landed += len(records)
            state.record_file(self.source, relative, sha256, run_id)
        report.schema_drift = sorted(drift)
        return report

    def _read(self, relative: str) -> bytes | Path:
        """The file's bytes; a file over max_file_bytes is instead streamed into a local
        temporary copy (its path returned), so it never sits in memory."""
        path = f"{self.root_path}/{relative}"
        size = self.fs.size(path)
        if size is None or size <= self.limits.max_file_bytes:
            return self.fs.cat_file(path)
        fd, tmp = tempfile.mkstemp(prefix=".oversized.")
        with self.fs.open(path, "rb") as src, open(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return Path(tmp)

    def _unchanged(self, manifest: dict[str, str], landing: RawLanding, relative: str,
                   sha256: str, run_date: date, landed_name: str) -> bool:
        return manifest.get(relative) == sha256 and not (
            self.reland_on_window_rerun
            and (landing.file_partition(self.source, run_date) / landed_name).exists())

    def _land_oversized(self, report: ExtractReport, drift: set[str], landing: RawLanding,
                        window: Window, state: ExtractionState, run_id: str,
                        manifest: dict[str, str], relative: str, copy: Path) -> None:
        """Land a file over max_file_bytes from its local copy and quarantine it whole."""
        try:
            digest = hashlib.sha256()
            with open(copy, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            sha256 = digest.hexdigest()
            run_date = self.run_date(relative, window)
            landed_name = self.landed_name(relative, sha256)
            if self._unchanged(manifest, landing, relative, sha256, run_date, landed_name):
                report.notes["files_unchanged"] += 1
                return
            report.notes[self.landed_files_note] += 1
            report.files.append(str(landing.write_file(self.source, run_date, copy,
                                                       landed_name)))
            size = copy.stat().st_size
        finally:
            copy.unlink(missing_ok=True)
        limit = LimitExceeded("max_file_bytes", self.limits.max_file_bytes,
                              f"the file holds {size} bytes")
        self._take(report, drift, FileContents.quarantined_file(relative, str(limit)))
        state.record_file(self.source, relative, sha256, run_id)

    def _parse(self, relative: str, data: bytes, sha256: str,
               notes: dict[str, Any]) -> FileContents:
        """`parse`, bounded: a file over a limit, or any error of the parser, quarantines the
        file whole with its name and the reason (masked: an error may quote a cell)."""
        try:
            return self.parse(relative, data, sha256, notes)
        except LimitExceeded as exc:
            return FileContents.quarantined_file(relative, str(exc))
        except Exception as exc:  # noqa: BLE001 - no parser error may stop the source
            detail = mask_text(str(exc))[:300]
            return FileContents.quarantined_file(
                relative, f"file cannot be parsed: {type(exc).__name__}: {detail}")

    @staticmethod
    def _take(report: ExtractReport, drift: set[str],
              contents: FileContents) -> pd.DataFrame | None:
        """Count what a file held into the report; returns the records to land."""
        records = contents.records
        report.received += len(contents.quarantined) + (0 if records is None else len(records))
        report.quarantined.extend(contents.quarantined)
        drift.update(contents.schema_drift)
        return records

    def _land_file(self, landing: RawLanding, run_date: date, landed_name: str,
                   data: bytes) -> Path:
        # Land the exact bytes that were hashed and parsed, even if the drop changes meanwhile.
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "file"
            copy.write_bytes(data)
            return landing.write_file(self.source, run_date, copy, landed_name)
