import Foundation
import Logging
import LucidCore
import LucidStore

/// Password change and reset, self-freeze (挂失) and unfreeze, dormancy,
/// notifications and the audit trail, and what operators may do about an account.
extension IdentityService {
    // MARK: Password

    /// Changes the password: the current one, a second factor when 2FA is on, and the
    /// policy for the new one. Every other session is signed out.
    public func changePassword(_ customer: Customer, current: String, new: String, proof: SecondFactorProof,
                               origin: RequestOrigin) async throws {
        _ = try Validate.text(current, field: "current_password", max: InputLimits.passwordLengthMax, allowEmpty: true)
        try await requirePassword(customer, current)
        if customer.user.totpEnabled { try await stepUp(customer, reason: "change_password", proof: proof) }
        let password = try passwordPolicy.check(new, context: context(customer.user))
        let hash = await hashOffThread(password)
        let now = clock.now()
        try await store.changePassword(customer.user.id, hash: hash, at: now, keeping: customer.session.id, effects: SideEffects(
            audit: [events.audit("password_changed", actor: actor(customer), target: customer.user.id, origin: origin)],
            notifications: [events.notify(.passwordChanged, customer.user.id, ["at": .text(now.rfc3339)])]))
    }

    /// Starts a reset. The answer never says whether the login exists: a link goes
    /// through the outbox to the owner's e-mail or phone when it does.
    public func requestPasswordReset(login: String, origin: RequestOrigin) async throws {
        _ = try Validate.text(login, field: "login", max: InputLimits.emailLengthMax)
        let now = clock.now()
        let decision = try await store.admit(key: "reset:\(origin.sourceAddress ?? "unknown")", policy: configuration.loginRateLimit,
                                             now: now)
        guard decision.allowed else { throw LucidError(.rateLimited, ["retry_after_seconds": .int(decision.retryAfterSeconds)]) }
        let normalized = login.contains("@") ? login.lowercased() : login.filter { $0 != " " && $0 != "-" }
        guard let user = try await store.user(login: normalized) else {
            logger.info("password reset for an unknown login")
            return
        }
        var generator = SystemRandomNumberGenerator()
        let lifetime = configuration.passwordResetLifetimeSeconds
        let token = OneTimeToken.issue(at: now, lifetimeSeconds: lifetime, using: &generator)
        let link = "\(configuration.resetLinkBase)?token=\(token.token)"
        try await store.createToken(hash: BearerToken.hash(token.token), purpose: "password_reset", user: user.id, at: now,
                                    expiresAt: token.expiresAt, effects: SideEffects(
            audit: [events.audit("password_reset_requested", actor: "anonymous", target: user.id, origin: origin)],
            notifications: [events.notify(.passwordResetRequested, user.id,
                                          ["valid_minutes": .int(lifetime / 60), "expires_at": .text(token.expiresAt.rfc3339)],
                                          sealedSecret: try secrets.seal(Array(link.utf8)))]))
    }

    /// Completes a reset: the token is single-use and short-lived; the lock, if any, is lifted
    /// and every session is signed out. The owner is told about a lock the reset lifted.
    public func resetPassword(token: String, newPassword: String, origin: RequestOrigin) async throws {
        _ = try OneTimeToken.lookupHash(for: token)
        let now = clock.now()
        let tokenHash = BearerToken.hash(token)
        // A password the policy refuses must not burn the link: check first, then use the token once.
        guard let owner = try await store.tokenOwner(hash: tokenHash, purpose: "password_reset", at: now),
              let user = try await store.user(owner) else {
            throw LucidError(.resetTokenInvalid)
        }
        let password = try passwordPolicy.check(newPassword, context: context(user))
        let hash = await hashOffThread(password)
        guard try await store.consumeToken(hash: tokenHash, purpose: "password_reset", at: now) == user.id else {
            throw LucidError(.resetTokenInvalid)
        }
        let security = try await store.userSecurity(user.id)
        var effects = SideEffects(
            audit: [events.audit("password_reset", actor: "user:\(user.id)", target: user.id, origin: origin)],
            notifications: [events.notify(.passwordResetCompleted, user.id, ["at": .text(now.rfc3339)])])
        if let lockedUntil = security.flatMap({ configuration.lockout.lockedUntil($0.lockout, now: now) }) {
            effects.audit.append(events.audit("account_unlocked", actor: "user:\(user.id)", target: user.id, origin: origin,
                                              ["how": .text("password_reset"), "was_locked_until": .text(lockedUntil.rfc3339)]))
            effects.notifications.append(events.notify(.accountUnlocked, user.id, ["how": .text("password_reset")]))
        }
        try await store.changePassword(user.id, hash: hash, at: now, keeping: nil, effects: effects)
    }

    // MARK: Freeze (挂失)

    /// Freezes the account at once: outgoing money refused, every session revoked; incoming money still arrives.
    public func freeze(_ customer: Customer, reason: String?, origin: RequestOrigin) async throws {
        try await freeze(customer.user, by: "customer", reason: reason ?? "reported lost or stolen", origin: origin)
    }

