import ArgumentParser
import Foundation
import LucidCore
import LucidRisk
import LucidServices
import LucidStore

/// `lucid bench risk`: in-process latency of one risk evaluation (features + rules + explanation).
struct RiskBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "risk", abstract: "Measure risk evaluation latency on simulated traffic (figures, never pass/fail).")

    @Option(help: "Customers in the simulated history that is replayed.") var customers = 2_000
    @Option(help: "Days of simulated history.") var days = 14
    @Option(help: "Random seed.") var seed: UInt64 = 7
    @Flag(help: "Also evaluate a shadow rule set (a copy of the defaults) on every event.") var shadow = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Through the store: each event's features read from and its decision written to a fresh SQLite file (what a request pays).")
    var store = false

    struct Figures: Codable {
        var evaluations: Int
        var p50Microseconds: Double
        var p90Microseconds: Double
        var p99Microseconds: Double
        var maxMicroseconds: Double
        var recordP99Microseconds: Double
        var evaluationsPerSecond: Double
        var shadow: Bool
        enum CodingKeys: String, CodingKey {
            case evaluations, p50Microseconds = "p50_us", p90Microseconds = "p90_us", p99Microseconds = "p99_us",
                 maxMicroseconds = "max_us", recordP99Microseconds = "record_p99_us", evaluationsPerSecond = "evaluations_per_second", shadow
        }
    }

    func run() async throws {
        if store { return try await runThroughStore() }
        let ruleSet = RuleSet.bundledDefault()
        let shadowSet = shadow ? RuleSet.bundledDefault() : nil
        log("Generating \(days) days of traffic for \(customers) customers…")
        var configuration = SimulationConfiguration(customers: customers, days: days, seed: seed)
        configuration.warmupDays = 7
        let history = RiskSimulator(configuration: configuration, ruleSet: ruleSet).history()
        log("Replaying \(history.count) events through the engine…")
        var state = RiskState()
        var evaluate: [Double] = []
        var record: [Double] = []
        evaluate.reserveCapacity(history.count)
        record.reserveCapacity(history.count)
        let clock = ContinuousClock()
        let started = clock.now
        for item in history {
            let inputs = state.take(for: item.event, context: item.context, payeeContext: item.payeeContext)
            let t0 = clock.now
            let evaluation = RiskEngine.evaluate(item.event, inputs: inputs, ruleSet: ruleSet, shadow: shadowSet)
            let t1 = clock.now
            state.put(inputs, after: item.event, action: evaluation.decision.action)
            let t2 = clock.now
            evaluate.append((t1 - t0).microseconds)
            record.append((t2 - t1).microseconds)
        }
        let elapsed = (clock.now - started).microseconds / 1e6
        evaluate.sort()
        record.sort()
        let figures = Figures(evaluations: evaluate.count, p50Microseconds: percentile(evaluate, 0.5),
                              p90Microseconds: percentile(evaluate, 0.9), p99Microseconds: percentile(evaluate, 0.99),
                              maxMicroseconds: evaluate.last ?? 0, recordP99Microseconds: percentile(record, 0.99),
                              evaluationsPerSecond: Double(evaluate.count) / max(elapsed, 1e-9), shadow: shadow)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
        } else {
            print(String(format: "risk evaluation%@: p50 %.1f µs, p90 %.1f µs, p99 %.1f µs, max %.1f µs (%d evaluations; record p99 %.1f µs; %.0f events/s replayed)",
                         shadow ? " with shadow" : "", figures.p50Microseconds, figures.p90Microseconds, figures.p99Microseconds,
                         figures.maxMicroseconds, figures.evaluations, figures.recordP99Microseconds, figures.evaluationsPerSecond))
        }
    }
}

