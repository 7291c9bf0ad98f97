"""A real multi-node Kubernetes cluster on this machine, from host processes.

    python3 -m localcluster.cluster up|down|status|clean [--nodes N]     (or NODES=N; default 3)
    python3 -m localcluster.cluster node stop|start N                    (a power cut, and power back)

- control plane on host-local addresses: etcd (127.0.0.1:2379), kube-apiserver (10.244.0.1:6443),
  kube-controller-manager, kube-scheduler; admin kubeconfig at ``paths.kubeconfig()``;
- node-N (N = 1..NODES): its own containerd (own root, state, socket, CNI bridge ``stfl-nN`` with
  pod range 10.244.N.0/24) and its own kubelet (InternalIP 10.244.0.(10+N), cgroups under
  ``/stateful/node-N``);
- one kube-proxy (iptables) for the shared host network; CoreDNS on 10.244.0.53 behind Service
  ``kube-dns`` (10.96.0.10); a host-path volume provisioner (default StorageClass ``standard``).

``node stop N`` kills node-N's kubelet, containerd, shims and every container at once (SIGKILL, no
grace, nothing told to the API: a power cut), then clears what a reboot clears (mounts, pod network
links, runtime state); its disk stays. The Node turns NotReady when its heartbeats stop. ``node start
N`` is ``up``: it starts what is not running.

``up`` is idempotent: a component already running with the same spec is left alone. ``down`` stops
every process by pid (pidfiles, and the nodes' cgroups for containers and shims), unmounts, and
removes links, routes and iptables chains; data stays. ``clean`` is ``down`` plus removing the state
and the volumes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from kubernetes import client, config

from localcluster import (
    bootstrap,
    certs,
    cgroups,
    components,
    hostdirs,
    hostnet,
    images,
    mounts,
    nodeimages,
    probes,
    procs,
    render,
)
from localcluster import layout as lay
from localcluster.components import Component
from localcluster.layout import Layout, Node
from localcluster.progress import StepError, fail, phase, run, say, tail

BINARIES = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
    "kubectl", "containerd", "containerd-shim-runc-v2", "ctr", "coredns",
)
HOST_TOOLS = ("runc", "iptables", "ip6tables", "ip", "conntrack", "mount", "umount")
CNI_PLUGINS = (Path("/usr/lib/cni/bridge"), Path("/usr/lib/cni/host-local"), Path("/usr/lib/cni/loopback"))
CONTROL_PLANE_ORDER = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
HOST_SERVICES = ("provisioner", "coredns", "kube-proxy")
POD_GRACE_S = 10.0


def node_count(requested: int | None) -> int:
    """``--nodes``, else ``$NODES``, else 3."""
    if requested is not None:
        return requested
    raw = os.environ.get("NODES", "").strip()
    return int(raw) if raw else lay.DEFAULT_NODES


class Cluster:
    """Operations on the local cluster described by a layout."""

    def __init__(self, layout: Layout) -> None:
        """Bind to ``layout``."""
        self.layout = layout
        self.registry = procs.Registry(layout.run)
        self.env = components.process_env()

    # ---------------------------------------------------------------- helpers

    def _api(self) -> client.CoreV1Api:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.layout.admin_kubeconfig))
        return client.CoreV1Api(api_client)

    def _failure(self, name: str, reason: str) -> StepError:
        log = self.layout.log(name)
        return StepError(f"{name} failed: {reason}\n--- tail of {log} ---\n{tail(log)}")

    def ensure(self, component: Component) -> str:
        """Start ``component`` unless it runs with the same spec; return what was done."""
        for directory in component.dirs:
            directory.mkdir(parents=True, exist_ok=True)
        for path, text in component.files:
            certs.write_private(path, text)
        spec = component.spec("")
        running = self.registry.running(component.name)
        if running is not None and self.registry.spec(component.name) == spec:
            return "running"
        action = "started"
        if running is not None:
            self.registry.stop(component.name)
            action = "restarted (spec changed)"
        cgroup_procs = cgroups.procs_files(component.cgroup) if component.cgroup else []
        try:
            self.registry.start(component.name, component.argv, log=self.layout.log(component.name),
                                spec=spec, env=self.env, cgroup_procs=cgroup_procs)
        except (OSError, RuntimeError) as err:
            raise self._failure(component.name, str(err)) from err
        return action

    def wait(self, component: Component) -> None:
        """Wait for ``component`` to be ready; fail with its log tail if it dies or times out."""

        def died() -> str | None:
            return None if self.registry.running(component.name) else "process exited"

        try:
            probes.wait_for(component.ready, timeout=component.timeout, what=component.name, abort=died)
        except probes.NotReadyError as err:
            raise self._failure(component.name, str(err)) from err

    def start_all(self, items: Sequence[Component]) -> dict[str, str]:
        """Ensure several components, then wait for each (they start in parallel); return actions."""
        actions = {}
        for item in items:
            actions[item.name] = self.ensure(item)
            say(f"    {item.name}: {actions[item.name]}")
        for item in items:
            self.wait(item)
        return actions

    # ---------------------------------------------------------------- up

    def preflight(self) -> None:
        """Fail early, with a fix, when something the cluster needs is missing."""
        if os.geteuid() != 0:
            fail("the local cluster needs root (network devices, mounts, cgroups)")
        missing = [b for b in BINARIES if not os.access(components.binary(b), os.X_OK)]
        if missing:
            fail(f"missing binaries in the toolchain cache: {', '.join(missing)}; run `make toolchain`")
        tools = [t for t in HOST_TOOLS if shutil.which(t, path=self.env["PATH"]) is None]
        tools += [str(p) for p in CNI_PLUGINS if not p.exists()]
        if tools:
            fail(f"missing host tools: {', '.join(tools)}; run `make toolchain` (it installs the apt packages)")

    def pki(self) -> None:
        """Certificates, service-account keys and kubeconfigs (kept when still valid)."""
        layout = self.layout
        ca = certs.Authority(layout.pki)
        certs.ensure_service_account_keys(layout.pki)
        dns_names = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     f"kubernetes.default.svc.{lay.CLUSTER_DOMAIN}")
        specs = [
            certs.CertSpec("apiserver", "kube-apiserver", dns_names=dns_names, server=True, client=False,
                           ip_addresses=(lay.APISERVER_IP, lay.KUBERNETES_SERVICE_IP, IPv4Address("127.0.0.1"))),
            certs.CertSpec("apiserver-kubelet-client", bootstrap.APISERVER_KUBELET_USER),
            certs.CertSpec("front-proxy-client", "front-proxy-client"),
            certs.CertSpec("admin", "admin", organizations=("system:masters",)),
            certs.CertSpec("controller-manager", "system:kube-controller-manager"),
            certs.CertSpec("scheduler", "system:kube-scheduler"),
            certs.CertSpec("kube-proxy", "system:kube-proxy"),
            certs.CertSpec("coredns", bootstrap.COREDNS_USER),
            certs.CertSpec("provisioner", bootstrap.PROVISIONER_USER),
        ]
        for node in layout.nodes:
            specs.append(certs.CertSpec(node.name, node.name, dns_names=(node.name,),
                                        ip_addresses=(node.ip,), server=True, client=False))
            specs.append(certs.CertSpec(f"{node.name}-client", f"system:node:{node.name}",
                                        organizations=("system:nodes",)))
        issued = [s.stem for s in specs if ca.ensure(s)]
        if issued:
            say(f"    issued: {', '.join(issued)}")

        def kubeconfig(stem: str, user: str) -> str:
            cert, key = ca.paths(stem)
            return certs.kubeconfig(layout.apiserver_url, ca.cert_path, cert, key, user)

        certs.write_private(layout.admin_kubeconfig, kubeconfig("admin", "admin"))
        for stem, user in (("controller-manager", "system:kube-controller-manager"),
                           ("scheduler", "system:kube-scheduler"), ("kube-proxy", "system:kube-proxy"),
                           ("coredns", bootstrap.COREDNS_USER), ("provisioner", bootstrap.PROVISIONER_USER)):
            certs.write_private(layout.kubeconfigs / f"{stem}.kubeconfig", kubeconfig(stem, user))
        for node in layout.nodes:
            certs.write_private(node.kubelet_kubeconfig,
                                kubeconfig(f"{node.name}-client", f"system:node:{node.name}"))

    def apply_objects(self) -> dict[str, IPv4Network]:
        """Apply the static API objects; create missing Node objects; return each node's pod CIDR."""
        manifest = self.layout.config / "bootstrap.json"
        certs.write_private(manifest, bootstrap.manifest_text())
        argv = [components.binary("kubectl"), f"--kubeconfig={self.layout.admin_kubeconfig}", "apply",
                "--server-side", "--force-conflicts", "--field-manager=stateful-local", "-f", str(manifest)]
        log = self.layout.log("bootstrap")

        def applied() -> str | None:
            with log.open("a") as out:
                proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      check=False)
            return None if proc.returncode == 0 else f"kubectl apply exit {proc.returncode}"

        try:
            probes.wait_for(applied, timeout=60, what="cluster objects", interval=1.0)
        except probes.NotReadyError as err:
            raise self._failure("bootstrap", str(err)) from err
        api = self._api()
        removed = bootstrap.remove_extra_nodes(api, self.layout)
        if removed:
            say(f"    removed node objects: {', '.join(removed)}")
        return {node.name: bootstrap.ensure_node(api, node) for node in self.layout.nodes}

    def prepare_node(self, node: Node, pod_cidr: IPv4Network) -> None:
        """Cgroups, resolv.conf and CNI config of a node (before its containerd starts)."""
        cgroups.ensure(node.system_cgroup)
        node.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        certs.write_private(node.cni_conf_dir / "10-stateful.conflist", render.cni_conflist(node, pod_cidr))
        certs.write_private(node.resolv_conf, render.pod_resolv_conf())

    def import_images(self) -> None:
        """Import the local images into every node's containerd (only what is missing)."""
        archives = images.build_images()
        if render.PAUSE_IMAGE not in {a.name for a in archives}:
            fail(f"the image set lacks the sandbox image {render.PAUSE_IMAGE}")
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.layout.nodes)) as pool:
            futures = {pool.submit(nodeimages.import_missing, self.layout, n, archives): n
                       for n in self.layout.nodes}
            for future, node in futures.items():
                imported = future.result()
                say(f"    {node.name}: " + (f"imported {', '.join(imported)}" if imported else "all present"))

    def up(self) -> None:
        """Bring the cluster up (or converge a running one)."""
        layout = self.layout
        began = time.monotonic()
        self.preflight()
        for directory in (layout.logs, layout.run, layout.config, layout.kubeconfigs, layout.volumes):
            directory.mkdir(parents=True, exist_ok=True)
        self.stop_extra_nodes()
        with phase("host network"):
            hostnet.record_host(layout, hostdirs.HOST_DIRS)
            hostnet.setup(layout)
        with phase("certificates and kubeconfigs"):
            self.pki()
        with phase("etcd and kube-apiserver"):
            self.start_all([components.etcd(layout)])
            self.start_all([components.apiserver(layout)])
        with phase("cluster objects"):
            cidrs = self.apply_objects()
        with phase("controllers, DNS, provisioner"):
            upstreams = render.upstream_nameservers(Path("/etc/resolv.conf").read_text())
            self.start_all([
                components.controller_manager(layout), components.scheduler(layout),
                components.coredns(layout, upstreams), components.provisioner(layout),
            ])
        with phase(f"containerd on {len(layout.nodes)} node(s)"):
            for node in layout.nodes:
                self.prepare_node(node, cidrs[node.name])
            self.start_all([components.containerd(node) for node in layout.nodes])
        with phase("images"):
            self.import_images()
        with phase("kubelets and kube-proxy"):
            started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            actions = self.start_all([components.kubelet(layout, node) for node in layout.nodes])
            # kube-proxy reads node-1's addresses, which its kubelet registers.
            self.start_all([components.kube_proxy(layout)])
            api = self._api()
            for node in layout.nodes:
                # A Node keeps its last status in etcd: a restarted kubelet must have reported anew.
                since = None if actions[f"kubelet-{node.name}"] == "running" else started
                try:
                    probes.wait_for(functools.partial(bootstrap.node_ready, api, node.name, since), timeout=120,
                                    what=f"{node.name} Ready", interval=0.5)
                except probes.NotReadyError as err:
                    raise self._failure(f"kubelet-{node.name}", str(err)) from err
        with phase("cluster checks"):
            probes.wait_for(lambda: bootstrap.default_service_account(api), timeout=60,
                            what="default ServiceAccount")
            probes.wait_for(lambda: probes.dns_answers(
                str(lay.COREDNS_IP), f"kube-dns.kube-system.svc.{lay.CLUSTER_DOMAIN}", str(lay.CLUSTER_DNS_IP)),
                timeout=30, what="CoreDNS answering for kube-dns")
            hostnet.ensure_guard()
            certs.write_private(layout.host_resolv_conf, render.host_resolv_conf())
            layout.host_resolv_conf.chmod(0o644)
        say(f"cluster up in {time.monotonic() - began:.1f}s: {len(layout.nodes)} node(s) Ready")
        say(f"    export KUBECONFIG={layout.admin_kubeconfig}")
        say(f"    host DNS: python3 -m localcluster.incluster -- CMD  (uses {layout.host_resolv_conf})")

    # ---------------------------------------------------------------- down

    def present_nodes(self) -> list[Node]:
        """Nodes that have a directory or a pidfile (whatever the wanted count)."""
        indexes: set[int] = set()
        nodes_dir = self.layout.root / "nodes"
        if nodes_dir.is_dir():
            indexes |= {int(p.name.split("-")[1]) for p in nodes_dir.glob("node-*") if p.name[5:].isdigit()}
        for name in self.registry.names():
            tail_ = name.rsplit("node-", 1)
            if len(tail_) == 2 and tail_[1].isdigit():
                indexes.add(int(tail_[1]))
        return [self.layout.node(i) for i in sorted(indexes)]

    def stop_node(self, node: Node) -> set[str]:
        """Stop a node: kubelet, its containers (TERM, then KILL), containerd, shims; unmount; clean.

        Returns the ids of the node's pod sandboxes (for cleaning host-wide CNI caches).
        """
        self.registry.stop(f"kubelet-{node.name}", timeout=15)
        pods = f"{node.cgroup}/kubepods"
        procs.terminate(cgroups.pids_under(pods), timeout=POD_GRACE_S)
        self.registry.stop(f"containerd-{node.name}", timeout=15)
        deadline = time.monotonic() + 15
        while (left := cgroups.pids_under(node.cgroup)) and time.monotonic() < deadline:
            procs.terminate(left, timeout=2)
        self.clear_volatile(node)
        problems = cgroups.remove(node.cgroup)
        if problems:
            say(f"    {node.name}: cgroups left: {'; '.join(problems[:3])}")
        sandboxes = node.containerd_root / "io.containerd.grpc.v1.cri" / "sandboxes"
        return {p.name for p in sandboxes.iterdir()} if sandboxes.is_dir() else set()

    def power_off(self, node: Node) -> int:
        """Kill every process of ``node`` at once (kubelet, containerd, shims, containers), then reboot-clean it.

        Returns how many processes were killed.
        """
        killed: set[int] = set()
        deadline = time.monotonic() + 15
        while (left := cgroups.pids_under(node.cgroup) - {os.getpid()}) and time.monotonic() < deadline:
            procs.kill_now(left)  # repeated: a dying containerd may still have forked a shim
            killed |= left
        for name in (f"kubelet-{node.name}", f"containerd-{node.name}"):
            self.registry.forget(name)
        self.clear_volatile(node)
        return len(killed)

    @staticmethod
    def clear_volatile(node: Node) -> None:
        """What a reboot clears on a stopped node: its mounts, pod network links and runtime state."""
        stuck = mounts.unmount_under(node.root)
        if stuck:
            raise StepError(f"{node.name}: could not unmount {', '.join(map(str, stuck[:5]))}")
        hostnet.remove_node_links(node.bridge)
        if node.runtime_dir.exists():
            shutil.rmtree(node.runtime_dir)

    def stop_extra_nodes(self) -> None:
        """Stop nodes beyond the wanted count (after ``--nodes`` went down)."""
        wanted = {n.index for n in self.layout.nodes}
        for node in self.present_nodes():
            if node.index not in wanted and (
                self.registry.get(f"kubelet-{node.name}") or self.registry.get(f"containerd-{node.name}")
            ):
                with phase(f"stop {node.name} (beyond NODES={len(wanted)})"):
                    self.stop_node(node)

    def down(self) -> list[str]:
        """Stop everything, remove the cluster's devices, routes, chains and mounts; keep data."""
        layout = self.layout
        with phase("host services"):
            for name in HOST_SERVICES:
                self.registry.stop(name)
            if os.access(components.binary("kube-proxy"), os.X_OK):
                with layout.log("kube-proxy").open("a") as out:
                    subprocess.run([components.binary("kube-proxy"), "--cleanup"], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
                                   env=self.env)
        nodes = self.present_nodes()
        sandboxes: set[str] = set()
        with phase(f"{len(nodes)} node(s)"):
            for node in nodes:
                sandboxes |= self.stop_node(node)
        with phase("control plane"):
            for name in CONTROL_PLANE_ORDER:
                self.registry.stop(name, timeout=30)
            for name in self.registry.names():
                self.registry.stop(name)
        with phase("host network and paths"):
            stuck = mounts.unmount_under(layout.root)
            hostnet.teardown(layout, [n.bridge for n in nodes])
            existed = hostnet.load_record(layout).get("dirs", {})
            existed = existed if isinstance(existed, dict) else {}
            left = hostdirs.clean(layout.root, lay.BRIDGE_PREFIX, sandboxes, existed)
            cgroups.remove(f"/{lay.CGROUP_PARENT}")
            layout.host_record.unlink(missing_ok=True)
        leftovers = self.leftovers() + [f"mount {m}" for m in stuck] + left
        for item in leftovers:
            say(f"    LEFT: {item}")
        return leftovers

    def leftovers(self) -> list[str]:
        """Processes, mounts, links, routes, chains and cgroups of the cluster still present."""
        found = [f"process {t.name} pid {t.pid}" for n in self.registry.names()
                 if (t := self.registry.running(n)) is not None]
        found += [f"mount {m}" for m in mounts.under(self.layout.root)]
        found += hostnet.leftovers()
        found += [f"process pid {p} in /{lay.CGROUP_PARENT}" for p in cgroups.pids_under(f"/{lay.CGROUP_PARENT}")]
        found += [f"cgroup {h}/{lay.CGROUP_PARENT}" for h in cgroups.hierarchies()
                  if (h / lay.CGROUP_PARENT).exists()]
        return found

    def clean(self) -> None:
        """``down``, then remove the cluster state and the volumes."""
        left = self.down()
        if any(item.startswith("mount ") for item in left) or mounts.under(self.layout.root.parent):
            fail("mounts are left under the state directory; not removing it")
        with phase("remove state"):
            for path in (self.layout.root, self.layout.volumes):
                if path.exists():
                    # rm stays on this file system (never into a mount) and beats shutil.rmtree
                    # on the containerd snapshot trees (hundreds of thousands of files).
                    run(["rm", "-rf", "--one-file-system", str(path)], log=self.layout.logs.parent.parent
                        / "clean.log", step=f"remove {path}")
                    say(f"    removed {path}")

    # ---------------------------------------------------------------- status

    def status(self) -> int:
        """Print processes, nodes and endpoints; return 0 when everything expected runs."""
        layout = self.layout
        expected = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", *HOST_SERVICES]
        for node in layout.nodes:
            expected += [f"containerd-{node.name}", f"kubelet-{node.name}"]
        names = expected + [n for n in self.registry.names() if n not in expected]
        healthy = True
        print(f"{'COMPONENT':28} {'PID':>8}  STATE")
        for name in names:
            tracked = self.registry.get(name)
            alive = tracked is not None and tracked.alive()
            healthy &= alive or name not in expected
            pid = str(tracked.pid) if tracked else "-"
            print(f"{name:28} {pid:>8}  {'running' if alive else 'stopped'}")
        print()
        if self.registry.running("kube-apiserver"):
            kubectl = [components.binary("kubectl"), f"--kubeconfig={layout.admin_kubeconfig}",
                       "get", "nodes", "-o", "wide", "--request-timeout=5s"]
            subprocess.run(kubectl, check=False, stdin=subprocess.DEVNULL)
            print()
        print(f"API server   {layout.apiserver_url}")
        print(f"kubeconfig   {layout.admin_kubeconfig}")
        print(f"CoreDNS      {lay.COREDNS_IP}:53 (Service kube-dns {lay.CLUSTER_DNS_IP})")
        print(f"host DNS     {layout.host_resolv_conf} (python3 -m localcluster.incluster -- CMD)")
        for node in layout.nodes:
            print(f"{node.name:12} ip {node.ip}  pods {node.pod_cidr} on {node.bridge}  cgroup {node.cgroup}")
        print(f"state        {layout.root}")
        print(f"volumes      {layout.volumes}")
        print(f"logs         {layout.logs}")
        return 0 if healthy else 1


