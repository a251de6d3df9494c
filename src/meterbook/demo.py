"""Demo data: two households with a year of realistic readings and prepaid vouchers."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from meterbook.models import Reading, Voucher
from tenantry import accounts, invites
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.models import User
from tenantry.roles import Role
from tenantry.web import Tenancy

PASSWORD = "demo-password-2025"  # noqa: S105 - printed for people trying the demo


@dataclass(frozen=True, slots=True)
class Household:
    """How a demo household uses and buys electricity."""

    name: str
    owner: str
    owner_name: str
    currency: str
    price_minor_per_kwh: int  # before the mid-year tariff rise
    daily_kwh: float
    winter_months: tuple[int, ...]
    voucher_minor: int
    vendors: tuple[str, ...]
    meter_start_kwh: int
    seed: int


HOUSEHOLDS = (
    Household(
        name="The Dlamini household",
        owner="thandi@example.com",
        owner_name="Thandi Dlamini",
        currency="ZAR",
        price_minor_per_kwh=289,
        daily_kwh=13.0,
        winter_months=(6, 7, 8),
        voucher_minor=60_000,
        vendors=("Capitec app", "Pick n Pay", "Shoprite"),
        meter_start_kwh=48_213,
        seed=7,
    ),
    Household(
        name="Casa Rossi",
        owner="marco@example.com",
        owner_name="Marco Rossi",
        currency="EUR",
        price_minor_per_kwh=31,
        daily_kwh=8.5,
        winter_months=(12, 1, 2),
        voucher_minor=8_000,
        vendors=("Tabaccheria Bianchi", "Enel app"),
        meter_start_kwh=12_870,
        seed=11,
    ),
)
VIEWER = ("sipho@example.com", "Sipho Dlamini")


def _token(rng: random.Random) -> str:
    digits = "".join(str(rng.randrange(10)) for _ in range(20))
    return " ".join(digits[i : i + 4] for i in range(0, 20, 4))


def _history(h: Household, today: date) -> tuple[list[Reading], list[Voucher]]:
    """A year of near-daily morning readings up to yesterday, and a voucher whenever the credit
    runs low (a reading this morning would be in the future before dawn, which the app refuses)."""
    rng = random.Random(h.seed)  # noqa: S311 - demo data, not security
    start = today - timedelta(days=366)
    meter_wh = h.meter_start_kwh * 1000
    credit_wh = 0
    readings: list[Reading] = []
    vouchers: list[Voucher] = []
    for offset in range(366):
        day = start + timedelta(days=offset)
        price = h.price_minor_per_kwh * (1.13 if day.month >= 7 and day.year == today.year else 1)
        if credit_wh < h.daily_kwh * 4000:
            amount = h.voucher_minor + rng.choice((0, 0, 5000, -5000)) * h.voucher_minor // 60_000
            energy = int(amount / price * 1000)
            vouchers.append(
                Voucher(
                    purchased_on=day,
                    amount_minor=amount,
                    currency=h.currency,
                    energy_wh=energy,
                    token_number=_token(rng),
                    vendor=rng.choice(h.vendors),
                    notes="" if rng.random() < 0.8 else "bought on the way home",
                )
            )
            credit_wh += energy
        if offset and rng.random() < 0.85:
            at = datetime.combine(day, time(5, rng.randrange(60)), tzinfo=UTC)
            readings.append(
                Reading(
                    read_at=at,
                    meter_wh=meter_wh,
                    note="" if rng.random() < 0.9 else rng.choice(("geyser on", "guests", "away")),
                )
            )
        elif not offset:
            readings.append(
                Reading(
                    read_at=datetime.combine(day, time(6), tzinfo=UTC),
                    meter_wh=meter_wh,
                    note="started tracking",
                )
            )
        season = 1.35 if day.month in h.winter_months else 1.0
        weekly = 1.15 if day.weekday() >= 5 else 1.0
        used = int(h.daily_kwh * 1000 * season * weekly * rng.uniform(0.8, 1.2))
        used += int(300 * math.sin(offset / 9))
        meter_wh += max(used, 500)
        credit_wh -= max(used, 500)
    return readings, vouchers


def seed(db: Database, tenancy: Tenancy, today: date | None = None) -> list[str]:
    """Create the demo households (once) and return how to sign in to each."""
    today = today or datetime.now(UTC).date()
    lines = []
    for h in HOUSEHOLDS:
        with db.session() as session:
            if session.scalar(select(User.id).where(User.email == h.owner)) is None:
                registration = accounts.register(
                    session,
                    tenancy.passwords,
                    email=h.owner,
                    password=PASSWORD,
                    display_name=h.owner_name,
                    tenant_name=h.name,
                    verified=True,
                )
                user, membership = registration.user, registration.membership
                assert user is not None
                assert membership is not None
                ctx = TenantContext(TenantId(membership.tenant_id), UserId(user.id), Role.OWNER)
                readings, vouchers = _history(h, today)
                with tenant_scope(ctx):
                    for reading in readings:
                        reading.created_by = user.id
                    for voucher in vouchers:
                        voucher.created_by = user.id
                    session.add_all([*readings, *vouchers])
                    session.flush()
                    if h is HOUSEHOLDS[0]:
                        _, code = invites.create_invite(
                            session,
                            tenant_id=ctx.tenant_id,
                            actor=Role.OWNER,
                            actor_id=user.id,
                            role=Role.VIEWER,
                        )
                        accounts.register(
                            session,
                            tenancy.passwords,
                            email=VIEWER[0],
                            password=PASSWORD,
                            display_name=VIEWER[1],
                            invite_code=code,
                            verified=True,
                        )
        lines.append(f"{h.name}: sign in as {h.owner} / {PASSWORD} (owner)")
        if h is HOUSEHOLDS[0]:
            lines.append(f"{h.name}: sign in as {VIEWER[0]} / {PASSWORD} (viewer, read only)")
    return lines
