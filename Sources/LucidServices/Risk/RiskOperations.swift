import Foundation
import Logging
import LucidCore
import LucidRisk
import LucidStore

/// What operators do with risk monitoring (issue 6): read decisions with their full
/// explanation, work the review queue (claim, approve, reject), and change the rules,
/// lists and suppressions in force — over HTTP (`/v1/ops/risk/…`) and the `lucid risk`
/// command alike. Every change is audited in the same transaction; the customer is told
/// about every outcome of a review.
///
/// Roles: reading needs admin, risk or auditor; changing needs admin or risk. `by: nil` is
/// the local command line (whoever runs it already holds the database), audited as `system:cli`.
public struct RiskOperations: Sendable {
    public let wallet: WalletService
    public let monitor: RiskMonitor

    public init(wallet: WalletService, monitor: RiskMonitor) {
        self.wallet = wallet
        self.monitor = monitor
    }

    var store: any RiskStore { monitor.store }
    var identity: IdentityService { wallet.identity }
    var events: SecurityEvents { wallet.events }
    var clock: any WallClock { wallet.clock }

    /// Longest note on a review, list entry or suppression.
    public static let noteLengthMax = 500

    private func reader(_ op: Operator?) throws(LucidError) { try op?.require(.admin, .risk, .auditor) }
    private func writer(_ op: Operator?) throws(LucidError) -> String {
        try op?.require(.admin, .risk)
        return op?.actor ?? "system:cli"
    }

    // MARK: Decisions

    public func decision(_ id: String, by op: Operator?) async throws -> RiskDecisionRecord {
        try reader(op)
        guard id.utf8.count <= 64, let decision = try await store.riskDecision(id) else { throw LucidError(.riskDecisionNotFound) }
        return decision
    }

    public func decisions(of user: UserID?, limit: Int?, cursor: String?, by op: Operator?) async throws -> Page<RiskDecisionRecord> {
        try reader(op)
        return try await store.riskDecisions(of: user, limit: try Validate.pageSize(limit), cursor: cursor)
    }

    // MARK: Review queue

    /// A review with the decision that held the money and the held transaction.
    public struct ReviewDetail: Sendable {
        public let review: RiskReviewRecord
        public let decision: RiskDecisionRecord?
        public let transaction: TransactionView?
    }

    public func reviews(state: RiskReviewState?, limit: Int?, cursor: String?, by op: Operator?) async throws -> Page<RiskReviewRecord> {
        try reader(op)
        if let cursor, !UUIDText.isCanonical(cursor) { throw LucidError(.invalidCursor) }
        return try await store.riskReviews(state: state, limit: try Validate.pageSize(limit), cursor: cursor)
    }

    public func review(_ id: String, by op: Operator?) async throws -> ReviewDetail {
        try reader(op)
        let review = try await load(id)
        let transaction = try await wallet.store.transaction(review.transactionID).map { TransactionView($0, reader: nil) }
        return ReviewDetail(review: review, decision: try await store.riskDecision(review.decisionID), transaction: transaction)
    }

    private func load(_ id: String) async throws -> RiskReviewRecord {
        guard UUIDText.isCanonical(id), let review = try await store.riskReview(id) else { throw LucidError(.riskReviewNotFound) }
        return review
    }

    /// Takes a review: others then cannot decide it (admins still can).
    public func claim(_ id: String, note: String?, by op: Operator?) async throws -> RiskReviewRecord {
        let actor = try writer(op)
        let note = try note.map { value throws(LucidError) in try Validate.text(value, field: "note", max: Self.noteLengthMax, allowEmpty: true) }
        let review = try await open(id, for: op, actor: actor)
        if review.state == .claimed, review.claimedBy == actor { return review }
        let changed = try await store.changeRiskReview(id, from: [review.state], change: .claim(by: actor, at: clock.now(), note: note),
                                                       effects: SideEffects(audit: [audit("risk_review_claimed", actor, review, note: note)]))
        guard changed else { return try await raced(id) }
        return try await load(id)
    }

