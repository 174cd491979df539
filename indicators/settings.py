"""The indicator settings file (config/indicators.yaml, model: common.settings.IndicatorSettings)
and the record of which settings a run used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from common.settings import IndicatorSettings, SettingsError, validate

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "indicators.yaml"


def load_settings(path: str | Path | None = None) -> IndicatorSettings:
    """The settings in `path` (default: config/indicators.yaml); an unknown key or a wrong
    value is a SettingsError naming the file and the key."""
    path = Path(path) if path is not None else DEFAULT_PATH
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
