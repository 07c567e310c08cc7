"""Validation with Great Expectations: suites derived from contracts, outcomes per row."""
