"""Smoke test: the main customer journey against the real binary."""

from __future__ import annotations

import re

from lucid_e2e import (
    CURRENCY, assert_insufficient, assert_problem, assert_transfer_created, describe, fund,
    new_key, new_session, call, register_customer,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_e2e_smoke(lucid, server):
    """Register, log in, top up, transfer, see balances and history, get clear errors, log out, verify."""
    alice = register_customer(server, "alice", "Alice Wang")
    bob = register_customer(server, "bob", "Bob Li")
    carol = register_customer(server, "carol", "Carol Zhang")

    # top up
    topup = fund(alice, 10000)

    # transfer by email, then by user_id
    r = alice.transfer({"email": bob.email}, 1250, memo="lunch")
    t1 = assert_transfer_created(r, 1250)
    assert t1["state"] == "posted", describe(r)
    r = alice.transfer({"user_id": bob.id}, 300)
    t2 = assert_transfer_created(r, 300)
    assert t2["state"] == "posted", describe(r)
    fees = t1["fee"] + t2["fee"]

    # wallets reflect it
    wa, wb = alice.wallet(), bob.wallet()
    assert wa["posted"] == 10000 - 1250 - 300 - fees, wa
    assert wa["available"] == wa["posted"] and wa["pending_out"] == 0 and wa["pending_in"] == 0, wa
    assert wb["posted"] == 1550 and wb["available"] == 1550, wb
    assert carol.wallet()["posted"] == 0

    # history: newest first, both sides, right direction
    ha = alice.history()
    assert [t["id"] for t in ha] == [t2["id"], t1["id"], topup["id"]], ha
    assert [t["direction"] for t in ha] == ["out", "out", "in"], ha
    assert [t["kind"] for t in ha] == ["transfer", "transfer", "topup"], ha
    hb = bob.history()
    assert [t["id"] for t in hb] == [t2["id"], t1["id"]], hb
    assert all(t["direction"] == "in" and t["kind"] == "transfer" for t in hb), hb
    assert [t["amount"] for t in hb] == [300, 1250], hb

    # one transaction: own side visible, someone else's is 404
    r = bob.get_transaction(t1["id"])
    assert r.status_code == 200, describe(r)
    assert r.json()["id"] == t1["id"] and r.json()["direction"] == "in" and r.json()["amount"] == 1250, describe(r)
    r = alice.get_transaction(t1["id"])
    assert r.status_code == 200 and r.json()["direction"] == "out", describe(r)
    assert_problem(carol.get_transaction(t1["id"]), 404, "transaction_not_found")

    # a clear insufficient-funds error, in English and in Chinese; nothing moves
    available = wa["available"]
    too_much = available + 5000
    r = alice.transfer({"email": bob.email}, too_much, lang="en")
    body = assert_insufficient(r, too_much)
    assert body["params"]["available"] == available, describe(r)
    assert r.headers.get("Content-Language", "").lower().startswith("en"), describe(r)
    assert not CJK.search(body["detail"]), describe(r)
    assert body["next_steps"] and all(isinstance(s, str) and s for s in body["next_steps"]), describe(r)
    r = alice.transfer({"email": bob.email}, too_much, lang="zh-CN")
    body_zh = assert_insufficient(r, too_much)
    assert r.headers.get("Content-Language") == "zh-CN", describe(r)
    assert CJK.search(body_zh["detail"]), describe(r)
    assert body_zh["params"] == body["params"], describe(r)
    assert alice.wallet() == wa and bob.wallet() == wb

    # log out revokes the token
    sess = new_session()
    r = call(sess, server.base_url, "DELETE", "/v1/sessions/current", token=alice.token)
    assert r.status_code == 204, describe(r)
    assert_problem(alice.call("GET", "/v1/wallets"), 401, "unauthenticated")
    assert_problem(alice.transfer({"email": bob.email}, 1), 401, "unauthenticated")
    assert bob.wallet() == wb  # other sessions are untouched

    # the operator's ledger check; customers may not use it
    op = lucid.operator_token()
    r = call(sess, server.base_url, "GET", "/v1/ops/ledger/verify", token=op)
    assert r.status_code == 200, describe(r)
    report = r.json()
    assert report["ok"] is True and report["mismatches"] == [], describe(r)
    assert report["accounts_checked"] >= 2 and report["transfers_checked"] >= 2, describe(r)
    r = call(sess, server.base_url, "GET", "/v1/ops/ledger/verify", token=bob.token)
    assert_problem(r, None)
    assert r.status_code in (401, 403), describe(r)
    lucid.assert_verify_ok()


def test_e2e_idempotent_replay_sequential(server):
    """Replaying a key with the same body returns the same transaction; another body is 409; no key is 400."""
    alice = register_customer(server, "alice")
    bob = register_customer(server, "bob")
    key = new_key("topup")
    first = alice.topup(5000, key=key)
    assert first.status_code == 201, describe(first)
    again = alice.topup(5000, key=key)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], describe(again)
    assert_problem(alice.topup(5001, key=key), 409, "idempotency_key_reused")

    key = new_key("transfer")
    first = alice.transfer({"email": bob.email}, 700, key=key, memo="rent")
    t = assert_transfer_created(first, 700)
    again = alice.transfer({"email": bob.email}, 700, key=key, memo="rent")
    assert again.status_code == 201 and again.json()["id"] == t["id"], describe(again)
    assert_problem(alice.transfer({"email": bob.email}, 701, key=key, memo="rent"), 409, "idempotency_key_reused")
    r = alice.call("POST", "/v1/transfers", body={"to": {"email": bob.email}, "amount": 1, "currency": CURRENCY})
    assert_problem(r, 400, "idempotency_key_missing")

    assert alice.wallet()["posted"] == 5000 - 700 - t["fee"]
    assert bob.wallet()["posted"] == 700
    assert len(alice.history()) == 2 and len(bob.history()) == 1
