import LucidCore

/// How much traffic to simulate and which attacks to mix in.
public struct SimulationConfiguration: Sendable, Hashable, Codable {
    public var customers = 1_000
    /// Measured days (after the warm-up).
    public var days = 30
    public var seed: UInt64 = 1
    /// Days of legitimate traffic before the measured period, so features and baselines have history.
    public var warmupDays = 21
    /// Attack scenarios in the measured period; `nil` scales with the number of customers.
    public var accountTakeovers: Int?
    public var muleRings: Int?
    public var probing: Int?
    public var draining: Int?

    public init(customers: Int = 1_000, days: Int = 30, seed: UInt64 = 1) {
        self.customers = customers
        self.days = days
        self.seed = seed
    }

    var takeoverCount: Int { accountTakeovers ?? max(10, customers / 20) }
    var muleCount: Int { muleRings ?? max(5, customers / 50) }
    var probingCount: Int { probing ?? max(5, customers / 50) }
    var drainingCount: Int { draining ?? max(5, customers / 50) }

    /// Largest run accepted (bounded memory and time).
    public static let customersMax = 200_000
    public static let daysMax = 365

    enum CodingKeys: String, CodingKey {
        case customers, days, seed, warmupDays = "warmup_days", accountTakeovers = "account_takeovers", muleRings = "mule_rings",
             probing, draining
    }
}

/// The attack patterns the simulator mixes in.
public enum ScenarioKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Stolen credentials: sign-in from the attacker's device, often a password change, then the wallet is emptied.
    case accountTakeover = "account_takeover"
    /// Scam victims pay one mule account, which passes the money straight on.
    case muleFanIn = "mule_fan_in"
    /// Many tiny payments to test a stolen account, then a cash-out.
    case probing
    /// Someone with the customer's own phone drains the wallet slowly to a new payee.
    case insiderDraining = "insider_draining"
}

/// What a simulation found.
public struct SimulationReport: Sendable, Hashable, Codable {
    public struct Legitimate: Sendable, Hashable, Codable {
        /// Legitimate money-out events (transfers, payments, withdrawals) in the measured period.
        public var moneyOut: Int
        public var challenged: Int
        /// Held for review, blocked or frozen.
        public var heldOrBlocked: Int
        public var logins: Int
        public var loginsChallenged: Int
        public var loginsRefused: Int
        public var challengedRate: Double { moneyOut == 0 ? 0 : Double(challenged) / Double(moneyOut) }
        public var heldOrBlockedRate: Double { moneyOut == 0 ? 0 : Double(heldOrBlocked) / Double(moneyOut) }

