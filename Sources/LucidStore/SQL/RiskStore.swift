import LucidCore

// MARK: Records

/// Keys of the remembered risk state: one row per customer, per payee and per source address.
///
/// The store does not know what the state means (the risk engine encodes it); it keeps
/// the bytes, a version that every update increments, and the time of the last update.
public enum RiskStateKey {
    /// Longest key accepted (a payee key is `payee:` plus `user:<uuid>` or a bank reference).
    public static let lengthMax = 300

    public static func customer(_ id: UserID) -> String { "customer:" + id.rawValue }
    public static func payee(_ payee: String) -> String { "payee:" + payee }
    public static func source(_ address: String) -> String { "source:" + address }
}

/// One stored state and its version.
public struct RiskStateRecord: Sendable, Hashable {
    public var key: String
    public var version: Int64
    /// The bytes (nil only for a row a writer is creating).
    public var data: [UInt8]?

    public init(key: String, version: Int64, data: [UInt8]?) {
        self.key = key
        self.version = version
        self.data = data
    }
}

/// A device a customer signed in with, and when it was first seen.
public struct DeviceSighting: Sendable, Hashable {
    public var device: String
    public var firstSeenAt: Timestamp
    public init(device: String, firstSeenAt: Timestamp) {
        self.device = device
        self.firstSeenAt = firstSeenAt
    }
}

/// A change of one state that never loses another's: it lands on the row as it is when the
/// write transaction holds it (locked on PostgreSQL), so two processes updating the same
/// customer both count.
///
/// The caller usually knows the row's current version and has already computed the new bytes
/// from it (`precomputed`): when the locked row still has that version, those bytes are written
/// as they are — no decoding or encoding while the write lock is held. Otherwise (another
/// request or process wrote in between) `apply` recomputes them from the locked row. `apply`
/// must be pure: a transaction retried after a serialization failure runs it again.
public struct RiskStateUpdate: Sendable {
    public var key: String
    /// The new bytes from the stored state (nil: nothing stored yet). The version lets a caller
    /// reuse a value it already decoded for exactly that version.
    public var apply: @Sendable (RiskStateRecord?) -> [UInt8]
    /// New bytes computed from the row at `precomputedFrom` (0: no row yet), used when that is still the version.
    public var precomputed: [UInt8]?
    public var precomputedFrom: Int64

    public init(key: String, precomputed: (from: Int64, data: [UInt8])? = nil,
                apply: @escaping @Sendable (RiskStateRecord?) -> [UInt8]) {
        precondition(!key.isEmpty && key.utf8.count <= RiskStateKey.lengthMax, "risk state keys are bounded")
        self.key = key
        self.apply = apply
        self.precomputed = precomputed?.data
        self.precomputedFrom = precomputed?.from ?? -1
    }
}

/// A rule that fired in a decision, as a row that SQL can count.
public struct RiskFiredRuleRecord: Sendable, Hashable {
    public var ruleID: String
    public var contribution: Int
    public var forcedDecision: String?
    public var suppressed: Bool
    /// Fired in the shadow (draft) rule set, not the live one.
    public var shadow: Bool

    public init(ruleID: String, contribution: Int, forcedDecision: String?, suppressed: Bool, shadow: Bool) {
        self.ruleID = ruleID
        self.contribution = contribution
        self.forcedDecision = forcedDecision
        self.suppressed = suppressed
        self.shadow = shadow
    }
}

/// A risk decision as stored: the headline columns plus the event, the context it was made
/// on and the full explanation as JSON (written by the risk engine's `Codable` values).
public struct RiskDecisionRecord: Sendable, Hashable {
    public var id: String
    public var userID: UserID
    /// `login`, `transfer`, `payment`, `withdrawal` or `topup`.
    public var eventKind: String
    /// The enforced action.
    public var action: String
    /// What the rules alone said, before lists and a satisfied challenge.
    public var rulesAction: String
    public var score: Int
    public var ruleSetVersion: String
    public var shadowAction: String?
    public var shadowRuleSetVersion: String?
    /// The money movement the decision was about, when one was created (held or posted).
    public var transactionID: TransferID?
    /// The event was fed to the features (it happened, or was refused by risk); false when
    /// something after the decision refused it (e.g. insufficient funds), so backtests skip it.
    public var recorded: Bool
    public var createdAt: Timestamp
    /// JSON of the risk event.
    public var event: String
    /// JSON: `{"context": …, "payee_context": …}` as they were at the decision.
    public var context: String
    /// JSON of the decision (fired rules with the values they saw, summary …).
    public var decision: String
    /// JSON of the shadow decision, when a shadow rule set ran.
    public var shadow: String?
    public var fired: [RiskFiredRuleRecord]
    /// Position in the decision log (set by the store; 0 before it is written).
    public var seq: Int64

