"""The one exception the domain raises: a broken rule, naming the field it concerns."""

from __future__ import annotations


class RuleViolation(ValueError):
    """A value breaks a rule; ``field`` names the input a person should correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
