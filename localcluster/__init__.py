"""Build and run a real multi-node Kubernetes cluster on this machine, from source, offline.

One package per job, each runnable as ``python3 -m localcluster.<job>``:

- ``toolchain``: the Pulumi CLI and provider, Kubernetes, etcd, containerd, CoreDNS and our
  language host (``toolchain/langhost``), built from the Go module proxy;
- ``images``: the cluster's container images, built from Debian packages;
- ``cluster``: the local cluster of host processes (``up`` as ordered steps, ``down`` backwards);
- ``deploy``: ``pulumi up``/``preview``/``destroy`` of a stack through the Automation API.

Shared by them: ``paths`` (cache and state directories), ``versions`` (pins), ``progress``
(phase lines, logged commands), ``procs`` (processes tracked by pidfile); and two entry points,
``env`` (shell exports) and ``incluster`` (a command that sees the cluster's DNS names).
"""
