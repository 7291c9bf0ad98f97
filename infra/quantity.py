"""Kubernetes resource quantities (``500m``, ``1Gi``, ``1e3``), parsed exactly like the API server."""

from __future__ import annotations

import re
from decimal import Decimal

_QUANTITY = re.compile(
    r"^(?P<number>\+?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)

_MULTIPLIERS: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

QUANTITY_HINT = "a Kubernetes quantity such as 1Gi, 500Mi or 250m"


def parse_quantity(text: str) -> Decimal:
    """Return the value of a quantity in base units; raise ``ValueError`` for anything else (``10 Gb``)."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not {QUANTITY_HINT}: {text!r}")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _MULTIPLIERS[suffix]


def is_quantity(text: str) -> bool:
    """Tell whether ``text`` is a valid quantity."""
    try:
        parse_quantity(text)
    except ValueError:
        return False
    return True
