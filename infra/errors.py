"""The one exception the infra layer raises for a bad argument."""

from __future__ import annotations


class InvalidFieldError(ValueError):
    """An argument is out of range.

    ``field`` is the dotted snake_case path of the argument (``update_strategy.partition``), so a caller
    that parsed the argument from configuration can name its own key instead.
    """

    def __init__(self, field: str, problem: str) -> None:
        """Record which field is wrong and what is allowed (``problem`` reads after the field name)."""
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem

    def nested(self, parent: str) -> InvalidFieldError:
        """Return the same error with ``parent`` prepended to the field path."""
        return InvalidFieldError(f"{parent}.{self.field}", self.problem)
