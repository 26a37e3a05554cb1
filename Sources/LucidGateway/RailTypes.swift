import LucidCore

/// Named limits on everything a rail, a callback or a settlement file can send us.
///
/// Each is checked where the value enters and has a test; raising one is a
/// deliberate, reviewed change (TIGER_STYLE: "put a limit on everything").
public enum GatewayLimits {
    /// Longest rail reference. Lucid uses its transfer ids (36 characters).
    public static let referenceLengthMax = 64
    /// Longest rail name (`bank-a`).
    public static let railIDLengthMax = 32
    /// Longest free-text message a rail may attach to a failure; longer ones are cut.
    public static let messageLengthMax = 200
    /// Longest bank-side identifier.
    public static let bankIDLengthMax = 64
    /// Largest callback body accepted.
    public static let callbackBodyBytesMax = 16 * 1024
    /// Largest JSON answer read from a rail's API.
    public static let responseBodyBytesMax = 64 * 1024
    /// Longest line of a settlement report; a longer one is reported as malformed and skipped
    /// without being buffered, so a file without newlines cannot exhaust memory.
    public static let reportLineBytesMax = 4 * 1024
    /// Largest settlement report downloaded (bytes).
    public static let reportBytesMax: Int64 = 4 * 1024 * 1024 * 1024
    /// Most attempts one resilient call makes (the policy may choose fewer).
    public static let attemptsMax = 10
}

/// The name of one payment rail (a bank or processor connection), e.g. `bank-a`.
///
/// Lower-case letters, digits and `-`, 1 to `GatewayLimits.railIDLengthMax`
/// characters: it appears in URLs, CSV files and error messages unescaped.
public struct RailID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    /// Wraps a name from configuration; traps on an invalid one (a programming error).
    public init(_ rawValue: String) {
        precondition(RailID.isValid(rawValue), "invalid rail id \(rawValue)")
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// Parses a name received from outside.
    public init?(parsing text: String) {
        guard RailID.isValid(text) else { return nil }
        rawValue = text
    }

    public static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        return !bytes.isEmpty && bytes.count <= GatewayLimits.railIDLengthMax
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = RailID(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid rail id"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The idempotency key of one movement on a rail. Lucid uses its own transfer id,
/// so a retry after a timeout names the same movement and can never pay twice.
///
/// Printable ASCII without spaces, commas or quotes (it is written unescaped into
/// settlement files), 1 to `GatewayLimits.referenceLengthMax` characters.
public struct RailReference: Hashable, Sendable, Comparable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(_ rawValue: String) {
        precondition(RailReference.isValid(rawValue), "invalid rail reference \(rawValue)")
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The reference of a Lucid transfer.
    public init(_ transfer: TransferID) { self.init(transfer.rawValue) }

    public init?(parsing text: String) {
        guard RailReference.isValid(text) else { return nil }
        rawValue = text
    }

    public static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        return !bytes.isEmpty && bytes.count <= GatewayLimits.referenceLengthMax
            && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != 0x2c && $0 != 0x22 }
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = RailReference(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid rail reference"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Which way money crosses the wallet's edge.
public enum RailDirection: String, Sendable, Hashable, Codable, CaseIterable {
    /// Money comes in from the customer's bank account: credited when the rail settles.
    case topUp = "topup"
    /// Money goes out to the customer's bank account: held until the rail settles (post) or fails (void).
    case withdrawal = "withdrawal"
}

/// A bank account as the wallet may show and log it: bank, last four digits and a masked holder name.
/// Full account numbers never enter this layer.
public struct MaskedBankAccount: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Short bank code, e.g. `ICBC`.
    public let bank: String
    /// The last four digits of the account number.
    public let last4: String
    /// The holder's name, masked (`*三丰`, `A*** Z****`).
    public let holder: String

    public init(bank: String, last4: String, holder: String) {
        self.bank = bank
        self.last4 = last4
        self.holder = holder
    }

    public var description: String { "\(bank) ****\(last4) (\(holder))" }

    /// Checks what came from outside: short texts, exactly four digits.
    public func validated() throws(LucidError) -> MaskedBankAccount {
        guard last4.utf8.count == 4, last4.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw LucidError.invalidField("bank_account.last4", "must be the last four digits of the account")
        }
        _ = try Validate.text(bank, field: "bank_account.bank", max: 16)
        _ = try Validate.text(holder, field: "bank_account.holder", max: InputLimits.displayNameLengthMax)
        return self
    }
}

/// One movement asked of a rail.
public struct RailRequest: Hashable, Sendable {
    public let reference: RailReference
    public let direction: RailDirection
    public let amount: Money
    public let account: MaskedBankAccount

    public init(reference: RailReference, direction: RailDirection, amount: Money, account: MaskedBankAccount) {
        self.reference = reference
        self.direction = direction
        self.amount = amount
        self.account = account
    }

    /// Whether a repeated submission describes the same movement (then it is a retry, not a new payment).
    public func sameMovement(as other: RailRequest) -> Bool {
        reference == other.reference && direction == other.direction && amount == other.amount
            && account.bank == other.account.bank && account.last4 == other.account.last4
    }
}

/// Why a rail refused or failed a movement, with the code banks use on the wire.
public enum RailFailureReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The customer's bank account lacks the money (top-ups pulled from it).
    case insufficientFundsAtBank = "R01_insufficient_funds"
    /// The bank account is closed.
    case accountClosed = "R02_account_closed"
    /// A limit at the bank (per transaction, per day) is exceeded.
    case limitExceeded = "R61_limit_exceeded"
    /// The bank is in scheduled maintenance and did not process the movement.
    case bankMaintenance = "R91_bank_maintenance"
    /// The bank refused the movement without a more precise reason (risk, policy).
    case rejected = "R99_rejected"

    /// Whether the bank decides this at once (the submit answer is already `failed`)
    /// rather than later, when the movement is processed.
    public var isImmediate: Bool {
        switch self {
        case .limitExceeded, .rejected, .bankMaintenance: return true
        case .insufficientFundsAtBank, .accountClosed: return false
        }
    }

    /// Plain English text used as the default message.
    public var defaultMessage: String {
        switch self {
        case .insufficientFundsAtBank: return "insufficient funds in the bank account"
        case .accountClosed: return "the bank account is closed"
        case .limitExceeded: return "a limit at the bank is exceeded"
        case .bankMaintenance: return "the bank is in maintenance"
        case .rejected: return "the bank rejected the movement"
        }
    }
}

