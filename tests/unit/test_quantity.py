"""Kubernetes quantities are parsed exactly as the API server accepts them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.quantity import is_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10Gi", Decimal(10 * 2**30)),
        ("500Mi", Decimal(500 * 2**20)),
        ("250m", Decimal("0.25")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        ("128974848", Decimal(128974848)),
    ],
)
def test_valid_quantities_parse_to_their_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["10 Gb", "10Gb", "10GiB", "Gi", "", "-1Gi", "1.2.3", "ten"])
def test_malformed_quantities_are_rejected(text: str) -> None:
    assert not is_quantity(text)


def test_a_rejected_quantity_names_the_expected_form() -> None:
    with pytest.raises(ValueError, match="such as 1Gi"):
        parse_quantity("10 Gb")
