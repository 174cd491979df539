"""The indicator settings file (config/indicators.yaml, model: common.settings.IndicatorSettings)
and the record of which settings a run used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from common.settings import IndicatorSettings, SettingsError, validate


def load_settings(path: str | Path | None = None) -> IndicatorSettings:
    """The settings in `path`; an unknown key or a wrong value is a SettingsError naming the
    file and the key. Without a file, the spec's defaults (the model's; config/indicators.yaml
    writes them out, and a test keeps the two equal), so an installed package needs no
    project checkout."""
    if path is None:
        return IndicatorSettings()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SettingsError(path, [f"(file): cannot be read as YAML: {error}"]) from None
    return validate(IndicatorSettings, data, path)


def settings_for(config: dict) -> IndicatorSettings:
    """The indicator settings the sources file points to (`indicators_settings`)."""
    return load_settings(config.get("indicators_settings"))


def settings_json(settings: IndicatorSettings) -> str:
    """The settings as canonical JSON (what ops.indicator_run records and the report states)."""
    return json.dumps(settings.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def settings_hash(settings: IndicatorSettings) -> str:
    return hashlib.sha256(settings_json(settings).encode()).hexdigest()
