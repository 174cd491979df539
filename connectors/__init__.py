"""Source connectors: one per source kind, each landing into the raw zone."""
