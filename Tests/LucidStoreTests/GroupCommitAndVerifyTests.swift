import GRDB
import LucidCore
@testable import LucidStore
import PropertyBased
import Testing

@Suite("Group commit")
struct GroupCommitTests {
    @Test("many concurrent tasks on one file: each request succeeds or fails alone, every invariant holds", arguments: Backend.available)
    func concurrency(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let users = (0..<20).map { _ in TestID.user() }
            for user in users { try await store.fund(user, 10_000) }
            let before = store.commitStatistics()
            let outcomes = try await withThrowingTaskGroup(of: [LucidError.Code?].self) { group in
                for task in 0..<50 {
                    group.addTask {
                        var rng = SplitMix(seed: UInt64(task))
                        var codes: [LucidError.Code?] = []
                        for _ in 0..<40 {
                            let from = users[Int(rng.next() % 20)]
                            var to = users[Int(rng.next() % 20)]
                            if to == from { to = users[(users.firstIndex(of: from)! + 1) % 20] }
                            // Amounts up to 6,000 against balances of about 10,000: many overdraft attempts.
                            let amount = Int64(1 + rng.next() % 6_000)
                            do {
                                _ = try await store.submit(transfer(from, to, amount))
                                codes.append(nil)
                            } catch let error as LucidError {
                                codes.append(error.code)
                            }
                        }
                        return codes
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(outcomes.count == 2_000)
            #expect(outcomes.allSatisfy { $0 == nil || $0 == .insufficientFunds })
            #expect(outcomes.contains(nil) && outcomes.contains(.insufficientFunds), "both outcomes occurred")
            let report = try await store.verify()
            #expect(report.ok, "\(report.mismatches)")
            var total: Int64 = 0
            for user in users {
                let balance = try await store.balance(user)
                #expect(balance.posted >= 0 && balance.available >= 0)
                total += balance.posted
            }
            #expect(total == 200_000, "money is conserved among the customers")
            let after = store.commitStatistics()
            #expect(after.commands - before.commands == 2_000)
            #expect(after.batches - before.batches < 2_000, "concurrent requests shared commits")
        }
    }
}

extension LucidError { typealias Code = ErrorCode }

/// A small seedable generator so concurrent test tasks are repeatable.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Verification")
struct VerificationTests {
    /// A small ledger with a posted transfer, a fee and an open hold.
    func seed(_ store: SQLStore, _ clock: ManualClock) async throws {
        let alice = TestID.user(), bob = TestID.user()
        try await store.fund(alice, 10_000)
        _ = try await store.submit(transfer(alice, bob, 1_000, fee: 10))
        _ = try await store.submit(transfer(alice, bob, 500, pending: true, timeoutAt: clock.now().adding(seconds: 600)))
    }

    @Test("a clean ledger verifies", arguments: Backend.available)
    func clean(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await seed(store, clock)
            let report = try await store.verify()
            #expect(report.ok)
            #expect(report.mismatches.isEmpty)
            #expect(report.transfersChecked == 4)
            #expect(report.accountsChecked == 4)
        }
    }

    @Test("a stored balance that differs from its entries is a balance_mismatch", arguments: Backend.available)
    func balanceMismatch(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await seed(store, clock)
            try await store.tamper("UPDATE accounts SET posted = posted + 1 WHERE kind = 'customer' AND posted > 5000")
            let kinds = Set(try await store.verify().mismatches.map(\.kind))
            #expect(kinds.contains(.balanceMismatch))
        }
    }

