"""The local cluster's side effects on this machine: network, cgroups, mounts, files, probes, API calls."""
