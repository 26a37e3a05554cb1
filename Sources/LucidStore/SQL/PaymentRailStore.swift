import LucidCore

// MARK: Records

/// Where one movement across a payment rail stands in the wallet.
public enum RailItemState: String, Sendable, Hashable, CaseIterable {
    /// Waiting for the rail (its transfer is pending in the ledger).
    case pending
    /// Still pending, but the sweeper gave up asking: an operator alert is open for it.
    case escalated
    /// The ledger posted its transfer: the money moved.
    case posted
    /// The ledger voided its transfer: nothing moved.
    case voided

    public var isFinal: Bool { self == .posted || self == .voided }
}

/// One top-up or withdrawal sent (or about to be sent) to a rail. Its reference is the
/// id of the ledger transfer that holds the money, and the rail's idempotency key.
public struct RailItemRecord: Sendable, Hashable {
    public var reference: TransferID
    public var rail: String
    /// `topup` or `withdrawal`.
    public var direction: String
    public var userID: UserID
    public var amount: Int64
    public var currency: Currency
    /// The bank account as it may be shown: bank code and last four digits.
    public var accountBank: String
    public var accountLast4: String
    public var state: RailItemState
    /// Why it is where it is: `waiting_for_bank`, `bank_not_responding`, `under_review` while pending;
    /// the bank's code (`R01_insufficient_funds`), `gateway_unavailable` or `not_received_by_rail` when voided.
    public var reason: String?
    /// When the customer was told to expect the result.
    public var expectedBy: Timestamp
    /// Status checks the sweeper made.
    public var attempts: Int
    /// When the sweeper looks at it next (while pending).
    public var nextCheckAt: Timestamp
    public var lastCheckedAt: Timestamp?
    public var escalatedAt: Timestamp?
    /// The rail's own id of the movement, once known.
    public var bankReference: String?
    /// What the rail last said: nil (nothing yet), `pending`, `settled` or `failed`.
    public var railState: String?
    /// The rail's failure code, when it failed.
    public var railReason: String?
    /// When the rail settled or failed it: the day of its settlement report.
    public var finalAt: Timestamp?
    /// When the ledger posted or voided it.
    public var resolvedAt: Timestamp?
    /// When the first submit to the rail came back (with any answer, a timeout included).
    public var submittedAt: Timestamp?
    public var createdAt: Timestamp

    public init(reference: TransferID, rail: String, direction: String, userID: UserID, amount: Int64, currency: Currency,
                accountBank: String, accountLast4: String, state: RailItemState = .pending, reason: String? = "waiting_for_bank",
                expectedBy: Timestamp, attempts: Int = 0, nextCheckAt: Timestamp, lastCheckedAt: Timestamp? = nil,
                escalatedAt: Timestamp? = nil, bankReference: String? = nil, railState: String? = nil, railReason: String? = nil,
                finalAt: Timestamp? = nil, resolvedAt: Timestamp? = nil, submittedAt: Timestamp? = nil, createdAt: Timestamp) {
        self.reference = reference
        self.rail = rail
        self.direction = direction
        self.userID = userID
        self.amount = amount
        self.currency = currency
        self.accountBank = accountBank
        self.accountLast4 = accountLast4
        self.state = state
        self.reason = reason
        self.expectedBy = expectedBy
        self.attempts = attempts
        self.nextCheckAt = nextCheckAt
        self.lastCheckedAt = lastCheckedAt
        self.escalatedAt = escalatedAt
        self.bankReference = bankReference
        self.railState = railState
        self.railReason = railReason
        self.finalAt = finalAt
        self.resolvedAt = resolvedAt
        self.submittedAt = submittedAt
        self.createdAt = createdAt
    }
}

/// What a rail item looks like after its transfer was posted or voided.
public struct RailItemResolution: Sendable, Hashable {
    public var reference: TransferID
    public var state: RailItemState
    /// What the rail said (`settled` / `failed`), nil when the rail never answered (nothing was sent).
    public var railState: String?
    public var railReason: String?
    public var reason: String?
    public var bankReference: String?
    public var finalAt: Timestamp?
    public var resolvedAt: Timestamp

    public init(reference: TransferID, state: RailItemState, railState: String?, railReason: String? = nil, reason: String?,
                bankReference: String?, finalAt: Timestamp?, resolvedAt: Timestamp) {
        precondition(state.isFinal, "a resolution posts or voids")
        self.reference = reference
        self.state = state
        self.railState = railState
        self.railReason = railReason
        self.reason = reason
        self.bankReference = bankReference
        self.finalAt = finalAt
        self.resolvedAt = resolvedAt
    }
}

public enum AlertState: String, Sendable, Hashable, CaseIterable {
    case open, resolved
}

/// Something about money at a rail an operator must look at: an item the sweeper gave up
/// on, a rail contradicting itself or the ledger, a reconciliation exception.
public struct OperatorAlertRecord: Sendable, Hashable {
    public var id: String
    /// `stuck_item`, `rail_conflict`, `unknown_callback`, `clearing_difference`, or a reconciliation
    /// class (`missing_in_ledger`, `missing_at_rail`, `amount_mismatch`, `state_mismatch`, `duplicate`).
    public var kind: String
    public var rail: String?
    /// The rail reference (a transfer id, or the rail's reference for one Lucid does not know).
    public var reference: String?
    /// The customer concerned, when known.
    public var userID: UserID?
    public var amount: Int64?
    public var currency: String?
    /// JSON object text with the particulars.
    public var details: String
    public var state: AlertState
    public var createdAt: Timestamp
    public var resolvedBy: String?
    public var resolvedAt: Timestamp?
    public var note: String?
    /// The correcting transfer made when resolving it, if money moved.
    public var correctionID: TransferID?
    /// The reconciliation run that raised it.
    public var runID: String?

    public init(id: String, kind: String, rail: String?, reference: String?, userID: UserID?, amount: Int64?, currency: String?,
                details: String, state: AlertState = .open, createdAt: Timestamp, resolvedBy: String? = nil,
                resolvedAt: Timestamp? = nil, note: String? = nil, correctionID: TransferID? = nil, runID: String? = nil) {
        self.id = id
        self.kind = kind
        self.rail = rail
        self.reference = reference
        self.userID = userID
        self.amount = amount
        self.currency = currency
        self.details = details
        self.state = state
        self.createdAt = createdAt
        self.resolvedBy = resolvedBy
        self.resolvedAt = resolvedAt
        self.note = note
        self.correctionID = correctionID
        self.runID = runID
    }
}