extension RiskBench {
    /// One event at a time (no concurrent requests to share a commit: the worst case for the write):
    /// `RiskMonitor.assess` (features read from the database, decoded unless cached, all rules)
    /// and `RiskMonitor.record` (features updated on the locked rows, decision written, one durable commit).
    func runThroughStore() async throws {
        log("Generating \(days) days of traffic for \(customers) customers…")
        var configuration = SimulationConfiguration(customers: customers, days: days, seed: seed)
        configuration.warmupDays = 7
        let history = RiskSimulator(configuration: configuration, ruleSet: RuleSet.bundledDefault()).history()
        let path = NSTemporaryDirectory() + "lucid-bench-risk-\(ProcessInfo.processInfo.processIdentifier).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let clock = ManualClock()
        let ids = CountingIDGenerator()
        let store = try SQLiteStore(path: path, ids: ids, clock: clock)
        let writer = Task { try await store.run() }
        defer { writer.cancel() }
        var users: [UserID: UserRecord] = [:]
        for item in history where users[item.event.customer] == nil {
            let user = UserRecord(id: item.event.customer, email: "\(item.event.customer.rawValue)@bench.example", phone: nil,
                                  passwordHash: "$bench", displayName: "Bench", country: "CN", tier: .full,
                                  createdAt: item.context.accountCreatedAt)
            try await store.createUser(user)
            users[user.id] = user
        }
        var riskConfiguration = RiskConfiguration()
        riskConfiguration.establishedDeviceSeconds = 0
        let monitor = RiskMonitor(store: store, configuration: riskConfiguration, clock: clock, ids: ids)
        try await monitor.reload()
        // A shadow set straight into this process's holder (nothing else reloads it here).
        if shadow { try monitor.rules.reloadShadow(yaml: RuleSet.bundledDefaultText()) }
        log("Replaying \(history.count) events through the store at \(path)…")
        var assess: [Double] = []
        var record: [Double] = []
        let timer = ContinuousClock()
        let started = timer.now
        for item in history {
            clock.set(item.event.time)
            var user = users[item.event.customer]!
            user.passwordChangedAt = item.context.passwordChangedAt
            user.totpEnabledAt = item.context.secondFactorChangedAt
            let t0 = timer.now
            let assessment = try await monitor.assess(item.event, user: user)
            let t1 = timer.now
            let action = item.recordedAction ?? assessment.decision.action
            var incoming: RiskMonitor.Incoming?
            if item.event.kind.isMoneyOut, action == .allow, let payee = item.event.payee, let receiver = RiskState.payeeCustomer(payee),
               users[receiver] != nil, let amount = item.event.amount {
                incoming = RiskMonitor.Incoming(receiver: receiver, amount: amount, sender: item.event.customer)
            }
            try await monitor.record(assessment, enforced: action, incoming: incoming)
            let t2 = timer.now
            assess.append((t1 - t0).microseconds)
            record.append((t2 - t1).microseconds)
        }
        let elapsed = (timer.now - started).microseconds / 1e6
        assess.sort()
        record.sort()
        let total = zip(assess, record).map { $0 + $1 }.sorted()
        let figures = StoreFigures(events: assess.count, assessP50Microseconds: percentile(assess, 0.5),
                                   assessP99Microseconds: percentile(assess, 0.99), recordP50Microseconds: percentile(record, 0.5),
                                   recordP99Microseconds: percentile(record, 0.99), eventsPerSecond: Double(assess.count) / max(elapsed, 1e-9),
                                   shadow: shadow)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
        } else {
            print(String(format: "risk through the store%@: assess p50 %.0f µs, p99 %.0f µs; record p50 %.0f µs, p99 %.0f µs (%d events, %.0f events/s, one at a time; sums p99 %.0f µs)",
                         shadow ? " with shadow" : "", figures.assessP50Microseconds, figures.assessP99Microseconds,
                         figures.recordP50Microseconds, figures.recordP99Microseconds, figures.events, figures.eventsPerSecond,
                         percentile(total, 0.99)))
        }
    }

    struct StoreFigures: Codable {
        var events: Int
        var assessP50Microseconds: Double
        var assessP99Microseconds: Double
        var recordP50Microseconds: Double
        var recordP99Microseconds: Double
        var eventsPerSecond: Double
        var shadow: Bool
        enum CodingKeys: String, CodingKey {
            case events, assessP50Microseconds = "assess_p50_us", assessP99Microseconds = "assess_p99_us",
                 recordP50Microseconds = "record_p50_us", recordP99Microseconds = "record_p99_us", eventsPerSecond = "events_per_second", shadow
        }
    }
}

extension Duration {
    var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }
}
