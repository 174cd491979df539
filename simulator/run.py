"""`govshare simulate`: build the city, then let every source emit what it would."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

from simulator.city import build_city
from simulator.noise import NoiseRates, noise_profile
from simulator.profiles import CityProfile

REFERENCE_FILES = {
    "divisions.csv": ("divisions", ["code", "name", "level", "parent_code"]),
    "grids.csv": ("grids", ["grid_code", "community_code", "name", "grid_worker_staff_no"]),
    "departments.csv": ("departments", ["dept_code", "name", "kind"]),
    "service_centers.csv": ("service_centers", ["center_code", "name", "level", "division_code"]),
}


def write_reference(city, out_dir: Path) -> None:
    ref = out_dir / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    for filename, (attr, columns) in REFERENCE_FILES.items():
        getattr(city, attr)[columns].to_csv(ref / filename, index=False, lineterminator="\n")


def simulate(out_dir: str | Path, scale: str = "tiny", seed: int = 42,
             start: date | None = None, days: int | None = None,
             noise: NoiseRates | str | None = None, departments_url: str | None = None,
             progress=print, city: str | CityProfile | None = None) -> dict:
    """Write every source of a simulated city into `out_dir`; returns the manifest.
    `city`: a city profile or its key (simulator/profiles.py, default hohhot); `noise`:
    rates or the name of a noise profile (simulator.noise.NOISE_PROFILES)."""
    from simulator.departments import emit_departments
    from simulator.grid import emit_grid
    from simulator.hotline import emit_hotline
    from simulator.rosters import emit_rosters

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    if isinstance(noise, str):
        noise = noise_profile(noise)
    city = build_city(seed, scale, start=start, days=days, noise=noise, city=city)
    timings["city"] = time.perf_counter() - t0
    progress(f"city: {len(city.persons):,} residents, {len(city.units):,} units, "
             f"{len(city.communities):,} communities, {len(city.grids):,} grids "
             f"({timings['city']:.1f}s)")
    write_reference(city, out_dir)
    summaries = {}
    # Hotline before grid: the grid emitter reads which tickets were transferred to it.
    for name, emit in (("departments", lambda: emit_departments(city, out_dir, departments_url)),
                       ("hotline", lambda: emit_hotline(city, out_dir)),
                       ("grid", lambda: emit_grid(city, out_dir)),
                       ("rosters", lambda: emit_rosters(city, out_dir))):
        t0 = time.perf_counter()
        summary = emit()
        timings[name] = time.perf_counter() - t0
        summaries[name] = asdict(summary) if hasattr(summary, "__dataclass_fields__") else summary
        progress(f"{name}: {summaries[name]} ({timings[name]:.1f}s)")
    # Paths in the manifest are relative to the output folder, so the same seed gives the
    # same bytes wherever the city is written.
    summaries = json.loads(json.dumps(summaries, default=str)
                           .replace(str(out_dir.resolve()), ".").replace(str(out_dir), "."))
    manifest = {
        "seed": seed, "city": city.profile.key, "scale": city.scale.name, "start": city.start.isoformat(),
        "days": city.days, "noise": city.noise.to_dict(), "sources": summaries,
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    manifest["timings"] = timings
    return manifest
