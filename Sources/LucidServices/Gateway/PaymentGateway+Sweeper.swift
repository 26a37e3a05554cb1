import Logging
import LucidCore
import LucidGateway
import LucidStore

/// What one sweep did.
public struct SweepSummary: Sendable, Hashable {
    /// Items claimed and asked about.
    public var checked = 0
    /// Resolved by the answer (posted or voided), including ones another process had just resolved.
    public var resolved = 0
    /// Given up on: an operator alert is open for each.
    public var escalated = 0
    /// Still pending at the rail, or the rail did not answer: checked again later.
    public var rescheduled = 0
    /// Old callback event ids forgotten.
    public var forgottenEvents = 0

    public init() {}
}

extension PaymentGateway {
    /// Finds items pending past their expected time (plus a grace), asks their rail, and resolves them
    /// (post or void) or, after `sweepAttemptsMax` checks, escalates them to an operator. Every check is
    /// audited; a resolution or an escalation is also notified to the customer.
    ///
    /// Safe with several processes: items are claimed in the database first, so two sweepers never
    /// check the same item at once; and a post or void another process got in first is refused by the
    /// ledger and counted as resolved.
    public func sweep() async throws -> SweepSummary {
        var summary = SweepSummary()
        let now = clock.now()
        summary.forgottenEvents = try await store.purgeCallbackEvents(before: now.adding(seconds: -2 * configuration.callbackToleranceSeconds))
        let items = try await store.claimDueRailItems(now: now, limit: configuration.sweepBatchMax, claimant: instance,
                                                      until: now.adding(seconds: configuration.sweepClaimSeconds))
        for item in items {
            summary.checked += 1
            do {
                switch try await check(item) {
                case .resolved: summary.resolved += 1
                case .escalated: summary.escalated += 1
                case .rescheduled: summary.rescheduled += 1
                }
            } catch {
                summary.rescheduled += 1
                logger.error("sweeper could not check an item", metadata: ["reference": "\(item.reference)", "error": "\(error)"])
            }
            try? await store.releaseRailItem(item.reference, claimant: instance)
        }
        if summary.checked > 0 {
            logger.info("swept stuck rail items", metadata: [
                "checked": "\(summary.checked)", "resolved": "\(summary.resolved)", "escalated": "\(summary.escalated)",
            ])
        }
        return summary
    }

    enum CheckResult { case resolved, escalated, rescheduled }

    /// Asks the rail about one overdue item and acts on the answer.
    func check(_ item: RailItemRecord) async throws -> CheckResult {
        let rail = RailID(item.rail)
        let receipt: RailReceipt?
        do {
            receipt = try await directory.status(of: RailReference(item.reference.rawValue), via: rail)
        } catch let error as LucidError where [.gatewayUnavailable, .gatewayTimeout].contains(error.code) {
            return try await checkAgainLater(item, reason: "bank_not_responding", answer: error.code.rawValue)
        }
        guard let receipt else {
            // The rail never received it (the submit was lost, or the bank forgot it): nothing was booked there,
            // so the money goes back where it was.
            let outcome = try await resolve(item, .void, railState: nil, railReason: nil, reason: "not_received_by_rail", finalAt: nil,
                                            bankID: nil, actor: "system:sweeper")
            return outcome == .conflict ? .escalated : .resolved
        }
        let outcome = try await apply(receipt.status, bankID: receipt.bankID, occurredAt: nil, to: item.reference, rail: rail,
                                      actor: "system:sweeper")
        switch outcome {
        case .conflict: return .escalated
        case .applied, .alreadyResolved, .duplicate, .stale:
            if receipt.status.isFinal { return .resolved }
            // Synced by another path meanwhile (e.g. an operator resolved it).
            if let current = try await store.railItem(item.reference), current.state.isFinal { return .resolved }
            return try await checkAgainLater(item, reason: "waiting_for_bank", answer: "pending")
        case .unknownReference:
            return .resolved
        }
    }

    /// Counts a check that did not settle the item; the last allowed one escalates it.
    func checkAgainLater(_ item: RailItemRecord, reason: String, answer: String) async throws -> CheckResult {
        let now = clock.now()
        let attempts = item.attempts + 1
        let details: [String: ErrorParam] = ["transaction_id": .text(item.reference.rawValue), "rail": .text(item.rail),
                                             "attempt": .int(Int64(attempts)), "answer": .text(answer)]
        if attempts >= configuration.sweepAttemptsMax {
            let effects = SideEffects(
                audit: [events.audit("rail_item_escalated", actor: "system:sweeper", target: item.userID, details)],
                notifications: [events.notify(.bankTransferDelayed, item.userID, [
                    "amount": .int(item.amount), "currency": .text(item.currency.code), "direction": .text(item.direction),
                ])])
            let escalated = try await store.escalateRailItem(
                item.reference, at: now,
                alert: alert("stuck_item", item, ["attempts": .int(Int64(attempts)), "last_answer": .text(answer)]), effects: effects)
            if escalated {
                logger.warning("rail item escalated", metadata: ["reference": "\(item.reference)", "rail": "\(item.rail)"])
            }
            return .escalated
        }
        // Back off: retry · 2^(checks so far), at most a day; never before the rail's own expected time.
        let backoff = min(configuration.sweepRetrySeconds << min(Int64(attempts - 1), 16), 86_400)
        let current = try await store.railItem(item.reference)
        var next = now.adding(seconds: backoff)
        if let expectedBy = current?.expectedBy, expectedBy > now {
            next = max(next, expectedBy.adding(seconds: configuration.sweepGraceSeconds))
        }
        try await store.recordRailCheck(item.reference, at: now, nextCheckAt: next, reason: reason,
                                        effects: SideEffects(audit: [events.audit("rail_item_checked", actor: "system:sweeper",
                                                                                  target: item.userID, details)]))
        return .rescheduled
    }
}