    @Test("a wrong entry counter is an entry_sequence_gap; wrong holds a pending_mismatch", arguments: Backend.available)
    func sequenceAndPending(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await seed(store, clock)
            try await store.tamper("UPDATE accounts SET entry_seq = entry_seq + 1, pending_out = pending_out + 5 WHERE kind = 'customer' AND pending_out > 0")
            let kinds = Set(try await store.verify().mismatches.map(\.kind))
            #expect(kinds.contains(.entrySequenceGap) && kinds.contains(.pendingMismatch))
        }
    }

    @Test("a journal row edited behind the triggers' back breaks balance-after and the debit/credit totals", arguments: Backend.available)
    func editedJournal(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await seed(store, clock)
            try await store.tamper("DROP TRIGGER journal_is_append_only_update" + (store.isPostgres ? " ON journal" : ""))
            try await store.tamper("UPDATE journal SET credit_balance_after = credit_balance_after + 7 WHERE kind = 'transfer'")
            try await store.tamper("UPDATE accounts SET posted = posted + 3 WHERE code = 'fee_revenue'")
            let report = try await store.verify()
            let kinds = Set(report.mismatches.map(\.kind))
            #expect(!report.ok)
            #expect(kinds.contains(.balanceAfterMismatch) && kinds.contains(.balanceMismatch))
        }
    }

    @Test("a negative customer balance is reported even when the CHECK constraint was bypassed", arguments: Backend.available)
    func negative(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await seed(store, clock)
            try await store.tamper(store.isPostgres ? "ALTER TABLE accounts DROP CONSTRAINT accounts_never_negative"
                                                    : "PRAGMA ignore_check_constraints = ON")
            try await store.tamper("UPDATE accounts SET posted = -5 WHERE kind = 'customer' AND pending_out = 0")
            let kinds = Set(try await store.verify().mismatches.map(\.kind))
            #expect(kinds.contains(.negativeCustomerBalance))
        }
    }
}

/// Random batches of commands through the real engine and database; the
/// verifier and a simple model must agree afterwards.
@Suite("Store properties")
struct StorePropertyTests {
    static let command = zip(Gen.int(in: 0...9), Gen.int(in: 0..<6), Gen.int(in: 0..<6), Gen.int64(in: 1...4_000))
    static let batches = command.array(of: 1...40).array(of: 1...6)

    @Test("random batches conserve money, never go negative, and verify clean", arguments: Backend.available)
    func randomBatches(backend: Backend) async throws {
        await propertyCheck(count: 25, input: Self.batches) { batches in
            do {
                try await withStore(backend) { store, clock in
                    let users = (0..<6).map { _ in TestID.user() }
                    for user in users { try await store.fund(user, 5_000) }
                    var holds: [TransferID] = []
                    for batch in batches {
                        var commands: [LedgerCommand] = []
                        for (choice, from, to, amount) in batch {
                            let (a, b) = (users[from], users[from == to ? (to + 1) % 6 : to])
                            switch choice {
                            case 0...5: commands.append(transfer(a, b, amount, fee: amount % 3))
                            case 6...7:
                                let command = transfer(a, b, amount, pending: true, timeoutAt: clock.now().adding(seconds: 30))
                                if case .create(let tx) = command { holds.append(tx.id) }
                                commands.append(command)
                            default:
                                if !holds.isEmpty {
                                    commands.append(.resolve(holds[Int(amount) % holds.count], choice == 8 ? .post : .void, initiator: nil))
                                }
                            }
                        }
                        _ = try await store.applyBatch(commands)
                        clock.advance(seconds: 7)
                    }
                    let report = try await store.verify()
                    #expect(report.ok, "\(report.mismatches)")
                    var total: Int64 = 0
                    for user in users {
                        let balance = try await store.balance(user)
                        #expect(balance.posted >= 0)
                        #expect(balance.available >= 0)
                        total += balance.posted
                    }
                    let fees = try await store.integer(SQLStatement("SELECT CAST(COALESCE(SUM(posted), 0) AS BIGINT) FROM accounts WHERE code = 'fee_revenue'")) ?? 0
                    #expect(total + fees == 30_000, "customers plus fee revenue hold exactly what came in")
                }
            } catch {
                Issue.record("the property run threw \(error)")
            }
        }
    }
}
