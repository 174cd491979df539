"""Checking a settings file a person wrote: the sources file's model, assembled from the
source registry, and `check_file`, which `govshare config check` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from common.settings import (
    AccessFile,
    PipelineSettings,
    RecipientsFile,
    RulesFile,
    Settings,
    SettingsError,
    validate,
)
from common.sources import kinds


def sources_file_model() -> type[Settings]:
    """The sources file's model: the pipeline's keys plus one section per registered kind."""
    from pydantic import create_model

    sections = {kind.section: ((list[kind.settings], Field(default_factory=list))
                               if kind.named_by else (kind.settings | None, None))
                for kind in kinds()}
    return create_model("SourcesFile", __base__=PipelineSettings, **sections)


def file_kind(data: Any) -> str:
    """Which settings file a parsed YAML document is: rules, access or sources."""
    if isinstance(data, dict) and "rules" in data and "source" in data:
        return "rules"
    if isinstance(data, dict) and "recipients" in data:
        return "recipients"
    if isinstance(data, dict) and ("reader_role" in data
                                   or isinstance(data.get("departments"), dict)):
        return "access"
    return "sources"


def check_file(path: str | Path, kind: str | None = None) -> tuple[str, list[str]]:
    """(the file's kind, every problem found in it): what `govshare config check` prints.
    Environment references (`${NAME}`) are checked as written."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return kind or "unknown", [f"(file): cannot be read as YAML: {error}"]
    kind = kind or file_kind(data)
    model = {"sources": sources_file_model, "access": lambda: AccessFile,
             "rules": lambda: RulesFile, "recipients": lambda: RecipientsFile}[kind]()
    try:
        validate(model, data, path)
    except SettingsError as error:
        return kind, error.problems
    return kind, []
