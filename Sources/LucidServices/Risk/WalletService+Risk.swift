import Logging
import LucidCore
import LucidGateway
import LucidRisk
import LucidStore

/// Risk monitoring of money (issue 6): every transfer, payment and withdrawal is decided
/// before it happens, and every top-up and received transfer feeds the features.
///
/// `allow` → the money moves; `challenge` → `second_factor_required` (the retry with a fresh
/// code goes through); `review` → the money is held as a pending transfer until an operator
/// approves or rejects it (or the hold times out) and the customer gets 202 `pending`;
/// `block` → `risk_blocked`; `freeze` → `risk_blocked` and the account frozen.
extension WalletService {
    /// A bank account as the risk engine keys it (the rail a top-up comes from, the payee a
    /// withdrawal goes to): the same key both ways, so money in from one account and straight out
    /// to another is visible to the rules.
    /// The account linked at sign-up (named by no request) is each customer's own: keyed by the customer.
    static func riskKey(_ account: MaskedBankAccount, of user: UserID) -> String {
        account.bank == PaymentGateway.linkedAccountBank ? "bank:linked:\(user)" : "bank:\(account.bank):\(account.last4)"
    }

    /// What risk screening decided for a movement of money, carried to `execute`.
    struct Screening: Sendable {
        let monitor: RiskMonitor
        let assessment: RiskMonitor.Assessment
        /// `.allow` or `.review`: every other action was answered already.
        let action: RiskAction
        /// The customer who receives the money (transfers), whose features learn of it when it posts.
        let recipient: UserID?
        /// How the other side is named in the customer's notifications.
        let counterparty: String
    }

    /// The step-up check and the risk decision for money going out.
    ///
    /// One proof serves both: when a step-up is due (`stepUp`: the policy's reason, or
    /// `add_bank_account`), it is verified and the event carries it; when only the risk rules
    /// ask (a challenge), the proof offered with the request is verified now and the event
    /// decided again with it. Nil when risk monitoring is off.
    func screen(_ customer: Customer, _ transferKind: TransferKind, _ money: Money, payee: String, recipient: UserRecord? = nil,
                counterparty: String, stepUp: String?, proof: SecondFactorProof) async throws -> Screening? {
        guard let kind = RiskEvent.Kind(rawValue: transferKind.rawValue), kind.isMoneyOut else {
            preconditionFailure("only transfers, payments and withdrawals are screened as money out")
        }
        var verified = false
        if let stepUp {
            try await identity.stepUp(customer, reason: stepUp, proof: proof)
            verified = true
        }
        guard let risk else { return nil }
        let available = try await store.wallets(of: customer.user.id).first { $0.currency == money.currency }?.balance.available ?? 0
        let event = RiskEvent.money(id: ids.next(), customer: customer.user.id, kind: kind, time: clock.now(), amount: money,
                                    payee: payee, device: customer.session.deviceID, sourceAddress: customer.session.sourceAddress,
                                    country: customer.session.country, balanceBefore: Money(available, money.currency),
                                    secondFactorVerified: verified)
        var assessment = try await risk.assess(event, user: customer.user, payee: recipient)
        if assessment.decision.action == .challenge, !verified, !proof.isEmpty {
            try await identity.stepUp(customer, reason: "risk_check", proof: proof)
            assessment = risk.reassess(assessment, secondFactorVerified: true)
        }
        let decision = assessment.decision
        let user = customer.user.id
        switch decision.action {
        case .allow, .review:
            return Screening(monitor: risk, assessment: assessment, action: decision.action, recipient: recipient?.id,
                             counterparty: counterparty)
        case .challenge:
            try await risk.record(assessment, enforced: .challenge, effects: SideEffects(audit: [
                events.audit("risk_challenge", actor: "system:risk", target: user, riskParams(decision, money)),
            ]))
            var params = decision.errorParams
            params["reason"] = .text("risk_check")
            params["methods"] = .text(customer.user.totpEnabled ? "totp_code, recovery_code" : "verification_code")
            throw LucidError(.secondFactorRequired, params)
        case .block, .freeze:
            var params = riskParams(decision, money)
            params["counterparty"] = .text(counterparty)
            try await risk.record(assessment, enforced: decision.action, effects: SideEffects(
                audit: [events.audit(decision.action == .freeze ? "risk_freeze" : "risk_block", actor: "system:risk", target: user, params)],
                notifications: [events.notify(.riskPaymentBlocked, user, params)]))
            if decision.action == .freeze {
                try await identity.freeze(customer.user, by: "risk", reason: "suspicious activity (risk decision \(event.id))",
                                          origin: .unknown)
                logger.notice("account frozen by risk monitoring", metadata: ["user_id": "\(user)", "decision": "\(event.id)"])
            }
            throw LucidError(.riskBlocked, decision.errorParams)
        }
    }

