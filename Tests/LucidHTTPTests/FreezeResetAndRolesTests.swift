import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import Testing

@Suite("HTTP: freeze and recovery")
struct FreezeAndRecoveryTests {
    @Test("self-freeze blocks every outgoing route, signs out everywhere, lets money in; unfreeze after cooling-off with a code")
    func selfFreeze() async throws {
        let clock = ManualClock()
        let sender = RecordingWebhookSender()
        try await withApp(clock: clock, sender: sender) { api, lucid in
            let op = try await api.operatorToken(lucid)
            let merchant = try #require(try await api.call(.post, "/v1/ops/merchants", token: op,
                                                           json: ["name": "Shop", "country": "CN"])["id"] as? String)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 50_000)
            try await api.topUp(bob.token, 50_000)
            let frozen = try await api.call(.post, "/v1/me/freeze", token: alice.token, json: ["reason": "phone stolen"])
            #expect(frozen.status == 200 && frozen["status"] as? String == "frozen")
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token), 401, "unauthenticated")
            let token = try #require(try await api.logIn(alice.email)["token"] as? String)
            // Every outgoing route is refused, each with who froze it, why and when.
            let outgoing: [(String, [String: Any])] = [
                ("/v1/transfers", ["to": ["email": bob.email], "amount": 100, "currency": "CNY"]),
                ("/v1/payments", ["merchant_id": merchant, "amount": 100, "currency": "CNY"]),
                ("/v1/withdrawals", ["amount": 100, "currency": "CNY"]),
            ]
            for (route, body) in outgoing {
                let refused = expectProblem(try await api.call(.post, route, token: token, json: body, key: UUID().uuidString),
                                            403, "account_frozen")
                #expect(refused.params["frozen_by"] as? String == "customer" && refused.params["reason"] as? String == "phone stolen")
                #expect((refused["detail"] as? String)?.contains("by you") == true)
            }
            // Incoming money still arrives.
            #expect(try await api.transfer(bob.token, to: ["email": alice.email], 1_000).status == 201)
            #expect(try await api.available(token) == 51_000)
            let account = try await api.call(.get, "/v1/me", token: token)
            #expect(account["status"] as? String == "frozen" && account["frozen_by"] as? String == "customer")
            #expect(account["frozen_reason"] as? String == "phone stolen" && account["frozen_at"] is String)
            // Cooling-off first, then password and a second factor (a code through the outbox, without 2FA).
            let early = expectProblem(try await api.call(.post, "/v1/me/unfreeze", token: token, json: ["password": password]),
                                      409, "unfreeze_cooling_off")
            #expect(early.params["available_at"] is String)
            clock.advance(seconds: 31 * 60)
            let needs = expectProblem(try await api.call(.post, "/v1/me/unfreeze", token: token, json: ["password": password]),
                                      401, "second_factor_required")
            #expect(needs.params["methods"] as? String == "verification_code")
            #expect(try await api.call(.post, "/v1/me/verification-codes", token: token, json: ["purpose": "unfreeze"]).status == 202)
            try await lucid.delivery.deliverDue()
            let verification = try #require(sender.secret("verification_code", for: alice.id))
            expectProblem(try await api.call(.post, "/v1/me/unfreeze", token: token,
                                             json: ["password": "wrong password!", "verification_code": verification]),
                          401, "invalid_credentials")
            let unfrozen = try await api.call(.post, "/v1/me/unfreeze", token: token,
                                              json: ["password": password, "verification_code": verification])
            #expect(unfrozen.status == 200, "\(unfrozen.raw)")
            #expect(try await api.transfer(token, to: ["email": bob.email], 100).status == 201)
            // The readable notification never holds the code itself.
            let notes = try await api.call(.get, "/v1/notifications?limit=100", token: token)
            #expect(!notes.raw.contains(verification))
        }
    }

    @Test("freeze without signing in (stolen phone) needs the password; an operator's freeze needs an operator to lift")
    func freezeWithPasswordAndOperator() async throws {
        try await withApp { api, lucid in
            let alice = try await api.customer("Alice")
            expectProblem(try await api.call(.post, "/v1/freeze", json: ["login": alice.email, "password": "not it at all"]),
                          401, "invalid_credentials")
            expectProblem(try await api.call(.post, "/v1/freeze", json: ["login": "ghost@example.com", "password": "not it at all"]),
                          401, "invalid_credentials")
            #expect(try await api.call(.post, "/v1/freeze", json: ["login": alice.email, "password": password]).status == 200)
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token), 401, "unauthenticated")

            let bob = try await api.customer("Bob")
            let support = try await api.operatorToken(lucid, role: .support)
            let risk = try await api.operatorToken(lucid, role: .risk)
            #expect(try await api.call(.post, "/v1/ops/users/\(bob.id)/freeze", token: support, json: ["reason": "chargeback fraud"]).status == 200)
            let token = try #require(try await api.logIn(bob.email)["token"] as? String)
            let refused = expectProblem(try await api.call(.post, "/v1/me/unfreeze", token: token, json: ["password": password]),
                                        403, "account_frozen")
            #expect(refused.params["frozen_by"] as? String == "support")
            expectProblem(try await api.call(.post, "/v1/ops/users/\(bob.id)/unfreeze", token: support, json: ["reason": "ok"]),
                          403, "forbidden")
            #expect(try await api.call(.post, "/v1/ops/users/\(bob.id)/unfreeze", token: risk, json: ["reason": "cleared"]).status == 200)
            let audit = try await api.call(.get, "/v1/ops/audit?user_id=\(bob.id)", token: support)
            let actions = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("account_frozen") && actions.contains("account_unfrozen"))
        }
    }

    @Test("password reset: the same answer for unknown logins; a single-use, short-lived link; sessions end; the lock lifts")
    func reset() async throws {
        let clock = ManualClock()
        let sender = RecordingWebhookSender()
        try await withApp(clock: clock, sender: sender) { api, lucid in
            let alice = try await api.customer("Alice")
            for _ in 0..<5 { _ = try await api.logIn(alice.email, password: "wrong password") }
            let known = try await api.call(.post, "/v1/password-resets", json: ["login": alice.email])
            let unknown = try await api.call(.post, "/v1/password-resets", json: ["login": "ghost@example.com"])
            #expect(known.status == 202 && unknown.status == 202 && known.raw == unknown.raw)
            try await lucid.delivery.deliverDue()
            let link = try #require(sender.secret("password_reset_requested", for: alice.id))
            let token = try #require(link.components(separatedBy: "token=").last)
            expectProblem(try await api.call(.post, "/v1/password-resets/confirm", json: ["token": token, "new_password": "password"]),
                          422, "password_too_weak")
            #expect(try await api.call(.post, "/v1/password-resets/confirm",
                                       json: ["token": token, "new_password": "a brand new passphrase"]).status == 204)
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token), 401, "unauthenticated")
            expectProblem(try await api.call(.post, "/v1/password-resets/confirm",
                                             json: ["token": token, "new_password": "another new passphrase"]), 400, "reset_token_invalid")
            #expect(try await api.logIn(alice.email, password: "a brand new passphrase").status == 201, "the reset lifted the lock")
            expectProblem(try await api.call(.post, "/v1/password-resets/confirm",
                                             json: ["token": "lrt_forged-token", "new_password": "another new passphrase"]), 400, "reset_token_invalid")
            expectProblem(try await api.call(.post, "/v1/password-resets/confirm",
                                             json: ["token": "'; DROP TABLE users; --", "new_password": "another new passphrase"]), 400, "reset_token_invalid")
            // Expired links do not work.
            _ = try await api.call(.post, "/v1/password-resets", json: ["login": alice.email])
            try await lucid.delivery.deliverDue()
            let second = try #require(sender.secret("password_reset_requested", for: alice.id)?.components(separatedBy: "token=").last)
            #expect(second != token)
            clock.advance(seconds: 16 * 60)
            expectProblem(try await api.call(.post, "/v1/password-resets/confirm",
                                             json: ["token": second, "new_password": "another new passphrase"]), 400, "reset_token_invalid")
        }
    }

    @Test("changing the password signs out the other sessions and notifies the owner")
    func changePassword() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let other = try #require(try await api.logIn(alice.email)["token"] as? String)
            expectProblem(try await api.call(.post, "/v1/me/password", token: alice.token,
                                             json: ["current_password": "not my password", "new_password": "a brand new passphrase"]),
                          401, "invalid_credentials")
            #expect(try await api.call(.post, "/v1/me/password", token: alice.token,
                                       json: ["current_password": password, "new_password": "a brand new passphrase"]).status == 204)
            #expect(try await api.call(.get, "/v1/wallets", token: alice.token).status == 200)
            expectProblem(try await api.call(.get, "/v1/wallets", token: other), 401, "unauthenticated")
            expectProblem(try await api.logIn(alice.email), 401, "invalid_credentials")
            let notes = try await api.call(.get, "/v1/notifications", token: alice.token)
            #expect((notes["items"] as? [[String: Any]])?.contains { $0["type"] as? String == "password_changed" } == true)
        }
    }

    @Test("an account silent for a year is dormant: it cannot send until the owner re-verifies")
    func dormant() async throws {
        let clock = ManualClock()
        let sender = RecordingWebhookSender()
        try await withApp(clock: clock, sender: sender) { api, lucid in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 10_000)
            clock.advance(seconds: 366 * 86_400)
            let token = try #require(try await api.logIn(alice.email)["token"] as? String)
            let refused = expectProblem(try await api.transfer(token, to: ["email": bob.email], 100), 403, "account_dormant")
            #expect(refused.params["last_activity_at"] is String)
            #expect(try await api.call(.get, "/v1/me", token: token)["dormant"] as? Bool == true)
            _ = try await api.call(.post, "/v1/me/verification-codes", token: token, json: ["purpose": "reactivate"])
            try await lucid.delivery.deliverDue()
            let verification = try #require(sender.secret("verification_code", for: alice.id))
            #expect(try await api.call(.post, "/v1/me/reactivate", token: token,
                                       json: ["password": password, "verification_code": verification]).status == 200)
            #expect(try await api.transfer(token, to: ["email": bob.email], 100).status == 201)
        }
    }

    @Test("regions the operator does not serve are refused at sign-up, sign-in and on every signed-in request")
    func region() async throws {
        try await withApp(configure: { $0.identity.policy.disallowedCountries = ["KP"] }) { api, _ in
            let alice = try await api.customer("Alice")
            expectProblem(try await api.call(.post, "/v1/users", json: [
                "email": "kim@example.com", "password": password, "display_name": "Kim", "country": "KP"]), 403, "region_not_supported")
            let there = expectProblem(try await api.logIn(alice.email, headers: ["X-Geo-Country": "kp"]), 403, "region_not_supported")
            #expect(there.params["country"] as? String == "KP")
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token, headers: ["X-Geo-Country": "KP"]),
                          403, "region_not_supported")
            #expect(try await api.call(.get, "/v1/wallets", token: alice.token, headers: ["X-Geo-Country": "CN"]).status == 200)
        }
    }
}

