"""Idempotency under concurrency: one key sent from many threads at once moves money once."""

from __future__ import annotations

import threading

import pytest
import requests

from lucid_e2e import describe, fund, new_key, new_session, register_customer

N_THREADS = 8
JOIN_TIMEOUT = 120.0


def _race(n: int, send) -> list:
    """Run send(session) from n threads released together; returns responses or exceptions."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        sess = new_session()
        try:
            barrier.wait(timeout=30)
            results[i] = send(sess)
        except (requests.RequestException, threading.BrokenBarrierError) as e:
            results[i] = e
        finally:
            sess.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=JOIN_TIMEOUT)
    assert not any(th.is_alive() for th in threads), "a request thread hung"
    return results


def _assert_one_transaction(results: list) -> str:
    errors = [r for r in results if not isinstance(r, requests.Response)]
    assert not errors, errors
    for r in results:
        assert r.status_code == 201, describe(r)
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 1, f"{len(ids)} different transaction ids for one key: {sorted(ids)}"
    return ids.pop()


def test_e2e_idempotency_concurrent_transfer(lucid, server):
    """The same Idempotency-Key and transfer body from 8 threads at once: all 201, one id, money moved once."""
    alice = register_customer(server, "alice")
    bob = register_customer(server, "bob")
    fund(alice, 10_000)
    key = new_key("race-transfer")
    body_to = {"email": bob.email}

    results = _race(N_THREADS, lambda s: alice.transfer(body_to, 700, key=key, memo="once", session=s))
    txn_id = _assert_one_transaction(results)
    fee = results[0].json()["fee"]

    wa, wb = alice.wallet(), bob.wallet()
    assert wa["posted"] == 10_000 - 700 - fee and wa["available"] == wa["posted"], wa
    assert wb["posted"] == 700, wb
    out = [t for t in alice.history() if t["kind"] == "transfer"]
    assert [t["id"] for t in out] == [txn_id], out
    inc = [t for t in bob.history() if t["kind"] == "transfer"]
    assert [t["id"] for t in inc] == [txn_id], inc

    # a later sequential replay still answers with the same transaction
    again = alice.transfer(body_to, 700, key=key, memo="once")
    assert again.status_code == 201 and again.json()["id"] == txn_id, describe(again)
    assert alice.wallet() == wa
    lucid.assert_verify_ok()


@pytest.mark.parametrize("amount", [2_500])
def test_e2e_idempotency_concurrent_topup(lucid, server, amount):
    """The same Idempotency-Key and top-up body from 8 threads at once: all 201, one id, credited once."""
    alice = register_customer(server, "alice")
    key = new_key("race-topup")
    results = _race(N_THREADS, lambda s: alice.topup(amount, key=key, session=s))
    txn_id = _assert_one_transaction(results)
    w = alice.wallet()
    assert w["posted"] == amount, w
    assert [t["id"] for t in alice.history()] == [txn_id]
    lucid.assert_verify_ok()
