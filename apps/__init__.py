"""The workloads (nginx, ZooKeeper, MySQL): typed settings and one module per app; no config reading here."""
