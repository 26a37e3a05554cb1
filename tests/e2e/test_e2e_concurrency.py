"""Concurrency: many parallel transfers, many of them overdrafts; the ledger must stay exact."""

from __future__ import annotations

import os
import random
import threading
import time

import requests

from lucid_e2e import (
    assert_histories_match, assert_insufficient, assert_transfer_created, describe, fund, new_key,
    new_session, register_customer,
)

N_CUSTOMERS = 8
TOPUP = 15_000                      # per customer, one top-up each
TOTAL = N_CUSTOMERS * TOPUP         # all money in the system: nobody can ever hold more
N_THREADS = 16
N_TRANSFERS = 600
MAX_NORMAL = 3_000                  # keeps every sender far below the ¥5,000 daily limit
OVERDRAFT_SHARE = 0.3
JOIN_TIMEOUT = 600.0


def test_e2e_concurrency(lucid, server):
    """16 threads send 600 random transfers (30% impossible overdrafts); money is conserved and balances reconcile."""
    seed = int(os.environ.get("LUCID_E2E_SEED") or time.time_ns() % 1_000_000)
    print(f"seed={seed}")
    customers = [register_customer(server, f"conc{i}") for i in range(N_CUSTOMERS)]
    topped = {c.id: fund(c, TOPUP)["amount"] for c in customers}

    # plan: each thread gets its own list of (sender, receiver, amount, is_overdraft)
    plans = []
    for t in range(N_THREADS):
        rng = random.Random(seed * 100 + t)
        n = N_TRANSFERS // N_THREADS + (1 if t < N_TRANSFERS % N_THREADS else 0)
        plan = []
        for _ in range(n):
            s = rng.randrange(N_CUSTOMERS)
            r = (s + rng.randrange(1, N_CUSTOMERS)) % N_CUSTOMERS
            if rng.random() < OVERDRAFT_SHARE:
                plan.append((s, r, rng.randint(TOTAL + 1, TOTAL + 20_000), True))
            else:
                plan.append((s, r, rng.randint(1, MAX_NORMAL), False))
        plans.append(plan)
    assert sum(len(p) for p in plans) == N_TRANSFERS

    lock = threading.Lock()
    created: list[dict] = []        # 201 answers
    refused: list[dict] = []        # 422 insufficient_funds
    unexpected: list[str] = []      # anything else
    start = threading.Barrier(N_THREADS)

    def worker(t: int) -> None:
        sess = new_session()
        try:
            start.wait(timeout=60)
            for s, r, amount, overdraft in plans[t]:
                sender, receiver = customers[s], customers[r]
                to = {"user_id": receiver.id} if amount % 2 else {"email": receiver.email}
                try:
                    resp = sender.transfer(to, amount, key=new_key(f"c{t}"), session=sess)
                except requests.RequestException as e:
                    with lock:
                        unexpected.append(f"{sender} -> {receiver} {amount}: {e!r}")
                    continue
                try:
                    if resp.status_code == 201:
                        txn = assert_transfer_created(resp, amount)
                        rec = {"from": sender.id, "to": receiver.id, "amount": amount, "fee": txn["fee"],
                               "id": txn["id"], "state": txn["state"], "overdraft": overdraft,
                               "detail": describe(resp)}
                        with lock:
                            created.append(rec)
                    elif resp.status_code == 422:
                        assert_insufficient(resp, amount)
                        with lock:
                            refused.append({"from": sender.id, "amount": amount, "overdraft": overdraft})
                    else:
                        with lock:
                            unexpected.append(describe(resp))
                except AssertionError as e:
                    with lock:
                        unexpected.append(str(e))
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                unexpected.append(f"thread {t} crashed: {e!r}")
        finally:
            sess.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(N_THREADS)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(th.is_alive() for th in threads), f"load threads still running after {JOIN_TIMEOUT}s"
    elapsed = time.monotonic() - t0
    print(f"{len(created)} created, {len(refused)} refused, {len(unexpected)} unexpected in {elapsed:.1f}s")

    assert not unexpected, f"{len(unexpected)} unexpected answers; first ones:\n" + "\n".join(unexpected[:5])
    assert len(created) + len(refused) == N_TRANSFERS
    bad = [c for c in created if c["overdraft"]]
    assert not bad, "an impossible overdraft was accepted:" + bad[0]["detail"]
    assert sum(1 for r in refused if r["overdraft"]) == sum(1 for p in plans for x in p if x[3])
    assert created, "no transfer succeeded"
    not_posted = [c for c in created if c["state"] != "posted"]
    assert not not_posted, "transfer answered 201 but not posted:" + not_posted[0]["detail"]
    assert len({c["id"] for c in created}) == len(created), "two requests got the same transaction id"

    # each customer's balance equals top-ups + incoming - outgoing - fees from the recorded 201s
    expected = dict(topped)
    fees = 0
    for c in created:
        expected[c["from"]] -= c["amount"] + c["fee"]
        expected[c["to"]] += c["amount"]
        fees += c["fee"]
    wallets = {c.id: c.wallet() for c in customers}
    for c in customers:
        w = wallets[c.id]
        assert w["available"] >= 0 and w["posted"] >= 0, (c, w)
        assert w["pending_out"] == 0 and w["pending_in"] == 0, (c, w)
        assert w["posted"] == expected[c.id], (c, w, expected[c.id])
        assert w["available"] == w["posted"], (c, w)
    assert sum(w["posted"] for w in wallets.values()) + fees == TOTAL, "money was created or destroyed"
    if fees:
        print(f"note: transfers charged {fees} in fees")

    # every customer's history holds exactly its recorded transfers, once each
    assert_histories_match(customers, created)

    # the ledger verifies: offline while serving, over HTTP, and after a clean stop
    lucid.assert_ledger_verifies_then_stop(server, len(created))
