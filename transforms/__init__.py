"""Normalisation of Chinese identity data (resolution issue)."""
