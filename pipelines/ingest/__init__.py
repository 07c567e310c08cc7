"""Ingest: landing zone, raw archive, reading what departments send."""
