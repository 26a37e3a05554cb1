import Foundation
import LucidCore
@testable import LucidStore
import Testing

/// Saved withdrawal accounts on both databases: one active row per bank and last four digits,
/// a per-customer maximum that holds when two processes add at once, removal that keeps history.
extension AccountProtectionStoreTests {
    static func account(_ user: UserID, _ last4: String, _ clock: ManualClock, bank: String = "ICBC") -> BankAccountRecord {
        BankAccountRecord(id: UUID().uuidString.lowercased(), userID: user, bank: bank, last4: last4, holder: "*est",
                          createdAt: clock.now())
    }

    @Test("saved accounts: the same one twice is kept once, removal hides it, effects are written with it",
          arguments: Backend.available)
    func bankAccounts(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let id = TestID.user(), other = TestID.user()
            try await a.createUser(Self.user(id, clock))
            var otherUser = Self.user(other, clock)
            otherUser.email = "other-\(other.rawValue)@example.com"
            try await a.createUser(otherUser)
            let audit = AuditEntry(id: UUID().uuidString.lowercased(), at: clock.now(), actor: "user:test", action: "bank_account_added",
                                   targetUserID: id, sourceAddress: nil, details: "{}")
            let first = try await a.addBankAccount(Self.account(id, "1234", clock), max: 3, effects: SideEffects(audit: [audit]))
            #expect(first.created)
            clock.advance(seconds: 1)
            let again = try await b.addBankAccount(Self.account(id, "1234", clock), max: 3, effects: SideEffects(audit: [audit]))
            #expect(!again.created && again.account == first.account, "the same bank and digits: the saved one, nothing written")
            #expect(try await a.auditEntries(of: id, limit: 10, cursor: nil).items.count == 1)
            clock.advance(seconds: 1)
            let second = try await b.addBankAccount(Self.account(id, "5678", clock, bank: "CMB"), max: 3, effects: .none)
            #expect(try await a.bankAccounts(of: id).map(\.last4) == ["5678", "1234"], "newest first")
            #expect(try await a.bankAccount(second.account.id, of: id) == second.account)
            #expect(try await a.bankAccount(second.account.id, of: other) == nil, "someone else's id finds nothing")
            #expect(try await a.bankAccount(bank: "ICBC", last4: "1234", of: id) == first.account)

            #expect(try await b.removeBankAccount(first.account.id, of: id, at: clock.now(), effects: .none))
            #expect(try await !a.removeBankAccount(first.account.id, of: id, at: clock.now(), effects: .none), "already removed")
            #expect(try await !a.removeBankAccount(second.account.id, of: other, at: clock.now(), effects: .none), "not theirs")
            #expect(try await a.bankAccounts(of: id).map(\.last4) == ["5678"])
            #expect(try await a.bankAccount(first.account.id, of: id) == nil)
            // Saved again after removal: a new row, the old one kept for the record.
            let readded = try await a.addBankAccount(Self.account(id, "1234", clock), max: 3, effects: .none)
            #expect(readded.created && readded.account.id != first.account.id)
        }
    }

    @Test("the maximum holds when two processes add at once", arguments: Backend.available)
    func bankAccountLimit(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let id = TestID.user()
            try await a.createUser(Self.user(id, clock))
            let max = 4
            let outcomes = await withTaskGroup(of: LucidError?.self) { group in
                for index in 0..<10 {
                    let store = index.isMultiple(of: 2) ? a : b
                    let account = Self.account(id, String(format: "%04d", index), clock)
                    group.addTask {
                        do {
                            _ = try await store.addBankAccount(account, max: max, effects: .none)
                            return nil
                        } catch let error as LucidError {
                            return error
                        } catch {
                            return LucidError(.internalError)
                        }
                    }
                }
                var all: [LucidError?] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let codes = outcomes.map { $0?.code }
            #expect(codes.filter { $0 == nil }.count == max)
            #expect(codes.compactMap { $0 }.allSatisfy { $0 == .bankAccountLimitReached }, "\(codes)")
            #expect(try await a.bankAccounts(of: id).count == max)
            let refused = await #expect(throws: LucidError.self) {
                try await a.addBankAccount(Self.account(id, "9999", clock), max: max, effects: .none)
            }
            #expect(refused?.params["limit"] == .int(Int64(max)))
        }
    }
}