    /// The no-login path for a stolen phone: the password alone is enough to freeze.
    /// Wrong passwords count against the lockout like a sign-in; unknown logins get the same answer.
    public func freeze(login: String, password: String, reason: String?, origin: RequestOrigin) async throws {
        _ = try Validate.text(login, field: "login", max: InputLimits.emailLengthMax)
        _ = try Validate.text(password, field: "password", max: InputLimits.passwordLengthMax, allowEmpty: true)
        let decision = try await store.admit(key: "login:\(origin.sourceAddress ?? "unknown")", policy: configuration.loginRateLimit,
                                             now: clock.now())
        guard decision.allowed else { throw LucidError(.rateLimited, ["retry_after_seconds": .int(decision.retryAfterSeconds)]) }
        let normalized = login.contains("@") ? login.lowercased() : login.filter { $0 != " " && $0 != "-" }
        guard let user = try await store.user(login: normalized) else {
            _ = await verifyOffThread(password, decoyHash)
            throw LucidError(.invalidCredentials)
        }
        guard await verifyOffThread(password, user.passwordHash) else {
            let policy = configuration.lockout, events = self.events, now = clock.now()
            try await store.updateLockout(user.id) { state in
                (policy.recordFailure(state, at: now).0,
                 SideEffects(audit: [events.audit("freeze_failed", actor: "anonymous", target: user.id, origin: origin)]))
            }
            throw LucidError(.invalidCredentials)
        }
        try await freeze(user, by: "customer", reason: reason ?? "reported lost or stolen", origin: origin)
    }

    func freeze(_ user: UserRecord, by: String, reason: String, origin: RequestOrigin) async throws {
        let reason = try Validate.text(reason, field: "reason", max: InputLimits.memoLengthMax)
        let now = clock.now()
        let coolingOff = by == "customer" ? now.adding(seconds: policy.selfFreezeCoolingOffSeconds) : nil
        try await store.changeStatus(user.id, .freeze(by: by, reason: reason, coolingOffUntil: coolingOff), at: now, effects: SideEffects(
            audit: [events.audit("account_frozen", actor: by == "customer" ? "user:\(user.id)" : by, target: user.id, origin: origin,
                                 ["reason": .text(reason)])],
            notifications: [events.notify(.accountFrozen, user.id, ["by": .text(Self.describe(by)), "reason": .text(reason)])]))
    }

    /// Unfreezes a self-frozen account: password and a second factor, after the cooling-off
    /// period. An account an operator or the risk engine froze needs an operator.
    public func unfreeze(_ customer: Customer, password: String, proof: SecondFactorProof, origin: RequestOrigin) async throws {
        let user = customer.user
        guard user.status == .frozen else { throw LucidError.invalidField("status", "the account is not frozen") }
        guard user.frozenBy == "customer" else {
            throw LucidError(.accountFrozen, ["reason": .text(user.frozenReason ?? "frozen"), "frozen_by": .text(Self.describe(user.frozenBy)),
                                              "frozen_at": .text(user.frozenAt?.rfc3339 ?? "?")])
        }
        if let available = user.unfreezeAvailableAt, clock.now() < available {
            throw LucidError(.unfreezeCoolingOff, ["available_at": .text(available.rfc3339)])
        }
        try await requirePassword(customer, password)
        try await stepUp(customer, reason: "unfreeze", proof: proof)
        try await store.changeStatus(user.id, .unfreeze, at: clock.now(), effects: SideEffects(
            audit: [events.audit("account_unfrozen", actor: actor(customer), target: user.id, origin: origin)],
            notifications: [events.notify(.accountUnfrozen, user.id, ["by": .text(Self.describe("customer"))])]))
    }

    // MARK: Dormancy

    /// Whether outgoing money is refused because the account has been quiet too long.
    public func requireNotDormant(_ user: UserRecord) throws(LucidError) {
        let last = user.lastActivityAt ?? user.createdAt
        if policy.isDormant(lastActivity: last, now: clock.now()) {
            throw LucidError(.accountDormant, ["last_activity_at": .text(last.rfc3339)])
        }
    }

    /// Re-verifies a dormant account: password and a second factor.
    public func reactivate(_ customer: Customer, password: String, proof: SecondFactorProof, origin: RequestOrigin) async throws {
        try await requirePassword(customer, password)
        try await stepUp(customer, reason: "reactivate", proof: proof)
        try await store.recordActivity(customer.user.id, at: clock.now())
        try await store.writeEffects(SideEffects(
            audit: [events.audit("account_reactivated", actor: actor(customer), target: customer.user.id, origin: origin)],
            notifications: [events.notify(.accountReactivated, customer.user.id)]))
    }

    // MARK: Reading