        enum CodingKeys: String, CodingKey {
            case moneyOut = "money_out", challenged, heldOrBlocked = "held_or_blocked", logins,
                 loginsChallenged = "logins_challenged", loginsRefused = "logins_refused"
        }
        private enum RateKeys: String, CodingKey { case challengedRate = "challenged_rate", heldOrBlockedRate = "held_or_blocked_rate" }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(moneyOut, forKey: .moneyOut)
            try c.encode(challenged, forKey: .challenged)
            try c.encode(heldOrBlocked, forKey: .heldOrBlocked)
            try c.encode(logins, forKey: .logins)
            try c.encode(loginsChallenged, forKey: .loginsChallenged)
            try c.encode(loginsRefused, forKey: .loginsRefused)
            var rates = encoder.container(keyedBy: RateKeys.self)
            try rates.encode(challengedRate, forKey: .challengedRate)
            try rates.encode(heldOrBlockedRate, forKey: .heldOrBlockedRate)
        }
    }

    public struct Scenario: Sendable, Hashable, Codable {
        public var kind: ScenarioKind
        public var count: Int
        /// Stopped (challenged, held or blocked) before any of the attacker's money left.
        public var stopped: Int
        public var detectionRate: Double { count == 0 ? 1 : Double(stopped) / Double(count) }
        /// Share of the money the attackers tried to take out that did not leave.
        public var moneyKeptRate: Double
        /// Minutes from the scenario's first event to its first stop, over stopped scenarios.
        public var minutesToDetectionMedian: Double?
        public var minutesToDetectionP90: Double?

        enum CodingKeys: String, CodingKey {
            case kind, count, stopped, moneyKeptRate = "money_kept_rate", minutesToDetectionMedian = "minutes_to_detection_median",
                 minutesToDetectionP90 = "minutes_to_detection_p90"
        }
        private enum RateKeys: String, CodingKey { case detectionRate = "detection_rate" }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(count, forKey: .count)
            try c.encode(stopped, forKey: .stopped)
            try c.encode(moneyKeptRate, forKey: .moneyKeptRate)
            try c.encodeIfPresent(minutesToDetectionMedian, forKey: .minutesToDetectionMedian)
            try c.encodeIfPresent(minutesToDetectionP90, forKey: .minutesToDetectionP90)
            var rates = encoder.container(keyedBy: RateKeys.self)
            try rates.encode(detectionRate, forKey: .detectionRate)
        }
    }

    public var configuration: SimulationConfiguration
    public var ruleSetVersion: String
    /// Events evaluated, warm-up included.
    public var events: Int
    public var legitimate: Legitimate
    public var scenarios: [Scenario]
    /// Rule → times it fired on legitimate money-out events / on attack events (measured period).
    public var ruleHitsLegitimate: [String: Int]
    public var ruleHitsAttack: [String: Int]

    /// The targets: ≥ 95 % of takeovers and mule rings stopped, ≤ 1 % of legitimate
    /// money-out challenged, ≤ 0.2 % held or blocked.
    public var meetsTargets: Bool {
        let stoppedEnough = scenarios.filter { $0.kind == .accountTakeover || $0.kind == .muleFanIn }.allSatisfy { $0.detectionRate >= 0.95 }
        return stoppedEnough && legitimate.challengedRate <= 0.01 && legitimate.heldOrBlockedRate <= 0.002
    }

    public func scenario(_ kind: ScenarioKind) -> Scenario? { scenarios.first { $0.kind == kind } }

    enum CodingKeys: String, CodingKey {
        case configuration, ruleSetVersion = "rule_set_version", events, legitimate, scenarios,
             ruleHitsLegitimate = "rule_hits_legitimate", ruleHitsAttack = "rule_hits_attack"
    }
    private enum TargetKeys: String, CodingKey { case meetsTargets = "meets_targets" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(configuration, forKey: .configuration)
        try c.encode(ruleSetVersion, forKey: .ruleSetVersion)
        try c.encode(events, forKey: .events)
        try c.encode(legitimate, forKey: .legitimate)
        try c.encode(scenarios, forKey: .scenarios)
        try c.encode(ruleHitsLegitimate, forKey: .ruleHitsLegitimate)
        try c.encode(ruleHitsAttack, forKey: .ruleHitsAttack)
        var targets = encoder.container(keyedBy: TargetKeys.self)
        try targets.encode(meetsTargets, forKey: .meetsTargets)
    }
}

/// Seeded generation of realistic wallet traffic with labelled attacks, driven through the engine.
///
/// Legitimate customers have their own habits (activity rate, hours, amounts, friends and
/// merchants, salary top-ups) and ordinary surprises (trips abroad, a new phone with a
/// password reset, a big purchase, a month of silence, organising a group payment, a new card).
/// Labels live only in the simulator's bookkeeping: the engine sees events and features
/// exactly as it would in production.
public struct RiskSimulator: Sendable {
    public let configuration: SimulationConfiguration
    public let ruleSet: RuleSet
    public let features: FeatureConfiguration

    public init(configuration: SimulationConfiguration = SimulationConfiguration(), ruleSet: RuleSet,
                features: FeatureConfiguration = .default) {
        precondition(configuration.customers >= 10 && configuration.customers <= SimulationConfiguration.customersMax)
        precondition(configuration.days >= 1 && configuration.days <= SimulationConfiguration.daysMax)
        self.configuration = configuration
        self.ruleSet = ruleSet
        self.features = features
    }

    /// Generates the traffic and runs it through the engine.
    public func run() -> SimulationReport {
        var player = self.player()
        var driver = EngineDriver(ruleSet: ruleSet, features: features)
        player.play(with: &driver)
        return player.report()
    }

    /// The generated history as recorded events (with the actions the given rules took), for backtests.
    public func history() -> [RecordedEvent] {
        var player = self.player()
        var recorded: [RecordedEvent] = []
        var driver = EngineDriver(ruleSet: ruleSet, features: features) { recorded.append($0) }
        player.play(with: &driver)
        return recorded
    }

