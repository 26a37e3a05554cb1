import Foundation
import HTTPTypes
import LucidCore
import LucidGateway
import LucidHTTP
import LucidServices
import LucidStore
import Testing

/// Top-ups and withdrawals through the sandbox rails over HTTP (issue 5): each fault on its own and
/// all at once; callbacks authenticated, idempotent and order-independent; the sweeper; the breaker.
@Suite("HTTP: payment rails")
struct PaymentRailTests {
    @Test("a top-up is pending (202, reason, expected time) until the rail settles; duplicate and out-of-order callbacks credit it once")
    func pendingTopUp() async throws {
        try await withRails(faultsA: RailFaults(duplicateCallbackRate: 1, outOfOrderCallbackRate: 1)) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            let accepted = try await api.railTopUp(alice.token, 10_000)
            #expect(accepted.status == 202, "\(accepted.raw)")
            #expect(accepted["state"] as? String == "pending" && accepted["reason"] as? String == "waiting_for_bank")
            #expect(accepted["rail"] as? String == "bank-a")
            #expect(accepted["expected_by"] as? String == clock.now().adding(seconds: 5).rfc3339, "the rail's own promise")
            var wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 0 && wallet.pendingIn == 10_000 && wallet.available == 0, "nothing to spend before the bank says so")
            let id = try #require(accepted["id"] as? String)
            let listed = try await api.call(.get, "/v1/transactions", token: alice.token)
            let first = try #require((listed["items"] as? [[String: Any]])?.first)
            #expect(first["id"] as? String == id && first["reason"] as? String == "waiting_for_bank" && first["expected_by"] is String)

