import LucidCore

/// An operator's allow or deny entry for a payee, device or country, for everyone or one
/// customer, until an optional expiry.
public struct RiskListEntry: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable { case payee, device, country }
    public enum Verdict: String, Sendable, Hashable, Codable { case allow, deny }

    public var kind: Kind
    public var value: String
    public var verdict: Verdict
    /// `nil`: applies to every customer.
    public var customer: UserID?
    /// Unix milliseconds after which the entry no longer applies; `nil`: never expires.
    public var expiresAt: Int64?
    public var note: String

    public init(kind: Kind, value: String, verdict: Verdict, customer: UserID? = nil, expiresAt: Timestamp? = nil, note: String = "") {
        self.kind = kind
        self.value = value
        self.verdict = verdict
        self.customer = customer
        self.expiresAt = expiresAt?.millisecondsSinceEpoch
        self.note = note
    }

    public func applies(to event: RiskEvent) -> Bool {
        if let expiresAt, event.time.millisecondsSinceEpoch >= expiresAt { return false }
        if let customer, customer != event.customer { return false }
        switch kind {
        case .payee: return event.payee == value
        case .device: return event.device == value
        case .country: return event.country == value
        }
    }

    enum CodingKeys: String, CodingKey { case kind, value, verdict, customer, expiresAt = "expires_at", note }
}

/// Allow and deny lists, indexed by kind and value so a lookup costs three hash probes.
/// Deny wins over allow; an allow entry makes the decision `allow` whatever the rules say
/// (the rules still run and are recorded in the explanation).
public struct RiskLists: Sendable, Hashable, Codable {
    public let entries: [RiskListEntry]
    private let index: [String: [Int]]

    public static let empty = RiskLists([])

    public init(_ entries: [RiskListEntry]) {
        self.entries = entries
        var index: [String: [Int]] = [:]
        for (position, entry) in entries.enumerated() { index[Self.key(entry.kind, entry.value), default: []].append(position) }
        self.index = index
    }

    private static func key(_ kind: RiskListEntry.Kind, _ value: String) -> String { kind.rawValue + "\u{1F}" + value }

    /// The deciding entry for the event, if any: a deny if one applies, else an allow.
    public func match(_ event: RiskEvent) -> RiskListEntry? {
        guard !entries.isEmpty else { return nil }
        var allow: RiskListEntry?
        for (kind, value) in [(RiskListEntry.Kind.payee, event.payee), (.device, event.device), (.country, event.country)] {
            guard let value, let positions = index[Self.key(kind, value)] else { continue }
            for position in positions where entries[position].applies(to: event) {
                if entries[position].verdict == .deny { return entries[position] }
                if allow == nil { allow = entries[position] }
            }
        }
        return allow
    }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([RiskListEntry].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(entries)
    }
}

/// One rule switched off for one customer until a time: the travelling customer whose
/// "new country" rule an operator silences for the trip.
public struct RuleSuppression: Sendable, Hashable, Codable {
    public var customer: UserID
    public var ruleID: String
    /// Unix milliseconds at which the suppression ends.
    public var until: Int64
    public var note: String

    public init(customer: UserID, ruleID: String, until: Timestamp, note: String = "") {
        self.customer = customer
        self.ruleID = ruleID
        self.until = until.millisecondsSinceEpoch
        self.note = note
    }

    public func applies(to ruleID: String, for event: RiskEvent) -> Bool {
        self.ruleID == ruleID && customer == event.customer && event.time.millisecondsSinceEpoch < until
    }

    enum CodingKeys: String, CodingKey { case customer, ruleID = "rule_id", until, note }
}

/// A feature value a fired rule saw.
public struct ObservedValue: Sendable, Hashable, Codable {
    public let name: String
    public let value: RiskValue
}

/// One rule that fired, with what it contributed and the values its condition read.
public struct FiredRule: Sendable, Hashable, Codable {
    public let ruleID: String
    /// Score added (0 when suppressed).
    public let contribution: Int
    public let forcedDecision: RiskAction?
    /// An operator suppressed this rule for this customer: it fired but counted for nothing.
    public let suppressed: Bool
    public let observed: [ObservedValue]

    enum CodingKeys: String, CodingKey {
        case ruleID = "rule_id", contribution, forcedDecision = "forced_decision", suppressed, observed
    }
}

