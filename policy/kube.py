"""Reading Kubernetes objects the way the engine hands them to policies.

A resource is a type token (``kubernetes:apps/v1:StatefulSet``) and the object's fields, camelCase as
``kubectl`` shows them. In the engine the fields are read-only mappings and sequences (not dicts and
lists), numbers arrive as floats, and during a preview a field whose value is not known yet raises when
read. So everything here reads through ``Mapping``/``Sequence`` and reads only the fields a rule needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.labels import NAME, POD_NAME
from policy.model import ResourceArgs

#: Apps whose members vote (a lost majority stops them): ZooKeeper.
QUORUM_APPS = frozenset({"zookeeper"})
#: The project's apps (``app.kubernetes.io/name``), each configured by the stack key ``stateful:<app>``.
PROJECT_APPS = frozenset({"nginx", "zookeeper", "mysql"})

_OBJECT = re.compile(r"^kubernetes:(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+):(?P<kind>[A-Z][A-Za-z0-9]*)$")
_COMPONENT_GROUPS = frozenset({"yaml", "helm.sh", "kustomize"})  # component resources, not API objects
#: Kinds whose ``spec.template`` is a pod template, and where a CronJob keeps its own.
_TEMPLATED = frozenset({"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"})
_CONTROLLED = frozenset({"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet"})  # their selector is set by hand


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    """``value`` if it is a sequence (not a string), else an empty one."""
    return value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else ()


def kind(resource: ResourceArgs) -> str | None:
    """The Kubernetes kind of an API object (``StatefulSet``), ``None`` for anything else (components too)."""
    match = _OBJECT.match(resource.resource_type)
    if match is None or match["group"] in _COMPONENT_GROUPS or match["kind"].endswith("List"):
        return None
    return match["kind"]


def metadata(resource: ResourceArgs) -> Mapping[str, Any]:
    """The object's ``metadata``."""
    return mapping(resource.props.get("metadata"))


def spec(resource: ResourceArgs) -> Mapping[str, Any]:
    """The object's ``spec``."""
    return mapping(resource.props.get("spec"))


def namespace(resource: ResourceArgs) -> Any:
    """The object's namespace (``None`` for cluster-scoped objects)."""
    return metadata(resource).get("namespace")


def describe(resource: ResourceArgs) -> str:
    """``Kind namespace/name`` (or the Pulumi name when the object has none yet)."""
    meta = metadata(resource)
    name = meta.get("name") or f"<unnamed {resource.name}>"
    space = meta.get("namespace")
    label = kind(resource) or resource.resource_type
    return f"{label} {space}/{name}" if space else f"{label} {name}"


def pod_template(resource: ResourceArgs) -> Mapping[str, Any] | None:
    """The pod template of a workload (``None`` for objects without one; a Pod is its own template)."""
    found = kind(resource)
    if found == "Pod":
        return resource.props
    if found in _TEMPLATED:
        return mapping(spec(resource).get("template"))
    if found == "CronJob":
        job = mapping(mapping(spec(resource).get("jobTemplate")).get("spec"))
        return mapping(job.get("template"))
    return None


def pod_spec(resource: ResourceArgs) -> Mapping[str, Any] | None:
    """The pod spec of a workload (``None`` for objects that run no pods)."""
    template = pod_template(resource)
    return None if template is None else mapping(template.get("spec"))


def pod_labels(resource: ResourceArgs) -> dict[str, str]:
    """The labels its pods get from the template."""
    template = pod_template(resource)
    labels = mapping(mapping(template).get("metadata")).get("labels")
    return {str(key): str(value) for key, value in mapping(labels).items()}


def has_selector(resource: ResourceArgs) -> bool:
    """True for controllers whose ``spec.selector`` is written by hand and must select their own pods."""
    return kind(resource) in _CONTROLLED


def containers(pod: Mapping[str, Any], *, init: bool = True) -> Iterator[Mapping[str, Any]]:
    """The pod's containers, then (``init``) its init and ephemeral containers."""
    sections = ("containers", "initContainers", "ephemeralContainers") if init else ("containers",)
    for section in sections:
        for container in sequence(pod.get(section)):
            yield mapping(container)


def is_quorum_app(resource: ResourceArgs) -> bool:
    """True for a StatefulSet of an app whose members vote (by its pods' ``app.kubernetes.io/name``)."""
    return kind(resource) == "StatefulSet" and pod_labels(resource).get(NAME) in QUORUM_APPS


def replicas(resource: ResourceArgs) -> int:
    """``spec.replicas`` (1 when unset, as the API defaults it)."""
    value = spec(resource).get("replicas")
    return 1 if value is None else int(value)


def selects(selector: Mapping[str, Any], labels: Mapping[str, str], *, label_selector: bool = True) -> bool:
    """Whether a non-empty selector selects pods with ``labels``.

    ``label_selector``: a ``LabelSelector`` (``matchLabels`` and ``matchExpressions``, as StatefulSets,
    budgets and affinity terms use); otherwise a plain map, as a Service's ``spec.selector``. The
    ``statefulset.kubernetes.io/pod-name`` label is the controller's, not the template's, so a selector on it
    counts as matching (a Service per pod uses it).
    """
    wanted = mapping(selector.get("matchLabels")) if label_selector else selector
    expressions = sequence(selector.get("matchExpressions")) if label_selector else ()
    if not wanted and not expressions:
        return False
    for key, value in wanted.items():
        if key != POD_NAME and labels.get(key) != value:
            return False
    return all(_matches(mapping(expression), labels) for expression in expressions)


def _matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expression.get("key"))
    operator = expression.get("operator")
    values = {str(value) for value in sequence(expression.get("values"))}
    if key == POD_NAME:
        return True
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False
