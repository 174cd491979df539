"""The department views mask in SQL (warehouse.access.mask_sql) exactly as the Python code
masks (common.masking.COLUMN_MASKS: the CLI, logs, Data Docs), on DuckDB and PostgreSQL,
and an ID number keeps only its area code in both: the birth date and the rest of the
number are not recoverable from a masked ID next to a granted birth date."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common.masking import COLUMN_MASKS
from warehouse.access import mask_sql

# Values as the published columns hold them (ID numbers and phones normalised).
VALUES = {
    "id_number": ["150102196503120038", "11010519491231002X", "150102650312003", "12345",
                  "1501021965", ""],
    "phone": ["13904712233", "04716961234", "0471696123", "1234567", ""],
    "name": ["李秀英", "阿不都·热合曼", "李", ""],
    "address": ["新城区团结小区3号楼2单元501", "丰泽社区１２号", "无门牌", ""],
    "withhold": ["来电人反映供暖不热", ""],
}


def _sql_masks(engine: sa.Engine, mask: str, values: list[str | None]) -> list[str | None]:
    """Each value masked by the view SQL of `mask`, computed by the engine itself."""
    with engine.connect() as conn:
        return [conn.execute(sa.text(f'SELECT {mask_sql("v", mask)} FROM '
                                     '(SELECT CAST(:v AS VARCHAR) AS "v") AS t'),
                             {"v": value}).scalar() for value in values]


def test_view_sql_masks_as_the_python_masks(engine):
    for mask, values in VALUES.items():
        expected = [COLUMN_MASKS[mask](value) for value in values]
        assert _sql_masks(engine, mask, values) == expected, mask
        # A null stays null in the view.
        assert _sql_masks(engine, mask, [None]) == [None], mask


@pytest.mark.parametrize("id_number", ["150102196503120038", "11010519491231002X"])
def test_a_masked_id_keeps_only_its_area_code_in_sql_and_python(engine, id_number):
    [in_sql] = _sql_masks(engine, "id_number", [id_number])
    assert in_sql == COLUMN_MASKS["id_number"](id_number) == id_number[:6] + "*" * 12