/// An operator closing an alert.
public struct AlertResolution: Sendable, Hashable {
    public var id: String
    public var by: String
    public var note: String
    public var at: Timestamp
    public var correctionID: TransferID?

    public init(id: String, by: String, note: String, at: Timestamp, correctionID: TransferID? = nil) {
        self.id = id
        self.by = by
        self.note = note
        self.at = at
        self.correctionID = correctionID
    }
}

/// Changes to rail items and alerts that ride on a ledger command (in `SideEffects`), so they
/// are written in the same transaction as the money, and only if the command goes through.
public enum GatewayEffect: Sendable, Hashable {
    /// A new item, written with the pending transfer that holds its money.
    case insertItem(RailItemRecord)
    /// The item's transfer was posted or voided, with what the rail said.
    case resolveItem(RailItemResolution)
    /// An alert is closed (with its correcting transfer, when money moved).
    case resolveAlert(AlertResolution)
    /// The open `stuck_item` alert of an item is closed because the item resolved after all.
    case closeStuckAlert(reference: TransferID, by: String, note: String, at: Timestamp)
}

public enum ReconciliationRunState: String, Sendable, Hashable {
    case running, completed, failed
}

/// One reconciliation of a rail's settlement report for one day.
public struct ReconciliationRunRecord: Sendable, Hashable {
    public var id: String
    public var rail: String
    /// `YYYY-MM-DD`.
    public var day: String
    /// Who started it: `operator:<name>`, `schedule`, `cli`.
    public var triggeredBy: String
    /// The daily scheduled run (at most one per rail and day that has not failed).
    public var scheduled: Bool
    public var state: ReconciliationRunState
    public var startedAt: Timestamp
    public var finishedAt: Timestamp?
    public var linesRead: Int
    public var matched: Int
    public var exceptionCount: Int
    public var malformedCount: Int
    public var inFlight: Int
    public var clean: Bool
    /// The report as JSON without its exception list (totals, clearing check, malformed lines).
    public var summary: String?
    public var error: String?

    public init(id: String, rail: String, day: String, triggeredBy: String, scheduled: Bool, state: ReconciliationRunState = .running,
                startedAt: Timestamp, finishedAt: Timestamp? = nil, linesRead: Int = 0, matched: Int = 0, exceptionCount: Int = 0,
                malformedCount: Int = 0, inFlight: Int = 0, clean: Bool = false, summary: String? = nil, error: String? = nil) {
        self.id = id
        self.rail = rail
        self.day = day
        self.triggeredBy = triggeredBy
        self.scheduled = scheduled
        self.state = state
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.linesRead = linesRead
        self.matched = matched
        self.exceptionCount = exceptionCount
        self.malformedCount = malformedCount
        self.inFlight = inFlight
        self.clean = clean
        self.summary = summary
        self.error = error
    }
}

/// One exception a reconciliation found; it becomes an operator alert.
public struct ReconciliationExceptionRecord: Sendable, Hashable {
    public var position: Int
    /// `missing_in_ledger`, `missing_at_rail`, `amount_mismatch`, `state_mismatch`, `duplicate`.
    public var kind: String
    public var reference: String
    public var direction: String
    public var lineNumber: Int?
    public var railAmount: Int64?
    public var ledgerAmount: Int64?
    public var currency: String
    public var railState: String?
    public var ledgerState: String?
    public var bankID: String?
    public var detail: String
    /// The alert raised for it (nil when an open alert for the same reference already existed).
    public var alertID: String?

    public init(position: Int, kind: String, reference: String, direction: String, lineNumber: Int?, railAmount: Int64?,
                ledgerAmount: Int64?, currency: String, railState: String?, ledgerState: String?, bankID: String?, detail: String,
                alertID: String? = nil) {
        self.position = position
        self.kind = kind
        self.reference = reference
        self.direction = direction
        self.lineNumber = lineNumber
        self.railAmount = railAmount
        self.ledgerAmount = ledgerAmount
        self.currency = currency
        self.railState = railState
        self.ledgerState = ledgerState
        self.bankID = bankID
        self.detail = detail
        self.alertID = alertID
    }
}

/// A rail item as reconciliation compares it: `pending` (pending or escalated), `posted` or `voided`.
/// Where a walk through a day's items for reconciliation is (`railLedgerItems`): in the items resolved
/// that day (by their final time) or, after those, the ones still waiting (by their expected time),
/// after the item at `time` with `reference`.
public struct RailLedgerItemsCursor: Sendable, Hashable {
    public var waiting: Bool
    public var time: Timestamp
    public var reference: String

    public init(waiting: Bool, time: Timestamp, reference: String) {
        self.waiting = waiting
        self.time = time
        self.reference = reference
    }
}

public struct RailLedgerRecord: Sendable, Hashable {
    public var reference: String
    public var rail: String
    public var direction: String
    public var amount: Int64
    public var currency: Currency
    public var state: String
}

// MARK: Store operations

