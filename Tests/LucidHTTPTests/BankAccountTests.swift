import Foundation
import HTTPTypes
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import Testing

extension TestAPI {
    @discardableResult
    func addBankAccount(_ token: String, bank: String = "ICBC", last4: String, totp: String? = nil) async throws -> Answer {
        var body: [String: Any] = ["bank": bank, "last4": last4]
        if let totp { body["totp_code"] = totp }
        return try await call(.post, "/v1/bank-accounts", token: token, json: body)
    }

    func bankAccounts(_ token: String) async throws -> [[String: Any]] {
        try await call(.get, "/v1/bank-accounts", token: token)["items"] as? [[String: Any]] ?? []
    }
}

/// Saved withdrawal accounts: adding one is a sensitive action (a stolen account's first move is a new
/// destination), so it takes a fresh second factor with 2FA on and is always told to the customer.
@Suite("HTTP: withdrawal bank accounts")
struct BankAccountTests {
    @Test("saving an account: listed masked, told to the customer and audited; the same one again changes nothing")
    func save() async throws {
        try await withRails(confirmTopUps: true) { api, _, _ in
            let alice = try await api.customer("Alice Zhang")
            let added = try await api.addBankAccount(alice.token, last4: "1234")
            #expect(added.status == 201, "\(added.raw)")
            #expect(added["bank"] as? String == "ICBC" && added["last4"] as? String == "1234")
            #expect(added["holder"] as? String == "A**** Z****", "the holder is shown masked")
            let again = try await api.addBankAccount(alice.token, last4: "1234")
            #expect(again.status == 200 && again["id"] as? String == added["id"] as? String)
            try await api.addBankAccount(alice.token, bank: "CMB", last4: "9876")
            #expect(try await api.bankAccounts(alice.token).compactMap { $0["last4"] as? String } == ["9876", "1234"])

            let told = try await api.notifications(alice.token, type: "bank_account_added", language: "zh-CN")
            #expect(told.count == 2, "once per new account, not for the repeat")
            #expect((told.last?["body"] as? String)?.contains("ICBC ****1234") == true)
            #expect(told.last?["actions"] as? [String] == ["secure_my_account"])
            let audit = try await api.call(.get, "/v1/me/audit?limit=100", token: alice.token)
            let actions = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.filter { $0 == "bank_account_added" }.count == 2)

            // Another customer sees none of it and cannot remove it.
            let bob = try await api.customer("Bob")
            #expect(try await api.bankAccounts(bob.token).isEmpty)
            let id = try #require(added["id"] as? String)
            expectProblem(try await api.call(.delete, "/v1/bank-accounts/\(id)", token: bob.token), 404, "bank_account_not_found")
            #expect(try await api.call(.delete, "/v1/bank-accounts/\(id)", token: alice.token).status == 204)
            expectProblem(try await api.call(.delete, "/v1/bank-accounts/\(id)", token: alice.token), 404, "bank_account_not_found")
            #expect(try await api.bankAccounts(alice.token).compactMap { $0["last4"] as? String } == ["9876"])
            #expect(try await api.notifications(alice.token, type: "bank_account_removed").count == 1)
            expectProblem(try await api.call(.get, "/v1/bank-accounts"), 401, "unauthenticated")
        }
    }

    @Test("with 2FA on, a new account needs a fresh second factor, whether saved directly or named in a withdrawal")
    func stepUp() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, clock in
            let alice = try await api.customer("Alice")
            try await api.topUp(alice.token, 100_000)
            let saved = try await api.addBankAccount(alice.token, last4: "1111")
            let (secret, _) = try await api.enableTOTP(alice.token, clock: clock)

            let asked = expectProblem(try await api.addBankAccount(alice.token, last4: "2222"), 401, "second_factor_required")
            #expect(asked.params["reason"] as? String == "add_bank_account")
            #expect((asked["detail"] as? String)?.hasPrefix("Adding a withdrawal bank account") == true)
            expectProblem(try await api.addBankAccount(alice.token, last4: "2222", totp: "000000"), 401, "second_factor_invalid")
            #expect(try await api.bankAccounts(alice.token).count == 1, "nothing saved without the factor")
            #expect(try await api.addBankAccount(alice.token, last4: "2222", totp: code(secret, clock)).status == 201)
            #expect(try await api.addBankAccount(alice.token, last4: "2222").status == 200, "already saved: nothing to prove")

            // A small withdrawal to a saved account goes straight through...
            let toSaved = try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                             json: ["amount": 1_000, "currency": "CNY", "bank_account_id": saved["id"] as Any],
                                             key: UUID().uuidString)
            #expect(toSaved.status == 201, "\(toSaved.raw)")
            let shown = try await api.call(.get, "/v1/transactions/\(toSaved["id"] as! String)", token: alice.token)
            #expect((shown["counterparty"] as? [String: Any])?["name"] as? String == "ICBC ****1111", "the customer's own account, masked")
            #expect(shown["rail"] as? String == "bank-a")
            // ...and so does one naming a saved account by its details; a new one needs the factor.
            #expect(try await api.withdraw(alice.token, 1_000, last4: "2222").status == 201)
            let held = try await api.wallet(alice.token).pendingOut
            let newOne = expectProblem(try await api.withdraw(alice.token, 1_000, last4: "3333", key: "w-new"),
                                       401, "second_factor_required")
            #expect(newOne.params["reason"] as? String == "add_bank_account")
            #expect(try await api.wallet(alice.token).pendingOut == held, "nothing held for the refused one")
            clock.advance(seconds: 30)
            let proven = try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                            json: ["amount": 1_000, "currency": "CNY", "totp_code": code(secret, clock),
                                                   "bank_account": ["bank": "ICBC", "last4": "3333"]], key: "w-new")
            #expect(proven.status == 201, "\(proven.raw)")
            #expect(try await lucid.item(proven["id"]).accountLast4 == "3333")
            #expect(try await api.bankAccounts(alice.token).compactMap { $0["last4"] as? String } == ["3333", "2222", "1111"],
                    "withdrawing to a new account saves it")
        }
    }

    @Test("a withdrawal goes to the saved account named, by default to the newest; a wrong or removed one moves nothing")
    func destination() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            // No saved account: the account linked when the wallet was opened.
            let linked = try await api.withdraw(alice.token, 100)
            #expect(try await lucid.item(linked["id"]).accountBank == "LINKED")
            let first = try #require(try await api.addBankAccount(alice.token, last4: "1111")["id"] as? String)
            try await api.addBankAccount(alice.token, bank: "CMB", last4: "2222")
            let byDefault = try await api.withdraw(alice.token, 100)
            #expect(try await lucid.item(byDefault["id"]).accountLast4 == "2222", "the newest saved account")
            let byID = try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                          json: ["amount": 100, "currency": "CNY", "bank_account_id": first], key: "by-id")
            #expect(byID.status == 201)
            let item = try await lucid.item(byID["id"])
            #expect(item.accountBank == "ICBC" && item.accountLast4 == "1111")

            let before = try await api.wallet(alice.token)
            let bobs = try #require(try await api.addBankAccount(bob.token, last4: "7777")["id"] as? String)
            for id in [bobs, "no-such-account"] {
                let refused = expectProblem(try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                                               json: ["amount": 100, "currency": "CNY", "bank_account_id": id],
                                                               key: UUID().uuidString), 404, "bank_account_not_found")
                #expect(refused.params["bank_account_id"] as? String == id)
            }
            #expect(try await api.call(.delete, "/v1/bank-accounts/\(first)", token: alice.token).status == 204)
            expectProblem(try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                             json: ["amount": 100, "currency": "CNY", "bank_account_id": first], key: UUID().uuidString),
                          404, "bank_account_not_found")
            let both = expectProblem(try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                                        json: ["amount": 100, "currency": "CNY", "bank_account_id": first,
                                                               "bank_account": ["bank": "ICBC", "last4": "1111"]],
                                                        key: UUID().uuidString), 422, "invalid_field")
            #expect(both.params["field"] as? String == "bank_account_id")
            let after = try await api.wallet(alice.token)
            #expect(after.posted == before.posted && after.pendingOut == before.pendingOut, "refused withdrawals hold nothing")
            // The same key replays the first answer, even after the account is gone.
            let replay = try await api.call(.post, "/v1/withdrawals", token: alice.token,
                                            json: ["amount": 100, "currency": "CNY", "bank_account_id": first], key: "by-id")
            #expect(replay["id"] as? String == byID["id"] as? String)
        }
    }

    @Test("bad input and the per-customer maximum are refused with the numbers, and save nothing")
    func limits() async throws {
        try await withRails(confirmTopUps: true) { api, _, _ in
            let alice = try await api.customer("Alice")
            for (body, status, code) in [
                (["bank": "ICBC", "last4": "12a4"], 422, "invalid_field"),
                (["bank": "ICBC", "last4": "12345"], 422, "invalid_field"),
                (["bank": String(repeating: "B", count: 17), "last4": "1234"], 422, "string_too_long"),
                (["bank": " ", "last4": "1234"], 422, "invalid_field"),
                (["bank": "ICBC", "last4": "1234", "iban": "DE00"], 400, "unknown_field"),
                (["bank": "ICBC"], 422, "invalid_field"),
            ] as [([String: Any], Int, String)] {
                expectProblem(try await api.call(.post, "/v1/bank-accounts", token: alice.token, json: body), status, code)
            }
            #expect(try await api.bankAccounts(alice.token).isEmpty)
            for index in 0..<InputLimits.bankAccountsPerCustomerMax {
                #expect(try await api.addBankAccount(alice.token, last4: String(format: "%04d", index)).status == 201)
            }
            let full = expectProblem(try await api.addBankAccount(alice.token, last4: "9999"), 422, "bank_account_limit_reached")
            #expect(full.params["limit"] as? Int == InputLimits.bankAccountsPerCustomerMax)
            #expect((full["detail"] as? String)?.contains("\(InputLimits.bankAccountsPerCustomerMax)") == true)
            #expect(try await api.addBankAccount(alice.token, last4: "0000").status == 200, "a saved one is still answered")
            try await api.topUp(alice.token, 10_000)
            expectProblem(try await api.withdraw(alice.token, 100, last4: "9999"), 422, "bank_account_limit_reached")
            #expect(try await api.wallet(alice.token).pendingOut == 0)
        }
    }

    @Test("a frozen account cannot add a destination")
    func frozen() async throws {
        try await withRails(confirmTopUps: true) { api, _, _ in
            let alice = try await api.customer("Alice")
            #expect(try await api.call(.post, "/v1/me/freeze", token: alice.token, json: ["reason": "phone stolen"]).status == 200)
            let token = try #require(try await api.logIn(alice.email)["token"] as? String)
            expectProblem(try await api.addBankAccount(token, last4: "1234"), 403, "account_frozen")
            #expect(try await api.bankAccounts(token).isEmpty)
        }
    }
}
