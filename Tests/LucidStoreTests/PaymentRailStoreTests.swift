import Foundation
import LucidCore
@testable import LucidStore
import Testing

/// Payment rail tables (issue 5) on SQLite and PostgreSQL: items live and die with their ledger
/// transfers, claims keep two processes apart, callback ids are refused twice, alerts are
/// deduplicated while open, reconciliation runs keep their exceptions and raise alerts.
@Suite("Payment rail store")
struct PaymentRailStoreTests {
    static func user(_ store: SQLStore, _ clock: ManualClock) async throws -> UserID {
        let id = TestID.user()
        try await store.createUser(UserRecord(id: id, email: "\(id.rawValue.prefix(8))@example.com", phone: nil, passwordHash: "$scrypt$x",
                                              displayName: "Test", country: "CN", tier: .unverified, createdAt: clock.now()))
        return id
    }

    static func item(_ id: TransferID, _ user: UserID, rail: String = "bank-a", direction: String = "topup", amount: Int64 = 5_000,
                     at now: Timestamp, expectedSeconds: Int64 = 600) -> RailItemRecord {
        RailItemRecord(reference: id, rail: rail, direction: direction, userID: user, amount: amount, currency: .cny, accountBank: "ICBC",
                       accountLast4: "6789", expectedBy: now.adding(seconds: expectedSeconds),
                       nextCheckAt: now.adding(seconds: expectedSeconds + 60), createdAt: now)
    }

    /// A pending top-up from `rail`'s clearing account with its item, as the gateway writes it.
    @discardableResult
    static func pendingTopUp(_ store: SQLStore, _ user: UserID, _ clock: ManualClock, rail: String = "bank-a", amount: Int64 = 5_000,
                             expectedSeconds: Int64 = 600) async throws -> RailItemRecord {
        let id = TestID.transfer()
        let item = item(id, user, rail: rail, amount: amount, at: clock.now(), expectedSeconds: expectedSeconds)
        _ = try await store.submit(.create(NewTransaction(
            id: id, kind: .topup, debit: .system(.clearing(rail: rail), .cny), credit: .customer(user, .cny),
            amount: Money(amount, .cny), pending: true, reason: "waiting_for_bank", effects: SideEffects(gateway: [.insertItem(item)]))))
        return item
    }

    static func resolution(_ item: RailItemRecord, _ state: RailItemState, at time: Timestamp, bank: String? = "BANKA-1") -> RailItemResolution {
        RailItemResolution(reference: item.reference, state: state, railState: state == .posted ? "settled" : "failed",
                           railReason: state == .posted ? nil : "R02_account_closed", reason: state == .posted ? nil : "R02_account_closed",
                           bankReference: bank, finalAt: time, resolvedAt: time)
    }

    /// Two stores on one database: two PostgreSQL pools, or two SQLite stores on one file.
    func withTwoStores(_ backend: Backend, _ body: (SQLStore, SQLStore, ManualClock) async throws -> Void) async throws {
        switch backend {
        case .postgres:
            try await withPostgresStores(count: 2) { stores, clock in try await body(stores[0], stores[1], clock) }
        case .sqlite:
            try await withSQLiteStore { first, clock in
                let second = try SQLiteStore(path: first.path, ids: CountingIDGenerator(), clock: clock)
                try await body(first, second, clock)
            }
        }
    }

