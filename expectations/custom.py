"""Custom Great Expectations 1.x expectations for Chinese identifiers and source volumes.

Import this module before building or loading a suite that uses them: GX registers an
expectation when its class is defined, and a suite loaded from a file context silently drops
expectation types it does not know.

Column conditions reuse the vectorised normalisers of `transforms.identifiers`, so a value
passes when it *normalises* to a valid identifier: full-width digits, a lower-case x, spaces or
a +86 prefix are cleaning work, not a reason to quarantine a record. Nulls are left to
presence rules (GX filters them out of column-map conditions).
"""

from __future__ import annotations

import statistics
from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine, SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation, ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from transforms import identifiers

# --------------------------------------------------------------------------------------------
# Metrics: one vectorised condition per identifier kind
# --------------------------------------------------------------------------------------------


def _as_bool(flags: pd.Series, index: pd.Index) -> pd.Series:
    """Nullable flags as plain booleans (GX negates the result with ~)."""
    return pd.Series(flags.fillna(False).to_numpy(dtype=bool), index=index)


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_resident_id"
    condition_value_keys = ("allow_legacy_15", "require_known_area", "as_of")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, allow_legacy_15=True, require_known_area=True, as_of=None,
                **kwargs):
        today = date.fromisoformat(as_of) if as_of else None
        checked = identifiers.normalize_id_number(column, today=today)
        valid = checked["id_format_ok"] & checked["id_checksum_ok"] & checked["id_birth_ok"]
        if require_known_area:
            valid &= checked["id_area_ok"]
        if not allow_legacy_15:
            valid &= ~checked["id_upgraded_from_15"]
        return _as_bool(valid, column.index)


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"
    condition_value_keys = ("require_org_code_check",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, require_org_code_check=False, **kwargs):
        checked = identifiers.normalize_uscc(column)
        valid = checked["uscc_format_ok"] & checked["uscc_checksum_ok"]
        if require_org_code_check:
            valid &= checked["uscc_org_code_ok"]
        return _as_bool(valid, column.index)


class ColumnValuesValidChinesePhone(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_chinese_phone"
    condition_value_keys = ("kinds", "default_area_code")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, kinds=("mobile", "landline"), default_area_code=None, **kwargs):
        checked = identifiers.normalize_phone(column, default_area_code=default_area_code)
        valid = checked["phone_ok"] & checked["phone_kind"].isin(list(kinds))
        return _as_bool(valid, column.index)


class ColumnValuesKnownDivisionCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.known_division_code"
    condition_value_keys = ("value_set",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, value_set, **kwargs):
        checked = identifiers.normalize_division_code(column, value_set)
        return _as_bool(checked["division_code_known"], column.index)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column, value_set, **kwargs):
        # In the warehouse the codes are stored normalised: an exact match is the same test.
        return column.in_(sorted(set(value_set)))


# --------------------------------------------------------------------------------------------
# Column-map expectations
# --------------------------------------------------------------------------------------------

_COLUMN_DOMAIN = ("column", "row_condition", "condition_parser")


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Expect values to be GB 11643 resident ID numbers once normalised.

    Valid: 18 characters with the right MOD 11-2 check character, a real birth date from 1880
    up to `as_of` (ISO date; default today) and, with `require_known_area`, a GB/T 2260 area
    code listed in any revision. Legacy 15-digit numbers pass when `allow_legacy_15` (they
    upgrade to a valid 18-digit number); spreadsheet-mangled values (1.50102E+17) never do.
    """

    allow_legacy_15: bool = True
    require_known_area: bool = True
    as_of: str | None = None

    map_metric = "column_values.valid_resident_id"
    success_keys = ("allow_legacy_15", "require_known_area", "as_of", "mostly")
    args_keys = ("column",)
    domain_keys: ClassVar[tuple[str, ...]] = _COLUMN_DOMAIN


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect values to be GB 32100 unified social credit codes once normalised.

    18 characters of '0123456789ABCDEFGHJKLMNPQRTUWXY' with the right mod 31 check character;
    with `require_org_code_check`, the embedded GB 11714 organisation code's check too (off by
    default: pilot-region codes issued before the standard lack it and are legal).
    """

    require_org_code_check: bool = False

    map_metric = "column_values.valid_uscc"
    success_keys = ("require_org_code_check", "mostly")
    args_keys = ("column",)
    domain_keys: ClassVar[tuple[str, ...]] = _COLUMN_DOMAIN


class ExpectColumnValuesToBeValidChinesePhone(ColumnMapExpectation):
    """Expect values to be Chinese mobile or landline numbers once normalised.

    `kinds` narrows the accepted kinds ('mobile', 'landline'); a bare 7-8 digit local number
    counts as a landline (in `default_area_code`, the city's, when given).
    """

    kinds: list[str] = ["mobile", "landline"]
    default_area_code: str | None = None

    map_metric = "column_values.valid_chinese_phone"
    success_keys = ("kinds", "default_area_code", "mostly")
    args_keys = ("column",)
    domain_keys: ClassVar[tuple[str, ...]] = _COLUMN_DOMAIN


class ExpectColumnValuesToBeKnownDivisionCode(ColumnMapExpectation):
    """Expect values to be 12-digit division codes listed in `value_set` (the reference table)."""

    value_set: list[str]

    map_metric = "column_values.known_division_code"
    success_keys = ("value_set", "mostly")
    args_keys = ("column", "value_set")
    domain_keys: ClassVar[tuple[str, ...]] = _COLUMN_DOMAIN


# --------------------------------------------------------------------------------------------
# Batch volume against recent history
# --------------------------------------------------------------------------------------------


class ExpectTableRowCountToBeWithinHistoryBand(BatchExpectation):
    """Expect the batch's row count to stay within a band around its recent history.

    Fails when the count is below `min_ratio` (default 0.6) of the median of `recent_counts`
    (e.g. the last 14 daily counts of the same source), or above `max_ratio` of it (default
    None: no upper bound). The median ignores one-off spikes; a source silently delivering
    half its data falls below the band. With no history the expectation passes and says so.
    """

    recent_counts: list[int]
    min_ratio: float = 0.6
    max_ratio: float | None = None
    # The whole batch's row count when the frame validated is one slice of it.
    batch_rows: int | None = None

    metric_dependencies = ("table.row_count",)
    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id",)
    success_keys = ("recent_counts", "min_ratio", "max_ratio", "batch_rows")
    args_keys = ("recent_counts", "min_ratio", "max_ratio")

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        count = int(metrics["table.row_count"] if self.batch_rows is None
                    else self.batch_rows)
        history = [int(c) for c in self.recent_counts]
        if not history:
            return {"success": True, "result": {
                "observed_value": count,
                "details": {"explanation": "no history yet: nothing to compare the count with"},
            }}
        median = float(statistics.median(history))
        low = self.min_ratio * median
        high = None if self.max_ratio is None else self.max_ratio * median
        ratio = count / median if median else float(np.inf if count else 1.0)
        too_low, too_high = count < low, high is not None and count > high
        if too_low:
            verdict = f"below the band: under {self.min_ratio:.0%} of the recent median"
        elif too_high:
            verdict = f"above the band: over {self.max_ratio:.0%} of the recent median"
        else:
            verdict = "within the band"
        explanation = (f"{count} rows is {ratio:.0%} of the median {median:g} of the last "
                       f"{len(history)} counts; {verdict}")
        return {"success": not (too_low or too_high), "result": {
            "observed_value": count,
            "details": {"recent_median": median, "ratio_to_median": ratio,
                        "band": [low, high], "explanation": explanation},
        }}
