"""Risk monitoring through the real binary.

Two processes on one PostgreSQL database share the rules in force (a change in one is enforced
by the other within seconds) and the features (a customer's third payment in the hour is the
third whichever process sees it); a held transfer is reviewed over HTTP; `lucid risk backtest`
replays the stored history; `lucid simulate --through-services` meets the targets on a small run.
"""

from __future__ import annotations

import json
import time

from lucid_e2e import (
    PASSWORD, assert_problem, call, describe, fund, new_email, new_key, new_session,
)

RULES = """version: "e2e-1"
thresholds:
  challenge: 40
  review: 70
  block: 100
rules:
  - id: third_in_an_hour
    category: unusual_activity
    description: {en: "Third payment within the hour", zh-CN: "一小时内第三笔"}
    condition: "event.is_money_out and features.out_count_1h >= 3 and event.amount < 100"
    score: 40
  - id: review_band
    category: payee_risk
    description: {en: "Review band", zh-CN: "审核区间"}
    condition: "event.is_money_out and event.amount >= 200 and event.amount < 300"
    score: 70
  - id: block_band
    category: unusual_activity
    description: {en: "Block band", zh-CN: "拦截区间"}
    condition: "event.is_money_out and event.amount >= 300"
    score: 100
"""


class Person:
    """A customer signed in from their own phone (not the load generator's allow-listed device)."""

    def __init__(self, base_url: str, tag: str):
        self.session = new_session()
        self.email = new_email(tag)
        r = call(self.session, base_url, "POST", "/v1/users",
                 body={"email": self.email, "password": PASSWORD, "display_name": f"{tag.capitalize()} Risk", "country": "CN"})
        assert r.status_code == 201, describe(r)
        self.id = r.json()["id"]
        r = call(self.session, base_url, "POST", "/v1/sessions",
                 body={"login": self.email, "password": PASSWORD, "device_id": f"phone-{tag}"})
        assert r.status_code == 201, describe(r)
        self.token = r.json()["token"]

    def transfer(self, base_url: str, to_email: str, amount: int):
        return call(self.session, base_url, "POST", "/v1/transfers", token=self.token,
                    body={"to": {"email": to_email}, "amount": amount, "currency": "CNY"}, idem=new_key("risk"))

    def topup(self, base_url: str, amount: int):
        r = call(self.session, base_url, "POST", "/v1/topups", token=self.token,
                 body={"amount": amount, "currency": "CNY"}, idem=new_key("topup"))
        assert r.status_code == 201, describe(r)