    @Test("an item is written with its pending transfer and resolved with its post, never apart", arguments: Backend.available)
    func itemLivesWithItsTransfer(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let user = try await Self.user(store, clock)
            let item = try await Self.pendingTopUp(store, user, clock)
            let stored = try #require(try await store.railItem(item.reference))
            #expect(stored == item)
            let pending = try #require(try await store.transaction(item.reference))
            #expect(pending.state == .pending && pending.rail == "bank-a" && pending.railReason == "waiting_for_bank")
            #expect(pending.railExpectedBy == item.expectedBy && pending.debit.code == "gateway_clearing:bank-a")

            // A refused create (the same transfer id twice) writes no second item.
            let again = await lucidError {
                try await store.submit(.create(NewTransaction(
                    id: TestID.transfer(), kind: .topup, debit: .system(.clearing(rail: "bank-a"), .cny), credit: .customer(user, .cny),
                    amount: Money(1, .cny), pending: true, effects: SideEffects(gateway: [.insertItem(item)]))))
            }
            #expect(again != nil, "a second item for one reference is refused with its transfer")
            #expect(try await store.transaction(item.reference)?.amount == 5_000)

            clock.advance(seconds: 5)
            _ = try await store.submit(.resolve(item.reference, .post, initiator: "system:test",
                                                effects: SideEffects(gateway: [.resolveItem(Self.resolution(item, .posted, at: clock.now()))])))
            let posted = try #require(try await store.railItem(item.reference))
            #expect(posted.state == .posted && posted.railState == "settled" && posted.bankReference == "BANKA-1")
            #expect(posted.resolvedAt == clock.now() && posted.finalAt == clock.now() && posted.reason == nil)
            #expect(try await store.balance(user).posted == 5_000)
            // A second post is refused by the ledger and its effects are not written.
            let twice = await lucidError {
                try await store.submit(.resolve(item.reference, .void, initiator: "system:test",
                                                effects: SideEffects(gateway: [.resolveItem(Self.resolution(item, .voided, at: clock.now()))])))
            }
            #expect(twice?.code == .transferAlreadyPosted)
            #expect(try await store.railItem(item.reference)?.state == .posted)
            let balances = try await store.clearingBalances(rail: "bank-a")
            #expect(balances.count == 1 && balances[0].balance.posted == -5_000)
            #expect(try await store.verify().ok)
        }
    }

    @Test("a pending answer only moves the expected time forward, and never after the end", arguments: Backend.available)
    func pendingMovesForward(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let user = try await Self.user(store, clock)
            let item = try await Self.pendingTopUp(store, user, clock)
            let later = item.expectedBy.adding(seconds: 100)
            #expect(try await store.noteRailItemPending(item.reference, expectedBy: later, bankReference: "B-1",
                                                        nextCheckAt: later.adding(seconds: 60)))
            #expect(!(try await store.noteRailItemPending(item.reference, expectedBy: later, bankReference: nil, nextCheckAt: later)))
            #expect(!(try await store.noteRailItemPending(item.reference, expectedBy: item.expectedBy, bankReference: nil,
                                                          nextCheckAt: later)), "an earlier time is stale")
            let noted = try #require(try await store.railItem(item.reference))
            #expect(noted.expectedBy == later && noted.railState == "pending" && noted.bankReference == "B-1")
            #expect(noted.nextCheckAt == later.adding(seconds: 60))
            try await store.markRailItemSubmitted(item.reference, at: clock.now(), bankReference: "B-2", reason: "bank_not_responding")
            let submitted = try #require(try await store.railItem(item.reference))
            #expect(submitted.submittedAt == clock.now() && submitted.bankReference == "B-1" && submitted.reason == "bank_not_responding")
            _ = try await store.submit(.resolve(item.reference, .void, initiator: "system:test",
                                                effects: SideEffects(gateway: [.resolveItem(Self.resolution(item, .voided, at: clock.now()))])))
            #expect(!(try await store.noteRailItemPending(item.reference, expectedBy: later.adding(seconds: 1), bankReference: nil,
                                                          nextCheckAt: later)))
            let voided = try #require(try await store.railItem(item.reference))
            #expect(voided.state == .voided && voided.reason == "R02_account_closed" && voided.railReason == "R02_account_closed")
            #expect(try await store.transaction(item.reference)?.state == .voided)
        }
    }

    @Test("two processes claiming due items get disjoint sets; a claim lapses; escalation takes an item out", arguments: Backend.available)
    func claims(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let user = try await Self.user(a, clock)
            var items: [RailItemRecord] = []
            for _ in 0..<12 { items.append(try await Self.pendingTopUp(a, user, clock, expectedSeconds: 10)) }
            let notDue = try await Self.pendingTopUp(a, user, clock, expectedSeconds: 3_600)
            #expect(try await a.claimDueRailItems(now: clock.now(), limit: 100, claimant: "a", until: clock.now().adding(seconds: 60)).isEmpty)
            clock.advance(seconds: 120)
            let now = clock.now()
            async let first = a.claimDueRailItems(now: now, limit: 8, claimant: "a", until: now.adding(seconds: 60))
            async let second = b.claimDueRailItems(now: now, limit: 8, claimant: "b", until: now.adding(seconds: 60))
            let (claimedA, claimedB) = try await (first, second)
            let setA = Set(claimedA.map(\.reference)), setB = Set(claimedB.map(\.reference))
            #expect(setA.isDisjoint(with: setB))
            #expect(setA.union(setB) == Set(items.map(\.reference)), "every due item claimed once, the others not")
            #expect(!setA.contains(notDue.reference) && !setB.contains(notDue.reference))
            // Nothing left while the claims hold; released ones come back; lapsed ones too.
            #expect(try await a.claimDueRailItems(now: now, limit: 100, claimant: "c", until: now.adding(seconds: 60)).isEmpty)
            try await b.releaseRailItem(claimedA[0].reference, claimant: "b")
            #expect(try await a.claimDueRailItems(now: now, limit: 100, claimant: "c", until: now.adding(seconds: 60)).isEmpty,
                    "only the claimant releases")
            try await a.releaseRailItem(claimedA[0].reference, claimant: "a")
            #expect(try await b.claimDueRailItems(now: now, limit: 100, claimant: "c", until: now.adding(seconds: 60)).map(\.reference)
                    == [claimedA[0].reference])
            clock.advance(seconds: 61)
            #expect(try await b.claimDueRailItems(now: clock.now(), limit: 100, claimant: "d", until: clock.now().adding(seconds: 60))
                        .count == 12)
            // A check reschedules; an escalation takes the item out of the sweep, with its alert.
            let target = items[0]
            try await a.recordRailCheck(target.reference, at: clock.now(), nextCheckAt: clock.now().adding(seconds: 600), reason: "waiting_for_bank",
                                        effects: .none)
            let checked = try #require(try await a.railItem(target.reference))
            #expect(checked.attempts == 1 && checked.lastCheckedAt == clock.now())
            let alert = OperatorAlertRecord(id: TestID.transfer().rawValue, kind: "stuck_item", rail: "bank-a",
                                            reference: target.reference.rawValue, userID: user, amount: 5_000, currency: "CNY",
                                            details: "{}", createdAt: clock.now())
            #expect(try await a.escalateRailItem(target.reference, at: clock.now(), alert: alert, effects: .none))
            #expect(!(try await b.escalateRailItem(target.reference, at: clock.now(), alert: alert, effects: .none)), "once")
            let escalated = try #require(try await b.railItem(target.reference))
            #expect(escalated.state == .escalated && escalated.escalatedAt == clock.now() && escalated.attempts == 2)
            #expect(try await b.alerts(state: .open, rail: nil, limit: 10, cursor: nil).items.map(\.id) == [alert.id])
            let counts = try await a.railItemCounts(now: clock.now())
            #expect(counts["bank-a"]?["pending"] == 12 && counts["bank-a"]?["escalated"] == 1 && counts["bank-a"]?["overdue"] == 11)
            let page = try await a.railItems(rail: "bank-a", state: .escalated, limit: 10, cursor: nil)
            #expect(page.items.map(\.reference) == [target.reference] && page.nextCursor == nil)
        }
    }

    @Test("a callback event id is accepted once across processes, given back on failure, forgotten when old",
          arguments: Backend.available)
    func callbackEvents(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            #expect(try await a.claimCallbackEvent("evt-1", rail: "bank-a", at: clock.now()))
            #expect(!(try await b.claimCallbackEvent("evt-1", rail: "bank-a", at: clock.now())), "a replay to the other process")
            try await b.releaseCallbackEvent("evt-1")
            #expect(try await b.claimCallbackEvent("evt-1", rail: "bank-a", at: clock.now()), "redelivery after a failure")
            clock.advance(seconds: 700)
            #expect(try await a.claimCallbackEvent("evt-2", rail: "bank-a", at: clock.now()))
            #expect(try await a.purgeCallbackEvents(before: clock.now().adding(seconds: -600)) == 1)
            #expect(!(try await a.claimCallbackEvent("evt-2", rail: "bank-a", at: clock.now())))
        }
    }

    @Test("alerts: one open alert per kind and reference; resolving is once; pages and filters", arguments: Backend.available)
    func alerts(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            func alert(_ kind: String, _ reference: String, rail: String = "bank-a") -> OperatorAlertRecord {
                OperatorAlertRecord(id: TestID.transfer().rawValue, kind: kind, rail: rail, reference: reference, userID: nil, amount: 10,
                                    currency: "CNY", details: #"{"detail":"x"}"#, createdAt: clock.now())
            }
            let first = alert("rail_conflict", "r-1")
            #expect(try await store.raiseAlert(first, effects: .none))
            #expect(!(try await store.raiseAlert(alert("rail_conflict", "r-1"), effects: .none)), "deduplicated while open")
            #expect(try await store.raiseAlert(alert("stuck_item", "r-1"), effects: .none))
            #expect(try await store.raiseAlert(alert("rail_conflict", "r-1", rail: "bank-b"), effects: .none))
            let noRail = OperatorAlertRecord(id: TestID.transfer().rawValue, kind: "unknown_callback", rail: nil, reference: nil, userID: nil,
                                             amount: nil, currency: nil, details: "{}", createdAt: clock.now())
            #expect(try await store.raiseAlert(noRail, effects: .none))
            #expect(try await store.alert(noRail.id)?.rail == nil)
            let resolution = AlertResolution(id: first.id, by: "operator:alice", note: "checked with the bank", at: clock.now())
            #expect(try await store.resolveAlert(resolution, effects: SideEffects(audit: [
                AuditEntry(id: TestID.transfer().rawValue, at: clock.now(), actor: "operator:alice", action: "alert_resolved",
                           targetUserID: nil, sourceAddress: nil, details: "{}"),
            ])))
            #expect(!(try await store.resolveAlert(resolution, effects: .none)), "once")
            let resolved = try #require(try await store.alert(first.id))
            #expect(resolved.state == .resolved && resolved.resolvedBy == "operator:alice" && resolved.note == "checked with the bank")
            #expect(try await store.auditEntries(of: nil, limit: 10, cursor: nil).items.map(\.action) == ["alert_resolved"])
            #expect(try await store.raiseAlert(alert("rail_conflict", "r-1"), effects: .none), "a new one once the old is resolved")
            let open = try await store.alerts(state: .open, rail: nil, limit: 2, cursor: nil)
            #expect(open.items.count == 2 && open.nextCursor != nil)
            let rest = try await store.alerts(state: .open, rail: nil, limit: 2, cursor: open.nextCursor)
            #expect(rest.items.count == 2 && rest.nextCursor == nil)
            #expect(try await store.alerts(state: nil, rail: "bank-b", limit: 10, cursor: nil).items.count == 1)
            #expect(try await store.alerts(state: .resolved, rail: nil, limit: 10, cursor: nil).items.map(\.id) == [first.id])
        }
    }

    @Test("reconciliation runs: one scheduled run per rail and day, exceptions kept in order with their alerts; day windows",
          arguments: Backend.available)
    func reconciliationRuns(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let user = try await Self.user(store, clock)
            // Items of the day: one posted with the rail's answer, one voided because the rail never had it, one
            // pending and due that day, one of another rail.
            let posted = try await Self.pendingTopUp(store, user, clock, amount: 1_000)
            let unsent = try await Self.pendingTopUp(store, user, clock, amount: 2_000)
            let waiting = try await Self.pendingTopUp(store, user, clock, amount: 3_000, expectedSeconds: 60)
            let other = try await Self.pendingTopUp(store, user, clock, rail: "bank-b", amount: 4_000)
            _ = try await store.submit(.resolve(posted.reference, .post, initiator: "t", effects: SideEffects(gateway: [
                .resolveItem(Self.resolution(posted, .posted, at: clock.now()))])))
            _ = try await store.submit(.resolve(unsent.reference, .void, initiator: "t", effects: SideEffects(gateway: [
                .resolveItem(RailItemResolution(reference: unsent.reference, state: .voided, railState: nil, reason: "gateway_unavailable",
                                                bankReference: nil, finalAt: nil, resolvedAt: clock.now()))])))
            _ = try await store.submit(.resolve(other.reference, .post, initiator: "t", effects: SideEffects(gateway: [
                .resolveItem(Self.resolution(other, .posted, at: clock.now()))])))
            let day = clock.now().startOfUTCDay
            let end = day.adding(seconds: 86_400)
            var seen: [RailLedgerRecord] = []
            var after: RailLedgerItemsCursor?
            var pages = 0
            repeat {
                let page = try await store.railLedgerItems(rail: "bank-a", dayStart: day, dayEnd: end, after: after, limit: 1)
                seen += page.items
                after = page.next
                pages += 1
            } while after != nil && pages < 10
            #expect(after == nil && seen.count == 2, "one item per page, each once")
            #expect(Set(seen.map(\.reference)) == [posted.reference.rawValue, waiting.reference.rawValue])
            #expect(seen.first { $0.reference == posted.reference.rawValue }?.state == "posted")
            #expect(seen.first { $0.reference == waiting.reference.rawValue }?.state == "pending")
            #expect(try await store.railLedgerItems(rail: "bank-a", dayStart: end, dayEnd: end.adding(seconds: 86_400), after: nil,
                                                    limit: 10).items.isEmpty)
            let records = try await store.railLedgerRecords(references: [posted.reference.rawValue, unsent.reference.rawValue, "nope"])
            #expect(Set(records.map(\.state)) == ["posted", "voided"])

            let dayText = clock.now().utcDay
            var run = ReconciliationRunRecord(id: TestID.transfer().rawValue, rail: "bank-a", day: dayText, triggeredBy: "schedule",
                                              scheduled: true, startedAt: clock.now())
            #expect(try await store.startReconciliation(run))
            let duplicate = ReconciliationRunRecord(id: TestID.transfer().rawValue, rail: "bank-a", day: dayText, triggeredBy: "schedule",
                                                    scheduled: true, startedAt: clock.now())
            #expect(!(try await store.startReconciliation(duplicate)), "one scheduled run per rail and day")
            let manual = ReconciliationRunRecord(id: TestID.transfer().rawValue, rail: "bank-a", day: dayText, triggeredBy: "operator:a",
                                                 scheduled: false, startedAt: clock.now())
            #expect(try await store.startReconciliation(manual), "operators may run it again")
            run.state = .completed
            run.finishedAt = clock.now()
            run.linesRead = 3
            run.matched = 1
            run.exceptionCount = 3
            run.summary = #"{"clearing":{"CNY":{"difference_minor":0}}}"#
            let exceptions = (0..<3).map { position in
                ReconciliationExceptionRecord(
                    position: position, kind: position == 2 ? "missing_at_rail" : "amount_mismatch",
                    reference: position == 0 ? posted.reference.rawValue : "X\(position)", direction: "topup", lineNumber: position + 2,
                    railAmount: 1_001, ledgerAmount: position == 0 ? 1_000 : nil, currency: "CNY", railState: "settled",
                    ledgerState: position == 0 ? "posted" : nil, bankID: "B", detail: "detail \(position)")
            }
            let stored = try await store.finishReconciliation(run, exceptions: exceptions, newAlertID: { UUID().uuidString.lowercased() })
            #expect(stored.allSatisfy { $0.alertID != nil })
            var finishedManual = manual
            finishedManual.state = .completed
            finishedManual.finishedAt = clock.now()
            let again = try await store.finishReconciliation(finishedManual, exceptions: [exceptions[0]],
                                                             newAlertID: { UUID().uuidString.lowercased() })
            #expect(again[0].alertID == nil, "an open alert for the same exception is not raised twice")
            let alertID = try #require(stored[0].alertID)
            let alert = try #require(try await store.alert(alertID))
            #expect(alert.kind == "amount_mismatch" && alert.userID == user && alert.runID == run.id && alert.reference == posted.reference.rawValue)
            let read = try #require(try await store.reconciliation(run.id))
            #expect(read.state == .completed && read.exceptionCount == 3 && read.summary == run.summary && read.scheduled)
            let page = try await store.reconciliationExceptions(run: run.id, limit: 2, cursor: nil)
            #expect(page.items.map(\.position) == [0, 1] && page.nextCursor == "1")
            let last = try await store.reconciliationExceptions(run: run.id, limit: 2, cursor: page.nextCursor)
            #expect(last.items.map(\.detail) == ["detail 2"] && last.nextCursor == nil)
            #expect(try await store.reconciliations(rail: "bank-a", limit: 10).count == 2)
            // A run whose process died is marked failed, which frees the day for the schedule.
            let stale = ReconciliationRunRecord(id: TestID.transfer().rawValue, rail: "bank-b", day: dayText, triggeredBy: "schedule",
                                                scheduled: true, startedAt: clock.now())
            #expect(try await store.startReconciliation(stale))
            clock.advance(seconds: 7 * 3_600)
            #expect(try await store.failStaleReconciliations(startedBefore: clock.now().adding(seconds: -6 * 3_600), at: clock.now()) == 1)
            #expect(try await store.startReconciliation(ReconciliationRunRecord(
                id: TestID.transfer().rawValue, rail: "bank-b", day: dayText, triggeredBy: "schedule", scheduled: true,
                startedAt: clock.now())))
        }
    }

    /// SQLite has one writer per file by design; this is about PostgreSQL's several processes.
    @Test("two processes resolving one hold at once: one wins, the other is refused, nothing moves twice",
          arguments: Backend.available.filter { $0 == .postgres })
    func concurrentResolution(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let user = try await Self.user(a, clock)
            try await a.fund(user, 10_000)
            var holds: [TransferID] = []
            for _ in 0..<20 {
                let id = TestID.transfer()
                _ = try await a.submit(.create(NewTransaction(id: id, kind: .withdrawal, debit: .customer(user, .cny),
                                                              credit: .system(.clearing(rail: "bank-a"), .cny), amount: Money(100, .cny),
                                                              pending: true)))
                holds.append(id)
            }
            for (index, id) in holds.enumerated() {
                let second: PendingAction = index % 2 == 0 ? .post : .void
                async let first = lucidError { try await a.submit(.resolve(id, .post, initiator: "a")) }
                async let other = lucidError { try await b.submit(.resolve(id, second, initiator: "b")) }
                let outcomes = await [first, other]
                #expect(outcomes.filter { $0 == nil }.count == 1, "exactly one resolution: \(outcomes)")
                #expect(outcomes.compactMap { $0?.code }.allSatisfy { [.transferAlreadyPosted, .transferAlreadyVoided].contains($0) })
            }
            let balance = try await a.balance(user)
            #expect(balance.pendingOut == 0 && balance.posted <= 10_000 && balance.posted >= 8_000 && (10_000 - balance.posted) % 100 == 0)
            #expect(try await a.verify().ok)
        }
    }

    @Test("the migration is named, and both databases know the same migrations in the same order", arguments: Backend.available)
    func migrationName(backend: Backend) async throws {
        #expect(PostgresSchema.names.contains("2026-11-25-03-payment-rails"))
        try await withStore(backend) { store, _ in
            if let sqlite = store as? SQLiteStore {
                let applied = try sqlite.appliedMigrations()
                #expect(applied == PostgresSchema.names)
            }
        }
    }
}
