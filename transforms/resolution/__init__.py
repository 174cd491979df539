"""Resident and unit resolution: mentions from staged records, deterministic links on valid
identifiers, Splink (Fellegi-Sunter) for the rest, constrained clustering, golden records,
stable ids. Entry point for the DAG: `pipeline.resolution.resolve`."""