    public func notifications(of customer: Customer, limit: Int?, cursor: String?,
                              language: Language) async throws -> Page<NotificationView> {
        let page = try await store.notifications(of: customer.user.id, limit: try Validate.pageSize(limit), cursor: cursor)
        return Page(items: page.items.map { NotificationView($0, language: language) }, nextCursor: page.nextCursor)
    }

    public func markNotificationsRead(of customer: Customer, upTo id: String?) async throws -> Int {
        if let id, !UUIDText.isCanonical(id) { throw LucidError.invalidField("up_to", "a notification id") }
        return try await store.markNotificationsRead(of: customer.user.id, upTo: id, at: clock.now())
    }

    public func auditTrail(of user: UserID?, limit: Int?, cursor: String?) async throws -> Page<AuditEntry> {
        try await store.auditEntries(of: user, limit: try Validate.pageSize(limit), cursor: cursor)
    }

    /// The account's protection state as its owner (or support) sees it.
    public struct SecurityOverview: Sendable {
        public let user: UserRecord
        public let totpEnabled: Bool
        public let recoveryCodesLeft: Int
        public let lockedUntil: Timestamp?
        public let failedAttempts: Int
        public let dormant: Bool
    }

    public func securityOverview(of user: UserID) async throws -> SecurityOverview {
        guard let record = try await store.user(user), let security = try await store.userSecurity(user) else {
            throw LucidError(.userNotFound)
        }
        let codes = try await store.recoveryCodeHashes(of: user).filter { !$0.used }.count
        let now = clock.now()
        return SecurityOverview(user: record, totpEnabled: record.totpEnabled, recoveryCodesLeft: codes,
                                lockedUntil: configuration.lockout.lockedUntil(security.lockout, now: now),
                                failedAttempts: security.lockout.consecutiveFailures,
                                dormant: policy.isDormant(lastActivity: record.lastActivityAt ?? record.createdAt, now: now))
    }

    // MARK: Operators

    public func operatorFreeze(_ user: UserID, reason: String, by op: Operator) async throws {
        try op.require(.admin, .support, .risk)
        guard let record = try await store.user(user) else { throw LucidError(.userNotFound) }
        try await freeze(record, by: op.actor, reason: reason, origin: .unknown)
    }

    public func operatorUnfreeze(_ user: UserID, reason: String, by op: Operator) async throws {
        try op.require(.admin, .risk)
        guard let record = try await store.user(user) else { throw LucidError(.userNotFound) }
        guard record.status == .frozen else { throw LucidError.invalidField("status", "the account is not frozen") }
        let reason = try Validate.text(reason, field: "reason", max: InputLimits.memoLengthMax)
        try await store.changeStatus(user, .unfreeze, at: clock.now(), effects: SideEffects(
            audit: [events.audit("account_unfrozen", actor: op.actor, target: user, ["reason": .text(reason)])],
            notifications: [events.notify(.accountUnfrozen, user, ["by": .text(Self.describe(op.actor))])]))
    }

    public func operatorUnlock(_ user: UserID, reason: String, by op: Operator) async throws {
        try op.require(.admin, .support)
        let reason = try Validate.text(reason, field: "reason", max: InputLimits.memoLengthMax)
        guard try await store.user(user) != nil else { throw LucidError(.userNotFound) }
        let events = self.events, lockout = configuration.lockout
        try await store.updateLockout(user) { state in
            (lockout.recordSuccess(state), SideEffects(
                audit: [events.audit("account_unlocked", actor: op.actor, target: user, ["how": .text("operator"), "reason": .text(reason)])],
                notifications: [events.notify(.accountUnlocked, user, ["how": .text("support")])]))
        }
    }

    // MARK: Helpers

    func requirePassword(_ customer: Customer, _ password: String) async throws {
        guard await verifyOffThread(password, customer.user.passwordHash) else {
            // A wrong password here is a failed attempt like any other (it could be a thief with the phone).
            let policy = configuration.lockout, events = self.events, now = clock.now()
            try await store.updateLockout(customer.user.id) { state in
                let (next, started) = policy.recordFailure(state, at: now)
                var effects = SideEffects(audit: [events.audit("password_check_failed", actor: "user:\(customer.user.id)",
                                                               target: customer.user.id)])
                if let started {
                    effects.notifications.append(events.notify(.accountLocked, customer.user.id, [
                        "locked_until": .text(started.until.rfc3339), "failures": .int(Int64(policy.failuresBeforeLock)),
                    ]))
                }
                return (next, effects)
            }
            throw LucidError(.invalidCredentials)
        }
    }

    func context(_ user: UserRecord) -> PasswordPolicy.Context {
        .init(email: user.email, phone: user.phone, displayName: user.displayName)
    }

    /// Who froze an account, as a stable code the catalogues put into words: `customer`, `support`, `security_monitoring`.
    static func describe(_ by: String?) -> String {
        switch by {
        case "customer": "customer"
        case "risk": "security_monitoring"
        default: "support"
        }
    }
}
