"""The Pod Security admission levels a namespace enforces, warns about and audits (its ``pod-security`` labels).

Production enforces ``restricted``. A local cluster may enforce ``baseline`` and still warn and audit at
``restricted``: a throw-away debugging pod (``kubectl run -it --rm ...``) then starts, with a warning naming
what the restricted level would refuse, while the stack's own workloads are held to ``restricted`` by the
policy pack at every preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from infra.errors import InvalidFieldError

LABEL_PREFIX = "pod-security.kubernetes.io"
MODES = ("enforce", "warn", "audit")


class PodSecurityLevel(StrEnum):
    """The Pod Security Standards, from the most permissive to the most restrictive."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def strictness(self) -> int:
        """0 for privileged, 1 for baseline, 2 for restricted."""
        return list(PodSecurityLevel).index(self)


@dataclass(frozen=True, kw_only=True)
class PodSecurityLevels:
    """The level a namespace enforces, and the stricter levels it only warns about or audits (unset: none)."""

    enforce: PodSecurityLevel = PodSecurityLevel.RESTRICTED
    warn: PodSecurityLevel | None = None
    audit: PodSecurityLevel | None = None

    def __post_init__(self) -> None:
        """Refuse a warn or audit level below the enforced one: pods below it never get that far."""
        for mode in ("warn", "audit"):
            level: PodSecurityLevel | None = getattr(self, mode)
            if level is not None and level.strictness < self.enforce.strictness:
                raise InvalidFieldError(
                    mode,
                    f"must be at least as strict as enforce ({self.enforce}): the admission refuses every pod "
                    f"below the enforced level before it would {mode}; got {level}",
                )


def namespace_labels(levels: PodSecurityLevels) -> dict[str, str]:
    """The namespace labels for ``levels``: ``pod-security.kubernetes.io/<mode>: <level>`` for each level set."""
    labels = {f"{LABEL_PREFIX}/enforce": str(levels.enforce)}
    for mode in ("warn", "audit"):
        level = getattr(levels, mode)
        if level is not None:
            labels[f"{LABEL_PREFIX}/{mode}"] = str(level)
    return labels
