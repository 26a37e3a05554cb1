import Foundation
import Logging
import LucidCore
import LucidRisk
import LucidStore
import Synchronization

/// Risk monitoring on the hot path: loads the remembered features an event needs, asks the
/// engine (`RiskEngine.evaluate`), and records the decided event — features, decision,
/// review item and notifications — in the database: for money that moves, in the ledger's own
/// transaction (`decisionRecord`, `stateUpdates`, put in its effects by the wallet service);
/// for sign-ins and refused movements through `RiskRecorder` (group-committed).
///
/// One per process. Rules, lists and suppressions live in the database and are held here
/// in memory; `reloadIfChanged` (run every few seconds by `RiskMaintenanceService`) picks up
/// a change another process made. Features are never cached as the truth: every decision
/// reads the current rows (the cache only skips decoding a row whose version it has seen),
/// and every update is applied to the locked row inside the write, so processes sharing a
/// PostgreSQL database never lose each other's updates.
public final class RiskMonitor: Sendable {
    public let configuration: RiskConfiguration
    /// The rule sets in force (live, and shadow when a draft runs beside it).
    public let rules: RuleSetHolder
    let store: any RiskStore
    let clock: any WallClock
    let ids: any IDGenerator
    let logger: Logger
    /// Sees every evaluation as it is made (the simulator and tests read decisions through it).
    let observer: (@Sendable (RiskEvent, RiskEvaluation) -> Void)?
    private let loaded = Mutex(Loaded())
    private let cache: Mutex<[String: Cached]>
    private let devices = Mutex<[UserID: DeviceList]>([:])
    private let recorder: RiskRecorder

    /// A customer's devices as read at a time (see `deviceSightings`).
    struct DeviceList: Sendable {
        var readAt: Timestamp
        var sightings: [DeviceSighting]
    }

    /// Lists, suppressions and the records of the rule sets in force, as last loaded.
    struct Loaded: Sendable {
        var generation: Int64 = -1
        var lists = RiskLists.empty
        var suppressions: [UserID: [RuleSuppression]] = [:]
        var live: RiskRuleSetRecord?
        var shadow: RiskRuleSetRecord?
    }

    /// A decoded state and the row version it was decoded from.
    struct Cached: Sendable {
        var version: Int64
        var state: State
    }

    enum State: Sendable {
        case customer(CustomerFeatures)
        case payee(PayeeFeatures)
        case source(SourceFeatures)
    }

    public init(store: any RiskStore, configuration: RiskConfiguration = RiskConfiguration(), clock: any WallClock,
                ids: any IDGenerator, logger: Logger = Logger(label: "lucid.risk"),
                observer: (@Sendable (RiskEvent, RiskEvaluation) -> Void)? = nil) {
        self.configuration = configuration
        self.rules = RuleSetHolder(RuleSet.bundledDefault())
        self.store = store
        self.clock = clock
        self.ids = ids
        self.logger = logger
        self.observer = observer
        self.cache = Mutex([:])
        self.recorder = RiskRecorder(store: store, clock: clock, batchMax: configuration.recordBatchMax)
    }

    // MARK: Rules, lists and suppressions

    /// Loads rules, lists and suppressions from the database. A stored rule set that no longer
    /// loads (it cannot be: sets are validated before they are stored) leaves the current one.
    public func reload() async throws {
        let generation = try await store.riskGeneration()
        let (live, shadow) = try await store.riskRuleSets()
        let entries = try await store.riskListEntries()
        let suppressions = try await store.riskSuppressions()
        if let live, let yaml = live.yaml {
            do { try rules.reload(yaml: yaml) } catch {
                logger.error("stored live risk rules do not load; keeping the current set", metadata: ["error": "\(error)"])
            }
        } else {
            rules.replaceLive(RuleSet.bundledDefault())
        }
        do { try rules.reloadShadow(yaml: shadow?.yaml) } catch {
            logger.error("stored shadow risk rules do not load; shadow mode off", metadata: ["error": "\(error)"])
            try? rules.reloadShadow(yaml: nil)
        }
        var byUser: [UserID: [RuleSuppression]] = [:]
        for suppression in suppressions {
            byUser[suppression.userID, default: []].append(
                RuleSuppression(customer: suppression.userID, ruleID: suppression.ruleID, until: suppression.until, note: suppression.note))
        }
        let lists = RiskLists(entries.compactMap { entry -> RiskListEntry? in
            guard let kind = RiskListEntry.Kind(rawValue: entry.kind), let verdict = RiskListEntry.Verdict(rawValue: entry.verdict) else {
                return nil
            }
            return RiskListEntry(kind: kind, value: entry.value, verdict: verdict, customer: entry.userID, expiresAt: entry.expiresAt,
                                 note: entry.note)
        })
        loaded.withLock {
            $0 = Loaded(generation: generation, lists: lists, suppressions: byUser, live: live, shadow: shadow?.yaml == nil ? nil : shadow)
        }
    }

