"""Pinned versions of everything the toolchain builds. Bump a version here and the cache key changes.

Why these and not others: the Go module proxy we reach serves an allow-listed subset of versions.
- Pulumi CLI: `pkg/v3 v3.272.0` (the PyPI SDK's version) is not served; v3.274.1 is the nearest
  served release. A CLI newer than the SDK is the supported direction.
- Kubernetes provider: the only served source of the provider module is commit f47bc2d6f199
  (2026-01-15), the release candidate of v4.25.0, so the project pins the `pulumi-kubernetes`
  wheel to 4.25.0 and the plugin is stamped 4.25.0: SDK and plugin agree, no download is attempted.
- Kubernetes v1.36.x: the newest line that still runs on cgroup v1 with `failCgroupV1: false`.
"""

from __future__ import annotations

PULUMI_CLI = "3.274.1"
PULUMI_SDK = "3.272.0"  # the `pulumi` wheel; the language host is built against this SDK
PULUMI_KUBERNETES = "4.25.0"  # the `pulumi-kubernetes` wheel and the provider plugin
PULUMI_KUBERNETES_SOURCE = "v4.0.0-20260115033456-f47bc2d6f199"  # provider/v4 module (pseudo-version)
PULUMI_KUBERNETES_SDK_GO = "v4.25.0"  # fills the provider's `../sdk` replace

KUBERNETES = "1.36.3"
ETCD = "3.6.16"
CONTAINERD = "2.2.9"
COREDNS = "1.14.7"