    /// The generated traffic as a step player, for a driver other than the engine in memory
    /// (`lucid simulate --through-services` drives the real services on a temporary database).
    public func player() -> SimulationPlayer {
        var world = World(configuration: configuration)
        world.generate()
        return SimulationPlayer(world: world, ruleSetVersion: ruleSet.version)
    }
}

// MARK: - The simulated world

private let minute: Int64 = 60_000
private let hour: Int64 = 3_600_000
private let day: Int64 = 86_400_000

struct Profile {
    var id: UserID
    var created: Int64
    var home: String
    var devices: [String]
    var sources: [String]
    var rate: Double
    var medianMinor: Double
    var peakHour: Double
    var friends: [Int]
    var merchants: [String]
    var initialBalance: Int64
    var dormantUntil: Int64 = 0
}

enum AmountSpec {
    case minor(Int64)
    /// A fraction of the balance at the time.
    case balance(Double)
    /// A fraction of the balance, for a mule passing on what it received (it starts empty).
    case everything(Double)
}

enum StepAction {
    case login(succeeded: Bool, device: String, source: String, country: String)
    case money(kind: RiskEvent.Kind, amount: AmountSpec, payee: String?, rail: String?, device: String, country: String)
    case passwordChange
    case secondFactorChange
}

struct Step {
    var time: Int64
    var order: Int
    var customer: Int
    var action: StepAction
    /// Scenario index, when the step belongs to an attack.
    var scenario: Int?
    /// Moves the attacker's money out (what "stopped before the money leaves" is judged on).
    var cashOut = false
}

struct ScenarioState {
    var kind: ScenarioKind
    var start: Int64
    var over = false
    var stoppedAt: Int64?
    var cashOutMoved: Int64 = 0
    var cashOutAttempted: Int64 = 0
    /// Mule rings: victim payments stop individually; the ring is judged on its cash-out.
    var endsOnFirstStop: Bool { kind != .muleFanIn }
}

struct World {
    let configuration: SimulationConfiguration
    var random: SeededRandom
    var profiles: [Profile] = []
    var steps: [Step] = []
    var scenarios: [ScenarioState] = []
    var order = 0
    let start: Int64 = 1_790_000_000_000 - 1_790_000_000_000 % day
    var measuredStart: Int64 { start + Int64(configuration.warmupDays) * day }
    var end: Int64 { measuredStart + Int64(configuration.days) * day }
    let foreign = ["JP", "TH", "US", "SG", "FR", "GB", "KR", "AU"]
    let legitimateCount: Int

    init(configuration: SimulationConfiguration) {
        self.configuration = configuration
        random = SeededRandom(seed: configuration.seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678)
        legitimateCount = configuration.customers
    }

    mutating func add(_ time: Int64, _ customer: Int, _ action: StepAction, scenario: Int? = nil, cashOut: Bool = false) {
        order += 1
        steps.append(Step(time: time, order: order, customer: customer, action: action, scenario: scenario, cashOut: cashOut))
    }

    // MARK: Generation

    mutating func generate() {
        for index in 0..<configuration.customers { profiles.append(makeProfile(index)) }
        for index in 0..<configuration.customers { generateLegitimate(index) }
        generateCollections()
        for _ in 0..<configuration.takeoverCount { generateTakeover() }
        for _ in 0..<configuration.muleCount { generateMuleRing() }
        for _ in 0..<configuration.probingCount { generateProbing() }
        for _ in 0..<configuration.drainingCount { generateDraining() }
        steps.sort { ($0.time, $0.order) < ($1.time, $1.order) }
    }