def node_command(cluster: Cluster, action: str, index: int) -> None:
    """``node stop N``: a power cut of node-N; ``node start N``: power back (``up`` converges)."""
    indexes = [node.index for node in cluster.layout.nodes]
    if index not in indexes:
        raise ValueError(f"no node {index}: the cluster has nodes {indexes}")
    node = cluster.layout.node(index)
    if action == "stop":
        with phase(f"power cut of {node.name}"):
            say(f"    {node.name}: {cluster.power_off(node)} processes killed")
    else:
        with phase(f"power back on {node.name}"):
            cluster.up()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python3 -m localcluster.cluster",
                                     description="The local multi-node Kubernetes cluster.")
    parser.add_argument("command", choices=("up", "down", "status", "clean", "node"))
    parser.add_argument("action", nargs="?", choices=("stop", "start"), help="node: stop (power cut) or start")
    parser.add_argument("index", nargs="?", type=int, help="node: which node (1..N)")
    parser.add_argument("--nodes", type=int, default=None, help="number of nodes (default $NODES or 3)")
    args = parser.parse_args(argv)
    if args.command == "node" and (args.action is None or args.index is None):
        parser.error("usage: node stop|start N")
    try:
        cluster = Cluster(Layout.create(node_count(args.nodes)))
        if args.command == "node":
            node_command(cluster, args.action, args.index)
        elif args.command == "up":
            cluster.up()
        elif args.command == "down":
            sys.exit(1 if cluster.down() else 0)
        elif args.command == "clean":
            cluster.clean()
        else:
            sys.exit(cluster.status())
    except (StepError, ValueError, RuntimeError, OSError, client.ApiException) as err:
        fail(str(err))


if __name__ == "__main__":
    main()
