/// Who owns a ledger account.
public enum AccountKind: String, Sendable, Hashable, Codable {
    /// A customer's wallet in one currency; never below zero.
    case customer
    /// A merchant's settlement account; never below zero.
    case merchant
    /// The operator's own accounts (gateway clearing, fee revenue); may go
    /// negative, because they mirror money held outside the ledger.
    case system
}

/// The operator's system accounts, one per currency: fee revenue, and one
/// clearing account per payment rail (`gateway_clearing:bank-a`).
///
/// A clearing account mirrors money held at a rail: its balance is minus what
/// the rail owes the wallet's customers. `gateway_clearing:sandbox` is the one
/// clearing account from before rails were named; existing journals keep it.
public struct SystemAccount: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The account's code as stored (`fee_revenue`, `gateway_clearing:bank-a`).
    public let rawValue: String

    /// Accepts only codes Lucid makes: `fee_revenue` and `gateway_clearing:<rail>`.
    public init?(rawValue: String) {
        guard rawValue == SystemAccount.feeRevenue.rawValue || SystemAccount.clearingRail(of: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    private init(code: String) { rawValue = code }

    /// Money that came in from (or went out to) the unnamed sandbox bank of the first releases.
    public static let gatewayClearing = SystemAccount(code: clearingPrefix + "sandbox")
    /// Fees earned by the operator.
    public static let feeRevenue = SystemAccount(code: "fee_revenue")

    static let clearingPrefix = "gateway_clearing:"

    /// The clearing account of one payment rail (`rail` as `RailID` spells it: lower-case letters,
    /// digits and `-`, at most 32 characters).
    public static func clearing(rail: String) -> SystemAccount {
        let account = SystemAccount(code: clearingPrefix + rail)
        precondition(clearingRail(of: account.rawValue) != nil, "invalid rail name \(rail)")
        return account
    }

    /// The rail a clearing account belongs to, nil for other accounts.
    public var rail: String? { SystemAccount.clearingRail(of: rawValue) }

    static func clearingRail(of code: String) -> String? {
        guard code.hasPrefix(clearingPrefix) else { return nil }
        let rail = code.dropFirst(clearingPrefix.count)
        guard !rail.isEmpty, rail.utf8.count <= 32,
              rail.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }) else { return nil }
        return String(rail)
    }

    public var description: String { rawValue }
}

/// Posted and pending amounts of one account; `available = posted − pendingOut`.
///
/// Sign convention: every account's balance is credits minus debits, so the
/// sum of all posted balances in a currency is always zero. That is the
/// conservation law `lucid verify` and the property tests check.
public struct AccountBalance: Sendable, Hashable, Codable {
    public var posted: Int64
    public var pendingOut: Int64
    public var pendingIn: Int64

    public init(posted: Int64 = 0, pendingOut: Int64 = 0, pendingIn: Int64 = 0) {
        self.posted = posted
        self.pendingOut = pendingOut
        self.pendingIn = pendingIn
    }

    public var available: Int64 { posted &- pendingOut }
}

/// The state of one account as the ledger rules see it.
public struct AccountState: Sendable, Hashable {
    public let id: AccountID
    public let kind: AccountKind
    public let currency: Currency
    public var balance: AccountBalance
    /// Number of posted journal entries on this account; the next one gets `entrySeq + 1`.
    public var entrySeq: Int64

    public init(id: AccountID, kind: AccountKind, currency: Currency, balance: AccountBalance = .init(), entrySeq: Int64 = 0) {
        self.id = id
        self.kind = kind
        self.currency = currency
        self.balance = balance
        self.entrySeq = entrySeq
    }

    /// Customer and merchant money is never negative; system accounts mirror outside money and may be.
    public var mayGoNegative: Bool { kind == .system }
}

/// The kinds of journal rows. The first group are transactions a person
/// starts; the second resolve an earlier pending row without editing it.
public enum TransferKind: String, Sendable, Hashable, Codable, CaseIterable {
    case topup, transfer, payment, withdrawal, fee, reversal, adjustment
    case postPending = "post_pending"
    case voidPending = "void_pending"
    case expirePending = "expire_pending"