@Suite("HTTP: outbox, roles and ownership")
struct OutboxRolesAndOwnershipTests {
    @Test("webhook deliveries are signed, carry both languages, retry with backoff and dead-letter")
    func webhooks() async throws {
        let clock = ManualClock()
        let sender = RecordingWebhookSender()
        try await withApp(clock: clock, sender: sender) { api, lucid in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 10_000)
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 1_250).status == 201)
            // The top-up's arrival (the rail confirmed it), the payment to Bob, Bob's receipt.
            let delivered = try await lucid.delivery.deliverDue()
            let history = try await api.call(.get, "/v1/transactions", token: alice.token).raw
            #expect(delivered == 3, "\(sender.deliveries.map { $0.json["type"] ?? "?" }) \(history)")
            let received = try #require(sender.deliveries.first { $0.json["type"] as? String == "money_received" })
            #expect(received.json["user_id"] as? String == bob.id)
            #expect(WebhookSignature.verify(header: try #require(received.signature), body: received.body,
                                            secret: RecordingWebhookSender.secret, now: clock.now()))
            #expect(!WebhookSignature.verify(header: try #require(received.signature), body: received.body + [0x20],
                                             secret: RecordingWebhookSender.secret, now: clock.now()), "a tampered body fails")
            #expect(!WebhookSignature.verify(header: try #require(received.signature), body: received.body,
                                             secret: "another secret entirely", now: clock.now()))
            #expect(!WebhookSignature.verify(header: try #require(received.signature), body: received.body,
                                             secret: RecordingWebhookSender.secret, now: clock.now().adding(seconds: 301)), "stale")
            let texts = try #require(received.json["texts"] as? [String: [String: String]])
            #expect(texts["en"]?["body"] == "You received ¥12.50 from *lice.", "the sender's name is masked")
            #expect(texts["zh-CN"]?["title"] == "收款到账")
            #expect((received.json["recipient"] as? [String: Any])?["email"] as? String == bob.email)
            // A failing endpoint: retried on schedule, then dead-lettered; nothing delivered twice.
            sender.fail(true)
            _ = try await api.call(.post, "/v1/me/sessions/revoke-others", token: alice.token)
            _ = try await api.logIn(alice.email)
            _ = try await api.call(.post, "/v1/me/sessions/revoke-others", token: alice.token)
            for delay in NotificationDeliveryService.retryDelaysSeconds {
                try await lucid.delivery.deliverDue()
                clock.advance(seconds: delay)
            }
            try await lucid.delivery.deliverDue()
            let counts = try await lucid.store.deliveryCounts()
            #expect(counts["dead"] == 1 && counts["delivered"] == 3 && counts["pending"] == nil)
            sender.fail(false)
            #expect(try await lucid.delivery.deliverDue() == 0, "dead letters are not retried")
        }
    }

    @Test("operator role matrix: each role reaches exactly its routes")
    func roleMatrix() async throws {
        try await withApp { api, lucid in
            let alice = try await api.customer("Alice")
            try await api.topUp(alice.token, 1_000)
            var tokens: [OperatorRole: String] = [:]
            for role in OperatorRole.allCases { tokens[role] = try await api.operatorToken(lucid, role: role) }
            // route → roles allowed (the others get 403)
            let matrix: [(HTTPRequest.Method, String, [String: Any]?, Set<OperatorRole>)] = [
                (.get, "/v1/ops/ledger/verify", nil, [.admin, .support, .auditor]),
                (.get, "/v1/ops/users/\(alice.id)", nil, [.admin, .support, .risk, .auditor]),
                (.get, "/v1/ops/audit", nil, [.admin, .support, .risk, .auditor]),
                (.post, "/v1/ops/users/\(alice.id)/unlock", ["reason": "asked by phone"], [.admin, .support]),
                (.post, "/v1/ops/merchants", ["name": "Shop", "country": "CN"], [.admin]),
            ]
            for (method, path, body, allowed) in matrix {
                for role in OperatorRole.allCases {
                    let answer = try await api.call(method, path, token: tokens[role], json: body)
                    if allowed.contains(role) {
                        #expect((200..<300).contains(answer.status), "\(role) \(method) \(path): \(answer.raw)")
                    } else {
                        #expect(answer.status == 403 && answer.code == "forbidden", "\(role) \(method) \(path): \(answer.raw)")
                    }
                }
                expectProblem(try await api.call(method, path, token: alice.token, json: body), 401, "unauthenticated")
            }
        }
    }

    @Test("IDOR: every route that takes an id answers another customer's id like an unknown one")
    func ownership() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let mallory = try await api.customer("Mallory")
            try await api.topUp(alice.token, 1_000)
            let transaction = try #require(try await api.call(.get, "/v1/transactions", token: alice.token)["items"] as? [[String: Any]])
            let transactionID = try #require(transaction.first?["id"] as? String)
            let sessions = try #require(try await api.call(.get, "/v1/me/sessions", token: alice.token)["items"] as? [[String: Any]])
            let sessionID = try #require(sessions.first?["id"] as? String)
            expectProblem(try await api.call(.get, "/v1/transactions/\(transactionID)", token: mallory.token), 404, "transaction_not_found")
            expectProblem(try await api.call(.delete, "/v1/me/sessions/\(sessionID)", token: mallory.token), 404, "session_not_found")
            #expect(try await api.call(.get, "/v1/wallets", token: alice.token).status == 200, "alice's session survived")
            let notes = try await api.call(.get, "/v1/notifications", token: mallory.token)
            #expect(!(notes.raw.contains(alice.id)))
            let audit = try await api.call(.get, "/v1/me/audit", token: mallory.token)
            #expect((audit["items"] as? [[String: Any]] ?? []).allSatisfy { $0["user_id"] as? String == mallory.id })
            expectProblem(try await api.call(.get, "/v1/ops/users/\(alice.id)", token: mallory.token), 401, "unauthenticated")
        }
    }
}
