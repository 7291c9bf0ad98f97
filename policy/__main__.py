"""The policy pack the engine runs: ``pulumi preview --policy-pack policy`` (and ``pulumi up``).

The language host starts this file through the Python SDK's ``python -m pulumi.policy`` with this
directory as the working directory, in the pack's own virtualenv (``PulumiPolicy.yaml``). The policies
are the ``policy`` package of this repository, so the repository is put on the path first; this
directory itself is taken off it, so that its modules are only ever imported as ``policy.*``.
PolicyPack(...) serves the engine and never returns.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from pulumi_policy import (  # type: ignore[import-not-found,unused-ignore]  # noqa: E402 - the pack's own venv
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policy.model import Level, ResourcePolicy  # noqa: E402
from policy.pack import DESCRIPTION, NAME, POLICIES  # noqa: E402

LEVELS = {Level.MANDATORY: EnforcementLevel.MANDATORY, Level.ADVISORY: EnforcementLevel.ADVISORY}

PolicyPack(
    name=NAME,
    description=DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name=policy.name,
            description=policy.description,
            validate=policy.validate,
            enforcement_level=LEVELS[policy.level],
        )
        if isinstance(policy, ResourcePolicy)
        else StackValidationPolicy(
            name=policy.name,
            description=policy.description,
            validate=policy.validate,
            enforcement_level=LEVELS[policy.level],
        )
        for policy in POLICIES
    ],
)
