import LucidCore

private let minute: Int64 = 60_000

/// A simulated customer as a driver needs to know it (to open the account it plays).
public struct SimulatedCustomer: Sendable, Hashable {
    /// Position in the world; events name customers by it.
    public let index: Int
    /// The simulator's own id (`sim-c12`, `sim-mule3`); payee keys `user:<id>` use it.
    public let id: UserID
    public let createdAt: Timestamp
    /// Registration country.
    public let home: String
    public let devices: [String]
    public let sources: [String]
    /// Money in the wallet when the simulation starts (minor units, CNY).
    public let initialBalance: Int64
    /// An ordinary customer (not an account opened by an attacker).
    public let legitimate: Bool
}

/// One decision the world asks a driver for.
public struct SimulationRequest: Sendable {
    /// The event as the engine would see it (payees and customers named with simulator ids).
    public let event: RiskEvent
    public let customer: Int
    /// The paid customer's index when the payee is a simulated customer.
    public let payeeCustomer: Int?
    /// A legitimate customer answers a challenge (the retry carries a second factor); an attacker does not.
    public let answersChallenge: Bool
    /// The source address of a login (money events carry none).
    public let sourceAddress: String?
    /// What the engine in memory decides on (the services keep their own).
    public let context: CustomerContext
    public let payeeContext: CustomerContext?
    /// A top-up a legitimate customer makes first because the payment needs more than the balance.
    public let isFunding: Bool
}

/// What a driver did with a request.
public struct SimulationOutcome: Sendable {
    /// The first decision made on the event (nil when something else refused it first, e.g. a frozen account).
    public var first: RiskDecision?
    /// The last decision (after a retry with a second factor, if any).
    public var last: RiskDecision?
    /// What happened in the end: `allow` (went through), `review` (held), or a refusal.
    public var enforced: RiskAction
    /// Whether the money really moved (nil: as `enforced` says).
    public var moneyMoved: Bool?

    public init(first: RiskDecision?, last: RiskDecision?, enforced: RiskAction, moneyMoved: Bool? = nil) {
        self.first = first
        self.last = last
        self.enforced = enforced
        self.moneyMoved = moneyMoved
    }
}

/// What a driver must do next.
public enum SimulationStep: Sendable {
    /// Decide (and carry out) an event; answer with `SimulationPlayer.resolve`.
    case decide(SimulationRequest)
    /// A customer's password (`password: true`) or second factor changed; nothing to answer.
    case credentialChange(customer: Int, password: Bool, at: Timestamp)
}

/// Plays the generated traffic one step at a time through any driver — the engine in memory
/// (`RiskSimulator.run`) or the real services on a database (`lucid simulate --through-services`) —
/// and keeps the scenario bookkeeping and the report the same for both.
public struct SimulationPlayer: Sendable {
    var world: World
    let ruleSetVersion: String
    private var contexts: [CustomerContext]
    private var balances: [Int64]
    private var customerIndex: [String: Int] = [:]
    private var legitimate = SimulationReport.Legitimate(moneyOut: 0, challenged: 0, heldOrBlocked: 0, logins: 0, loginsChallenged: 0,
                                                         loginsRefused: 0)
    private var hitsLegitimate: [String: Int] = [:]
    private var hitsAttack: [String: Int] = [:]
    private var eventNumber = 0
    private var position = 0
    private var pending: Pending?

    private enum Pending: Sendable {
        case login(Step)
        /// The funding top-up before a legitimate payment, then the payment itself.
        case funding(Step, amount: Int64, topup: Int64, eventID: String)
        case money(Step, amount: Int64)
    }

    init(world: World, ruleSetVersion: String) {
        self.world = world
        self.ruleSetVersion = ruleSetVersion
        contexts = world.profiles.map {
            CustomerContext(accountCreatedAt: Timestamp(millisecondsSinceEpoch: $0.created), knownDevices: Set($0.devices),
                            knownCountries: [$0.home])
        }
        balances = world.profiles.map(\.initialBalance)
        for (index, profile) in world.profiles.enumerated() { customerIndex["user:" + profile.id.rawValue] = index }
    }

    /// Every customer of the world, legitimate ones first.
    public var customers: [SimulatedCustomer] {
        world.profiles.enumerated().map { index, profile in
            SimulatedCustomer(index: index, id: profile.id, createdAt: Timestamp(millisecondsSinceEpoch: profile.created),
                              home: profile.home, devices: profile.devices, sources: profile.sources,
                              initialBalance: profile.initialBalance, legitimate: index < world.legitimateCount)
        }
    }

    /// The balance the world expects a customer to have now (drivers may check theirs against it).
    public func balance(of customer: Int) -> Int64 { balances[customer] }

    /// Steps the driver through the whole traffic (for drivers that decide synchronously).
    public mutating func play<Driver: SimulationDriver>(with driver: inout Driver) {
        while let step = next() {
            switch step {
            case .decide(let request): resolve(driver.decide(request))
            case .credentialChange: break
            }
        }
    }

