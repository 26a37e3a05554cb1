import Foundation
import Logging
import LucidCore
import LucidStore
import NIOPosix

/// The store account protection works with: the wallet's and the security tables.
public typealias IdentityStore = WalletStore & AccountProtectionStore & BankAccountStore

/// Settings of account protection. Defaults are production values.
public struct IdentityConfiguration: Sendable {
    public var policy = SecurityPolicy()
    public var lockout = LockoutPolicy()
    public var loginRateLimit = RateLimitPolicy.loginPerSource
    /// Wrong second-factor or verification codes tolerated per account in a window.
    public var codeAttemptLimit = RateLimitPolicy(limit: 5, windowSeconds: 600)
    public var passwordResetLifetimeSeconds = OneTimeToken.lifetimeSecondsDefault
    public var verificationCodeLifetimeSeconds: Int64 = 10 * 60
    /// Where reset links point; the token is appended (`…?token=lrt_…`).
    public var resetLinkBase = "https://wallet.example/reset-password"
    public init() {}
}

/// Who is signed in.
public struct Customer: Sendable {
    public let user: UserRecord
    public let session: SessionRecord
}

/// A signed-in operator.
public struct Operator: Sendable {
    public let record: OperatorRecord

    /// Throws `forbidden` unless the operator has one of `roles`.
    public func require(_ roles: OperatorRole...) throws(LucidError) {
        guard roles.contains(record.role) else {
            throw LucidError(.forbidden, ["required_role": .text(roles.map(\.rawValue).joined(separator: " or "))])
        }
    }

    var actor: String { "operator:\(record.name)" }
}

/// A second factor offered with a request: an authenticator code, a recovery
/// code, or a one-time code sent through the outbox (for customers without 2FA).
public struct SecondFactorProof: Sendable, Hashable {
    public var totpCode: String?
    public var recoveryCode: String?
    public var verificationCode: String?

    public init(totpCode: String? = nil, recoveryCode: String? = nil, verificationCode: String? = nil) {
        self.totpCode = totpCode
        self.recoveryCode = recoveryCode
        self.verificationCode = verificationCode
    }

    var isEmpty: Bool { totpCode == nil && recoveryCode == nil && verificationCode == nil }
}

/// The answer to a successful sign-in.
public struct NewSession: Sendable {
    public let token: String
    public let userID: UserID
    public let sessionID: SessionID
    public let expiresAt: Timestamp
    /// Things the owner should know now: e.g. that the account had been locked until X and was unlocked.
    public let notices: [String: ErrorParam]
}

/// Registration, sign-in and everything that protects an account (issue 4):
/// lockout, per-source rate limit, two-factor, step-up, sessions and devices,
/// self-freeze, password change and reset, dormancy and region policy.
///
/// The rules are pure (`LockoutPolicy`, `SecurityPolicy`, `TOTP`); this type
/// wires them to the store so that every state change, its audit event and its
/// notification are one transaction, and every counter lives in the database.
public struct IdentityService: Sendable {
    let store: any IdentityStore
    public let configuration: IdentityConfiguration
    let clock: any WallClock
    let ids: any IDGenerator
    let passwords: any PasswordHasher
    let passwordPolicy: PasswordPolicy
    let secrets: SecretBox
    let events: SecurityEvents
    let logger: Logger
    /// Compared against when the login is unknown, so unknown and known logins take the same time.
    let decoyHash: String
    /// Risk monitoring of every sign-in (nil: off). See IdentityService+Risk.swift.
    public var risk: RiskMonitor?

