import Foundation
import Logging
import LucidCore
import LucidStore

/// Two-factor authentication: enrolment, confirmation with recovery codes,
/// disabling, one-time verification codes through the outbox, and the
/// step-up check sensitive actions call.
extension IdentityService {
    /// What a customer's app shows to enrol: the secret (base32) and the `otpauth://` URI for a QR code.
    public struct TOTPEnrolment: Sendable {
        public let secret: String
        public let uri: String
    }

    /// Starts enrolment: a fresh secret waits (sealed) until a code from it is confirmed.
    public func startTOTP(_ customer: Customer, origin: RequestOrigin) async throws -> TOTPEnrolment {
        guard !customer.user.totpEnabled else { throw LucidError(.totpAlreadyEnabled) }
        var generator = SystemRandomNumberGenerator()
        let secret = TOTP.makeSecret(using: &generator)
        try await store.setPendingTOTP(customer.user.id, sealedSecret: try secrets.seal(secret), effects: SideEffects(
            audit: [events.audit("totp_enrolment_started", actor: actor(customer), target: customer.user.id, origin: origin)]))
        let account = customer.user.email ?? customer.user.phone ?? customer.user.id.rawValue
        return TOTPEnrolment(secret: Base32.encode(secret), uri: TOTP.provisioningURI(secret: secret, accountName: account))
    }

    /// Confirms enrolment with a code from the app; returns the 10 recovery codes (shown once, stored hashed).
    public func confirmTOTP(_ customer: Customer, code: String, origin: RequestOrigin) async throws -> [String] {
        guard !customer.user.totpEnabled else { throw LucidError(.totpAlreadyEnabled) }
        try requireCodeShape(code)
        guard let security = try await store.userSecurity(customer.user.id), let sealed = security.totpPendingSecret else {
            throw LucidError(.totpNotEnabled, ["reason": .text("no_enrolment")])
        }
        let secret = try secrets.open(sealed)
        guard let step = TOTP.verify(code: code, secret: secret, at: clock.now(), lastUsedStep: nil) else {
            throw LucidError(.secondFactorInvalid)
        }
        var generator = SystemRandomNumberGenerator()
        let codes = RecoveryCodes.generate(using: &generator)
        let hashes = codes.compactMap { RecoveryCodes.hash($0, salt: customer.user.id.rawValue) }
        try await store.enableTOTP(customer.user.id, sealedSecret: sealed, step: step, recoveryCodeHashes: hashes, at: clock.now(),
                                   effects: SideEffects(
                                    audit: [events.audit("totp_enabled", actor: actor(customer), target: customer.user.id, origin: origin)],
                                    notifications: [events.notify(.twoFactorEnabled, customer.user.id)]))
        return codes
    }

    /// Switches 2FA off: needs the password and a current code (or a recovery code).
    public func disableTOTP(_ customer: Customer, password: String, proof: SecondFactorProof, origin: RequestOrigin) async throws {
        guard customer.user.totpEnabled else { throw LucidError(.totpNotEnabled) }
        try await requirePassword(customer, password)
        try await stepUp(customer, reason: "disable_totp", proof: proof)
        try await store.disableTOTP(customer.user.id, effects: SideEffects(
            audit: [events.audit("totp_disabled", actor: actor(customer), target: customer.user.id, origin: origin)],
            notifications: [events.notify(.twoFactorDisabled, customer.user.id, ["at": .text(clock.now().rfc3339)])]))
    }