/// Where one movement stands at the rail.
///
/// States have a rank (`pending` 0, `settled` and `failed` 1): knowledge only ever
/// moves up, so a late or repeated callback can never undo what is known. See
/// `merging(_:)`.
public enum RailItemStatus: Hashable, Sendable {
    /// Accepted, not final yet; the rail expects to finish by `expectedBy`.
    case pending(expectedBy: Timestamp)
    /// Money moved at `at`.
    case settled(at: Timestamp)
    /// The rail will not move the money.
    case failed(reason: RailFailureReason, message: String)

    /// 0 for pending, 1 for final states.
    public var rank: Int {
        switch self {
        case .pending: return 0
        case .settled, .failed: return 1
        }
    }

    public var isFinal: Bool { rank > 0 }

    /// Name used on the wire and in files: `pending`, `settled`, `failed`.
    public var stateName: String {
        switch self {
        case .pending: return "pending"
        case .settled: return "settled"
        case .failed: return "failed"
        }
    }

    /// What knowing `incoming` changes, given what is known now (`self`).
    ///
    /// The result depends only on the set of statuses seen, not on their order
    /// (apart from two *different* final states, which is a conflict an operator
    /// must look at): pending never replaces a final state, a repeated status
    /// changes nothing, two pending statuses keep the later `expectedBy`.
    public func merging(_ incoming: RailItemStatus) -> RailStatusUpdate {
        switch (self, incoming) {
        case (.pending(let current), .pending(let new)):
            return new > current ? .advanced(incoming) : .duplicate
        case (.pending, .settled), (.pending, .failed):
            return .advanced(incoming)
        case (.settled, .pending), (.failed, .pending):
            return .stale
        case (.settled, .settled):
            return .duplicate
        case (.failed(let reason, _), .failed(let newReason, _)):
            return reason == newReason ? .duplicate : .conflict
        case (.settled, .failed), (.failed, .settled):
            return .conflict
        }
    }

    /// The status after `incoming`, or `nil` when nothing was known yet: convenient for folding.
    public static func merged(_ current: RailItemStatus?, _ incoming: RailItemStatus) -> RailItemStatus {
        guard let current else { return incoming }
        if case .advanced(let next) = current.merging(incoming) { return next }
        return current
    }
}

/// The outcome of merging a status into what is known about a movement.
public enum RailStatusUpdate: Hashable, Sendable {
    /// Apply the new status (e.g. post or void the hold when it is final).
    case advanced(RailItemStatus)
    /// Already known: acknowledge and do nothing.
    case duplicate
    /// Older than what is known (a late `pending` after `settled`): acknowledge and do nothing.
    case stale
    /// A different final state than the one already applied: keep the first, raise an operator alert.
    case conflict
}

/// A rail's answer about one movement.
public struct RailReceipt: Hashable, Sendable {
    public let rail: RailID
    public let reference: RailReference
    /// The bank's own identifier for the movement (appears in its settlement file).
    public let bankID: String
    public let status: RailItemStatus
    public let acceptedAt: Timestamp
    /// True when the rail already had this reference: the submit was a retry and nothing new was booked.
    public let isReplay: Bool

    public init(rail: RailID, reference: RailReference, bankID: String, status: RailItemStatus, acceptedAt: Timestamp,
                isReplay: Bool) {
        self.rail = rail
        self.reference = reference
        self.bankID = bankID
        self.status = status
        self.acceptedAt = acceptedAt
        self.isReplay = isReplay
    }
}

/// A notification from the rail that a movement changed state.
///
/// Callbacks may arrive twice, out of order, or never: apply them with
/// `RailItemStatus.merging(_:)` and look the status up with `PaymentRail.status`
/// when one is overdue.
public struct RailCallback: Hashable, Sendable {
    /// Unique per event; a redelivery carries the same id (the replay guard's key).
    public let eventID: String
    public let rail: RailID
    public let reference: RailReference
    public let bankID: String
    public let status: RailItemStatus
    public let occurredAt: Timestamp

    public init(eventID: String, rail: RailID, reference: RailReference, bankID: String, status: RailItemStatus,
                occurredAt: Timestamp) {
        self.eventID = eventID
        self.rail = rail
        self.reference = reference
        self.bankID = bankID
        self.status = status
        self.occurredAt = occurredAt
    }
}

/// How well a rail works right now, as the circuit breaker sees it.
public enum RailHealth: String, Sendable, Hashable, Codable, CaseIterable {
    /// Calls succeed.
    case operational
    /// Recent calls failed, or a probe is testing the rail after an outage.
    case degraded
    /// The breaker is open: new requests fail fast with `gateway_unavailable`.
    case outage
}