    /// Reloads when another process (or this one) changed rules, lists or suppressions.
    @discardableResult
    public func reloadIfChanged() async throws -> Bool {
        let generation = try await store.riskGeneration()
        guard generation != loaded.withLock({ $0.generation }) else { return false }
        try await reload()
        return true
    }

    /// The records of the rule sets in force (nil live: the bundled defaults).
    var ruleSetRecords: (live: RiskRuleSetRecord?, shadow: RiskRuleSetRecord?) { loaded.withLock { ($0.live, $0.shadow) } }

    // MARK: Deciding

    /// An event, what it was decided on, and the decision.
    public struct Assessment: Sendable {
        public let event: RiskEvent
        public let context: CustomerContext
        public let payeeContext: CustomerContext?
        let inputs: RiskInputs
        /// The row versions the inputs were read at (0: no row), so the updates can be computed before the write.
        let versions: [String: Int64]
        public let evaluation: RiskEvaluation
        public var decision: RiskDecision { evaluation.decision }
    }

    /// The context the engine needs about a customer besides history.
    func context(of user: UserRecord, at now: Timestamp, device: String?) async throws -> CustomerContext {
        // Only the event's own device can be judged known or new: without one there is nothing to look up.
        let established = now.adding(seconds: -configuration.establishedDeviceSeconds)
        let devices = device == nil ? []
            : try await deviceSightings(of: user.id, at: now).filter { $0.firstSeenAt < established }.map(\.device)
        return CustomerContext(accountCreatedAt: user.createdAt, passwordChangedAt: user.passwordChangedAt,
                               secondFactorChangedAt: user.totpEnabledAt, knownDevices: Set(devices), knownCountries: [user.country])
    }

    /// Devices read per customer: the oldest this many (the established ones come first).
    static let devicesReadMax = 64
    /// How long a customer's device list is used from memory at most.
    static let deviceListSecondsMax: Int64 = 300

    /// A customer's devices, from this process's memory for a while. Exact, not a guess: devices
    /// are only ever added, and one added after the list was read (by any process) is not
    /// established before `establishedDeviceSeconds` have passed since, so while the list is
    /// younger than that it judges every device as a fresh read would. Saves a read per movement.
    private func deviceSightings(of user: UserID, at now: Timestamp) async throws -> [DeviceSighting] {
        let validity = min(Self.deviceListSecondsMax, configuration.establishedDeviceSeconds)
        if validity > 0, let hit = devices.withLock({ $0[user] }), hit.readAt <= now, now < hit.readAt.adding(seconds: validity) {
            return hit.sightings
        }
        let sightings = try await store.deviceSightings(of: user, limit: Self.devicesReadMax)
        if validity > 0 {
            devices.withLock { cache in
                if cache.count >= configuration.stateCacheMax { cache.removeAll(keepingCapacity: true) }
                cache[user] = DeviceList(readAt: now, sightings: sightings)
            }
        }
        return sightings
    }

    /// Loads the features `event` needs and evaluates the live (and shadow) rules on them.
    public func assess(_ event: RiskEvent, user: UserRecord, payee: UserRecord? = nil) async throws -> Assessment {
        // The first decision of a process waits for the rules in force (the pool runs only once serving starts).
        if loaded.withLock({ $0.generation < 0 }) { try await reload() }
        let context = try await self.context(of: user, at: event.time, device: event.device)
        let payeeContext = payee.map { CustomerContext(accountCreatedAt: $0.createdAt) }
        var keys = [RiskStateKey.customer(event.customer)]
        let payeeKey = event.kind.isMoneyOut ? event.payee.map(RiskStateKey.payee) : nil
        let sourceKey = event.kind == .login ? event.sourceAddress.map(RiskStateKey.source) : nil
        if let payeeKey { keys.append(payeeKey) }
        if let sourceKey { keys.append(sourceKey) }
        let states = try await store.riskStates(keys)
        let inputs = RiskInputs(
            context: context, customer: customerFeatures(states[keys[0]]),
            payee: payeeKey.map { payeeFeatures(states[$0]) }, payeeContext: payeeContext,
            source: sourceKey.flatMap { key in states[key].map { sourceFeatures($0) } })
        return evaluate(event, inputs: inputs, versions: states.mapValues(\.version), context: context, payeeContext: payeeContext)
    }

