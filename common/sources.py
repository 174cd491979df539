"""The source registry: every kind of source declared once.

A declaration says which section of the sources file configures the kind, which source
names one configured section yields, which connector lands them (named as `module:Class`:
the pipeline imports it when the source runs, so this leaf module imports nothing of the
layers above it), how its records land, which rules file validates each, where its freshness limit
is set, and which published tables and resolution mentions it feeds. The pipeline, the DAG,
validation, freshness, publication and resolution all read it; adding a source is one
`register()` call, its connector's parse function and its rules file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.settings import (
    FileDropSettings,
    GridSettings,
    RestSettings,
    RosterSettings,
    SourceSettings,
    SqlTableSettings,
)

RULES_DIR = Path(__file__).resolve().parent.parent / "expectations" / "rules"

# The source names the published tables and resolution read by name.
RESIDENTS = "civil_affairs.residents"
ENTERPRISES = "market_regulation.enterprises"
PARTY_MEMBERS = "organization.party_members"
UNIT_REPORTS = "organization.unit_reports"
HOTLINE = "hotline.tickets"
OPEN311 = "open311.requests"
GRID = "grid.events"
ROSTERS = "rosters"


@dataclass(frozen=True)
class ConfiguredSource:
    """One source as a sources file configures it: its name, the kind that declares it and
    the mapping its connector is built from."""

    name: str
    kind: SourceKind
    settings: Mapping[str, Any]

    @property
    def freshness_hours(self) -> float | None:
        hours = self.settings.get("freshness_hours")
        return None if hours is None else float(hours)


@dataclass(frozen=True)
class SourceKind:
    """A kind of source: one section of the sources file.

    A section is one mapping (one source, named `names[0]`, or the name of the `dialect`
    its settings choose) or, with `named_by`, a list of mappings, one source each, named by
    that key of the entry (a department table)."""

    section: str
    connector: str  # "module:Class"
    names: tuple[str, ...] = ()
    named_by: str | None = None
    dialects: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # -> (name, connector)
    raw_format: str = "columns"  # "json": the landed `raw` is the record as sent
    publishes: tuple[str, ...] = ()  # shared tables it feeds
    mentions: tuple[str, ...] = ()  # resolution mention kinds it feeds: resident, unit
    rules_dir: Path = RULES_DIR
    settings: type[SourceSettings] = FileDropSettings  # the model of one section or entry

    def _dialect(self, settings: Mapping[str, Any]) -> tuple[str, str] | None:
        return self.dialects.get(settings.get("dialect") or "")

    def connector_for(self, settings: Mapping[str, Any]) -> str:
        dialect = self._dialect(settings)
        return dialect[1] if dialect else self.connector

    def name_for(self, settings: Mapping[str, Any]) -> str:
        if self.named_by:
            return settings[self.named_by]
        dialect = self._dialect(settings)
        return dialect[0] if dialect else self.names[0]

    def all_names(self) -> tuple[str, ...]:
        """The names it can yield without looking at a sources file (none for `named_by`)."""
        return self.names + tuple(name for name, _ in self.dialects.values())

    def configured(self, config: Mapping[str, Any]) -> list[ConfiguredSource]:
        section = config.get(self.section)
        if not section:
            return []
        entries = section if self.named_by else [section]
        return [ConfiguredSource(self.name_for(entry), self, entry) for entry in entries]


_KINDS: dict[str, SourceKind] = {}


def register(kind: SourceKind) -> SourceKind:
    """Declare a kind of source (a later declaration of the same section replaces it)."""
    _KINDS[kind.section] = kind
    return kind


def unregister(section: str) -> None:
    _KINDS.pop(section, None)


def kinds() -> list[SourceKind]:
    return list(_KINDS.values())


def configured_sources(config: Mapping[str, Any]) -> list[ConfiguredSource]:
    """Every source the sources file configures, in declaration order."""
    return [source for kind in _KINDS.values() for source in kind.configured(config)]


def source_names(config: Mapping[str, Any]) -> list[str]:
    return [source.name for source in configured_sources(config)]


def configured_source(config: Mapping[str, Any], name: str) -> ConfiguredSource:
    for source in configured_sources(config):
        if source.name == name:
            return source
    raise KeyError(f"no source named {name!r} in the sources file")


def _kind_of(name: str) -> SourceKind | None:
    for kind in _KINDS.values():
        if name in kind.all_names():
            return kind
    return None


def rules_file(name: str) -> Path:
    """The rules file that validates a source (`<rules_dir>/<name>.yaml`)."""
    kind = _kind_of(name)
    return (kind.rules_dir if kind else RULES_DIR) / f"{name}.yaml"


def raw_format(name: str) -> str:
    """How a source's records land: "json" or "columns" (a name no kind declares is a
    department table: columns)."""
    kind = _kind_of(name)
    return kind.raw_format if kind else "columns"


register(SourceKind(
    section="departments", named_by="table", connector="connectors.sql:SqlTableConnector",
    settings=SqlTableSettings, mentions=("resident", "unit")))
register(SourceKind(
    section="hotline", names=(HOTLINE,), connector="connectors.hotline:HotlineConnector",
    dialects={"open311": (OPEN311, "connectors.open311:Open311Connector")}, raw_format="json",
    settings=RestSettings,
    publishes=("shared.hotline_ticket", "shared.hotline_dispatch",
               "shared.hotline_whistle_summons"), mentions=("resident",)))
register(SourceKind(
    section="grid", names=(GRID,), connector="connectors.grid:GridFileConnector",
    raw_format="json", settings=GridSettings,
    publishes=("shared.grid_event", "shared.grid_event_person", "shared.grid_event_unit"),
    mentions=("resident", "unit")))
register(SourceKind(
    section="rosters", names=(ROSTERS,), connector="connectors.rosters:RosterConnector",
    settings=RosterSettings,
    publishes=("shared.community_worker",), mentions=("resident",)))
