"""Speed goals of the project, measured against the running local cluster and the deployed ``local`` stack.

Run with ``make bench``; see ``benchmarks.run``.
"""