    /// The same event and features, decided again with a fresh second factor proven.
    func reassess(_ assessment: Assessment, secondFactorVerified: Bool) -> Assessment {
        var event = assessment.event
        event.secondFactorVerified = secondFactorVerified
        return evaluate(event, inputs: assessment.inputs, versions: assessment.versions, context: assessment.context,
                        payeeContext: assessment.payeeContext)
    }

    private func evaluate(_ event: RiskEvent, inputs: RiskInputs, versions: [String: Int64], context: CustomerContext,
                          payeeContext: CustomerContext?) -> Assessment {
        let (lists, suppressions) = loaded.withLock { ($0.lists, $0.suppressions[event.customer] ?? []) }
        let (live, shadow) = rules.current
        let evaluation = RiskEngine.evaluate(event, inputs: inputs, lists: lists, suppressions: suppressions, ruleSet: live,
                                             shadow: shadow, configuration: configuration.features)
        observer?(event, evaluation)
        return Assessment(event: event, context: context, payeeContext: payeeContext, inputs: inputs, versions: versions,
                          evaluation: evaluation)
    }

    // MARK: Recording

    /// Money that arrives in a customer's wallet as part of the recorded event.
    public struct Incoming: Sendable {
        let receiver: UserID
        let amount: Money
        let sender: UserID
        public init(receiver: UserID, amount: Money, sender: UserID) {
            self.receiver = receiver
            self.amount = amount
            self.sender = sender
        }
    }

    /// Records a decided event: the features learn it (with the action enforced), the decision
    /// is stored with the shadow decision beside it, and the effects are written.
    ///
    /// `recorded: false` stores the decision only: something after the decision refused the
    /// event (insufficient funds, a limit), so it did not happen and teaches the features nothing.
    /// Money that moves does not come here: its decision and features ride in its own ledger
    /// transaction (`decisionRecord`, `stateUpdates`).
    public func record(_ assessment: Assessment, enforced: RiskAction, recorded: Bool = true, transactionID: TransferID? = nil,
                       incoming: Incoming? = nil, effects: SideEffects = .none) async throws {
        let (updates, applied) = recorded ? stateUpdates(assessment, enforced: enforced, incoming: incoming) : ([], AppliedStates())
        let decision = try decisionRecord(assessment, enforced: enforced, recorded: recorded, transactionID: transactionID)
        let written = try await recorder.record(RiskRecording(updates: updates, decision: decision, effects: effects))
        remember(applied, written)
    }

    /// What the features learn from a decided event: the customer's own features, the payee's when
    /// money goes out, the source address's for a sign-in, and the receiver's for money that arrives
    /// in another customer's wallet. `applied` collects the values the updates produce, for
    /// `remember(committed:)` once they are written.
    func stateUpdates(_ assessment: Assessment, enforced: RiskAction,
                      incoming: Incoming?) -> (updates: [RiskStateUpdate], applied: AppliedStates) {
        let event = assessment.event
        var updates: [RiskStateUpdate] = []
        let applied = AppliedStates()
        let features = configuration.features
        let inputs = assessment.inputs
        let customerKey = RiskStateKey.customer(event.customer)
        updates.append(update(customerKey, known: (assessment.versions[customerKey] ?? 0, .customer(inputs.customer)),
                              applied) { [self] record in
            var state = customerFeatures(record)
            state.record(event, action: enforced, configuration: features)
            return .customer(state)
        } change: { state in
            guard case .customer(var value) = state else { return state }
            value.record(event, action: enforced, configuration: features)
            return .customer(value)
        })
        if event.kind.isMoneyOut, enforced.isAccepted, let amount = event.amount, let payee = event.payee {
            let newSender = !inputs.customer.payees.contains(payee)
            let key = RiskStateKey.payee(payee)
            updates.append(update(key, known: inputs.payee.map { (assessment.versions[key] ?? 0, .payee($0)) }, applied) { [self] record in
                var state = payeeFeatures(record)
                state.recordPayment(amount, newSender: newSender, at: event.time)
                return .payee(state)
            } change: { state in
                guard case .payee(var value) = state else { return state }
                value.recordPayment(amount, newSender: newSender, at: event.time)
                return .payee(value)
            })
        }
        if event.kind == .login, let address = event.sourceAddress {
            let key = RiskStateKey.source(address)
            let known: (Int64, State) = (assessment.versions[key] ?? 0, .source(inputs.source ?? SourceFeatures(configuration: features)))
            updates.append(update(key, known: known, applied) { [self] record in
                var state = sourceFeatures(record)
                state.record(event)
                return .source(state)
            } change: { state in
                guard case .source(var value) = state else { return state }
                value.record(event)
                return .source(value)
            })
        }
        if let incoming { updates.append(incomingUpdate(incoming, at: event.time, applied)) }
        return (updates, applied)
    }

