import Logging
import LucidCore
import LucidGateway
import LucidStore

/// One rail as operators see it: health from its circuit breaker, what it moves, and its items.
public struct RailStatusView: Sendable {
    public let rail: RailID
    public let health: RailHealth
    /// `closed`, `open` or `half_open`.
    public let breaker: String
    /// While open: when a probe may go through.
    public let openUntil: Timestamp?
    public let currencies: [String]
    public let directions: [String]
    /// Items by state (`pending`, `escalated`, `posted`, `voided`) and `overdue` (pending past their expected time).
    public let items: [String: Int]
}

/// What an operator does about an alert.
public enum AlertAction: String, Sendable, CaseIterable {
    /// Only record the note (nothing to move, or already handled elsewhere).
    case none
    /// Post the alert's pending transfer: the bank confirmed the movement.
    case post
    /// Void the alert's pending transfer: the bank confirmed nothing moved.
    case void
    /// A correcting transfer from the rail's clearing account to the customer.
    case credit
    /// A correcting transfer from the customer to the rail's clearing account.
    case debit
}

extension PaymentGateway {
    /// Every rail with its health and items.
    public func railsOverview() async throws -> [RailStatusView] {
        let counts = try await store.railItemCounts(now: clock.now())
        return directory.overview().map { overview in
            let breaker: String
            var openUntil: Timestamp?
            switch overview.breaker {
            case .closed: breaker = "closed"
            case .open(let until): breaker = "open"; openUntil = until
            case .halfOpen: breaker = "half_open"
            }
            return RailStatusView(rail: overview.descriptor.id, health: overview.health, breaker: breaker, openUntil: openUntil,
                                  currencies: overview.descriptor.currencies.map(\.code).sorted(),
                                  directions: overview.descriptor.directions.map(\.rawValue).sorted(),
                                  items: counts[overview.descriptor.id.rawValue] ?? [:])
        }
    }

    /// A rail's items, newest first (`state` filters), for following the sweeper's work.
    public func items(rail text: String, state: String?, by op: Operator, limit: Int?, cursor: String?) async throws
        -> Page<RailItemRecord> {
        try op.require(.admin, .support, .risk, .auditor)
        guard let rail = try Self.railID(text) else { throw LucidError(.railNotFound, ["rail": .text(text)]) }
        _ = try directory.descriptor(rail)
        let filter = try state.map { text throws(LucidError) -> RailItemState in
            guard let state = RailItemState(rawValue: text) else {
                throw LucidError.invalidField("state", "one of pending, escalated, posted, voided")
            }
            return state
        }
        return try await store.railItems(rail: rail.rawValue, state: filter, limit: try Validate.pageSize(limit), cursor: cursor)
    }

    // MARK: Alerts

    public func alerts(state: String?, rail: String?, by op: Operator, limit: Int?, cursor: String?) async throws
        -> Page<OperatorAlertRecord> {
        try op.require(.admin, .support, .risk, .auditor)
        let filter = try state.map { text throws(LucidError) -> AlertState in
            guard let state = AlertState(rawValue: text) else { throw LucidError.invalidField("state", "open or resolved") }
            return state
        }
        let railFilter = try Self.railID(rail)
        return try await store.alerts(state: filter, rail: railFilter?.rawValue, limit: try Validate.pageSize(limit), cursor: cursor)
    }

