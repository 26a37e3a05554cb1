import LucidCore

/// Whether a customer may move money out.
public enum UserStatus: String, Sendable, Codable {
    case active, frozen, closed
}

public struct UserRecord: Sendable, Hashable {
    public var id: UserID
    public var email: String?
    public var phone: String?
    /// Self-describing hash (`$scrypt$ln=…`, or a legacy `$2b$12$…`) so parameters can be raised later.
    public var passwordHash: String
    public var displayName: String
    public var country: String
    public var tier: VerificationTier
    public var status: UserStatus
    public var frozenReason: String?
    public var createdAt: Timestamp
    /// Last change of the password (nil: since registration).
    public var passwordChangedAt: Timestamp?
    /// When two-factor authentication was switched on (nil: off).
    public var totpEnabledAt: Timestamp?
    /// Who froze the account (`customer`, `operator:<name>`, `risk`) and when.
    public var frozenBy: String?
    public var frozenAt: Timestamp?
    /// A self-freeze cannot be undone before this time (cooling-off).
    public var unfreezeAvailableAt: Timestamp?
    /// Last movement of money or re-verification; long silence makes the account dormant.
    public var lastActivityAt: Timestamp?

    public init(id: UserID, email: String?, phone: String?, passwordHash: String, displayName: String,
                country: String, tier: VerificationTier, status: UserStatus = .active,
                frozenReason: String? = nil, createdAt: Timestamp, passwordChangedAt: Timestamp? = nil,
                totpEnabledAt: Timestamp? = nil, frozenBy: String? = nil, frozenAt: Timestamp? = nil,
                unfreezeAvailableAt: Timestamp? = nil, lastActivityAt: Timestamp? = nil) {
        self.id = id
        self.email = email
        self.phone = phone
        self.passwordHash = passwordHash
        self.displayName = displayName
        self.country = country
        self.tier = tier
        self.status = status
        self.frozenReason = frozenReason
        self.createdAt = createdAt
        self.passwordChangedAt = passwordChangedAt
        self.totpEnabledAt = totpEnabledAt
        self.frozenBy = frozenBy
        self.frozenAt = frozenAt
        self.unfreezeAvailableAt = unfreezeAvailableAt
        self.lastActivityAt = lastActivityAt
    }

    public var totpEnabled: Bool { totpEnabledAt != nil }
}

public struct SessionRecord: Sendable, Hashable {
    public var id: SessionID
    public var userID: UserID
    /// SHA-256 of the bearer token; the token itself is never stored.
    public var tokenHash: [UInt8]
    public var deviceID: String?
    public var sourceAddress: String?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var revokedAt: Timestamp?
    /// Last request seen on this session (updated at most once a minute).
    public var lastSeenAt: Timestamp?
    /// Country the edge proxy reported at sign-in (`X-Geo-Country`).
    public var country: String?
    public var userAgent: String?
    /// Why it was revoked: `logout`, `revoked_by_owner`, `password_changed`, `frozen`, `operator`, …
    public var revokedReason: String?

    public init(id: SessionID, userID: UserID, tokenHash: [UInt8], deviceID: String?, sourceAddress: String?,
                createdAt: Timestamp, expiresAt: Timestamp, revokedAt: Timestamp? = nil, lastSeenAt: Timestamp? = nil,
                country: String? = nil, userAgent: String? = nil, revokedReason: String? = nil) {
        self.id = id
        self.userID = userID
        self.tokenHash = tokenHash
        self.deviceID = deviceID
        self.sourceAddress = sourceAddress
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastSeenAt = lastSeenAt
        self.country = country
        self.userAgent = userAgent
        self.revokedReason = revokedReason
    }
}

public enum OperatorRole: String, Sendable, Codable, CaseIterable {
    /// Everything, including reversals and creating merchants.
    case admin
    /// Reads, verification and support; no money movement.
    case support
    /// Risk review: freezes, risk decisions and alerts; reads.
    case risk
    /// Read-only.
    case auditor
}

public struct OperatorRecord: Sendable, Hashable {
    public var id: OperatorID
    public var name: String
    public var role: OperatorRole
    public var tokenHash: [UInt8]
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(id: OperatorID, name: String, role: OperatorRole, tokenHash: [UInt8], createdAt: Timestamp, revokedAt: Timestamp? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

public struct MerchantRecord: Sendable, Hashable {
    public var id: MerchantID
    public var name: String
    public var country: String
    public var createdAt: Timestamp

    public init(id: MerchantID, name: String, country: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.country = country
        self.createdAt = createdAt
    }
}

/// One wallet (a customer's account in one currency) with its balances.
public struct WalletRecord: Sendable, Hashable {
    public var accountID: AccountID
    public var currency: Currency
    public var balance: AccountBalance
}

/// The owner of one side of a transaction, enough to show and mask it.
public struct PartyRecord: Sendable, Hashable {
    public var accountID: AccountID
    public var kind: AccountKind
    /// User or merchant id; nil for system accounts.
    public var ownerID: String?
    /// System account code such as `fee_revenue`.
    public var code: String?
    public var displayName: String?
    public var email: String?
    public var phone: String?

    public init(accountID: AccountID, kind: AccountKind, ownerID: String?, code: String?, displayName: String?,
                email: String?, phone: String?) {
        self.accountID = accountID
        self.kind = kind
        self.ownerID = ownerID
        self.code = code
        self.displayName = displayName
        self.email = email
        self.phone = phone
    }
}

/// A transaction as customers and operators see it: the originating journal
/// row with its fee and its resolution folded in.
public struct TransactionRecord: Sendable, Hashable {
    public var id: TransferID
    public var kind: TransferKind
    public var state: TransferState
    public var amount: Int64
    public var fee: Int64
    public var currency: Currency
    public var debit: PartyRecord
    public var credit: PartyRecord
    public var memo: String?
    public var reason: String?
    public var createdAt: Timestamp
    /// When a pending transaction was posted, voided or expired.
    public var resolvedAt: Timestamp?
    /// When a pending transaction will expire if nothing settles it.
    public var timeoutAt: Timestamp?
    /// The transaction this one reverses (for reversals).
    public var reversesID: TransferID?
    /// The reversal of this transaction, if any.
    public var reversedByID: TransferID?
    /// The journal position, used as paging cursor.
    public var journalSeq: Int64
    /// For a top-up or withdrawal through a payment rail: the rail, why it is where it is
    /// (`waiting_for_bank`, a bank's code…) and when the rail expects to be done.
    public var rail: String? = nil
    public var railReason: String? = nil
    public var railExpectedBy: Timestamp? = nil
    /// The customer's bank account the money came from or went to, masked (`ICBC ****1234`).
    public var railAccount: String? = nil
}

/// A page of results; `nextCursor` is nil on the last page.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?
    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