    public init(id: String, userID: UserID, eventKind: String, action: String, rulesAction: String, score: Int,
                ruleSetVersion: String, shadowAction: String?, shadowRuleSetVersion: String?, transactionID: TransferID?,
                recorded: Bool, createdAt: Timestamp, event: String, context: String, decision: String, shadow: String?,
                fired: [RiskFiredRuleRecord], seq: Int64 = 0) {
        self.id = id
        self.userID = userID
        self.eventKind = eventKind
        self.action = action
        self.rulesAction = rulesAction
        self.score = score
        self.ruleSetVersion = ruleSetVersion
        self.shadowAction = shadowAction
        self.shadowRuleSetVersion = shadowRuleSetVersion
        self.transactionID = transactionID
        self.recorded = recorded
        self.createdAt = createdAt
        self.event = event
        self.context = context
        self.decision = decision
        self.shadow = shadow
        self.fired = fired
        self.seq = seq
    }
}

/// Where a held transfer is in review.
public enum RiskReviewState: String, Sendable, Hashable, CaseIterable, Codable {
    /// Waiting for an operator.
    case open
    /// An operator took it.
    case claimed
    /// Released: the held transfer was posted.
    case approved
    /// Refused: the held transfer was voided (money back to the customer).
    case rejected
    /// Nobody decided before the hold timed out: the money went back to the customer.
    case expired

    public var isClosed: Bool {
        switch self {
        case .open, .claimed: false
        case .approved, .rejected, .expired: true
        }
    }
}

/// A held transfer waiting for (or decided by) an operator.
public struct RiskReviewRecord: Sendable, Hashable {
    public var id: String
    public var decisionID: String
    public var transactionID: TransferID
    public var userID: UserID
    /// `transfer`, `payment` or `withdrawal`.
    public var kind: String
    public var amount: Int64
    public var currency: Currency
    /// The customer-safe reason category (`RiskReason` raw value).
    public var reason: String
    public var state: RiskReviewState
    public var createdAt: Timestamp
    /// When the hold times out and the money goes back on its own.
    public var expiresAt: Timestamp
    public var claimedBy: String?
    public var claimedAt: Timestamp?
    public var resolvedBy: String?
    public var resolvedAt: Timestamp?
    public var note: String?
    /// The reviewer also froze the account.
    public var froze: Bool

    public init(id: String, decisionID: String, transactionID: TransferID, userID: UserID, kind: String, amount: Int64,
                currency: Currency, reason: String, state: RiskReviewState = .open, createdAt: Timestamp, expiresAt: Timestamp,
                claimedBy: String? = nil, claimedAt: Timestamp? = nil, resolvedBy: String? = nil, resolvedAt: Timestamp? = nil,
                note: String? = nil, froze: Bool = false) {
        self.id = id
        self.decisionID = decisionID
        self.transactionID = transactionID
        self.userID = userID
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.reason = reason
        self.state = state
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.claimedBy = claimedBy
        self.claimedAt = claimedAt
        self.resolvedBy = resolvedBy
        self.resolvedAt = resolvedAt
        self.note = note
        self.froze = froze
    }
}

/// A move of a review to another state, with who, when and why.
public enum RiskReviewChange: Sendable, Hashable {
    case claim(by: String, at: Timestamp, note: String?)
    case approve(by: String, at: Timestamp, note: String)
    case reject(by: String, at: Timestamp, note: String, froze: Bool)
    case expire(at: Timestamp)

    public var target: RiskReviewState {
        switch self {
        case .claim: .claimed
        case .approve: .approved
        case .reject: .rejected
        case .expire: .expired
        }
    }
}

/// An operator's allow or deny entry (payee, device or country), for everyone or one customer.
public struct RiskListEntryRecord: Sendable, Hashable {
    public var id: String
    /// `payee`, `device` or `country`.
    public var kind: String
    public var value: String
    /// `allow` or `deny`.
    public var verdict: String
    public var userID: UserID?
    public var expiresAt: Timestamp?
    public var note: String
    public var createdBy: String
    public var createdAt: Timestamp

