"""The immutable raw landing zone.

Layout under the landing root:

    records/<source>/run_date=<YYYY-MM-DD>/<part>.parquet    extracted records, unchanged
    files/<source>/run_date=<YYYY-MM-DD>/<relative path>     original files (grid, rosters)

A record partition holds the source's own columns untouched plus four metadata columns:
`_source_record_id`, `_extracted_at`, `_run_id`, `_content_hash` (sha256 of the record's
source columns, so one version of one record has one hash whatever run landed it).

The zone is append-only: nothing landed is ever deleted or overwritten. A part is named by
the caller (typically after the extraction window, or after a file version); landing a part
whose name is taken writes a new attempt beside it (`<part>~2.parquet`, `~3`...), and an
original file whose name is taken by other bytes lands as `<stem>~2<suffix>`... (the same
bytes again are not copied twice). Writes are atomic: a temporary file is written, fsynced and
then hard-linked to a name that must not exist yet, so two attempts never overwrite each
other and a crash leaves no half-written part.

Readers see every version once: `read_records` returns each (record key, content hash)
once, from its first landing, whichever attempts landed it; the latest version of each key
is chosen downstream (staging keeps every version, publication and resolution take the
newest). A re-run or a retry therefore replaces nothing and loses nothing.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from transforms.records import rows_as_json

META_COLUMNS = ["_source_record_id", "_extracted_at", "_run_id", "_content_hash"]


def _json_default(value):
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if pd.isna(value):
        return None
    return str(value)


def content_hashes(frame: pd.DataFrame) -> pd.Series:
    """sha256 of each row's source columns as canonical JSON (keys sorted, NaN as null)."""
    columns = sorted(c for c in frame.columns if c not in META_COLUMNS)
    return pd.Series(
        [hashlib.sha256(text.encode("utf-8")).hexdigest()
         for text in rows_as_json(frame[columns], _json_default, sort_keys=True)],
        index=frame.index, dtype="str")


def _attempt_name(target: Path, attempt: int) -> Path:
    """The name of a target's `attempt`-th landing: `<stem>~<n><suffix>` after the first (a
    corrected roster re-delivered as `a.xlsx` lands as `a~2.xlsx` beside the original)."""
    if attempt == 1:
        return target
    return target.with_name(f"{target.stem}~{attempt}{target.suffix}")


