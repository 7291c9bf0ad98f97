"""Every component's log and the runtime state in one folder, and the problem lines of a log.

    python3 -m localcluster.cluster logs       (make cluster-logs)

writes ``<state>/cluster-logs/<UTC time>/`` and prints its path:

- ``components/<name>.log``: the log of every host process (etcd, API server, controllers,
  CoreDNS, provisioner, kube-proxy, each node's containerd and kubelet, image imports, bootstrap);
- ``problems.txt``: the error, fatal and panic lines of each of those logs;
- ``processes.txt``: each component's pid and whether it runs;
- ``kubectl/``: nodes (wide and described), pods of every namespace (wide), events;
- ``nodes/node-N/``: containerd's containers, tasks and images, the kubelet's health and pods,
  and the node's container logs (``pod-logs/``);
- ``host.txt``: the cluster's links, addresses, routes, mounts and cgroup processes.

When ``up`` fails, :func:`failure_report` prints the failing component's problem lines above the
tail of its log (as minikube scans the components' logs for known root causes).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from localcluster import paths, procs
from localcluster.cluster.host import cgroups, mounts
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec.components import binary
from localcluster.cluster.spec.layout import Layout
from localcluster.progress import tail

#: Severity markers: klog's ``E1201 12:00:00.000000 ...``, JSON ``"level":"error"`` (etcd),
#: logfmt ``level=error`` (containerd), bracketed ``[ERROR]`` (CoreDNS).
KLOG = re.compile(r"^([IWEF])\d{4} ")
STRUCTURED = re.compile(r'(?:"level":\s*"|\blevel=)(\w+)', re.IGNORECASE)
BRACKET = re.compile(r"^\[(\w+)\]")
PROBLEM_LEVELS = frozenset({"error", "fatal", "panic", "dpanic", "crit", "critical"})
#: A line without a severity marker (a Go panic, a Python traceback) is a problem when it says so.
PROBLEM_WORD = re.compile(r"\b(error|fatal|panic)\b|^Traceback ", re.IGNORECASE)
#: What differs between repeats of the same problem: timestamps, pids, ids, addresses, ports.
VOLATILE = re.compile(r"[0-9a-f]{8,}|\d+")
SCAN_LINES = 400
PROBLEM_LINES = 20
KEEP_BUNDLES = 5
COMMAND_TIMEOUT_S = 20


def is_problem(line: str) -> bool:
    """True for an error, fatal or panic line: by its severity marker, else by its words."""
    if klog := KLOG.match(line):
        return klog.group(1) in "EF"
    if level := STRUCTURED.search(line) or BRACKET.match(line):
        return level.group(1).lower() in PROBLEM_LEVELS
    return PROBLEM_WORD.search(line) is not None


def problem_lines(lines: Sequence[str], *, limit: int = PROBLEM_LINES, scan: int = SCAN_LINES) -> list[str]:
    """The problem lines among the last ``scan`` lines, repeats folded: the latest ``limit``, oldest first.

    A problem seen again (same text but for numbers and ids) keeps its latest line, marked with
    how often it occurred.
    """
    latest: dict[str, tuple[str, int]] = {}
    for line in lines[-scan:]:
        text = line.rstrip()
        if is_problem(text):
            key = VOLATILE.sub("#", KLOG.sub("", text))
            _, seen = latest.pop(key, ("", 0))
            latest[key] = (text, seen + 1)
    found = [text if seen == 1 else f"{text}  [x{seen}]" for text, seen in latest.values()]
    return found[-limit:]


def read_lines(log: Path) -> list[str]:
    """The lines of a log (none when it is missing)."""
    try:
        return log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def failure_report(name: str, reason: str, log: Path) -> str:
    """What ``up`` prints when a component fails: the reason, its problem lines, its log's tail."""
    problems = problem_lines(read_lines(log))
    parts = [f"{name} failed: {reason}"]
    if problems:
        parts += [f"--- problem lines of {log} ---", *problems]
    parts += [f"--- tail of {log} ---", tail(log), "(every log and the runtime state: make cluster-logs)"]
    return "\n".join(parts)


def bundles_dir() -> Path:
    """Where ``logs`` writes its folders."""
    return paths.state_root() / "cluster-logs"


