"""Account protection through the real binary: lockout, signed webhooks, password reset,
freeze — and, on PostgreSQL, a lock set through one process holding in the other."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lucid_e2e import HOST, PASSWORD, assert_problem, call, describe, new_session, register_customer

WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"


class WebhookReceiver:
    """A webhook endpoint on a loopback port that checks signatures the way an integrator would."""

    def __init__(self):
        self.deliveries: list[dict] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("X-Lucid-Signature", "")
                parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
                expected = hmac.new(WEBHOOK_SECRET.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256).hexdigest()
                fresh = abs(time.time() - int(parts.get("t", "0"))) <= 300
                if hmac.compare_digest(expected, parts.get("v1", "")) and fresh:
                    receiver.deliveries.append(json.loads(body))
                    self.send_response(204)
                else:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, kind: str, user_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d in reversed(self.deliveries):
                if d.get("type") == kind and d.get("user_id") == user_id:
                    return d
            time.sleep(0.2)
        raise AssertionError(f"no {kind} delivery for {user_id} within {timeout}s; got {[d.get('type') for d in self.deliveries]}")

    def close(self):
        self.server.shutdown()


def configure(harness, receiver: WebhookReceiver) -> None:
    """A config file with the webhook, handed to every server the harness starts."""
    path = harness.workdir / "lucid.json"
    path.write_text(json.dumps({"webhooks": [{"url": receiver.url, "secret": WEBHOOK_SECRET}],
                                "login_rate_limit": {"limit": 1000, "window_seconds": 60}}))
    harness.extra_serve_args = ["--config", str(path)]


def log_in(server, email: str, password: str):
    return call(new_session(), server.base_url, "POST", "/v1/sessions", body={"login": email, "password": password})


def test_lockout_reset_and_webhooks(lucid):
    """Five wrong passwords lock; the owner is told by a signed webhook; a reset link from it unlocks."""
    receiver = WebhookReceiver()
    try:
        configure(lucid, receiver)
        server = lucid.server()
        alice = register_customer(server, "protect")
        for _ in range(5):
            assert_problem(log_in(server, alice.email, "not the password!"), 401, "invalid_credentials")
        locked = log_in(server, alice.email, PASSWORD)
        assert_problem(locked, 401, "invalid_credentials")
        notice = receiver.wait_for("account_locked", alice.id)
        assert "zh-CN" in notice["texts"] and notice["recipient"]["email"] == alice.email
        assert receiver.bad_signatures == 0

        r = call(new_session(), server.base_url, "POST", "/v1/password-resets", body={"login": alice.email})
        assert r.status_code == 202, describe(r)
        link = receiver.wait_for("password_reset_requested", alice.id)["secret"]
        token = link.split("token=")[1]
        r = call(new_session(), server.base_url, "POST", "/v1/password-resets/confirm",
                 body={"token": token, "new_password": "a completely new passphrase"})
        assert r.status_code == 204, describe(r)
        r = log_in(server, alice.email, "a completely new passphrase")
        assert r.status_code == 201, describe(r)
        # The readable notification never carries the link.
        notes = call(new_session(), server.base_url, "GET", "/v1/notifications?limit=100", token=r.json()["token"])
        assert token not in notes.text
    finally:
        receiver.close()


def test_freeze_survives_restart(lucid):
    """A freeze is durable: after a restart money still cannot leave and the old token is dead."""
    server = lucid.server()
    alice = register_customer(server, "frz")
    bob = register_customer(server, "frz-bob")
    r = call(new_session(), server.base_url, "POST", "/v1/freeze", body={"login": alice.email, "password": PASSWORD})
    assert r.status_code == 200, describe(r)
    server.stop()
    server.restart()
    assert_problem(alice.call("GET", "/v1/wallets"), 401, "unauthenticated")
    alice.login()
    r = alice.transfer({"user_id": bob.id}, 1)
    assert_problem(r, 403, "account_frozen")
    assert r.json()["params"]["frozen_by"] == "customer"


def test_lock_holds_across_two_processes(pg_lucid):
    """Failures spread over two processes on one database add up to one lock, seen by both."""
    a = pg_lucid.server("a")
    b = pg_lucid.server("b")
    alice = register_customer(a, "two-proc")
    for i in range(5):
        assert_problem(log_in(a if i % 2 == 0 else b, alice.email, "not the password!"), 401, "invalid_credentials")
    for server in (a, b):
        assert_problem(log_in(server, alice.email, PASSWORD), 401, "invalid_credentials")
    op = pg_lucid.operator_token()
    account = call(new_session(), b.base_url, "GET", f"/v1/ops/users/{alice.id}", token=op)
    assert account.status_code == 200 and account.json()["locked_until"], describe(account)
    # A session revoked through one process is refused by the other at once.
    r = call(new_session(), a.base_url, "DELETE", "/v1/sessions/current", token=alice.token)
    assert r.status_code == 204, describe(r)
    assert_problem(call(new_session(), b.base_url, "GET", "/v1/wallets", token=alice.token), 401, "unauthenticated")