    /// Rows that resolve a pending row rather than stand on their own.
    public var isResolution: Bool {
        switch self {
        case .postPending, .voidPending, .expirePending: return true
        case .topup, .transfer, .payment, .withdrawal, .fee, .reversal, .adjustment: return false
        }
    }
}

/// Where a transaction is in its life.
public enum TransferState: String, Sendable, Hashable, Codable, CaseIterable {
    case pending, posted, voided, expired, failed

    public var isFinal: Bool { self != .pending }
}

/// What may happen to a pending transfer.
public enum PendingAction: String, Sendable, Hashable, Codable {
    case post, void, expire

    public var resolutionKind: TransferKind {
        switch self {
        case .post: return .postPending
        case .void: return .voidPending
        case .expire: return .expirePending
        }
    }

    public var resultingState: TransferState {
        switch self {
        case .post: return .posted
        case .void: return .voided
        case .expire: return .expired
        }
    }
}

/// The two-phase state machine: only `pending` moves, and each wrong move has its own error.
public enum TwoPhase {
    public static func transition(
        from state: TransferState, _ action: PendingAction, expiredAt: Timestamp? = nil
    ) throws(LucidError) -> TransferState {
        switch state {
        case .pending: return action.resultingState
        case .posted: throw LucidError(.transferAlreadyPosted)
        case .voided, .failed: throw LucidError(.transferAlreadyVoided)
        case .expired:
            throw LucidError(.transferExpired, ["expired_at": .text(expiredAt?.rfc3339 ?? "?")])
        }
    }
}

/// Pure balance rules: given accounts and an amount, what do they look like after?
public enum LedgerRules {
    /// Reserves `amount` on `debit` and announces it on `credit` (a hold).
    public static func hold(_ amount: Int64, debit: inout AccountState, credit: inout AccountState) throws(LucidError) {
        try requireSameCurrency(debit, credit)
        try requireAvailable(amount, on: debit, fee: 0)
        debit.balance.pendingOut = try Checked.add(debit.balance.pendingOut, amount)
        credit.balance.pendingIn = try Checked.add(credit.balance.pendingIn, amount)
    }

    /// Posts `amount` at once: the debit loses it, the credit gains it.
    public static func post(_ amount: Int64, debit: inout AccountState, credit: inout AccountState) throws(LucidError) {
        try requireSameCurrency(debit, credit)
        try requireAvailable(amount, on: debit, fee: 0)
        let newDebit = try Checked.subtract(debit.balance.posted, amount)
        let newCredit = try Checked.add(credit.balance.posted, amount)
        debit.balance.posted = newDebit
        credit.balance.posted = newCredit
        debit.entrySeq += 1
        credit.entrySeq += 1
    }

    /// Turns an earlier hold into a posting, or releases it.
    public static func resolve(
        _ amount: Int64, _ action: PendingAction, debit: inout AccountState, credit: inout AccountState
    ) throws(LucidError) {
        precondition(debit.balance.pendingOut >= amount && credit.balance.pendingIn >= amount, "hold not reserved")
        debit.balance.pendingOut -= amount
        credit.balance.pendingIn -= amount
        if action == .post {
            debit.balance.posted = try Checked.subtract(debit.balance.posted, amount)
            credit.balance.posted = try Checked.add(credit.balance.posted, amount)
            debit.entrySeq += 1
            credit.entrySeq += 1
        }
    }

    /// Refuses to take a customer or merchant below zero. `amount + fee` must be
    /// available; the error carries every number its message mentions.
    public static func requireAvailable(_ amount: Int64, on account: AccountState, fee: Int64) throws(LucidError) {
        guard !account.mayGoNegative else { return }
        let available = account.balance.available
        let required = try Checked.add(amount, fee)
        if required > available {
            throw LucidError(.insufficientFunds, [
                "available": .int(available), "required": .int(required), "fee": .int(fee),
                "shortfall": .int(required - max(0, available)), "currency": .text(account.currency.code),
            ])
        }
    }

    static func requireSameCurrency(_ a: AccountState, _ b: AccountState) throws(LucidError) {
        guard a.currency == b.currency else {
            throw LucidError(.currencyMismatch, ["expected_currency": .text(a.currency.code), "currency": .text(b.currency.code)])
        }
    }
}
