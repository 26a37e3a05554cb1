import LucidCore

/// A bank account a customer saved as a withdrawal destination. Only what may be shown is kept:
/// the bank's code, the last four digits and the holder's masked name, never a full account number.
public struct BankAccountRecord: Sendable, Hashable {
    public var id: String
    public var userID: UserID
    public var bank: String
    public var last4: String
    /// The holder's name as it may be shown (masked).
    public var holder: String
    public var createdAt: Timestamp

    public init(id: String, userID: UserID, bank: String, last4: String, holder: String, createdAt: Timestamp) {
        self.id = id
        self.userID = userID
        self.bank = bank
        self.last4 = last4
        self.holder = holder
        self.createdAt = createdAt
    }
}

/// Saved withdrawal bank accounts. Removal keeps the row (marked removed) so the audit trail
/// can always name the account a past withdrawal went to.
public protocol BankAccountStore: Sendable {
    /// Saves `account` with its effects in one transaction, unless the customer already holds one with the
    /// same bank and last four digits: that one is returned and nothing is written (`created` false).
    /// Throws `bank_account_limit_reached` when the customer already holds `max`.
    func addBankAccount(_ account: BankAccountRecord, max: Int, effects: SideEffects) async throws
        -> (account: BankAccountRecord, created: Bool)
    /// The customer's saved accounts, newest first.
    func bankAccounts(of user: UserID) async throws -> [BankAccountRecord]
    /// One saved account of the customer's; nil when it is someone else's, removed or unknown.
    func bankAccount(_ id: String, of user: UserID) async throws -> BankAccountRecord?
    /// The saved account with this bank and last four digits, if any.
    func bankAccount(bank: String, last4: String, of user: UserID) async throws -> BankAccountRecord?
    /// Removes a saved account with its effects; false when the customer holds no such account.
    func removeBankAccount(_ id: String, of user: UserID, at: Timestamp, effects: SideEffects) async throws -> Bool
}

extension SQLStore: BankAccountStore {
    private static let bankAccountColumns = "id, user_id, bank, last4, holder, created_at"

    private static func decodeBankAccount(_ row: SQLRow) throws -> BankAccountRecord {
        BankAccountRecord(id: try row.text("id"), userID: UserID(try row.text("user_id")), bank: try row.text("bank"),
                          last4: try row.text("last4"), holder: try row.text("holder"), createdAt: try row.timestamp("created_at"))
    }

    public func addBankAccount(_ account: BankAccountRecord, max: Int, effects: SideEffects) async throws
        -> (account: BankAccountRecord, created: Bool) {
        try await publicErrors {
            try await database.write { connection in
                // The customer's row is the lock that makes count-then-insert safe across processes
                // (PostgreSQL; SQLite has one writer).
                _ = try await connection.query(SQLStatement("SELECT id FROM users WHERE id = ?\(database.dialect.forUpdate)",
                                                            account.userID))
                let saved = try await connection.query(SQLStatement("""
                    SELECT \(Self.bankAccountColumns) FROM bank_accounts WHERE user_id = ? AND removed_at IS NULL
                    """, account.userID)).map(Self.decodeBankAccount)
                if let same = saved.first(where: { $0.bank == account.bank && $0.last4 == account.last4 }) {
                    return (same, false)
                }
                guard saved.count < max else {
                    throw LucidError(.bankAccountLimitReached, ["limit": .int(Int64(max))])
                }
                try await connection.execute(SQLStatement("""
                    INSERT INTO bank_accounts (\(Self.bankAccountColumns)) VALUES (?, ?, ?, ?, ?, ?)
                    """, account.id, account.userID, account.bank, account.last4, account.holder, account.createdAt))
                try await write(effects, connection)
                return (account, true)
            }
        }
    }

    public func bankAccounts(of user: UserID) async throws -> [BankAccountRecord] {
        try await read(SQLStatement("""
            SELECT \(Self.bankAccountColumns) FROM bank_accounts WHERE user_id = ? AND removed_at IS NULL
            ORDER BY created_at DESC, id DESC
            """, user)).map(Self.decodeBankAccount)
    }

    public func bankAccount(_ id: String, of user: UserID) async throws -> BankAccountRecord? {
        try await read(SQLStatement("""
            SELECT \(Self.bankAccountColumns) FROM bank_accounts WHERE id = ? AND user_id = ? AND removed_at IS NULL
            """, id, user)).first.map(Self.decodeBankAccount)
    }

    public func bankAccount(bank: String, last4: String, of user: UserID) async throws -> BankAccountRecord? {
        try await read(SQLStatement("""
            SELECT \(Self.bankAccountColumns) FROM bank_accounts
            WHERE user_id = ? AND bank = ? AND last4 = ? AND removed_at IS NULL
            """, user, bank, last4)).first.map(Self.decodeBankAccount)
    }

    public func removeBankAccount(_ id: String, of user: UserID, at: Timestamp, effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(SQLStatement("""
                    UPDATE bank_accounts SET removed_at = ? WHERE id = ? AND user_id = ? AND removed_at IS NULL
                    """, at, id, user))
                guard changed == 1 else { return false }
                try await write(effects, connection)
                return true
            }
        }
    }
}

/// The `bank_accounts` table (migration `2026-11-25-05-bank-accounts`). Text for SQLite; `postgres`
/// is PostgreSQL's dialect. One active row per customer, bank and last four digits.
enum BankAccountSchema {
    static let sqlite = """
        CREATE TABLE bank_accounts (
            id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            bank TEXT NOT NULL CHECK (length(bank) BETWEEN 1 AND 16),
            last4 TEXT NOT NULL CHECK (length(last4) = 4),
            holder TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            removed_at INTEGER
        );
        CREATE UNIQUE INDEX bank_accounts_active ON bank_accounts(user_id, bank, last4) WHERE removed_at IS NULL;
        """

    static let postgres: [String] = [
        """
        CREATE TABLE bank_accounts (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            bank TEXT NOT NULL CHECK (char_length(bank) BETWEEN 1 AND 16),
            last4 TEXT NOT NULL CHECK (char_length(last4) = 4),
            holder TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            removed_at BIGINT
        )
        """,
        "CREATE UNIQUE INDEX bank_accounts_active ON bank_accounts(user_id, bank, last4) WHERE removed_at IS NULL",
    ]
}
