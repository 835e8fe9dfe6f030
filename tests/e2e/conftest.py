"""End-to-end tests: real Daphne processes on the test database (see tests/live.py)."""

from tests import live

daphne_server = live.daphne_server  # the fixture, made available to this folder
