import LucidCore
import Synchronization

// MARK: Records

/// A notification written to the outbox: shown at `GET /v1/notifications` and
/// delivered to the configured webhooks. `params` are rendered into both
/// languages when read; `secret` (a reset link, a one-time code) travels only
/// in the sealed delivery rows and is scrubbed once delivered.
public struct OutboxMessage: Sendable, Hashable {
    public enum Category: String, Sendable, Codable { case security, transaction, support }

    public var id: String
    public var userID: UserID
    public var category: Category
    public var type: String
    /// JSON object text with the values the message mentions.
    public var payload: String
    public var createdAt: Timestamp
    /// Sealed secret for the delivery (never stored in the readable notification).
    public var sealedSecret: [UInt8]?

    public init(id: String, userID: UserID, category: Category, type: String, payload: String, createdAt: Timestamp,
                sealedSecret: [UInt8]? = nil) {
        self.id = id
        self.userID = userID
        self.category = category
        self.type = type
        self.payload = payload
        self.createdAt = createdAt
        self.sealedSecret = sealedSecret
    }
}

/// A notification as the owner reads it.
public struct NotificationRecord: Sendable, Hashable {
    public var id: String
    public var category: OutboxMessage.Category
    public var type: String
    public var payload: String
    public var createdAt: Timestamp
    public var readAt: Timestamp?
    public var seq: Int64
}

/// One attempt-tracked delivery of a notification to one webhook endpoint.
public struct DeliveryRecord: Sendable, Hashable {
    public var id: String
    public var notificationID: String
    public var endpoint: String
    public var attempts: Int
    public var userID: UserID
    public var type: String
    public var category: OutboxMessage.Category
    public var payload: String
    public var createdAt: Timestamp
    public var sealedSecret: [UInt8]?
}

/// An append-only security event.
public struct AuditEntry: Sendable, Hashable {
    public var id: String
    public var at: Timestamp
    /// `user:<id>`, `operator:<name>`, `system:<component>` or `anonymous`.
    public var actor: String
    public var action: String
    public var targetUserID: UserID?
    public var sourceAddress: String?
    /// JSON object text with the event's particulars (never secrets).
    public var details: String
    public var seq: Int64

    public init(id: String, at: Timestamp, actor: String, action: String, targetUserID: UserID?, sourceAddress: String?,
                details: String, seq: Int64 = 0) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.targetUserID = targetUserID
        self.sourceAddress = sourceAddress
        self.details = details
        self.seq = seq
    }
}

/// What a change also writes, in the same transaction: its audit events and notifications
/// (and, for money crossing a rail, the rail item and alert rows that go with it).
public struct SideEffects: Sendable {
    public var audit: [AuditEntry] = []
    public var notifications: [OutboxMessage] = []
    public var gateway: [GatewayEffect] = []
    /// Risk decisions (with their fired rules) and review items written with the money they are
    /// about, so a crash can never leave a movement without its decision or a hold without its review.
    public var riskDecisions: [RiskDecisionRecord] = []
    public var riskReviews: [RiskReviewRecord] = []
    /// What the risk features learn from the movement, applied to the locked current rows in the
    /// same transaction (`RiskStateSQL.apply`): the features never miss, nor count twice, money that moved.
    /// Only ledger batches and `recordRisk` write these (they need the rows read first).
    public var riskStates: [RiskStateUpdate] = []
    public init(audit: [AuditEntry] = [], notifications: [OutboxMessage] = [], gateway: [GatewayEffect] = [],
                riskDecisions: [RiskDecisionRecord] = [], riskReviews: [RiskReviewRecord] = [], riskStates: [RiskStateUpdate] = []) {
        self.audit = audit
        self.notifications = notifications
        self.gateway = gateway
        self.riskDecisions = riskDecisions
        self.riskReviews = riskReviews
        self.riskStates = riskStates
    }
    public static let none = SideEffects()

    public var isEmpty: Bool {
        audit.isEmpty && notifications.isEmpty && gateway.isEmpty && riskDecisions.isEmpty && riskReviews.isEmpty && riskStates.isEmpty
    }

    /// Adds `other`'s rows after these (a batch gathers its commands' effects).
    public mutating func append(_ other: SideEffects) {
        audit += other.audit
        notifications += other.notifications
        gateway += other.gateway
        riskDecisions += other.riskDecisions
        riskReviews += other.riskReviews
        riskStates += other.riskStates
    }
}

