"""One labels function feeds every selector, so no selector can miss the pods."""

from __future__ import annotations

import pytest

from conftest import Render
from infra.errors import InvalidFieldError
from infra.labels import labels, pod_labels, selector_labels


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


def test_the_nginx_pods_also_carry_the_tutorials_label_outside_every_selector(rendered: Render) -> None:
    statefulset = rendered().named("StatefulSet", "web-demo")
    assert statefulset.spec["template"]["metadata"]["labels"]["app"] == "nginx"
    assert "app" not in statefulset.spec["selector"]["matchLabels"]
    assert "app" not in statefulset.metadata["labels"]


def test_the_nginx_pods_name_their_default_container_for_kubectl(rendered: Render) -> None:
    template = rendered().named("StatefulSet", "web-demo").spec["template"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "nginx"
    assert template["spec"]["containers"][0]["name"] == "nginx"


def test_an_extra_pod_label_may_not_redefine_a_project_label() -> None:
    with pytest.raises(InvalidFieldError, match=r"must not redefine the project's own labels"):
        pod_labels("nginx", "web-demo", {"app.kubernetes.io/name": "web"})


def test_extra_pod_labels_add_to_the_object_labels() -> None:
    assert pod_labels("nginx", "web-demo", {"app": "nginx"}) == {**labels("nginx", "web-demo"), "app": "nginx"}
