import Foundation
import LucidCore
@testable import LucidStore
import Testing

/// Risk monitoring's tables behave the same on SQLite and PostgreSQL: remembered state that
/// holds across processes without lost updates, the append-only decision log, the review
/// queue's state machine, lists and suppressions with expiry, and the rules in force.
@Suite("Risk store")
struct RiskStoreTests {
    static func user(_ id: UserID, _ clock: ManualClock) -> UserRecord {
        UserRecord(id: id, email: "\(id.rawValue.suffix(12))@example.com", phone: nil, passwordHash: "$scrypt$x", displayName: "Test",
                   country: "CN", tier: .unverified, createdAt: clock.now())
    }

    /// A state update that treats the bytes as a decimal counter and adds one: lost updates show as a short count.
    static func increment(_ key: String) -> RiskStateUpdate {
        RiskStateUpdate(key: key) { record in
            let current = record?.data.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            return Array(String(current + 1).utf8)
        }
    }

    /// The same, precomputed from the value read at `version` (as the hot path does): stale when someone wrote since.
    static func increment(_ key: String, from seen: (value: Int, version: Int64)?) -> RiskStateUpdate {
        let precomputed = (from: seen?.version ?? 0, data: Array(String((seen?.value ?? 0) + 1).utf8))
        return RiskStateUpdate(key: key, precomputed: precomputed) { record in
            let current = record?.data.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            return Array(String(current + 1).utf8)
        }
    }

    static func counter(_ store: SQLStore, _ key: String) async throws -> (value: Int, version: Int64)? {
        guard let state = try await store.riskStates([key])[key], let data = state.data else { return nil }
        return (Int(String(decoding: data, as: UTF8.self)) ?? -1, state.version)
    }

    static func decision(_ id: String, user: UserID, at time: Timestamp, action: String = "allow", kind: String = "transfer",
                         recorded: Bool = true, transaction: TransferID? = nil) -> RiskDecisionRecord {
        RiskDecisionRecord(id: id, userID: user, eventKind: kind, action: action, rulesAction: action, score: 45,
                           ruleSetVersion: "v1", shadowAction: "review", shadowRuleSetVersion: "v2", transactionID: transaction,
                           recorded: recorded, createdAt: time, event: #"{"id":"\#(id)"}"#, context: #"{"context":{}}"#,
                           decision: #"{"action":"\#(action)"}"#, shadow: #"{"action":"review"}"#,
                           fired: [RiskFiredRuleRecord(ruleID: "velocity_burst_1h", contribution: 40, forcedDecision: nil, suppressed: false, shadow: false),
                                   RiskFiredRuleRecord(ruleID: "draft_rule", contribution: 80, forcedDecision: "review", suppressed: false, shadow: true)])
    }

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

