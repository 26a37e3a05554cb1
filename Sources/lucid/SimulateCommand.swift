import ArgumentParser
import Foundation
import LucidCore
import LucidRisk

/// `lucid simulate`: seeded wallet traffic with labelled attacks, through the risk engine
/// in memory or (`--through-services`) through the real services on a temporary database.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate customers and attacks through the risk engine; print detection and false-positive rates.")

    @Option(help: "Legitimate customers.") var customers = 1_000
    @Option(help: "Measured days (after a 21-day warm-up).") var days = 30
    @Option(help: "Random seed: the same seed gives the same run.") var seed: UInt64 = 1
    @Option(help: "Rules file (YAML) to use instead of the bundled defaults.") var rules: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Drive the real IdentityService and WalletService on a temporary database instead of the engine in memory (slower: every event is written).")
    var throughServices = false

    func validate() throws {
        guard (10...SimulationConfiguration.customersMax).contains(customers) else {
            throw ValidationError("--customers must be between 10 and \(SimulationConfiguration.customersMax)")
        }
        guard (1...SimulationConfiguration.daysMax).contains(days) else {
            throw ValidationError("--days must be between 1 and \(SimulationConfiguration.daysMax)")
        }
    }

    func run() async throws {
        var yaml: String?
        let ruleSet: RuleSet
        if let rules {
            do {
                let text = try String(contentsOfFile: rules, encoding: .utf8)
                ruleSet = try RuleSet.load(yaml: text)
                yaml = text
            } catch let error as RuleSetError {
                throw ValidationError("--rules \(rules):\n\(error)")
            }
        } else {
            ruleSet = RuleSet.bundledDefault()
        }
        let started = ContinuousClock.now
        let simulator = RiskSimulator(configuration: SimulationConfiguration(customers: customers, days: days, seed: seed), ruleSet: ruleSet)
        let report = throughServices ? try await Self.throughServices(simulator, rules: yaml) : simulator.run()
        let elapsed = ContinuousClock.now - started
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.render(report))
            FileHandle.standardError.write(Data("(\(report.events) events in \(elapsed)\(throughServices ? ", through the services" : ""))\n".utf8))
        }
        if !report.meetsTargets { throw ExitCode(2) }
    }

    /// Plays the traffic through the real services (see `ServicesDriver`).
    static func throughServices(_ simulator: RiskSimulator, rules: String?) async throws -> SimulationReport {
        var player = simulator.player()
        let driver = try await ServicesDriver(rules: rules)
        defer { driver.stop() }
        FileHandle.standardError.write(Data("Opening \(player.customers.count) accounts on a temporary database…\n".utf8))
        try await driver.open(player.customers)
        var steps = 0
        while let step = player.next() {
            switch step {
            case .decide(let request): player.resolve(await driver.decide(request))
            case .credentialChange(let customer, _, let time): await driver.changeCredentials(customer, at: time)
            }
            steps += 1
            if steps % 20_000 == 0 { FileHandle.standardError.write(Data("  \(steps) events…\n".utf8)) }
        }
        return player.report()
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }

    static func render(_ report: SimulationReport) -> String {
        var lines: [String] = []
        let c = report.configuration
        lines.append("Rules \(report.ruleSetVersion); \(c.customers) customers, \(c.days) days (+\(c.warmupDays) warm-up), seed \(c.seed); \(report.events) events")
        lines.append("")
        lines.append("scenario            count  stopped  rate      money kept  minutes to detection (median / p90)")
        for s in report.scenarios {
            let minutes = s.minutesToDetectionMedian.map { String(format: "%.0f / %.0f", $0, s.minutesToDetectionP90 ?? $0) } ?? "—"
            lines.append(String(format: "%@ %5d  %7d  %@  %@  %@", s.kind.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0),
                                s.count, s.stopped, percent(s.detectionRate).padding(toLength: 8, withPad: " ", startingAt: 0),
                                percent(s.moneyKeptRate).padding(toLength: 10, withPad: " ", startingAt: 0), minutes))
        }
        let l = report.legitimate
        lines.append("")
        lines.append("legitimate money out: \(l.moneyOut); challenged \(l.challenged) (\(percent(l.challengedRate))); held or blocked \(l.heldOrBlocked) (\(percent(l.heldOrBlockedRate)))")
        lines.append("legitimate logins: \(l.logins); challenged \(l.loginsChallenged); refused \(l.loginsRefused)")
        lines.append("")
        lines.append("rule hits (legitimate money out / attack events):")
        let names = Set(report.ruleHitsLegitimate.keys).union(report.ruleHitsAttack.keys).sorted()
        for name in names {
            lines.append("  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(report.ruleHitsLegitimate[name] ?? 0) / \(report.ruleHitsAttack[name] ?? 0)")
        }
        lines.append("")
        lines.append("targets (≥ 95 % of takeovers and mule rings stopped, ≤ 1 % challenged, ≤ 0.2 % held or blocked): \(report.meetsTargets ? "met" : "NOT met")")
        return lines.joined(separator: "\n")
    }
}