/// The security state of an account that only sign-in and second-factor checks read.
public struct UserSecurity: Sendable, Hashable {
    public var lockout: LockoutState
    /// Sealed TOTP secret (nil: two-factor off) and the enrolment waiting for confirmation.
    public var totpSecret: [UInt8]?
    public var totpPendingSecret: [UInt8]?
    public var totpLastStep: Int64?
}

/// A device or country an account has signed in from before.
public struct KnownSighting: Sendable, Hashable {
    public enum Kind: String, Sendable { case device, country }
    public var kind: Kind
    public var value: String
    public init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// How a user's status changes.
public enum FreezeChange: Sendable {
    case freeze(by: String, reason: String, coolingOffUntil: Timestamp?)
    case unfreeze
}

// MARK: Store operations

/// What account protection (issue 4) needs from the database. Every change
/// writes its audit events and notifications in the same transaction, and every
/// counter (lockouts, rate windows, TOTP steps, code and token use) lives in the
/// database so it holds across processes.
public protocol AccountProtectionStore: Sendable {
    func userSecurity(_ id: UserID) async throws -> UserSecurity?
    /// Counts one request against a rate window and says whether it may go on.
    func admit(key: String, policy: RateLimitPolicy, now: Timestamp) async throws -> RateLimitPolicy.Decision
    /// Whether one more would be admitted, without counting it (for limits on failures only).
    func peek(key: String, policy: RateLimitPolicy, now: Timestamp) async throws -> RateLimitPolicy.Decision
    /// Stores a new lockout state (computed by the caller from the current one) with its effects.
    func updateLockout(_ user: UserID, _ change: @Sendable (LockoutState) -> (LockoutState, SideEffects)) async throws
    func sightings(of user: UserID) async throws -> [KnownSighting]
    /// A successful sign-in: resets the lockout, stores the session, remembers device and country,
    /// optionally replaces the password hash (stronger parameters) — one transaction.
    func signIn(_ session: SessionRecord, rehash: String?, sightings: [KnownSighting], effects: SideEffects) async throws
    func sessions(of user: UserID) async throws -> [SessionRecord]
    /// Revokes one session of `user` (false: not theirs or already revoked).
    func revoke(session: SessionID, of user: UserID, reason: String, at: Timestamp, effects: SideEffects) async throws -> Bool
    /// Revokes every live session of `user` except `keeping`; returns how many.
    func revokeSessions(of user: UserID, except keeping: SessionID?, reason: String, at: Timestamp,
                        effects: SideEffects) async throws -> Int
    /// Marks a session as seen (callers throttle this).
    func touch(session: SessionID, at: Timestamp) async throws
    /// Accepts a TOTP time step once: false when this step (or a later one) was used already.
    func claimTOTPStep(_ user: UserID, step: Int64) async throws -> Bool
    /// Burns one unused recovery code: false when it was used already.
    func useRecoveryCode(_ user: UserID, position: Int, at: Timestamp, effects: SideEffects) async throws -> Bool
    func recoveryCodeHashes(of user: UserID) async throws -> [(position: Int, hash: String, used: Bool)]
    func setPendingTOTP(_ user: UserID, sealedSecret: [UInt8]?, effects: SideEffects) async throws
    func enableTOTP(_ user: UserID, sealedSecret: [UInt8], step: Int64, recoveryCodeHashes: [String], at: Timestamp,
                    effects: SideEffects) async throws
    func disableTOTP(_ user: UserID, effects: SideEffects) async throws
    /// Replaces the password hash; other sessions are revoked (all when `keeping` is nil).
    func changePassword(_ user: UserID, hash: String, at: Timestamp, keeping: SessionID?, effects: SideEffects) async throws
    func changeStatus(_ user: UserID, _ change: FreezeChange, at: Timestamp, effects: SideEffects) async throws
    func recordActivity(_ user: UserID, at: Timestamp) async throws
    func createToken(hash: [UInt8], purpose: String, user: UserID, at: Timestamp, expiresAt: Timestamp,
                     effects: SideEffects) async throws
    /// The user of a token still usable at `at`, without using it.
    func tokenOwner(hash: [UInt8], purpose: String, at: Timestamp) async throws -> UserID?
    /// Uses a token once: its user, or nil when unknown, used, expired or for another purpose.
    func consumeToken(hash: [UInt8], purpose: String, at: Timestamp) async throws -> UserID?
    func writeEffects(_ effects: SideEffects) async throws
    func notifications(of user: UserID, limit: Int, cursor: String?) async throws -> Page<NotificationRecord>
    func markNotificationsRead(of user: UserID, upTo: String?, at: Timestamp) async throws -> Int
    func auditEntries(of user: UserID?, limit: Int, cursor: String?) async throws -> Page<AuditEntry>
    /// Deliveries whose next attempt is due, oldest first.
    func dueDeliveries(at: Timestamp, limit: Int) async throws -> [DeliveryRecord]
    func deliverySucceeded(_ id: String, at: Timestamp) async throws
    func deliveryFailed(_ id: String, error: String, nextAttemptAt: Timestamp?) async throws
    func deliveryCounts() async throws -> [String: Int]
    /// Whether `user` ever sent money to `payee` (a first-time payee needs a second factor).
    func hasPaid(_ user: UserID, _ payee: UserID) async throws -> Bool
    /// The first result stored for an idempotency key, if any.
    func idempotentResult(scope: String, key: String) async throws -> (requestHash: String, transactionID: TransferID, statusCode: Int)?
}

extension SQLStore: AccountProtectionStore {
    /// Webhook endpoints every new notification is delivered to (set once at start-up).
    public func setDeliveryEndpoints(_ endpoints: [String]) { deliveryEndpoints.set(endpoints) }

