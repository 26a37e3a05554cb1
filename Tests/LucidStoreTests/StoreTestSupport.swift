import Foundation
import GRDB
import LucidCore
@testable import LucidStore
import Testing

/// The stores the conformance tests run against: SQLite always, PostgreSQL when
/// `LUCID_TEST_POSTGRES_URL` is set (scripts/test.sh starts a throw-away cluster and sets it).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static let postgresURL: String? = ProcessInfo.processInfo.environment["LUCID_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static var available: [Backend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
    var testDescription: String { rawValue }
}

/// A fresh store of `backend` — a temporary SQLite file, or a PostgreSQL schema
/// of its own — with a manual clock and counting ids, its writer running for
/// the duration of `body`.
func withStore<T>(
    _ backend: Backend, clock: ManualClock = ManualClock(), _ body: (SQLStore, ManualClock) async throws -> T
) async throws -> T {
    switch backend {
    case .sqlite:
        return try await withSQLiteStore(clock: clock) { store, clock in try await body(store, clock) }
    case .postgres:
        return try await withPostgresStores(count: 1, clock: clock) { stores, clock in try await body(stores[0], clock) }
    }
}

/// A SQLite store in a temporary folder (for the tests of what only SQLite has).
func withSQLiteStore<T>(
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

/// `count` PostgreSQL stores — as if separate `lucid serve` processes — sharing one
/// freshly migrated schema, each with its own pool and writer.
func withPostgresStores<T>(
    count: Int, clock: ManualClock = ManualClock(), _ body: ([PostgresStore], ManualClock) async throws -> T
) async throws -> T {
    let url = try #require(Backend.postgresURL)
    let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let admin = try PostgresStore(location: PostgresLocation(url: url), ids: CountingIDGenerator(), clock: clock)
    _ = try await admin.withRunningPool {
        _ = try await admin.database.write { try await $0.execute(SQLStatement("CREATE SCHEMA \(schema)")) }
    }
    var location = try PostgresLocation(url: url)
    location.startupParameters = [("search_path", schema)]
    let ids = CountingIDGenerator()
    let stores = try (0..<count).map { _ in
        try PostgresStore(location: location, ids: ids, clock: clock)
    }
    let runners = stores.map { store in Task { try await store.run() } }
    do {
        _ = try await stores[0].migrate(now: clock.now())
        let result = try await body(stores, clock)
        for runner in runners { runner.cancel() }
        try await administer(url, "DROP SCHEMA \(schema) CASCADE")
        return result
    } catch {
        for runner in runners { runner.cancel() }
        throw error
    }
}

/// One statement on a short-lived pool of its own (a PostgresClient runs only once).
func administer(_ url: String, _ sql: String) async throws {
    let admin = try PostgresStore(location: PostgresLocation(url: url), ids: CountingIDGenerator(), clock: ManualClock())
    _ = try await admin.withRunningPool {
        try await admin.database.write { try await $0.execute(SQLStatement(sql)) }
    }
}

/// Ids for tests: distinct across the whole run.
enum TestID {
    private static let ids = UUIDv7Generator(clock: ManualClock())
    static func user() -> UserID { ids.make() }
    static func transfer() -> TransferID { ids.make() }
    static func merchant() -> MerchantID { ids.make() }
}

extension SQLStore {
    /// Credits `amount` to a customer from the bank, posted at once.
    @discardableResult
    func fund(_ user: UserID, _ amount: Int64, _ currency: Currency = .cny) async throws -> LedgerReceipt {
        try await submit(.create(NewTransaction(id: TestID.transfer(), kind: .topup, debit: .system(.gatewayClearing, currency),
                                                credit: .customer(user, currency), amount: Money(amount, currency))))
    }

    func balance(_ user: UserID, _ currency: Currency = .cny) async throws -> AccountBalance {
        try await wallets(of: user).first { $0.currency == currency }?.balance ?? AccountBalance()
    }

    /// Runs raw SQL, bypassing the engine: for tampering tests only.
    func tamper(_ sql: String) async throws {
        _ = try await database.write { try await $0.execute(SQLStatement(sql)) }
    }

    /// One integer from a query, for checks the public API does not expose.
    func integer(_ sql: SQLStatement) async throws -> Int64? {
        try await database.read { try await $0.query(sql).first?.int(0) }
    }

    var isPostgres: Bool { database.dialect == .postgres }
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

@Suite("PostgreSQL availability")
struct PostgresAvailability {
    @Test("the PostgreSQL conformance run is either on or skipped with a printed reason")
    func announce() {
        if Backend.postgresURL == nil {
            print("NOTE: PostgreSQL store tests skipped: LUCID_TEST_POSTGRES_URL is not set (scripts/test.sh sets it).")
        }
        #expect(Backend.available.contains(.sqlite))
    }
}