    @Test("state updates apply to the stored row in order and bump its version; missing keys read as absent",
          arguments: Backend.available)
    func stateVersions(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let key = RiskStateKey.customer(TestID.user())
            #expect(try await store.riskStates([key]).isEmpty)
            let written = try await store.recordRisk([RiskRecording(updates: [Self.increment(key), Self.increment(key)]),
                                                      RiskRecording(updates: [Self.increment(key)])], at: clock.now())
            #expect(written[key]?.version == 3)
            let counter = try #require(try await Self.counter(store, key))
            #expect(counter.value == 3 && counter.version == 3)
            let seen = try await store.riskStates([key, RiskStateKey.payee("user:nobody")])
            #expect(seen.count == 1)
        }
    }

    @Test("reading any number of keys, repeats included, finds exactly the stored ones", arguments: Backend.available)
    func manyKeys(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            // More keys than one prepared read takes (four), so the read runs in padded chunks.
            let stored = (0..<7).map { _ in RiskStateKey.customer(TestID.user()) }
            let absent = (0..<3).map { _ in RiskStateKey.payee("user:\(TestID.user().rawValue)") }
            try await store.recordRisk([RiskRecording(updates: stored.map { Self.increment($0) })], at: clock.now())
            for count in 1...stored.count {
                let keys = Array(stored.prefix(count)) + absent + [stored[0]]
                let seen = try await store.riskStates(keys.shuffled())
                #expect(Set(seen.keys) == Set(stored.prefix(count)), "\(count) stored keys asked for")
                #expect(seen.values.allSatisfy { $0.version == 1 && $0.data == Array("1".utf8) })
            }
            #expect(try await store.riskStates(absent).isEmpty)
        }
    }

    @Test("two stores on one database updating the same customer at once lose no update", arguments: Backend.available)
    func noLostUpdates(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let key = RiskStateKey.customer(TestID.user())
            let fresh = RiskStateKey.payee("user:\(TestID.user().rawValue)")
            let rounds = 25
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in [a, b] {
                    for _ in 0..<rounds {
                        group.addTask {
                            // A new key too: both stores meet it for the first time at once.
                            try await store.recordRisk([RiskRecording(updates: [Self.increment(key), Self.increment(fresh)])], at: clock.now())
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.counter(a, key)?.value == 2 * rounds)
            #expect(try await Self.counter(b, fresh)?.value == 2 * rounds)
            #expect(try await Self.counter(b, key)?.version == Int64(2 * rounds))
            // Precomputed from what each request read: many are stale by the time they write and are redone on the row.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in [a, b] {
                    for _ in 0..<rounds {
                        group.addTask {
                            let seen = try await Self.counter(store, key)
                            try await store.recordRisk([RiskRecording(updates: [Self.increment(key, from: seen)])], at: clock.now())
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.counter(a, key)?.value == 4 * rounds)
            // Two precomputed updates of one key in one transaction: the second is stale after the first and redone.
            let seen = try await Self.counter(a, key)
            try await a.recordRisk([RiskRecording(updates: [Self.increment(key, from: seen)]),
                                    RiskRecording(updates: [Self.increment(key, from: seen)])], at: clock.now())
            #expect(try await Self.counter(b, key)?.value == 4 * rounds + 2)
        }
    }

    @Test("decisions are stored with fired rules (live and shadow), listed newest first, streamed by time, and append-only",
          arguments: Backend.available)
    func decisions(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let id = TestID.user()
            try await store.createUser(Self.user(id, clock))
            let first = UUIDv7Generator(clock: clock).next()
            let tx = TestID.transfer()
            try await store.recordRisk([RiskRecording(decision: Self.decision(first, user: id, at: clock.now(), transaction: tx))],
                                       at: clock.now())
            clock.advance(seconds: 60)
            let second = UUIDv7Generator(clock: clock).next()
            try await store.recordRisk([RiskRecording(decision: Self.decision(second, user: id, at: clock.now(), action: "block",
                                                                              recorded: true))], at: clock.now())
            let loaded = try #require(try await store.riskDecision(first))
            #expect(loaded.transactionID == tx && loaded.shadowAction == "review" && loaded.ruleSetVersion == "v1")
            #expect(Set(loaded.fired.map(\.ruleID)) == ["velocity_burst_1h", "draft_rule"])
            #expect(loaded.fired.first { $0.shadow }?.forcedDecision == "review")
            let page = try await store.riskDecisions(of: id, limit: 1, cursor: nil)
            #expect(page.items.map(\.id) == [second])
            let next = try await store.riskDecisions(of: id, limit: 1, cursor: page.nextCursor)
            #expect(next.items.map(\.id) == [first] && next.nextCursor == nil)
            var streamed: [String] = []
            try await store.forEachRiskDecision(since: clock.now().adding(seconds: -30)) { streamed.append($0.id) }
            #expect(streamed == [second])
            await #expect(throws: (any Error).self) {
                try await store.tamper("UPDATE risk_decisions SET action = 'allow' WHERE id = '\(second)'")
            }
        }
    }

    @Test("decisions and reviews ride in a batch's transactions: written with the money that was accepted, not with the refused",
          arguments: Backend.available)
    func decisionsWithTheMoney(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user()
            let bob = TestID.user()
            for id in [alice, bob] { try await store.createUser(Self.user(id, clock)) }
            try await store.fund(alice, 10_000)
            let ids = UUIDv7Generator(clock: clock)
            // Three held transfers in one batch, the middle one an overdraft; each with its decision and review.
            var commands: [LedgerCommand] = []
            var decisions: [String] = []
            for amount: Int64 in [3_000, 50_000, 4_000] {
                guard case .create(var tx) = transfer(alice, bob, amount, pending: true) else { fatalError() }
                let decision = ids.next()
                decisions.append(decision)
                tx.effects.riskDecisions = [Self.decision(decision, user: alice, at: clock.now(), action: "review", transaction: tx.id)]
                tx.effects.riskReviews = [RiskReviewRecord(id: ids.next(), decisionID: decision, transactionID: tx.id, userID: alice,
                                                           kind: "transfer", amount: amount, currency: .cny, reason: "payee_risk",
                                                           createdAt: clock.now(), expiresAt: clock.now().adding(seconds: 3_600))]
                commands.append(.create(tx))
            }
            let results = try await store.applyBatch(commands)
            #expect(results.map { (try? $0.get()) != nil } == [true, false, true])
            #expect(try await store.riskDecision(decisions[0])?.fired.count == 2)
            #expect(try await store.riskDecision(decisions[1]) == nil, "the refused transfer left no decision")
            #expect(try await store.riskDecision(decisions[2])?.action == "review")
            let reviews = try await store.riskReviews(state: .open, limit: 10, cursor: nil).items
            #expect(Set(reviews.map(\.decisionID)) == [decisions[0], decisions[2]])
            #expect(try await store.verify().ok)
        }
    }

    @Test("feature updates ride in a batch's transactions: applied in order on the current row for the money accepted, never for the refused",
          arguments: Backend.available)
    func featuresWithTheMoney(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user()
            let bob = TestID.user()
            for id in [alice, bob] { try await store.createUser(Self.user(id, clock)) }
            try await store.fund(alice, 10_000)
            try await store.recordRisk([RiskRecording(updates: [Self.increment("customer:alice"), Self.increment("payee:bob")])],
                                       at: clock.now())
            let seen = try #require(try await Self.counter(store, "customer:alice"))
            #expect(seen.value == 1 && seen.version == 1)
            // Four transfers in one batch, each teaching the sender's counter from the value read before
            // (so from the second on the precomputed value is stale) and a payee counter; the third overdraws.
            var commands: [LedgerCommand] = []
            for amount: Int64 in [1_000, 2_000, 50_000, 3_000] {
                guard case .create(var tx) = transfer(alice, bob, amount) else { fatalError() }
                tx.effects.riskStates = [Self.increment("customer:alice", from: seen), Self.increment("payee:bob"),
                                         Self.increment("payee:new")]
                commands.append(.create(tx))
            }
            let results = try await store.applyBatch(commands)
            #expect(results.map { (try? $0.get()) != nil } == [true, true, false, true])
            let sender = try await Self.counter(store, "customer:alice")
            #expect(sender?.value == 4 && sender?.version == 4, "three accepted transfers on top of the stored 1, none lost, the refused not counted")
            #expect(try await Self.counter(store, "payee:bob")?.value == 4)
            let created = try await Self.counter(store, "payee:new")
            #expect(created?.value == 3 && created?.version == 3, "a key first met in the batch")
            #expect(try await store.balance(alice).available == 4_000)
            #expect(try await store.verify().ok)
        }
    }

    @Test("a review moves open → claimed → approved only from the states it is in, with who, when and the note",
          arguments: Backend.available)
    func reviewStates(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let id = TestID.user()
            try await store.createUser(Self.user(id, clock))
            let ids = UUIDv7Generator(clock: clock)
            let decision = ids.next()
            let review = RiskReviewRecord(id: ids.next(), decisionID: decision, transactionID: TestID.transfer(), userID: id,
                                          kind: "transfer", amount: 500_000, currency: .cny, reason: "payee_risk", createdAt: clock.now(),
                                          expiresAt: clock.now().adding(seconds: 3_600))
            try await store.recordRisk([RiskRecording(decision: Self.decision(decision, user: id, at: clock.now(), action: "review"),
                                                      review: review)], at: clock.now())
            #expect(try await store.riskReviews(state: .open, limit: 10, cursor: nil).items.map(\.id) == [review.id])
            #expect(try await store.riskReviews(transactions: [review.transactionID]).first?.state == .open)
            #expect(try await store.changeRiskReview(review.id, from: [.open], change: .claim(by: "operator:ann", at: clock.now(), note: nil),
                                                     effects: .none))
            #expect(try await !store.changeRiskReview(review.id, from: [.open], change: .claim(by: "operator:bob", at: clock.now(), note: nil),
                                                      effects: .none), "someone else claimed it first")
            clock.advance(seconds: 10)
            let audit = AuditEntry(id: ids.next(), at: clock.now(), actor: "operator:ann", action: "risk_review_approved", targetUserID: id,
                                   sourceAddress: nil, details: "{}")
            #expect(try await store.changeRiskReview(review.id, from: [.open, .claimed],
                                                     change: .approve(by: "operator:ann", at: clock.now(), note: "known payee"),
                                                     effects: SideEffects(audit: [audit])))
            let done = try #require(try await store.riskReview(review.id))
            #expect(done.state == .approved && done.claimedBy == "operator:ann" && done.resolvedBy == "operator:ann")
            #expect(done.note == "known payee" && done.resolvedAt == clock.now())
            #expect(try await !store.changeRiskReview(review.id, from: [.open, .claimed],
                                                      change: .reject(by: "operator:bob", at: clock.now(), note: "x", froze: true), effects: .none))
            #expect(try await store.riskReviews(state: .open, limit: 10, cursor: nil).items.isEmpty)
            #expect(try await store.auditEntries(of: id, limit: 10, cursor: nil).items.map(\.action) == ["risk_review_approved"])
            #expect(try await store.riskReviewsPastExpiry(now: clock.now().adding(seconds: 7_200), limit: 10).isEmpty)
        }
    }

    @Test("lists, suppressions and rule sets change the generation other processes poll; expired entries are purged",
          arguments: Backend.available)
    func configuration(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let id = TestID.user()
            try await a.createUser(Self.user(id, clock))
            let ids = UUIDv7Generator(clock: clock)
            let start = try await b.riskGeneration()
            let entry = RiskListEntryRecord(id: ids.next(), kind: "device", value: "dev-1", verdict: "deny", userID: nil,
                                            expiresAt: clock.now().adding(seconds: 60), note: "stolen phone", createdBy: "operator:ann",
                                            createdAt: clock.now())
            try await a.addRiskListEntry(entry, effects: .none)
            let suppression = RiskSuppressionRecord(id: ids.next(), userID: id, ruleID: "new_country_money_out",
                                                    until: clock.now().adding(seconds: 86_400), note: "trip", createdBy: "operator:ann",
                                                    createdAt: clock.now())
            try await a.addRiskSuppression(suppression, effects: .none)
            try await a.saveRiskRuleSet(RiskRuleSetRecord(id: ids.next(), slot: .live, version: "v2", yaml: "version: v2", createdBy: "cli",
                                                          createdAt: clock.now()), effects: .none)
            try await a.saveRiskRuleSet(RiskRuleSetRecord(id: ids.next(), slot: .shadow, version: "v3", yaml: "version: v3", createdBy: "cli",
                                                          createdAt: clock.now()), effects: .none)
            #expect(try await b.riskGeneration() == start + 4)
            #expect(try await b.riskListEntries() == [entry])
            #expect(try await b.riskSuppressions() == [suppression])
            var sets = try await b.riskRuleSets()
            #expect(sets.live?.version == "v2" && sets.shadow?.version == "v3")
            try await b.saveRiskRuleSet(RiskRuleSetRecord(id: ids.next(), slot: .shadow, version: nil, yaml: nil, createdBy: "cli",
                                                          createdAt: clock.now()), effects: .none)
            sets = try await a.riskRuleSets()
            #expect(sets.shadow?.yaml == nil && sets.live?.yaml == "version: v2")
            clock.advance(seconds: 120)
            #expect(try await a.purgeExpiredRiskEntries(now: clock.now()) == 1)
            #expect(try await b.riskListEntries().isEmpty)
            #expect(try await b.riskSuppressions().count == 1)
            #expect(try await b.removeRiskSuppression(suppression.id, effects: .none))
            #expect(try await !b.removeRiskSuppression(suppression.id, effects: .none))
            #expect(try await a.riskGeneration() == start + 7)
        }
    }
}