def _capture(out: Path, *commands: Sequence[str | Path]) -> None:
    """Run each command (bounded in time) and append its command line and output to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as text:
        for argv in commands:
            text.write(f"$ {' '.join(map(str, argv))}\n")
            text.flush()
            try:
                subprocess.run([str(a) for a in argv], stdout=text, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, check=False, timeout=COMMAND_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as err:
                text.write(f"({err})\n")
            text.write("\n")


def _kubectl(layout: Layout, *args: str) -> list[str]:
    return [binary("kubectl"), f"--kubeconfig={layout.admin_kubeconfig}", "--request-timeout=10s", *args]


def _components(layout: Layout, folder: Path) -> dict[str, int]:
    """Copy every component log; write ``problems.txt``; return each log's problem-line count."""
    (folder / "components").mkdir(parents=True)
    counts: dict[str, int] = {}
    with (folder / "problems.txt").open("w") as report:
        for log in sorted(layout.logs.glob("*.log")) if layout.logs.is_dir() else []:
            shutil.copy2(log, folder / "components" / log.name)
            problems = problem_lines(read_lines(log), limit=50, scan=2000)
            counts[log.stem] = len(problems)
            report.write(f"=== {log.stem}: {len(problems)} problem line(s) in the last 2000 lines\n")
            report.writelines(f"{line}\n" for line in problems)
            report.write("\n")
    return counts


def _processes(layout: Layout, folder: Path) -> None:
    registry = procs.Registry(layout.run)
    with (folder / "processes.txt").open("w") as out:
        out.write(f"{'COMPONENT':28} {'PID':>8}  STATE\n")
        for name in registry.names():
            tracked = registry.get(name)
            state = "running" if tracked is not None and tracked.alive() else "stopped"
            out.write(f"{name:28} {tracked.pid if tracked else '-':>8}  {state}\n")


def _api_state(layout: Layout, folder: Path) -> None:
    kubectl = folder / "kubectl"
    _capture(kubectl / "nodes.txt", _kubectl(layout, "get", "nodes", "-o", "wide"),
             _kubectl(layout, "describe", "nodes"))
    _capture(kubectl / "pods.txt", _kubectl(layout, "get", "pods", "-A", "-o", "wide"))
    _capture(kubectl / "events.txt", _kubectl(layout, "get", "events", "-A", "--sort-by=.lastTimestamp"))
    _capture(kubectl / "storage.txt", _kubectl(layout, "get", "storageclass,pv,pvc", "-A", "-o", "wide"))


def _node_state(layout: Layout, folder: Path) -> None:
    for node in layout.nodes:
        mine = folder / "nodes" / node.name
        ctr = [binary("ctr"), "-a", str(node.containerd_socket), "-n", "k8s.io"]
        _capture(mine / "containerd.txt", [*ctr, "version"], [*ctr, "containers", "ls"], [*ctr, "tasks", "ls"],
                 [*ctr, "images", "ls"])
        raw = f"/api/v1/nodes/{node.name}/proxy"
        _capture(mine / "kubelet.txt", _kubectl(layout, "get", "--raw", f"{raw}/healthz"),
                 _kubectl(layout, "get", "--raw", f"{raw}/pods"))
        if node.pod_logs.is_dir():
            shutil.copytree(node.pod_logs, mine / "pod-logs", symlinks=False, dirs_exist_ok=True,
                            ignore_dangling_symlinks=True)


def _host_state(layout: Layout, folder: Path) -> None:
    out = folder / "host.txt"
    _capture(out, ["ip", "-br", "link"], ["ip", "-br", "addr"], ["ip", "route", "show", "table", "all"])
    with out.open("a") as text:
        text.write(f"mounts under {layout.root}:\n")
        text.writelines(f"    {m}\n" for m in mounts.under(layout.root))
        text.write(f"processes in /{lay.CGROUP_PARENT}: {sorted(cgroups.pids_under(f'/{lay.CGROUP_PARENT}'))}\n")


def _prune(keep: int) -> None:
    folders = sorted(p for p in bundles_dir().iterdir() if p.is_dir())
    for old in folders[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def collect(layout: Layout) -> tuple[Path, dict[str, int]]:
    """Gather the logs and the runtime state into a new folder; return it and the problem counts."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = bundles_dir() / stamp
    folder.mkdir(parents=True, exist_ok=True)
    counts = _components(layout, folder)
    _processes(layout, folder)
    if procs.Registry(layout.run).running("kube-apiserver"):
        _api_state(layout, folder)
    _node_state(layout, folder)
    _host_state(layout, folder)
    _prune(KEEP_BUNDLES)
    return folder, counts
