import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import Testing
@Suite("HTTP: money")
struct MoneyRouteTests {
    @Test("top up, transfer by e-mail, phone and user id; balances and the transaction shape")
    func topUpAndTransfer() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice Zhang", phone: "+8613800138000")
            let bob = try await api.customer("Bob Li")
            let topUp = try await api.topUp(alice.token, 10_000)
            #expect(topUp.status == 201 && topUp["state"] as? String == "posted" && topUp["direction"] as? String == "in")
            #expect((topUp["counterparty"] as? [String: Any])?["type"] as? String == "bank")
            let sent = try await api.transfer(alice.token, to: ["email": bob.email], 1_250, memo: "lunch")
            #expect(sent.status == 201, "\(sent.raw)")
            for field in ["id", "kind", "state", "amount", "currency", "fee", "direction", "counterparty", "created_at"] {
                #expect(sent[field] != nil, "transaction field \(field)")
            }
            #expect(sent["kind"] as? String == "transfer" && sent["direction"] as? String == "out" && sent["fee"] as? Int == 0)
            let counterparty = try #require(sent["counterparty"] as? [String: Any])
            #expect(counterparty["name"] as? String == "B** L*", "people are masked")
            _ = try await api.transfer(bob.token, to: ["phone": "+86 138 0013 8000"], 250)
            _ = try await api.transfer(bob.token, to: ["user_id": alice.id], 250)
            #expect(try await api.available(alice.token) == 10_000 - 1_250 + 500)
            #expect(try await api.available(bob.token) == 750)
            let wallets = try await api.call(.get, "/v1/wallets", token: alice.token)
            let wallet = try #require((wallets["items"] as? [[String: Any]])?.first)
            #expect(wallet["posted"] as? Int == 9_250 && wallet["pending_out"] as? Int == 0 && wallet["pending_in"] as? Int == 0)
        }
    }

    @Test("insufficient funds: 422 with every number, in English and Chinese")
    func insufficientFunds() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 8_000)
            let en = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 10_050), 422, "insufficient_funds")
            #expect(en.params["available"] as? Int == 8_000 && en.params["required"] as? Int == 10_050)
            #expect(en.params["shortfall"] as? Int == 2_050 && en.params["currency"] as? String == "CNY")
            #expect(en["detail"] as? String == "Available balance is ¥80.00 but this needs ¥100.50.")
            #expect(en.headers[.contentLanguage] == "en")
            let zh = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 10_050, language: "zh-CN,zh;q=0.9"),
                                   422, "insufficient_funds")
            #expect(zh["detail"] as? String == "可用余额为 ¥80.00，但本次需要 ¥100.50。")
            #expect((zh["next_steps"] as? [String])?.first == "请至少充值 ¥20.50，或减少金额。")
            #expect(zh.headers[.contentLanguage] == "zh-CN")
            #expect(try await api.available(alice.token) == 8_000, "nothing moved")
        }
    }

    @Test("transfer errors: payee, self, memo, selector, limits")
    func transferErrors() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 1_000_000)
            expectProblem(try await api.transfer(alice.token, to: ["email": "nobody@example.com"], 100), 404, "payee_not_found")
            expectProblem(try await api.transfer(alice.token, to: ["email": alice.email], 100), 422, "self_transfer_not_allowed")
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 100, memo: String(repeating: "x", count: 141)),
                          422, "string_too_long")
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email, "user_id": alice.id], 100), 422, "invalid_field")
            expectProblem(try await api.transfer(alice.token, to: [:], 100), 422, "invalid_field")
            let perTransfer = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 200_001), 422, "per_transfer_limit_exceeded")
            #expect(perTransfer.params["limit"] as? Int == 200_000)
            for _ in 0..<2 { #expect(try await api.transfer(alice.token, to: ["email": bob.email], 200_000).status == 201) }
            let daily = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 100_001), 422, "daily_limit_exceeded")
            #expect(daily.params["remaining"] as? Int == 100_000 && daily.params["used"] as? Int == 400_000)
            #expect(daily.params["resets_at"] is String)
            #expect(try await api.available(bob.token) == 400_000)
        }
    }

    @Test("idempotency over HTTP: replay returns the same transaction and status; another body is refused; the key is required")
    func idempotency() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 5_000)
            let first = try await api.transfer(alice.token, to: ["email": bob.email], 700, key: "pay-bob-1")
            let again = try await api.transfer(alice.token, to: ["email": bob.email], 700, key: "pay-bob-1")
            #expect(first.status == 201 && again.status == 201)
            #expect(first["id"] as? String == again["id"] as? String)
            #expect(first["amount"] as? Int == again["amount"] as? Int && again["state"] as? String == "posted")
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 701, key: "pay-bob-1"), 409, "idempotency_key_reused")
            expectProblem(try await api.call(.post, "/v1/transfers", token: alice.token,
                                             json: ["to": ["email": bob.email], "amount": 1, "currency": "CNY"]), 400, "idempotency_key_missing")
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 1, key: String(repeating: "k", count: 129)),
                          400, "idempotency_key_invalid")
            #expect(try await api.available(bob.token) == 700)
        }
    }

    @Test("bad amounts and currencies are 4xx with specific codes and write nothing")
    func badAmounts() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            for amount in [0, -5] {
                expectProblem(try await api.topUp(alice.token, amount), 422, "invalid_amount")
            }
            let cases: [(String, String)] = [
                (#"{"amount": 1e30, "currency": "CNY"}"#, "invalid_field"),
                (#"{"amount": 99999999999999999999, "currency": "CNY"}"#, "invalid_field"),
                (#"{"amount": "100", "currency": "CNY"}"#, "invalid_field"),
                (#"{"amount": 10.5, "currency": "CNY"}"#, "invalid_field"),
                (#"{"amount": 100, "currency": "XYZ"}"#, "unsupported_currency"),
                (#"{"amount": 100}"#, "invalid_field"),
            ]
            for (body, code) in cases {
                let answer = try await api.call(.post, "/v1/topups", token: alice.token, raw: body, key: UUID().uuidString)
                #expect(answer.status == 422 && answer.code == code, "\(body) → \(answer.raw)")
            }
            let history = try await api.call(.get, "/v1/transactions", token: alice.token)
            #expect((history["items"] as? [Any])?.isEmpty == true, "nothing was written")
        }
    }

    @Test("merchant payments carry a fee shown in the response and the history")
    func payment() async throws {
        try await withApp { api, lucid in
            let op = try await api.operatorToken(lucid)
            let merchant = try await api.call(.post, "/v1/ops/merchants", token: op, json: ["name": "Tea House", "country": "CN"])
            #expect(merchant.status == 201)
            let merchantID = try #require(merchant["id"] as? String)
            let alice = try await api.customer("Alice")
            try await api.topUp(alice.token, 20_000)
            let paid = try await api.call(.post, "/v1/payments", token: alice.token,
                                          json: ["merchant_id": merchantID, "amount": 10_000, "currency": "CNY", "memo": "tea"], key: "tea-1")
            #expect(paid.status == 201 && paid["fee"] as? Int == 60 && paid["kind"] as? String == "payment")
            #expect((paid["counterparty"] as? [String: Any])?["name"] as? String == "Tea House")
            #expect(try await api.available(alice.token) == 20_000 - 10_060)
            let history = try await api.call(.get, "/v1/transactions?limit=1", token: alice.token)
            #expect((history["items"] as? [[String: Any]])?.first?["fee"] as? Int == 60)
            expectProblem(try await api.call(.post, "/v1/payments", token: alice.token,
                                             json: ["merchant_id": UUID().uuidString.lowercased(), "amount": 1, "currency": "CNY"], key: "x"),
                          404, "merchant_not_found")
        }
    }

    @Test("a withdrawal is held with a reason and an expected time; an operator posts or voids it")
    func withdrawal() async throws {
        try await withApp { api, lucid in
            let op = try await api.operatorToken(lucid)
            let alice = try await api.customer("Alice")
            try await api.topUp(alice.token, 50_000)
            let held = try await api.call(.post, "/v1/withdrawals", token: alice.token, json: ["amount": 20_000, "currency": "CNY"], key: "w1")
            #expect(held.status == 201 && held["state"] as? String == "pending", "\(held.raw)")
            #expect(held["reason"] as? String == "waiting_for_bank" && held["expected_by"] is String && held["fee"] as? Int == 20)
            let wallets = try await api.call(.get, "/v1/wallets", token: alice.token)
            let wallet = try #require((wallets["items"] as? [[String: Any]])?.first)
            #expect(wallet["posted"] as? Int == 50_000 && wallet["pending_out"] as? Int == 20_020 && wallet["available"] as? Int == 29_980)
            let id = try #require(held["id"] as? String)
            let posted = try await api.call(.post, "/v1/ops/transactions/\(id)/post", token: op)
            #expect(posted.status == 200 && posted["state"] as? String == "posted")
            expectProblem(try await api.call(.post, "/v1/ops/transactions/\(id)/void", token: op), 409, "transfer_already_posted")
            #expect(try await api.available(alice.token) == 29_980)
            let second = try await api.call(.post, "/v1/withdrawals", token: alice.token, json: ["amount": 1_000, "currency": "CNY"], key: "w2")
            let voided = try await api.call(.post, "/v1/ops/transactions/\(second["id"] as! String)/void", token: op)
            #expect(voided["state"] as? String == "voided")
            #expect(try await api.available(alice.token) == 29_980)
        }
    }
}