/// The engine's answer for one event, with everything needed to explain it later.
public struct RiskDecision: Sendable, Hashable, Codable {
    public let eventID: String
    /// What to do.
    public let action: RiskAction
    /// Sum of the contributions of the rules that fired and were not suppressed.
    public let score: Int
    /// The action the score and forced decisions alone gave, before lists and a satisfied challenge.
    public let rulesAction: RiskAction
    public let ruleSetVersion: String
    public let fired: [FiredRule]
    /// The allow or deny entry that decided, if any.
    public let listMatch: RiskListEntry?
    /// The rules asked for a challenge and the request already carried a fresh second factor.
    public let challengeSatisfied: Bool
    /// The broad, customer-safe reason (the category of the largest contributor).
    public let reason: RiskReason?
    /// What the customer is told, in both languages; empty when allowed.
    public let summary: Localized

    /// Params for `risk_blocked` / `risk_review` (and the `second_factor_required` a challenge becomes).
    public var errorParams: [String: ErrorParam] {
        var params: [String: ErrorParam] = ["risk_reason": .text((reason ?? .unusualActivity).rawValue)]
        params["decision_id"] = .text(eventID)
        return params
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", action, score, rulesAction = "rules_action", ruleSetVersion = "rule_set_version", fired,
             listMatch = "list_match", challengeSatisfied = "challenge_satisfied", reason, summaryEN = "summary_en",
             summaryZH = "summary_zh_cn"
    }

    init(eventID: String, action: RiskAction, score: Int, rulesAction: RiskAction, ruleSetVersion: String, fired: [FiredRule],
         listMatch: RiskListEntry?, challengeSatisfied: Bool, reason: RiskReason?, summary: Localized) {
        self.eventID = eventID
        self.action = action
        self.score = score
        self.rulesAction = rulesAction
        self.ruleSetVersion = ruleSetVersion
        self.fired = fired
        self.listMatch = listMatch
        self.challengeSatisfied = challengeSatisfied
        self.reason = reason
        self.summary = summary
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(eventID: try c.decode(String.self, forKey: .eventID), action: try c.decode(RiskAction.self, forKey: .action),
                  score: try c.decode(Int.self, forKey: .score), rulesAction: try c.decode(RiskAction.self, forKey: .rulesAction),
                  ruleSetVersion: try c.decode(String.self, forKey: .ruleSetVersion), fired: try c.decode([FiredRule].self, forKey: .fired),
                  listMatch: try c.decodeIfPresent(RiskListEntry.self, forKey: .listMatch),
                  challengeSatisfied: try c.decode(Bool.self, forKey: .challengeSatisfied),
                  reason: try c.decodeIfPresent(RiskReason.self, forKey: .reason),
                  summary: Localized(try c.decode(String.self, forKey: .summaryEN), try c.decode(String.self, forKey: .summaryZH)))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eventID, forKey: .eventID)
        try c.encode(action, forKey: .action)
        try c.encode(score, forKey: .score)
        try c.encode(rulesAction, forKey: .rulesAction)
        try c.encode(ruleSetVersion, forKey: .ruleSetVersion)
        try c.encode(fired, forKey: .fired)
        try c.encodeIfPresent(listMatch, forKey: .listMatch)
        try c.encode(challengeSatisfied, forKey: .challengeSatisfied)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encode(summary.en, forKey: .summaryEN)
        try c.encode(summary.zh, forKey: .summaryZH)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.eventID == rhs.eventID && lhs.action == rhs.action && lhs.score == rhs.score && lhs.rulesAction == rhs.rulesAction
            && lhs.ruleSetVersion == rhs.ruleSetVersion && lhs.fired == rhs.fired && lhs.listMatch == rhs.listMatch
            && lhs.challengeSatisfied == rhs.challengeSatisfied && lhs.reason == rhs.reason
            && lhs.summary.en == rhs.summary.en && lhs.summary.zh == rhs.summary.zh
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(eventID)
        hasher.combine(action)
        hasher.combine(score)
        hasher.combine(fired)
    }
}

/// The enforced decision and, in shadow mode, what the draft rules would have decided.
public struct RiskEvaluation: Sendable, Hashable, Codable {
    /// Enforced: what happens to the request.
    public let decision: RiskDecision
    /// Recorded only, never enforced.
    public let shadow: RiskDecision?
}

/// Decides. Pure: the same event, features, lists, suppressions and rules give the same decision.
public enum RiskEngine {
    /// Computes the features for `event` from `inputs` and evaluates the live rules, and the
    /// shadow rules when given (on the same features: a shadow set can never change `decision`).
    public static func evaluate(_ event: RiskEvent, inputs: RiskInputs, lists: RiskLists = .empty,
                                suppressions: [RuleSuppression] = [], ruleSet: RuleSet, shadow: RuleSet? = nil,
                                configuration: FeatureConfiguration = .default) -> RiskEvaluation {
        let features = FeatureVector(event: event, inputs: inputs, configuration: configuration)
        let decision = evaluate(event, features: features, lists: lists, suppressions: suppressions, ruleSet: ruleSet)
        let shadowDecision = shadow.map {
            evaluate(event, features: features, lists: lists, suppressions: suppressions, ruleSet: $0)
        }
        return RiskEvaluation(decision: decision, shadow: shadowDecision)
    }

