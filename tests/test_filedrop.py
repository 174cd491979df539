"""The file-drop base (connectors.filedrop) with a minimal source: one record per line of
`in/*.txt`, lines starting with `#` quarantined. Grid and rosters are tested on their own
formats in test_grid.py and test_rosters.py."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
import pytest

from connectors.base import QuarantinedItem, Window
from connectors.filedrop import FileContents, FileDropConnector
from connectors.landing import RawLanding

SOURCE = "test.lines"
NOV_1 = Window(datetime(2026, 11, 1), datetime(2026, 11, 2))
NOV_2 = Window(datetime(2026, 11, 2), datetime(2026, 11, 3))


class LineDrop(FileDropConnector):
    source = SOURCE
    key_column = "key"

    def window_files(self, window, notes):
        return self.glob("in/*.txt")

    def part_name(self, relative_path, sha256):
        return f"{relative_path.rsplit('/', 1)[-1]}-{sha256[:8]}"

    def parse(self, relative_path, data, sha256, notes):
        if not data:
            return FileContents.quarantined_file(relative_path, "empty file")
        contents = FileContents()
        keys = []
        for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if line.startswith("#"):
                contents.quarantined.append(
                    QuarantinedItem(f"{relative_path}#L{number}", "comment line", line))
            else:
                keys.append(line)
        if keys:
            contents.records = pd.DataFrame({"key": keys})
        return contents


class ManifestState:
    """The file-manifest half of connectors.base.ExtractionState, in memory."""

    def __init__(self):
        self.manifest: dict[tuple[str, str], str] = {}

    def file_manifest(self, source):
        return {path: sha for (src, path), sha in self.manifest.items() if src == source}

    def record_file(self, source, path, sha256, run_id):
        self.manifest[(source, path)] = sha256


def drop(root, files: dict[str, bytes]):
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_each_file_version_lands_once_and_a_changed_file_lands_again(tmp_path):
    root = drop(tmp_path / "drop", {"in/a.txt": b"k1\nk2\n", "in/b.txt": b"k3\n",
                                    "in/skip.csv": b"not taken\n"})
    (root / "in" / "folder.txt").mkdir()  # a directory matching the pattern is no file
    landing, state = RawLanding(tmp_path / "landing"), ManifestState()
    first = LineDrop({"root": str(root)}).extract(NOV_1, landing, state, "r1")
    assert (first.received, first.landed, first.quarantined) == (3, 3, [])
    assert first.notes == {"files_landed": 2, "files_unchanged": 0}
    assert state.file_manifest(SOURCE) == {"in/a.txt": sha(b"k1\nk2\n"), "in/b.txt": sha(b"k3\n")}
    raw = landing.file_partition(SOURCE, NOV_1.run_date)
    assert (raw / "in/a.txt").read_bytes() == b"k1\nk2\n"
    assert sorted(landing.read_records(SOURCE)["key"]) == ["k1", "k2", "k3"]

    again = LineDrop({"root": str(root)}).extract(NOV_2, landing, state, "r2")
    assert (again.received, again.landed, again.files) == (0, 0, [])
    assert again.notes == {"files_landed": 0, "files_unchanged": 2}

    drop(root, {"in/a.txt": b"k1\nk2\nk4\n"})  # a corrected file under the same name
    changed = LineDrop({"root": str(root)}).extract(NOV_2, landing, state, "r3")
    assert changed.landed == 3 and changed.notes == {"files_landed": 1, "files_unchanged": 1}
    assert state.file_manifest(SOURCE)["in/a.txt"] == sha(b"k1\nk2\nk4\n")
    assert (landing.file_partition(SOURCE, NOV_2.run_date) / "in/a.txt").read_bytes() == \
        b"k1\nk2\nk4\n"


def test_received_is_landed_plus_quarantined(tmp_path):
    noted = b"# header\nk1\n# note\n"
    root = drop(tmp_path / "drop", {"in/a.txt": noted, "in/empty.txt": b"",
                                    "in/only-notes.txt": b"# nothing\n"})
    report = LineDrop({"root": str(root)}).extract(
        NOV_1, RawLanding(tmp_path / "landing"), ManifestState(), "r1")
    assert report.received == report.landed + len(report.quarantined) == 1 + 4
    assert [(q.location, q.reason, q.raw) for q in report.quarantined] == [
        ("in/a.txt#L1", "comment line", "# header"), ("in/a.txt#L3", "comment line", "# note"),
        ("in/empty.txt", "empty file", None), ("in/only-notes.txt#L1", "comment line",
                                               "# nothing")]
    # Every file is landed as it arrived, records part only where records were found.
    assert report.notes["files_landed"] == 3
    assert [f.rsplit("/", 1)[-1] for f in report.files if f.endswith(".parquet")] == [
        f"a.txt-{sha(noted)[:8]}.parquet"]


def test_a_read_error_fails_the_run_unless_the_source_quarantines_it(tmp_path, monkeypatch):
    root = drop(tmp_path / "drop", {"in/a.txt": b"k1\n", "in/b.txt": b"k2\n"})

    class Quarantining(LineDrop):
        read_errors_quarantine = True

    failing, quarantining = LineDrop({"root": str(root)}), Quarantining({"root": str(root)})
    read = failing.fs.cat_file

    def flaky(path, *args, **kwargs):
        if path.endswith("/in/a.txt"):
            raise PermissionError("denied")
        return read(path, *args, **kwargs)

    for connector in (failing, quarantining):  # fsspec may share one filesystem object
        monkeypatch.setattr(connector.fs, "cat_file", flaky)
    state = ManifestState()
    with pytest.raises(PermissionError):
        failing.extract(NOV_1, RawLanding(tmp_path / "l1"), state, "r1")
    report = quarantining.extract(NOV_1, RawLanding(tmp_path / "l2"), state, "r2")
    assert [(q.location, q.reason, q.raw) for q in report.quarantined] == [
        ("in/a.txt", "file cannot be read: PermissionError: denied", None)]
    assert (report.received, report.landed) == (2, 1)
    # Not in the manifest: the next run reads it again.
    assert set(state.file_manifest(SOURCE)) == {"in/b.txt"}


def test_rerunning_the_landing_window_lands_unchanged_files_again_when_declared(tmp_path):
    root = drop(tmp_path / "drop", {"in/a.txt": b"k1\n"})

    class Relanding(LineDrop):
        reland_on_window_rerun = True

    for connector, rerun_lands in ((LineDrop, 0), (Relanding, 1)):
        landing, state = RawLanding(tmp_path / connector.__name__), ManifestState()
        connector({"root": str(root)}).extract(NOV_1, landing, state, "r1")
        rerun = connector({"root": str(root)}).extract(NOV_1, landing, state, "r1-again")
        later = connector({"root": str(root)}).extract(NOV_2, landing, state, "r2")
        assert (rerun.landed, rerun.notes["files_landed"]) == (rerun_lands, rerun_lands)
        assert later.landed == 0 and later.notes["files_unchanged"] == 1
        assert len(list(landing.root.rglob("*.parquet"))) == 1  # the re-run replaced its part


def test_the_manifest_advances_only_after_the_file_landed(tmp_path):
    root = drop(tmp_path / "drop", {"in/a.txt": b"k1\n"})

    class FailingLanding(RawLanding):
        def write_records(self, *args, **kwargs):
            raise OSError("disk full")

    state = ManifestState()
    with pytest.raises(OSError):
        LineDrop({"root": str(root)}).extract(NOV_1, FailingLanding(tmp_path / "l"), state, "r")
    assert state.file_manifest(SOURCE) == {}


def test_listing_is_relative_to_the_root_and_a_missing_folder_is_empty(tmp_path):
    root = drop(tmp_path / "drop", {"in/a.txt": b"", "in/deep/b.txt": b"", "out/c.txt": b""})
    connector = LineDrop({"root": f"{root}/", "storage_options": {"auto_mkdir": False}})
    assert connector.glob("in/*.txt") == ["in/a.txt"]
    assert connector.find("in") == ["in/a.txt", "in/deep/b.txt"]
    assert connector.find("missing") == []
