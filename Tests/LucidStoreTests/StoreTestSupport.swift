import GRDB
import Foundation
@testable import LucidStore
import LucidCore

/// A fresh SQLite store in a temporary folder, with a manual clock and counting
/// identifiers, its writer running for the duration of `body`.
func withStore<T>(
    clock: ManualClock = ManualClock(), configuration: SQLiteStore.Configuration = .init(),
    _ body: (SQLiteStore, ManualClock) async throws -> T
) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lucid-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SQLiteStore(path: folder.appendingPathComponent("lucid.sqlite").path, ids: CountingIDGenerator(),
                                clock: clock, configuration: configuration)
    let writer = Task { try await store.run() }
    defer { writer.cancel() }
    return try await body(store, clock)
}

/// Ids for tests: readable and distinct per name.
enum TestID {
    private static let ids = CountingIDGenerator()
    static func user() -> UserID { ids.make() }
    static func transfer() -> TransferID { ids.make() }
    static func merchant() -> MerchantID { ids.make() }
}

extension SQLiteStore {
    /// Credits `amount` to a customer from the bank, posted at once.
    @discardableResult
    func fund(_ user: UserID, _ amount: Int64, _ currency: Currency = .cny) async throws -> LedgerReceipt {
        try await submit(.create(NewTransaction(id: TestID.transfer(), kind: .topup, debit: .system(.gatewayClearing, currency),
                                                credit: .customer(user, currency), amount: Money(amount, currency))))
    }

    func balance(_ user: UserID, _ currency: Currency = .cny) async throws -> AccountBalance {
        try await wallets(of: user).first { $0.currency == currency }?.balance ?? AccountBalance()
    }

    /// Runs raw SQL on the writer connection, bypassing the engine: for tampering tests only.
    func tamper(_ sql: String) async throws {
        try await pool.writeWithoutTransaction { db in try db.execute(sql: sql) }
    }
}

func transfer(_ from: UserID, _ to: UserID, _ amount: Int64, fee: Int64 = 0, pending: Bool = false,
              timeoutAt: Timestamp? = nil, limit: LimitCheck? = nil, claim: IdempotencyClaim? = nil) -> LedgerCommand {
    .create(NewTransaction(id: TestID.transfer(), feeID: fee > 0 ? TestID.transfer() : nil, kind: pending ? .withdrawal : .transfer,
                           debit: .customer(from, .cny), credit: .customer(to, .cny), amount: Money(amount, .cny), fee: fee,
                           pending: pending, timeoutAt: timeoutAt, limit: limit, idempotency: claim))
}

/// The error a failed ledger call threw, as a `LucidError`.
func lucidError(_ body: () async throws -> some Any) async -> LucidError? {
    do { _ = try await body(); return nil } catch { return error as? LucidError }
}
