"""The indicators of docs/spec/indicators.md, computed in the warehouse's SQL engine.

`indicators.compute.compute_day` computes all 23 codes for one day and its month to date,
for every community, street, district and the city, and merges them into
`shared.indicator_value` (a changed past value is revised, its previous value kept in
`shared.indicator_value_history`). `indicators.linking` publishes the grid events linked to
hotline tickets (`shared.grid_hotline_link`), which grid.hotline_linked counts.
Layer: beside `pipeline`; imports `warehouse`, `transforms` and `common` only.
"""
