"""What a Stripe webhook costs: signature check alone, a first delivery, a duplicate.

One SQLite database, one tenant with a billing account; ``n`` signed
``customer.subscription.updated`` events (signed as Stripe signs them) go
through ``Billing.handle_webhook`` (the stripe library's verification, one
transaction, the event row, the audit event), then again (duplicates), and
through ``stripe.Webhook.construct_event`` alone. No HTTP, no Stripe server.

    python -m bench.billing_webhooks            # prints JSON
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import stripe

from meterbook.plans import CATALOGUE
from tenantry.billing import Billing, BillingConfig
from tenantry.db import Database
from tenantry.migrations.runner import upgrade
from tenantry.models import BillingAccount, Tenant

SECRET = "whsec_bench"


def _signed(event: dict[str, Any]) -> tuple[bytes, str]:
    body = orjson.dumps(event)
    t = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={t},v1={mac}"


def _events(n: int, customer: str) -> list[tuple[bytes, str]]:
    now = int(time.time())
    return [
        _signed(
            {
                "id": f"evt_bench_{i}",
                "object": "event",
                "type": "customer.subscription.updated",
                "created": now + i,
                "data": {
                    "object": {
                        "id": "sub_bench",
                        "object": "subscription",
                        "customer": customer,
                        "status": "active" if i % 2 else "past_due",
                        "items": {"data": [{"price": {"id": "price_h"}}]},
                    }
                },
            }
        )
        for i in range(n)
    ]


def _per_event(fn: Any, items: list[tuple[bytes, str]]) -> float:
    start = time.perf_counter()
    for body, header in items:
        fn(body, header)
    return (time.perf_counter() - start) / len(items) * 1e6


def main() -> dict[str, Any]:
    n = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "400"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        upgrade(db.engine)
        config = BillingConfig("sk_bench", SECRET, prices={"household": "price_h"})
        billing = Billing(db, config, CATALOGUE)
        tenant_id = uuid.uuid4()
        with db.session() as session:
            session.add(Tenant(id=tenant_id, slug="bench", name="Bench"))
            session.flush()
            session.add(BillingAccount(tenant_id=tenant_id, customer_id="cus_bench"))
        items = _events(n, "cus_bench")
        verify_us = _per_event(
            lambda body, header: stripe.Webhook.construct_event(body, header, SECRET), items
        )
        first_us = _per_event(billing.handle_webhook, items)
        duplicate_us = _per_event(billing.handle_webhook, items)
        db.dispose()
    return {
        "events": n,
        "verify_only_us": round(verify_us, 1),
        "first_delivery_us": round(first_us, 1),
        "duplicate_us": round(duplicate_us, 1),
        "first_per_second": round(1e6 / first_us),
        "first_vs_verify": round(first_us / verify_us, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
