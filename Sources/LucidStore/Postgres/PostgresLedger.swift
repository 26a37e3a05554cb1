import LucidCore

/// The PostgreSQL side of the ledger: each batch is one transaction that
/// first reads and row-locks everything its commands touch (accounts in id
/// order, so two processes never deadlock on each other), then applies the
/// same `LedgerBatch` rules as SQLite to that snapshot, then writes the rows.
///
/// Several processes may write at once: balance checks happen under the row
/// locks; an account or idempotency key created concurrently by another
/// process surfaces as a unique violation and the whole batch is retried (it
/// then sees that row), as are serialization failures and deadlocks.
final class PostgresLedgerBackend: LedgerBackend {
    private let database: PostgresDatabase
    private let ids: any IDGenerator
    private let clock: any WallClock
    /// Rows per multi-row INSERT: 19 columns × 2,000 stays under PostgreSQL's 65,535 parameters.
    static let rowsPerStatementMax = 2_000
    /// Values per `IN (…)` list when prefetching.
    static let inListMax = 5_000
    static let conflictRetriesMax = 5

    private let endpoints: DeliveryEndpoints

    init(database: PostgresDatabase, ids: any IDGenerator, clock: any WallClock, endpoints: DeliveryEndpoints) {
        self.database = database
        self.ids = ids
        self.clock = clock
        self.endpoints = endpoints
    }

    func write(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        var conflicts = 0
        while true {
            do {
                return try await attempt(commands)
            } catch SQLError.uniqueViolation where conflicts < Self.conflictRetriesMax {
                // Another process created an account or claimed a key first: run again on fresh state.
                conflicts += 1
            }
        }
    }

    private func attempt(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        let now = clock.now(), ids = self.ids, endpoints = self.endpoints.list
        return try await database.write { connection in
            let snapshot = try await PostgresLedgerSnapshot.load(for: commands, today: now.utcDay, connection)
            var batch = LedgerBatch(source: snapshot, now: now, ids: ids, capacity: commands.count)
            let results = commands.map { batch.apply($0) }
            try await Self.persist(batch.changes, connection)
            // Many rows per statement: a round trip per notification would dominate the batch.
            for statement in EffectsSQL.statements(batch.changes.effects, endpoints: endpoints, rowsPerStatement: Self.rowsPerStatementMax) {
                try await connection.execute(statement)
            }
            // The features of the movements that were accepted, locked after the accounts (one order for every writer).
            _ = try await RiskStateSQL.apply(batch.changes.effects.riskStates, connection, .postgres, at: now)
            return results
        }
    }

    // MARK: Writing

    static func persist(_ changes: LedgerChanges, _ connection: any SQLConnection) async throws {
        for chunk in changes.newAccounts.chunked(rowsPerStatementMax) {
            var binds: [SQLValue] = []
            for account in chunk {
                binds += [.int(account.id.rawValue), .text(account.kind.rawValue), account.ownerID.sqlValue, account.code.sqlValue,
                          .text(account.currency.code), .int(account.createdAt.millisecondsSinceEpoch)]
            }
            try await connection.execute(SQLStatement("""
                INSERT INTO accounts (id, kind, owner_id, code, currency, created_at) VALUES \(values(6, chunk.count))
                """, binds: binds))
        }
        for chunk in changes.journal.chunked(rowsPerStatementMax) {
            var binds: [SQLValue] = []
            binds.reserveCapacity(chunk.count * 19)
            for row in chunk {
                binds += [.text(row.id.rawValue), .text(row.kind.rawValue), .int(row.debit.rawValue), .int(row.credit.rawValue),
                          .int(row.amount), .text(row.currency.code), .int(row.pending ? 1 : 0), row.parentID.sqlValue,
                          row.pendingID.sqlValue, row.reversesID.sqlValue, row.debitEntrySeq.sqlValue,
                          row.creditEntrySeq.sqlValue, row.debitBalanceAfter.sqlValue, row.creditBalanceAfter.sqlValue,
                          row.timeoutAt.sqlValue, row.memo.sqlValue, row.reason.sqlValue, row.initiator.sqlValue,
                          .int(row.createdAt.millisecondsSinceEpoch)]
            }
            try await connection.execute(SQLStatement("""
                INSERT INTO journal (id, kind, debit_account_id, credit_account_id, amount, currency, pending, parent_id,
                    pending_id, reverses_id, debit_entry_seq, credit_entry_seq, debit_balance_after, credit_balance_after,
                    timeout_at, memo, reason, initiator, created_at)
                VALUES \(values(19, chunk.count))
                """, binds: binds))
        }
        let accounts = changes.accounts.values.sorted { $0.id < $1.id }
        for chunk in accounts.chunked(rowsPerStatementMax) {
            var binds: [SQLValue] = []
            for account in chunk {
                binds += [.int(account.id.rawValue), .int(account.balance.posted), .int(account.balance.pendingOut),
                          .int(account.balance.pendingIn), .int(account.entrySeq)]
            }
            try await connection.execute(SQLStatement("""
                UPDATE accounts AS a SET posted = v.posted, pending_out = v.pending_out, pending_in = v.pending_in,
                    entry_seq = v.entry_seq
                FROM (VALUES \(values(5, chunk.count))) AS v(id, posted, pending_out, pending_in, entry_seq)
                WHERE a.id = v.id
                """, binds: binds))
        }
        let usage = Array(changes.usage)
        for chunk in usage.chunked(rowsPerStatementMax) {
            var binds: [SQLValue] = []
            for (key, amount) in chunk { binds += [.int(key.account.rawValue), .text(key.day), .int(amount)] }
            try await connection.execute(SQLStatement("""
                INSERT INTO daily_usage (account_id, day, amount) VALUES \(values(3, chunk.count))
                ON CONFLICT (account_id, day) DO UPDATE SET amount = excluded.amount
                """, binds: binds))
        }
        for chunk in changes.idempotency.chunked(rowsPerStatementMax) {
            var binds: [SQLValue] = []
            for key in chunk {
                binds += [.text(key.scope), .text(key.key), .text(key.record.requestHash), .text(key.record.transactionID.rawValue),
                          .int(Int64(key.record.statusCode)), .int(key.record.createdAt.millisecondsSinceEpoch)]
            }
            try await connection.execute(SQLStatement("""
                INSERT INTO idempotency_keys (scope, key, request_hash, transaction_id, status_code, created_at)
                VALUES \(values(6, chunk.count))
                """, binds: binds))
        }
    }