    /// Evaluates one rule set on precomputed features.
    public static func evaluate(_ event: RiskEvent, features: FeatureVector, lists: RiskLists = .empty,
                                suppressions: [RuleSuppression] = [], ruleSet: RuleSet) -> RiskDecision {
        var fired: [FiredRule] = []
        var score = 0
        var forced = RiskAction.allow
        var topReason: RiskReason?
        var topContribution = Int.min
        for rule in ruleSet.rules where rule.enabled && rule.condition.evaluate(features) {
            let suppressed = !suppressions.isEmpty && suppressions.contains { $0.applies(to: rule.id, for: event) }
            let contribution = suppressed ? 0 : rule.score
            fired.append(FiredRule(ruleID: rule.id, contribution: contribution, forcedDecision: rule.decision,
                                   suppressed: suppressed, observed: observe(rule.condition.reads, features)))
            guard !suppressed else { continue }
            score += contribution
            if let decision = rule.decision, decision > forced { forced = decision }
            let weight = rule.decision.map { _ in Int.max / 2 + contribution } ?? contribution
            if weight > topContribution {
                topContribution = weight
                topReason = rule.category
            }
        }
        let rulesAction = max(ruleSet.thresholds.action(for: score), forced)
        var action = rulesAction
        var reason = rulesAction == .allow ? nil : topReason
        let listMatch = lists.match(event)
        if let listMatch {
            switch listMatch.verdict {
            case .deny:
                action = max(action, .block)
                reason = .restriction
            case .allow:
                action = .allow
                reason = nil
            }
        }
        var challengeSatisfied = false
        if action == .challenge, event.secondFactorVerified {
            action = .allow
            challengeSatisfied = true
            reason = nil
        }
        return RiskDecision(eventID: event.id, action: action, score: score, rulesAction: rulesAction,
                            ruleSetVersion: ruleSet.version, fired: fired, listMatch: listMatch,
                            challengeSatisfied: challengeSatisfied, reason: reason,
                            summary: CustomerSummary.text(for: action, reason: reason, kind: event.kind))
    }

    static func observe(_ names: [String], _ features: FeatureVector) -> [ObservedValue] {
        var values: [ObservedValue] = []
        values.reserveCapacity(names.count)
        for name in names {
            guard let feature = FeatureCatalog.byName[name] else { continue }
            let value: RiskValue
            switch feature.read {
            case .number(let read): value = .number(read(features))
            case .bool(let read): value = .bool(read(features))
            case .string(let read): value = .string(read(features))
            }
            values.append(ObservedValue(name: name, value: value))
        }
        return values
    }
}

/// Customer-facing words for a decision: the action and a broad reason, never rules or numbers.
public enum CustomerSummary {
    public static func text(for action: RiskAction, reason: RiskReason?, kind: RiskEvent.Kind) -> Localized {
        let because = (reason ?? .unusualActivity).explanation
        let what: Localized = kind == .login ? Localized("This sign-in", "本次登录") : Localized("This payment", "本笔交易")
        switch action {
        case .allow:
            return Localized("", "")
        case .challenge:
            return Localized("\(what.en) needs your second factor because \(because.en). Enter the code from your authenticator app to continue.",
                             "由于\(because.zh)，\(what.zh)需要进行二次验证。请输入验证器应用中的验证码以继续。")
        case .review:
            return Localized("\(what.en) is being checked by our security team because \(because.en). The money is held safely, not lost; we will release it or return it to you, and tell you either way.",
                             "由于\(because.zh)，\(what.zh)正在接受安全审核。资金已被安全冻结，不会丢失；审核完成后我们会放行或退回，并通知您结果。")
        case .block:
            return Localized("\(what.en) was stopped to protect you because \(because.en). Nothing was taken from your balance. If it was you, contact support.",
                             "为保护您的资金安全，由于\(because.zh)，\(what.zh)已被拦截，余额未被扣除。如确为本人操作，请联系客服。")
        case .freeze:
            return Localized("Your account has been frozen to protect it because \(because.en). Money can still come in but not go out. Contact support to unfreeze it.",
                             "由于\(because.zh)，为保护您的资金安全，您的账户已被冻结：可以转入，但无法转出。请联系客服解冻。")
        }
    }
}
