import LucidCore

/// Remembered state for many customers, payees and sources in memory: what the backtest and
/// the simulator replay through, and a reference for what the store persists per key.
public struct RiskState: Sendable {
    public var customers: [UserID: CustomerFeatures] = [:]
    public var payees: [String: PayeeFeatures] = [:]
    public var sources: [String: SourceFeatures] = [:]
    public var configuration: FeatureConfiguration

    public init(configuration: FeatureConfiguration = .default) { self.configuration = configuration }

    /// The customer a payee key names (`user:<id>`), whose own features learn of money received.
    public static func payeeCustomer(_ payee: String) -> UserID? {
        payee.hasPrefix("user:") ? UserID(String(payee.dropFirst(5))) : nil
    }

    /// Takes the state an event needs out of the maps (so that `put` can update it in place).
    public mutating func take(for event: RiskEvent, context: CustomerContext, payeeContext: CustomerContext? = nil) -> RiskInputs {
        RiskInputs(context: context,
                   customer: customers.removeValue(forKey: event.customer) ?? CustomerFeatures(configuration: configuration),
                   payee: event.payee.flatMap { event.kind.isMoneyOut ? (payees.removeValue(forKey: $0) ?? PayeeFeatures()) : nil },
                   payeeContext: payeeContext,
                   source: event.sourceAddress.flatMap { event.kind == .login ? sources.removeValue(forKey: $0) : nil })
    }

    /// Records the decided event into `inputs` and puts everything back; money allowed to a
    /// customer payee is also recorded as received by that customer.
    public mutating func put(_ inputs: RiskInputs, after event: RiskEvent, action: RiskAction) {
        var inputs = inputs
        inputs.record(event, action: action, configuration: configuration)
        customers[event.customer] = inputs.customer
        if let payee = event.payee, let state = inputs.payee { payees[payee] = state }
        if let address = event.sourceAddress, let state = inputs.source { sources[address] = state }
        // Held money (`review`) has not arrived: the store records it as received when it posts.
        if event.kind.isMoneyOut, action == .allow, let amount = event.amount, let payee = event.payee,
           let receiver = Self.payeeCustomer(payee) {
            customers[receiver, default: CustomerFeatures(configuration: configuration)]
                .recordIncoming(amount, from: "user:" + event.customer.rawValue, at: event.time)
        }
    }
}

/// One stored event with what was decided then, as the backtest reads history.
public struct RecordedEvent: Sendable, Hashable, Codable {
    public var event: RiskEvent
    /// The customer's context as it was at the event.
    public var context: CustomerContext
    public var payeeContext: CustomerContext?
    /// The action enforced at the time (`nil` when the event predates risk decisions: taken as `allow`).
    public var recordedAction: RiskAction?

    public init(event: RiskEvent, context: CustomerContext, payeeContext: CustomerContext? = nil, recordedAction: RiskAction?) {
        self.event = event
        self.context = context
        self.payeeContext = payeeContext
        self.recordedAction = recordedAction
    }

    enum CodingKeys: String, CodingKey { case event, context, payeeContext = "payee_context", recordedAction = "recorded_action" }
}

/// What a rule set would have done to past traffic.
public struct BacktestReport: Sendable, Hashable, Codable {
    public struct RuleHits: Sendable, Hashable, Codable {
        public var ruleID: String
        /// Events the rule fired on.
        public var hits: Int
        /// Of those, money-out events.
        public var moneyOutHits: Int
        enum CodingKeys: String, CodingKey { case ruleID = "rule_id", hits, moneyOutHits = "money_out_hits" }
    }

    public struct Change: Sendable, Hashable, Codable {
        public var from: RiskAction
        public var to: RiskAction
        public var count: Int
    }

    public var ruleSetVersion: String
    public var events: Int
    /// Every rule of the set in file order, with its hits (0 included: a rule that never fires is news too).
    public var rules: [RuleHits]
    /// How many events got each action under the replayed rules and as recorded.
    public var actions: [String: Int]
    public var recordedActions: [String: Int]
    /// Recorded → replayed transitions that differ, most frequent first.
    public var changes: [Change]
    /// The first changed events' ids (at most `changedExamplesMax`), for a closer look.
    public var changedExamples: [String]

    public static let changedExamplesMax = 20

    enum CodingKeys: String, CodingKey {
        case ruleSetVersion = "rule_set_version", events, rules, actions, recordedActions = "recorded_actions", changes,
             changedExamples = "changed_examples"
    }
}

/// Replays stored events through a rule set. Features are rebuilt from the start of the
/// history by recording each event with the action that was *recorded* (what really went
/// through), so the replay sees the same state the live engine saw, whatever the new rules say.
public enum RiskBacktest {
    public static func run(_ history: [RecordedEvent], ruleSet: RuleSet, lists: RiskLists = .empty,
                           suppressions: [RuleSuppression] = [], configuration: FeatureConfiguration = .default) -> BacktestReport {
        var state = RiskState(configuration: configuration)
        var hits: [String: (all: Int, out: Int)] = [:]
        var actions: [String: Int] = [:]
        var recorded: [String: Int] = [:]
        var changes: [String: BacktestReport.Change] = [:]
        var examples: [String] = []
        let ordered = history.enumerated().sorted {
            ($0.element.event.time, $0.offset) < ($1.element.event.time, $1.offset)
        }.map(\.element)
        for item in ordered {
            let event = item.event
            let inputs = state.take(for: event, context: item.context, payeeContext: item.payeeContext)
            let suppressionsForCustomer = suppressions.filter { $0.customer == event.customer }
            let decision = RiskEngine.evaluate(event, inputs: inputs, lists: lists, suppressions: suppressionsForCustomer,
                                               ruleSet: ruleSet, configuration: configuration).decision
            let was = item.recordedAction ?? .allow
            state.put(inputs, after: event, action: was)
            for rule in decision.fired {
                var entry = hits[rule.ruleID] ?? (0, 0)
                entry.all += 1
                if event.kind.isMoneyOut { entry.out += 1 }
                hits[rule.ruleID] = entry
            }
            actions[decision.action.rawValue, default: 0] += 1
            recorded[was.rawValue, default: 0] += 1
            if decision.action != was {
                let key = was.rawValue + ">" + decision.action.rawValue
                changes[key, default: .init(from: was, to: decision.action, count: 0)].count += 1
                if examples.count < BacktestReport.changedExamplesMax { examples.append(event.id) }
            }
        }
        return BacktestReport(
            ruleSetVersion: ruleSet.version, events: history.count,
            rules: ruleSet.rules.map { .init(ruleID: $0.id, hits: hits[$0.id]?.all ?? 0, moneyOutHits: hits[$0.id]?.out ?? 0) },
            actions: actions, recordedActions: recorded,
            changes: changes.values.sorted { ($1.count, $0.from, $0.to) < ($0.count, $1.from, $1.to) },
            changedExamples: examples)
    }
}
