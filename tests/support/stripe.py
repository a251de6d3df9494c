"""A local Stripe: a real HTTP server speaking the part of Stripe's API tenantry.billing calls.

The official ``stripe`` library talks to it (``BillingConfig.api_base``), so the
requests, idempotency keys and errors are the library's own. Webhooks are signed
the way Stripe signs them (``Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.payload")``),
so the library's verification runs on them. Stripe's side of a lifecycle (a
trial ending, a card failing, a retry succeeding) is driven by the test through
the methods below, each producing the events Stripe would send.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.ports import free_port

API_KEY = "sk_test_local"
WEBHOOK_SECRET = "whsec_local_test_secret"
PRICES = {"household": "price_household_monthly", "pro": "price_pro_monthly"}
DAY = 86_400
MONTH = 30 * DAY


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``items[0][price]=p``) back into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [listify(node[k]) for k in sorted(node, key=int)]
            return {k: listify(v) for k, v in node.items()}
        return node

    result: dict[str, Any] = listify(root)
    return result


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header, computed as Stripe documents it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class LocalStripe:
    """The server, its objects, and the events it has produced (``events``, oldest first)."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        webhook_secret: str = WEBHOOK_SECRET,
        port: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.port = port or free_port()
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every API request
        self.down = False  # answer every API call with a 500 (an outage)
        self.webhook_url: str | None = None  # deliver events as they happen (live servers)
        self.clock = int(time.time())  # Stripe's "now" for created/period fields
        self._ids = itertools.count(1)
        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._delivered = 0
        self._lock = threading.RLock()
        self._server = uvicorn.Server(
            uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the local Stripe did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # Objects and events

    def _id(self, prefix: str) -> str:
        return f"{prefix}_local{next(self._ids):06d}"

    def tick(self, seconds: int = 1) -> int:
        """Move Stripe's clock (events of one test come in a known order)."""
        self.clock += seconds
        return self.clock

    def event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record (and, with ``webhook_url``, deliver) an event about a copy of ``obj``."""
        with self._lock:
            found = {
                "id": self._id("evt"),
                "object": "event",
                "api_version": "2025-01-01",
                "created": self.clock,
                "type": kind,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": orjson.loads(orjson.dumps(obj))},
            }
            self.events.append(found)
        if self.webhook_url:
            self.deliver(
                found,
                post=lambda body, headers: httpx.post(
                    self.webhook_url or "", content=body, headers=headers, timeout=30
                ),
            )
        return found

    def undelivered(self) -> list[dict[str, Any]]:
        """Events not handed out yet (for tests that deliver them themselves)."""
        with self._lock:
            found, self._delivered = self.events[self._delivered :], len(self.events)
        return found

    def deliver(
        self,
        event: dict[str, Any],
        *,
        post: Callable[[bytes, dict[str, str]], Any],
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Any:
        """POST ``event`` signed like Stripe (``timestamp``/``secret`` to forge or replay)."""
        body = orjson.dumps(event)
        header = sign(body, secret or self.webhook_secret, timestamp)
        return post(body, {"Stripe-Signature": header, "Content-Type": "application/json"})

    def _subscription(
        self, customer: str, price: str, *, status: str, trial_days: int = 0, metadata: Any = None
    ) -> dict[str, Any]:
        start = self.clock
        end = start + (trial_days * DAY if trial_days else MONTH)
        sub = {
            "id": self._id("sub"),
            "object": "subscription",
            "customer": customer,
            "status": status,
            "created": start,
            "cancel_at_period_end": False,
            "current_period_start": start,
            "current_period_end": end,
            "trial_start": start if trial_days else None,
            "trial_end": end if trial_days else None,
            "metadata": metadata or {},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": 1,
                        "current_period_start": start,
                        "current_period_end": end,
                    }
                ],
            },
        }
        self.subscriptions[str(sub["id"])] = sub
        return sub

    def update(self, sub_id: str, **changes: Any) -> dict[str, Any]:
        """Change a subscription as Stripe would and send ``customer.subscription.updated``."""
        sub = self.subscriptions[sub_id]
        sub.update(changes)
        ended = sub["status"] == "canceled"
        return self.event(f"customer.subscription.{'deleted' if ended else 'updated'}", sub)

    def _invoice(self, sub: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        return {
            "id": self._id("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "subscription": sub["id"],
            "status": "paid" if paid else "open",
            "amount_due": 900,
            "created": self.clock,
        }

    def trial_converts(self, sub_id: str) -> list[dict[str, Any]]:
        """The trial ends with a card on file: the first invoice is paid, the plan is active."""
        sub = self.subscriptions[sub_id]
        self.tick()
        start = self.clock
        paid = self.event("invoice.paid", self._invoice(sub, paid=True))
        return [
            paid,
            self.update(
                sub_id,
                status="active",
                trial_end=None,
                current_period_start=start,
                current_period_end=start + MONTH,
            ),
        ]

    def payment_fails(self, sub_id: str) -> list[dict[str, Any]]:
        """A renewal charge is declined: the invoice fails and the subscription is past due."""
        sub = self.subscriptions[sub_id]
        self.tick()
        failed = self.event("invoice.payment_failed", self._invoice(sub, paid=False))
        return [failed, self.update(sub_id, status="past_due")]

    def payment_succeeds(self, sub_id: str) -> list[dict[str, Any]]:
        """A retry (or the customer in the portal) pays: the subscription is active again."""
        sub = self.subscriptions[sub_id]
        self.tick()
        paid = self.event("invoice.paid", self._invoice(sub, paid=True))
        return [paid, self.update(sub_id, status="active")]

    def cancels(self, sub_id: str) -> list[dict[str, Any]]:
        self.tick()
        return [self.update(sub_id, status="canceled")]

    # The HTTP side

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/customers", self._customers, methods=["POST"]),
                Route("/v1/subscriptions", self._subscriptions, methods=["POST"]),
                Route("/v1/subscriptions/{sid}", self._get_subscription, methods=["GET"]),
                Route("/v1/subscriptions/{sid}", self._update_subscription, methods=["POST"]),
                Route("/v1/subscriptions/{sid}", self._cancel_subscription, methods=["DELETE"]),
                Route("/v1/checkout/sessions", self._checkout, methods=["POST"]),
                Route("/v1/billing_portal/sessions", self._portal, methods=["POST"]),
                Route("/checkout/{cid}", self._checkout_page, methods=["GET"]),
                Route("/checkout/{cid}/pay", self._checkout_pay, methods=["POST"]),
                Route("/portal/{customer}", self._portal_page, methods=["GET"]),
                Route("/portal/{customer}/pay", self._portal_pay, methods=["POST"]),
                # What Stripe does on its own clock, driven by hand (docs/billing.md).
                Route("/", self._overview, methods=["GET"]),
                Route("/local/subscriptions/{sid}/{what}", self._drive, methods=["POST"]),
            ]
        )

    async def _api(
        self, request: Request, make: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
    ) -> Response:
        self.calls.append((request.method, request.url.path))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if self.down:
            return _error(500, "api_error", "the local Stripe is down (test)")
        params = _nested(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key and key in self._idempotent:
                status, body = self._idempotent[key]
            else:
                status, body = make(params)
                if key:
                    self._idempotent[key] = (status, body)
        return JSONResponse(body, status_code=status)

    async def _customers(self, request: Request) -> Response:
        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            customer = {
                "id": self._id("cus"),
                "object": "customer",
                "email": p.get("email"),
                "name": p.get("name"),
                "metadata": p.get("metadata", {}),
                "created": self.clock,
            }
            self.customers[customer["id"]] = customer
            self.event("customer.created", customer)
            return 200, customer

        return await self._api(request, make)

    async def _subscriptions(self, request: Request) -> Response:
        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            if p.get("customer") not in self.customers:
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "No such customer"}
                }
            days = int(p.get("trial_period_days") or 0)
            sub = self._subscription(
                p["customer"],
                p["items"][0]["price"],
                status="trialing" if days else "active",
                trial_days=days,
                metadata=p.get("metadata"),
            )
            self.event("customer.subscription.created", sub)
            return 200, sub

        return await self._api(request, make)

    async def _get_subscription(self, request: Request) -> Response:
        sub = self.subscriptions.get(request.path_params["sid"])
        if sub is None:
            return _error(404, "invalid_request_error", "No such subscription")
        return await self._api(request, lambda p: (200, sub))

    async def _update_subscription(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        if sid not in self.subscriptions:
            return _error(404, "invalid_request_error", "No such subscription")

        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            if "cancel_at_period_end" in p:
                self.subscriptions[sid]["cancel_at_period_end"] = (
                    p["cancel_at_period_end"] == "true"
                )
            self.event("customer.subscription.updated", self.subscriptions[sid])
            return 200, self.subscriptions[sid]

        return await self._api(request, make)

    async def _cancel_subscription(self, request: Request) -> Response:
        """End a subscription at once (``DELETE``); one already ended is Stripe's 400."""
        sid = request.path_params["sid"]
        sub = self.subscriptions.get(sid)
        if sub is None or sub["status"] == "canceled":
            return _error(400, "invalid_request_error", "No such subscription")

        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            self.tick()
            self.update(sid, status="canceled", canceled_at=self.clock)
            return 200, sub

        return await self._api(request, make)

    async def _checkout(self, request: Request) -> Response:
        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            cid = self._id("cs")
            session = {
                "id": cid,
                "object": "checkout.session",
                "mode": p.get("mode"),
                "customer": p.get("customer"),
                "client_reference_id": p.get("client_reference_id"),
                "price": p["line_items"][0]["price"],
                "success_url": p.get("success_url"),
                "cancel_url": p.get("cancel_url"),
                "subscription": None,
                "url": f"{self.url}/checkout/{cid}",
            }
            self.checkouts[cid] = session
            return 200, session

        return await self._api(request, make)

    async def _portal(self, request: Request) -> Response:
        def make(p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            customer = p.get("customer")
            if customer not in self.customers:
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "No such customer"}
                }
            self.customers[customer]["return_url"] = p.get("return_url")
            return 200, {
                "id": self._id("bps"),
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": p.get("return_url"),
                "url": f"{self.url}/portal/{customer}",
            }

        return await self._api(request, make)

    async def _checkout_page(self, request: Request) -> Response:
        session = self.checkouts[request.path_params["cid"]]
        return HTMLResponse(
            f"<h1>Local Stripe Checkout</h1><p>Subscribe to {session['price']}</p>"
            f"<form method='post' action='/checkout/{session['id']}/pay'>"
            "<button type='submit'>Pay</button></form>"
        )

    async def _checkout_pay(self, request: Request) -> Response:
        """The customer pays: an active subscription, then Stripe's events, then back."""
        session = self.checkouts[request.path_params["cid"]]
        self.tick()
        sub = self._subscription(session["customer"], session["price"], status="active")
        session["subscription"] = sub["id"]
        session["status"] = "complete"
        await _off_loop(self.event, "checkout.session.completed", session)
        await _off_loop(self.event, "customer.subscription.created", sub)
        return RedirectResponse(session["success_url"], status_code=303)

    def _owed(self, customer: str) -> dict[str, Any] | None:
        return next(
            (
                s
                for s in self.subscriptions.values()
                if s["customer"] == customer and s["status"] in ("past_due", "unpaid")
            ),
            None,
        )

    async def _portal_page(self, request: Request) -> Response:
        customer = request.path_params["customer"]
        owed = self._owed(customer)
        pay = (
            f"<form method='post' action='/portal/{customer}/pay'>"
            "<button type='submit'>Pay outstanding invoice</button></form>"
            if owed
            else "<p>Nothing is owed.</p>"
        )
        back = self.customers[customer].get("return_url") or "/"
        return HTMLResponse(
            f"<h1>Local Stripe Customer Portal</h1>{pay}<a href='{back}'>Return</a>"
        )

    async def _overview(self, request: Request) -> Response:
        """Every subscription, with a button for each of Stripe's own moves."""
        rows = "".join(
            f"<tr><td>{sid}</td><td>{escape(str(self.customers[s['customer']]['email']))}</td>"
            f"<td>{s['status']}</td><td>"
            + "".join(
                f"<form method='post' action='/local/subscriptions/{sid}/{what}'>"
                f"<button type='submit'>{what.replace('_', ' ')}</button></form>"
                for what in _DRIVEN
            )
            + "</td></tr>"
            for sid, s in self.subscriptions.items()
        )
        return HTMLResponse(
            "<h1>Local Stripe: subscriptions</h1><table><tr><th>id</th><th>customer</th>"
            f"<th>status</th><th></th></tr>{rows}</table>"
        )

    async def _drive(self, request: Request) -> Response:
        """``POST /local/subscriptions/{id}/payment_fails`` (``trial_converts``,
        ``payment_succeeds``, ``cancels``): the events, delivered; their types answered."""
        sid, what = request.path_params["sid"], request.path_params["what"]
        if what not in _DRIVEN:
            return _error(404, "invalid_request_error", f"no such move: {what}")
        if sid not in self.subscriptions:
            return _error(404, "invalid_request_error", f"No such subscription: '{sid}'")
        events = await _off_loop(getattr(self, what), sid)
        return JSONResponse({"events": [e["type"] for e in events]})

    async def _portal_pay(self, request: Request) -> Response:
        customer = request.path_params["customer"]
        owed = self._owed(customer)
        if owed is not None:
            await _off_loop(self.payment_succeeds, owed["id"])
        return RedirectResponse(self.customers[customer].get("return_url") or "/", 303)


