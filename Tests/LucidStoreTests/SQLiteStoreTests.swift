import Foundation
import GRDB
@testable import LucidStore
import LucidCore
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("the writer connection is durable: WAL with synchronous=FULL, migrations applied")
    func durability() async throws {
        try await withSQLiteStore { store, _ in
            #expect(try store.writerSynchronousMode() == 2)
            let mode = try await store.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
            #expect(try store.appliedMigrations().first == "2026-11-25-01-foundation")
        }
    }

    @Test("a transfer debits one wallet and credits another, and the journal records each balance after it", arguments: Backend.available)
    func transferAndBalanceAfter(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 10_000)
            let receipt = try await store.submit(transfer(alice, bob, 2_500))
            #expect(receipt.state == .posted && !receipt.replayed && receipt.statusCode == 201)
            #expect(try await store.balance(alice) == AccountBalance(posted: 7_500))
            #expect(try await store.balance(bob) == AccountBalance(posted: 2_500))
            var values: [Int64?] = []
            for column in ["debit_balance_after", "credit_balance_after", "debit_entry_seq", "credit_entry_seq"] {
                values.append(try await store.integer(SQLStatement("SELECT \(column) FROM journal WHERE id = ?", receipt.transactionID)))
            }
            // Alice's second entry leaves 7,500; Bob's first leaves 2,500.
            #expect(values == [7_500, 2_500, 2, 1])
            #expect(try await store.verify().ok)
        }
    }

    @Test("the journal is append-only: updates and deletes are refused by the database", arguments: Backend.available)
    func appendOnly(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            try await store.fund(TestID.user(), 100)
            await #expect(throws: SQLError.self) { try await store.tamper("UPDATE journal SET amount = 1") }
            await #expect(throws: SQLError.self) { try await store.tamper("DELETE FROM journal") }
        }
    }

    @Test("the schema guards money: no zero amounts, no negative customer balances", arguments: Backend.available)
    func schemaGuards(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user()
            try await store.fund(alice, 100)
            await #expect(throws: SQLError.self) { try await store.tamper("UPDATE accounts SET posted = -1 WHERE kind = 'customer'") }
            await #expect(throws: SQLError.self) {
                try await store.tamper("""
                    INSERT INTO journal (id, kind, debit_account_id, credit_account_id, amount, currency, pending, created_at)
                    SELECT 'x', 'transfer', 1, 2, 0, 'CNY', 1, 0
                    """)
            }
        }
    }

    @Test("a fee and its payment are all-or-nothing: amount fits, amount plus fee does not, nothing is written", arguments: Backend.available)
    func feeAtomic(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            let error = await lucidError { try await store.submit(transfer(alice, bob, 995, fee: 6)) }
            #expect(error?.code == .insufficientFunds)
            #expect(error?.params["required"] == .int(1_001) && error?.params["shortfall"] == .int(1))
            #expect(try await store.balance(alice) == AccountBalance(posted: 1_000))
            #expect(try await store.wallets(of: bob).isEmpty, "no wallet was opened for a refused transfer")
            let receipt = try await store.submit(transfer(alice, bob, 994, fee: 6))
            let record = try #require(try await store.transaction(receipt.transactionID))
            #expect(record.fee == 6 && record.amount == 994)
            #expect(try await store.balance(alice).posted == 0)
            #expect(try await store.verify().ok)
        }
    }

    @Test("daily limits count today's outgoing money and reset at UTC midnight", arguments: Backend.available)
    func dailyLimit(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000_000)
            let limit = LimitCheck(policy: LimitPolicy(rules: [.unverified: ["CNY": LimitRule(perTransferMax: 3_000, dailyMax: 5_000)]]),
                                   tier: .unverified)
            _ = try await store.submit(transfer(alice, bob, 3_000, limit: limit))
            let perTransfer = await lucidError { try await store.submit(transfer(alice, bob, 3_001, limit: limit)) }
            #expect(perTransfer?.code == .perTransferLimitExceeded)
            let daily = await lucidError { try await store.submit(transfer(alice, bob, 2_001, limit: limit)) }
            #expect(daily?.code == .dailyLimitExceeded && daily?.params["remaining"] == .int(2_000) && daily?.params["used"] == .int(3_000))
            _ = try await store.submit(transfer(alice, bob, 2_000, limit: limit))
            clock.set(clock.now().startOfUTCDay.adding(seconds: 86_400))
            _ = try await store.submit(transfer(alice, bob, 3_000, limit: limit))
            #expect(try await store.balance(bob).posted == 8_000)
        }
    }

    @Test("reads never wait for the writer: a read finishes while a write transaction is open")
    func readsDoNotWait() async throws {
        try await withSQLiteStore { store, _ in
            let alice = TestID.user()
            try await store.fund(alice, 500)
            let writerHolds = DispatchSemaphore(value: 0), readDone = DispatchSemaphore(value: 0)
            // The write transaction is held open on a thread of its own, never on one of the
            // (few) threads Swift concurrency runs tasks on.
            let pool = store.pool
            let writerSawRead: Bool = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    let sawRead = (try? pool.write { db -> Bool in
                        try db.execute(sql: "UPDATE accounts SET created_at = created_at WHERE id = 1")
                        writerHolds.signal()
                        // A read that waited for this transaction would never signal: the wait times out.
                        return readDone.wait(timeout: .now() + 30) == .success
                    }) ?? false
                    continuation.resume(returning: sawRead)
                }
                writerHolds.wait()
                Task {
                    let balance = try? await store.balance(alice).posted
                    if balance == 500 { readDone.signal() }
                }
            }
            #expect(writerSawRead, "the read completed while the write transaction was open")
        }
    }

    @Test("history pages newest first with a cursor, each transaction once", arguments: Backend.available)
    func paging(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 100_000)
            var ids: [TransferID] = []
            for amount in 1...45 { ids.append(try await store.submit(transfer(alice, bob, Int64(amount))).transactionID) }
            var seen: [TransferID] = []
            var cursor: String?
            repeat {
                let page = try await store.transactions(of: alice, limit: 10, cursor: cursor)
                #expect(page.items.count <= 10)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.count == 46) // 45 transfers and the top-up
            #expect(Array(seen.prefix(45)) == ids.reversed())
            #expect(await lucidError { try await store.transactions(of: alice, limit: 10, cursor: "abc") }?.code == .invalidCursor)
        }
    }

    @Test("an online backup is a complete, verified copy")
    func backup() async throws {
        try await withSQLiteStore { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 5_000)
            _ = try await store.submit(transfer(alice, bob, 1_234))
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("lucid-backup-\(UUID().uuidString).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try await store.backup(to: copy)
            let restored = try SQLiteStore(path: copy, ids: CountingIDGenerator(), clock: ManualClock())
            let report = try await restored.verify()
            #expect(report.ok && report.transfersChecked == 2)
            #expect(try await restored.wallets(of: bob).first?.balance.posted == 1_234)
        }
    }
}