    /// Releases the held money: the pending transfer is posted and the customer told. A held withdrawal
    /// is handed to its rail instead (`PaymentGateway.sendApproved`) and posts when the rail settles it.
    public func approve(_ id: String, note: String, by op: Operator?) async throws -> RiskReviewRecord {
        let actor = try writer(op)
        let note = try Validate.text(note, field: "note", max: Self.noteLengthMax)
        let review = try await open(id, for: op, actor: actor)
        guard let tx = try await wallet.store.transaction(review.transactionID) else { throw LucidError(.transactionNotFound) }
        let params = customerParams(review, tx)
        var effects = SideEffects(audit: [audit("risk_review_approved", actor, review, note: note)],
                                  notifications: [events.notify(.riskReviewApproved, review.userID, params)])
        if let gateway = wallet.gateway, try await gateway.reviewHold(of: tx.id) != .notARailMovement {
            return try await approveAtRail(review, gateway: gateway, actor: actor, note: note, effects: effects)
        }
        let receiver = tx.kind == .transfer && tx.credit.kind == .customer ? tx.credit.ownerID.map(UserID.init) : nil
        if let receiver {
            effects.notifications.append(events.notify(.moneyReceived, receiver, [
                "amount": .int(tx.amount), "currency": .text(tx.currency.code), "counterparty": .text(Mask.name(tx.debit.displayName ?? "")),
            ]))
        }
        do {
            _ = try await wallet.store.submit(.resolve(review.transactionID, .post, initiator: actor, effects: effects))
        } catch let error as LucidError where error.code == .transferAlreadyPosted {
            // Posted before (an approval interrupted before the queue was updated): finish the bookkeeping.
        } catch let error as LucidError where error.code == .transferExpired || error.code == .transferAlreadyVoided {
            let state: RiskReviewState = error.code == .transferExpired ? .expired : .rejected
            _ = try await store.changeRiskReview(id, from: [.open, .claimed], change: .expire(at: clock.now()), effects: .none)
            throw LucidError(.riskReviewClosed, ["state": .text(state.rawValue)])
        }
        _ = try await store.changeRiskReview(id, from: [.open, .claimed], change: .approve(by: actor, at: clock.now(), note: note),
                                             effects: .none)
        if let receiver, let sender = tx.debit.ownerID.map(UserID.init) {
            do {
                try await monitor.recordIncoming(.init(receiver: receiver, amount: Money(tx.amount, tx.currency), sender: sender))
            } catch {
                monitor.logger.error("risk record of approved money failed", metadata: ["review": "\(id)", "error": "\(error)"])
            }
        }
        monitor.logger.notice("risk review approved", metadata: ["review": "\(id)", "operator": "\(actor)"])
        return try await load(id)
    }

    /// Sends an approved withdrawal to its rail, then closes the review. Sending first: a withdrawal
    /// already released (a concurrent approval, or one interrupted before the queue was updated) is not
    /// sent twice, and the review still closes as approved.
    private func approveAtRail(_ review: RiskReviewRecord, gateway: PaymentGateway, actor: String, note: String,
                               effects: SideEffects) async throws -> RiskReviewRecord {
        var failure: LucidError?
        do {
            _ = try await gateway.sendApproved(review.transactionID)
        } catch let error as LucidError where error.code == .gatewayUnavailable {
            failure = error // voided and the customer told; the decision still stands
        }
        _ = try await store.changeRiskReview(review.id, from: [.open, .claimed],
                                             change: .approve(by: actor, at: clock.now(), note: note), effects: effects)
        monitor.logger.notice("risk review approved; withdrawal sent to its rail", metadata: ["review": "\(review.id)", "operator": "\(actor)"])
        if let failure { throw failure }
        return try await load(review.id)
    }