    public init(store: any IdentityStore, configuration: IdentityConfiguration, clock: any WallClock, ids: any IDGenerator,
                passwords: any PasswordHasher, secrets: SecretBox, passwordPolicy: PasswordPolicy = PasswordPolicy(),
                logger: Logger = Logger(label: "lucid.identity")) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.ids = ids
        self.passwords = passwords
        self.passwordPolicy = passwordPolicy
        self.secrets = secrets
        self.events = SecurityEvents(ids: ids, clock: clock)
        self.logger = logger
        self.decoyHash = passwords.hash("decoy password that nobody has")
    }

    var policy: SecurityPolicy { configuration.policy }

    // MARK: Registration

    public struct Registration: Sendable {
        public var email: String?
        public var phone: String?
        public var password: String
        public var displayName: String
        public var country: String
        public init(email: String?, phone: String?, password: String, displayName: String, country: String) {
            self.email = email
            self.phone = phone
            self.password = password
            self.displayName = displayName
            self.country = country
        }
    }

    public func register(_ registration: Registration, origin: RequestOrigin = .unknown,
                         tier: VerificationTier = .unverified) async throws -> UserRecord {
        guard registration.email != nil || registration.phone != nil else {
            throw LucidError.invalidField("email", "give an e-mail address or a phone number")
        }
        let email = try registration.email.map { value throws(LucidError) in try Validate.email(value) }
        let phone = try registration.phone.map { value throws(LucidError) in try Validate.phone(value) }
        let name = try Validate.text(registration.displayName, field: "display_name", max: InputLimits.displayNameLengthMax)
        let country = try Validate.country(registration.country)
        try policy.requireServed(country: country)
        try policy.requireServed(country: origin.country)
        let password = try passwordPolicy.check(registration.password,
                                                context: .init(email: email, phone: phone, displayName: name))
        let hash = await hashOffThread(password)
        let now = clock.now()
        let user = UserRecord(id: ids.make(), email: email, phone: phone, passwordHash: hash, displayName: name,
                              country: country, tier: tier, createdAt: now, lastActivityAt: now)
        try await store.createUser(user)
        try await store.writeEffects(SideEffects(audit: [events.audit("registered", actor: "user:\(user.id)", target: user.id,
                                                                     origin: origin)]))
        logger.info("customer registered", metadata: ["user_id": "\(user.id)"])
        return user
    }

    // MARK: Sign-in

    public struct LoginAttempt: Sendable {
        public var login: String
        public var password: String
        public var deviceID: String?
        public var secondFactor: SecondFactorProof
        public init(login: String, password: String, deviceID: String? = nil, secondFactor: SecondFactorProof = .init()) {
            self.login = login
            self.password = password
            self.deviceID = deviceID
            self.secondFactor = secondFactor
        }
    }

    /// Checks the password (and second factor when on) and opens a session.
    ///
    /// To anyone who has not proven the password *and* the second factor, an
    /// unknown login, a wrong password and a locked account look the same
    /// (`invalid_credentials`, same body, similar time). The owner who proves a
    /// second factor while locked is let in and told about the lock.
    public func logIn(_ attempt: LoginAttempt, origin: RequestOrigin) async throws -> NewSession {
        _ = try Validate.text(attempt.login, field: "login", max: InputLimits.emailLengthMax)
        _ = try Validate.text(attempt.password, field: "password", max: InputLimits.passwordLengthMax, allowEmpty: true)
        let deviceID = try attempt.deviceID.map { value throws(LucidError) in
            try Validate.text(value, field: "device_id", max: InputLimits.deviceIDLengthMax)
        }
        try Self.validate(attempt.secondFactor)
        try policy.requireServed(country: origin.country)
        let now = clock.now()
        let source = origin.sourceAddress ?? "unknown"
        let decision = try await store.admit(key: "login:\(source)", policy: configuration.loginRateLimit, now: now)
        guard decision.allowed else {
            throw LucidError(.rateLimited, ["retry_after_seconds": .int(decision.retryAfterSeconds)])
        }
        let normalized = attempt.login.contains("@") ? attempt.login.lowercased() : attempt.login.filter { $0 != " " && $0 != "-" }
        guard let user = try await store.user(login: normalized), let security = try await store.userSecurity(user.id) else {
            _ = await verifyOffThread(attempt.password, decoyHash)
            throw LucidError(.invalidCredentials)
        }
        let passwordOK = await verifyOffThread(attempt.password, user.passwordHash)
        let lockedUntil = configuration.lockout.lockedUntil(security.lockout, now: now)
        if let lockedUntil {
            // Locked: only the owner proving the second factor gets past, and is told why it was locked.
            guard passwordOK, user.totpEnabled, !attempt.secondFactor.isEmpty,
                  (try? await verifySecondFactor(user, security, attempt.secondFactor, purpose: "login")) != nil else {
                throw LucidError(.invalidCredentials)
            }
            try await screenSignIn(user, security, deviceID: deviceID, origin: origin, proof: attempt.secondFactor,
                                   secondFactorVerified: true)
            return try await openSession(user, password: attempt.password, deviceID: deviceID, origin: origin, notices: [
                "unlocked_lock_until": .text(lockedUntil.rfc3339),
                "failed_attempts": .int(Int64(max(security.lockout.consecutiveFailures, configuration.lockout.failuresBeforeLock))),
            ], unlockedBySecondFactor: true)
        }
        guard passwordOK else {
            try await recordFailure(user, origin: origin, reason: "password")
            await screenFailedSignIn(user, deviceID: deviceID, origin: origin)
            throw LucidError(.invalidCredentials)
        }
        if user.totpEnabled {
            guard !attempt.secondFactor.isEmpty else {
                throw LucidError(.secondFactorRequired, ["reason": .text("login"), "methods": .text("totp_code, recovery_code")])
            }
            do {
                try await verifySecondFactor(user, security, attempt.secondFactor, purpose: "login")
            } catch let error as LucidError where error.code == .secondFactorInvalid {
                try await recordFailure(user, origin: origin, reason: "second_factor")
                await screenFailedSignIn(user, deviceID: deviceID, origin: origin)
                throw error
            }
        }
        try await screenSignIn(user, security, deviceID: deviceID, origin: origin, proof: attempt.secondFactor,
                               secondFactorVerified: user.totpEnabled)
        return try await openSession(user, password: attempt.password, deviceID: deviceID, origin: origin, notices: [:],
                                     unlockedBySecondFactor: false)
    }

    private func recordFailure(_ user: UserRecord, origin: RequestOrigin, reason: String) async throws {
        let policy = configuration.lockout, events = self.events, now = clock.now()
        try await store.updateLockout(user.id) { state in
            let (next, started) = policy.recordFailure(state, at: now)
            var effects = SideEffects(audit: [events.audit("sign_in_failed", actor: "anonymous", target: user.id, origin: origin,
                                                           ["reason": .text(reason)])])
            if let started {
                effects.audit.append(events.audit("account_locked", actor: "system:lockout", target: user.id, origin: origin, [
                    "locked_until": .text(started.until.rfc3339), "level": .int(Int64(started.level)),
                ]))
                effects.notifications.append(events.notify(.accountLocked, user.id, [
                    "locked_until": .text(started.until.rfc3339), "failures": .int(Int64(policy.failuresBeforeLock)),
                ]))
            }
            return (next, effects)
        }
        logger.notice("failed sign-in", metadata: ["user_id": "\(user.id)", "reason": "\(reason)"])
    }

    private func openSession(_ user: UserRecord, password: String, deviceID: String?, origin: RequestOrigin,
                             notices: [String: ErrorParam], unlockedBySecondFactor: Bool) async throws -> NewSession {
        let now = clock.now()
        let token = BearerToken.make(prefix: BearerToken.customerPrefix)
        let session = SessionRecord(id: ids.make(), userID: user.id, tokenHash: BearerToken.hash(token), deviceID: deviceID,
                                    sourceAddress: origin.sourceAddress, createdAt: now,
                                    expiresAt: now.adding(seconds: policy.sessionLifetimeSeconds), lastSeenAt: now,
                                    country: origin.country, userAgent: origin.userAgent.map { String($0.prefix(200)) })
        let known = Set(try await store.sightings(of: user.id))
        var sightings: [KnownSighting] = []
        var effects = SideEffects(audit: [events.audit("signed_in", actor: "user:\(user.id)", target: user.id, origin: origin,
                                                       ["session_id": .text(session.id.rawValue), "device": .text(deviceID ?? "unknown")])])
        let firstSignIn = known.isEmpty
        if let deviceID {
            let sighting = KnownSighting(kind: .device, value: deviceID)
            sightings.append(sighting)
            if !firstSignIn && !known.contains(sighting) {
                effects.notifications.append(events.notify(.newDeviceSignIn, user.id, [
                    "device": .text(deviceID), "country": .text(origin.country ?? "?"), "at": .text(now.rfc3339),
                    "session_id": .text(session.id.rawValue),
                ]))
            }
        }
        if let country = origin.country {
            let sighting = KnownSighting(kind: .country, value: country)
            sightings.append(sighting)
            if !firstSignIn && !known.contains(sighting) && !known.contains(where: { $0.kind == .country && $0.value == country }) {
                effects.notifications.append(events.notify(.newCountrySignIn, user.id, [
                    "country": .text(country), "at": .text(now.rfc3339), "session_id": .text(session.id.rawValue),
                ]))
            }
        }
        if unlockedBySecondFactor {
            effects.audit.append(events.audit("account_unlocked", actor: "user:\(user.id)", target: user.id, origin: origin,
                                              ["how": .text("second_factor")]))
            effects.notifications.append(events.notify(.accountUnlocked, user.id, ["how": .text("second_factor")]))
        }
        // The password is known only now: a hash with older parameters is replaced by a current one.
        let rehash = passwords.needsRehash(user.passwordHash) ? await hashOffThread(password) : nil
        try await store.signIn(session, rehash: rehash, sightings: sightings, effects: effects)
        return NewSession(token: token, userID: user.id, sessionID: session.id, expiresAt: session.expiresAt, notices: notices)
    }

    // MARK: Sessions

    /// Resolves a bearer token to a customer. Missing, unknown, expired (idle or
    /// absolute) and revoked tokens are all `unauthenticated`; revocation takes
    /// effect on the very next request because the session is read every time.
    public func authenticateCustomer(token: String) async throws -> Customer {
        guard token.hasPrefix(BearerToken.customerPrefix), token.utf8.count < 200,
              let (session, user) = try await store.signedIn(tokenHash: BearerToken.hash(token)), session.revokedAt == nil else {
            throw LucidError(.unauthenticated)
        }
        let now = clock.now()
        guard policy.sessionIsLive(createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, expiresAt: session.expiresAt,
                                   now: now) else {
            throw LucidError(.unauthenticated)
        }
        if policy.shouldTouch(lastSeenAt: session.lastSeenAt, now: now) {
            try? await store.touch(session: session.id, at: now)
        }
        return Customer(user: user, session: session)
    }

    public func logOut(_ customer: Customer, origin: RequestOrigin) async throws {
        _ = try await store.revoke(session: customer.session.id, of: customer.user.id, reason: "logout", at: clock.now(),
                                   effects: SideEffects(audit: [events.audit("signed_out", actor: actor(customer), target: customer.user.id,
                                                                            origin: origin)]))
    }

    public func sessions(of customer: Customer) async throws -> [SessionRecord] {
        let now = clock.now()
        return try await store.sessions(of: customer.user.id).filter { session in
            session.revokedAt == nil && policy.sessionIsLive(createdAt: session.createdAt, lastSeenAt: session.lastSeenAt,
                                                             expiresAt: session.expiresAt, now: now)
        }
    }

    public func revokeSession(_ id: SessionID, of customer: Customer, origin: RequestOrigin) async throws {
        let revoked = try await store.revoke(session: id, of: customer.user.id, reason: "revoked_by_owner", at: clock.now(),
                                             effects: SideEffects(audit: [events.audit("session_revoked", actor: actor(customer),
                                                                                       target: customer.user.id, origin: origin,
                                                                                       ["session_id": .text(id.rawValue)])]))
        // Someone else's session, or one already over: the same answer, so ids reveal nothing.
        guard revoked else { throw LucidError(.sessionNotFound) }
    }

    public func revokeOtherSessions(of customer: Customer, origin: RequestOrigin) async throws -> Int {
        let count = try await store.revokeSessions(of: customer.user.id, except: customer.session.id, reason: "revoked_by_owner",
                                                   at: clock.now(), effects: .none)
        try await store.writeEffects(SideEffects(
            audit: [events.audit("sessions_revoked", actor: actor(customer), target: customer.user.id, origin: origin,
                                 ["count": .int(Int64(count))])],
            notifications: count > 0 ? [events.notify(.sessionsRevoked, customer.user.id, ["count": .int(Int64(count))])] : []))
        return count
    }

    // MARK: Operators

    public func authenticateOperator(token: String) async throws -> Operator {
        guard token.hasPrefix(BearerToken.operatorPrefix), token.utf8.count < 200,
              let record = try await store.operatorRecord(tokenHash: BearerToken.hash(token)), record.revokedAt == nil else {
            throw LucidError(.unauthenticated)
        }
        return Operator(record: record)
    }

    /// Creates an operator and returns its token, which is shown once and stored only hashed.
    public func createOperator(name: String, role: OperatorRole) async throws -> (OperatorRecord, String) {
        let name = try Validate.text(name, field: "name", max: InputLimits.displayNameLengthMax)
        let token = BearerToken.make(prefix: BearerToken.operatorPrefix)
        let record = OperatorRecord(id: ids.make(), name: name, role: role, tokenHash: BearerToken.hash(token), createdAt: clock.now())
        try await store.createOperator(record)
        try await store.writeEffects(SideEffects(audit: [events.audit("operator_created", actor: "system:cli", target: nil,
                                                                     ["operator": .text(name), "role": .text(role.rawValue)])]))
        logger.notice("operator created", metadata: ["operator": "\(name)", "role": "\(role.rawValue)"])
        return (record, token)
    }

    // MARK: Helpers

    func actor(_ customer: Customer) -> String { "user:\(customer.user.id)" }

    static func validate(_ proof: SecondFactorProof) throws(LucidError) {
        for (field, value) in [("totp_code", proof.totpCode), ("recovery_code", proof.recoveryCode),
                               ("verification_code", proof.verificationCode)] {
            if let value, value.utf8.count > RecoveryCodes.inputLengthMax {
                throw LucidError(.stringTooLong, ["field": .text(field), "max_length": .int(Int64(RecoveryCodes.inputLengthMax))])
            }
        }
    }

    /// Password hashing is deliberately slow (≈0.1–0.3 s): it runs on NIO's thread pool,
    /// never on the few threads that serve requests.
    func hashOffThread(_ password: String) async -> String {
        let passwords = self.passwords
        return (try? await NIOThreadPool.singleton.runIfActive { passwords.hash(password) }) ?? passwords.hash(password)
    }

    func verifyOffThread(_ password: String, _ hash: String) async -> Bool {
        let passwords = self.passwords
        return (try? await NIOThreadPool.singleton.runIfActive { passwords.verify(password, against: hash) })
            ?? passwords.verify(password, against: hash)
    }
}
