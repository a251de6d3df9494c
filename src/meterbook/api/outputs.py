"""What the API answers, as schemas: the OpenAPI document shows these instead of ``{}``.

Routes return ``Json`` directly (orjson, decimals as exact strings); these
models only describe that JSON, and the schemathesis run checks they are true.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

# Decimal strings as the API writes them: kWh with 3 places, money with 2, prices with 4.
KWH = r"^-?\d+\.\d{3}$"
MONEY = r"^-?\d+\.\d{2}$"
NUMBER = r"^-?\d+(\.\d+)?$"


def decimal_text(pattern: str, example: str) -> Any:
    """A decimal sent as a string matching ``pattern`` (exact: no float rounding)."""
    return WithJsonSchema({"type": "string", "pattern": pattern, "examples": [example]})


Kwh = Annotated[Decimal, decimal_text(KWH, "123.456")]
Money = Annotated[Decimal, decimal_text(MONEY, "150.00")]
Price = Annotated[Decimal, decimal_text(NUMBER, "2.5000")]
Amount = Annotated[Decimal, decimal_text(NUMBER, "7.5")]


class ReadingOut(BaseModel):
    id: int
    read_at: datetime
    meter_kwh: Kwh
    note: str
    is_replacement: bool
    created_by: int | None
    created_at: datetime


class ReadingRowOut(BaseModel):
    id: int
    read_at: datetime
    meter_kwh: Kwh
    note: str
    is_replacement: bool
    created_by: int | None
    consumed_kwh: Kwh | None = Field(description="Used since the previous reading.")


class ReadingPage(BaseModel):
    items: list[ReadingRowOut]
    total: int
    limit: int
    offset: int


class VoucherOut(BaseModel):
    id: int
    purchased_on: date
    amount: Money
    currency: str
    kwh: Kwh
    price_per_kwh: Price | None
    token_number: str
    vendor: str
    notes: str
    created_by: int | None


class VoucherPage(BaseModel):
    items: list[VoucherOut]
    total: int
    limit: int
    offset: int


class Imported(BaseModel):
    imported: int = Field(description="Rows stored; an import stores every row or none.")


class Period(BaseModel):
    from_: date = Field(alias="from")
    to: date
    days_covered: Amount = Field(
        description="Days of the period that intervals between readings cover (not one"
        " ending at a meter replacement, whose use is unknown)."
    )


class SpendOut(BaseModel):
    currency: str
    amount: Money
    kwh: Kwh
    vouchers: int
    price_per_kwh: Price | None


class MonthOut(BaseModel):
    month: str
    consumed_kwh: Kwh
    spent: Money = Field(description="Spent in the household's main currency (`currency`).")
    spend: dict[str, Money] = Field(description="Spent in each currency used that month.")
    bought_kwh: Kwh = Field(description="Bought with every voucher of the month, any currency.")
    vouchers: int


class DashboardOut(BaseModel):
    period: Period
    consumed_kwh: Kwh | None = Field(
        description="Used in the period: the part of each interval between readings that"
        " falls in it, pro rata by time."
    )
    daily_average_kwh: Kwh | None = Field(
        description="consumed_kwh over days_covered; null when no reading interval covers"
        " the period."
    )
    total_bought_kwh: Kwh | None
    total_consumed_kwh: Kwh | None
    balance_kwh: Kwh | None
    days_left: Amount | None
    currency: str | None
    price_per_kwh: Price | None
    readings: int
    last_reading_at: datetime | None
    last_meter_kwh: Kwh | None
    spend: list[SpendOut]
    months: list[MonthOut]


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A CSV file (UTF-8), streamed.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


QUEUED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "A large file (or ?background=true) is imported by a job; "
        "follow it at GET /api/imports/{import_id}.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def csv_upload(columns: str) -> dict[str, Any]:
    """The request body of an import: a multipart ``file`` field or a raw ``text/csv`` body."""
    text = {"type": "string", "description": f"CSV with the header `{columns}`."}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {**text, "format": "binary"}},
                    }
                },
                "text/csv": {"schema": text},
            },
        }
    }