    /// Refuses the held money: the pending transfer is voided (money back to the customer),
    /// the customer told, and optionally the account frozen.
    public func reject(_ id: String, note: String, freeze: Bool, by op: Operator?) async throws -> RiskReviewRecord {
        let actor = try writer(op)
        let note = try Validate.text(note, field: "note", max: Self.noteLengthMax)
        let review = try await open(id, for: op, actor: actor)
        guard let tx = try await wallet.store.transaction(review.transactionID) else { throw LucidError(.transactionNotFound) }
        var railEffects: [GatewayEffect] = []
        if let gateway = wallet.gateway {
            switch try await gateway.reviewHold(of: tx.id) {
            case .notARailMovement: break
            case .heldUnsent: railEffects = [gateway.heldVoid(tx.id, reason: "security_review_rejected")]
            case .released:
                // Approved and sent meanwhile: the rail has it now, so it can no longer be stopped here.
                _ = try await store.changeRiskReview(id, from: [.open, .claimed],
                                                     change: .approve(by: "system:risk", at: clock.now(), note: "already sent to the rail"),
                                                     effects: .none)
                throw LucidError(.riskReviewClosed, ["state": .text(RiskReviewState.approved.rawValue)])
            }
        }
        let effects = SideEffects(audit: [audit("risk_review_rejected", actor, review, note: note, ["froze": .text(freeze ? "true" : "false")])],
                                  notifications: [events.notify(.riskReviewRejected, review.userID, customerParams(review, tx))],
                                  gateway: railEffects)
        do {
            _ = try await wallet.store.submit(.resolve(review.transactionID, .void, initiator: actor, effects: effects))
        } catch let error as LucidError where error.code == .transferAlreadyVoided {
            // Voided before (a rejection interrupted before the queue was updated).
        } catch let error as LucidError where error.code == .transferExpired || error.code == .transferAlreadyPosted {
            if error.code == .transferExpired {
                _ = try await store.changeRiskReview(id, from: [.open, .claimed], change: .expire(at: clock.now()), effects: .none)
            }
            throw LucidError(.riskReviewClosed, ["state": .text(error.code == .transferExpired ? "expired" : "approved")])
        }
        _ = try await store.changeRiskReview(id, from: [.open, .claimed],
                                             change: .reject(by: actor, at: clock.now(), note: note, froze: freeze), effects: .none)
        if freeze, let user = try await wallet.store.user(review.userID), user.status == .active {
            try await identity.freeze(user, by: actor, reason: "rejected in security review", origin: .unknown)
        }
        monitor.logger.notice("risk review rejected", metadata: ["review": "\(id)", "operator": "\(actor)", "froze": "\(freeze)"])
        return try await load(id)
    }

    /// A review that may still be decided by this operator.
    private func open(_ id: String, for op: Operator?, actor: String) async throws -> RiskReviewRecord {
        let review = try await load(id)
        if review.state.isClosed { throw LucidError(.riskReviewClosed, ["state": .text(review.state.rawValue)]) }
        if review.state == .claimed, let owner = review.claimedBy, owner != actor, op?.record.role != .admin, op != nil {
            throw LucidError(.riskReviewClaimed, ["claimed_by": .text(owner)])
        }
        return review
    }

    /// Someone moved the review between our read and our write: say what happened.
    private func raced(_ id: String) async throws -> RiskReviewRecord {
        let review = try await load(id)
        if review.state.isClosed { throw LucidError(.riskReviewClosed, ["state": .text(review.state.rawValue)]) }
        throw LucidError(.riskReviewClaimed, ["claimed_by": .text(review.claimedBy ?? "?")])
    }

    private func customerParams(_ review: RiskReviewRecord, _ tx: TransactionRecord) -> [String: ErrorParam] {
        let counterparty = TransactionView(tx, reader: review.userID).counterparty.name
        return ["amount": .int(review.amount), "currency": .text(review.currency.code), "counterparty": .text(counterparty),
                "risk_reason": .text(review.reason), "transaction_id": .text(review.transactionID.rawValue)]
    }

    private func audit(_ action: String, _ actor: String, _ review: RiskReviewRecord, note: String?,
                       _ extra: [String: ErrorParam] = [:]) -> AuditEntry {
        var details: [String: ErrorParam] = ["review_id": .text(review.id), "transaction_id": .text(review.transactionID.rawValue),
                                             "decision_id": .text(review.decisionID)]
        if let note { details["note"] = .text(note) }
        details.merge(extra) { $1 }
        return events.audit(action, actor: actor, target: review.userID, details)
    }