/// What payment rails need from the database (issue 5): the in-flight items, the callback
/// events already received (a replay guard that holds across processes), operator alerts,
/// and reconciliation runs with their exceptions. Items are created and resolved only with
/// their ledger transfers (`GatewayEffect` in `SideEffects`); the rest is here.
public protocol PaymentRailStore: Sendable {
    func railItem(_ reference: TransferID) async throws -> RailItemRecord?
    /// The first submit came back: when, the bank's id, and the reason to show while pending.
    func markRailItemSubmitted(_ reference: TransferID, at: Timestamp, bankReference: String?, reason: String?) async throws
    /// Releases an item held unsent (reason `heldReason`) so it can be sent: reason `waiting_for_bank`, a new
    /// expected time and the sweeper's schedule. False when it was not held (released or resolved already).
    func releaseHeldRailItem(_ reference: TransferID, heldReason: String, expectedBy: Timestamp, nextCheckAt: Timestamp) async throws
        -> Bool
    /// The rail says it is pending: the expected time only moves forward; false when nothing changed
    /// (final already, or an expected time at least as late was known).
    func noteRailItemPending(_ reference: TransferID, expectedBy: Timestamp, bankReference: String?,
                             nextCheckAt: Timestamp) async throws -> Bool
    /// Brings an item in line with a ledger that was resolved another way (an operator, another process).
    func syncRailItem(_ resolution: RailItemResolution) async throws
    /// Records what a conflicting rail said without changing the item's state.
    func noteRailState(_ reference: TransferID, railState: String, railReason: String?, finalAt: Timestamp?) async throws
    /// A status check that did not resolve the item: counts it and schedules the next one.
    func recordRailCheck(_ reference: TransferID, at: Timestamp, nextCheckAt: Timestamp, reason: String?,
                         effects: SideEffects) async throws
    /// Gives up on a pending item: escalated, with its alert and effects, in one transaction. False when it
    /// was no longer pending.
    func escalateRailItem(_ reference: TransferID, at: Timestamp, alert: OperatorAlertRecord, effects: SideEffects) async throws -> Bool
    /// Claims up to `limit` pending items due for a check, for `claimant` until `until`; two processes
    /// never get the same item while a claim is live.
    func claimDueRailItems(now: Timestamp, limit: Int, claimant: String, until: Timestamp) async throws -> [RailItemRecord]
    func releaseRailItem(_ reference: TransferID, claimant: String) async throws
    /// Counts by rail and state, and of pending items past their expected time.
    func railItemCounts(now: Timestamp) async throws -> [String: [String: Int]]
    /// Items of a rail, newest first, optionally in one state.
    func railItems(rail: String?, state: RailItemState?, limit: Int, cursor: String?) async throws -> Page<RailItemRecord>

    /// Records a callback event id; false when it was recorded before (a replay).
    func claimCallbackEvent(_ eventID: String, rail: String, at: Timestamp) async throws -> Bool
    func releaseCallbackEvent(_ eventID: String) async throws
    /// Forgets event ids received before `before` (their signatures are stale by then); returns how many.
    func purgeCallbackEvents(before: Timestamp) async throws -> Int

    /// Opens an alert with its effects; false (and nothing written) when an open alert of the same kind
    /// for the same rail and reference exists.
    func raiseAlert(_ alert: OperatorAlertRecord, effects: SideEffects) async throws -> Bool
    func alert(_ id: String) async throws -> OperatorAlertRecord?
    /// Alerts newest first, optionally in one state and for one rail.
    func alerts(state: AlertState?, rail: String?, limit: Int, cursor: String?) async throws -> Page<OperatorAlertRecord>
    /// Closes an open alert with its effects; false when it was not open.
    func resolveAlert(_ resolution: AlertResolution, effects: SideEffects) async throws -> Bool

    /// Records a run as started; false when it is the scheduled run of a rail and day that already
    /// has one (running or completed).
    func startReconciliation(_ run: ReconciliationRunRecord) async throws -> Bool
    /// Stores the finished run, its exceptions, and an alert per exception (skipping references that
    /// already have an open alert of that kind), in one transaction. Returns the exceptions as stored.
    func finishReconciliation(_ run: ReconciliationRunRecord, exceptions: [ReconciliationExceptionRecord],
                              newAlertID: @Sendable () -> String) async throws -> [ReconciliationExceptionRecord]
    /// Marks runs still `running` that started before `before` as failed (their process died).
    func failStaleReconciliations(startedBefore: Timestamp, at: Timestamp) async throws -> Int
    func reconciliation(_ id: String) async throws -> ReconciliationRunRecord?
    func reconciliations(rail: String?, limit: Int) async throws -> [ReconciliationRunRecord]
    /// A run's exceptions in order; `cursor` is the `nextCursor` of the previous page.
    func reconciliationExceptions(run: String, limit: Int, cursor: String?) async throws -> Page<ReconciliationExceptionRecord>
    /// Rail items by reference, for reconciliation lookups (at most a batch at a time).
    func railLedgerRecords(references: [String]) async throws -> [RailLedgerRecord]
    /// Items a rail's report for `day` should mention, a page at a time from `after` (nil: the start):
    /// first those resolved with the rail's answer that day (the rail knew them), then those pending and
    /// expected that day. `next` is nil after the last page; a page may be empty and still have a next.
    func railLedgerItems(rail: String, dayStart: Timestamp, dayEnd: Timestamp, after: RailLedgerItemsCursor?, limit: Int) async throws
        -> (items: [RailLedgerRecord], next: RailLedgerItemsCursor?)
    /// The rail's clearing accounts (one per currency) with their balances.
    func clearingBalances(rail: String) async throws -> [(currency: Currency, balance: AccountBalance)]
}

extension SQLStore: PaymentRailStore {
    static let railItemColumns = """
        reference, rail, direction, user_id, amount, currency, account_bank, account_last4, state, reason, expected_by, attempts,
        next_check_at, last_checked_at, escalated_at, bank_reference, rail_state, rail_reason, final_at, resolved_at,
        submitted_at, created_at
        """

    static func decodeRailItem(_ row: SQLRow) throws -> RailItemRecord {
        guard let currency = Currency.named(try row.text("currency")),
              let state = RailItemState(rawValue: try row.text("state")) else {
            throw SQLError.decoding("rail item with an unknown currency or state")
        }
        return RailItemRecord(
            reference: TransferID(try row.text("reference")), rail: try row.text("rail"), direction: try row.text("direction"),
            userID: UserID(try row.text("user_id")), amount: try row.int("amount"), currency: currency,
            accountBank: try row.text("account_bank"), accountLast4: try row.text("account_last4"), state: state,
            reason: try row.optionalText("reason"), expectedBy: try row.timestamp("expected_by"), attempts: Int(try row.int("attempts")),
            nextCheckAt: try row.timestamp("next_check_at"), lastCheckedAt: try row.optionalTimestamp("last_checked_at"),
            escalatedAt: try row.optionalTimestamp("escalated_at"), bankReference: try row.optionalText("bank_reference"),
            railState: try row.optionalText("rail_state"), railReason: try row.optionalText("rail_reason"),
            finalAt: try row.optionalTimestamp("final_at"), resolvedAt: try row.optionalTimestamp("resolved_at"),
            submittedAt: try row.optionalTimestamp("submitted_at"), createdAt: try row.timestamp("created_at"))
    }

    public func railItem(_ reference: TransferID) async throws -> RailItemRecord? {
        try await read(SQLStatement("SELECT \(Self.railItemColumns) FROM rail_items WHERE reference = ?", reference))
            .first.map(Self.decodeRailItem)
    }