    /// `(?, ?), (?, ?)` for `rows` rows of `columns` values.
    static func values(_ columns: Int, _ rows: Int) -> String {
        let one = "(" + SQLStatement.placeholders(columns) + ")"
        return Array(repeating: one, count: rows).joined(separator: ", ")
    }
}

/// Everything a batch may read, loaded (and the accounts locked) up front.
struct PostgresLedgerSnapshot: LedgerStateSource {
    private var accountsByID: [AccountID: AccountState] = [:]
    private var accountsByOwner: [OwnerKey: AccountID] = [:]
    private var rows: [TransferID: JournalRow] = [:]
    private var childRows: [TransferID: [JournalRow]] = [:]
    private var resolutions: [TransferID: Resolution] = [:]
    private var reversed: Set<TransferID> = []
    private var keys: [String: IdempotencyRecord] = [:]
    private var usage: [UsageKey: Int64] = [:]
    private var freeAccountIDs: [Int64] = []

    /// Reads, in this order: idempotency keys; the journal rows commands (and replays)
    /// refer to, with their fees; every account involved, locked in id order; then the rows'
    /// resolutions and reversals; today's usage; and fresh ids for accounts that may be opened.
    static func load(for commands: [LedgerCommand], today: String,
                     _ connection: any SQLConnection) async throws -> PostgresLedgerSnapshot {
        var snapshot = PostgresLedgerSnapshot()
        var refs = Set<OwnerKey>()
        var transferIDs = Set<TransferID>()
        var claims: [IdempotencyClaim] = []
        var limitedDebits = Set<OwnerKey>()
        for command in commands {
            switch command {
            case .create(let tx):
                for ref in [tx.debit, tx.credit, .system(.feeRevenue, tx.amount.currency)] {
                    if let key = OwnerKey(ref) { refs.insert(key) }
                }
                if tx.limit != nil, let key = OwnerKey(tx.debit) { limitedDebits.insert(key) }
                if let claim = tx.idempotency { claims.append(claim) }
            case .resolve(let id, _, _, _):
                transferIDs.insert(id)
            case .reverse(let id, _, _, let claim, _):
                transferIDs.insert(id)
                if let claim { claims.append(claim) }
            }
        }

        // Idempotency keys, and the transactions they point at (a replay reports their state).
        // A join with a VALUES list, not a long OR: PostgreSQL plans thousands of ORs slowly.
        for chunk in claims.chunked(PostgresLedgerBackend.inListMax / 2) {
            let rows = try await connection.query(SQLStatement("""
                SELECT k.scope, k.key, k.request_hash, k.transaction_id, k.status_code, k.created_at
                FROM idempotency_keys k JOIN (VALUES \(PostgresLedgerBackend.values(2, chunk.count))) AS v(scope, key)
                  ON k.scope = v.scope AND k.key = v.key
                """, binds: chunk.flatMap { [SQLValue.text($0.scope), .text($0.key)] }))
            for row in rows {
                let record = IdempotencyRecord(requestHash: try row.text(2), transactionID: TransferID(try row.text(3)),
                                               statusCode: Int(try row.int(4)), createdAt: try row.timestamp("created_at"))
                snapshot.keys[try row.text(0) + "\u{1}" + (try row.text(1))] = record
                transferIDs.insert(record.transactionID)
            }
        }

        // Journal rows, their children, and how each was resolved or reversed.
        var accountIDs = Set<Int64>()
        let rowIDs = Array(transferIDs)
        for chunk in rowIDs.chunked(PostgresLedgerBackend.inListMax) {
            let list = SQLStatement.placeholders(chunk.count)
            let binds = chunk.map { SQLValue.text($0.rawValue) }
            var loaded: [JournalRow] = []
            loaded += try await connection.query(SQLStatement("SELECT \(columns) FROM journal WHERE id IN (\(list))", binds: binds)).map(journalRow)
            let children = try await connection.query(SQLStatement("SELECT \(columns) FROM journal WHERE parent_id IN (\(list)) ORDER BY seq",
                                                          binds: binds)).map(journalRow)
            for child in children { snapshot.childRows[child.parentID!, default: []].append(child) }
            loaded += children
            for row in loaded {
                snapshot.rows[row.id] = row
                accountIDs.formUnion([row.debitAccount.rawValue, row.creditAccount.rawValue])
            }
        }

        // Every account involved, found and locked in one statement ordered by id, so two processes
        // always take their row locks in the same order and never deadlock on each other. Accounts are
        // named by owner (or system code) and currency, matched through a join with a VALUES list.
        // A batch that also touches rows by id (resolve, reverse), or names more accounts than one
        // statement takes, finds them first and then locks every id in sorted chunks.
        let named = Array(refs)
        /// A subquery for the ids of accounts named in `keys`: one indexed join per kind of name.
        func idsOf(_ keys: ArraySlice<OwnerKey>) -> (sql: String, binds: [SQLValue]) {
            let people = keys.filter { !$0.owner.hasPrefix("system:") }
            let systems = keys.filter { $0.owner.hasPrefix("system:") }
            var parts: [String] = []
            var binds: [SQLValue] = []
            if !people.isEmpty {
                parts.append("""
                    SELECT p.id FROM accounts p JOIN (VALUES \(PostgresLedgerBackend.values(2, people.count))) AS v(owner_id, currency)
                      ON p.owner_id = v.owner_id AND p.currency = v.currency
                    """)
                binds += people.flatMap { [SQLValue.text($0.owner), .text($0.currency.code)] }
            }
            if !systems.isEmpty {
                parts.append("""
                    SELECT s.id FROM accounts s JOIN (VALUES \(PostgresLedgerBackend.values(2, systems.count))) AS w(code, currency)
                      ON s.code = w.code AND s.currency = w.currency
                    """)
                binds += systems.flatMap { [SQLValue.text(String($0.owner.dropFirst("system:".count))), .text($0.currency.code)] }
            }
            return (parts.joined(separator: " UNION ALL "), binds)
        }
        let lockColumns = "id, kind, currency, posted, pending_out, pending_in, entry_seq, owner_id, code"
        var locked: [SQLRow] = []
        if accountIDs.isEmpty && !named.isEmpty && named.count <= PostgresLedgerBackend.inListMax / 2 {
            let (ids, binds) = idsOf(named[...])
            locked = try await connection.query(SQLStatement(
                "SELECT \(lockColumns) FROM accounts WHERE id IN (\(ids)) ORDER BY id FOR UPDATE", binds: binds))
        } else {
            for chunk in named.chunked(PostgresLedgerBackend.inListMax / 2) {
                let (ids, binds) = idsOf(chunk)
                for row in try await connection.query(SQLStatement(ids, binds: binds)) { accountIDs.insert(try row.int(0)) }
            }
            for chunk in accountIDs.sorted().chunked(PostgresLedgerBackend.inListMax) {
                locked += try await connection.query(SQLStatement("""
                    SELECT \(lockColumns) FROM accounts WHERE id IN (\(SQLStatement.placeholders(chunk.count))) ORDER BY id FOR UPDATE
                    """, binds: chunk.map(SQLValue.int)))
            }
        }
        for row in locked {
            guard let kind = AccountKind(rawValue: try row.text(1)), let currency = Currency.named(try row.text(2)) else {
                throw SQLError.decoding("account \(try row.int(0)) has an unknown kind or currency")
            }
            let id = AccountID(try row.int(0))
            snapshot.accountsByID[id] = AccountState(
                id: id, kind: kind, currency: currency,
                balance: AccountBalance(posted: try row.int(3), pendingOut: try row.int(4), pendingIn: try row.int(5)),
                entrySeq: try row.int(6))
            let owner = try row[7].optionalText() ?? "system:" + (try row[8].optionalText() ?? "")
            snapshot.accountsByOwner[OwnerKey(owner: owner, currency: currency)] = id
        }

        // How each row was resolved or reversed, read only now that its accounts are locked: a resolution
        // or reversal another process commits changes those accounts, so it held their locks, and this
        // statement (READ COMMITTED: a fresh snapshot per statement) sees it. Read before the locks, two
        // processes could both see a hold unresolved and the second would resolve it again.
        for chunk in Array(snapshot.rows.keys).chunked(PostgresLedgerBackend.inListMax) {
            let all = chunk.map { SQLValue.text($0.rawValue) }
            let resolved = try await connection.query(SQLStatement("""
                SELECT pending_id, kind, created_at FROM journal WHERE pending_id IN (\(SQLStatement.placeholders(all.count)))
                """, binds: all))
            for row in resolved {
                if let kind = TransferKind(rawValue: try row.text(1)) {
                    snapshot.resolutions[TransferID(try row.text(0))] = Resolution(kind: kind, at: try row.timestamp("created_at"))
                }
            }
            let reversals = try await connection.query(SQLStatement("""
                SELECT reverses_id FROM journal WHERE reverses_id IN (\(SQLStatement.placeholders(all.count)))
                """, binds: all))
            for row in reversals { snapshot.reversed.insert(TransferID(try row.text(0))) }
        }

        // Today's usage of every limit-checked payer (their rows are locked above).
        let debitIDs = limitedDebits.compactMap { snapshot.accountsByOwner[$0] }
        if !debitIDs.isEmpty {
            let rows = try await connection.query(SQLStatement("""
                SELECT account_id, day, amount FROM daily_usage
                WHERE day = ? AND account_id IN (\(SQLStatement.placeholders(debitIDs.count)))
                """, binds: [.text(today)] + debitIDs.map { .int($0.rawValue) }))
            for row in rows {
                snapshot.usage[UsageKey(account: AccountID(try row.int(0)), day: try row.text(1))] = try row.int(2)
            }
        }

        // Ids for accounts the batch may open (refs without an account yet).
        let missing = refs.filter { snapshot.accountsByOwner[$0] == nil }.count
        if missing > 0 {
            snapshot.freeAccountIDs = try await connection.query(SQLStatement(
                "SELECT nextval('accounts_id_seq') AS id FROM generate_series(1, ?)", missing)).map { try $0.int(0) }
        }
        return snapshot
    }

