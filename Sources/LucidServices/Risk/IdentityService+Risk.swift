import Foundation
import Logging
import LucidCore
import LucidRisk
import LucidStore

/// Risk monitoring of sign-ins (issue 6): every attempt is decided and recorded, failures too.
///
/// A failed attempt is already refused; it is recorded (features count failures per account
/// and per source address) and never acted on further: freezing an account because strangers
/// typed wrong passwords would hand them a way to lock its owner out.
///
/// A sign-in whose password (and second factor, when on) was right is decided before the
/// session opens: `allow` → in; `challenge` or `review` → a second factor (customers with 2FA
/// have just given one, so theirs is satisfied; others get a one-time code through the outbox
/// and sign in again with `verification_code`); `block` → `risk_blocked`; `freeze` →
/// `risk_blocked` and the account frozen.
extension IdentityService {
    /// Records a failed sign-in; never throws (the attempt is refused anyway).
    func screenFailedSignIn(_ user: UserRecord, deviceID: String?, origin: RequestOrigin) async {
        guard let risk else { return }
        do {
            let event = RiskEvent.login(id: ids.next(), customer: user.id, time: clock.now(), succeeded: false, device: deviceID,
                                        sourceAddress: origin.sourceAddress, country: origin.country)
            let assessment = try await risk.assess(event, user: user)
            try await risk.record(assessment, enforced: assessment.decision.action)
        } catch {
            logger.error("risk record of a failed sign-in failed", metadata: ["user_id": "\(user.id)", "error": "\(error)"])
        }
    }

    /// Decides a sign-in whose credentials were right, before its session opens.
    func screenSignIn(_ user: UserRecord, _ security: UserSecurity, deviceID: String?, origin: RequestOrigin,
                      proof: SecondFactorProof, secondFactorVerified: Bool) async throws {
        guard let risk else { return }
        let event = RiskEvent.login(id: ids.next(), customer: user.id, time: clock.now(), succeeded: true, device: deviceID,
                                    sourceAddress: origin.sourceAddress, country: origin.country,
                                    secondFactorVerified: secondFactorVerified)
        var assessment = try await risk.assess(event, user: user)
        var verified = secondFactorVerified
        if assessment.decision.action == .challenge || assessment.decision.action == .review, !verified,
           proof.verificationCode != nil || proof.totpCode != nil || proof.recoveryCode != nil {
            // The retry after a challenge: the code sent through the outbox (or a TOTP/recovery code).
            try await verifySecondFactor(user, security, proof, purpose: "risk_check")
            verified = true
            assessment = risk.reassess(assessment, secondFactorVerified: true)
        }
        let decision = assessment.decision
        let audit: (String) -> AuditEntry = { [events] action in
            events.audit(action, actor: "system:risk", target: user.id, origin: origin, decision.errorParams)
        }
        switch decision.action {
        case .allow:
            try await risk.record(assessment, enforced: .allow)
        case .review where verified:
            // A sign-in cannot be held: a proven second factor is what review asks of one.
            try await risk.record(assessment, enforced: .allow, effects: SideEffects(audit: [audit("risk_sign_in_flagged")]))
        case .challenge, .review:
            try await risk.record(assessment, enforced: .challenge, effects: SideEffects(audit: [audit("risk_challenge")]))
            var params = decision.errorParams
            params["reason"] = .text("risk_check")
            params["methods"] = .text(user.totpEnabled ? "totp_code, recovery_code" : "verification_code")
            if !user.totpEnabled { try await sendSignInCode(user, origin: origin) }
            throw LucidError(.secondFactorRequired, params)
        case .block, .freeze:
            var params = decision.errorParams
            params["at"] = .text(event.time.rfc3339)
            try await risk.record(assessment, enforced: decision.action, effects: SideEffects(
                audit: [audit(decision.action == .freeze ? "risk_freeze" : "risk_block")],
                notifications: [events.notify(.riskSignInBlocked, user.id, params)]))
            if decision.action == .freeze {
                try await freeze(user, by: "risk", reason: "suspicious sign-in (risk decision \(event.id))", origin: origin)
                logger.notice("account frozen by risk monitoring", metadata: ["user_id": "\(user.id)", "decision": "\(event.id)"])
            }
            throw LucidError(.riskBlocked, decision.errorParams)
        }
    }

    /// A one-time code for a challenged sign-in of a customer without 2FA (who cannot ask for
    /// one: they are not signed in). Rate-limited like the codes customers ask for.
    private func sendSignInCode(_ user: UserRecord, origin: RequestOrigin) async throws {
        let decision = try await store.admit(key: "verification-code:\(user.id)", policy: RateLimitPolicy(limit: 5, windowSeconds: 3_600),
                                             now: clock.now())
        guard decision.allowed else { throw LucidError(.rateLimited, ["retry_after_seconds": .int(decision.retryAfterSeconds)]) }
        var generator = SystemRandomNumberGenerator()
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000, using: &generator))
        let now = clock.now()
        let lifetime = configuration.verificationCodeLifetimeSeconds
        try await store.createToken(
            hash: Self.codeHash(user.id, code), purpose: "verification_code", user: user.id, at: now,
            expiresAt: now.adding(seconds: lifetime), effects: SideEffects(
                audit: [events.audit("verification_code_sent", actor: "system:risk", target: user.id, origin: origin,
                                     ["purpose": .text("sign_in")])],
                notifications: [events.notify(.verificationCode, user.id, ["purpose": .text("sign_in"), "valid_minutes": .int(lifetime / 60)],
                                              sealedSecret: try secrets.seal(Array(code.utf8)))]))
    }
}