    public func markRailItemSubmitted(_ reference: TransferID, at time: Timestamp, bankReference: String?, reason: String?) async throws {
        try await write(SQLStatement("""
            UPDATE rail_items SET submitted_at = COALESCE(submitted_at, ?), bank_reference = COALESCE(bank_reference, ?),
                reason = CASE WHEN state = 'pending' THEN COALESCE(?, reason) ELSE reason END
            WHERE reference = ?
            """, time, bankReference, reason, reference))
    }

    public func releaseHeldRailItem(_ reference: TransferID, heldReason: String, expectedBy: Timestamp,
                                    nextCheckAt: Timestamp) async throws -> Bool {
        try await write(SQLStatement("""
            UPDATE rail_items SET reason = 'waiting_for_bank', expected_by = ?, next_check_at = ?
            WHERE reference = ? AND state = 'pending' AND submitted_at IS NULL AND reason = ?
            """, expectedBy, nextCheckAt, reference, heldReason)) == 1
    }

    public func noteRailItemPending(_ reference: TransferID, expectedBy: Timestamp, bankReference: String?,
                                    nextCheckAt: Timestamp) async throws -> Bool {
        // The rail's first answer replaces Lucid's own estimate; later ones only move it forward.
        // (Every expression sees the row as it was before this UPDATE.)
        try await write(SQLStatement("""
            UPDATE rail_items SET rail_state = 'pending', expected_by = ?, bank_reference = COALESCE(bank_reference, ?),
                next_check_at = CASE WHEN rail_state IS NULL OR next_check_at < ? THEN ? ELSE next_check_at END
            WHERE reference = ? AND state IN ('pending', 'escalated') AND (rail_state IS NULL OR rail_state = 'pending')
              AND (rail_state IS NULL OR expected_by < ?)
            """, expectedBy, bankReference, nextCheckAt, nextCheckAt, reference, expectedBy)) > 0
    }

    public func syncRailItem(_ resolution: RailItemResolution) async throws {
        try await publicErrors {
            try await database.write { connection in
                for statement in GatewaySQL.statements([.resolveItem(resolution)]) { try await connection.execute(statement) }
            }
        }
    }

    public func noteRailState(_ reference: TransferID, railState: String, railReason: String?, finalAt: Timestamp?) async throws {
        try await write(SQLStatement("""
            UPDATE rail_items SET rail_state = ?, rail_reason = COALESCE(?, rail_reason), final_at = COALESCE(final_at, ?)
            WHERE reference = ?
            """, railState, railReason, finalAt, reference))
    }