    /// Closes an alert with a note, an audited operator action (admin or risk). Where money must move it
    /// does so in the same transaction: `post` / `void` settle the alert's pending transfer; `credit` /
    /// `debit` make a correcting transfer between the customer and the rail's clearing account. At most one
    /// correction per alert: a second, different one is `idempotency_key_reused`.
    public func resolveAlert(_ id: String, note: String, action: AlertAction, amount: Int64?, user: UserID?,
                             by op: Operator) async throws -> OperatorAlertRecord {
        try op.require(.admin, .risk)
        let note = try Validate.text(note, field: "note", max: InputLimits.memoLengthMax)
        guard UUIDText.isCanonical(id), let alert = try await store.alert(id) else {
            throw LucidError(.alertNotFound, ["alert_id": .text(String(id.prefix(40)))])
        }
        guard alert.state == .open else { throw alreadyResolved(alert) }
        let now = clock.now()
        var details: [String: ErrorParam] = ["alert_id": .text(id), "kind": .text(alert.kind), "action": .text(action.rawValue),
                                             "note": .text(note)]
        if let reference = alert.reference { details["reference"] = .text(reference) }
        switch action {
        case .none:
            let resolution = AlertResolution(id: id, by: op.actor, note: note, at: now)
            guard try await store.resolveAlert(resolution, effects: SideEffects(audit: [
                events.audit("alert_resolved", actor: op.actor, target: alert.userID, details),
            ])) else { throw alreadyResolved(try await store.alert(id) ?? alert) }
        case .post, .void:
            guard let reference = alert.reference.flatMap(TransferID.init(parsing:)), let item = try await store.railItem(reference),
                  !item.state.isFinal else {
                throw LucidError.invalidField("action", "this alert has no pending transfer to \(action.rawValue)")
            }
            let pending: PendingAction = action == .post ? .post : .void
            let resolution = AlertResolution(id: id, by: op.actor, note: note, at: now)
            let effects = SideEffects(
                audit: [events.audit("alert_resolved", actor: op.actor, target: item.userID, details)],
                notifications: [notification(item, pending, reason: "operator_decision")],
                gateway: [.resolveItem(RailItemResolution(reference: reference, state: action == .post ? .posted : .voided,
                                                          railState: nil, reason: action == .post ? nil : "operator_decision",
                                                          bankReference: nil, finalAt: nil, resolvedAt: now)),
                          .resolveAlert(resolution)])
            _ = try await store.submit(.resolve(reference, pending, initiator: op.actor, effects: effects))
        case .credit, .debit:
            let amount = try Validate.amount(amount ?? 0)
            guard let user = user ?? alert.userID else {
                throw LucidError.invalidField("user_id", "name the customer whose balance is corrected")
            }
            guard let railText = alert.rail, let rail = RailID(parsing: railText), let code = alert.currency,
                  let currency = Currency.named(code) else {
                throw LucidError.invalidField("action", "this alert names no rail and currency to correct against")
            }
            guard try await store.user(user) != nil else { throw LucidError(.userNotFound) }
            details["amount"] = .int(amount)
            details["currency"] = .text(code)
            details["user_id"] = .text(user.rawValue)
            let transferID: TransferID = ids.make()
            let clearing = AccountRef.system(.clearing(rail: rail.rawValue), currency)
            let customer = AccountRef.customer(user, currency)
            let resolution = AlertResolution(id: id, by: op.actor, note: note, at: now, correctionID: transferID)
            let correction = NewTransaction(
                id: transferID, kind: .adjustment, debit: action == .credit ? clearing : customer,
                credit: action == .credit ? customer : clearing, amount: Money(amount, currency), memo: note, reason: "reconciliation",
                initiator: op.actor,
                idempotency: IdempotencyClaim(scope: "alert:\(id)", key: "correction",
                                              requestHash: RequestFingerprint.make([action.rawValue, String(amount), code, user.rawValue])),
                effects: SideEffects(
                    audit: [events.audit("alert_resolved", actor: op.actor, target: user, details)],
                    notifications: [events.notify(.balanceCorrected, user, [
                        "amount": .int(amount), "currency": .text(code), "note": .text(note),
                        "direction": .text(action == .credit ? "credited" : "debited"),
                    ])],
                    gateway: [.resolveAlert(resolution)]))
            let receipt = try await store.submit(.create(correction))
            LedgerMetrics.count(.adjustment, result: receipt.replayed ? "replayed" : "ok")
        }
        logger.notice("alert resolved", metadata: ["alert": "\(id)", "operator": "\(op.record.name)", "action": "\(action.rawValue)"])
        guard let resolved = try await store.alert(id) else { throw LucidError(.alertNotFound, ["alert_id": .text(id)]) }
        return resolved
    }

    func alreadyResolved(_ alert: OperatorAlertRecord) -> LucidError {
        LucidError(.alertAlreadyResolved, ["alert_id": .text(alert.id), "resolved_by": .text(alert.resolvedBy ?? "?"),
                                           "resolved_at": .text(alert.resolvedAt?.rfc3339 ?? "?")])
    }

    // MARK: Reconciliation runs

    /// Runs a reconciliation for an operator (admin, risk or support), downloading the rail's report.
    public func reconcile(rail text: String, date: String, by op: Operator) async throws -> ReconciliationOutcome {
        try op.require(.admin, .risk, .support)
        guard let rail = try Self.railID(text) else { throw LucidError(.railNotFound, ["rail": .text(text)]) }
        guard let day = SettlementDay(parsing: date) else { throw LucidError.invalidField("date", "a day as YYYY-MM-DD") }
        guard day <= SettlementDay(containing: clock.now()) else { throw LucidError.invalidField("date", "a day that has begun") }
        guard let outcome = try await reconcile(rail: rail, day: day, triggeredBy: op.actor) else {
            throw LucidError(.internalError, cause: "an unscheduled run was refused")
        }
        return outcome
    }

    public func reconciliation(_ id: String, by op: Operator, limit: Int?, cursor: String?) async throws
        -> (run: ReconciliationRunRecord, exceptions: Page<ReconciliationExceptionRecord>) {
        try op.require(.admin, .support, .risk, .auditor)
        guard UUIDText.isCanonical(id), let run = try await store.reconciliation(id) else {
            throw LucidError(.reconciliationNotFound, ["reconciliation_id": .text(String(id.prefix(40)))])
        }
        let page = try await store.reconciliationExceptions(run: id, limit: try Validate.pageSize(limit), cursor: cursor)
        return (run, page)
    }
}