    static let columns = "id, kind, debit_account_id, credit_account_id, amount, pending, parent_id, timeout_at, created_at"

    static func journalRow(_ row: SQLRow) throws -> JournalRow {
        guard let kind = TransferKind(rawValue: try row.text(1)) else { throw SQLError.decoding("unknown journal kind") }
        return JournalRow(id: TransferID(try row.text(0)), kind: kind, debitAccount: AccountID(try row.int(2)),
                          creditAccount: AccountID(try row.int(3)), amount: try row.int(4), pending: try row.int(5) == 1,
                          parentID: try row[6].optionalText().map(TransferID.init), timeoutAt: try row.optionalTimestamp("timeout_at"),
                          createdAt: try row.timestamp("created_at"))
    }

    // MARK: LedgerStateSource

    mutating func account(_ ref: AccountRef) throws -> AccountState? {
        if case .id(let id) = ref { return accountsByID[id] }
        guard let key = OwnerKey(ref), let id = accountsByOwner[key] else { return nil }
        return accountsByID[id]
    }

    mutating func allocateAccountID() throws -> AccountID {
        precondition(!freeAccountIDs.isEmpty, "the prefetch reserves an id for every account a batch may open")
        return AccountID(freeAccountIDs.removeFirst())
    }

    mutating func journalRow(_ id: TransferID) throws -> JournalRow? { rows[id] }
    mutating func children(of id: TransferID) throws -> [JournalRow] { childRows[id] ?? [] }
    mutating func resolution(of id: TransferID) throws -> Resolution? { resolutions[id] }
    mutating func isReversed(_ id: TransferID) throws -> Bool { reversed.contains(id) }
    mutating func idempotency(scope: String, key: String) throws -> IdempotencyRecord? { keys[scope + "\u{1}" + key] }
    mutating func usage(account: AccountID, day: String) throws -> Int64 { usage[UsageKey(account: account, day: day)] ?? 0 }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        precondition(size > 0)
        return stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