def put_rules(base_url: str, token: str, yaml: str, slot: str = "live"):
    sess = new_session()
    try:
        return sess.put(f"{base_url}/v1/ops/risk/rules/{slot}", data=yaml.encode(),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"}, timeout=30)
    finally:
        sess.close()


def test_e2e_risk_two_processes_share_rules_and_features(pg_lucid):
    a = pg_lucid.server("a")
    b = pg_lucid.server("b")
    op = pg_lucid.operator_token()
    alice = Person(a.base_url, "alice")
    bob = Person(a.base_url, "bob")
    alice.topup(a.base_url, 1_000_000)

    # Before the change, ¥350 goes through on B.
    r = alice.transfer(b.base_url, bob.email, 35_000)
    assert r.status_code == 201, describe(r)
    r = put_rules(a.base_url, op, RULES)
    assert r.status_code == 200, describe(r)
    # B picks up the rules A stored within seconds.
    deadline = time.monotonic() + 10
    while True:
        r = alice.transfer(b.base_url, bob.email, 35_000)
        if r.status_code == 403:
            assert_problem(r, 403, "risk_blocked")
            break
        assert r.status_code == 201, describe(r)
        assert time.monotonic() < deadline, "process b never enforced the rules process a loaded"
        time.sleep(0.5)
    seen_by_b = time.monotonic()

    # Features are shared: the third small payment within the hour is challenged, whichever process sees it.
    carol = Person(a.base_url, "carol")
    carol.topup(a.base_url, 100_000)
    assert carol.transfer(a.base_url, bob.email, 1_000).status_code == 201
    assert carol.transfer(b.base_url, bob.email, 1_000).status_code == 201
    r = carol.transfer(a.base_url, bob.email, 1_000)
    body = assert_problem(r, 401, "second_factor_required")
    assert body["params"]["reason"] == "risk_check", describe(r)
    decision_id = body["params"]["decision_id"]
    sess = new_session()
    r = call(sess, b.base_url, "GET", f"/v1/ops/risk/decisions/{decision_id}", token=op)
    assert r.status_code == 200, describe(r)
    decision = r.json()
    assert decision["action"] == "challenge" and decision["rule_set_version"] == "e2e-1", describe(r)
    observed = {o["name"]: o["value"] for o in decision["explanation"]["fired"][0]["observed"]}
    assert observed["features.out_count_1h"] == 3, describe(r)
    assert seen_by_b > 0
    pg_lucid.assert_verify_ok()


def test_e2e_risk_review_and_backtest(lucid):
    server = lucid.server()
    op = lucid.operator_token()
    r = put_rules(server.base_url, op, RULES)
    assert r.status_code == 200, describe(r)
    alice = Person(server.base_url, "alice")
    bob = Person(server.base_url, "bob")
    alice.topup(server.base_url, 100_000)
    held = alice.transfer(server.base_url, bob.email, 25_000)
    assert held.status_code == 202, describe(held)
    t = held.json()
    assert t["state"] == "pending" and t["reason"] == "security_review" and t["expected_by"], describe(held)
    assert t["security"]["status"] == "review" and t["security"]["summary"], describe(held)

    sess = new_session()
    r = call(sess, server.base_url, "GET", "/v1/ops/risk/reviews?state=open", token=op)
    assert r.status_code == 200, describe(r)
    items = r.json()["items"]
    assert [i["transaction_id"] for i in items] == [t["id"]], describe(r)
    r = call(sess, server.base_url, "POST", f"/v1/ops/risk/reviews/{items[0]['id']}/approve", token=op,
             body={"note": "customer confirmed by phone"})
    assert r.status_code == 200 and r.json()["state"] == "approved", describe(r)
    r = call(alice.session, server.base_url, "GET", f"/v1/transactions/{t['id']}", token=alice.token)
    assert r.json()["state"] == "posted" and r.json()["security"]["status"] == "approved", describe(r)
    r = call(bob.session, server.base_url, "GET", "/v1/notifications", token=bob.token)
    assert "money_received" in [n["type"] for n in r.json()["items"]], describe(r)

    # Replaying the stored history through the same rules finds the one review they made.
    p = lucid.run_cli("risk", "backtest", *lucid.store_args, "--rules", str(_write(lucid, RULES)), "--since", "2000-01-01", "--json")
    assert p.returncode == 0, lucid.cli_log[-1]
    report = json.loads(p.stdout)
    assert report["rule_set_version"] == "e2e-1" and report["events"] >= 4, lucid.cli_log[-1]
    hits = {rule["rule_id"]: rule["hits"] for rule in report["rules"]}
    assert hits["review_band"] == 1 and hits["block_band"] == 0, lucid.cli_log[-1]
    assert report["recorded_actions"].get("review") == 1 and report["changes"] == [], lucid.cli_log[-1]
    lucid.assert_verify_ok()


def _write(lucid, text: str):
    path = lucid.workdir / "rules.yaml"
    path.write_text(text)
    return path


def test_e2e_simulate_through_services(lucid):
    # A small run (exit 2 would mean the targets were missed; small samples are noisy, seed 1 is not).
    p = lucid.run_cli("simulate", "--customers", "30", "--days", "3", "--seed", "1", "--json", timeout=600)
    assert p.returncode == 0, lucid.cli_log[-1]
    pure = json.loads(p.stdout)
    p = lucid.run_cli("simulate", "--customers", "30", "--days", "3", "--seed", "1", "--json", "--through-services", timeout=600)
    assert p.returncode == 0, lucid.cli_log[-1]
    services = json.loads(p.stdout)
    assert services["meets_targets"] is True, lucid.cli_log[-1]
    assert services["events"] == pure["events"], lucid.cli_log[-1]
    counts = lambda report: {s["kind"]: s["count"] for s in report["scenarios"]}  # noqa: E731
    assert counts(services) == counts(pure), lucid.cli_log[-1]
    for scenario in services["scenarios"]:
        if scenario["kind"] in ("account_takeover", "mule_fan_in"):
            assert scenario["detection_rate"] >= 0.95, lucid.cli_log[-1]
