"""Pure rules of meterbook: units, validation and insight arithmetic (stdlib only)."""

from meterbook.domain.errors import RuleViolation
from meterbook.domain.units import (
    kwh_text,
    kwh_to_wh,
    minor_to_money,
    money_to_minor,
    wh_to_kwh,
)

__all__ = [
    "RuleViolation",
    "kwh_text",
    "kwh_to_wh",
    "minor_to_money",
    "money_to_minor",
    "wh_to_kwh",
]