    public func userSecurity(_ id: UserID) async throws -> UserSecurity? {
        try await read(SQLStatement("""
            SELECT failed_logins, lock_level, locked_until, last_failed_login_at, totp_secret, totp_pending_secret, totp_last_step
            FROM users WHERE id = ?
            """, id)).first.map { row in
            UserSecurity(
                lockout: LockoutState(consecutiveFailures: Int(try row.int("failed_logins")), level: Int(try row.int("lock_level")),
                                      lockedUntil: try row.optionalTimestamp("locked_until"),
                                      lastFailureAt: try row.optionalTimestamp("last_failed_login_at")),
                totpSecret: row["totp_secret"] == .null ? nil : try row.blob("totp_secret"),
                totpPendingSecret: row["totp_pending_secret"] == .null ? nil : try row.blob("totp_pending_secret"),
                totpLastStep: try row.optionalInt("totp_last_step"))
        }
    }

    public func admit(key: String, policy: RateLimitPolicy, now: Timestamp) async throws -> RateLimitPolicy.Decision {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    INSERT INTO rate_windows (key, window_start, current_count, previous_count) VALUES (?, 0, 0, 0)
                    ON CONFLICT (key) DO NOTHING
                    """, key))
                guard let row = try await connection.queryOne(SQLStatement("""
                    SELECT window_start, current_count, previous_count FROM rate_windows WHERE key = ?\(database.dialect.forUpdate)
                    """, key)) else { preconditionFailure("inserted above") }
                let window = RateWindow(windowStart: try row.timestamp("window_start"), currentCount: Int(try row.int("current_count")),
                                        previousCount: Int(try row.int("previous_count")))
                let (next, decision) = policy.admit(window, at: now)
                try await connection.execute(SQLStatement("""
                    UPDATE rate_windows SET window_start = ?, current_count = ?, previous_count = ? WHERE key = ?
                    """, next.windowStart, next.currentCount, next.previousCount, key))
                return decision
            }
        }
    }

    public func peek(key: String, policy: RateLimitPolicy, now: Timestamp) async throws -> RateLimitPolicy.Decision {
        guard let row = try await read(SQLStatement("SELECT window_start, current_count, previous_count FROM rate_windows WHERE key = ?",
                                                    key)).first else {
            return RateLimitPolicy.Decision(allowed: true, retryAfterSeconds: 0)
        }
        let window = RateWindow(windowStart: try row.timestamp("window_start"), currentCount: Int(try row.int("current_count")),
                                previousCount: Int(try row.int("previous_count")))
        return policy.admit(window, at: now).1
    }

    public func updateLockout(_ user: UserID, _ change: @Sendable (LockoutState) -> (LockoutState, SideEffects)) async throws {
        try await publicErrors {
            try await database.write { connection in
                guard let row = try await connection.queryOne(SQLStatement("""
                    SELECT failed_logins, lock_level, locked_until, last_failed_login_at FROM users WHERE id = ?\(database.dialect.forUpdate)
                    """, user)) else { return }
                let current = LockoutState(consecutiveFailures: Int(try row.int("failed_logins")), level: Int(try row.int("lock_level")),
                                           lockedUntil: try row.optionalTimestamp("locked_until"),
                                           lastFailureAt: try row.optionalTimestamp("last_failed_login_at"))
                let (next, effects) = change(current)
                guard next != current || !effects.audit.isEmpty || !effects.notifications.isEmpty else { return }
                try await connection.execute(SQLStatement("""
                    UPDATE users SET failed_logins = ?, lock_level = ?, locked_until = ?, last_failed_login_at = ? WHERE id = ?
                    """, next.consecutiveFailures, next.level, next.lockedUntil, next.lastFailureAt, user))
                try await write(effects, connection)
            }
        }
    }

    public func sightings(of user: UserID) async throws -> [KnownSighting] {
        try await read(SQLStatement(SightingsRead.self, user)).compactMap { row in
            guard let kind = KnownSighting.Kind(rawValue: try row.text(0)) else { return nil }
            return KnownSighting(kind: kind, value: try row.text(1))
        }
    }

    /// Every sign-in.
    enum SightingsRead: PreparedRead {
        static let text = "SELECT kind, value FROM known_devices WHERE user_id = ?"
    }

    public func signIn(_ session: SessionRecord, rehash: String?, sightings: [KnownSighting], effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE users SET failed_logins = 0, lock_level = 0, locked_until = NULL, last_failed_login_at = NULL WHERE id = ?
                    """, session.userID))
                if let rehash {
                    try await connection.execute(SQLStatement("UPDATE users SET password_hash = ? WHERE id = ?", rehash, session.userID))
                }
                try await connection.execute(SQLStatement("""
                    INSERT INTO sessions (id, user_id, token_hash, device_id, source_address, created_at, expires_at, revoked_at,
                        last_seen_at, country, user_agent)
                    VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
                    """, session.id, session.userID, session.tokenHash, session.deviceID, session.sourceAddress, session.createdAt,
                    session.expiresAt, session.createdAt, session.country, session.userAgent))
                for sighting in sightings {
                    try await connection.execute(SQLStatement("""
                        INSERT INTO known_devices (user_id, kind, value, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, kind, value) DO UPDATE SET last_seen_at = excluded.last_seen_at
                        """, session.userID, sighting.kind.rawValue, sighting.value, session.createdAt, session.createdAt))
                }
                try await write(effects, connection)
            }
        }
    }

    public func sessions(of user: UserID) async throws -> [SessionRecord] {
        try await read(SQLStatement("""
            SELECT \(SQLStore.sessionColumns()) FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 200
            """, user)).map(SQLStore.decodeSession)
    }

    public func revoke(session: SessionID, of user: UserID, reason: String, at time: Timestamp, effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(SQLStatement("""
                    UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
                    """, time, reason, session, user))
                if changed > 0 { try await write(effects, connection) }
                return changed > 0
            }
        }
    }

    public func revokeSessions(of user: UserID, except keeping: SessionID?, reason: String, at time: Timestamp,
                               effects: SideEffects) async throws -> Int {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(SQLStatement("""
                    UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?
                    """, time, reason, user, keeping?.rawValue ?? ""))
                try await write(effects, connection)
                return changed
            }
        }
    }

    public func touch(session: SessionID, at time: Timestamp) async throws {
        try await write(SQLStatement("UPDATE sessions SET last_seen_at = ? WHERE id = ?", time, session))
    }

    public func claimTOTPStep(_ user: UserID, step: Int64) async throws -> Bool {
        try await write(SQLStatement("""
            UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)
            """, step, user, step)) == 1
    }

    public func useRecoveryCode(_ user: UserID, position: Int, at time: Timestamp, effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(SQLStatement("""
                    UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND position = ? AND used_at IS NULL
                    """, time, user, position))
                if changed == 1 { try await write(effects, connection) }
                return changed == 1
            }
        }
    }

    public func recoveryCodeHashes(of user: UserID) async throws -> [(position: Int, hash: String, used: Bool)] {
        try await read(SQLStatement("SELECT position, code_hash, used_at FROM recovery_codes WHERE user_id = ? ORDER BY position", user))
            .map { row in (Int(try row.int(0)), try row.text(1), row[2] != .null) }
    }

    public func setPendingTOTP(_ user: UserID, sealedSecret: [UInt8]?, effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("UPDATE users SET totp_pending_secret = ? WHERE id = ?",
                                                          sealedSecret.map(SQLValue.blob) ?? .null, user))
                try await write(effects, connection)
            }
        }
    }

    public func enableTOTP(_ user: UserID, sealedSecret: [UInt8], step: Int64, recoveryCodeHashes: [String], at time: Timestamp,
                           effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE users SET totp_secret = ?, totp_pending_secret = NULL, totp_enabled_at = ?, totp_last_step = ? WHERE id = ?
                    """, sealedSecret, time, step, user))
                try await connection.execute(SQLStatement("DELETE FROM recovery_codes WHERE user_id = ?", user))
                for (position, hash) in recoveryCodeHashes.enumerated() {
                    try await connection.execute(SQLStatement("""
                        INSERT INTO recovery_codes (user_id, position, code_hash, created_at) VALUES (?, ?, ?, ?)
                        """, user, position, hash, time))
                }
                try await write(effects, connection)
            }
        }
    }

    public func disableTOTP(_ user: UserID, effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL
                    WHERE id = ?
                    """, user))
                try await connection.execute(SQLStatement("DELETE FROM recovery_codes WHERE user_id = ?", user))
                try await write(effects, connection)
            }
        }
    }

    public func changePassword(_ user: UserID, hash: String, at time: Timestamp, keeping: SessionID?,
                               effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, lock_level = 0,
                        locked_until = NULL, last_failed_login_at = NULL WHERE id = ?
                    """, hash, time, user))
                try await connection.execute(SQLStatement("""
                    UPDATE sessions SET revoked_at = ?, revoked_reason = 'password_changed'
                    WHERE user_id = ? AND revoked_at IS NULL AND id <> ?
                    """, time, user, keeping?.rawValue ?? ""))
                try await write(effects, connection)
            }
        }
    }

    public func changeStatus(_ user: UserID, _ change: FreezeChange, at time: Timestamp, effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                switch change {
                case .freeze(let by, let reason, let coolingOffUntil):
                    try await connection.execute(SQLStatement("""
                        UPDATE users SET status = 'frozen', frozen_by = ?, frozen_reason = ?, frozen_at = ?, unfreeze_available_at = ?
                        WHERE id = ?
                        """, by, reason, time, coolingOffUntil, user))
                    try await connection.execute(SQLStatement("""
                        UPDATE sessions SET revoked_at = ?, revoked_reason = 'frozen' WHERE user_id = ? AND revoked_at IS NULL
                        """, time, user))
                case .unfreeze:
                    try await connection.execute(SQLStatement("""
                        UPDATE users SET status = 'active', frozen_by = NULL, frozen_reason = NULL, frozen_at = NULL,
                            unfreeze_available_at = NULL WHERE id = ?
                        """, user))
                }
                try await write(effects, connection)
            }
        }
    }

    public func recordActivity(_ user: UserID, at time: Timestamp) async throws {
        try await write(SQLStatement("UPDATE users SET last_activity_at = ? WHERE id = ?", time, user))
    }

    public func createToken(hash: [UInt8], purpose: String, user: UserID, at time: Timestamp, expiresAt: Timestamp,
                            effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                // One live token per purpose: a new request supersedes the old link or code.
                try await connection.execute(SQLStatement("""
                    UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL
                    """, time, user, purpose))
                try await connection.execute(SQLStatement("""
                    INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                    """, hash, purpose, user, time, expiresAt))
                try await write(effects, connection)
            }
        }
    }

    public func tokenOwner(hash: [UInt8], purpose: String, at time: Timestamp) async throws -> UserID? {
        try await read(SQLStatement("""
            SELECT user_id FROM one_time_tokens WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
            """, hash, purpose, time)).first.map { UserID(try $0.text(0)) }
    }

    public func consumeToken(hash: [UInt8], purpose: String, at time: Timestamp) async throws -> UserID? {
        try await publicErrors {
            try await database.write { connection in
                let rows = try await connection.query(SQLStatement("""
                    UPDATE one_time_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
                    RETURNING user_id
                    """, time, hash, purpose, time))
                return try rows.first.map { UserID(try $0.text(0)) }
            }
        }
    }

    public func writeEffects(_ effects: SideEffects) async throws {
        guard !effects.isEmpty else { return }
        try await publicErrors { try await database.write { try await write(effects, $0) } }
    }

    /// Writes audit events, notifications and their deliveries inside the caller's transaction.
    func write(_ effects: SideEffects, _ connection: any SQLConnection) async throws {
        precondition(effects.riskStates.isEmpty, "feature updates are written by recordRisk or a ledger batch")
        for statement in EffectsSQL.statements(effects, endpoints: deliveryEndpoints.list) {
            try await connection.execute(statement)
        }
    }

    public func notifications(of user: UserID, limit: Int, cursor: String?) async throws -> Page<NotificationRecord> {
        let before = try Self.cursor(cursor)
        // Ids are time-ordered (UUIDv7), so they page newest first without a sequence column.
        let rows = try await read(SQLStatement("""
            SELECT id, category, type, payload, created_at, read_at FROM notifications
            WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?
            """, user, before ?? "~", limit + 1))
        let items = try rows.prefix(limit).map { row in
            NotificationRecord(id: try row.text("id"), category: OutboxMessage.Category(rawValue: try row.text("category")) ?? .security,
                               type: try row.text("type"), payload: try row.text("payload"), createdAt: try row.timestamp("created_at"),
                               readAt: try row.optionalTimestamp("read_at"), seq: 0)
        }
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    public func markNotificationsRead(of user: UserID, upTo: String?, at time: Timestamp) async throws -> Int {
        try await write(SQLStatement("""
            UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL AND id <= ?
            """, time, user, upTo ?? "~"))
    }

    public func auditEntries(of user: UserID?, limit: Int, cursor: String?) async throws -> Page<AuditEntry> {
        var before = Int64.max
        if let cursor {
            guard let seq = Int64(cursor), seq > 0 else { throw LucidError(.invalidCursor) }
            before = seq
        }
        let filter = user == nil ? "" : "target_user_id = ? AND "
        let binds: [SQLValue] = (user.map { [SQLValue.text($0.rawValue)] } ?? []) + [.int(before), .int(Int64(limit + 1))]
        let rows = try await read(SQLStatement("""
            SELECT seq, id, at, actor, action, target_user_id, source_address, details FROM audit_log
            WHERE \(filter)seq < ? ORDER BY seq DESC LIMIT ?
            """, binds: binds))
        let items = try rows.prefix(limit).map { row in
            AuditEntry(id: try row.text("id"), at: try row.timestamp("at"), actor: try row.text("actor"), action: try row.text("action"),
                       targetUserID: try row.optionalText("target_user_id").map(UserID.init), sourceAddress: try row.optionalText("source_address"),
                       details: try row.text("details"), seq: try row.int("seq"))
        }
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last.map { String($0.seq) } : nil)
    }

    public func dueDeliveries(at time: Timestamp, limit: Int) async throws -> [DeliveryRecord] {
        try await read(SQLStatement("""
            SELECT d.id, d.notification_id, d.endpoint, d.attempts, d.secret, n.user_id, n.type, n.category, n.payload, n.created_at
            FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
            WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at LIMIT ?
            """, time, limit)).map { row in
            DeliveryRecord(id: try row.text("id"), notificationID: try row.text("notification_id"), endpoint: try row.text("endpoint"),
                           attempts: Int(try row.int("attempts")), userID: UserID(try row.text("user_id")), type: try row.text("type"),
                           category: OutboxMessage.Category(rawValue: try row.text("category")) ?? .security,
                           payload: try row.text("payload"), createdAt: try row.timestamp("created_at"),
                           sealedSecret: row["secret"] == .null ? nil : try row.blob("secret"))
        }
    }

    public func deliverySucceeded(_ id: String, at time: Timestamp) async throws {
        // Delivered: the sealed secret has done its job and is scrubbed.
        try await write(SQLStatement("""
            UPDATE notification_deliveries SET state = 'delivered', delivered_at = ?, secret = NULL, attempts = attempts + 1,
                last_error = NULL WHERE id = ? AND state = 'pending'
            """, time, id))
    }

    public func deliveryFailed(_ id: String, error: String, nextAttemptAt: Timestamp?) async throws {
        if let nextAttemptAt {
            try await write(SQLStatement("""
                UPDATE notification_deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                WHERE id = ? AND state = 'pending'
                """, String(error.prefix(500)), nextAttemptAt, id))
        } else {
            try await write(SQLStatement("""
                UPDATE notification_deliveries SET state = 'dead', secret = NULL, attempts = attempts + 1, last_error = ?
                WHERE id = ? AND state = 'pending'
                """, String(error.prefix(500)), id))
        }
    }

    public func deliveryCounts() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await read(SQLStatement("SELECT state, COUNT(*) FROM notification_deliveries GROUP BY state")) {
            counts[try row.text(0)] = Int(try row.int(1))
        }
        return counts
    }

    public func hasPaid(_ user: UserID, _ payee: UserID) async throws -> Bool {
        try await read(SQLStatement("""
            SELECT 1 FROM journal j
            JOIN accounts d ON d.id = j.debit_account_id JOIN accounts c ON c.id = j.credit_account_id
            WHERE d.owner_id = ? AND c.owner_id = ? AND j.kind = 'transfer' LIMIT 1
            """, user, payee)).isEmpty == false
    }

    public func idempotentResult(scope: String, key: String) async throws -> (requestHash: String, transactionID: TransferID, statusCode: Int)? {
        try await read(SQLStatement(IdempotentResultRead.self, scope, key)).first.map { row in
            (try row.text(0), TransferID(try row.text(1)), Int(try row.int(2)))
        }
    }

    /// Every movement of money looks for an earlier answer first.
    enum IdempotentResultRead: PreparedRead {
        static let text = "SELECT request_hash, transaction_id, status_code FROM idempotency_keys WHERE scope = ? AND key = ?"
    }

    static func cursor(_ text: String?) throws -> String? {
        guard let text else { return nil }
        guard UUIDText.isCanonical(text) else { throw LucidError(.invalidCursor) }
        return text
    }
}

/// The rows side effects become, the same for every store and for the ledger's batches.
enum EffectsSQL {
    /// The INSERTs for `effects`: one row per statement by default (SQLite caches the prepared
    /// statement), or up to `rowsPerStatement` rows each (PostgreSQL: one round trip per table).
    /// Rail items come first: they reference the journal rows written just before, and nothing here references them;
    /// risk decisions come before the reviews and fired rules that reference them.
    static func statements(_ effects: SideEffects, endpoints: [String], rowsPerStatement: Int = 1) -> [SQLStatement] {
        var audit: [[SQLValue]] = []
        for entry in effects.audit {
            audit.append([.text(entry.id), entry.at.sqlValue, .text(entry.actor), .text(entry.action), entry.targetUserID.sqlValue,
                          entry.sourceAddress.sqlValue, .text(entry.details)])
        }
        var notifications: [[SQLValue]] = []
        var deliveries: [[SQLValue]] = []
        for message in effects.notifications {
            notifications.append([.text(message.id), message.userID.sqlValue, .text(message.category.rawValue), .text(message.type),
                                  .text(message.payload), message.createdAt.sqlValue])
            for (index, endpoint) in endpoints.enumerated() {
                deliveries.append([.text("\(message.id):\(index)"), .text(message.id), .text(endpoint),
                                   message.sealedSecret.map(SQLValue.blob) ?? .null, message.createdAt.sqlValue])
            }
        }
        return GatewaySQL.statements(effects.gateway)
            + RiskSQL.statements(decisions: effects.riskDecisions, reviews: effects.riskReviews, rowsPerStatement: rowsPerStatement)
            + rows(audit, "INSERT INTO audit_log (id, at, actor, action, target_user_id, source_address, details) VALUES", rowsPerStatement)
            + rows(notifications, "INSERT INTO notifications (id, user_id, category, type, payload, created_at) VALUES", rowsPerStatement)
            + rows(deliveries, """
                INSERT INTO notification_deliveries (id, notification_id, endpoint, secret, next_attempt_at, state, attempts) VALUES
                """, rowsPerStatement, suffix: ", 'pending', 0")
    }

    static func rows(_ rows: [[SQLValue]], _ head: String, _ perStatement: Int, suffix: String = "") -> [SQLStatement] {
        guard let width = rows.first?.count else { return [] }
        let one = "(" + SQLStatement.placeholders(width) + suffix + ")"
        return rows.chunked(max(1, perStatement)).map { chunk in
            SQLStatement(head + " " + Array(repeating: one, count: chunk.count).joined(separator: ", "), binds: chunk.flatMap { $0 })
        }
    }
}

/// Webhook endpoints, shared by a store and its ledger writer (set at start-up, read on every write).
public final class DeliveryEndpoints: Sendable {
    private let value = Mutex<[String]>([])
    public init() {}
    public var list: [String] { value.withLock { $0 } }
    public func set(_ endpoints: [String]) { value.withLock { $0 = endpoints } }
}
