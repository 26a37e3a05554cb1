import LucidCore
import LucidStore

/// The other side of a transaction, as the reader may see it.
public struct CounterpartyView: Sendable, Hashable, Codable {
    /// `customer`, `merchant`, `bank` or `operator`.
    public var type: String
    /// Masked name (`*三`, `A*** Z****`) for people, full name for merchants and banks.
    public var name: String
    /// Masked phone or e-mail, enough to recognise.
    public var login: String?
    public var merchantID: String?
}

/// A transaction from one reader's point of view.
public struct TransactionView: Sendable, Hashable {
    public var id: TransferID
    public var kind: TransferKind
    public var state: TransferState
    public var amount: Int64
    public var fee: Int64
    public var currency: Currency
    /// `in` or `out` from the reader's side; nil for operators.
    public var direction: String?
    public var counterparty: CounterpartyView
    public var memo: String?
    /// Why a non-final transaction is where it is.
    public var reason: String?
    public var createdAt: Timestamp
    public var resolvedAt: Timestamp?
    /// When a pending transaction is expected to settle (or expire).
    public var expectedBy: Timestamp?
    public var reversesID: TransferID?
    public var reversedByID: TransferID?
    /// The payment rail of a top-up or withdrawal.
    public var rail: String? = nil
    /// Held by security monitoring: what the customer is told (risk, issue 6).
    public var security: SecurityNote? = nil
}

extension TransactionView {
    /// Renders a stored transaction for `reader` (nil: an operator, who sees the credit side as counterparty).
    init(_ record: TransactionRecord, reader: UserID?) {
        let outgoing = reader.map { record.debit.ownerID == $0.rawValue } ?? false
        let other = outgoing || reader == nil ? record.credit : record.debit
        var counterparty = CounterpartyView(party: other)
        // Money to or from a bank: the customer recognises their account, not the rail's name (kept in `rail`).
        if other.kind == .system, let account = record.railAccount { counterparty.name = account }
        self.init(
            id: record.id, kind: record.kind, state: record.state, amount: record.amount, fee: record.fee,
            currency: record.currency, direction: reader == nil ? nil : (outgoing ? "out" : "in"),
            counterparty: counterparty, memo: record.memo,
            reason: TransactionView.reason(record),
            createdAt: record.createdAt, resolvedAt: record.resolvedAt,
            expectedBy: record.state == .pending ? (record.railExpectedBy ?? record.timeoutAt) : nil,
            reversesID: record.reversesID, reversedByID: record.reversedByID, rail: record.rail)
    }

    /// A rail's reason (`waiting_for_bank`, `bank_not_responding`, a bank's code) wins over the journal's while
    /// it applies: pending, or voided with the bank's reason.
    static func reason(_ record: TransactionRecord) -> String? {
        if record.rail != nil, record.state != .posted, let reason = record.railReason { return reason }
        if record.rail != nil, record.state == .pending { return "waiting_for_bank" }
        if record.state != .pending, record.reason == "waiting_for_bank" {
            return defaultReason(record.kind, record.state)
        }
        return record.reason ?? defaultReason(record.kind, record.state)
    }

    static func defaultReason(_ kind: TransferKind, _ state: TransferState) -> String? {
        switch state {
        case .pending:
            return kind == .withdrawal ? "waiting_for_bank" : "on_hold"
        case .voided: return "cancelled"
        case .expired: return "hold_expired"
        case .failed: return "failed"
        case .posted: return nil
        }
    }
}

extension CounterpartyView {
    init(party: PartyRecord) {
        switch party.kind {
        case .customer:
            self.init(type: "customer", name: Mask.name(party.displayName ?? ""),
                      login: party.phone.map(Mask.phone) ?? party.email.map(Mask.email), merchantID: nil)
        case .merchant:
            self.init(type: "merchant", name: party.displayName ?? "merchant", login: nil, merchantID: party.ownerID)
        case .system:
            let rail = party.code.flatMap(SystemAccount.init(rawValue:))?.rail
            let name = rail.map { $0 == "sandbox" ? "Sandbox Bank" : $0 } ?? "Lucid Wallet"
            self.init(type: rail != nil ? "bank" : "operator", name: name, login: nil, merchantID: nil)
        }
    }
}

/// A customer's wallet with its balances.
public struct WalletView: Sendable, Hashable {
    public var currency: Currency
    public var posted: Int64
    public var pendingOut: Int64
    public var pendingIn: Int64
    public var available: Int64
}

/// Who a transfer goes to.
public enum PayeeSelector: Sendable, Hashable {
    case phone(String)
    case email(String)
    case userID(UserID)
}
