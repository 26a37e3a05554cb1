import GRDB
import LucidCore

/// The SQLite side of the ledger: batches written through the one writer
/// connection, with a cache of account state that is authoritative because
/// this process is the file's only writer.
///
/// The cache holds committed state only: rows loaded from the database go in
/// at once (they are committed), a batch's changes only after its COMMIT
/// succeeded. A rolled-back batch therefore leaves no trace in memory.
final class SQLiteLedgerBackend: LedgerBackend {
    private let database: SQLiteDatabase
    private let ids: any IDGenerator
    private let clock: any WallClock
    private let cache = SQLiteLedgerCache()
    private let endpoints: DeliveryEndpoints

    init(database: SQLiteDatabase, ids: any IDGenerator, clock: any WallClock, endpoints: DeliveryEndpoints) {
        self.database = database
        self.ids = ids
        self.clock = clock
        self.endpoints = endpoints
    }

    func write(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        let pool = database.pool, ids = self.ids, now = clock.now(), cache = self.cache, endpoints = self.endpoints.list
        do {
            let (results, _) = try await database.write({ connection in
                let (results, changes) = try Self.apply(commands, pool: pool, cache: cache, now: now, ids: ids, endpoints: endpoints)
                // Feature-state updates read their rows first: through the same transaction, after the money's rows.
                _ = try await RiskStateSQL.apply(changes.effects.riskStates, connection, .sqlite, at: now)
                return (results, changes)
            }, committed: { _, changes in
                // Committed: the batch's changes become the cache's state before the next batch may read it.
                cache.merge(changes)
            })
            return results
        } catch let error as DatabaseError {
            throw SQLiteDatabase.sqlError(error)
        }
    }

    /// The batch's rules and rows on the writer connection, inside the transaction `SQLiteDatabase.write` opened
    /// (synchronous: GRDB runs it on the calling thread).
    private static func apply(_ commands: [LedgerCommand], pool: DatabasePool, cache: SQLiteLedgerCache, now: Timestamp,
                              ids: any IDGenerator, endpoints: [String]) throws -> ([Result<LedgerReceipt, LucidError>], LedgerChanges) {
        try pool.writeWithoutTransaction { db in
            var batch = LedgerBatch(source: SQLiteLedgerSource(db: db, cache: cache), now: now, ids: ids, capacity: commands.count)
            let results = commands.map { batch.apply($0) }
            try SQLiteLedgerWriter.persist(batch.changes, db)
            for statement in EffectsSQL.statements(batch.changes.effects, endpoints: endpoints) {
                try db.cachedStatement(sql: statement.text).execute(arguments: SQLiteDatabase.arguments(statement.binds))
            }
            return (results, batch.changes)
        }
    }
}

/// Committed account state, owner lookups and daily usage, kept between batches.
///
/// Only touched while `SQLiteDatabase.writeLock` is held (by the batch being
/// written), hence `@unchecked Sendable`. It only ever holds committed state:
/// rows loaded from the database (committed by definition) go in at once, a
/// batch's own changes only after its COMMIT, so a rolled-back batch leaves
/// nothing wrong behind.
final class SQLiteLedgerCache: @unchecked Sendable {
    var accounts: [AccountID: AccountState] = [:]
    var owners: [OwnerKey: AccountID] = [:]
    var usage: [UsageKey: Int64] = [:]
    var nextAccountID: Int64?
    /// Past this many accounts the cache starts over and reloads on demand.
    static let accountsMax = 1_000_000

    func merge(_ changes: LedgerChanges) {
        if accounts.count > Self.accountsMax {
            accounts.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            usage.removeAll(keepingCapacity: true)
        }
        for (id, state) in changes.accounts { accounts[id] = state }
        for account in changes.newAccounts {
            owners[OwnerKey(owner: account.ownerID ?? "system:" + (account.code ?? ""), currency: account.currency)] = account.id
        }
        for (key, amount) in changes.usage { usage[key] = amount }
    }
}