    /// The next thing to do, or nil when the traffic is over. A `.decide` must be answered with
    /// `resolve` before `next` is called again.
    public mutating func next() -> SimulationStep? {
        precondition(pending == nil || isFundingDone, "answer the last decision first")
        if case .funding(let step, let amount, _, let eventID)? = pending {
            // The legitimate customer's top-up went in; now the payment itself.
            pending = nil
            return moneyEvent(step, amount: amount, eventID: eventID)
        }
        while position < world.steps.count {
            let step = world.steps[position]
            if let label = step.scenario, world.scenarios[label].over {
                position += 1
                continue
            }
            let customer = step.customer
            let profile = world.profiles[customer]
            eventNumber += 1
            let eventID = "sim-e\(eventNumber)"
            let time = Timestamp(millisecondsSinceEpoch: step.time)
            switch step.action {
            case .passwordChange:
                contexts[customer].passwordChangedAt = time
                position += 1
                return .credentialChange(customer: customer, password: true, at: time)
            case .secondFactorChange:
                contexts[customer].secondFactorChangedAt = time
                position += 1
                return .credentialChange(customer: customer, password: false, at: time)
            case .login(let succeeded, let device, let source, let country):
                let event = RiskEvent.login(id: eventID, customer: profile.id, time: time, succeeded: succeeded, device: device,
                                            sourceAddress: source, country: country)
                pending = .login(step)
                return .decide(SimulationRequest(event: event, customer: customer, payeeCustomer: nil,
                                                 answersChallenge: step.scenario == nil, sourceAddress: source,
                                                 context: contexts[customer], payeeContext: nil, isFunding: false))
            case .money(let kind, let spec, _, _, let device, let country):
                var amount: Int64
                switch spec {
                case .minor(let value): amount = value
                case .balance(let share): amount = Int64(Double(balances[customer]) * share)
                case .everything(let share): amount = Int64(Double(balances[customer]) * share)
                }
                if kind.isMoneyOut, amount > balances[customer] {
                    if step.scenario != nil {
                        amount = balances[customer]
                    } else {
                        // A real customer tops up from their own card first.
                        let topupAmount = amount - balances[customer] + Int64(profile.medianMinor * 5)
                        let topup = RiskEvent.money(id: eventID + "-topup", customer: profile.id, kind: .topup,
                                                    time: Timestamp(millisecondsSinceEpoch: step.time - 3 * minute),
                                                    amount: Money(topupAmount, .cny), rail: "bank:own-\(customer)", device: device,
                                                    country: country, balanceBefore: Money(balances[customer], .cny))
                        pending = .funding(step, amount: amount, topup: topupAmount, eventID: eventID)
                        fundingResolved = false
                        return .decide(SimulationRequest(event: topup, customer: customer, payeeCustomer: nil, answersChallenge: false,
                                                         sourceAddress: nil, context: contexts[customer], payeeContext: nil,
                                                         isFunding: true))
                    }
                }
                if kind.isMoneyOut, amount <= 0 {
                    if let label = step.scenario, step.cashOut, world.scenarios[label].kind == .muleFanIn,
                       world.scenarios[label].cashOutMoved == 0 {
                        world.scenarios[label].over = true // nothing reached the mule: the ring got nothing out
                    }
                    position += 1
                    continue
                }
                return moneyEvent(step, amount: amount, eventID: eventID)
            }
        }
        return nil
    }

    private var fundingResolved = true
    private var isFundingDone: Bool {
        if case .funding? = pending { return fundingResolved }
        return false
    }

    private mutating func moneyEvent(_ step: Step, amount: Int64, eventID: String) -> SimulationStep {
        guard case .money(let kind, _, let payee, let rail, let device, let country) = step.action else {
            preconditionFailure("a money step")
        }
        let customer = step.customer
        let event = RiskEvent.money(id: eventID, customer: world.profiles[customer].id, kind: kind,
                                    time: Timestamp(millisecondsSinceEpoch: step.time), amount: Money(amount, .cny), payee: payee,
                                    rail: rail, device: device, sourceAddress: nil, country: country,
                                    balanceBefore: Money(balances[customer], .cny))
        let payeeIndex = payee.flatMap { customerIndex[$0] }
        pending = .money(step, amount: amount)
        return .decide(SimulationRequest(event: event, customer: customer, payeeCustomer: payeeIndex,
                                         answersChallenge: step.scenario == nil, sourceAddress: nil, context: contexts[customer],
                                         payeeContext: payeeIndex.map { contexts[$0] }, isFunding: false))
    }