    /// Money to a customer posted later than its decision (a held transfer an operator approved).
    func recordIncoming(_ incoming: Incoming, effects: SideEffects = .none) async throws {
        let applied = AppliedStates()
        let written = try await recorder.record(RiskRecording(updates: [incomingUpdate(incoming, at: clock.now(), applied)],
                                                              effects: effects))
        remember(applied, written)
    }

    private func incomingUpdate(_ incoming: Incoming, at time: Timestamp, _ applied: AppliedStates) -> RiskStateUpdate {
        let key = RiskStateKey.customer(incoming.receiver)
        let sender = "user:" + incoming.sender.rawValue
        // The receiver was not read for this decision: its last known state (if this process has one) is the guess.
        let known = cache.withLock { $0[key] }.map { ($0.version, $0.state) }
        return update(key, known: known, applied) { [self] record in
            var state = customerFeatures(record)
            state.recordIncoming(incoming.amount, from: sender, at: time)
            return .customer(state)
        } change: { state in
            guard case .customer(var value) = state else { return state }
            value.recordIncoming(incoming.amount, from: sender, at: time)
            return .customer(value)
        }
    }

    /// An update computed now from the state the decision read (`known`: its row version and value),
    /// encoded outside the write lock; should the row have moved on meanwhile, `slow` recomputes it
    /// from the locked row inside the write. Either way the result is noted so it can be cached
    /// once the write commits.
    private func update(_ key: String, known: (Int64, State)?, _ applied: AppliedStates,
                        slow: @escaping @Sendable (RiskStateRecord?) -> State,
                        change: (State) -> State) -> RiskStateUpdate {
        var precomputed: (from: Int64, data: [UInt8])?
        if let (version, state) = known {
            let next = change(state)
            applied.note(key, version: version + 1, next)
            precomputed = (version, Self.encode(next))
        }
        return RiskStateUpdate(key: key, precomputed: precomputed) { record in
            let state = slow(record)
            applied.note(key, version: (record?.version ?? 0) + 1, state)
            return Self.encode(state)
        }
    }

    /// Caches what updates written in a committed ledger transaction produced. Each value was
    /// noted for the version it was written at (a precomputed value for the version it was made
    /// from plus one, a recomputed one for the locked row's plus one), so it is what the row holds
    /// at that version. Only for a transaction that committed with the movement accepted: values
    /// noted for a write that did not happen could name a version someone else writes later.
    func remember(committed applied: AppliedStates) {
        let values = applied.values
        cache.withLock { cache in
            if cache.count >= configuration.stateCacheMax { cache.removeAll(keepingCapacity: true) }
            for (key, value) in values where (cache[key]?.version ?? -1) < value.version { cache[key] = value }
        }
    }

    private func remember(_ applied: AppliedStates, _ written: [String: RiskStateRecord]) {
        let values = applied.values
        cache.withLock { cache in
            if cache.count >= configuration.stateCacheMax { cache.removeAll(keepingCapacity: true) }
            for (key, value) in values {
                // Only what committed: the version written must be the one the value was made for.
                guard let row = written[key], row.version >= value.version else { continue }
                if row.version == value.version, (cache[key]?.version ?? -1) < value.version { cache[key] = value }
            }
        }
    }