    public func recordRailCheck(_ reference: TransferID, at time: Timestamp, nextCheckAt: Timestamp, reason: String?,
                                effects: SideEffects) async throws {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE rail_items SET attempts = attempts + 1, last_checked_at = ?, next_check_at = ?,
                        reason = COALESCE(?, reason)
                    WHERE reference = ? AND state = 'pending'
                    """, time, nextCheckAt, reason, reference))
                try await write(effects, connection)
            }
        }
    }

    public func escalateRailItem(_ reference: TransferID, at time: Timestamp, alert: OperatorAlertRecord,
                                 effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(SQLStatement("""
                    UPDATE rail_items SET state = 'escalated', escalated_at = ?, attempts = attempts + 1, last_checked_at = ?,
                        reason = 'under_review', claimed_by = NULL, claimed_until = NULL
                    WHERE reference = ? AND state = 'pending'
                    """, time, time, reference))
                guard changed == 1 else { return false }
                try await Self.insertAlert(alert, connection)
                try await write(effects, connection)
                return true
            }
        }
    }

    public func claimDueRailItems(now: Timestamp, limit: Int, claimant: String, until: Timestamp) async throws -> [RailItemRecord] {
        // PostgreSQL: rows another process is claiming right now are skipped, not waited for.
        let lock = database.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await publicErrors {
            try await database.write { connection in
                let due = try await connection.query(SQLStatement("""
                    SELECT reference FROM rail_items
                    WHERE state = 'pending' AND next_check_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
                    ORDER BY next_check_at LIMIT ?\(lock)
                    """, now, now, limit)).map { try $0.text(0) }
                var claimed: [RailItemRecord] = []
                for reference in due {
                    let rows = try await connection.query(SQLStatement("""
                        UPDATE rail_items SET claimed_by = ?, claimed_until = ?
                        WHERE reference = ? AND state = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?)
                        RETURNING \(Self.railItemColumns)
                        """, claimant, until, reference, now))
                    claimed += try rows.map(Self.decodeRailItem)
                }
                return claimed
            }
        }
    }

    public func releaseRailItem(_ reference: TransferID, claimant: String) async throws {
        try await write(SQLStatement("""
            UPDATE rail_items SET claimed_by = NULL, claimed_until = NULL WHERE reference = ? AND claimed_by = ?
            """, reference, claimant))
    }

    public func railItemCounts(now: Timestamp) async throws -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for row in try await read(SQLStatement("""
            SELECT rail, state, COUNT(*) AS n, CAST(SUM(CASE WHEN state = 'pending' AND expected_by < ? THEN 1 ELSE 0 END) AS BIGINT) AS overdue
            FROM rail_items GROUP BY rail, state
            """, now)) {
            let rail = try row.text("rail")
            counts[rail, default: [:]][try row.text("state")] = Int(try row.int("n"))
            let overdue = Int(try row.optionalInt("overdue") ?? 0)
            if overdue > 0 { counts[rail, default: [:]]["overdue", default: 0] += overdue }
        }
        return counts
    }

    public func railItems(rail: String?, state: RailItemState?, limit: Int, cursor: String?) async throws -> Page<RailItemRecord> {
        let before = try Self.cursor(cursor)
        var filters = ["reference < ?"]
        var binds: [SQLValue] = [.text(before ?? "~")]
        if let rail { filters.append("rail = ?"); binds.append(.text(rail)) }
        if let state { filters.append("state = ?"); binds.append(.text(state.rawValue)) }
        binds.append(.int(Int64(limit + 1)))
        let rows = try await read(SQLStatement("""
            SELECT \(Self.railItemColumns) FROM rail_items WHERE \(filters.joined(separator: " AND ")) ORDER BY reference DESC LIMIT ?
            """, binds: binds))
        let items = try rows.prefix(limit).map(Self.decodeRailItem)
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last?.reference.rawValue : nil)
    }

    // MARK: Callback events

    public func claimCallbackEvent(_ eventID: String, rail: String, at time: Timestamp) async throws -> Bool {
        try await write(SQLStatement("""
            INSERT INTO rail_callback_events (event_id, rail, received_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING
            """, eventID, rail, time)) == 1
    }

    public func releaseCallbackEvent(_ eventID: String) async throws {
        try await write(SQLStatement("DELETE FROM rail_callback_events WHERE event_id = ?", eventID))
    }

    public func purgeCallbackEvents(before: Timestamp) async throws -> Int {
        try await write(SQLStatement("DELETE FROM rail_callback_events WHERE received_at < ?", before))
    }

    // MARK: Alerts

    static let alertColumns = """
        id, kind, rail, reference, user_id, amount, currency, details, state, created_at, resolved_by, resolved_at, note,
        correction_id, run_id
        """

    static func decodeAlert(_ row: SQLRow) throws -> OperatorAlertRecord {
        OperatorAlertRecord(
            id: try row.text("id"), kind: try row.text("kind"), rail: try row.optionalText("rail").flatMap { $0.isEmpty ? nil : $0 },
            reference: try row.optionalText("reference").flatMap { $0.isEmpty ? nil : $0 }, userID: try row.optionalText("user_id").map(UserID.init),
            amount: try row.optionalInt("amount"), currency: try row.optionalText("currency"), details: try row.text("details"),
            state: AlertState(rawValue: try row.text("state")) ?? .open, createdAt: try row.timestamp("created_at"),
            resolvedBy: try row.optionalText("resolved_by"), resolvedAt: try row.optionalTimestamp("resolved_at"),
            note: try row.optionalText("note"), correctionID: try row.optionalText("correction_id").map(TransferID.init),
            runID: try row.optionalText("run_id"))
    }

    /// Inserts an open alert unless one of the same kind is open for the same rail and reference.
    @discardableResult
    static func insertAlert(_ alert: OperatorAlertRecord, _ connection: any SQLConnection) async throws -> Bool {
        try await connection.execute(SQLStatement("""
            INSERT INTO operator_alerts (id, kind, rail, reference, user_id, amount, currency, details, state, created_at, run_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?) ON CONFLICT DO NOTHING
            """, alert.id, alert.kind, alert.rail ?? "", alert.reference ?? "", alert.userID, alert.amount, alert.currency,
            alert.details, alert.createdAt, alert.runID)) == 1
    }

    public func raiseAlert(_ alert: OperatorAlertRecord, effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                guard try await Self.insertAlert(alert, connection) else { return false }
                try await write(effects, connection)
                return true
            }
        }
    }

    public func alert(_ id: String) async throws -> OperatorAlertRecord? {
        try await read(SQLStatement("SELECT \(Self.alertColumns) FROM operator_alerts WHERE id = ?", id)).first.map(Self.decodeAlert)
    }

    public func alerts(state: AlertState?, rail: String?, limit: Int, cursor: String?) async throws -> Page<OperatorAlertRecord> {
        let before = try Self.cursor(cursor)
        var filters = ["id < ?"]
        var binds: [SQLValue] = [.text(before ?? "~")]
        if let state { filters.append("state = ?"); binds.append(.text(state.rawValue)) }
        if let rail { filters.append("rail = ?"); binds.append(.text(rail)) }
        binds.append(.int(Int64(limit + 1)))
        let rows = try await read(SQLStatement("""
            SELECT \(Self.alertColumns) FROM operator_alerts WHERE \(filters.joined(separator: " AND ")) ORDER BY id DESC LIMIT ?
            """, binds: binds))
        let items = try rows.prefix(limit).map(Self.decodeAlert)
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    public func resolveAlert(_ resolution: AlertResolution, effects: SideEffects) async throws -> Bool {
        try await publicErrors {
            try await database.write { connection in
                let changed = try await connection.execute(GatewaySQL.resolveAlert(resolution))
                guard changed == 1 else { return false }
                try await write(effects, connection)
                return true
            }
        }
    }

    // MARK: Reconciliation

    static let runColumns = """
        id, rail, day, triggered_by, scheduled, state, started_at, finished_at, lines_read, matched, exception_count,
        malformed_count, in_flight, clean, summary, error
        """

    static func decodeRun(_ row: SQLRow) throws -> ReconciliationRunRecord {
        ReconciliationRunRecord(
            id: try row.text("id"), rail: try row.text("rail"), day: try row.text("day"), triggeredBy: try row.text("triggered_by"),
            scheduled: try row.int("scheduled") == 1, state: ReconciliationRunState(rawValue: try row.text("state")) ?? .failed,
            startedAt: try row.timestamp("started_at"), finishedAt: try row.optionalTimestamp("finished_at"),
            linesRead: Int(try row.int("lines_read")), matched: Int(try row.int("matched")),
            exceptionCount: Int(try row.int("exception_count")), malformedCount: Int(try row.int("malformed_count")),
            inFlight: Int(try row.int("in_flight")), clean: try row.int("clean") == 1, summary: try row.optionalText("summary"),
            error: try row.optionalText("error"))
    }

    public func startReconciliation(_ run: ReconciliationRunRecord) async throws -> Bool {
        do {
            try await write(SQLStatement("""
                INSERT INTO reconciliation_runs (id, rail, day, triggered_by, scheduled, state, started_at)
                VALUES (?, ?, ?, ?, ?, 'running', ?)
                """, run.id, run.rail, run.day, run.triggeredBy, run.scheduled, run.startedAt))
            return true
        } catch SQLError.uniqueViolation {
            return false
        }
    }

    public func finishReconciliation(_ run: ReconciliationRunRecord, exceptions: [ReconciliationExceptionRecord],
                                     newAlertID: @Sendable () -> String) async throws -> [ReconciliationExceptionRecord] {
        try await publicErrors {
            try await database.write { connection in
                try await connection.execute(SQLStatement("""
                    UPDATE reconciliation_runs SET state = ?, finished_at = ?, lines_read = ?, matched = ?, exception_count = ?,
                        malformed_count = ?, in_flight = ?, clean = ?, summary = ?, error = ?
                    WHERE id = ?
                    """, run.state.rawValue, run.finishedAt, run.linesRead, run.matched, run.exceptionCount, run.malformedCount,
                    run.inFlight, run.clean, run.summary, run.error, run.id))
                var stored: [ReconciliationExceptionRecord] = []
                stored.reserveCapacity(exceptions.count)
                // The customer of each exception, when the ledger knows the reference, for the alert.
                var owners: [String: (UserID, Int64)] = [:]
                for chunk in exceptions.map(\.reference).chunked(500) {
                    for row in try await connection.query(SQLStatement("""
                        SELECT reference, user_id, amount FROM rail_items WHERE reference IN (\(SQLStatement.placeholders(chunk.count)))
                        """, binds: chunk.map(SQLValue.text))) {
                        owners[try row.text(0)] = (UserID(try row.text(1)), try row.int(2))
                    }
                }
                for var exception in exceptions {
                    let owner = owners[exception.reference]
                    let alert = OperatorAlertRecord(
                        id: newAlertID(), kind: exception.kind, rail: run.rail, reference: exception.reference, userID: owner?.0,
                        amount: exception.railAmount ?? exception.ledgerAmount, currency: exception.currency,
                        details: GatewaySQL.json([
                            "day": .text(run.day), "detail": .text(exception.detail), "direction": .text(exception.direction),
                            "line_number": exception.lineNumber.map { .int(Int64($0)) }, "rail_amount": exception.railAmount.map { .int($0) },
                            "ledger_amount": exception.ledgerAmount.map { .int($0) }, "rail_state": exception.railState.map { .text($0) },
                            "ledger_state": exception.ledgerState.map { .text($0) }, "bank_id": exception.bankID.map { .text($0) },
                        ]),
                        createdAt: run.finishedAt ?? run.startedAt, runID: run.id)
                    if try await Self.insertAlert(alert, connection) { exception.alertID = alert.id }
                    try await connection.execute(SQLStatement("""
                        INSERT INTO reconciliation_exceptions (run_id, position, kind, reference, direction, line_number, rail_amount,
                            ledger_amount, currency, rail_state, ledger_state, bank_id, detail, alert_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, run.id, exception.position, exception.kind, exception.reference, exception.direction, exception.lineNumber,
                        exception.railAmount, exception.ledgerAmount, exception.currency, exception.railState, exception.ledgerState,
                        exception.bankID, exception.detail, exception.alertID))
                    stored.append(exception)
                }
                return stored
            }
        }
    }

    public func failStaleReconciliations(startedBefore: Timestamp, at time: Timestamp) async throws -> Int {
        try await write(SQLStatement("""
            UPDATE reconciliation_runs SET state = 'failed', finished_at = ?, error = 'the process running it stopped'
            WHERE state = 'running' AND started_at < ?
            """, time, startedBefore))
    }

    public func reconciliation(_ id: String) async throws -> ReconciliationRunRecord? {
        try await read(SQLStatement("SELECT \(Self.runColumns) FROM reconciliation_runs WHERE id = ?", id)).first.map(Self.decodeRun)
    }

    public func reconciliations(rail: String?, limit: Int) async throws -> [ReconciliationRunRecord] {
        let filter = rail == nil ? "" : "WHERE rail = ? "
        let binds: [SQLValue] = (rail.map { [SQLValue.text($0)] } ?? []) + [.int(Int64(limit))]
        return try await read(SQLStatement("SELECT \(Self.runColumns) FROM reconciliation_runs \(filter)ORDER BY id DESC LIMIT ?",
                                           binds: binds)).map(Self.decodeRun)
    }

    public func reconciliationExceptions(run: String, limit: Int, cursor: String?) async throws -> Page<ReconciliationExceptionRecord> {
        var after: Int64 = -1
        if let cursor {
            guard let position = Int64(cursor), position >= 0 else { throw LucidError(.invalidCursor) }
            after = position
        }
        let rows = try await read(SQLStatement("""
            SELECT position, kind, reference, direction, line_number, rail_amount, ledger_amount, currency, rail_state, ledger_state,
                   bank_id, detail, alert_id
            FROM reconciliation_exceptions WHERE run_id = ? AND position > ? ORDER BY position LIMIT ?
            """, run, after, limit + 1))
        let items = try rows.prefix(limit).map { row in
            ReconciliationExceptionRecord(
                position: Int(try row.int("position")), kind: try row.text("kind"), reference: try row.text("reference"),
                direction: try row.text("direction"), lineNumber: try row.optionalInt("line_number").map(Int.init),
                railAmount: try row.optionalInt("rail_amount"), ledgerAmount: try row.optionalInt("ledger_amount"),
                currency: try row.text("currency"), railState: try row.optionalText("rail_state"),
                ledgerState: try row.optionalText("ledger_state"), bankID: try row.optionalText("bank_id"),
                detail: try row.text("detail"), alertID: try row.optionalText("alert_id"))
        }
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last.map { String($0.position) } : nil)
    }

    static let ledgerRecordSelect = """
        SELECT reference, rail, direction, amount, currency,
               CASE state WHEN 'posted' THEN 'posted' WHEN 'voided' THEN 'voided' ELSE 'pending' END AS ledger_state
        """

    static func decodeLedgerRecord(_ row: SQLRow) throws -> RailLedgerRecord? {
        guard let currency = Currency.named(try row.text("currency")) else { return nil }
        return RailLedgerRecord(reference: try row.text("reference"), rail: try row.text("rail"), direction: try row.text("direction"),
                                amount: try row.int("amount"), currency: currency, state: try row.text("ledger_state"))
    }

    public func railLedgerRecords(references: [String]) async throws -> [RailLedgerRecord] {
        guard !references.isEmpty else { return [] }
        return try await read(SQLStatement(Self.ledgerRecordSelect + " FROM rail_items WHERE reference IN (\(SQLStatement.placeholders(references.count)))",
                                           binds: references.map(SQLValue.text))).compactMap(Self.decodeLedgerRecord)
    }

    public func railLedgerItems(rail: String, dayStart: Timestamp, dayEnd: Timestamp, after: RailLedgerItemsCursor?, limit: Int)
        async throws -> (items: [RailLedgerRecord], next: RailLedgerItemsCursor?) {
        // Keyset pages in the order of an index on (rail, time), so each page reads only its own rows
        // (ordering by reference across the day's OR made every page sort the whole day).
        let cursor = after ?? RailLedgerItemsCursor(waiting: false, time: dayStart, reference: "")
        let time = cursor.waiting ? "expected_by" : "final_at"
        let condition = cursor.waiting
            ? "state IN ('pending', 'escalated')"
            // Resolved with the rail's answer that day: the rail knew the movement (it has a bank reference).
            : "state IN ('posted', 'voided') AND bank_reference IS NOT NULL"
        // One lower bound (the later of the day's start and the cursor): given two, SQLite ranges the
        // index from the first, and every page would read the day from its start.
        let rows = try await read(SQLStatement(Self.ledgerRecordSelect + """
            , \(time) AS page_time FROM rail_items
            WHERE rail = ? AND \(time) >= ? AND \(time) < ? AND \(condition) AND (\(time) > ? OR reference > ?)
            ORDER BY \(time), reference LIMIT ?
            """, rail, max(dayStart, cursor.time), dayEnd, cursor.time, cursor.reference, limit))
        let items = try rows.compactMap(Self.decodeLedgerRecord)
        if rows.count == limit, let last = rows.last {
            return (items, RailLedgerItemsCursor(waiting: cursor.waiting, time: try last.timestamp("page_time"),
                                                 reference: try last.text("reference")))
        }
        return (items, cursor.waiting ? nil : RailLedgerItemsCursor(waiting: true, time: dayStart, reference: ""))
    }

    public func clearingBalances(rail: String) async throws -> [(currency: Currency, balance: AccountBalance)] {
        try await read(SQLStatement("""
            SELECT currency, posted, pending_out, pending_in FROM accounts WHERE kind = 'system' AND code = ? ORDER BY currency
            """, SystemAccount.clearing(rail: rail).rawValue)).compactMap { row in
            guard let currency = Currency.named(try row.text(0)) else { return nil }
            return (currency, AccountBalance(posted: try row.int(1), pendingOut: try row.int(2), pendingIn: try row.int(3)))
        }
    }
}