    mutating func makeProfile(_ index: Int) -> Profile {
        let young = random.chance(0.05)
        let ageDays = young ? random.uniform(Double(configuration.warmupDays) + 3, Double(configuration.warmupDays) + 40)
                            : random.uniform(120, 2_500)
        let home = random.chance(0.88) ? "CN" : ["HK", "SG", "US", "JP"][random.int(0...3)]
        let deviceCount = random.chance(0.3) ? 2 : 1
        let median = random.logNormal(median: 9_000, sigma: 0.8).rounded()
        var profile = Profile(
            id: UserID("sim-c\(index)"), created: measuredStart - Int64(ageDays * Double(day)), home: home,
            devices: (0..<deviceCount).map { "dev-\(index)-\($0)" }, sources: (0..<random.int(1...3)).map { "ip-\(index)-\($0)" },
            rate: min(6, random.logNormal(median: 1.1, sigma: 0.7)), medianMinor: max(500, median),
            peakHour: random.uniform(1, 14), // UTC: 09:00–22:00 in China
            friends: [], merchants: (0..<random.int(3...10)).map { _ in "merchant:m\(random.int(0...399))" },
            initialBalance: Int64(max(500, median) * random.uniform(15, 60)))
        if random.chance(0.02) {
            profile.dormantUntil = measuredStart + Int64(random.uniform(2, Double(configuration.days) - 2) * Double(day))
            profile.created = min(profile.created, measuredStart - 400 * day)
        }
        return profile
    }

    mutating func friends(of index: Int) -> [Int] {
        if profiles[index].friends.isEmpty {
            profiles[index].friends = (0..<random.int(2...8)).map { _ in
                var other = random.int(0...(configuration.customers - 1))
                if other == index { other = (other + 1) % configuration.customers }
                return other
            }
        }
        return profiles[index].friends
    }

    func hourOfDay(_ profile: Profile, _ random: inout SeededRandom) -> Int64 {
        var hourValue = profile.peakHour + random.normal() * 3
        hourValue = hourValue.truncatingRemainder(dividingBy: 24)
        if hourValue < 0 { hourValue += 24 }
        return Int64(hourValue * Double(hour))
    }

    mutating func legitimateAmount(_ profile: Profile, payment: Bool) -> Int64 {
        var amount = random.logNormal(median: profile.medianMinor * (payment ? 0.6 : 1), sigma: payment ? 0.85 : 0.7)
        if random.chance(0.012) { amount *= random.uniform(5, 25) } // the occasional big purchase
        return max(50, Int64(amount.rounded()))
    }

    mutating func generateLegitimate(_ index: Int) {
        let profile = profiles[index]
        let totalDays = configuration.warmupDays + configuration.days
        // Ordinary surprises, each decided once per customer.
        let newPhoneDay = random.chance(0.04) ? random.int(configuration.warmupDays...(totalDays - 1)) : Int.max
        let passwordReset = random.chance(0.35)
        var tripStart = Int.max, tripEnd = Int.max
        var tripCountry = ""
        if random.chance(0.06) {
            tripStart = random.int(configuration.warmupDays...(totalDays - 2))
            tripEnd = tripStart + random.int(3...10)
            tripCountry = foreign[random.int(0...(foreign.count - 1))]
            if tripCountry == profile.home { tripCountry = "FR" }
        }
        let newCardDay = random.chance(0.01) ? random.int(configuration.warmupDays...(totalDays - 1)) : Int.max
        let passwordChangeDay = random.chance(0.02) ? random.int(0...(totalDays - 1)) : Int.max
        var device = profile.devices[0]
        var salaryDay = random.int(0...9)
        for dayIndex in 0..<totalDays {
            let dayStart = start + Int64(dayIndex) * day
            if dayStart + day <= profile.created || dayStart + day <= profile.dormantUntil { continue }
            if dayIndex == salaryDay {
                let time = dayStart + hourOfDay(profile, &random)
                add(time, index, .money(kind: .topup, amount: .minor(Int64(profile.medianMinor * random.uniform(12, 30))),
                                        payee: nil, rail: "bank:own-\(index)", device: device, country: profile.home))
                salaryDay += random.int(10...16)
            }
            if dayIndex == passwordChangeDay {
                add(dayStart + hourOfDay(profile, &random), index, .passwordChange)
            }
            let abroad = dayIndex >= tripStart && dayIndex < tripEnd
            let country = abroad ? tripCountry : profile.home
            var sessions = random.poisson(profile.rate)
            if dayIndex == newPhoneDay {
                device = "dev-\(index)-new"
                sessions = max(sessions, 1)
            }
            if dayIndex == newCardDay { sessions = max(sessions, 1) }
            for session in 0..<sessions {
                var time = dayStart + hourOfDay(profile, &random) + Int64(random.int(0...59)) * minute
                if time < profile.dormantUntil { continue }
                if dayIndex == newPhoneDay && session == 0 && passwordReset {
                    add(time - 5 * minute, index, .passwordChange)
                }
                let deviceNow = profile.devices.count > 1 && random.chance(0.3) && device != "dev-\(index)-new" ? profile.devices[1] : device
                let source = abroad ? "ip-\(index)-trip" : profile.sources[random.int(0...(profile.sources.count - 1))]
                if random.chance(0.03) {
                    add(time - 40_000, index, .login(succeeded: false, device: deviceNow, source: source, country: country))
                }
                add(time, index, .login(succeeded: true, device: deviceNow, source: source, country: country))
                time += Int64(random.int(1...6)) * minute
                if dayIndex == newCardDay && session == 0 {
                    let amount = Int64(profile.medianMinor * random.uniform(2, 8))
                    add(time, index, .money(kind: .topup, amount: .minor(amount), payee: nil, rail: "rail:card-\(index)",
                                            device: deviceNow, country: country))
                    time += Int64(random.int(2...40)) * minute
                    let merchant = profile.merchants[random.int(0...(profile.merchants.count - 1))]
                    add(time, index, .money(kind: .payment, amount: .minor(Int64(Double(amount) * random.uniform(0.2, 0.9))),
                                            payee: merchant, rail: nil, device: deviceNow, country: country))
                    continue
                }
                let moneyEvents = random.chance(0.25) ? 2 : 1
                for _ in 0..<moneyEvents {
                    addLegitimateMoney(index, time: time, device: deviceNow, country: country, abroad: abroad)
                    time += Int64(random.int(1...20)) * minute
                }
            }
        }
    }