/// Answers the engine from the cache, then from the database inside the batch's transaction.
struct SQLiteLedgerSource: LedgerStateSource {
    let db: Database
    let cache: SQLiteLedgerCache

    mutating func account(_ ref: AccountRef) throws -> AccountState? {
        let key: OwnerKey
        switch ref {
        case .id(let id):
            if let state = cache.accounts[id] { return state }
            return try load("WHERE id = ?", [id.rawValue])
        case .customer, .merchant, .system:
            key = OwnerKey(ref)!
        }
        if let id = cache.owners[key], let state = cache.accounts[id] { return state }
        let found: AccountState?
        if case .system(let code, let currency) = ref {
            found = try load("WHERE code = ? AND currency = ?", [code.rawValue, currency.code])
        } else {
            found = try load("WHERE owner_id = ? AND currency = ?", [key.owner, key.currency.code])
        }
        if let found { cache.owners[key] = found.id }
        return found
    }

    private mutating func load(_ whereClause: String, _ arguments: StatementArguments) throws -> AccountState? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT id, kind, currency, posted, pending_out, pending_in, entry_seq FROM accounts \(whereClause)
            """), arguments: arguments) else { return nil }
        let id = AccountID(row[0])
        if let known = cache.accounts[id] { return known }
        guard let kind = AccountKind(rawValue: row[1]), let currency = Currency.named(row[2]) else {
            throw SQLError.decoding("account \(id) has an unknown kind or currency")
        }
        let state = AccountState(id: id, kind: kind, currency: currency,
                                 balance: AccountBalance(posted: row[3], pendingOut: row[4], pendingIn: row[5]), entrySeq: row[6])
        cache.accounts[id] = state
        return state
    }

    mutating func allocateAccountID() throws -> AccountID {
        let next = try cache.nextAccountID ?? (Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM accounts") ?? 1)
        cache.nextAccountID = next + 1
        return AccountID(next)
    }

    mutating func journalRow(_ id: TransferID) throws -> JournalRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.rowColumns) FROM journal WHERE id = ?"),
                         arguments: [id.rawValue]).map(Self.journalRow)
    }

    mutating func children(of id: TransferID) throws -> [JournalRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.rowColumns) FROM journal WHERE parent_id = ? ORDER BY seq"),
                         arguments: [id.rawValue]).map(Self.journalRow)
    }

    mutating func resolution(of id: TransferID) throws -> Resolution? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT kind, created_at FROM journal WHERE pending_id = ?"),
                                         arguments: [id.rawValue]),
              let kind = TransferKind(rawValue: row[0]) else { return nil }
        return Resolution(kind: kind, at: Timestamp(millisecondsSinceEpoch: row[1]))
    }

    mutating func isReversed(_ id: TransferID) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM journal WHERE reverses_id = ?"), arguments: [id.rawValue]) ?? false
    }

    mutating func idempotency(scope: String, key: String) throws -> IdempotencyRecord? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT request_hash, transaction_id, status_code, created_at FROM idempotency_keys WHERE scope = ? AND key = ?
            """), arguments: [scope, key]).map { row in
            IdempotencyRecord(requestHash: row[0], transactionID: TransferID(row[1] as String), statusCode: row[2],
                              createdAt: Timestamp(millisecondsSinceEpoch: row[3]))
        }
    }

    mutating func usage(account: AccountID, day: String) throws -> Int64 {
        let key = UsageKey(account: account, day: day)
        if let used = cache.usage[key] { return used }
        let used = try Int64.fetchOne(db.cachedStatement(sql: "SELECT amount FROM daily_usage WHERE account_id = ? AND day = ?"),
                                      arguments: [account.rawValue, day]) ?? 0
        cache.usage[key] = used
        return used
    }

    static let rowColumns = "id, kind, debit_account_id, credit_account_id, amount, pending, parent_id, timeout_at, created_at"

    static func journalRow(_ row: Row) -> JournalRow {
        JournalRow(id: TransferID(row[0] as String), kind: TransferKind(rawValue: row[1])!, debitAccount: AccountID(row[2]),
                   creditAccount: AccountID(row[3]), amount: row[4], pending: (row[5] as Int64) == 1,
                   parentID: (row[6] as String?).map(TransferID.init), timeoutAt: (row[7] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)),
                   createdAt: Timestamp(millisecondsSinceEpoch: row[8]))
    }
}