    /// Closes reviews whose hold is over: expired by the ledger (nobody decided in time; the
    /// customer is told the money is back), or settled outside the queue (an operator's
    /// post or void of the transaction). Returns how many were closed.
    public func expireReviews(limit: Int = 200) async throws -> Int {
        var closed = 0
        for review in try await store.riskReviewsPastExpiry(now: clock.now(), limit: limit) {
            guard let tx = try await wallet.store.transaction(review.transactionID) else { continue }
            let now = clock.now()
            let change: RiskReviewChange
            var effects = SideEffects.none
            switch tx.state {
            case .pending:
                // A withdrawal held at its rail has no ledger timeout: it is voided here. Anything else waits
                // for the hold expiry service to release it (next round).
                guard let gateway = wallet.gateway else { continue }
                switch try await gateway.reviewHold(of: tx.id) {
                case .notARailMovement:
                    continue
                case .released:
                    change = .approve(by: "system:risk", at: now, note: "already sent to the rail")
                case .heldUnsent:
                    let notice = SideEffects(audit: [audit("risk_review_expired", "system:risk", review, note: nil)],
                                             notifications: [events.notify(.riskReviewExpired, review.userID, customerParams(review, tx))],
                                             gateway: [gateway.heldVoid(tx.id, reason: "security_review_expired")])
                    do {
                        _ = try await wallet.store.submit(.resolve(tx.id, .void, initiator: "system:risk", effects: notice))
                    } catch let error as LucidError where [.transferAlreadyVoided, .transferAlreadyPosted].contains(error.code) {
                        continue // settled another way meanwhile: the next round closes the review accordingly
                    }
                    change = .expire(at: now)
                }
            case .expired:
                change = .expire(at: now)
                effects = SideEffects(audit: [audit("risk_review_expired", "system:hold-expiry", review, note: nil)],
                                      notifications: [events.notify(.riskReviewExpired, review.userID, customerParams(review, tx))])
            case .posted:
                change = .approve(by: "system:ledger", at: now, note: "settled outside the review queue")
            case .voided, .failed:
                change = .reject(by: "system:ledger", at: now, note: "cancelled outside the review queue", froze: false)
            }
            if try await store.changeRiskReview(review.id, from: [.open, .claimed], change: change, effects: effects) { closed += 1 }
        }
        return closed
    }

    // MARK: Rules

    /// A rule set in force, as operators read it.
    public struct RuleSetInfo: Sendable {
        public let version: String
        public let yaml: String
        public let rules: Int
        /// Nil for the bundled defaults (never stored).
        public let loadedBy: String?
        public let loadedAt: Timestamp?
    }

    public func ruleSets(by op: Operator?) async throws -> (live: RuleSetInfo, shadow: RuleSetInfo?) {
        try reader(op)
        try await monitor.reloadIfChanged()
        let (live, shadow) = monitor.rules.current
        let (liveRecord, shadowRecord) = monitor.ruleSetRecords
        return (RuleSetInfo(version: live.version, yaml: live.source, rules: live.rules.count, loadedBy: liveRecord?.createdBy,
                            loadedAt: liveRecord?.createdAt),
                shadow.map { RuleSetInfo(version: $0.version, yaml: $0.source, rules: $0.rules.count, loadedBy: shadowRecord?.createdBy,
                                         loadedAt: shadowRecord?.createdAt) })
    }

    /// Validates `yaml` and puts it in force as the live or the shadow set, in every process
    /// (they reload within `reloadInterval`). A bad file is refused with its first problem's
    /// line (`risk_rules_invalid`) and nothing changes.
    @discardableResult
    public func putRules(_ yaml: String, slot: RiskRuleSetRecord.Slot, by op: Operator?) async throws -> RuleSetInfo {
        let actor = try writer(op)
        let set: RuleSet
        do {
            set = try RuleSet.load(yaml: yaml)
        } catch {
            throw LucidError(.riskRulesInvalid, ["line": .int(Int64(error.line)), "reason": .text(error.problems[0].reason),
                                                 "problems": .int(Int64(error.problems.count))])
        }
        let now = clock.now()
        try await store.saveRiskRuleSet(
            RiskRuleSetRecord(id: wallet.ids.next(), slot: slot, version: set.version, yaml: yaml, createdBy: actor, createdAt: now),
            effects: SideEffects(audit: [events.audit("risk_rules_loaded", actor: actor, target: nil, [
                "slot": .text(slot.rawValue), "version": .text(set.version), "rules": .int(Int64(set.rules.count)),
            ])]))
        try await monitor.reload()
        monitor.logger.notice("risk rules loaded", metadata: ["slot": "\(slot.rawValue)", "version": "\(set.version)", "by": "\(actor)"])
        return RuleSetInfo(version: set.version, yaml: yaml, rules: set.rules.count, loadedBy: actor, loadedAt: now)
    }

