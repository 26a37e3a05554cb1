import Foundation
import LucidCore
import LucidServices
import LucidStore

// Request and response bodies of the risk routes (issue 6). Field names become snake_case on the wire.

/// Any JSON value: stored explanations (event, context, decision) are passed through as they are.
enum JSONValue: Codable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses stored JSON text; text that does not parse (it always does) becomes null.
    static func parse(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
    }
}

struct FiredRuleDTO: Encodable {
    var ruleId: String
    var contribution: Int
    var forcedDecision: String?
    var suppressed: Bool
    var shadow: Bool
}

/// A decision as operators see it: everything, including the rules that fired with the values
/// they saw (`explanation.fired[].observed`) and the shadow decision beside it.
struct RiskDecisionDTO: Encodable {
    var id: String
    var userId: String
    var eventKind: String
    var action: String
    var rulesAction: String
    var score: Int
    var ruleSetVersion: String
    var shadowAction: String?
    var shadowRuleSetVersion: String?
    var transactionId: String?
    var recorded: Bool
    var createdAt: String
    var firedRules: [FiredRuleDTO]?
    var event: JSONValue?
    var context: JSONValue?
    var explanation: JSONValue?
    var shadow: JSONValue?

    /// `full`: with the event, context and explanation (one decision); lists leave them out.
    init(_ record: RiskDecisionRecord, full: Bool) {
        id = record.id
        userId = record.userID.rawValue
        eventKind = record.eventKind
        action = record.action
        rulesAction = record.rulesAction
        score = record.score
        ruleSetVersion = record.ruleSetVersion
        shadowAction = record.shadowAction
        shadowRuleSetVersion = record.shadowRuleSetVersion
        transactionId = record.transactionID?.rawValue
        recorded = record.recorded
        createdAt = record.createdAt.rfc3339
        guard full else { return }
        firedRules = record.fired.map {
            FiredRuleDTO(ruleId: $0.ruleID, contribution: $0.contribution, forcedDecision: $0.forcedDecision, suppressed: $0.suppressed,
                         shadow: $0.shadow)
        }
        event = JSONValue.parse(record.event)
        context = JSONValue.parse(record.context)
        explanation = JSONValue.parse(record.decision)
        shadow = JSONValue.parse(record.shadow)
    }
}

struct RiskReviewDTO: Encodable {
    var id: String
    var decisionId: String
    var transactionId: String
    var userId: String
    var kind: String
    var amount: Int64
    var currency: String
    var reason: String
    var state: String
    var createdAt: String
    var expiresAt: String
    var claimedBy: String?
    var claimedAt: String?
    var resolvedBy: String?
    var resolvedAt: String?
    var note: String?
    var froze: Bool
    /// With one review: the decision that held the money and the held transaction.
    var decision: RiskDecisionDTO?
    var transaction: TransactionDTO?

    init(_ review: RiskReviewRecord, decision: RiskDecisionRecord? = nil, transaction: TransactionView? = nil) {
        id = review.id
        decisionId = review.decisionID
        transactionId = review.transactionID.rawValue
        userId = review.userID.rawValue
        kind = review.kind
        amount = review.amount
        currency = review.currency.code
        reason = review.reason
        state = review.state.rawValue
        createdAt = review.createdAt.rfc3339
        expiresAt = review.expiresAt.rfc3339
        claimedBy = review.claimedBy
        claimedAt = review.claimedAt?.rfc3339
        resolvedBy = review.resolvedBy
        resolvedAt = review.resolvedAt?.rfc3339
        note = review.note
        froze = review.froze
        self.decision = decision.map { RiskDecisionDTO($0, full: true) }
        self.transaction = transaction.map { TransactionDTO($0) }
    }
}

struct RuleSetDTO: Encodable {
    var version: String
    var rules: Int
    var yaml: String
    /// Null for the bundled defaults.
    var loadedBy: String?
    var loadedAt: String?

    init(_ info: RiskOperations.RuleSetInfo) {
        version = info.version
        rules = info.rules
        yaml = info.yaml
        loadedBy = info.loadedBy
        loadedAt = info.loadedAt?.rfc3339
    }
}

struct RuleSetsDTO: Encodable {
    var live: RuleSetDTO
    var shadow: RuleSetDTO?

    enum CodingKeys: String, CodingKey { case live, shadow }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(live, forKey: .live)
        if let shadow { try container.encode(shadow, forKey: .shadow) } else { try container.encodeNil(forKey: .shadow) }
    }
}

struct RiskListEntryDTO: Encodable {
    var id: String
    var kind: String
    var value: String
    var verdict: String
    var userId: String?
    var expiresAt: String?
    var note: String
    var createdBy: String
    var createdAt: String

    init(_ entry: RiskListEntryRecord) {
        id = entry.id
        kind = entry.kind
        value = entry.value
        verdict = entry.verdict
        userId = entry.userID?.rawValue
        expiresAt = entry.expiresAt?.rfc3339
        note = entry.note
        createdBy = entry.createdBy
        createdAt = entry.createdAt.rfc3339
    }
}

struct RiskSuppressionDTO: Encodable {
    var id: String
    var userId: String
    var ruleId: String
    var until: String
    var note: String
    var createdBy: String
    var createdAt: String

    init(_ suppression: RiskSuppressionRecord) {
        id = suppression.id
        userId = suppression.userID.rawValue
        ruleId = suppression.ruleID
        until = suppression.until.rfc3339
        note = suppression.note
        createdBy = suppression.createdBy
        createdAt = suppression.createdAt.rfc3339
    }
}

/// What the customer sees on a transaction security monitoring held.
struct SecurityNoteDTO: Encodable {
    /// `review`, `approved`, `rejected` or `expired`.
    var status: String
    /// The broad, customer-safe reason (`account_security`, `unusual_activity`, …).
    var reason: String
    var summary: String

    init(_ note: SecurityNote, language: Language) {
        status = note.status
        reason = note.reason
        summary = note.summary(language)
    }
}

struct ReviewClaimBody: Decodable {
    static let fields: Set<String> = ["note"]
    var note: String?
}

struct ReviewApproveBody: Decodable {
    static let fields: Set<String> = ["note"]
    var note: String
}

struct ReviewRejectBody: Decodable {
    static let fields: Set<String> = ["note", "freeze"]
    var note: String
    var freeze: Bool?
}

struct RulesBody: Decodable {
    static let fields: Set<String> = ["yaml"]
    var yaml: String
}

struct ListEntryBody: Decodable {
    static let fields: Set<String> = ["kind", "value", "verdict", "user_id", "expires_at", "note"]
    var kind: String
    var value: String
    var verdict: String
    var userId: String?
    var expiresAt: String?
    var note: String?
}

struct SuppressionBody: Decodable {
    static let fields: Set<String> = ["user_id", "rule_id", "until", "note"]
    var userId: String
    var ruleId: String
    var until: String
    var note: String?
}

/// Times in operators' request bodies (`2026-12-01T00:00:00Z`, fractional seconds and offsets allowed).
enum RequestTime {
    static func parse(_ text: String, field: String) throws(LucidError) -> Timestamp {
        guard let time = OperatorTime.parse(text) else {
            throw LucidError.invalidField(field, "an RFC 3339 time such as 2026-12-01T00:00:00Z")
        }
        return time
    }
}