            // Settled: the final callback (twice, same event) comes before the held-back pending one.
            try await lucid.settle(clock)
            wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 10_000 && wallet.pendingIn == 0)
            let item = try await lucid.item(id)
            #expect(item.state == .posted && item.railState == "settled" && item.bankReference != nil && item.finalAt != nil)
            let detail = try await api.call(.get, "/v1/transactions/\(id)", token: alice.token)
            #expect(detail["state"] as? String == "posted" && detail["expected_by"] == nil && detail["reason"] == nil)
            #expect(try await api.notifications(alice.token, type: "top_up_credited").count == 1)

            // The same news as new events: nothing changes.
            let stale = try await api.callback(railCallback(id, .pending(expectedBy: clock.now().adding(seconds: 60)), at: clock.now()),
                                               signedAt: clock.now())
            #expect(stale.status == 200 && stale["status"] as? String == "stale", "\(stale.raw)")
            let duplicate = try await api.callback(railCallback(id, .settled(at: clock.now()), at: clock.now()), signedAt: clock.now())
            #expect(duplicate["status"] as? String == "duplicate")
            #expect(try await api.wallet(alice.token).posted == 10_000)
            #expect(try await api.notifications(alice.token, type: "top_up_credited").count == 1)
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("a rail that confirms at once answers 201 posted; a key replays; a rail can be chosen and is checked")
    func confirmedTopUpAndRailChoice() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, _ in
            let alice = try await api.customer("Alice")
            let first = try await api.railTopUp(alice.token, 5_000, key: "t-1")
            #expect(first.status == 201 && first["state"] as? String == "posted" && first["rail"] as? String == "bank-a", "\(first.raw)")
            #expect((first["counterparty"] as? [String: Any])?["name"] as? String == "LINKED ****0000",
                    "the account linked at sign-up (no account named); the rail is its own field")
            let replay = try await api.railTopUp(alice.token, 5_000, key: "t-1")
            #expect(replay.status == 201 && replay["id"] as? String == first["id"] as? String)
            expectProblem(try await api.railTopUp(alice.token, 5_001, key: "t-1"), 409, "idempotency_key_reused")
            expectProblem(try await api.railTopUp(alice.token, 5_000, rail: "bank-b", key: "t-1"), 409, "idempotency_key_reused")
            #expect(try await api.wallet(alice.token).posted == 5_000)

            let viaB = try await api.railTopUp(alice.token, 100, rail: "bank-b")
            #expect(viaB.status == 201 && viaB["rail"] as? String == "bank-b")
            expectProblem(try await api.railTopUp(alice.token, 100, rail: "bank-z"), 404, "rail_not_found")
            expectProblem(try await api.railTopUp(alice.token, 100, rail: "Bank A!"), 404, "rail_not_found")
            expectProblem(try await api.railTopUp(alice.token, 100, rail: "bank-b", currency: "JPY"), 422, "invalid_field")
            let yen = try await api.railTopUp(alice.token, 100, currency: "JPY")
            #expect(yen.status == 201 && yen["rail"] as? String == "bank-a", "the rail that moves the currency")
            expectProblem(try await api.railTopUp(alice.token, 100, last4: "12a4"), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/topups", token: alice.token,
                                             json: ["amount": 100, "currency": "CNY", "bank_account": ["bank": "ICBC", "last4": "1234", "iban": "x"]],
                                             key: UUID().uuidString), 400, "unknown_field")
            let auditor = try await api.operatorToken(lucid, role: .auditor)
            let rails = try await api.call(.get, "/v1/ops/rails", token: auditor)
            let items = try #require(rails["items"] as? [[String: Any]])
            #expect(items.map { $0["rail"] as? String } == ["bank-a", "bank-b"])
            #expect(items.allSatisfy { $0["health"] as? String == "operational" && $0["breaker"] as? String == "closed" })
            #expect((items[0]["items"] as? [String: Any])?["posted"] as? Int == 2)
            expectProblem(try await api.call(.get, "/v1/ops/rails", token: alice.token), 401, "unauthenticated")
        }
    }

    @Test("timeouts: retries carry the same reference, the bank books each once, nothing is credited twice")
    func timeoutsAndRetries() async throws {
        try await withRails(faultsA: RailFaults(timeoutRate: 0.6), delaySeconds: 120, attemptsMax: 3, failureThreshold: 1_000) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            var ids: [String] = []
            var notResponding = 0
            for amount in 100..<120 {
                // Named: a rail with recent failures is degraded, and a top-up without a rail would go to the other one.
                let answer = try await api.railTopUp(alice.token, amount, rail: "bank-a")
                #expect([201, 202].contains(answer.status), "\(answer.raw)")
                if answer["reason"] as? String == "bank_not_responding" { notResponding += 1 }
                ids.append(try #require(answer["id"] as? String))
            }
            #expect(notResponding > 0, "some top-ups never got an answer in time")
            #expect(notResponding < ids.count)
            try await lucid.settle(clock, afterSeconds: 300)
            clock.advance(seconds: 120)
            _ = try await lucid.gateway.sweep()
            let book = try await lucid.bank.book(of: "bank-a")
            #expect(book.count == ids.count && Set(book.map(\.request.reference.rawValue)) == Set(ids), "each booked once")
            for id in ids { #expect(try await lucid.item(id).state == .posted) }
            #expect(try await api.wallet(alice.token).posted == (100..<120).reduce(0, +))
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("a withdrawal holds amount and fee, posts when the rail settles; a bank failure voids it and says why in both languages")
    func withdrawals() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            try await api.railTopUp(alice.token, 50_000)
            let held = try await api.withdraw(alice.token, 20_000)
            #expect(held.status == 201 && held["state"] as? String == "pending" && held["reason"] as? String == "waiting_for_bank",
                    "\(held.raw)")
            #expect(held["fee"] as? Int == 20 && held["rail"] as? String == "bank-a")
            #expect(held["expected_by"] as? String == clock.now().adding(seconds: 5).rfc3339)
            var wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 50_000 && wallet.pendingOut == 20_020 && wallet.available == 29_980, "held, not debited")
            try await lucid.settle(clock)
            wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 29_980 && wallet.pendingOut == 0)
            #expect(try await api.notifications(alice.token, type: "withdrawal_settled").count == 1)

            // The bank finds the account closed when it processes the movement.
            let closed = try await api.withdraw(alice.token, 5_000, last4: "0002")
            #expect(closed.status == 201 && closed["state"] as? String == "pending")
            #expect(try await api.wallet(alice.token).pendingOut == 5_010, "amount and the minimum fee")
            try await lucid.settle(clock)
            wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 29_980 && wallet.pendingOut == 0 && wallet.available == 29_980, "the hold is released")
            let id = try #require(closed["id"] as? String)
            let detail = try await api.call(.get, "/v1/transactions/\(id)", token: alice.token)
            #expect(detail["state"] as? String == "voided" && detail["reason"] as? String == "R02_account_closed", "\(detail.raw)")
            let en = try #require(try await api.notifications(alice.token, type: "withdrawal_returned").first)
            #expect((en["body"] as? String)?.contains("the bank account is closed") == true, "\(en)")
            let zh = try #require(try await api.notifications(alice.token, type: "withdrawal_returned", language: "zh-CN").first)
            #expect((zh["body"] as? String)?.contains("银行账户已销户") == true, "\(zh)")
            let op = try await api.operatorToken(lucid, role: .support)
            let seen = try await api.call(.get, "/v1/ops/transactions/\(id)", token: op)
            #expect(seen["rail"] as? String == "bank-a" && seen["state"] as? String == "voided")
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("a bank that declines at once: 422 bank_declined with its reason, no hold left, the same key answers the same")
    func immediateDeclines() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, _ in
            let alice = try await api.customer("Alice")
            try await api.railTopUp(alice.token, 10_000)
            let declined = expectProblem(try await api.withdraw(alice.token, 1_000, last4: "0003", key: "w-limit"), 422, "bank_declined")
            #expect(declined.params["bank_reason"] as? String == "R61_limit_exceeded" && declined.params["rail"] as? String == "bank-a")
            #expect((declined["detail"] as? String)?.contains("a limit at the bank is exceeded") == true)
            var wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 10_000 && wallet.pendingOut == 0 && wallet.available == 10_000)
            expectProblem(try await api.withdraw(alice.token, 1_000, last4: "0003", key: "w-limit"), 422, "bank_declined")
            let history = try await api.call(.get, "/v1/transactions", token: alice.token)
            let withdrawal = try #require((history["items"] as? [[String: Any]])?.first)
            #expect(withdrawal["kind"] as? String == "withdrawal" && withdrawal["state"] as? String == "voided")
            #expect(withdrawal["reason"] as? String == "R61_limit_exceeded")
            #expect(try await api.notifications(alice.token, type: "withdrawal_returned").count == 1)

            let zh = expectProblem(try await api.call(.post, "/v1/topups", token: alice.token,
                                                      json: ["amount": 500, "currency": "CNY", "bank_account": ["bank": "ICBC", "last4": "0001"]],
                                                      key: "t-poor", headers: ["Accept-Language": "zh-CN"]), 422, "bank_declined")
            #expect(zh.params["bank_reason"] as? String == "R01_insufficient_funds")
            #expect((zh["detail"] as? String)?.contains("银行账户余额不足") == true)
            #expect(try await api.notifications(alice.token, type: "top_up_failed").count == 1)
            wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 10_000 && wallet.pendingIn == 0)
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("a rail that is down: gateway_unavailable names the other rail, nothing is held; the breaker opens, fails fast and closes")
    func breaker() async throws {
        try await withRails(confirmTopUps: true, attemptsMax: 1, failureThreshold: 3) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            try await api.railTopUp(alice.token, 10_000)
            try await lucid.bank.configure("bank-a", faults: RailFaults(outage: true))
            for _ in 0..<3 {
                let refused = expectProblem(try await api.withdraw(alice.token, 1_000, rail: "bank-a"), 503, "gateway_unavailable")
                #expect(refused.params["rail"] as? String == "bank-a" && refused.params["alternative_rail"] as? String == "bank-b")
                let wallet = try await api.wallet(alice.token)
                #expect(wallet.posted == 10_000 && wallet.pendingOut == 0, "no hold left behind when nothing was sent")
            }
            let auditor = try await api.operatorToken(lucid, role: .auditor)
            var rails = try #require(try await api.call(.get, "/v1/ops/rails", token: auditor)["items"] as? [[String: Any]])
            #expect(rails[0]["health"] as? String == "outage" && rails[0]["breaker"] as? String == "open" && rails[0]["open_until"] is String)
            #expect(rails[1]["health"] as? String == "operational")

            // Open: refused before anything is written, with the time to try again.
            let before = (try await api.call(.get, "/v1/transactions", token: alice.token)["items"] as? [Any])?.count
            let fast = expectProblem(try await api.withdraw(alice.token, 1_000, rail: "bank-a", language: "zh-CN"), 503, "gateway_unavailable")
            #expect(fast.params["alternative_rail"] as? String == "bank-b" && fast.params["retry_after_seconds"] as? Int == 30)
            #expect((fast["next_steps"] as? [String])?.first?.contains("bank-b") == true)
            #expect((try await api.call(.get, "/v1/transactions", token: alice.token)["items"] as? [Any])?.count == before)
            // Without a rail the working one is taken.
            let viaB = try await api.withdraw(alice.token, 1_000)
            #expect(viaB.status == 201 && viaB["rail"] as? String == "bank-b", "\(viaB.raw)")

            // The bank is back; after the open time one probe goes through and closes the breaker.
            try await lucid.bank.configure("bank-a", faults: .none)
            clock.advance(seconds: 31)
            let probe = try await api.withdraw(alice.token, 1_000, rail: "bank-a")
            #expect(probe.status == 201 && probe["rail"] as? String == "bank-a", "\(probe.raw)")
            rails = try #require(try await api.call(.get, "/v1/ops/rails", token: auditor)["items"] as? [[String: Any]])
            #expect(rails[0]["breaker"] as? String == "closed" && rails[0]["health"] as? String == "operational")
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("lost callbacks: the sweeper asks the rail and resolves; a rail that stops answering gets the item escalated, then an operator settles it")
    func sweeper() async throws {
        try await withRails(faultsA: RailFaults(lostCallbackRate: 1), attemptsMax: 1, failureThreshold: 1_000) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            let fund = try await api.railTopUp(alice.token, 50_000, rail: "bank-b")
            try await lucid.settle(clock)
            #expect(try await lucid.item(fund["id"]).state == .posted)
            let top = try await api.railTopUp(alice.token, 3_000)
            let out = try await api.withdraw(alice.token, 2_000)
            try await lucid.settle(clock)
            #expect(try await lucid.item(top["id"]).state == .pending, "callbacks lost")
            #expect(try await lucid.item(out["id"]).state == .pending)
            #expect(try await lucid.gateway.sweep().checked == 0, "not overdue yet: the grace after the expected time")
            clock.advance(seconds: 60)
            // Two sweepers at once (two processes) share the work: each item is checked once.
            async let first = lucid.gateway.sweep()
            async let second = lucid.gateway.sweep()
            let (a, b) = try await (first, second)
            #expect(a.checked + b.checked == 2 && a.resolved + b.resolved == 2)
            #expect(try await lucid.item(top["id"]).state == .posted)
            #expect(try await lucid.item(out["id"]).state == .posted)
            var wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 50_000 + 3_000 - 2_010 && wallet.pendingOut == 0 && wallet.pendingIn == 0)
            let op = try await api.operatorToken(lucid, role: .risk)
            let audit = try await api.call(.get, "/v1/ops/audit?user_id=\(alice.id)&limit=100", token: op)
            let actions = (audit["items"] as? [[String: Any]] ?? []).filter { $0["actor"] as? String == "system:sweeper" }
            #expect(actions.compactMap { $0["action"] as? String }.sorted() == ["rail_item_posted", "rail_item_posted"])
            #expect(try await api.notifications(alice.token, type: "withdrawal_settled").count == 1)

            // The rail stops answering: checked with backoff, then escalated, audited and the customer told.
            let stuck = try await api.withdraw(alice.token, 1_000)
            let stuckID = try #require(stuck["id"] as? String)
            try await lucid.bank.configure("bank-a", faults: RailFaults(lostCallbackRate: 1, outage: true))
            clock.advance(seconds: 65)
            #expect(try await lucid.gateway.sweep().rescheduled == 1)
            #expect(try await lucid.gateway.sweep().checked == 0, "the next check waits")
            #expect(try await lucid.item(stuckID).attempts == 1)
            clock.advance(seconds: 60)
            #expect(try await lucid.gateway.sweep().rescheduled == 1)
            clock.advance(seconds: 120)
            #expect(try await lucid.gateway.sweep().escalated == 1)
            let escalated = try await lucid.item(stuckID)
            #expect(escalated.state == .escalated && escalated.reason == "under_review" && escalated.attempts == 3)
            #expect(try await api.wallet(alice.token).pendingOut == 1_010, "still held: the bank may have sent it")
            let detail = try await api.call(.get, "/v1/transactions/\(stuckID)", token: alice.token)
            #expect(detail["state"] as? String == "pending" && detail["reason"] as? String == "under_review")
            let told = try #require(try await api.notifications(alice.token, type: "bank_transfer_delayed").first)
            #expect((told["body"] as? String)?.contains("withdrawal of ¥10.00") == true, "\(told)")
            let toldZH = try #require(try await api.notifications(alice.token, type: "bank_transfer_delayed", language: "zh-CN").first)
            #expect((toldZH["body"] as? String)?.contains("提现") == true)
            let checks = try await api.call(.get, "/v1/ops/audit?user_id=\(alice.id)&limit=100", token: op)
            let sweeps = (checks["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(sweeps.filter { $0 == "rail_item_checked" }.count == 2 && sweeps.contains("rail_item_escalated"))
            let items = try await api.call(.get, "/v1/ops/rails/bank-a/items?state=escalated", token: op)
            #expect((items["items"] as? [[String: Any]])?.map { $0["reference"] as? String } == [stuckID])
            expectProblem(try await api.call(.get, "/v1/ops/rails/bank-a/items?state=lost", token: op), 422, "invalid_field")
            let alerts = try await api.call(.get, "/v1/ops/alerts?state=open", token: op)
            let alert = try #require((alerts["items"] as? [[String: Any]])?.first { $0["kind"] as? String == "stuck_item" })
            #expect(alert["reference"] as? String == stuckID && alert["user_id"] as? String == alice.id)
            let alertID = try #require(alert["id"] as? String)

            // An operator confirms with the bank and settles it: audited, the customer told.
            let support = try await api.operatorToken(lucid, role: .support)
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: support,
                                             json: ["note": "bank confirmed", "action": "post"]), 403, "forbidden")
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: op,
                                             json: ["note": "bank confirmed", "action": "refund"]), 422, "invalid_field")
            let resolved = try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: op,
                                              json: ["note": "the bank confirmed the payment by phone", "action": "post"])
            #expect(resolved.status == 200 && resolved["state"] as? String == "resolved", "\(resolved.raw)")
            #expect((resolved["resolved_by"] as? String)?.hasPrefix("operator:") == true)
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: op, json: ["note": "again"]),
                          409, "alert_already_resolved")
            wallet = try await api.wallet(alice.token)
            #expect(wallet.posted == 50_000 + 3_000 - 2_010 - 1_010 && wallet.pendingOut == 0)
            #expect(try await lucid.item(stuckID).state == .posted)
            #expect(try await api.notifications(alice.token, type: "withdrawal_settled").count == 2)

            // Another one escalates and then the rail answers after all: resolved, and its alert closes.
            try await lucid.bank.configure("bank-a", faults: RailFaults(lostCallbackRate: 1))
            let late = try await api.withdraw(alice.token, 500, rail: "bank-a")
            let lateID = try #require(late["id"] as? String)
            try await lucid.bank.configure("bank-a", faults: RailFaults(lostCallbackRate: 1, outage: true))
            for seconds in [Int64(65), 60, 120] {
                clock.advance(seconds: seconds)
                _ = try await lucid.gateway.sweep()
            }
            #expect(try await lucid.item(lateID).state == .escalated)
            let answer = try await api.callback(railCallback(lateID, .failed(reason: .bankMaintenance, message: "maintenance"),
                                                              at: clock.now()), signedAt: clock.now())
            #expect(answer["status"] as? String == "applied")
            #expect(try await lucid.item(lateID).state == .voided)
            let open = try await api.call(.get, "/v1/ops/alerts?state=open", token: op)
            #expect((open["items"] as? [[String: Any]])?.contains { $0["reference"] as? String == lateID } == false)
            #expect(try await api.wallet(alice.token).pendingOut == 0)
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("callbacks: forged, stale, misaddressed and replayed ones are refused; a duplicate changes nothing; order does not matter")
    func callbacks() async throws {
        try await withRails(faultsA: RailFaults(lostCallbackRate: 1)) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            let id = try #require(try await api.railTopUp(alice.token, 4_000)["id"] as? String)
            let settled = railCallback(id, .settled(at: clock.now()), event: "settled-1", at: clock.now())
            let forged = expectProblem(try await api.callback(settled, secret: "not-the-shared-secret-at-all", signedAt: clock.now()),
                                       401, "callback_signature_invalid")
            #expect(forged.params["reason"] as? String == "no signature matches")
            expectProblem(try await api.callback(settled, signedAt: clock.now(), signature: ""), 401, "callback_signature_invalid")
            let stale = expectProblem(try await api.callback(settled, signedAt: clock.now().adding(seconds: -301)), 401,
                                      "callback_signature_invalid")
            #expect((stale.params["reason"] as? String)?.contains("300 seconds") == true)
            expectProblem(try await api.callback(settled, to: "bank-z", signedAt: clock.now()), 404, "rail_not_found")
            expectProblem(try await api.callback(railCallback(id, .settled(at: clock.now()), rail: "bank-b", event: "misaddressed",
                                                              at: clock.now()), to: "bank-a", signedAt: clock.now()), 422, "invalid_field")
            let tamperedBody = RailWire.encode(railCallback(id, .settled(at: clock.now()), event: "other", at: clock.now()))
            let tampered = try await api.call(.post, "/v1/gateway/callbacks/bank-a",
                                              raw: String(decoding: RailWire.encode(settled), as: UTF8.self),
                                              headers: [CallbackSigner.headerName: CallbackSigner(secret: railCallbackSecret)
                                                  .signature(for: tamperedBody, at: clock.now())])
            expectProblem(tampered, 401, "callback_signature_invalid")
            expectProblem(try await api.call(.post, "/v1/gateway/callbacks/bank-a", raw: String(repeating: "x", count: 20_000)),
                          413, "body_too_large")
            #expect(try await api.wallet(alice.token).posted == 0, "nothing refused was applied")

            let applied = try await api.callback(settled, signedAt: clock.now())
            #expect(applied.status == 200 && applied["status"] as? String == "applied" && applied["event_id"] as? String == settled.eventID)
            #expect(try await api.wallet(alice.token).posted == 4_000)
            let replayed = expectProblem(try await api.callback(settled, signedAt: clock.now()), 409, "callback_replayed")
            #expect(replayed.params["event_id"] as? String == settled.eventID)
            #expect(try await api.callback(railCallback(id, .settled(at: clock.now()), at: clock.now()), signedAt: clock.now())["status"]
                    as? String == "duplicate")
            #expect(try await api.callback(railCallback(id, .pending(expectedBy: clock.now().adding(seconds: 600)), at: clock.now()),
                                           signedAt: clock.now())["status"] as? String == "stale")
            let conflict = try await api.callback(railCallback(id, .failed(reason: .accountClosed, message: "closed"), at: clock.now()),
                                                  signedAt: clock.now())
            #expect(conflict["status"] as? String == "conflict")
            #expect(try await api.wallet(alice.token).posted == 4_000, "the first final answer stands")
            let op = try await api.operatorToken(lucid, role: .auditor)
            let alerts = try await api.call(.get, "/v1/ops/alerts?state=open&rail=bank-a", token: op)
            #expect((alerts["items"] as? [[String: Any]])?.contains { $0["kind"] as? String == "rail_conflict" && $0["reference"] as? String == id }
                    == true)

            // Order does not matter: the final answer first, the pending one after.
            let second = try #require(try await api.railTopUp(alice.token, 2_000)["id"] as? String)
            #expect(try await api.callback(railCallback(second, .failed(reason: .insufficientFundsAtBank, message: "poor"), at: clock.now()),
                                           signedAt: clock.now())["status"] as? String == "applied")
            #expect(try await api.callback(railCallback(second, .pending(expectedBy: clock.now().adding(seconds: 5)), at: clock.now()),
                                           signedAt: clock.now())["status"] as? String == "stale")
            let voided = try await lucid.item(second)
            #expect(voided.state == .voided && voided.reason == "R01_insufficient_funds")
            #expect(try await api.wallet(alice.token).posted == 4_000)
            // A reference nobody sent: acknowledged and handed to an operator.
            let unknown = try await api.callback(railCallback(UUID().uuidString.lowercased(), .settled(at: clock.now()), at: clock.now()),
                                                 signedAt: clock.now())
            #expect(unknown["status"] as? String == "unknown_reference")
            let all = try await api.call(.get, "/v1/ops/alerts?state=open", token: op)
            #expect((all["items"] as? [[String: Any]])?.contains { $0["kind"] as? String == "unknown_callback" } == true)
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("an operator posting or voiding a rail movement first: the rail's same answer is already resolved, the opposite an alert")
    func operatorFirst() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            try await api.railTopUp(alice.token, 10_000)
            let op = try await api.operatorToken(lucid, role: .admin)
            let posted = try #require(try await api.withdraw(alice.token, 1_000)["id"] as? String)
            let voided = try #require(try await api.withdraw(alice.token, 2_000)["id"] as? String)
            #expect(try await api.call(.post, "/v1/ops/transactions/\(posted)/post", token: op)["state"] as? String == "posted")
            #expect(try await api.call(.post, "/v1/ops/transactions/\(voided)/void", token: op)["state"] as? String == "voided")
            #expect(try await lucid.item(posted).state == .posted)
            #expect(try await lucid.item(voided).reason == "operator_decision")
            try await lucid.settle(clock)
            let first = try await lucid.item(posted)
            #expect(first.state == .posted && first.railState == "settled")
            let second = try await lucid.item(voided)
            #expect(second.state == .voided && second.railState == "settled", "the rail's word is kept beside the ledger's")
            let alerts = try await api.call(.get, "/v1/ops/alerts?state=open", token: op)
            let kinds = (alerts["items"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? "")/\($0["reference"] ?? "")" }
            #expect(kinds == ["rail_conflict/\(voided)"], "money left the bank but the hold was released: an operator must look")
            #expect(try await api.wallet(alice.token).posted == 10_000 - 1_010)
            #expect(try await lucid.store.verify().ok)
        }
    }

    @Test("every fault at once: every item ends posted, voided or escalated, the ledger agrees with the bank, nothing twice")
    func everyFaultAtOnce() async throws {
        let faults = RailFaults(
            latency: LatencyDistribution(meanMilliseconds: 80, standardDeviationMilliseconds: 20, tailRate: 0.05, tailMilliseconds: 1_500),
            timeoutRate: 0.15, failureRate: 0.15, failureReasons: [.insufficientFundsAtBank, .accountClosed, .bankMaintenance],
            duplicateCallbackRate: 0.3, outOfOrderCallbackRate: 0.3, lostCallbackRate: 0.3)
        try await withRails(faultsA: faults, faultsB: faults, attemptsMax: 3, failureThreshold: 1_000, sweepAttemptsMax: 6) { api, lucid, clock in
            var customers: [(id: String, token: String, email: String)] = []
            for name in ["Alice", "Bob", "Carol"] { customers.append(try await api.customer(name)) }
            var references: [String] = []
            for (index, customer) in customers.enumerated() {
                for n in 0..<8 {
                    let answer = try await api.railTopUp(customer.token, 5_000 + 10 * n + index, rail: n % 3 == 0 ? "bank-b" : nil)
                    #expect([201, 202, 422].contains(answer.status), "\(answer.raw)")
                    if let id = answer["id"] as? String { references.append(id) }
                }
            }
            try await lucid.settle(clock, afterSeconds: 30)
            for customer in customers {
                for n in 0..<4 {
                    let answer = try await api.withdraw(customer.token, 1_000 + n)
                    #expect([201, 422].contains(answer.status), "\(answer.raw)")
                    if let id = answer["id"] as? String { references.append(id) }
                }
            }
            for _ in 0..<30 {
                try await lucid.settle(clock, afterSeconds: 60)
                _ = try await lucid.gateway.sweep()
                var open = 0
                for rail in ["bank-a", "bank-b"] {
                    open += try await lucid.store.railItems(rail: rail, state: .pending, limit: 100, cursor: nil).items.count
                }
                if open == 0 { break }
            }
            // Every item ended; each agrees with the bank's book; declined ones too.
            var books: [String: SandboxBank.BookEntry] = [:]
            for rail in ["bank-a", "bank-b"] {
                for entry in try await lucid.bank.book(of: RailID(rail)) { books[entry.request.reference.rawValue] = entry }
            }
            var expected: [String: Int] = [:]
            var items: [RailItemRecord] = []
            for rail in ["bank-a", "bank-b"] {
                var cursor: String?
                repeat {
                    let page = try await lucid.store.railItems(rail: rail, state: nil, limit: 100, cursor: cursor)
                    items += page.items
                    cursor = page.nextCursor
                } while cursor != nil
            }
            #expect(Set(references).isSubset(of: Set(items.map(\.reference.rawValue))))
            for item in items {
                #expect(item.state != .pending, "\(item.reference) still pending")
                let booked = books[item.reference.rawValue]
                switch item.state {
                case .posted:
                    #expect(booked?.status.stateName == "settled", "posted only what the bank settled")
                case .voided:
                    #expect(booked == nil || booked?.status.stateName == "failed", "voided only what the bank failed or never had")
                case .escalated, .pending:
                    continue
                }
                let amount = Int(item.amount)
                let fee = item.direction == "withdrawal" ? max(10, min(2_500, amount / 1_000)) : 0
                let owner = item.userID.rawValue
                if item.state == .posted { expected[owner, default: 0] += item.direction == "topup" ? amount : -(amount + fee) }
            }
            #expect(books.keys.allSatisfy { reference in items.contains { $0.reference.rawValue == reference } }, "the bank booked only ours")
            for customer in customers {
                let wallet = try await api.wallet(customer.token)
                #expect(wallet.posted == expected[customer.id, default: 0], "\(customer.email): credited and debited exactly once")
                #expect(wallet.pendingIn == 0)
            }
            let op = try await api.operatorToken(lucid, role: .auditor)
            let alerts = try await api.call(.get, "/v1/ops/alerts?state=open", token: op)
            #expect((alerts["items"] as? [[String: Any]] ?? []).allSatisfy { $0["kind"] as? String == "stuck_item" }, "\(alerts.raw)")
            #expect(items.contains { $0.state == .voided } && items.contains { $0.direction == "withdrawal" && $0.state == .posted })
            let audit = try await api.call(.get, "/v1/ops/audit?limit=100", token: op)
            let actors = Set((audit["items"] as? [[String: Any]] ?? []).compactMap { $0["actor"] as? String })
            #expect(actors.contains("system:sweeper") && actors.contains("rail:bank-a"), "callbacks and the sweeper both did their part")
            #expect(try await lucid.store.verify().ok)
        }
    }
}
