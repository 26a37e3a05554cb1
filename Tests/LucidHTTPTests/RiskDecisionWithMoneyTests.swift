import Foundation
import HTTPTypes
import LucidCore
import LucidHTTP
@testable import LucidStore
import Testing

/// A movement of money, its risk decision, the review of a hold and what the features learn are
/// one transaction: all of them are written, or none. A crash or a failing write can never leave
/// money that moved without its decision, a hold without the review that releases it, or features
/// that missed a movement (an attacker must not be able to hide a burst that way).
@Suite("HTTP: risk decisions and features are written with their money")
struct RiskDecisionWithMoneyTests {
    @Test("with the features' writes failing nothing is written and the answer is a clear retry-later; once they work the same keys go through, decided and learned")
    func decisionReviewAndFeaturesWithTheMoney() async throws {
        try await withApp { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            let aliceKey = RiskStateKey.customer(UserID(alice.id))
            let before = try await lucid.store.riskStates([aliceKey])

            // Every write of remembered features fails, as a broken disk would make it.
            let events = ["INSERT", "UPDATE"]
            for event in events {
                _ = try await lucid.store.database.write { connection in
                    try await connection.execute(SQLStatement("""
                        CREATE TRIGGER test_features_unwritable_\(event.lowercased()) BEFORE \(event) ON risk_states
                        BEGIN SELECT RAISE(ABORT, 'features unavailable'); END
                        """))
                }
            }
            let allowedKey = UUID().uuidString, heldKey = UUID().uuidString
            for (amount, key) in [(5_000, allowedKey), (20_000, heldKey)] {
                let refused = try await api.transfer(alice.token, to: ["email": bob.email], amount, key: key)
                #expect(refused.status >= 500, "a failed write is the service's fault, never a half-done movement")
                #expect(refused["code"] as? String != nil && refused["detail"] as? String != nil)
                #expect(!refused.raw.contains("features unavailable"), "no SQL reaches the customer")
            }
            #expect(try await api.available(alice.token) == 100_000)
            #expect(try await api.available(bob.token) == 0)
            let none = try await api.call(.get, "/v1/ops/risk/decisions?user_id=\(alice.id)", token: admin)
            let kept = (none["items"] as? [[String: Any]] ?? []).filter { $0["event_kind"] as? String == "transfer" }
            #expect(kept.count == 2 && kept.allSatisfy { $0["recorded"] as? Bool == false && $0["transaction_id"] == nil },
                    "each attempt's decision is kept as not having happened, tied to no money")
            #expect((try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: admin)["items"] as? [[String: Any]] ?? []).isEmpty)
            #expect(try await lucid.store.riskStates([aliceKey]) == before)

            // The disk is back: the customer's retries (same keys) go through, decided and learned.
            for event in events {
                _ = try await lucid.store.database.write { connection in
                    try await connection.execute(SQLStatement("DROP TRIGGER test_features_unwritable_\(event.lowercased())"))
                }
            }
            let allowed = try await api.transfer(alice.token, to: ["email": bob.email], 5_000, key: allowedKey)
            let held = try await api.transfer(alice.token, to: ["email": bob.email], 20_000, key: heldKey)
            #expect(allowed.status == 201 && held.status == 202)
            let heldID = try #require(held["id"] as? String)
            let decisions = try await api.call(.get, "/v1/ops/risk/decisions?user_id=\(alice.id)", token: admin)
            let byTransaction = Dictionary((decisions["items"] as? [[String: Any]] ?? []).compactMap { item in
                (item["transaction_id"] as? String).map { ($0, item["action"] as? String) }
            }) { first, _ in first }
            #expect(byTransaction[allowed["id"] as? String ?? ""] == "allow")
            #expect(byTransaction[heldID] == "review")
            let after = try #require(try await lucid.store.riskStates([aliceKey])[aliceKey])
            #expect(after.version == (before[aliceKey]?.version ?? 0) + 2, "the features learned both movements, once each")
            let bobKey = RiskStateKey.customer(UserID(bob.id))
            #expect(try await lucid.store.riskStates([bobKey])[bobKey] != nil, "the receiver learned the money that reached it")

            // The review releases the held money.
            let open = try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: admin)
            let review = try #require((open["items"] as? [[String: Any]])?.first { $0["transaction_id"] as? String == heldID })
            #expect((try await api.call(.get, "/v1/transactions/\(heldID)", token: alice.token)["security"] as? [String: Any])?["status"]
                    as? String == "review")
            let approved = try await api.call(.post, "/v1/ops/risk/reviews/\(review["id"] as! String)/approve", token: admin,
                                              json: ["note": "known customer"])
            #expect(approved.status == 200)
            #expect(try await api.available(bob.token) == 25_000)
            #expect(try await lucid.store.verify().ok)
        }
    }
}