    /// A top-up is decided too (the rules see it and the features learn the rail and the
    /// amount), but never refused by risk: money coming in harms no one.
    func screenTopUp(_ customer: Customer, _ money: Money, from account: MaskedBankAccount) async throws -> Screening? {
        guard let risk else { return nil }
        let available = try await store.wallets(of: customer.user.id).first { $0.currency == money.currency }?.balance.available ?? 0
        let event = RiskEvent.money(id: ids.next(), customer: customer.user.id, kind: .topup, time: clock.now(), amount: money,
                                    rail: Self.riskKey(account, of: customer.user.id), device: customer.session.deviceID,
                                    sourceAddress: customer.session.sourceAddress, country: customer.session.country,
                                    balanceBefore: Money(available, money.currency))
        return Screening(monitor: risk, assessment: try await risk.assess(event, user: customer.user), action: .allow, recipient: nil,
                         counterparty: "bank")
    }

    /// Submits a screened transaction: held for review when the decision says so, with the decided
    /// event (decision, review item, what the features learn) written in the money's own transaction.
    func execute(_ tx: NewTransaction, for customer: Customer, screening: Screening?,
                 counterparty: (NewTransaction) -> CounterpartyView) async throws -> (TransactionView, Int) {
        guard let screening else { return try await execute(tx, for: customer, counterparty: counterparty) }
        var tx = tx
        let review = holdForReview(&tx, screening, customer: customer, expires: true)
        let learned = try attachDecision(&tx, screening, review: review)
        let result: (TransactionView, Int)
        do {
            result = try await execute(tx, for: customer, counterparty: counterparty)
        } catch {
            await refused(screening)
            throw error
        }
        return await recorded(screening, tx, review: review, learned: learned, result: result)
    }

    /// Turns `tx` into a hold for review when the decision says so: pending, 202, reason
    /// `security_review`, the customer told (the payee nothing yet), and the review item to record.
    /// With `expires`, the ledger releases the hold when the review time is over; a rail withdrawal
    /// has no ledger timeout, so `RiskOperations.expireReviews` voids it instead.
    func holdForReview(_ tx: inout NewTransaction, _ screening: Screening, customer: Customer, expires: Bool) -> RiskReviewRecord? {
        guard screening.action == .review else { return nil }
        let assessment = screening.assessment
        let now = clock.now()
        let until = now.adding(seconds: screening.monitor.configuration.reviewHoldSeconds)
        let reason = (assessment.decision.reason ?? .unusualActivity).rawValue
        tx.pending = true
        if expires { tx.timeoutAt = until }
        tx.reason = SecurityNote.heldReason
        tx.statusCode = 202
        var params = riskParams(assessment.decision, tx.amount)
        params["transaction_id"] = .text(tx.id.rawValue)
        params["counterparty"] = .text(screening.counterparty)
        params["expected_by"] = .text(until.rfc3339)
        tx.effects.audit.append(events.audit("risk_hold", actor: "system:risk", target: customer.user.id, params))
        tx.effects.notifications = [events.notify(.riskReviewHeld, customer.user.id, params)]
        return RiskReviewRecord(id: ids.next(), decisionID: assessment.event.id, transactionID: tx.id, userID: customer.user.id,
                                kind: tx.kind.rawValue, amount: tx.amount.minorUnits, currency: tx.amount.currency,
                                reason: reason, createdAt: now, expiresAt: until)
    }

