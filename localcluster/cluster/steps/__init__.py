"""``up`` as an ordered list of small steps; ``down`` walks the same list backwards.

1. ``network``        the host network: bridge, addresses, routes, guard chains, sysctls
2. ``pki``            CA, certificates, service-account keys, kubeconfigs
3. ``control_plane``  etcd, then kube-apiserver
4. ``objects``        RBAC, DNS Service, StorageClass; Node objects with their pod CIDRs
5. ``services``       kube-controller-manager, kube-scheduler, CoreDNS, volume provisioner
6. ``containerd``     each node's cgroups, CNI config and containerd
7. ``images``         the local images imported into every node
8. ``kubelets``       each node's kubelet, then kube-proxy; every Node Ready
9. ``checks``         the default ServiceAccount, cluster DNS; the host's resolv.conf

Each step starts only what its ``up`` names, so stopping exactly what started, in reverse, is
``down`` of each step from last to first (k0s and kwok derive teardown the same way).
"""

from __future__ import annotations

from localcluster.cluster.runner import NodeStep, Step
from localcluster.cluster.steps import (
    checks,
    containerd,
    control_plane,
    images,
    kubelets,
    network,
    objects,
    pki,
    services,
)

STEPS: tuple[Step, ...] = (
    network.STEP, pki.STEP, control_plane.STEP, objects.STEP, services.STEP,
    containerd.STEP, images.STEP, kubelets.STEP, checks.STEP,
)
#: The steps that run on every node, in start order (a node is stopped by walking them backwards).
NODE_STEPS: tuple[NodeStep, ...] = tuple(s for s in STEPS if isinstance(s, NodeStep))