/// The rows gateway effects become, for every store and for the ledger's batches.
enum GatewaySQL {
    static func statements(_ effects: [GatewayEffect]) -> [SQLStatement] {
        effects.map { effect in
            switch effect {
            case .insertItem(let item):
                return SQLStatement("""
                    INSERT INTO rail_items (\(SQLStore.railItemColumns))
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, item.reference, item.rail, item.direction, item.userID, item.amount, item.currency.code, item.accountBank,
                    item.accountLast4, item.state.rawValue, item.reason, item.expectedBy, item.attempts, item.nextCheckAt,
                    item.lastCheckedAt, item.escalatedAt, item.bankReference, item.railState, item.railReason, item.finalAt,
                    item.resolvedAt, item.submittedAt, item.createdAt)
            case .resolveItem(let resolution):
                return SQLStatement("""
                    UPDATE rail_items SET state = ?, rail_state = COALESCE(?, rail_state), rail_reason = COALESCE(?, rail_reason),
                        reason = ?, bank_reference = COALESCE(bank_reference, ?), final_at = COALESCE(final_at, ?),
                        resolved_at = COALESCE(resolved_at, ?), claimed_by = NULL, claimed_until = NULL
                    WHERE reference = ?
                    """, resolution.state.rawValue, resolution.railState, resolution.railReason, resolution.reason,
                    resolution.bankReference, resolution.finalAt, resolution.resolvedAt, resolution.reference)
            case .resolveAlert(let resolution):
                return resolveAlert(resolution)
            case .closeStuckAlert(let reference, let by, let note, let at):
                return SQLStatement("""
                    UPDATE operator_alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, note = ?
                    WHERE kind = 'stuck_item' AND reference = ? AND state = 'open'
                    """, by, at, note, reference)
            }
        }
    }

    static func resolveAlert(_ resolution: AlertResolution) -> SQLStatement {
        SQLStatement("""
            UPDATE operator_alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, note = ?, correction_id = ?
            WHERE id = ? AND state = 'open'
            """, resolution.by, resolution.at, resolution.note, resolution.correctionID, resolution.id)
    }

    /// A JSON object of the non-nil values, keys sorted.
    static func json(_ values: [String: ErrorParam?]) -> String {
        var parts: [String] = []
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let value else { continue }
            switch value {
            case .int(let number): parts.append("\(quote(key)):\(number)")
            case .text(let text): parts.append("\(quote(key)):\(quote(text))")
            }
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Tables of payment rails (issue 5): items in flight, callback events received, operator alerts,
/// reconciliation runs and their exceptions. Shared text for SQLite; `postgres` is PostgreSQL's dialect.
enum PaymentRailSchema {
    static let sqlite = """
        CREATE TABLE rail_items (
            reference TEXT PRIMARY KEY NOT NULL REFERENCES journal(id),
            rail TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('topup', 'withdrawal')),
            user_id TEXT NOT NULL REFERENCES users(id),
            amount INTEGER NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL CHECK (length(currency) = 3),
            account_bank TEXT NOT NULL,
            account_last4 TEXT NOT NULL CHECK (length(account_last4) = 4),
            state TEXT NOT NULL CHECK (state IN ('pending', 'escalated', 'posted', 'voided')),
            reason TEXT,
            expected_by INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_check_at INTEGER NOT NULL,
            last_checked_at INTEGER,
            escalated_at INTEGER,
            bank_reference TEXT,
            rail_state TEXT CHECK (rail_state IN ('pending', 'settled', 'failed')),
            rail_reason TEXT,
            final_at INTEGER,
            resolved_at INTEGER,
            submitted_at INTEGER,
            claimed_by TEXT,
            claimed_until INTEGER,
            created_at INTEGER NOT NULL,
            CHECK ((state IN ('posted', 'voided')) = (resolved_at IS NOT NULL)),
            CHECK ((state = 'escalated') <= (escalated_at IS NOT NULL))
        );
        CREATE INDEX rail_items_due ON rail_items(next_check_at) WHERE state = 'pending';
        CREATE INDEX rail_items_by_final ON rail_items(rail, final_at) WHERE final_at IS NOT NULL;
        CREATE INDEX rail_items_by_expected ON rail_items(rail, expected_by) WHERE state IN ('pending', 'escalated');

        CREATE TABLE rail_callback_events (
            event_id TEXT PRIMARY KEY NOT NULL,
            rail TEXT NOT NULL,
            received_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX rail_callback_events_by_time ON rail_callback_events(received_at);

        CREATE TABLE operator_alerts (
            id TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            rail TEXT NOT NULL,
            reference TEXT NOT NULL,
            user_id TEXT,
            amount INTEGER,
            currency TEXT,
            details TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            created_at INTEGER NOT NULL,
            resolved_by TEXT,
            resolved_at INTEGER,
            note TEXT,
            correction_id TEXT REFERENCES journal(id),
            run_id TEXT,
            CHECK ((state = 'resolved') = (resolved_at IS NOT NULL AND resolved_by IS NOT NULL))
        );
        CREATE UNIQUE INDEX operator_alerts_open ON operator_alerts(kind, rail, reference) WHERE state = 'open';
        CREATE INDEX operator_alerts_by_state ON operator_alerts(state, id);

        CREATE TABLE reconciliation_runs (
            id TEXT PRIMARY KEY NOT NULL,
            rail TEXT NOT NULL,
            day TEXT NOT NULL CHECK (length(day) = 10),
            triggered_by TEXT NOT NULL,
            scheduled INTEGER NOT NULL CHECK (scheduled IN (0, 1)),
            state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            lines_read INTEGER NOT NULL DEFAULT 0,
            matched INTEGER NOT NULL DEFAULT 0,
            exception_count INTEGER NOT NULL DEFAULT 0,
            malformed_count INTEGER NOT NULL DEFAULT 0,
            in_flight INTEGER NOT NULL DEFAULT 0,
            clean INTEGER NOT NULL DEFAULT 0 CHECK (clean IN (0, 1)),
            summary TEXT,
            error TEXT
        );
        CREATE UNIQUE INDEX reconciliation_runs_scheduled ON reconciliation_runs(rail, day) WHERE scheduled = 1 AND state <> 'failed';

        CREATE TABLE reconciliation_exceptions (
            run_id TEXT NOT NULL REFERENCES reconciliation_runs(id),
            position INTEGER NOT NULL CHECK (position >= 0),
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            direction TEXT NOT NULL,
            line_number INTEGER,
            rail_amount INTEGER,
            ledger_amount INTEGER,
            currency TEXT NOT NULL,
            rail_state TEXT,
            ledger_state TEXT,
            bank_id TEXT,
            detail TEXT NOT NULL,
            alert_id TEXT,
            PRIMARY KEY (run_id, position)
        ) WITHOUT ROWID;
        """

    static let postgres: [String] = [
        """
        CREATE TABLE rail_items (
            reference TEXT PRIMARY KEY REFERENCES journal(id),
            rail TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('topup', 'withdrawal')),
            user_id TEXT NOT NULL REFERENCES users(id),
            amount BIGINT NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL CHECK (char_length(currency) = 3),
            account_bank TEXT NOT NULL,
            account_last4 TEXT NOT NULL CHECK (char_length(account_last4) = 4),
            state TEXT NOT NULL CHECK (state IN ('pending', 'escalated', 'posted', 'voided')),
            reason TEXT,
            expected_by BIGINT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_check_at BIGINT NOT NULL,
            last_checked_at BIGINT,
            escalated_at BIGINT,
            bank_reference TEXT,
            rail_state TEXT CHECK (rail_state IN ('pending', 'settled', 'failed')),
            rail_reason TEXT,
            final_at BIGINT,
            resolved_at BIGINT,
            submitted_at BIGINT,
            claimed_by TEXT,
            claimed_until BIGINT,
            created_at BIGINT NOT NULL,
            CHECK ((state IN ('posted', 'voided')) = (resolved_at IS NOT NULL)),
            CHECK (state <> 'escalated' OR escalated_at IS NOT NULL)
        )
        """,
        "CREATE INDEX rail_items_due ON rail_items(next_check_at) WHERE state = 'pending'",
        "CREATE INDEX rail_items_by_final ON rail_items(rail, final_at) WHERE final_at IS NOT NULL",
        "CREATE INDEX rail_items_by_expected ON rail_items(rail, expected_by) WHERE state IN ('pending', 'escalated')",
        """
        CREATE TABLE rail_callback_events (
            event_id TEXT PRIMARY KEY,
            rail TEXT NOT NULL,
            received_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX rail_callback_events_by_time ON rail_callback_events(received_at)",
        """
        CREATE TABLE operator_alerts (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            rail TEXT NOT NULL,
            reference TEXT NOT NULL,
            user_id TEXT,
            amount BIGINT,
            currency TEXT,
            details TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            created_at BIGINT NOT NULL,
            resolved_by TEXT,
            resolved_at BIGINT,
            note TEXT,
            correction_id TEXT REFERENCES journal(id),
            run_id TEXT,
            CHECK ((state = 'resolved') = (resolved_at IS NOT NULL AND resolved_by IS NOT NULL))
        )
        """,
        "CREATE UNIQUE INDEX operator_alerts_open ON operator_alerts(kind, rail, reference) WHERE state = 'open'",
        "CREATE INDEX operator_alerts_by_state ON operator_alerts(state, id)",
        """
        CREATE TABLE reconciliation_runs (
            id TEXT PRIMARY KEY,
            rail TEXT NOT NULL,
            day TEXT NOT NULL CHECK (char_length(day) = 10),
            triggered_by TEXT NOT NULL,
            scheduled INTEGER NOT NULL CHECK (scheduled IN (0, 1)),
            state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
            started_at BIGINT NOT NULL,
            finished_at BIGINT,
            lines_read BIGINT NOT NULL DEFAULT 0,
            matched BIGINT NOT NULL DEFAULT 0,
            exception_count BIGINT NOT NULL DEFAULT 0,
            malformed_count BIGINT NOT NULL DEFAULT 0,
            in_flight BIGINT NOT NULL DEFAULT 0,
            clean INTEGER NOT NULL DEFAULT 0 CHECK (clean IN (0, 1)),
            summary TEXT,
            error TEXT
        )
        """,
        "CREATE UNIQUE INDEX reconciliation_runs_scheduled ON reconciliation_runs(rail, day) WHERE scheduled = 1 AND state <> 'failed'",
        """
        CREATE TABLE reconciliation_exceptions (
            run_id TEXT NOT NULL REFERENCES reconciliation_runs(id),
            position INTEGER NOT NULL CHECK (position >= 0),
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            direction TEXT NOT NULL,
            line_number INTEGER,
            rail_amount BIGINT,
            ledger_amount BIGINT,
            currency TEXT NOT NULL,
            rail_state TEXT,
            ledger_state TEXT,
            bank_id TEXT,
            detail TEXT NOT NULL,
            alert_id TEXT,
            PRIMARY KEY (run_id, position)
        )
        """,
    ]
}
