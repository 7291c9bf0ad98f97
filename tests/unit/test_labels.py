"""One labels function feeds every selector, so no selector can miss the pods."""

from __future__ import annotations

from conftest import Render
from infra.labels import labels, selector_labels


def _subset(selector: dict[str, str], labels_: dict[str, str]) -> bool:
    return all(labels_.get(key) == value for key, value in selector.items())


def test_the_selector_labels_are_part_of_the_object_labels() -> None:
    assert _subset(selector_labels("zookeeper", "zk"), labels("zookeeper", "zk"))


def test_every_rendered_selector_uses_the_pod_labels(rendered: Render) -> None:
    rendering = rendered()
    for statefulset in rendering.of_kind("StatefulSet"):
        pod_labels = dict(statefulset.spec["template"]["metadata"]["labels"])
        namespace = statefulset.metadata["namespace"]
        selectors = [dict(statefulset.spec["selector"]["matchLabels"])]
        anti = statefulset.spec["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
        selectors += [
            term["labelSelector"]["matchLabels"]
            for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        ]
        selectors += [
            term["podAffinityTerm"]["labelSelector"]["matchLabels"]
            for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
        ]
        for other in rendering.resources:
            if other.metadata.get("namespace") != namespace:
                continue
            if other.kind == "Service":
                selectors.append({k: v for k, v in other.spec["selector"].items() if "pod-name" not in k})
            if other.kind == "PodDisruptionBudget":
                selectors.append(dict(other.spec["selector"]["matchLabels"]))
        assert selectors
        for selector in selectors:
            assert selector == selector_labels(pod_labels["app.kubernetes.io/name"], statefulset.metadata["name"])
            assert _subset(selector, pod_labels)