    /// Puts the decided event into `tx`'s effects, so it is written in the same transaction as the
    /// money: the decision, the review item of a hold, and what the features learn (the sender's and
    /// payee's, and the receiver's for money that reaches another customer now). A crash cannot
    /// leave a movement without its decision, a hold without the review that releases it, or
    /// features that missed money that moved. Returns the values the feature updates produce, to be
    /// cached once the movement is committed.
    func attachDecision(_ tx: inout NewTransaction, _ screening: Screening, review: RiskReviewRecord?) throws -> AppliedStates {
        let monitor = screening.monitor, assessment = screening.assessment
        tx.effects.riskDecisions.append(try monitor.decisionRecord(assessment, enforced: screening.action, recorded: true,
                                                                   transactionID: tx.id))
        if let review { tx.effects.riskReviews.append(review) }
        let customer = assessment.event.customer
        let incoming = screening.action == .allow
            ? screening.recipient.map { RiskMonitor.Incoming(receiver: $0, amount: tx.amount, sender: customer) } : nil
        let (updates, applied) = monitor.stateUpdates(assessment, enforced: screening.action, incoming: incoming)
        tx.effects.riskStates += updates
        return applied
    }

    /// Refused before its transaction was written (funds, limits …): the decision is kept, the features learn nothing.
    func refused(_ screening: Screening?) async {
        guard let screening else { return }
        await recordQuietly(screening.monitor, screening.assessment, screening.action, recorded: false)
    }

    /// After a screened transaction was written: a replay of a concurrent request with the same key
    /// keeps its decision as not recorded (its own transaction, with its decision, was not written);
    /// otherwise the features' new values are cached and a held one gets its security note.
    func recorded(_ screening: Screening, _ tx: NewTransaction, review: RiskReviewRecord?, learned: AppliedStates,
                  result: (TransactionView, Int)) async -> (TransactionView, Int) {
        guard result.0.id == tx.id else {
            await recordQuietly(screening.monitor, screening.assessment, screening.action, recorded: false)
            return result
        }
        screening.monitor.remember(committed: learned)
        var view = result.0
        if let review { view.security = SecurityNote.make(review) }
        return (view, result.1)
    }

    private func recordQuietly(_ risk: RiskMonitor, _ assessment: RiskMonitor.Assessment, _ action: RiskAction, recorded: Bool) async {
        do {
            try await risk.record(assessment, enforced: action, recorded: recorded)
        } catch {
            logger.error("risk decision not stored", metadata: ["decision": "\(assessment.event.id)", "error": "\(error)"])
        }
    }

    /// Params that name a decision in audit events and notifications (never rules or values).
    func riskParams(_ decision: RiskDecision, _ money: Money) -> [String: ErrorParam] {
        var params = decision.errorParams
        params["amount"] = .int(money.minorUnits)
        params["currency"] = .text(money.currency.code)
        params["action"] = .text(decision.action.rawValue)
        return params
    }

    /// Adds what the customer is told about held transactions (under review, released, stopped).
    func annotateSecurity(_ views: [TransactionView]) async throws -> [TransactionView] {
        // Held, or (a rail movement shows its item's reason) released or stopped by the review.
        let held = views.filter { $0.reason?.hasPrefix(SecurityNote.heldReason) == true }.map(\.id)
        guard !held.isEmpty, let store = risk?.store else { return views }
        let reviews = Dictionary(try await store.riskReviews(transactions: held).map { ($0.transactionID, $0) }) { first, _ in first }
        return views.map { view in
            guard var review = reviews[view.id] else { return view }
            // The ledger may have settled the hold before the queue caught up (a hold that timed out).
            if !review.state.isClosed {
                switch view.state {
                case .pending: break
                case .posted: review.state = .approved
                case .voided, .failed: review.state = .rejected
                case .expired: review.state = .expired
                }
            }
            var view = view
            view.security = SecurityNote.make(review)
            view.reason = SecurityNote.reason(after: review.state)
            return view
        }
    }
}
