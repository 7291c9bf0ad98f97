"""Tests of the local cluster itself (no Pulumi): run with ``pytest -m cluster tests/cluster``."""