    mutating func addLegitimateMoney(_ index: Int, time: Int64, device: String, country: String, abroad: Bool) {
        let profile = profiles[index]
        let roll = random.unit()
        if roll < 0.03 {
            add(time, index, .money(kind: .withdrawal, amount: .balance(random.uniform(0.2, 0.6)), payee: "bank:own-\(index)",
                                    rail: nil, device: device, country: country))
            return
        }
        let payment = roll < 0.58
        let payee: String
        if payment {
            if abroad && random.chance(0.6) {
                payee = "merchant:\(country.lowercased())-\(random.int(0...999))"
            } else if random.chance(0.1) {
                payee = "merchant:m\(random.int(0...399))"
            } else {
                payee = profile.merchants[random.int(0...(profile.merchants.count - 1))]
            }
        } else {
            let circle = friends(of: index)
            if random.chance(0.08) {
                payee = "user:sim-c\(random.int(0...(configuration.customers - 1)))"
            } else {
                payee = "user:\(profiles[circle[random.int(0...(circle.count - 1))]].id.rawValue)"
            }
        }
        if payee == "user:\(profile.id.rawValue)" { return }
        add(time, index, .money(kind: payment ? .payment : .transfer, amount: .minor(legitimateAmount(profile, payment: payment)),
                                payee: payee, rail: nil, device: device, country: country))
    }

    /// Legitimate fan-in: someone collects money from friends and colleagues for a group
    /// purchase, then pays the merchant — the honest twin of a mule.
    mutating func generateCollections() {
        let collectors = max(1, configuration.customers * 3 / 100)
        for _ in 0..<collectors {
            let collector = random.int(0...(configuration.customers - 1))
            let profile = profiles[collector]
            if profile.dormantUntil > measuredStart { continue }
            let base = measuredStart + Int64(random.uniform(0, Double(configuration.days) - 1) * Double(day)) + hourOfDay(profile, &random)
            let payers = random.int(3...9)
            var total: Int64 = 0
            var time = base
            for _ in 0..<payers {
                let payer = random.int(0...(configuration.customers - 1))
                if payer == collector || profiles[payer].dormantUntil > time { continue }
                let amount = Int64(random.uniform(3_000, 30_000))
                total += amount
                time += Int64(random.uniform(2, 90)) * minute
                add(time, payer, .money(kind: .transfer, amount: .minor(amount), payee: "user:\(profile.id.rawValue)", rail: nil,
                                        device: profiles[payer].devices[0], country: profiles[payer].home))
            }
            time += Int64(random.uniform(10, 240)) * minute
            let merchant = random.chance(0.5) ? profile.merchants[0] : "merchant:m\(random.int(0...399))"
            add(time, collector, .money(kind: .payment, amount: .minor(Int64(Double(total) * random.uniform(0.8, 1.0))),
                                        payee: merchant, rail: nil, device: profile.devices[0], country: profile.home))
        }
    }

