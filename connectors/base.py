"""What every connector shares: the extraction window, the report, the interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the landing pulls in pandas and pyarrow, which DAG parsing must not load
    from connectors.landing import RawLanding


@dataclass(frozen=True)
class Window:
    """Half-open extraction window (since, until] in source-local time (Asia/Shanghai).

    Connectors take records whose change time is > since and <= until, so consecutive
    windows neither overlap nor leave gaps; a connector may re-read an overlap before
    `since` to catch late or same-timestamp rows and deduplicate them itself.
    """

    since: datetime
    until: datetime

    @property
    def run_date(self) -> date:
        """The landing partition's date: the day of the window's last instant, so a daily
        window (Nov 1 00:00, Nov 2 00:00] lands under Nov 1."""
        return (self.until - timedelta(microseconds=1)).date()

    @property
    def part(self) -> str:
        """Name of this window's landing part: re-running the window replaces it."""
        return f"w{self.since:%Y%m%dT%H%M%S}-{self.until:%Y%m%dT%H%M%S}"


@dataclass
class QuarantinedItem:
    """A record, line or file that arrived but cannot be landed as a record."""

    location: str  # source_record_id, or file path (+ line number) when no key is readable
    reason: str  # which rule failed, in words, without personal data
    raw: str | None  # the item as it arrived (text), or None when the raw file keeps it


@dataclass
class ExtractReport:
    """What one extraction did: becomes a `shared.load_audit` row."""

    source: str
    run_id: str
    window: Window
    received: int = 0
    landed: int = 0
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    watermark_before: str | None = None
    watermark_after: str | None = None
    schema_drift: list[str] = field(default_factory=list)  # unknown fields seen
    files: list[str] = field(default_factory=list)  # landed partitions / files
    notes: dict[str, Any] = field(default_factory=dict)


class ExtractionState(Protocol):
    """What connectors keep between runs: watermarks, the lower bounds windows first read
    from, and the manifest of landed files. `warehouse.state.StateStore` keeps them in the
    warehouse; connectors see only this, so they never depend on the warehouse."""

    def get_watermark(self, source: str) -> str | None: ...

    def set_watermark(self, source: str, value: str, run_id: str) -> None: ...

    def window_lower_bound(self, source: str, part: str) -> tuple[bool, str | None]: ...

    def record_window(self, source: str, part: str, lower_bound: str | None,
                      run_id: str) -> None: ...

    def file_manifest(self, source: str) -> dict[str, str]: ...

    def record_file(self, source: str, path: str, sha256: str, run_id: str) -> None: ...


class Connector(Protocol):
    """One source kind. Configured from a mapping (Airflow Connection extras or a config
    file), never from code. The connector bases subclass it explicitly, so a type checker
    holds each of them to this interface."""

    source: str

    def extract(self, window: Window, landing: RawLanding, state: ExtractionState,
                run_id: str) -> ExtractReport:
        """Land everything the source changed in `window`, then advance the state."""
        ...
