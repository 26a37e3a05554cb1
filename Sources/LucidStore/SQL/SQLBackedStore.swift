import LucidCore
import Synchronization

/// A store whose queries go through `SQLDatabase`: everything except the
/// ledger's writer and backups is written once here, for SQLite and PostgreSQL
/// alike. `SQLiteStore` and `PostgresStore` add what differs.
///
/// Immutable after `init`; the members it holds are Sendable themselves.
public class SQLStore: WalletStore, @unchecked Sendable {
    let database: any SQLDatabase
    let committer: GroupCommitter
    /// Webhooks each new notification is queued for (`setDeliveryEndpoints`).
    let deliveryEndpoints: DeliveryEndpoints

    init(database: any SQLDatabase, committer: GroupCommitter, deliveryEndpoints: DeliveryEndpoints) {
        self.database = database
        self.committer = committer
        self.deliveryEndpoints = deliveryEndpoints
    }

    /// Overridden by each store with its own backup mechanism.
    public func backup(to path: String) async throws {
        preconditionFailure("each store implements its own backup")
    }

    // MARK: Ledger

    public func submit(_ command: LedgerCommand) async throws -> LedgerReceipt {
        try await committer.submit(command)
    }

    public func applyBatch(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        try await publicErrors { try await committer.applyBatch(commands) }
    }

    public func commitStatistics() -> CommitStatistics { committer.commitStatistics() }

    public func verify() async throws -> VerificationReport {
        try await publicErrors { try await LedgerVerifier.verify(database) }
    }

    // MARK: Ledger reads

    public func wallets(of user: UserID) async throws -> [WalletRecord] {
        try await read(SQLStatement(WalletsRead.self, user)).compactMap { row in
            guard let currency = Currency.named(try row.text(1)) else { return nil }
            return WalletRecord(accountID: AccountID(try row.int(0)), currency: currency,
                                balance: AccountBalance(posted: try row.int(2), pendingOut: try row.int(3), pendingIn: try row.int(4)))
        }
    }

    /// A customer's wallets: read by every balance view and every risk decision.
    enum WalletsRead: PreparedRead {
        static let text = """
            SELECT id, currency, posted, pending_out, pending_in FROM accounts
            WHERE owner_id = ? AND kind = 'customer' ORDER BY currency
            """
    }

    public func transaction(_ id: TransferID) async throws -> TransactionRecord? {
        try await read(SQLStatement(TransactionByIDRead.self, id)).first.flatMap(TransactionQuery.decode)
    }

    /// A transaction's detail, and every replayed request's answer: eight joins, costly to plan each time.
    enum TransactionByIDRead: PreparedRead {
        static let text = TransactionQuery.select + " WHERE t.id = ?"
    }

    public func transactions(of user: UserID, limit: Int, cursor: String?) async throws -> Page<TransactionRecord> {
        var before = Int64.max
        if let cursor {
            guard let seq = Int64(cursor), seq > 0 else { throw LucidError(.invalidCursor) }
            before = seq
        }
        let items = try await publicErrors {
            try await database.read { connection -> [TransactionRecord] in
                let accounts = try await connection.query(SQLStatement("SELECT id FROM accounts WHERE owner_id = ?", user)).map { try $0.int(0) }
                guard !accounts.isEmpty else { return [] }
                var rows: [TransactionRecord] = []
                // One indexed range scan per side (journal_by_debit / journal_by_credit), merged here.
                for side in ["debit_account_id", "credit_account_id"] {
                    let sql = SQLStatement(TransactionQuery.select + """
                         WHERE t.\(side) IN (\(SQLStatement.placeholders(accounts.count))) AND t.seq < ? AND t.parent_id IS NULL
                           AND t.kind NOT IN ('post_pending', 'void_pending', 'expire_pending')
                         ORDER BY t.seq DESC LIMIT ?
                        """, binds: accounts.map(SQLValue.int) + [.int(before), .int(Int64(limit + 1))])
                    rows += try await connection.query(sql).compactMap(TransactionQuery.decode)
                }
                rows.sort { $0.journalSeq > $1.journalSeq }
                return Array(rows.prefix(limit + 1))
            }
        }
        let page = Array(items.prefix(limit))
        return Page(items: page, nextCursor: items.count > limit ? page.last.map { String($0.journalSeq) } : nil)
    }

