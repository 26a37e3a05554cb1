"""Payment rails end to end: `lucid serve` talks to `lucid sandbox-bank` running as its own process on a
loopback port, over HTTP, with signed callbacks coming back. The bank misbehaves (duplicate, out-of-order
and lost callbacks, timeouts, failures) and is killed with SIGKILL and restarted mid-run. Afterwards every
top-up and withdrawal is resolved (posted or voided), every balance is what the resolved movements say,
`lucid verify` is clean and `lucid reconcile` flags exactly what the restarted bank forgot.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from lucid_e2e import (HOST, CURRENCY, Harness, call, describe, free_port, new_key, new_session, register_customer, tail)

SECRET = "e2e-rail-callback-secret-0123456789"
FAULTS = {"duplicate_callback_rate": 0.3, "out_of_order_callback_rate": 0.3, "lost_callback_rate": 0.25,
          "timeout_rate": 0.05, "failure_rate": 0.1, "failure_reasons": ["R01_insufficient_funds", "R02_account_closed"]}
CONFIG = {"gateway": {
    "rails": [{"id": "bank-a", "currencies": ["CNY"]}, {"id": "bank-b", "currencies": ["CNY"]}],
    "sweep_interval_seconds": 1, "sweep_grace_seconds": 1, "sweep_retry_seconds": 1, "sweep_attempts_max": 40,
    "resilience": {"call_timeout_ms": 2000, "attempts_max": 2, "backoff_base_ms": 50, "backoff_max_ms": 200,
                   "failure_threshold": 3, "window_seconds": 10, "open_seconds": 2},
    "reconciliation_time": "off",
}}


class SandboxBank:
    """`lucid sandbox-bank` on a fixed loopback port; killed with SIGKILL and started again on the same port."""

    def __init__(self, binary: Path, workdir: Path, port: int, callback_url: str):
        self.binary, self.workdir, self.port, self.callback_url = binary, workdir, port, callback_url
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.generation += 1
        log = self.workdir / f"sandbox-bank.{self.generation}.log"
        self.logs.append(log)
        cmd = [str(self.binary), "sandbox-bank", "--host", HOST, "--port", str(self.port), "--rails", "bank-a,bank-b",
               "--currencies", CURRENCY, "--callback-url", self.callback_url, "--callback-secret", SECRET,
               "--settlement-delay-seconds", "1", "--seed", str(self.generation), "--faults", json.dumps(FAULTS),
               "--log-level", "warning"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        session = new_session()
        try:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"sandbox bank exited:\n{tail(log)}"
                try:
                    if session.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.05)
        finally:
            session.close()
        raise AssertionError(f"sandbox bank did not come up:\n{tail(log)}")

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def bank(lucid: Harness):
    lucid_port = free_port()
    sandbox = SandboxBank(lucid.binary, lucid.workdir, free_port(),
                          f"http://{HOST}:{lucid_port}/v1/gateway/callbacks/{{rail}}")
    sandbox.lucid_port = lucid_port
    try:
        yield sandbox
    finally:
        sandbox.stop()
        for log in sandbox.logs:
            print(f"----- {log.name} -----\n{tail(log, 40)}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


def test_e2e_rails_sandbox_bank_killed_and_restarted(lucid: Harness, bank: SandboxBank):
    """Top-ups and withdrawals through a separate sandbox bank that is killed and restarted: all resolve, ledger clean."""
    started = time.monotonic()
    bank.start()
    config = lucid.workdir / "lucid.json"
    config.write_text(json.dumps(CONFIG))
    server = lucid.server(extra_args=["--config", str(config), "--sandbox-bank-url", bank.url, "--rail-callback-secret", SECRET],
                          port=bank.lucid_port)
    op = lucid.operator_token()
    session = new_session()

    def ops(method: str, path: str, **kw) -> requests.Response:
        return call(session, server.base_url, method, path, token=op, **kw)

    customers = [register_customer(server, name) for name in ("alice", "bob", "carol")]

    # Phase 1: top-ups, pending until the bank's signed callbacks (or the sweeper) settle them.
    for i in range(18):
        customer = customers[i % 3]
        r = customer.topup(5_000 + i)
        assert r.status_code in (201, 202, 422), describe(r)
        if r.status_code != 422:
            t = r.json()
            assert t["kind"] == "topup" and t["rail"] in ("bank-a", "bank-b"), describe(r)
            if r.status_code == 202:
                assert t["state"] == "pending" and t["reason"] and t["expected_by"], describe(r)

    def pending_items() -> int:
        r = ops("GET", "/v1/ops/rails")
        assert r.status_code == 200, describe(r)
        return sum(rail["items"].get("pending", 0) for rail in r.json()["items"])

    wait_until(lambda: pending_items() == 0, 25, "the top-ups to settle")
    funded = [c.wallet()["posted"] for c in customers]
    assert all(amount > 0 for amount in funded), funded

    # Phase 2: withdrawals in flight when the bank dies.
    held = []
    for customer in customers:
        for n in range(3):
            r = customer.call("POST", "/v1/withdrawals", body={"amount": 1_000 + n, "currency": CURRENCY}, idem=new_key("w"))
            assert r.status_code in (201, 422), describe(r)
            if r.status_code == 201:
                assert r.json()["state"] in ("pending", "posted"), describe(r)
                held.append((customer, r.json()["id"]))
    assert held, "some withdrawals were sent before the bank died"
    bank.kill9()

    # While it is down: refused fast with gateway_unavailable, and nothing held.
    before = customers[0].wallet()
    refused = customers[0].call("POST", "/v1/withdrawals", body={"amount": 500, "currency": CURRENCY}, idem=new_key("down"))
    assert refused.status_code == 503 and refused.json()["code"] == "gateway_unavailable", describe(refused)
    after = customers[0].wallet()
    assert after["pending_out"] == before["pending_out"] and after["posted"] == before["posted"], (before, after)
    r = customers[1].topup(777)
    assert r.status_code == 503 and r.json()["code"] == "gateway_unavailable", describe(r)

    # Back up on the same port, with an empty book: what it had in flight is voided by the sweeper, new work flows.
    time.sleep(1.0)
    bank.start()
    wait_until(lambda: ops("GET", "/v1/ops/rails").json()["items"][0]["breaker"] != "open", 10, "the breaker to let a probe through")
    for i in range(6):
        customer = customers[i % 3]
        r = customer.topup(2_000 + i)
        assert r.status_code in (201, 202, 422, 503), describe(r)
    for customer in customers:
        r = customer.call("POST", "/v1/withdrawals", body={"amount": 300, "currency": CURRENCY}, idem=new_key("w2"))
        assert r.status_code in (201, 422, 503), describe(r)

    wait_until(lambda: pending_items() == 0, 30, "every item to be resolved")
    rails = ops("GET", "/v1/ops/rails").json()["items"]
    print("rails after the run:", [(rail["rail"], rail["items"]) for rail in rails])
    assert all(rail["items"].get("escalated", 0) == 0 for rail in rails), rails

    # Every balance is what the resolved movements say; nothing is held or awaited.
    for customer in customers:
        wallet = customer.wallet()
        history = customer.history()
        assert all(t["state"] != "pending" for t in history), history
        expected = 0
        for t in history:
            if t["state"] != "posted":
                continue
            expected += t["amount"] if t["direction"] == "in" else -(t["amount"] + t["fee"])
        assert wallet["posted"] == expected and wallet["pending_out"] == 0 and wallet["pending_in"] == 0, (wallet, expected)
    for customer, txn_id in held:
        r = customer.get_transaction(txn_id)
        assert r.status_code == 200 and r.json()["state"] in ("posted", "voided"), describe(r)
    lucid.assert_verify_ok()

    # Reconciliation with the restarted bank: it forgot what it settled before dying, and only that is flagged.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    csv_path = lucid.workdir / "exceptions.csv"
    p = lucid.run_cli("reconcile", *lucid.store_args, "--rail", "bank-a", "--date", today, "--sandbox-bank-url", bank.url,
                      "--json", "--csv", str(csv_path))
    assert p.returncode in (0, 1), lucid.cli_log[-1]
    report = json.loads(p.stdout)
    print(f"reconcile bank-a: {report['lines_read']} lines, exceptions {[e['class'] for e in report['exceptions']]}, "
          f"clearing {report['clearing']}")
    assert report["rail"] == "bank-a" and report["day"] == today, report
    classes = {e["class"] for e in report["exceptions"]}
    assert classes <= {"missing_at_rail"}, report["exceptions"]
    assert (p.returncode == 0) == report["clean"], lucid.cli_log[-1]
    assert csv_path.read_text().startswith("class,reference,direction"), csv_path.read_text()[:200]
    r = ops("POST", "/v1/ops/reconciliations", body={"rail": "bank-b", "date": today})
    assert r.status_code == 201 and r.json()["state"] == "completed", describe(r)
    assert {e["class"] for e in r.json()["exceptions"]["items"]} <= {"missing_at_rail"}, describe(r)
    alerts = ops("GET", "/v1/ops/alerts?state=open&limit=100")
    assert alerts.status_code == 200, describe(alerts)
    assert {a["kind"] for a in alerts.json()["items"]} <= {"missing_at_rail", "clearing_difference"}, describe(alerts)

    session.close()
    elapsed = time.monotonic() - started
    assert elapsed < 90, f"took {elapsed:.1f}s"
