"""Image references: well-formed (the program refuses others), and pinned (the policy pack refuses others).

The program refuses a malformed reference at once, naming its config key. Whether a reference is pinned
is the policy pack's mandatory ``pinned-images`` check, run by the engine on every preview and update;
the program only warns about an unpinned image, naming the key, so there is one place that refuses it.
"""

from __future__ import annotations

import re

_REFERENCE = re.compile(r"^[a-z0-9]+(?:[._/:-][a-zA-Z0-9]+)*(?:@sha256:[0-9a-f]{64})?$")


def reference_problem(image: str) -> str | None:
    """Say what is wrong with the form of ``image``, or return ``None`` for a well-formed reference."""
    if not image or not _REFERENCE.match(image):
        return f"must be an image reference such as nginx:1.27.3, got {image!r}"
    return None


def pin_problem(image: str) -> str | None:
    """Say why a well-formed ``image`` is not pinned (``latest`` or no tag), or return ``None``."""
    if "@sha256:" in image:
        return None
    last_segment = image.rsplit("/", 1)[-1]
    if ":" not in last_segment:
        return f"must name a pinned tag or digest (untagged means latest), got {image!r}"
    if last_segment.rsplit(":", 1)[1] == "latest":
        return f"must name a pinned tag or digest, not latest, got {image!r}"
    return None


def image_problem(image: str) -> str | None:
    """Say what is wrong with ``image`` as a pinned reference, or return ``None`` when it is pinned."""
    return reference_problem(image) or pin_problem(image)
