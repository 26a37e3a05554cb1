import LucidCore

/// Names one side of a transfer without knowing its account number; the
/// writer resolves it and opens customer wallets on first use.
public enum AccountRef: Sendable, Hashable {
    case customer(UserID, Currency)
    case merchant(MerchantID, Currency)
    case system(SystemAccount, Currency)
    case id(AccountID)
}

/// A claim on an idempotency key: the same `(scope, key)` with the same
/// `requestHash` replays the first result; with another hash it is refused.
public struct IdempotencyClaim: Sendable, Hashable {
    /// Who the key belongs to (e.g. `user:<id>`), so customers can't collide.
    public var scope: String
    public var key: String
    /// Hex SHA-256 of the operation and its canonical body.
    public var requestHash: String
    public init(scope: String, key: String, requestHash: String) {
        self.scope = scope
        self.key = key
        self.requestHash = requestHash
    }
}

/// The daily/per-transfer limit to enforce on the debit side, inside the write transaction.
public struct LimitCheck: Sendable {
    public var policy: LimitPolicy
    public var tier: VerificationTier
    public init(policy: LimitPolicy, tier: VerificationTier) {
        self.policy = policy
        self.tier = tier
    }
}

/// A new transaction: one movement plus an optional fee, applied all-or-nothing.
public struct NewTransaction: Sendable {
    public var id: TransferID
    public var feeID: TransferID?
    public var kind: TransferKind
    public var debit: AccountRef
    public var credit: AccountRef
    public var amount: Money
    /// Fee paid by the debit side to the operator's fee revenue account.
    public var fee: Int64
    /// Holds funds instead of posting; resolved later by post, void or expiry.
    public var pending: Bool
    public var timeoutAt: Timestamp?
    public var memo: String?
    public var reason: String?
    public var initiator: String?
    public var limit: LimitCheck?
    public var idempotency: IdempotencyClaim?
    /// HTTP status to replay for this key (201 posted, 202 accepted pending).
    public var statusCode: Int
    /// Notifications and audit events written in the same transaction, only if the transaction goes through.
    public var effects: SideEffects

    public init(id: TransferID, feeID: TransferID? = nil, kind: TransferKind, debit: AccountRef, credit: AccountRef,
                amount: Money, fee: Int64 = 0, pending: Bool = false, timeoutAt: Timestamp? = nil, memo: String? = nil,
                reason: String? = nil, initiator: String? = nil, limit: LimitCheck? = nil,
                idempotency: IdempotencyClaim? = nil, statusCode: Int = 201, effects: SideEffects = .none) {
        precondition(amount.minorUnits > 0 && fee >= 0, "validated before reaching the ledger")
        precondition(fee == 0 || feeID != nil, "a fee needs its own journal id")
        self.id = id
        self.feeID = feeID
        self.kind = kind
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.fee = fee
        self.pending = pending
        self.timeoutAt = timeoutAt
        self.memo = memo
        self.reason = reason
        self.initiator = initiator
        self.limit = limit
        self.idempotency = idempotency
        self.statusCode = statusCode
        self.effects = effects
    }
}

/// Everything the ledger writer can be asked to do.
public enum LedgerCommand: Sendable {
    case create(NewTransaction)
    /// Post, void or expire a pending transaction (and its pending fee).
    case resolve(TransferID, PendingAction, initiator: String?, effects: SideEffects = .none)
    /// Compensate a posted transaction (and its fee) with new journal rows.
    case reverse(TransferID, reason: String, initiator: String?, idempotency: IdempotencyClaim?, effects: SideEffects = .none)
}

/// What the writer answers for a command that succeeded.
public struct LedgerReceipt: Sendable, Hashable {
    public var transactionID: TransferID
    public var state: TransferState
    public var createdAt: Timestamp
    /// True when an idempotency key replayed an earlier result.
    public var replayed: Bool
    public var statusCode: Int
    public init(transactionID: TransferID, state: TransferState, createdAt: Timestamp, replayed: Bool, statusCode: Int) {
        self.transactionID = transactionID
        self.state = state
        self.createdAt = createdAt
        self.replayed = replayed
        self.statusCode = statusCode
    }
}
