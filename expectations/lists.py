"""A custom expectation for the flattened child lists of expectations/flatten.py.

A ticket's dispatches become one text column of codes joined by "|"; reference integrity of
the children is "every code of the list is in the set". Vectorised: the lists of a batch are
split and exploded once, looked up with `isin`, and folded back per row.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

SEPARATOR = "|"


class ColumnListValuesInSet(ColumnMapMetricProvider):
    condition_metric_name = "column_list_values.in_set"
    condition_value_keys = ("value_set",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, value_set, **kwargs):
        items = column.astype("str").str.split(SEPARATOR, regex=False).explode()
        known = items.isin(set(value_set)) | items.eq("")
        all_known = known.groupby(level=0).all()
        return pd.Series(all_known.reindex(column.index).fillna(True).to_numpy(dtype=bool),
                         index=column.index) if len(column) else pd.Series(
            np.zeros(0, dtype=bool), index=column.index)


class ExpectColumnListValuesToBeInSet(ColumnMapExpectation):
    """Expect every element of each "|"-separated list to be in `value_set`."""

    value_set: list[str]

    map_metric = "column_list_values.in_set"
    success_keys = ("value_set", "mostly")
    args_keys = ("column", "value_set")
    domain_keys: ClassVar[tuple[str, ...]] = ("column", "row_condition", "condition_parser")
