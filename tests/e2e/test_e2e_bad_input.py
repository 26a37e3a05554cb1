"""Bad input: every malformed money request gets a precise problem+json error and moves nothing."""

from __future__ import annotations

import json

from lucid_e2e import CURRENCY, assert_problem, assert_transfer_created, describe, fund, new_key, register_customer


def test_e2e_bad_input(lucid, server):
    """Malformed, mistyped, out-of-range and oversized requests are refused precisely and change nothing."""
    alice = register_customer(server, "alice")
    bob = register_customer(server, "bob")
    fund(alice, 20_000)

    # boundaries that must still be accepted: a 128-character key and a 140-character memo
    r = alice.transfer({"email": bob.email}, 10, key="k" * 128, memo="m" * 140)
    assert_transfer_created(r, 10)
    r = alice.transfer({"email": bob.email}, 10, memo="备注" * 70)  # 140 characters, 420 UTF-8 bytes
    assert_transfer_created(r, 10)

    before = {c.id: (c.wallet(), [t["id"] for t in c.history()]) for c in (alice, bob)}
    good = {"to": {"email": bob.email}, "amount": 100, "currency": CURRENCY}

    def post(path: str, *, body=None, raw: bytes | None = None, key: str | None = "fresh"):
        idem = new_key("bad") if key == "fresh" else key
        return alice.call("POST", path, body=body, raw=raw, idem=idem)

    # malformed JSON
    assert_problem(post("/v1/transfers", raw=b'{"to": {"email": "x@example.com"}, "amount": 1'), 400, "malformed_json")
    assert_problem(post("/v1/topups", raw=b"not json at all"), 400, "malformed_json")

    # wrong JSON type for amount
    for amount in ("100", 12.5, None, [100], {"value": 100}, True):
        assert_problem(post("/v1/transfers", body={**good, "amount": amount}), None)
    assert_problem(post("/v1/topups", body={"amount": "100", "currency": CURRENCY}), None)

    # negative and zero amounts
    for amount in (-1, -100, 0):
        body = assert_problem(post("/v1/transfers", body={**good, "amount": amount}), 422, "invalid_amount")
        assert body["params"].get("amount") == amount, body
        assert_problem(post("/v1/topups", body={"amount": amount, "currency": CURRENCY}), 422, "invalid_amount")

    # unknown currency
    for cur in ("XXX", "ZZZ", "BTC"):
        body = assert_problem(post("/v1/transfers", body={**good, "currency": cur}), 422, "unsupported_currency")
        assert body["params"].get("currency") == cur, body
    assert_problem(post("/v1/topups", body={"amount": 100, "currency": "XXX"}), 422, "unsupported_currency")

    # body over 16 KiB
    big = json.dumps({**good, "memo": "x" * (17 * 1024)}).encode()
    assert len(big) > 16 * 1024
    assert_problem(post("/v1/transfers", raw=big), 413, "body_too_large")

    # invalid UTF-8
    bad_utf8 = b'{"to": {"email": "' + bob.email.encode() + b'"}, "amount": 100, "currency": "CNY", "memo": "\xff\xfe\xc3"}'
    assert_problem(post("/v1/transfers", raw=bad_utf8), 400)

    # memo one character too long
    body = assert_problem(post("/v1/transfers", body={**good, "memo": "m" * 141}), 422, "string_too_long")
    assert body["params"].get("field") == "memo", body

    # idempotency key too long, and missing
    assert_problem(post("/v1/transfers", body=good, key="k" * 129), 400, "idempotency_key_invalid")
    assert_problem(post("/v1/topups", body={"amount": 100, "currency": CURRENCY}, key="k" * 129),
                   400, "idempotency_key_invalid")
    assert_problem(post("/v1/transfers", body=good, key=None), 400, "idempotency_key_missing")
    assert_problem(post("/v1/topups", body={"amount": 100, "currency": CURRENCY}, key=None),
                   400, "idempotency_key_missing")

    # nothing moved
    after = {c.id: (c.wallet(), [t["id"] for t in c.history()]) for c in (alice, bob)}
    assert after == before, f"bad requests changed money or history:\nbefore {before}\nafter  {after}"
    lucid.assert_verify_ok()
    r = alice.call("GET", "/v1/wallets")
    assert r.status_code == 200, describe(r)
