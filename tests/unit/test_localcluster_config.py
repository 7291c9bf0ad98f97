"""Pure tests of the local cluster's layout, rendered configs, PKI and provisioner specs (no cluster)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from cryptography import x509

from localcluster.cluster import provisioner
from localcluster.cluster.host import certs, mounts
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec import objects, pki, render
from localcluster.cluster.spec.layout import Layout


@pytest.fixture
def three(monkeypatch: pytest.MonkeyPatch) -> Layout:
    monkeypatch.setenv("STATEFUL_STATE", "/state")  # nothing is created; short for unix sockets
    return Layout.create(3)


def test_nodes_get_distinct_host_addresses_pod_ranges_and_short_bridge_names(three: Layout) -> None:
    assert [str(n.ip) for n in three.nodes] == ["10.244.0.11", "10.244.0.12", "10.244.0.13"]
    assert [str(n.pod_cidr) for n in three.nodes] == ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    assert all(len(n.bridge) < 15 for n in three.nodes)
    assert all(n.ip in lay.HOST_NET and n.pod_cidr.subnet_of(lay.CLUSTER_CIDR) for n in three.nodes)
    assert not any(n.pod_cidr.overlaps(lay.HOST_NET) for n in three.nodes)


def test_node_count_outside_the_supported_range_is_refused(three: Layout) -> None:
    with pytest.raises(ValueError, match="NODES"):
        Layout.create(0)
    with pytest.raises(ValueError, match="NODES"):
        Layout.create(lay.MAX_NODES + 1)


def test_containerd_config_has_the_settings_this_machine_needs(three: Layout) -> None:
    node = three.nodes[1]
    doc = tomllib.loads(render.containerd_config(node))
    runtime = doc["plugins"]["io.containerd.cri.v1.runtime"]
    assert doc["version"] == 3
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert runtime["cni"]["conf_dir"] == str(node.cni_conf_dir)
    assert doc["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == render.PAUSE_IMAGE
    assert doc["grpc"]["address"] == str(node.containerd_socket)
    assert doc["imports"] == []


def test_cni_config_uses_the_node_bridge_and_range_without_masquerade(three: Layout) -> None:
    node = three.nodes[0]
    doc = json.loads(render.cni_conflist(node, node.pod_cidr))
    bridge = doc["plugins"][0]
    assert bridge["bridge"] == "stfl-n1"
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24", "gateway": "10.244.1.1"}]]


def test_kubelet_config_keeps_the_node_apart_and_uses_cluster_dns(three: Layout) -> None:
    node = three.nodes[2]
    doc: dict[str, Any] = yaml.safe_load(render.kubelet_config(three, node))
    assert doc["failCgroupV1"] is False
    assert doc["cgroupDriver"] == "cgroupfs"
    assert doc["cgroupRoot"] == "/stateful/node-3"
    assert doc["address"] == "10.244.0.13"
    assert doc["clusterDNS"] == ["10.96.0.10"]
    assert doc["resolvConf"] == str(node.resolv_conf)
    assert doc["imageGCHighThresholdPercent"] == 100


def test_upstream_nameservers_skip_the_cluster_dns_and_junk() -> None:
    text = "search example\nnameserver 198.51.100.53\nnameserver 10.244.0.53\nnameserver bogus\n"
    assert render.upstream_nameservers(text) == ["198.51.100.53"]


def test_corefile_serves_cluster_local_with_a_short_ttl_and_forwards_the_rest() -> None:
    text = render.corefile(Path("/k/coredns.kubeconfig"), ["192.0.2.53"])
    assert "bind 10.244.0.53" in text
    assert "ttl 5" in text
    assert "pods insecure" in text
    assert "forward . 192.0.2.53" in text
    assert "forward" not in render.corefile(Path("/k"), [])


def test_host_resolv_conf_searches_the_cluster_domain() -> None:
    assert render.host_resolv_conf().splitlines() == [
        "nameserver 10.244.0.53", "search svc.cluster.local cluster.local", "options ndots:5"]


def test_certificates_are_kept_when_valid_and_reissued_when_names_change(tmp_path: Path) -> None:
    ca = certs.Authority(tmp_path)
    spec = pki.CertSpec("web", "web", ip_addresses=(lay.APISERVER_IP,), server=True)
    assert ca.ensure(spec) is True
    assert ca.ensure(spec) is False
    assert ca.ensure(pki.CertSpec("web", "web", dns_names=("extra",), server=True)) is True
    cert = x509.load_pem_x509_certificate((tmp_path / "web.crt").read_bytes())
    cert.verify_directly_issued_by(ca.cert)
    assert (tmp_path / "web.key").stat().st_mode & 0o077 == 0


def test_kube_dns_service_points_at_the_host_coredns() -> None:
    by_key = {(o["kind"], o["metadata"]["name"]): o for o in objects.manifests()}
    service = by_key[("Service", "kube-dns")]
    slices = by_key[("EndpointSlice", "kube-dns-host")]
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    assert "selector" not in service["spec"]
    assert slices["endpoints"][0]["addresses"] == ["10.244.0.53"]
    assert slices["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    sc = by_key[("StorageClass", "standard")]
    assert sc["provisioner"] == provisioner.PROVISIONER
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["allowVolumeExpansion"] is True


def test_provisioned_volume_is_a_prebound_host_path_without_node_affinity(tmp_path: Path) -> None:
    pvc = SimpleNamespace(
        metadata=SimpleNamespace(name="www-web-0", namespace="demo", uid="0123456789abcdef"),
        spec=SimpleNamespace(resources=SimpleNamespace(requests={"storage": "1Gi"}),
                             access_modes=["ReadWriteOnce"], volume_mode=None, storage_class_name="standard"),
    )
    path = provisioner.volume_dir(tmp_path, "demo", "www-web-0", "0123456789abcdef")
    pv: Any = provisioner.persistent_volume(pvc, path, "Delete")
    assert path == tmp_path / "demo" / "www-web-0-01234567"
    assert pv.spec.host_path.path == str(path)
    assert pv.spec.host_path.type == "DirectoryOrCreate"
    assert pv.spec.claim_ref.uid == "0123456789abcdef"
    assert pv.spec.node_affinity is None
    assert pv.spec.persistent_volume_reclaim_policy == "Delete"


def _bound(requested: str, capacity: str, *, ours: bool = True, phase: str = "Bound") -> tuple[Any, Any]:
    pvc = SimpleNamespace(
        spec=SimpleNamespace(resources=SimpleNamespace(requests={"storage": requested})),
        status=SimpleNamespace(phase=phase, capacity={"storage": capacity}),
    )
    annotations = {provisioner.PROVISIONED_BY: provisioner.PROVISIONER} if ours else {}
    pv = SimpleNamespace(metadata=SimpleNamespace(annotations=annotations))
    return pvc, pv


def test_a_bound_claim_that_asks_for_more_than_it_has_is_resized() -> None:
    assert provisioner.needs_resize(*_bound("512Mi", "256Mi"))


@pytest.mark.parametrize(
    ("requested", "capacity", "ours", "phase"),
    [("256Mi", "256Mi", True, "Bound"), ("0.25Gi", "256Mi", True, "Bound"), ("512Mi", "256Mi", False, "Bound"),
     ("512Mi", "256Mi", True, "Pending")],
    ids=["same size", "same size spelled otherwise", "another provisioner's volume", "not bound yet"],
)
def test_a_claim_is_resized_only_when_bound_to_our_volume_and_asking_for_more(
    requested: str, capacity: str, ours: bool, phase: str
) -> None:
    assert not provisioner.needs_resize(*_bound(requested, capacity, ours=ours, phase=phase))


def test_reclaim_only_touches_directories_below_the_volumes_root(tmp_path: Path) -> None:
    assert provisioner.inside(tmp_path / "a" / "b", tmp_path)
    assert not provisioner.inside(tmp_path, tmp_path)
    assert not provisioner.inside(tmp_path / ".." / "x", tmp_path)


def test_mountinfo_escapes_are_decoded() -> None:
    assert mounts._unescape(r"/a\040b\134c") == "/a b\\c"