_DRIVEN = ("trial_converts", "payment_fails", "payment_succeeds", "cancels")


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Deliveries are blocking HTTP posts: keep them off this server's event loop."""
    import anyio

    return await anyio.to_thread.run_sync(fn, *args)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


@contextmanager
def local_stripe() -> Iterator[LocalStripe]:
    """A started local Stripe, stopped afterwards."""
    server = LocalStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """``python -m tests.support.stripe [--port N] [--webhook URL]``: the local Stripe on its
    own, delivering its events to a running server (docs/billing.md, "Trying it locally")."""
    import argparse

    parser = argparse.ArgumentParser(description="A local server speaking Stripe's API.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook", default="http://127.0.0.1:8000/api/billing/webhook")
    args = parser.parse_args()
    stripe = LocalStripe(port=args.port)
    stripe.webhook_url = args.webhook
    stripe.start()
    prices = ",".join(f"{plan}={price}" for plan, price in PRICES.items())
    print(f"local Stripe on {stripe.url}, events to {args.webhook}; start the server with:")
    print(f"  export STRIPE_API_KEY={API_KEY} STRIPE_WEBHOOK_SECRET={WEBHOOK_SECRET}")
    print(f"  export TENANTRY_STRIPE_API_BASE={stripe.url} TENANTRY_STRIPE_PRICES={prices}")
    print("  make run", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stripe.stop()


if __name__ == "__main__":
    main()