    /// The outcome of the last `.decide`.
    public mutating func resolve(_ outcome: SimulationOutcome) {
        guard let current = pending else { preconditionFailure("nothing to resolve") }
        switch current {
        case .login(let step):
            pending = nil
            position += 1
            let measured = step.time >= world.measuredStart
            count(outcome.first, step: step, measured: measured, moneyOut: false)
            if case .login(let succeeded, _, _, _) = step.action, measured, step.scenario == nil, succeeded {
                legitimate.logins += 1
                if let last = outcome.last, last.action == .challenge || last.challengeSatisfied { legitimate.loginsChallenged += 1 }
                if outcome.enforced > .challenge { legitimate.loginsRefused += 1 }
            }
            if let label = step.scenario, outcome.enforced.stops { world.stop(label, at: step.time) }
        case .funding(let step, _, let topup, _):
            guard !fundingResolved else { preconditionFailure("the funding top-up was answered already") }
            fundingResolved = true
            if outcome.moneyMoved ?? outcome.enforced.isAccepted { balances[step.customer] += topup }
        case .money(let step, let amount):
            pending = nil
            position += 1
            guard case .money(let kind, _, let payee, _, _, _) = step.action else { preconditionFailure("a money step") }
            let measured = step.time >= world.measuredStart
            count(outcome.first, step: step, measured: measured, moneyOut: kind.isMoneyOut)
            if measured, step.scenario == nil, kind.isMoneyOut {
                legitimate.moneyOut += 1
                let firstAction = outcome.first?.action ?? .allow
                if firstAction == .challenge { legitimate.challenged += 1 }
                if firstAction > .challenge { legitimate.heldOrBlocked += 1 }
            }
            if let label = step.scenario, step.cashOut { world.scenarios[label].cashOutAttempted += amount }
            // Customers' accepted money moves (a held payment is approved later); an attacker's only
            // when allowed outright: held money is out of their reach.
            let moves = outcome.moneyMoved ?? (step.scenario == nil ? outcome.enforced.isAccepted : outcome.enforced == .allow)
            let customer = step.customer
            if moves, kind.isMoneyOut {
                balances[customer] -= amount
                if let payee, let receiver = customerIndex[payee] { balances[receiver] += amount }
                if let label = step.scenario, step.cashOut { world.scenarios[label].cashOutMoved += amount }
            } else if moves {
                balances[customer] += amount
            }
            if let label = step.scenario, outcome.enforced.stops { world.stop(label, at: step.time) }
        }
    }

    private mutating func count(_ decision: RiskDecision?, step: Step, measured: Bool, moneyOut: Bool) {
        guard measured, let decision else { return }
        for rule in decision.fired where !rule.suppressed {
            if step.scenario != nil { hitsAttack[rule.ruleID, default: 0] += 1 } else if moneyOut { hitsLegitimate[rule.ruleID, default: 0] += 1 }
        }
    }

    public func report() -> SimulationReport {
        world.report(ruleSetVersion: ruleSetVersion, events: eventNumber, legitimate: legitimate, hitsLegitimate: hitsLegitimate,
                     hitsAttack: hitsAttack)
    }
}

/// Decides what the world asks, synchronously.
public protocol SimulationDriver {
    mutating func decide(_ request: SimulationRequest) -> SimulationOutcome
}

/// The engine in memory: `RiskState.take` → `RiskEngine.evaluate` → `RiskState.put`, with the
/// retry of an answered challenge; optionally handing every recorded event to `record`.
public struct EngineDriver: SimulationDriver {
    var state: RiskState
    let ruleSet: RuleSet
    let features: FeatureConfiguration
    let record: ((RecordedEvent) -> Void)?

    public init(ruleSet: RuleSet, features: FeatureConfiguration = .default, record: ((RecordedEvent) -> Void)? = nil) {
        self.state = RiskState(configuration: features)
        self.ruleSet = ruleSet
        self.features = features
        self.record = record
    }

    public mutating func decide(_ request: SimulationRequest) -> SimulationOutcome {
        let event = request.event
        let inputs = state.take(for: event, context: request.context, payeeContext: request.payeeContext)
        let decision = RiskEngine.evaluate(event, inputs: inputs, ruleSet: ruleSet, configuration: features).decision
        guard request.answersChallenge, decision.action == .challenge else {
            state.put(inputs, after: event, action: decision.action)
            record?(RecordedEvent(event: event, context: request.context, payeeContext: request.payeeContext, recordedAction: decision.action))
            return SimulationOutcome(first: decision, last: decision, enforced: decision.action)
        }
        // The real customer has their second factor: the retry goes through.
        state.put(inputs, after: event, action: .challenge)
        record?(RecordedEvent(event: event, context: request.context, payeeContext: request.payeeContext, recordedAction: .challenge))
        var retry = event
        retry.id = event.id + "-2fa"
        retry.secondFactorVerified = true
        let retryInputs = state.take(for: retry, context: request.context, payeeContext: request.payeeContext)
        let second = RiskEngine.evaluate(retry, inputs: retryInputs, ruleSet: ruleSet, configuration: features).decision
        state.put(retryInputs, after: retry, action: second.action)
        record?(RecordedEvent(event: retry, context: request.context, payeeContext: request.payeeContext, recordedAction: second.action))
        return SimulationOutcome(first: decision, last: second, enforced: second.action)
    }
}
