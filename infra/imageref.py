"""Image references: a deployable image names a fixed tag or digest, never ``latest`` or nothing."""

from __future__ import annotations

import re

_REFERENCE = re.compile(r"^[a-z0-9]+(?:[._/:-][a-zA-Z0-9]+)*(?:@sha256:[0-9a-f]{64})?$")


def image_problem(image: str) -> str | None:
    """Say what is wrong with ``image`` as a pinned reference, or return ``None`` when it is pinned."""
    if not image or not _REFERENCE.match(image):
        return f"must be an image reference such as nginx:1.27.3, got {image!r}"
    if "@sha256:" in image:
        return None
    last_segment = image.rsplit("/", 1)[-1]
    if ":" not in last_segment:
        return f"must name a pinned tag or digest (untagged means latest), got {image!r}"
    if last_segment.rsplit(":", 1)[1] == "latest":
        return f"must name a pinned tag or digest, not latest, got {image!r}"
    return None