    public func expiredHolds(now: Timestamp, limit: Int) async throws -> [TransferID] {
        try await read(SQLStatement("""
            SELECT t.id FROM journal t
            WHERE t.pending = 1 AND t.parent_id IS NULL AND t.timeout_at <= ?
              AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.pending_id = t.id)
            ORDER BY t.timeout_at LIMIT ?
            """, now, limit)).map { TransferID(try $0.text(0)) }
    }

    // MARK: Identity

    public func createUser(_ user: UserRecord) async throws {
        do {
            try await write(SQLStatement("""
                INSERT INTO users (id, email, phone, password_hash, display_name, country, tier, status, frozen_reason, created_at,
                    last_activity_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, user.id, user.email, user.phone, user.passwordHash, user.displayName, user.country, user.tier.rawValue,
                user.status.rawValue, user.frozenReason, user.createdAt, user.lastActivityAt))
        } catch SQLError.uniqueViolation(let detail) {
            throw LucidError(.loginAlreadyRegistered, ["field": .text(detail.contains("email") ? "email" : "phone")])
        }
    }

    public func user(_ id: UserID) async throws -> UserRecord? {
        try await read(SQLStatement(UserByIDRead.self, id)).first.map(SQLStore.decodeUser)
    }

    public func user(login: String) async throws -> UserRecord? {
        try await read(SQLStatement(UserByLoginRead.self, login.lowercased(), login)).first.map(SQLStore.decodeUser)
    }

    enum UserByIDRead: PreparedRead {
        static let text = "SELECT \(SQLStore.userColumns) FROM users WHERE id = ?"
    }

    /// Sign-in and every transfer's payee.
    enum UserByLoginRead: PreparedRead {
        static let text = "SELECT \(SQLStore.userColumns) FROM users WHERE email = ? OR phone = ? LIMIT 1"
    }

    static let userColumnList = ["id", "email", "phone", "password_hash", "display_name", "country", "tier", "status",
                                 "frozen_reason", "created_at", "password_changed_at", "totp_enabled_at", "frozen_by",
                                 "frozen_at", "unfreeze_available_at", "last_activity_at"]
    static var userColumns: String { userColumnList.joined(separator: ", ") }

    static func decodeUser(_ row: SQLRow) throws -> UserRecord {
        UserRecord(id: UserID(try row.text("id")), email: try row.optionalText("email"), phone: try row.optionalText("phone"),
                   passwordHash: try row.text("password_hash"), displayName: try row.text("display_name"),
                   country: try row.text("country"), tier: VerificationTier(rawValue: Int(try row.int("tier"))) ?? .unverified,
                   status: UserStatus(rawValue: try row.text("status")) ?? .frozen, frozenReason: try row.optionalText("frozen_reason"),
                   createdAt: try row.timestamp("created_at"), passwordChangedAt: try row.optionalTimestamp("password_changed_at"),
                   totpEnabledAt: try row.optionalTimestamp("totp_enabled_at"), frozenBy: try row.optionalText("frozen_by"),
                   frozenAt: try row.optionalTimestamp("frozen_at"),
                   unfreezeAvailableAt: try row.optionalTimestamp("unfreeze_available_at"),
                   lastActivityAt: try row.optionalTimestamp("last_activity_at"))
    }

    public func createSession(_ session: SessionRecord) async throws {
        try await write(SQLStatement("""
            INSERT INTO sessions (id, user_id, token_hash, device_id, source_address, created_at, expires_at, revoked_at,
                last_seen_at, country, user_agent)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, session.id, session.userID, session.tokenHash, session.deviceID, session.sourceAddress, session.createdAt,
            session.expiresAt, session.revokedAt, session.lastSeenAt, session.country, session.userAgent))
    }

    public func signedIn(tokenHash: [UInt8]) async throws -> (session: SessionRecord, user: UserRecord)? {
        try await read(SQLStatement(SignedInRead.self, tokenHash)).first.map { row in
            (try SQLStore.decodeSession(row), try SQLStore.decodeUser(row))
        }
    }

    /// The session behind a bearer token and its customer: every authenticated request.
    enum SignedInRead: PreparedRead {
        static let text = """
            SELECT \(SQLStore.sessionColumns(prefix: "s.")), \(SQLStore.userColumnList.map { "u." + $0 }.joined(separator: ", "))
            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?
            """
    }

    /// Session columns under names that cannot clash with a joined user's.
    static func sessionColumns(prefix: String = "") -> String {
        ["id AS session_id", "user_id AS session_user_id", "token_hash", "device_id", "source_address",
         "created_at AS session_created_at", "expires_at", "revoked_at", "last_seen_at", "country AS session_country",
         "user_agent", "revoked_reason"].map { prefix + $0 }.joined(separator: ", ")
    }

    static func decodeSession(_ row: SQLRow) throws -> SessionRecord {
        SessionRecord(id: SessionID(try row.text("session_id")), userID: UserID(try row.text("session_user_id")),
                      tokenHash: try row.blob("token_hash"), deviceID: try row.optionalText("device_id"),
                      sourceAddress: try row.optionalText("source_address"), createdAt: try row.timestamp("session_created_at"),
                      expiresAt: try row.timestamp("expires_at"), revokedAt: try row.optionalTimestamp("revoked_at"),
                      lastSeenAt: try row.optionalTimestamp("last_seen_at"), country: try row.optionalText("session_country"),
                      userAgent: try row.optionalText("user_agent"), revokedReason: try row.optionalText("revoked_reason"))
    }

    public func revokeSession(_ id: SessionID, at time: Timestamp) async throws {
        try await write(SQLStatement("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", time, id))
    }

    public func createOperator(_ record: OperatorRecord) async throws {
        do {
            try await write(SQLStatement("INSERT INTO operators (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                                record.id, record.name, record.role.rawValue, record.tokenHash, record.createdAt))
        } catch SQLError.uniqueViolation {
            throw LucidError.invalidField("name", "an operator with this name already exists")
        }
    }

    public func operatorRecord(tokenHash: [UInt8]) async throws -> OperatorRecord? {
        try await read(SQLStatement(OperatorByTokenRead.self, tokenHash)).first.map { row in
                OperatorRecord(id: OperatorID(try row.text("id")), name: try row.text("name"),
                               role: OperatorRole(rawValue: try row.text("role")) ?? .auditor, tokenHash: try row.blob("token_hash"),
                               createdAt: try row.timestamp("created_at"), revokedAt: try row.optionalTimestamp("revoked_at"))
            }
    }

    /// Every operator request.
    enum OperatorByTokenRead: PreparedRead {
        static let text = "SELECT id, name, role, token_hash, created_at, revoked_at FROM operators WHERE token_hash = ?"
    }

    public func createMerchant(_ merchant: MerchantRecord) async throws {
        try await write(SQLStatement("INSERT INTO merchants (id, name, country, created_at) VALUES (?, ?, ?, ?)",
                            merchant.id, merchant.name, merchant.country, merchant.createdAt))
    }

    public func merchant(_ id: MerchantID) async throws -> MerchantRecord? {
        try await read(SQLStatement("SELECT id, name, country, created_at FROM merchants WHERE id = ?", id)).first.map { row in
            MerchantRecord(id: MerchantID(try row.text("id")), name: try row.text("name"), country: try row.text("country"),
                           createdAt: try row.timestamp("created_at"))
        }
    }

    // MARK: Helpers

    /// One statement on a reader, errors made public.
    func read(_ sql: SQLStatement) async throws -> [SQLRow] {
        try await publicErrors { try await database.read { try await $0.query(sql) } }
    }

    /// One statement in its own write transaction. Unique violations pass through for the caller to name.
    @discardableResult
    func write(_ sql: SQLStatement) async throws -> Int {
        do {
            return try await database.write { try await $0.execute(sql) }
        } catch let error as SQLError {
            if case .uniqueViolation = error { throw error }
            throw error.publicError
        }
    }

    /// Maps storage failures to `storage_unavailable` / `internal_error`; business errors pass through.
    func publicErrors<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as SQLError { throw error.publicError }
    }
}

/// The SQL that folds fee, resolution and reversal into a transaction row.
enum TransactionQuery {
    static let select = """
        SELECT t.seq, t.id, t.kind, t.amount, t.currency, t.pending, t.memo, t.reason, t.created_at, t.timeout_at,
               t.reverses_id, r.kind AS resolution_kind, r.created_at AS resolved_at,
               (SELECT CAST(SUM(f.amount) AS BIGINT) FROM journal f WHERE f.parent_id = t.id AND f.kind = 'fee') AS fee,
               (SELECT v.id FROM journal v WHERE v.reverses_id = t.id) AS reversed_by,
               da.id AS debit_id, da.kind AS debit_kind, da.owner_id AS debit_owner, da.code AS debit_code,
               COALESCE(du.display_name, dm.name) AS debit_name, du.email AS debit_email, du.phone AS debit_phone,
               ca.id AS credit_id, ca.kind AS credit_kind, ca.owner_id AS credit_owner, ca.code AS credit_code,
               COALESCE(cu.display_name, cm.name) AS credit_name, cu.email AS credit_email, cu.phone AS credit_phone,
               ri.rail AS rail_name, ri.reason AS rail_reason, ri.expected_by AS rail_expected_by,
               ri.account_bank AS rail_account_bank, ri.account_last4 AS rail_account_last4
        FROM journal t
        LEFT JOIN journal r ON r.pending_id = t.id
        LEFT JOIN rail_items ri ON ri.reference = t.id
        JOIN accounts da ON da.id = t.debit_account_id
        LEFT JOIN users du ON da.kind = 'customer' AND du.id = da.owner_id
        LEFT JOIN merchants dm ON da.kind = 'merchant' AND dm.id = da.owner_id
        JOIN accounts ca ON ca.id = t.credit_account_id
        LEFT JOIN users cu ON ca.kind = 'customer' AND cu.id = ca.owner_id
        LEFT JOIN merchants cm ON ca.kind = 'merchant' AND cm.id = ca.owner_id
        """

    static func decode(_ row: SQLRow) throws -> TransactionRecord? {
        guard let kind = TransferKind(rawValue: try row.text(2)), let currency = Currency.named(try row.text(4)) else { return nil }
        var state: TransferState = .posted
        if try row.int(5) == 1 {
            switch try row[11].optionalText().flatMap(TransferKind.init(rawValue:)) {
            case .postPending: state = .posted
            case .voidPending: state = .voided
            case .expirePending: state = .expired
            default: state = .pending
            }
        }
        func party(_ base: Int) throws -> PartyRecord {
            PartyRecord(accountID: AccountID(try row.int(base)), kind: AccountKind(rawValue: try row.text(base + 1)) ?? .system,
                        ownerID: try row[base + 2].optionalText(), code: try row[base + 3].optionalText(),
                        displayName: try row[base + 4].optionalText(), email: try row[base + 5].optionalText(),
                        phone: try row[base + 6].optionalText())
        }
        return TransactionRecord(
            id: TransferID(try row.text(1)), kind: kind, state: state, amount: try row.int(3), fee: try row[13].optionalInt() ?? 0,
            currency: currency, debit: try party(15), credit: try party(22), memo: try row[6].optionalText(),
            reason: try row[7].optionalText(), createdAt: Timestamp(millisecondsSinceEpoch: try row.int(8)),
            resolvedAt: try row[12].optionalInt().map(Timestamp.init(millisecondsSinceEpoch:)),
            timeoutAt: try row[9].optionalInt().map(Timestamp.init(millisecondsSinceEpoch:)),
            reversesID: try row[10].optionalText().map(TransferID.init), reversedByID: try row[14].optionalText().map(TransferID.init),
            journalSeq: try row.int(0), rail: try row[29].optionalText(), railReason: try row[30].optionalText(),
            railExpectedBy: try row[31].optionalInt().map(Timestamp.init(millisecondsSinceEpoch:)),
            railAccount: try row[32].optionalText().map { "\($0) ****\(try row[33].optionalText() ?? "")" })
    }
}