    /// Sends a 6-digit code through the outbox, for customers without 2FA to prove
    /// themselves when unfreezing or reactivating a dormant account.
    public func sendVerificationCode(_ customer: Customer, purpose: String, origin: RequestOrigin) async throws {
        guard ["unfreeze", "reactivate", "step_up"].contains(purpose) else {
            throw LucidError.invalidField("purpose", "use unfreeze, reactivate or step_up")
        }
        let decision = try await store.admit(key: "verification-code:\(customer.user.id)",
                                             policy: RateLimitPolicy(limit: 5, windowSeconds: 3_600), now: clock.now())
        guard decision.allowed else { throw LucidError(.rateLimited, ["retry_after_seconds": .int(decision.retryAfterSeconds)]) }
        var generator = SystemRandomNumberGenerator()
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000, using: &generator))
        let now = clock.now()
        let lifetime = configuration.verificationCodeLifetimeSeconds
        try await store.createToken(
            hash: Self.codeHash(customer.user.id, code), purpose: "verification_code", user: customer.user.id, at: now,
            expiresAt: now.adding(seconds: lifetime), effects: SideEffects(
                audit: [events.audit("verification_code_sent", actor: actor(customer), target: customer.user.id, origin: origin,
                                     ["purpose": .text(purpose)])],
                notifications: [events.notify(.verificationCode, customer.user.id,
                                              ["purpose": .text(purpose), "valid_minutes": .int(lifetime / 60)],
                                              sealedSecret: try secrets.seal(Array(code.utf8)))]))
    }

    /// Proves a fresh second factor for a sensitive action, or explains how to supply one.
    ///
    /// With 2FA on: a TOTP code (each time step accepted once, across processes)
    /// or a recovery code (each usable once). Without 2FA: a verification code
    /// sent through the outbox. Wrong codes count against a per-account limit.
    public func stepUp(_ customer: Customer, reason: String, proof: SecondFactorProof) async throws {
        guard !proof.isEmpty else {
            throw LucidError(.secondFactorRequired, [
                "reason": .text(reason),
                "methods": .text(customer.user.totpEnabled ? "totp_code, recovery_code" : "verification_code"),
            ])
        }
        guard let security = try await store.userSecurity(customer.user.id) else { throw LucidError(.unauthenticated) }
        try await verifySecondFactor(customer.user, security, proof, purpose: reason)
    }

    /// Checks a proof; throws `second_factor_invalid` (or `rate_limited`) when it does not hold.
    @discardableResult
    func verifySecondFactor(_ user: UserRecord, _ security: UserSecurity, _ proof: SecondFactorProof,
                            purpose: String) async throws -> String {
        try Self.validate(proof)
        let key = "second-factor:\(user.id)"
        let gate = try await store.peek(key: key, policy: configuration.codeAttemptLimit, now: clock.now())
        guard gate.allowed else { throw LucidError(.rateLimited, ["retry_after_seconds": .int(gate.retryAfterSeconds)]) }
        do {
            return try await checkSecondFactor(user, security, proof, purpose: purpose)
        } catch let error as LucidError where error.code == .secondFactorInvalid {
            // Only wrong codes count: a customer who types the right one is never slowed down.
            _ = try await store.admit(key: key, policy: configuration.codeAttemptLimit, now: clock.now())
            throw error
        }
    }

    private func checkSecondFactor(_ user: UserRecord, _ security: UserSecurity, _ proof: SecondFactorProof,
                                   purpose: String) async throws -> String {
        let now = clock.now()
        if let code = proof.totpCode, user.totpEnabled, let sealed = security.totpSecret {
            let secret = try secrets.open(sealed)
            guard let step = TOTP.verify(code: code, secret: secret, at: now, lastUsedStep: security.totpLastStep),
                  try await store.claimTOTPStep(user.id, step: step) else {
                throw LucidError(.secondFactorInvalid)
            }
            return "totp"
        }
        if let code = proof.recoveryCode, user.totpEnabled {
            let stored = try await store.recoveryCodeHashes(of: user.id)
            let unused = stored.filter { !$0.used }
            guard let index = RecoveryCodes.match(code, against: unused.map(\.hash), salt: user.id.rawValue) else {
                throw LucidError(.secondFactorInvalid)
            }
            let remaining = unused.count - 1
            guard try await store.useRecoveryCode(user.id, position: unused[index].position, at: now, effects: SideEffects(
                audit: [events.audit("recovery_code_used", actor: "user:\(user.id)", target: user.id,
                                     ["purpose": .text(purpose), "remaining": .int(Int64(remaining))])],
                notifications: [events.notify(.recoveryCodeUsed, user.id, ["remaining": .int(Int64(remaining))])])) else {
                throw LucidError(.secondFactorInvalid)
            }
            return "recovery_code"
        }
        if let code = proof.verificationCode {
            guard code.utf8.count == 6, code.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  try await store.consumeToken(hash: Self.codeHash(user.id, code), purpose: "verification_code", at: now) == user.id else {
                throw LucidError(.secondFactorInvalid)
            }
            return "verification_code"
        }
        throw LucidError(.secondFactorInvalid)
    }

    func requireCodeShape(_ code: String) throws(LucidError) {
        guard code.utf8.count == TOTP.digitsDefault, code.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw LucidError.invalidField("code", "six digits from the authenticator app")
        }
    }

    /// Verification codes are only a million possibilities: salted by the user and single-use, short-lived and rate-limited.
    static func codeHash(_ user: UserID, _ code: String) -> [UInt8] {
        BearerToken.hash("verification:\(user.rawValue):\(code)")
    }
}