    // MARK: Attacks

    mutating func newScenario(_ kind: ScenarioKind, at time: Int64) -> Int {
        scenarios.append(ScenarioState(kind: kind, start: time))
        return scenarios.count - 1
    }

    mutating func attackTime() -> Int64 {
        measuredStart + Int64(random.uniform(0.2, Double(configuration.days) - 0.5) * Double(day))
    }

    mutating func victim() -> Int {
        while true {
            let index = random.int(0...(legitimateCount - 1))
            if profiles[index].dormantUntil < measuredStart { return index }
        }
    }

    /// An attacker-controlled account, opened recently (or a rented older one).
    mutating func attackerAccount(_ label: String, at time: Int64) -> Int {
        let index = profiles.count
        let ageDays = random.chance(0.6) ? random.uniform(2, 30) : random.uniform(100, 900)
        profiles.append(Profile(id: UserID("sim-\(label)"), created: time - Int64(ageDays * Double(day)), home: "CN",
                                devices: ["dev-\(label)"], sources: ["ip-\(label)"], rate: 0, medianMinor: 5_000,
                                peakHour: 12, friends: [], merchants: [], initialBalance: 0))
        return index
    }

    mutating func generateTakeover() {
        let target = victim()
        var time = attackTime()
        let scenario = newScenario(.accountTakeover, at: time)
        let tag = "ato\(scenario)"
        let device = "dev-\(tag)"
        let source = "ip-\(tag)"
        let country = random.chance(0.55) ? foreign[random.int(0...(foreign.count - 1))] : profiles[target].home
        if random.chance(0.3) {
            for _ in 0..<random.int(1...4) {
                add(time, target, .login(succeeded: false, device: device, source: source, country: country), scenario: scenario)
                time += Int64(random.int(1...5)) * minute
            }
        }
        add(time, target, .login(succeeded: true, device: device, source: source, country: country), scenario: scenario)
        if random.chance(0.5) { add(time + Int64(random.int(1...10)) * minute, target, .passwordChange, scenario: scenario) }
        if random.chance(0.15) { add(time + Int64(random.int(2...15)) * minute, target, .secondFactorChange, scenario: scenario) }
        // Most attackers cash out at once; some wait a day or two so the device looks familiar.
        if random.chance(0.15) {
            time += Int64(random.uniform(24, 60) * Double(hour))
            add(time - 2 * minute, target, .login(succeeded: true, device: device, source: source, country: country), scenario: scenario)
        } else {
            time += Int64(random.uniform(2, 240) * Double(minute))
        }
        let chunks = random.chance(0.6) ? 1 : random.int(2...3)
        for chunk in 0..<chunks {
            let mule = "user:sim-mule-\(tag)-\(chunk)"
            let share = chunks == 1 ? random.uniform(0.7, 1.0) : random.uniform(0.3, 0.5)
            add(time, target, .money(kind: .transfer, amount: .balance(share), payee: mule, rail: nil, device: device, country: country),
                scenario: scenario, cashOut: true)
            time += Int64(random.uniform(1, 30) * Double(minute))
        }
    }

    mutating func generateMuleRing() {
        var time = attackTime()
        let scenario = newScenario(.muleFanIn, at: time)
        let mule = attackerAccount("mule\(scenario)", at: time)
        let payee = "user:\(profiles[mule].id.rawValue)"
        let victims = random.int(5...15)
        var chosen: Set<Int> = []
        for _ in 0..<victims {
            let v = victim()
            guard chosen.insert(v).inserted else { continue }
            let amount = Int64(profiles[v].medianMinor * random.uniform(2, 12))
            add(time, v, .money(kind: .transfer, amount: .minor(amount), payee: payee, rail: nil, device: profiles[v].devices[0],
                                country: profiles[v].home), scenario: scenario)
            time += Int64(random.uniform(5, 90) * Double(minute))
        }
        // The mule passes everything on: to a fresh bank account or another mule, in one or two goes.
        let chunks = random.chance(0.7) ? 1 : 2
        time += Int64(random.uniform(5, 120) * Double(minute))
        for chunk in 0..<chunks {
            let withdraw = random.chance(0.6)
            add(time, mule, .money(kind: withdraw ? .withdrawal : .transfer, amount: .everything(chunks == 1 ? random.uniform(0.85, 1) : 0.5),
                                   payee: withdraw ? "bank:mule\(scenario)-\(chunk)" : "user:sim-layer\(scenario)-\(chunk)",
                                   rail: nil, device: profiles[mule].devices[0], country: "CN"),
                scenario: scenario, cashOut: true)
            time += Int64(random.uniform(5, 60) * Double(minute))
        }
    }