    /// The stored form of a decision: the event, the context it saw, the decision and shadow decision
    /// as JSON, and every rule that fired.
    func decisionRecord(_ assessment: Assessment, enforced: RiskAction, recorded: Bool,
                        transactionID: TransferID?) throws -> RiskDecisionRecord {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let decision = assessment.evaluation.decision
        let shadow = assessment.evaluation.shadow
        func text<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        var fired = decision.fired.map {
            RiskFiredRuleRecord(ruleID: $0.ruleID, contribution: $0.contribution, forcedDecision: $0.forcedDecision?.rawValue,
                                suppressed: $0.suppressed, shadow: false)
        }
        fired += (shadow?.fired ?? []).map {
            RiskFiredRuleRecord(ruleID: $0.ruleID, contribution: $0.contribution, forcedDecision: $0.forcedDecision?.rawValue,
                                suppressed: $0.suppressed, shadow: true)
        }
        return RiskDecisionRecord(
            id: assessment.event.id, userID: assessment.event.customer, eventKind: assessment.event.kind.rawValue,
            action: enforced.rawValue, rulesAction: decision.rulesAction.rawValue, score: decision.score,
            ruleSetVersion: decision.ruleSetVersion, shadowAction: shadow?.action.rawValue, shadowRuleSetVersion: shadow?.ruleSetVersion,
            transactionID: transactionID, recorded: recorded, createdAt: assessment.event.time, event: try text(assessment.event),
            context: try text(StoredContext(context: assessment.context, payeeContext: assessment.payeeContext)),
            decision: try text(decision), shadow: try shadow.map(text), fired: fired)
    }

    // MARK: States

    func customerFeatures(_ record: RiskStateRecord?) -> CustomerFeatures {
        if case .customer(let state)? = decoded(record, { .customer(try CustomerFeatures(binary: $0)) },
                                                { .customer(try JSONDecoder().decode(CustomerFeatures.self, from: $0)) }) {
            return state
        }
        return CustomerFeatures(configuration: configuration.features)
    }

    func payeeFeatures(_ record: RiskStateRecord?) -> PayeeFeatures {
        if case .payee(let state)? = decoded(record, { .payee(try PayeeFeatures(binary: $0)) },
                                             { .payee(try JSONDecoder().decode(PayeeFeatures.self, from: $0)) }) {
            return state
        }
        return PayeeFeatures()
    }

    func sourceFeatures(_ record: RiskStateRecord?) -> SourceFeatures {
        if case .source(let state)? = decoded(record, { .source(try SourceFeatures(binary: $0)) },
                                              { .source(try JSONDecoder().decode(SourceFeatures.self, from: $0)) }) {
            return state
        }
        return SourceFeatures(configuration: configuration.features)
    }

    /// The state of a row: from the cache when this version was decoded before, else read from its
    /// binary form (or JSON, as the first rows were written). State of another shape (an older
    /// schema) reads as none: features rebuild as traffic flows.
    private func decoded(_ record: RiskStateRecord?, _ binary: ([UInt8]) throws -> State,
                         _ json: (Data) throws -> State) -> State? {
        guard let record, let data = record.data else { return nil }
        if let hit = cache.withLock({ $0[record.key] }), hit.version == record.version { return hit.state }
        let state: State
        if let value = try? binary(data) {
            state = value
        } else if data.first == UInt8(ascii: "{"), let value = try? json(Data(data)) {
            state = value
        } else {
            logger.warning("risk state of another shape ignored", metadata: ["key": "\(record.key)"])
            return nil
        }
        cache.withLock { cache in
            if cache.count >= configuration.stateCacheMax { cache.removeAll(keepingCapacity: true) }
            if (cache[record.key]?.version ?? -1) < record.version { cache[record.key] = Cached(version: record.version, state: state) }
        }
        return state
    }

    static func encode(_ state: State) -> [UInt8] {
        switch state {
        case .customer(let value): value.binary()
        case .payee(let value): value.binary()
        case .source(let value): value.binary()
        }
    }
}

/// The context a decision was made on, as stored with it (for backtests).
struct StoredContext: Codable, Sendable {
    var context: CustomerContext
    var payeeContext: CustomerContext?
    enum CodingKeys: String, CodingKey { case context, payeeContext = "payee_context" }
}

/// The values an update's last run produced, per key, until the write commits.
final class AppliedStates: Sendable {
    private let storage = Mutex<[String: RiskMonitor.Cached]>([:])

    func note(_ key: String, version: Int64, _ state: RiskMonitor.State) {
        storage.withLock { $0[key] = RiskMonitor.Cached(version: version, state: state) }
    }

    var values: [String: RiskMonitor.Cached] { storage.withLock { $0 } }
}
