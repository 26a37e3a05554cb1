import LucidCore

/// The port to one payment rail: a bank or processor connection such as `bank-a`.
///
/// Every movement carries a `RailReference` chosen by Lucid (its transfer id). A
/// rail must treat a repeated reference as the same request: the second submit
/// books nothing and answers with the first one's receipt (`isReplay`). That is
/// what makes a retry after a timeout safe.
///
/// Implementations answer within `timeout` or throw `RailCallError.timedOut`;
/// `ResilientRail` adds retries, backoff and a circuit breaker around any of them.
/// They throw `RailCallError` for everything that goes wrong on the way.
public protocol PaymentRail: Sendable {
    var id: RailID { get }

    /// Asks the rail to move money. The answer is usually `pending`; a bank may
    /// refuse at once (`failed`, e.g. a limit) and some settle immediately.
    func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt

    /// What the rail knows about a reference; `nil` when it never received it
    /// (then a resubmit with the same reference is safe, and so is a void).
    func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt?

    /// Writes the rail's settlement report for one UTC day (see `SettlementReportFormat`)
    /// to `path`, replacing any file there. The report is streamed, never held whole.
    func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload
}

/// What a report download wrote.
public struct SettlementReportDownload: Hashable, Sendable {
    public let rail: RailID
    public let day: SettlementDay
    public let path: String
    public let bytes: Int64

    public init(rail: RailID, day: SettlementDay, path: String, bytes: Int64) {
        self.rail = rail
        self.day = day
        self.path = path
        self.bytes = bytes
    }
}

/// What can go wrong talking to a rail, classified by what it means for the money.
public enum RailCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No answer within the timeout. The rail may or may not have booked the request.
    case timedOut
    /// The connection broke after the request was sent. The rail may or may not have booked it.
    case connectionLost(String)
    /// The rail refused to take the call (down, maintenance, overloaded, connection refused):
    /// nothing was booked.
    case unavailable(String)
    /// The reference is already booked with a different amount, direction or account.
    /// A Lucid bug (references are unique per movement), never retried.
    case referenceConflict(RailReference)
    /// The rail refused the request as malformed. Never retried.
    case invalidRequest(String)
    /// The rail answered something this client does not understand.
    case protocolViolation(String)

    /// Whether the same call (same reference) may be tried again.
    public var isRetryable: Bool {
        switch self {
        case .timedOut, .connectionLost, .unavailable, .protocolViolation: return true
        case .referenceConflict, .invalidRequest: return false
        }
    }

    /// Whether the rail may have acted on the request although the call failed.
    public var outcomeUnknown: Bool {
        switch self {
        case .timedOut, .connectionLost, .protocolViolation: return true
        case .unavailable, .referenceConflict, .invalidRequest: return false
        }
    }

    /// Whether this failure says something about the rail's health (feeds the circuit breaker).
    /// A conflict or a malformed request is the caller's problem, not the rail's.
    public var countsAgainstRail: Bool {
        switch self {
        case .timedOut, .connectionLost, .unavailable, .protocolViolation: return true
        case .referenceConflict, .invalidRequest: return false
        }
    }

    public var description: String {
        switch self {
        case .timedOut: return "timed out"
        case .connectionLost(let detail): return "connection lost: \(detail)"
        case .unavailable(let detail): return "unavailable: \(detail)"
        case .referenceConflict(let reference): return "reference \(reference) already used for another movement"
        case .invalidRequest(let detail): return "invalid request: \(detail)"
        case .protocolViolation(let detail): return "protocol violation: \(detail)"
        }
    }
}
