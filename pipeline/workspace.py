"""The warehouse engine, landing zone and state store one task works with."""

from __future__ import annotations

from connectors.landing import RawLanding
from pipeline import config as cfg


class Workspace:
    """The warehouse engine, landing zone and state store of one configuration (a context
    manager: leaving it closes the engine's connections)."""

    def __init__(self, config: dict):
        from warehouse.migrate import open_warehouse
        from warehouse.state import StateStore

        self.config = config
        self.engine = open_warehouse(config.get("warehouse_url"))
        self.landing = RawLanding(config.get("landing_root") or cfg.home() / "landing")
        self.state = StateStore(self.engine)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.engine.dispose()