    /// Stops evaluating a shadow set.
    public func switchOffShadow(by op: Operator?) async throws {
        let actor = try writer(op)
        try await store.saveRiskRuleSet(
            RiskRuleSetRecord(id: wallet.ids.next(), slot: .shadow, version: nil, yaml: nil, createdBy: actor, createdAt: clock.now()),
            effects: SideEffects(audit: [events.audit("risk_shadow_off", actor: actor, target: nil)]))
        try await monitor.reload()
    }

    // MARK: Lists and suppressions

    public func listEntries(by op: Operator?) async throws -> [RiskListEntryRecord] {
        try reader(op)
        return try await store.riskListEntries()
    }

    public struct NewListEntry: Sendable {
        public var kind: String
        public var value: String
        public var verdict: String
        public var userID: UserID?
        public var expiresAt: Timestamp?
        public var note: String
        public init(kind: String, value: String, verdict: String, userID: UserID? = nil, expiresAt: Timestamp? = nil, note: String = "") {
            self.kind = kind
            self.value = value
            self.verdict = verdict
            self.userID = userID
            self.expiresAt = expiresAt
            self.note = note
        }
    }

    public func addListEntry(_ new: NewListEntry, by op: Operator?) async throws -> RiskListEntryRecord {
        let actor = try writer(op)
        guard let kind = RiskListEntry.Kind(rawValue: new.kind) else { throw LucidError.invalidField("kind", "payee, device or country") }
        guard RiskListEntry.Verdict(rawValue: new.verdict) != nil else { throw LucidError.invalidField("verdict", "allow or deny") }
        var value = try Validate.text(new.value, field: "value", max: 200)
        if kind == .country { value = try Validate.country(value) }
        let note = try Validate.text(new.note, field: "note", max: Self.noteLengthMax, allowEmpty: true)
        let now = clock.now()
        if let expiresAt = new.expiresAt, expiresAt <= now { throw LucidError.invalidField("expires_at", "must be in the future") }
        if let user = new.userID, try await wallet.store.user(user) == nil { throw LucidError(.userNotFound) }
        let entry = RiskListEntryRecord(id: wallet.ids.next(), kind: kind.rawValue, value: value, verdict: new.verdict, userID: new.userID,
                                        expiresAt: new.expiresAt, note: note, createdBy: actor, createdAt: now)
        try await store.addRiskListEntry(entry, effects: SideEffects(audit: [events.audit("risk_list_entry_added", actor: actor,
                                                                                          target: new.userID, [
            "entry_id": .text(entry.id), "kind": .text(entry.kind), "value": .text(value), "verdict": .text(entry.verdict),
            "expires_at": .text(entry.expiresAt?.rfc3339 ?? "never"),
        ])]))
        try await monitor.reload()
        return entry
    }

    public func removeListEntry(_ id: String, by op: Operator?) async throws {
        let actor = try writer(op)
        guard UUIDText.isCanonical(id),
              try await store.removeRiskListEntry(id, effects: SideEffects(audit: [events.audit("risk_list_entry_removed", actor: actor,
                                                                                                target: nil, ["entry_id": .text(id)])])) else {
            throw LucidError(.riskEntryNotFound)
        }
        try await monitor.reload()
    }

    public func suppressions(by op: Operator?) async throws -> [RiskSuppressionRecord] {
        try reader(op)
        return try await store.riskSuppressions()
    }

