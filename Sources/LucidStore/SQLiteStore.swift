import Foundation
import GRDB
import LucidCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
/// a pool of readers, and one writer that group-commits ledger commands.
///
/// Run it as a `Service` (it owns the writer loop); reads work without it.
public final class SQLiteStore: WalletStore, Service {
    public struct Configuration: Sendable {
        /// Most commands committed in one transaction.
        public var batchMax: Int = 8_192
        /// Most commands waiting for the writer before new ones are refused with `service_overloaded`.
        public var queueDepthMax: Int = 65_536
        public var readerCountMax: Int = 8
        public init() {}
    }

    public let path: String
    let pool: DatabasePool
    private let engine: LedgerEngine
    private let queue: CommitQueue
    private let configuration: Configuration
    private let statistics = Mutex(CommitStatistics())
    private let logger: Logger
    private let batchSizeRecorder = Recorder(label: "lucid_group_commit_batch_size")

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, ids: any IDGenerator, clock: any WallClock, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "lucid.store")) throws {
        self.path = path
        self.configuration = configuration
        self.logger = logger
        var config = GRDB.Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.maximumReaderCount = configuration.readerCountMax
        config.label = "lucid"
        config.prepareDatabase { db in
            // Reads through the OS page cache with mmap instead of a pread per page.
            try db.execute(sql: "PRAGMA mmap_size = 1073741824")
        }
        pool = try DatabasePool(path: path, configuration: config)
        // GRDB switches WAL databases to synchronous=NORMAL when it opens the
        // writer; NORMAL can lose the last commits on power loss. An
        // acknowledged transfer must survive, so the writer goes back to FULL.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            // The writer touches accounts and index pages all over the file; a
            // 64 MiB page cache keeps them in memory between batches.
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        try SQLiteSchema.migrator.migrate(pool)
        engine = LedgerEngine(ids: ids, clock: clock)
        queue = CommitQueue(depthMax: configuration.queueDepthMax)
    }

    /// The writer connection's `synchronous` setting (2 = FULL); tests assert it.
    public func writerSynchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Names of applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try SQLiteSchema.migrator.appliedMigrations($0) }
    }

    // MARK: Writer

    /// The writer loop: takes whatever is queued, commits it as one batch, repeats.
    /// On graceful shutdown it stops accepting work and drains what is queued.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                while true {
                    let batch = await queue.take(max: configuration.batchMax)
                    if batch.isEmpty { return }
                    await commit(batch)
                }
            } onCancel: {
                queue.close()
            }
        } onGracefulShutdown: {
            self.queue.close()
        }
    }

    public func submit(_ command: LedgerCommand) async throws -> LedgerReceipt {
        try await queue.submit(command)
    }

    public func applyBatch(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        try await writeBatch(commands)
    }

    public func commitStatistics() -> CommitStatistics { statistics.withLock { $0 } }

    private func commit(_ batch: [CommitQueue.Item]) async {
        do {
            let results = try await writeBatch(batch.map(\.command))
            for (item, result) in zip(batch, results) { item.continuation.resume(with: result.mapError { $0 }) }
        } catch {
            // The batch as a whole failed (an unexpected database error): retry
            // each command alone so one bad command cannot fail its neighbours.
            logger.error("group commit failed; retrying one by one", metadata: ["error": "\(error)", "size": "\(batch.count)"])
            for item in batch {
                do {
                    let result = try await writeBatch([item.command])[0]
                    item.continuation.resume(with: result.mapError { $0 })
                } catch {
                    logger.error("ledger command failed", metadata: ["error": "\(error)"])
                    item.continuation.resume(throwing: Self.publicError(error))
                }
            }
        }
    }

    /// One transaction, one fsync, each command succeeding or failing on its own.
    private func writeBatch(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        let engine = self.engine
        let (results, overlay) = try await pool.write { db in
            var overlay = LedgerEngine.Overlay()
            var results: [Result<LedgerReceipt, LucidError>] = []
            results.reserveCapacity(commands.count)
            for command in commands {
                do {
                    results.append(.success(try engine.apply(command, db, &overlay)))
                } catch let error as LucidError {
                    results.append(.failure(error))
                }
            }
            try engine.flush(overlay, db)
            return (results, overlay)
        }
        engine.commit(overlay)
        record(batchSize: commands.count)
        return results
    }

    private func record(batchSize: Int) {
        batchSizeRecorder.record(batchSize)
        statistics.withLock { stats in
            stats.batches += 1
            stats.commands += Int64(batchSize)
            stats.largestBatch = max(stats.largestBatch, batchSize)
            var bucket = 1
            while bucket < batchSize { bucket *= 2 }
            stats.batchSizeBuckets[bucket, default: 0] += 1
        }
    }

    /// Maps storage failures to public errors; the cause stays in the logs.
    static func publicError(_ error: any Error) -> LucidError {
        if let error = error as? LucidError { return error }
        if let fault = error as? EngineFault { return fault.error }
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_READONLY:
                return LucidError(.storageUnavailable, cause: "\(error)")
            default:
                return LucidError(.internalError, cause: "\(error)")
            }
        }
        return LucidError(.internalError, cause: "\(error)")
    }

    private func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw Self.publicError(error) }
    }

    private func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw error
        } catch { throw Self.publicError(error) }
    }

    // MARK: Ledger reads

    public func wallets(of user: UserID) async throws -> [WalletRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, currency, posted, pending_out, pending_in FROM accounts
                WHERE owner_id = ? AND kind = 'customer' ORDER BY currency
                """, arguments: [user.rawValue]).compactMap { row in
                guard let currency = Currency.named(row[1]) else { return nil }
                return WalletRecord(accountID: AccountID(row[0]), currency: currency,
                                    balance: AccountBalance(posted: row[2], pendingOut: row[3], pendingIn: row[4]))
            }
        }
    }

    public func transaction(_ id: TransferID) async throws -> TransactionRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: TransactionQuery.select + " WHERE t.id = ?", arguments: [id.rawValue])
                .flatMap(TransactionQuery.decode)
        }
    }

    public func transactions(of user: UserID, limit: Int, cursor: String?) async throws -> Page<TransactionRecord> {
        var before = Int64.max
        if let cursor {
            guard let seq = Int64(cursor), seq > 0 else { throw LucidError(.invalidCursor) }
            before = seq
        }
        let cursorSeq = before
        let (items, more) = try await read { db -> ([TransactionRecord], Bool) in
            let accounts = try Int64.fetchAll(db, sql: "SELECT id FROM accounts WHERE owner_id = ?", arguments: [user.rawValue])
            guard !accounts.isEmpty else { return ([], false) }
            let marks = databaseQuestionMarks(count: accounts.count)
            var rows: [TransactionRecord] = []
            for side in ["debit_account_id", "credit_account_id"] {
                let sql = TransactionQuery.select + """
                     WHERE t.\(side) IN (\(marks)) AND t.seq < ? AND t.parent_id IS NULL
                       AND t.kind NOT IN ('post_pending', 'void_pending', 'expire_pending')
                     ORDER BY t.seq DESC LIMIT ?
                    """
                let arguments = StatementArguments(accounts) + [cursorSeq, limit + 1]
                rows += try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(TransactionQuery.decode)
            }
            rows.sort { $0.journalSeq > $1.journalSeq }
            return (Array(rows.prefix(limit)), rows.count > limit)
        }
        return Page(items: items, nextCursor: more ? items.last.map { String($0.journalSeq) } : nil)
    }

    public func expiredHolds(now: Timestamp, limit: Int) async throws -> [TransferID] {
        try await read { db in
            try String.fetchAll(db, sql: """
                SELECT t.id FROM journal t
                WHERE t.pending = 1 AND t.parent_id IS NULL AND t.timeout_at <= ?
                  AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.pending_id = t.id)
                ORDER BY t.timeout_at LIMIT ?
                """, arguments: [now.millisecondsSinceEpoch, limit]).map(TransferID.init)
        }
    }

    public func verify() async throws -> VerificationReport {
        try await read { db in try LedgerVerifier.verify(db) }
    }

    // MARK: Identity

    public func createUser(_ user: UserRecord) async throws {
        do {
            try await write { db in
                try db.execute(sql: """
                    INSERT INTO users (id, email, phone, password_hash, display_name, country, tier, status, frozen_reason, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [user.id.rawValue, user.email, user.phone, user.passwordHash, user.displayName, user.country,
                                     user.tier.rawValue, user.status.rawValue, user.frozenReason, user.createdAt.millisecondsSinceEpoch])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            let field = (error.message ?? "").contains("email") ? "email" : "phone"
            throw LucidError(.loginAlreadyRegistered, ["field": .text(field)])
        }
    }

    public func user(_ id: UserID) async throws -> UserRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id.rawValue]).map(Self.decodeUser)
        }
    }

    public func user(login: String) async throws -> UserRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE email = ? OR phone = ? LIMIT 1",
                             arguments: [login.lowercased(), login]).map(Self.decodeUser)
        }
    }

    static func decodeUser(_ row: Row) -> UserRecord {
        UserRecord(id: UserID(row["id"] as String), email: row["email"], phone: row["phone"], passwordHash: row["password_hash"],
                   displayName: row["display_name"], country: row["country"],
                   tier: VerificationTier(rawValue: row["tier"]) ?? .unverified,
                   status: UserStatus(rawValue: row["status"]) ?? .frozen, frozenReason: row["frozen_reason"],
                   createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]))
    }

    public func createSession(_ session: SessionRecord) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, user_id, token_hash, device_id, source_address, created_at, expires_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [session.id.rawValue, session.userID.rawValue, Data(session.tokenHash), session.deviceID,
                                 session.sourceAddress, session.createdAt.millisecondsSinceEpoch,
                                 session.expiresAt.millisecondsSinceEpoch, session.revokedAt?.millisecondsSinceEpoch])
        }
    }

    public func session(tokenHash: [UInt8]) async throws -> SessionRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM sessions WHERE token_hash = ?"),
                             arguments: [Data(tokenHash)]).map { row in
                SessionRecord(id: SessionID(row["id"] as String), userID: UserID(row["user_id"] as String),
                              tokenHash: [UInt8](row["token_hash"] as Data), deviceID: row["device_id"],
                              sourceAddress: row["source_address"],
                              createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
                              expiresAt: Timestamp(millisecondsSinceEpoch: row["expires_at"]),
                              revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)))
            }
        }
    }

    public func revokeSession(_ id: SessionID, at time: Timestamp) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [time.millisecondsSinceEpoch, id.rawValue])
        }
    }

    public func createOperator(_ record: OperatorRecord) async throws {
        do {
            try await write { db in
                try db.execute(sql: """
                    INSERT INTO operators (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [record.id.rawValue, record.name, record.role.rawValue, Data(record.tokenHash),
                                     record.createdAt.millisecondsSinceEpoch])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw LucidError.invalidField("name", "an operator with this name already exists")
        }
    }

    public func operatorRecord(tokenHash: [UInt8]) async throws -> OperatorRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM operators WHERE token_hash = ?", arguments: [Data(tokenHash)]).map { row in
                OperatorRecord(id: OperatorID(row["id"] as String), name: row["name"],
                               role: OperatorRole(rawValue: row["role"]) ?? .auditor,
                               tokenHash: [UInt8](row["token_hash"] as Data),
                               createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
                               revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)))
            }
        }
    }

    public func createMerchant(_ merchant: MerchantRecord) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO merchants (id, name, country, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [merchant.id.rawValue, merchant.name, merchant.country,
                                       merchant.createdAt.millisecondsSinceEpoch])
        }
    }

    public func merchant(_ id: MerchantID) async throws -> MerchantRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM merchants WHERE id = ?", arguments: [id.rawValue]).map { row in
                MerchantRecord(id: MerchantID(row["id"] as String), name: row["name"], country: row["country"],
                               createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]))
            }
        }
    }

    // MARK: Backup

    /// SQLite's online backup: a consistent copy taken while writes continue.
    public func backup(to path: String) async throws {
        let destination = try DatabaseQueue(path: path)
        try pool.backup(to: destination)
        try destination.close()
    }

    /// Replaces the database at `path` with the backup at `backupPath` (the service must be stopped).
    public static func restore(from backupPath: String, to path: String) throws {
        let source = try DatabaseQueue(path: backupPath)
        // Refuse files that are not Lucid databases before touching the target.
        _ = try source.read { db in try db.tableExists("journal") ? () : { throw LucidError(.invalidField, ["field": .text("backup"), "reason": .text("not a Lucid backup")]) }() }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let destination = try DatabaseQueue(path: path)
        try source.backup(to: destination)
        try destination.close()
        try source.close()
    }
}

/// The SQL that folds fee, resolution and reversal into a transaction row.
enum TransactionQuery {
    static let select = """
        SELECT t.seq, t.id, t.kind, t.amount, t.currency, t.pending, t.memo, t.reason, t.created_at, t.timeout_at,
               t.reverses_id, r.kind AS resolution_kind, r.created_at AS resolved_at,
               (SELECT SUM(f.amount) FROM journal f WHERE f.parent_id = t.id AND f.kind = 'fee') AS fee,
               (SELECT v.id FROM journal v WHERE v.reverses_id = t.id) AS reversed_by,
               da.id, da.kind, da.owner_id, da.code, COALESCE(du.display_name, dm.name), du.email, du.phone,
               ca.id, ca.kind, ca.owner_id, ca.code, COALESCE(cu.display_name, cm.name), cu.email, cu.phone
        FROM journal t
        LEFT JOIN journal r ON r.pending_id = t.id
        JOIN accounts da ON da.id = t.debit_account_id
        LEFT JOIN users du ON da.kind = 'customer' AND du.id = da.owner_id
        LEFT JOIN merchants dm ON da.kind = 'merchant' AND dm.id = da.owner_id
        JOIN accounts ca ON ca.id = t.credit_account_id
        LEFT JOIN users cu ON ca.kind = 'customer' AND cu.id = ca.owner_id
        LEFT JOIN merchants cm ON ca.kind = 'merchant' AND cm.id = ca.owner_id
        """

    static func decode(_ row: Row) -> TransactionRecord? {
        guard let kind = TransferKind(rawValue: row[2]), let currency = Currency.named(row[4]) else { return nil }
        let pending = (row[5] as Int64) == 1
        var state: TransferState = .posted
        if pending {
            switch (row[11] as String?).flatMap(TransferKind.init(rawValue:)) {
            case .postPending: state = .posted
            case .voidPending: state = .voided
            case .expirePending: state = .expired
            default: state = .pending
            }
        }
        func party(_ base: Int) -> PartyRecord {
            PartyRecord(accountID: AccountID(row[base]), kind: AccountKind(rawValue: row[base + 1]) ?? .system,
                        ownerID: row[base + 2], code: row[base + 3], displayName: row[base + 4],
                        email: row[base + 5], phone: row[base + 6])
        }
        return TransactionRecord(
            id: TransferID(row[1] as String), kind: kind, state: state, amount: row[3], fee: (row[13] as Int64?) ?? 0,
            currency: currency, debit: party(15), credit: party(22), memo: row[6], reason: row[7],
            createdAt: Timestamp(millisecondsSinceEpoch: row[8]),
            resolvedAt: (row[12] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)),
            timeoutAt: (row[9] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)),
            reversesID: (row[10] as String?).map(TransferID.init), reversedByID: (row[14] as String?).map(TransferID.init),
            journalSeq: row[0])
    }
}
