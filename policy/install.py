"""Create or refresh the pack's virtualenv, ``policy/.venv``, from ``policy/requirements.txt``.

Usage: ``python -m policy.install`` (``make policy-venv``). The pack runs in a virtualenv of its own
because ``pulumi-policy`` pins a protobuf the project's environment does not use. The requirements' hash
is kept in the virtualenv, so a changed file reinstalls and an unchanged one costs nothing.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from policy import PACK_DIR

VENV = PACK_DIR / ".venv"
REQUIREMENTS = PACK_DIR / "requirements.txt"
STAMP = VENV / "requirements.sha256"


def python() -> Path:
    """The virtualenv's interpreter."""
    return VENV / "bin" / "python"


def is_current() -> bool:
    """True when the virtualenv exists and was installed from the current requirements."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return python().exists() and STAMP.exists() and STAMP.read_text().strip() == digest


def ensure() -> Path:
    """Create the virtualenv if needed, install the requirements if they changed; return its interpreter."""
    if is_current():
        return python()
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    STAMP.write_text(hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest() + "\n")
    return python()


if __name__ == "__main__":
    if not is_current():
        print(f"policy pack virtualenv: {ensure().parent.parent}", flush=True)