/// Writes a batch's changes with prepared statements bound directly (the hot path).
enum SQLiteLedgerWriter {
    static func persist(_ changes: LedgerChanges, _ db: Database) throws {
        if !changes.newAccounts.isEmpty {
            let insert = RawBinding(try db.cachedStatement(sql: """
                INSERT INTO accounts (id, kind, owner_id, code, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """))
            for account in changes.newAccounts {
                insert.bind(1, account.id.rawValue)
                insert.bind(2, account.kind.rawValue)
                insert.bind(3, account.ownerID)
                insert.bind(4, account.code)
                insert.bind(5, account.currency.code)
                insert.bind(6, account.createdAt.millisecondsSinceEpoch)
                try insert.execute(db)
            }
        }
        if !changes.journal.isEmpty {
            let insert = RawBinding(try db.cachedStatement(sql: """
                INSERT INTO journal (id, kind, debit_account_id, credit_account_id, amount, currency, pending, parent_id,
                    pending_id, reverses_id, debit_entry_seq, credit_entry_seq, debit_balance_after, credit_balance_after,
                    timeout_at, memo, reason, initiator, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """))
            for row in changes.journal {
                insert.bind(1, row.id.rawValue)
                insert.bind(2, row.kind.rawValue)
                insert.bind(3, row.debit.rawValue)
                insert.bind(4, row.credit.rawValue)
                insert.bind(5, row.amount)
                insert.bind(6, row.currency.code)
                insert.bind(7, row.pending ? 1 : 0)
                insert.bind(8, row.parentID?.rawValue)
                insert.bind(9, row.pendingID?.rawValue)
                insert.bind(10, row.reversesID?.rawValue)
                insert.bind(11, row.debitEntrySeq)
                insert.bind(12, row.creditEntrySeq)
                insert.bind(13, row.debitBalanceAfter)
                insert.bind(14, row.creditBalanceAfter)
                insert.bind(15, row.timeoutAt?.millisecondsSinceEpoch)
                insert.bind(16, row.memo)
                insert.bind(17, row.reason)
                insert.bind(18, row.initiator)
                insert.bind(19, row.createdAt.millisecondsSinceEpoch)
                try insert.execute(db)
            }
        }
        if !changes.accounts.isEmpty {
            let update = RawBinding(try db.cachedStatement(sql: """
                UPDATE accounts SET posted = ?, pending_out = ?, pending_in = ?, entry_seq = ? WHERE id = ?
                """))
            for (id, account) in changes.accounts {
                update.bind(1, account.balance.posted)
                update.bind(2, account.balance.pendingOut)
                update.bind(3, account.balance.pendingIn)
                update.bind(4, account.entrySeq)
                update.bind(5, id.rawValue)
                try update.execute(db)
            }
        }
        if !changes.usage.isEmpty {
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO daily_usage (account_id, day, amount) VALUES (?, ?, ?)
                ON CONFLICT (account_id, day) DO UPDATE SET amount = excluded.amount
                """)
            for (key, amount) in changes.usage {
                try upsert.execute(arguments: [key.account.rawValue, key.day, amount])
            }
        }
        if !changes.idempotency.isEmpty {
            let insert = try db.cachedStatement(sql: """
                INSERT INTO idempotency_keys (scope, key, request_hash, transaction_id, status_code, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """)
            for key in changes.idempotency {
                try insert.execute(arguments: [key.scope, key.key, key.record.requestHash, key.record.transactionID.rawValue,
                                               key.record.statusCode, key.record.createdAt.millisecondsSinceEpoch])
            }
        }
    }
}
