"""Convene's fan-out benchmark: `python -m bench --help` (see docs/performance.md)."""