    public func addSuppression(user: UserID, ruleID: String, until: Timestamp, note: String, by op: Operator?) async throws -> RiskSuppressionRecord {
        let actor = try writer(op)
        let ruleID = try Validate.text(ruleID, field: "rule_id", max: RuleSet.idLengthMax)
        guard monitor.rules.live.rules.contains(where: { $0.id == ruleID }) || (monitor.rules.shadow?.rules.contains { $0.id == ruleID } ?? false) else {
            throw LucidError.invalidField("rule_id", "no rule in force has this id")
        }
        let note = try Validate.text(note, field: "note", max: Self.noteLengthMax, allowEmpty: true)
        let now = clock.now()
        guard until > now else { throw LucidError.invalidField("until", "must be in the future") }
        guard try await wallet.store.user(user) != nil else { throw LucidError(.userNotFound) }
        let suppression = RiskSuppressionRecord(id: wallet.ids.next(), userID: user, ruleID: ruleID, until: until, note: note,
                                                createdBy: actor, createdAt: now)
        try await store.addRiskSuppression(suppression, effects: SideEffects(audit: [events.audit("risk_rule_suppressed", actor: actor,
                                                                                                  target: user, [
            "suppression_id": .text(suppression.id), "rule_id": .text(ruleID), "until": .text(until.rfc3339),
        ])]))
        try await monitor.reload()
        return suppression
    }

    public func removeSuppression(_ id: String, by op: Operator?) async throws {
        let actor = try writer(op)
        guard UUIDText.isCanonical(id),
              try await store.removeRiskSuppression(id, effects: SideEffects(audit: [events.audit("risk_suppression_removed", actor: actor,
                                                                                                  target: nil, ["suppression_id": .text(id)])])) else {
            throw LucidError(.riskEntryNotFound)
        }
        try await monitor.reload()
    }

    // MARK: Backtest

    /// Replays the stored decision history since `since` through `yaml` (nothing is changed).
    /// Events refused by something after their decision (funds, limits) are left out: they did
    /// not happen. Lists and suppressions in force now apply.
    public func backtest(yaml: String, since: Timestamp) async throws -> BacktestReport {
        let set: RuleSet
        do {
            set = try RuleSet.load(yaml: yaml)
        } catch {
            throw LucidError(.riskRulesInvalid, ["line": .int(Int64(error.line)), "reason": .text(error.problems[0].reason),
                                                 "problems": .int(Int64(error.problems.count))])
        }
        let history = try await recordedHistory(since: since)
        try await monitor.reloadIfChanged()
        let lists = RiskLists(try await store.riskListEntries().compactMap { entry in
            guard let kind = RiskListEntry.Kind(rawValue: entry.kind), let verdict = RiskListEntry.Verdict(rawValue: entry.verdict) else {
                return nil
            }
            return RiskListEntry(kind: kind, value: entry.value, verdict: verdict, customer: entry.userID, expiresAt: entry.expiresAt,
                                 note: entry.note)
        })
        let suppressions = try await store.riskSuppressions().map {
            RuleSuppression(customer: $0.userID, ruleID: $0.ruleID, until: $0.until, note: $0.note)
        }
        return RiskBacktest.run(history, ruleSet: set, lists: lists, suppressions: suppressions, configuration: monitor.configuration.features)
    }

    /// The stored events since `since`, with the context and the action recorded at the time.
    public func recordedHistory(since: Timestamp) async throws -> [RecordedEvent] {
        let decoder = JSONDecoder()
        var history: [RecordedEvent] = []
        var unreadable = 0
        try await store.forEachRiskDecision(since: since) { record in
            guard record.recorded else { return }
            guard let event = try? decoder.decode(RiskEvent.self, from: Data(record.event.utf8)),
                  let context = try? decoder.decode(StoredContext.self, from: Data(record.context.utf8)) else {
                unreadable += 1
                return
            }
            history.append(RecordedEvent(event: event, context: context.context, payeeContext: context.payeeContext,
                                         recordedAction: RiskAction(rawValue: record.action)))
        }
        if unreadable > 0 { monitor.logger.warning("backtest skipped unreadable decisions", metadata: ["count": "\(unreadable)"]) }
        return history
    }
}
