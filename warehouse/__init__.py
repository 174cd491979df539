"""The shared warehouse: engines, published tables, pipeline state."""
