"""Post-deploy smoke tests: run against a live stack with ``pytest -m cluster``."""