def _atomic_create(write, target: Path, same=None) -> Path:
    """Write a new file at `target`, or at its next free attempt name, never over an existing
    one; returns the name written. `same(path)` says whether an existing file already holds
    what would be written (then nothing is written and that path is returned)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        attempt = 1
        while True:
            name = _attempt_name(target, attempt)
            if same is not None and name.exists() and same(name, tmp):
                return name
            try:
                os.link(tmp, name)  # fails if the name exists: no overwrite, even in a race
                return name
            except FileExistsError:
                attempt += 1
    finally:
        Path(tmp).unlink(missing_ok=True)


VERSION_COLUMNS = ["_source_record_id", "_content_hash"]


def _versions(table: pa.Table) -> list[tuple[str, str]]:
    """The (key, content hash) pairs a landed table holds, sorted."""
    return sorted(zip(*(table.column(c).to_pylist() for c in VERSION_COLUMNS)))


def _same_bytes(a: Path, b: str) -> bool:
    return filecmp.cmp(a, b, shallow=False)


class RecordSlices:
    """Landed record versions to read, part by part: `rows` is how many in all (known before
    any is read); iterating yields frames of whole parts, at most `max_rows` rows each
    unless one part is larger."""

    def __init__(self, parts: list[tuple[Path, np.ndarray]], max_rows: int | None):
        self.parts, self.max_rows = parts, max_rows
        self.rows = sum(len(kept) for _, kept in parts)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        pending: list[pd.DataFrame] = []
        held = 0
        for path, kept in self.parts:
            if pending and self.max_rows is not None and held + len(kept) > self.max_rows:
                yield pd.concat(pending, ignore_index=True)
                pending, held = [], 0
            pending.append(pq.read_table(path).take(kept).to_pandas())
            held += len(kept)
        if pending:
            yield pd.concat(pending, ignore_index=True)


class RawLanding:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def record_partition(self, source: str, run_date: date) -> Path:
        return self.root / "records" / source / f"run_date={run_date.isoformat()}"

    def file_partition(self, source: str, run_date: date) -> Path:
        return self.root / "files" / source / f"run_date={run_date.isoformat()}"

    def write_records(self, source: str, run_date: date, part: str, run_id: str,
                      frame: pd.DataFrame, key_column: str,
                      extracted_at: datetime | None = None) -> Path:
        """Land `frame` (source columns only) as one part; returns the part's path.

        `part` names the piece of work (e.g. `w20261125T000000-20261126T000000`); writing
        the same part again lands a new attempt beside the earlier ones (`<part>~2`).
        """
        landed = frame.copy()
        landed["_source_record_id"] = landed[key_column].astype("str")
        landed["_extracted_at"] = pd.Timestamp(extracted_at or datetime.now().astimezone())
        landed["_run_id"] = run_id
        landed["_content_hash"] = content_hashes(frame)
        table = pa.Table.from_pandas(landed, preserve_index=False)
        target = self.record_partition(source, run_date) / f"{part}.parquet"
        versions = _versions(table)
        # An attempt that holds exactly these versions already (a re-run of an unchanged
        # window or file) is not written again.
        return _atomic_create(lambda tmp: pq.write_table(table, tmp), target,
                              same=lambda existing, _: _versions(pq.read_table(
                                  existing, columns=VERSION_COLUMNS)) == versions)

    def write_file(self, source: str, run_date: date, src: str | os.PathLike,
                   relative_name: str) -> Path:
        """Copy an original file, byte for byte, under its path relative to the drop root
        (other bytes already there under that name: as `<stem>~2<suffix>`...; the same
        bytes: kept once)."""
        target = self.file_partition(source, run_date) / relative_name
        return _atomic_create(lambda tmp: shutil.copyfile(src, tmp), target, same=_same_bytes)

    def part_files(self, source: str, run_date: date, part: str) -> set[Path]:
        """The files of one landing part, its numbered chunks (`part-00001`...) and every
        attempt of them (`part~2`...)."""
        partition = self.record_partition(source, run_date)
        return {path for pattern in (f"{part}.parquet", f"{part}~*.parquet", f"{part}-*.parquet")
                for path in partition.glob(pattern)}

    def drop_landed(self, source: str, frame: pd.DataFrame, key_column: str,
                    replacing: set[Path] = frozenset()) -> pd.DataFrame:
        """`frame` without the record versions (key, content hash) that a landed part other
        than `replacing` already holds: a version re-read in an overlap lands once. (A
        re-run of a window passes the window's own parts as `replacing`, so its new attempt
        holds the whole window again and reports what the first attempt did.)"""
        base = self.root / "records" / source
        files = [str(p) for p in base.rglob("*.parquet") if p not in replacing] \
            if base.exists() else []
        if not files or frame.empty:
            return frame
        keys = frame[key_column].astype("str")
        landed = ds.dataset(files, format="parquet").to_table(
            columns=["_source_record_id", "_content_hash"],
            filter=ds.field("_source_record_id").isin(pa.array(keys.unique().tolist())))
        if landed.num_rows == 0:
            return frame
        seen = set(zip(landed.column(0).to_pylist(), landed.column(1).to_pylist()))
        fresh = [pair not in seen for pair in zip(keys, content_hashes(frame))]
        return frame.loc[fresh]

    def read_records(self, source: str, run_date: date | None = None) -> pd.DataFrame:
        """All landed record versions of a source (one run date, or every run date), each
        (key, content hash) once, from its first landing: attempts that landed a version
        again add nothing, and no attempt hides what an earlier one landed."""
        slices = list(self.record_slices(source, run_date))
        return pd.concat(slices, ignore_index=True) if slices else pd.DataFrame(
            columns=META_COLUMNS)

    def record_slices(self, source: str, run_date: date | None = None,
                      max_rows: int | None = None, also_run: str | None = None
                      ) -> RecordSlices:
        """What `read_records` returns, read in slices of whole parts of at most `max_rows`
        rows (a larger part is a slice of its own), so a reader of a full initial load holds
        one slice at a time. With `also_run`, the versions that run landed under other run
        dates join them (a re-export lands under its file's own day). Each version is kept
        once, from its first landing, over everything read: only the metadata columns of
        every part are read up front."""
        base = self.root / "records" / source
        if not base.exists():
            return RecordSlices([], max_rows)
        partition = self.record_partition(source, run_date) if run_date else base
        paths = sorted(base.rglob("*.parquet"))
        if not (also_run and run_date):
            paths = [path for path in paths if partition in path.parents]
        columns = ["_source_record_id", "_content_hash", "_extracted_at", "_run_id"]
        metas = []
        for number, path in enumerate(paths):
            meta = pq.read_table(path, columns=columns).to_pandas()
            meta["_part"], meta["_row"] = number, range(len(meta))
            if partition not in path.parents:  # another day's part: only `also_run`'s rows
                meta = meta[meta["_run_id"] == also_run]
            metas.append(meta)
        if not metas:
            return RecordSlices([], max_rows)
        meta = pd.concat(metas, ignore_index=True)
        first = meta.sort_values("_extracted_at", kind="stable").drop_duplicates(
            ["_source_record_id", "_content_hash"])
        rows = first.sort_values(["_part", "_row"]).groupby("_part")["_row"]
        return RecordSlices([(paths[number], kept.to_numpy()) for number, kept in rows],
                            max_rows)

    def landed_versions(self, source: str, run_id: str | None = None) -> pd.DataFrame:
        """`_source_record_id`, `_content_hash` and `_run_id` of every landed record of a
        source, or of one run's (only those columns read: what a reconciliation counts)."""
        columns = ["_source_record_id", "_content_hash", "_run_id"]
        dataset = self._dataset(source)
        if dataset is None:
            return pd.DataFrame(columns=columns)
        where = None if run_id is None else ds.field("_run_id") == run_id
        return dataset.to_table(columns=columns, filter=where).to_pandas()

    def _dataset(self, source: str) -> ds.Dataset | None:
        base = self.root / "records" / source
        paths = sorted(str(p) for p in base.rglob("*.parquet")) if base.exists() else []
        # Parts written at different times may type a column differently; only the
        # metadata columns, typed alike everywhere, are read through the dataset.
        return ds.dataset(paths, format="parquet", schema=pa.schema(
            [("_source_record_id", pa.string()), ("_content_hash", pa.string()),
             ("_run_id", pa.string())])) if paths else None
