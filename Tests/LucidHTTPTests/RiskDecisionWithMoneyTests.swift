import Foundation
import HTTPTypes
import LucidCore
import LucidHTTP
@testable import LucidStore
import Testing

/// A decision and the review of a hold are written in the money's own transaction; the features
/// learn the event in a later commit. Losing that later commit (a crash, a failing write) loses
/// one event's features, never the decision or the review that releases held money.
@Suite("HTTP: risk decisions are written with their money")
struct RiskDecisionWithMoneyTests {
    @Test("with the features' writes failing after the money moved, every decision and the hold's review are there all the same")
    func decisionAndReviewWithTheMoney() async throws {
        try await withApp { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            let before = try await lucid.store.riskStates([RiskStateKey.customer(UserID(alice.id))])

            // From here every write of remembered features fails, as if the process died right after each movement.
            for event in ["INSERT", "UPDATE"] {
                _ = try await lucid.store.database.write { connection in
                    try await connection.execute(SQLStatement("""
                        CREATE TRIGGER test_features_unwritable_\(event.lowercased()) BEFORE \(event) ON risk_states
                        BEGIN SELECT RAISE(ABORT, 'features unavailable'); END
                        """))
                }
            }
            let allowed = try await api.transfer(alice.token, to: ["email": bob.email], 5_000)
            let held = try await api.transfer(alice.token, to: ["email": bob.email], 20_000)
            #expect(allowed.status == 201 && held.status == 202, "the customer's answers do not depend on the features' write")
            let heldID = try #require(held["id"] as? String)

            let decisions = try await api.call(.get, "/v1/ops/risk/decisions?user_id=\(alice.id)", token: admin)
            let items = decisions["items"] as? [[String: Any]] ?? []
            let byTransaction = Dictionary(items.compactMap { item in
                (item["transaction_id"] as? String).map { ($0, item["action"] as? String) }
            }) { first, _ in first }
            #expect(byTransaction[allowed["id"] as? String ?? ""] == "allow")
            #expect(byTransaction[heldID] == "review")

            let open = try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: admin)
            let review = try #require((open["items"] as? [[String: Any]])?.first { $0["transaction_id"] as? String == heldID })
            #expect((try await api.call(.get, "/v1/transactions/\(heldID)", token: alice.token)["security"] as? [String: Any])?["status"]
                    as? String == "review")
            #expect(try await lucid.store.riskStates([RiskStateKey.customer(UserID(alice.id))]) == before,
                    "the features did not learn the two movements")

            // The review still releases the money.
            let approved = try await api.call(.post, "/v1/ops/risk/reviews/\(review["id"] as! String)/approve", token: admin,
                                              json: ["note": "known customer"])
            #expect(approved.status == 200)
            #expect(try await api.available(bob.token) == 25_000)
            #expect(try await lucid.store.verify().ok)
        }
    }
}
