"""A real multi-node Kubernetes cluster on this machine, from host processes.

    python3 -m localcluster.cluster up|down|status|clean|logs [--nodes N]   (or NODES=N; default 3)
    python3 -m localcluster.cluster node stop|start N                       (a power cut, and power back)

- control plane on host-local addresses: etcd (127.0.0.1:2379), kube-apiserver (10.244.0.1:6443),
  kube-controller-manager, kube-scheduler; admin kubeconfig at ``paths.kubeconfig()``;
- node-N (N = 1..NODES): its own containerd (own root, state, socket, CNI bridge ``stfl-nN`` with
  pod range 10.244.N.0/24) and its own kubelet (InternalIP 10.244.0.(10+N), cgroups under
  ``/stateful/node-N``);
- one kube-proxy (iptables) for the shared host network; CoreDNS on 10.244.0.53 behind Service
  ``kube-dns`` (10.96.0.10); a host-path volume provisioner (default StorageClass ``standard``).

``up`` runs the steps of :mod:`.steps` in order and is idempotent: a component already running
with the same spec is left alone. ``down`` runs them backwards: it stops every process by pid
(pidfiles, and the nodes' cgroups for containers and shims), unmounts, and removes links, routes
and iptables chains; data stays. ``clean`` is ``down`` plus removing the state and the volumes.
``logs`` gathers every component's log and the runtime state into one folder (:mod:`.logs`).

``node stop N`` kills node-N's kubelet, containerd, shims and every container at once (SIGKILL, no
grace, nothing told to the API: a power cut), then clears what a reboot clears (mounts, pod network
links, runtime state); its disk stays. The Node turns NotReady when its heartbeats stop. ``node start
N`` is ``up``: it starts what is not running.

The package:

- ``spec/``: pure descriptions, no side effects: ``layout`` (paths and addresses), ``components``
  (each process's command line, files, cgroup and readiness probe), ``render`` (config files),
  ``objects`` (static API objects), ``pki`` (certificates and kubeconfigs to issue);
- ``host/``: the side effects on this machine: ``network``, ``cgroups``, ``mounts``, ``dirs``
  (host-wide paths), ``certs``, ``probes``, ``api`` (Node objects), ``node_images``;
- ``runner`` (the context and the step protocol), ``steps/`` (one module per step),
  ``lifecycle`` (up, down, clean, power cut), ``status``, ``logs``, ``provisioner`` (a host process).
"""