    public init(id: String, kind: String, value: String, verdict: String, userID: UserID?, expiresAt: Timestamp?, note: String,
                createdBy: String, createdAt: Timestamp) {
        self.id = id
        self.kind = kind
        self.value = value
        self.verdict = verdict
        self.userID = userID
        self.expiresAt = expiresAt
        self.note = note
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// One rule switched off for one customer until a time.
public struct RiskSuppressionRecord: Sendable, Hashable {
    public var id: String
    public var userID: UserID
    public var ruleID: String
    public var until: Timestamp
    public var note: String
    public var createdBy: String
    public var createdAt: Timestamp

    public init(id: String, userID: UserID, ruleID: String, until: Timestamp, note: String, createdBy: String, createdAt: Timestamp) {
        self.id = id
        self.userID = userID
        self.ruleID = ruleID
        self.until = until
        self.note = note
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// A rule set put in force (or, for the shadow slot without text, shadow mode switched off).
public struct RiskRuleSetRecord: Sendable, Hashable {
    public enum Slot: String, Sendable, Hashable, CaseIterable { case live, shadow }

    public var id: String
    public var slot: Slot
    /// The version the file declares; nil with `yaml` when shadow mode was switched off.
    public var version: String?
    public var yaml: String?
    public var createdBy: String
    public var createdAt: Timestamp
    public var seq: Int64

    public init(id: String, slot: Slot, version: String?, yaml: String?, createdBy: String, createdAt: Timestamp, seq: Int64 = 0) {
        precondition((version == nil) == (yaml == nil) && (slot == .shadow || yaml != nil), "a live set always has text")
        self.id = id
        self.slot = slot
        self.version = version
        self.yaml = yaml
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.seq = seq
    }
}

/// What one decided event writes: state updates, the decision, a review item when money
/// was held, and notifications and audit events — all in one transaction.
public struct RiskRecording: Sendable {
    public var updates: [RiskStateUpdate]
    public var decision: RiskDecisionRecord?
    public var review: RiskReviewRecord?
    public var effects: SideEffects

    public init(updates: [RiskStateUpdate] = [], decision: RiskDecisionRecord? = nil, review: RiskReviewRecord? = nil,
                effects: SideEffects = .none) {
        self.updates = updates
        self.decision = decision
        self.review = review
        self.effects = effects
    }
}

/// Feature-state updates applied to the current rows of `risk_states` inside a write transaction:
/// by `recordRisk` (logins, refused events) and by ledger batches (the features of money that
/// moved, written with it). The rows are locked first (PostgreSQL: `FOR UPDATE`, in key order),
/// so updates from other processes apply on top of each other instead of over.
enum RiskStateSQL {
    /// Applies `updates` in order (several of one key apply one after the other) and writes each
    /// changed row once with its version bumped per update. Returns the new state of every key.
    ///
    /// An update's precomputed bytes are used when they were made from the version found now;
    /// otherwise its `apply` recomputes them from the stored row (read only for those keys).
    static func apply(_ updates: [RiskStateUpdate], _ connection: any SQLConnection, _ dialect: SQLDialect,
                      at now: Timestamp) async throws -> [String: RiskStateRecord] {
        guard !updates.isEmpty else { return [:] }
        let keys = Array(Set(updates.map(\.key))).sorted()
        // Versions only: the bytes are read just for the keys whose precomputed change is stale.
        var versions = try await lockVersions(keys, connection, dialect)
        let missing = keys.filter { versions[$0] == nil }
        if !missing.isEmpty {
            // An empty row per new key first, so the row can be locked: two processes meeting a new
            // key both wait for the one that inserts it and then apply on top of it.
            for statement in EffectsSQL.rows(missing.map { [.text($0), .int(0), .blob([]), now.sqlValue] },
                                             "INSERT INTO risk_states (key, version, data, updated_at) VALUES", rowsPerStatement(dialect)) {
                try await connection.execute(SQLStatement(statement.text + " ON CONFLICT (key) DO NOTHING", binds: statement.binds))
            }
            versions.merge(try await lockVersions(missing, connection, dialect)) { $1 }
        }
        // A key's stored bytes are needed only when its first update here is stale: later ones apply
        // to what the earlier produced. All read in one query.
        var firstSeen: Set<String> = []
        var stale: [String] = []
        for update in updates where firstSeen.insert(update.key).inserted {
            let version = versions[update.key] ?? 0
            if version > 0, update.precomputed == nil || update.precomputedFrom != version { stale.append(update.key) }
        }
        var stored: [String: [UInt8]] = [:]
        for chunk in stale.chunked(inListMax) {
            for row in try await connection.query(SQLStatement(
                "SELECT key, data FROM risk_states WHERE key IN (\(SQLStatement.placeholders(chunk.count)))",
                binds: chunk.map(SQLValue.text))) {
                stored[try row.text("key")] = try row.blob("data")
            }
        }
        var states: [String: RiskStateRecord] = [:]
        for update in updates {
            let version = states[update.key]?.version ?? versions[update.key] ?? 0
            let data: [UInt8]
            if let precomputed = update.precomputed, update.precomputedFrom == version {
                data = precomputed
            } else if version == 0 {
                data = update.apply(nil)
            } else {
                data = update.apply(states[update.key] ?? RiskStateRecord(key: update.key, version: version, data: stored[update.key]))
            }
            states[update.key] = RiskStateRecord(key: update.key, version: version + 1, data: data)
        }
        let changed = states.keys.sorted().compactMap { key in states[key].flatMap { state in state.data.map { (key, state.version, $0) } } }
        switch dialect {
        case .sqlite:
            // One cached statement per row: no parsing, no round trip.
            for (key, version, data) in changed {
                try await connection.execute(SQLStatement("UPDATE risk_states SET version = ?, data = ?, updated_at = ? WHERE key = ?",
                                                          version, data, now, key))
            }
        case .postgres:
            // Many rows per statement: a round trip per key, with the batch's account locks held, would dominate it.
            for statement in EffectsSQL.rows(changed.map { [.text($0.0), .int($0.1), .blob($0.2), now.sqlValue] }, """
                UPDATE risk_states AS r SET version = v.version, data = v.data, updated_at = v.updated_at FROM (VALUES
                """, rowsPerStatement(dialect)) {
                try await connection.execute(SQLStatement(statement.text
                    + ") AS v(key, version, data, updated_at) WHERE r.key = v.key", binds: statement.binds))
            }
        }
        return states
    }

    /// Rows per multi-row statement: four values a row stays well under PostgreSQL's 65,535 parameters.
    private static func rowsPerStatement(_ dialect: SQLDialect) -> Int { dialect == .postgres ? 2_000 : 1 }
    /// Values per `IN (…)` list.
    private static let inListMax = 500

    /// The versions of `keys`' rows, locked for update on PostgreSQL (in key order, so two batches never deadlock).
    private static func lockVersions(_ keys: [String], _ connection: any SQLConnection, _ dialect: SQLDialect) async throws -> [String: Int64] {
        guard !keys.isEmpty else { return [:] }
        var versions: [String: Int64] = [:]
        for row in try await connection.query(SQLStatement(
            "SELECT key, version FROM risk_states WHERE key IN (\(SQLStatement.placeholders(keys.count))) ORDER BY key\(dialect.forUpdate)",
            binds: keys.sorted().map(SQLValue.text))) {
            versions[try row.text(0)] = try row.int(1)
        }
        return versions
    }

}

/// The INSERTs for risk decisions (and their fired rules) and review items.
enum RiskSQL {
    static func statements(decisions: [RiskDecisionRecord], reviews: [RiskReviewRecord], rowsPerStatement: Int) -> [SQLStatement] {
        guard !decisions.isEmpty || !reviews.isEmpty else { return [] }
        var decisionRows: [[SQLValue]] = []
        var firedRows: [[SQLValue]] = []
        for decision in decisions {
            decisionRows.append([.text(decision.id), decision.userID.sqlValue, .text(decision.eventKind), .text(decision.action),
                                 .text(decision.rulesAction), .int(Int64(decision.score)), .text(decision.ruleSetVersion),
                                 decision.shadowAction.sqlValue, decision.shadowRuleSetVersion.sqlValue, decision.transactionID.sqlValue,
                                 decision.recorded.sqlValue, decision.createdAt.sqlValue, .text(decision.event), .text(decision.context),
                                 .text(decision.decision), decision.shadow.sqlValue])
            for rule in decision.fired {
                firedRows.append([.text(decision.id), rule.shadow.sqlValue, .text(rule.ruleID), .int(Int64(rule.contribution)),
                                  rule.forcedDecision.sqlValue, rule.suppressed.sqlValue])
            }
        }
        let reviewRows: [[SQLValue]] = reviews.map { review in
            [.text(review.id), .text(review.decisionID), review.transactionID.sqlValue, review.userID.sqlValue, .text(review.kind),
             .int(review.amount), .text(review.currency.code), .text(review.reason), .text(review.state.rawValue),
             review.createdAt.sqlValue, review.expiresAt.sqlValue]
        }
        return EffectsSQL.rows(decisionRows, """
            INSERT INTO risk_decisions (id, user_id, event_kind, action, rules_action, score, rule_set_version, shadow_action,
                shadow_rule_set_version, transaction_id, recorded, created_at, event, context, decision, shadow) VALUES
            """, rowsPerStatement)
            + EffectsSQL.rows(firedRows, "INSERT INTO risk_fired_rules (decision_id, shadow, rule_id, contribution, forced_decision, suppressed) VALUES",
                              rowsPerStatement)
            + EffectsSQL.rows(reviewRows, """
                INSERT INTO risk_reviews (id, decision_id, transaction_id, user_id, kind, amount, currency, reason, state,
                    created_at, expires_at) VALUES
                """, rowsPerStatement)
    }
}

// MARK: Store operations

/// What risk monitoring (issue 6) needs from the database: remembered features that hold
/// across restarts and processes, the decision log, the review queue, lists, suppressions
/// and the rules in force.
public protocol RiskStore: Sendable {
    /// The stored states of `keys` (missing keys are absent), without locking: what a decision is made on.
    func riskStates(_ keys: [String]) async throws -> [String: RiskStateRecord]
    /// The devices `user` has signed in with and when each was first seen, oldest first, at most
    /// `limit` (a device is established once it was first seen long enough ago).
    func deviceSightings(of user: UserID, limit: Int) async throws -> [DeviceSighting]
    /// Writes recordings in one transaction: every state update is applied to the locked,
    /// current row (several updates of one key apply in order), then decisions, fired rules,
    /// reviews and effects are inserted. Returns the new state of every key updated.
    @discardableResult
    func recordRisk(_ recordings: [RiskRecording], at time: Timestamp) async throws -> [String: RiskStateRecord]

    func riskDecision(_ id: String) async throws -> RiskDecisionRecord?
    /// Decisions newest first, optionally for one customer.
    func riskDecisions(of user: UserID?, limit: Int, cursor: String?) async throws -> Page<RiskDecisionRecord>
    /// Every decision made at or after `since`, oldest first, streamed (for backtests).
    func forEachRiskDecision(since: Timestamp, _ body: (RiskDecisionRecord) throws -> Void) async throws

    func riskReview(_ id: String) async throws -> RiskReviewRecord?
    /// Reviews newest first, optionally in one state.
    func riskReviews(state: RiskReviewState?, limit: Int, cursor: String?) async throws -> Page<RiskReviewRecord>
    /// The reviews of these transactions (for the customer's view of held money).
    func riskReviews(transactions: [TransferID]) async throws -> [RiskReviewRecord]
    /// Open or claimed reviews whose hold has timed out, oldest first.
    func riskReviewsPastExpiry(now: Timestamp, limit: Int) async throws -> [RiskReviewRecord]
    /// Moves a review that is still in `from` (and, when given, claimed by `claimedBy`)
    /// to the change's state; false when it was not (someone else moved it first).
    func changeRiskReview(_ id: String, from: Set<RiskReviewState>, change: RiskReviewChange,
                          effects: SideEffects) async throws -> Bool

    func riskListEntries() async throws -> [RiskListEntryRecord]
    func addRiskListEntry(_ entry: RiskListEntryRecord, effects: SideEffects) async throws
    /// False when no such entry.
    func removeRiskListEntry(_ id: String, effects: SideEffects) async throws -> Bool
    func riskSuppressions() async throws -> [RiskSuppressionRecord]
    func addRiskSuppression(_ suppression: RiskSuppressionRecord, effects: SideEffects) async throws
    func removeRiskSuppression(_ id: String, effects: SideEffects) async throws -> Bool
    /// Removes list entries and suppressions that expired before `now`; returns how many.
    func purgeExpiredRiskEntries(now: Timestamp) async throws -> Int

    /// The newest rule set of each slot (the shadow one may be a "switched off" record).
    func riskRuleSets() async throws -> (live: RiskRuleSetRecord?, shadow: RiskRuleSetRecord?)
    func saveRiskRuleSet(_ record: RiskRuleSetRecord, effects: SideEffects) async throws
    /// A counter bumped by every change of rules, lists or suppressions.
    func riskGeneration() async throws -> Int64
}

extension SQLStore: RiskStore {
    public func riskStates(_ keys: [String]) async throws -> [String: RiskStateRecord] {
        guard !keys.isEmpty else { return [:] }
        let unique = Array(Set(keys)).sorted()
        let rows = try await publicErrors {
            try await database.read { connection in
                var rows: [SQLRow] = []
                for chunk in unique.chunked(RiskStatesRead.keysPerRead) {
                    // Padded with its first key (a repeat changes nothing in an IN list): one statement text, prepared once.
                    let padded = Array(chunk) + Array(repeating: chunk.first!, count: RiskStatesRead.keysPerRead - chunk.count)
                    rows += try await connection.query(SQLStatement(RiskStatesRead.self, binds: padded.map(SQLValue.text)))
                }
                return rows
            }
        }
        var states: [String: RiskStateRecord] = [:]
        for row in rows {
            let key = try row.text(0)
            let version = try row.int(1)
            // A version-0 row is the empty placeholder a first writer locks: nothing stored yet.
            if version > 0 { states[key] = RiskStateRecord(key: key, version: version, data: try row.blob("data")) }
        }
        return states
    }

    public func deviceSightings(of user: UserID, limit: Int) async throws -> [DeviceSighting] {
        try await read(SQLStatement(DeviceSightingsRead.self, user, limit)).map { DeviceSighting(device: try $0.text(0), firstSeenAt: try $0.timestamp("first_seen_at")) }
    }

    /// Every risk decision reads the features of the customer and the payee (and a few more keys).
    enum RiskStatesRead: PreparedRead {
        static let keysPerRead = 4
        static let text = "SELECT key, version, data FROM risk_states WHERE key IN (\(SQLStatement.placeholders(keysPerRead)))"
    }

    /// Every risk decision on a movement (when the in-memory list is stale).
    enum DeviceSightingsRead: PreparedRead {
        static let text = """
            SELECT value, first_seen_at FROM known_devices WHERE user_id = ? AND kind = 'device' ORDER BY first_seen_at, value LIMIT ?
            """
    }

    @discardableResult
    public func recordRisk(_ recordings: [RiskRecording], at now: Timestamp) async throws -> [String: RiskStateRecord] {
        guard !recordings.isEmpty else { return [:] }
        let dialect = database.dialect
        return try await publicErrors {
            try await database.write { connection in
                let updates = recordings.flatMap { $0.updates + $0.effects.riskStates }
                let states = try await RiskStateSQL.apply(updates, connection, dialect, at: now)
                for recording in recordings {
                    var effects = recording.effects
                    effects.riskStates = []
                    if let decision = recording.decision { effects.riskDecisions.insert(decision, at: 0) }
                    if let review = recording.review { effects.riskReviews.insert(review, at: 0) }
                    try await write(effects, connection)
                }
                return states
            }
        }
    }

    // MARK: Decisions

    static let decisionColumns = """
        seq, id, user_id, event_kind, action, rules_action, score, rule_set_version, shadow_action, shadow_rule_set_version,
        transaction_id, recorded, created_at, event, context, decision, shadow
        """

    static func decodeDecision(_ row: SQLRow, fired: [RiskFiredRuleRecord] = []) throws -> RiskDecisionRecord {
        RiskDecisionRecord(
            id: try row.text("id"), userID: UserID(try row.text("user_id")), eventKind: try row.text("event_kind"),
            action: try row.text("action"), rulesAction: try row.text("rules_action"), score: Int(try row.int("score")),
            ruleSetVersion: try row.text("rule_set_version"), shadowAction: try row.optionalText("shadow_action"),
            shadowRuleSetVersion: try row.optionalText("shadow_rule_set_version"),
            transactionID: try row.optionalText("transaction_id").map(TransferID.init), recorded: try row.int("recorded") == 1,
            createdAt: try row.timestamp("created_at"), event: try row.text("event"), context: try row.text("context"),
            decision: try row.text("decision"), shadow: try row.optionalText("shadow"), fired: fired, seq: try row.int("seq"))
    }

    public func riskDecision(_ id: String) async throws -> RiskDecisionRecord? {
        try await publicErrors {
            try await database.read { connection -> RiskDecisionRecord? in
                guard let row = try await connection.queryOne(SQLStatement(
                    "SELECT \(Self.decisionColumns) FROM risk_decisions WHERE id = ?", id)) else { return nil }
                let fired = try await connection.query(SQLStatement("""
                    SELECT rule_id, contribution, forced_decision, suppressed, shadow FROM risk_fired_rules
                    WHERE decision_id = ? ORDER BY shadow, rule_id
                    """, id)).map { row in
                    RiskFiredRuleRecord(ruleID: try row.text(0), contribution: Int(try row.int(1)), forcedDecision: try row[2].optionalText(),
                                        suppressed: try row.int(3) == 1, shadow: try row.int(4) == 1)
                }
                return try Self.decodeDecision(row, fired: fired)
            }
        }
    }

    public func riskDecisions(of user: UserID?, limit: Int, cursor: String?) async throws -> Page<RiskDecisionRecord> {
        var before = Int64.max
        if let cursor {
            guard let seq = Int64(cursor), seq > 0 else { throw LucidError(.invalidCursor) }
            before = seq
        }
        let filter = user == nil ? "" : "user_id = ? AND "
        let binds: [SQLValue] = (user.map { [SQLValue.text($0.rawValue)] } ?? []) + [.int(before), .int(Int64(limit + 1))]
        let rows = try await read(SQLStatement("""
            SELECT \(Self.decisionColumns) FROM risk_decisions WHERE \(filter)seq < ? ORDER BY seq DESC LIMIT ?
            """, binds: binds))
        let items = try rows.prefix(limit).map { try Self.decodeDecision($0) }
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last.map { String($0.seq) } : nil)
    }

    public func forEachRiskDecision(since: Timestamp, _ body: (RiskDecisionRecord) throws -> Void) async throws {
        try await publicErrors {
            try await database.snapshot([SQLStatement("""
                SELECT \(Self.decisionColumns) FROM risk_decisions WHERE created_at >= ? ORDER BY created_at, seq
                """, since)]) { _, row in try body(try Self.decodeDecision(row)) }
        }
    }

    // MARK: Reviews

    static let reviewColumns = """
        id, decision_id, transaction_id, user_id, kind, amount, currency, reason, state, created_at, expires_at, claimed_by,
        claimed_at, resolved_by, resolved_at, note, froze
        """

    static func decodeReview(_ row: SQLRow) throws -> RiskReviewRecord? {
        guard let currency = Currency.named(try row.text("currency")),
              let state = RiskReviewState(rawValue: try row.text("state")) else { return nil }
        return RiskReviewRecord(
            id: try row.text("id"), decisionID: try row.text("decision_id"), transactionID: TransferID(try row.text("transaction_id")),
            userID: UserID(try row.text("user_id")), kind: try row.text("kind"), amount: try row.int("amount"), currency: currency,
            reason: try row.text("reason"), state: state, createdAt: try row.timestamp("created_at"),
            expiresAt: try row.timestamp("expires_at"), claimedBy: try row.optionalText("claimed_by"),
            claimedAt: try row.optionalTimestamp("claimed_at"), resolvedBy: try row.optionalText("resolved_by"),
            resolvedAt: try row.optionalTimestamp("resolved_at"), note: try row.optionalText("note"), froze: try row.int("froze") == 1)
    }

    public func riskReview(_ id: String) async throws -> RiskReviewRecord? {
        try await read(SQLStatement("SELECT \(Self.reviewColumns) FROM risk_reviews WHERE id = ?", id)).first.flatMap(Self.decodeReview)
    }

    public func riskReviews(state: RiskReviewState?, limit: Int, cursor: String?) async throws -> Page<RiskReviewRecord> {
        let before = try Self.cursor(cursor)
        let filter = state == nil ? "" : "state = ? AND "
        let binds: [SQLValue] = (state.map { [SQLValue.text($0.rawValue)] } ?? []) + [.text(before ?? "~"), .int(Int64(limit + 1))]
        // Ids are time-ordered (UUIDv7): newest first without a sequence column.
        let rows = try await read(SQLStatement("""
            SELECT \(Self.reviewColumns) FROM risk_reviews WHERE \(filter)id < ? ORDER BY id DESC LIMIT ?
            """, binds: binds))
        let items = try rows.prefix(limit).compactMap(Self.decodeReview)
        return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    public func riskReviews(transactions: [TransferID]) async throws -> [RiskReviewRecord] {
        guard !transactions.isEmpty else { return [] }
        return try await read(SQLStatement("""
            SELECT \(Self.reviewColumns) FROM risk_reviews WHERE transaction_id IN (\(SQLStatement.placeholders(transactions.count)))
            """, binds: transactions.map { .text($0.rawValue) })).compactMap(Self.decodeReview)
    }

    public func riskReviewsPastExpiry(now: Timestamp, limit: Int) async throws -> [RiskReviewRecord] {
        try await read(SQLStatement("""
            SELECT \(Self.reviewColumns) FROM risk_reviews WHERE state IN ('open', 'claimed') AND expires_at <= ?
            ORDER BY expires_at LIMIT ?
            """, now, limit)).compactMap(Self.decodeReview)
    }

    public func changeRiskReview(_ id: String, from: Set<RiskReviewState>, change: RiskReviewChange,
                                 effects: SideEffects) async throws -> Bool {
        precondition(!from.isEmpty, "a change starts from at least one state")
        let states = from.map(\.rawValue).sorted()
        let guardClause = "id = ? AND state IN (\(SQLStatement.placeholders(states.count)))"
        let statement: SQLStatement
        switch change {
        case .claim(let by, let at, let note):
            statement = SQLStatement("UPDATE risk_reviews SET state = 'claimed', claimed_by = ?, claimed_at = ?, note = COALESCE(?, note) WHERE \(guardClause)",
                                     binds: [.text(by), at.sqlValue, note.sqlValue, .text(id)] + states.map(SQLValue.text))
        case .approve(let by, let at, let note):
            statement = SQLStatement("UPDATE risk_reviews SET state = 'approved', resolved_by = ?, resolved_at = ?, note = ? WHERE \(guardClause)",
                                     binds: [.text(by), at.sqlValue, .text(note), .text(id)] + states.map(SQLValue.text))
        case .reject(let by, let at, let note, let froze):
            statement = SQLStatement("UPDATE risk_reviews SET state = 'rejected', resolved_by = ?, resolved_at = ?, note = ?, froze = ? WHERE \(guardClause)",
                                     binds: [.text(by), at.sqlValue, .text(note), froze.sqlValue, .text(id)] + states.map(SQLValue.text))
        case .expire(let at):
            statement = SQLStatement("UPDATE risk_reviews SET state = 'expired', resolved_by = 'system:hold-expiry', resolved_at = ? WHERE \(guardClause)",
                                     binds: [at.sqlValue, .text(id)] + states.map(SQLValue.text))
        }
        return try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(statement)
                if changed == 1 { try await write(effects, connection) }
                return changed == 1
            }
        }
    }

    // MARK: Lists and suppressions

    public func riskListEntries() async throws -> [RiskListEntryRecord] {
        try await read(SQLStatement("""
            SELECT id, kind, value, verdict, user_id, expires_at, note, created_by, created_at FROM risk_list_entries ORDER BY id
            """)).map { row in
            RiskListEntryRecord(id: try row.text("id"), kind: try row.text("kind"), value: try row.text("value"),
                                verdict: try row.text("verdict"), userID: try row.optionalText("user_id").map(UserID.init),
                                expiresAt: try row.optionalTimestamp("expires_at"), note: try row.text("note"),
                                createdBy: try row.text("created_by"), createdAt: try row.timestamp("created_at"))
        }
    }

    public func addRiskListEntry(_ entry: RiskListEntryRecord, effects: SideEffects) async throws {
        try await changeRiskConfiguration(SQLStatement("""
            INSERT INTO risk_list_entries (id, kind, value, verdict, user_id, expires_at, note, created_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, entry.id, entry.kind, entry.value, entry.verdict, entry.userID, entry.expiresAt, entry.note, entry.createdBy,
            entry.createdAt), effects: effects)
    }

    public func removeRiskListEntry(_ id: String, effects: SideEffects) async throws -> Bool {
        try await changeRiskConfiguration(SQLStatement("DELETE FROM risk_list_entries WHERE id = ?", id), effects: effects) == 1
    }

    public func riskSuppressions() async throws -> [RiskSuppressionRecord] {
        try await read(SQLStatement("""
            SELECT id, user_id, rule_id, until_at, note, created_by, created_at FROM risk_suppressions ORDER BY id
            """)).map { row in
            RiskSuppressionRecord(id: try row.text("id"), userID: UserID(try row.text("user_id")), ruleID: try row.text("rule_id"),
                                  until: try row.timestamp("until_at"), note: try row.text("note"),
                                  createdBy: try row.text("created_by"), createdAt: try row.timestamp("created_at"))
        }
    }

    public func addRiskSuppression(_ suppression: RiskSuppressionRecord, effects: SideEffects) async throws {
        try await changeRiskConfiguration(SQLStatement("""
            INSERT INTO risk_suppressions (id, user_id, rule_id, until_at, note, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, suppression.id, suppression.userID, suppression.ruleID, suppression.until, suppression.note, suppression.createdBy,
            suppression.createdAt), effects: effects)
    }

    public func removeRiskSuppression(_ id: String, effects: SideEffects) async throws -> Bool {
        try await changeRiskConfiguration(SQLStatement("DELETE FROM risk_suppressions WHERE id = ?", id), effects: effects) == 1
    }

    public func purgeExpiredRiskEntries(now: Timestamp) async throws -> Int {
        try await publicErrors {
            try await database.write { connection in
                let lists = try await connection.execute(SQLStatement(
                    "DELETE FROM risk_list_entries WHERE expires_at IS NOT NULL AND expires_at <= ?", now))
                let suppressions = try await connection.execute(SQLStatement("DELETE FROM risk_suppressions WHERE until_at <= ?", now))
                if lists + suppressions > 0 {
                    try await connection.execute(SQLStatement("UPDATE risk_generation SET generation = generation + 1 WHERE id = 1"))
                }
                return lists + suppressions
            }
        }
    }

    // MARK: Rules

    public func riskRuleSets() async throws -> (live: RiskRuleSetRecord?, shadow: RiskRuleSetRecord?) {
        var found: [RiskRuleSetRecord.Slot: RiskRuleSetRecord] = [:]
        for slot in RiskRuleSetRecord.Slot.allCases {
            found[slot] = try await read(SQLStatement("""
                SELECT seq, id, slot, version, yaml, created_by, created_at FROM risk_rule_sets WHERE slot = ? ORDER BY seq DESC LIMIT 1
                """, slot.rawValue)).first.map { row in
                RiskRuleSetRecord(id: try row.text("id"), slot: slot, version: try row.optionalText("version"),
                                  yaml: try row.optionalText("yaml"), createdBy: try row.text("created_by"),
                                  createdAt: try row.timestamp("created_at"), seq: try row.int("seq"))
            }
        }
        return (found[.live], found[.shadow])
    }

    public func saveRiskRuleSet(_ record: RiskRuleSetRecord, effects: SideEffects) async throws {
        try await changeRiskConfiguration(SQLStatement("""
            INSERT INTO risk_rule_sets (id, slot, version, yaml, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)
            """, record.id, record.slot.rawValue, record.version, record.yaml, record.createdBy, record.createdAt), effects: effects)
    }

    public func riskGeneration() async throws -> Int64 {
        try await read(SQLStatement("SELECT generation FROM risk_generation WHERE id = 1")).first?.int(0) ?? 0
    }

    /// A change of what every process must load (rules, lists, suppressions): the statement,
    /// the generation bump other processes poll for, and the audit trail — one transaction.
    @discardableResult
    private func changeRiskConfiguration(_ statement: SQLStatement, effects: SideEffects) async throws -> Int {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(statement)
                guard changed > 0 else { return 0 }
                try await connection.execute(SQLStatement("UPDATE risk_generation SET generation = generation + 1 WHERE id = 1"))
                try await write(effects, connection)
                return changed
            }
        }
    }
}