    mutating func generateProbing() {
        var time = attackTime()
        let scenario = newScenario(.probing, at: time)
        let tag = "probe\(scenario)"
        let owner: Int
        let device: String
        if random.chance(0.5) {
            // A stolen session on the victim's account.
            owner = victim()
            device = "dev-\(tag)"
            add(time, owner, .login(succeeded: true, device: device, source: "ip-\(tag)", country: profiles[owner].home), scenario: scenario)
        } else {
            // The attacker's own account, funded from a stolen card.
            owner = attackerAccount(tag, at: time)
            device = profiles[owner].devices[0]
            add(time, owner, .money(kind: .topup, amount: .minor(Int64(random.uniform(50_000, 300_000))), payee: nil,
                                    rail: "rail:stolen-\(tag)", device: device, country: "CN"), scenario: scenario)
        }
        for probe in 0..<random.int(6...15) {
            time += Int64(random.uniform(0.5, 4) * Double(minute))
            add(time, owner, .money(kind: .payment, amount: .minor(Int64(random.uniform(50, 800))), payee: "merchant:\(tag)-\(probe)",
                                    rail: nil, device: device, country: profiles[owner].home), scenario: scenario)
        }
        time += Int64(random.uniform(1, 30) * Double(minute))
        add(time, owner, .money(kind: .transfer, amount: .balance(random.uniform(0.7, 1)), payee: "user:sim-cash-\(tag)", rail: nil,
                                device: device, country: profiles[owner].home), scenario: scenario, cashOut: true)
    }

    mutating func generateDraining() {
        let target = victim()
        var time = attackTime()
        let scenario = newScenario(.insiderDraining, at: time)
        let payee = "user:sim-insider\(scenario)"
        for _ in 0..<random.int(2...6) {
            add(time, target, .money(kind: .transfer, amount: .balance(random.uniform(0.15, 0.4)), payee: payee, rail: nil,
                                     device: profiles[target].devices[0], country: profiles[target].home),
                scenario: scenario, cashOut: true)
            time += Int64(random.uniform(3, 30) * Double(hour))
        }
    }

    mutating func stop(_ label: Int, at time: Int64) {
        if scenarios[label].stoppedAt == nil { scenarios[label].stoppedAt = time }
        if scenarios[label].endsOnFirstStop { scenarios[label].over = true }
    }

    func report(ruleSetVersion: String, events: Int, legitimate: SimulationReport.Legitimate, hitsLegitimate: [String: Int],
                hitsAttack: [String: Int]) -> SimulationReport {
        var summaries: [SimulationReport.Scenario] = []
        for kind in ScenarioKind.allCases {
            let all = scenarios.filter { $0.kind == kind }
            // Stopped before the money left: a stop happened and no cash-out money got through.
            let stopped = all.filter { $0.cashOutMoved == 0 && ($0.stoppedAt != nil || $0.over) }
            var minutes = stopped.compactMap { s in s.stoppedAt.map { Double($0 - s.start) / Double(minute) } }
            minutes.sort()
            let attempted = all.reduce(Int64(0)) { $0 + $1.cashOutAttempted }
            let moved = all.reduce(Int64(0)) { $0 + $1.cashOutMoved }
            summaries.append(.init(kind: kind, count: all.count, stopped: stopped.count,
                                   moneyKeptRate: attempted == 0 ? 1 : 1 - Double(moved) / Double(attempted),
                                   minutesToDetectionMedian: minutes.isEmpty ? nil : minutes[minutes.count / 2],
                                   minutesToDetectionP90: minutes.isEmpty ? nil : minutes[min(minutes.count - 1, minutes.count * 9 / 10)]))
        }
        return SimulationReport(configuration: configuration, ruleSetVersion: ruleSetVersion, events: events, legitimate: legitimate,
                                scenarios: summaries, ruleHitsLegitimate: hitsLegitimate, ruleHitsAttack: hitsAttack)
    }
}
