import LucidCore

/// Everything the services need from persistence. One implementation per
/// database; the same conformance tests run against each.
///
/// Money only moves through `submit` (group-committed by the single writer)
/// or `applyBatch` (one transaction for a caller-made batch, used by bulk
/// tools and the ledger benchmark). Reads never wait for the writer.
public protocol WalletStore: Sendable {
    // Ledger
    func submit(_ command: LedgerCommand) async throws -> LedgerReceipt
    func applyBatch(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>]
    func wallets(of user: UserID) async throws -> [WalletRecord]
    func transaction(_ id: TransferID) async throws -> TransactionRecord?
    /// A customer's own transactions, newest first. `cursor` is the `nextCursor` of the previous page.
    func transactions(of user: UserID, limit: Int, cursor: String?) async throws -> Page<TransactionRecord>
    /// Pending holds whose timeout has passed, oldest first.
    func expiredHolds(now: Timestamp, limit: Int) async throws -> [TransferID]
    func verify() async throws -> VerificationReport
    func commitStatistics() -> CommitStatistics

    // Identity
    func createUser(_ user: UserRecord) async throws
    func user(_ id: UserID) async throws -> UserRecord?
    /// Finds a user by e-mail or phone.
    func user(login: String) async throws -> UserRecord?
    func createSession(_ session: SessionRecord) async throws
    /// The session for a token hash and its user, in one read (this is on every authenticated request).
    func signedIn(tokenHash: [UInt8]) async throws -> (session: SessionRecord, user: UserRecord)?
    func revokeSession(_ id: SessionID, at: Timestamp) async throws
    func createOperator(_ record: OperatorRecord) async throws
    func operatorRecord(tokenHash: [UInt8]) async throws -> OperatorRecord?
    func createMerchant(_ merchant: MerchantRecord) async throws
    func merchant(_ id: MerchantID) async throws -> MerchantRecord?

    /// Copies the whole store to `path` while it keeps serving.
    func backup(to path: String) async throws
}

/// What group commit has been doing, for `/metrics` and benchmarks.
public struct CommitStatistics: Sendable, Hashable {
    public var batches: Int64 = 0
    public var commands: Int64 = 0
    public var largestBatch: Int = 0
    /// Counts of batches by size bucket upper bound (1, 2, 4, … 8192).
    public var batchSizeBuckets: [Int: Int64] = [:]
    public init() {}
}

/// The result of rebuilding every balance from the journal.
public struct VerificationReport: Sendable, Hashable {
    public var ok: Bool { mismatches.isEmpty }
    public var accountsChecked: Int
    public var transfersChecked: Int
    public var mismatches: [Mismatch]
    public init(accountsChecked: Int, transfersChecked: Int, mismatches: [Mismatch]) {
        self.accountsChecked = accountsChecked
        self.transfersChecked = transfersChecked
        self.mismatches = mismatches
    }
}

/// One broken invariant, typed so tools can act on it.
public struct Mismatch: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The stored posted balance differs from the sum of the account's journal entries.
        case balanceMismatch = "balance_mismatch"
        /// A journal row's recorded balance-after differs from the running sum.
        case balanceAfterMismatch = "balance_after_mismatch"
        /// Stored pending amounts differ from the open holds in the journal.
        case pendingMismatch = "pending_mismatch"
        /// An account's entry sequence skips or repeats a number.
        case entrySequenceGap = "entry_sequence_gap"
        /// Total debits differ from total credits in a currency (money created or destroyed).
        case debitsCreditsUnbalanced = "debits_credits_unbalanced"
        /// A customer or merchant balance (posted or available) is below zero.
        case negativeCustomerBalance = "negative_customer_balance"
        /// A journal row moves money between accounts of different currencies.
        case currencyMismatch = "currency_mismatch"
    }

    public var kind: Kind
    public var accountID: AccountID?
    public var currency: String?
    public var expected: Int64?
    public var actual: Int64?
    public var detail: String

    public init(kind: Kind, accountID: AccountID? = nil, currency: String? = nil, expected: Int64? = nil,
                actual: Int64? = nil, detail: String) {
        self.kind = kind
        self.accountID = accountID
        self.currency = currency
        self.expected = expected
        self.actual = actual
        self.detail = detail
    }
}
