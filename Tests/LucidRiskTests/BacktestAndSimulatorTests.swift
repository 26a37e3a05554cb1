import Foundation
import LucidCore
@testable import LucidRisk
import Testing

/// A small seeded history (recorded with the default rules' actions), shared by the backtest tests.
let smallHistory: [RecordedEvent] = {
    var configuration = SimulationConfiguration(customers: 150, days: 7, seed: 11)
    configuration.warmupDays = 7
    return RiskSimulator(configuration: configuration, ruleSet: defaultRules).history()
}()

@Suite("Backtest")
struct BacktestTests {
    @Test("replaying history through the rules that made it changes nothing")
    func sameRulesSameDecisions() {
        let report = RiskBacktest.run(smallHistory, ruleSet: defaultRules)
        #expect(report.events == smallHistory.count && report.events > 1_000)
        #expect(report.changes.isEmpty, "\(report.changes) e.g. \(report.changedExamples)")
        #expect(report.actions == report.recordedActions)
        #expect(report.rules.count == defaultRules.rules.count)
        #expect(report.rules.contains { $0.hits > 0 })
    }

    @Test("a draft with a lower challenge threshold only tightens, and the numbers are stable run to run")
    func draft() throws {
        let draftText = defaultRules.source
            .replacingOccurrences(of: "  challenge: 40", with: "  challenge: 15")
            .replacingOccurrences(of: "version: \"", with: "version: \"draft-")
        let draft = try RuleSet.load(yaml: draftText)
        let first = RiskBacktest.run(smallHistory, ruleSet: draft)
        let second = RiskBacktest.run(smallHistory, ruleSet: draft)
        #expect(first == second)
        #expect(first.ruleSetVersion.hasPrefix("draft-"))
        #expect(!first.changes.isEmpty)
        for change in first.changes { #expect(change.to > change.from, "\(change)") }
        #expect(first.changes.reduce(0) { $0 + $1.count } <= first.events)
        #expect(first.changedExamples.count == min(BacktestReport.changedExamplesMax, first.changes.reduce(0) { $0 + $1.count }))
        let json = try JSONEncoder().encode(first)
        #expect(try JSONDecoder().decode(BacktestReport.self, from: json) == first)
    }

    @Test("the seeded history itself is the same every time")
    func historyIsSeeded() {
        var configuration = SimulationConfiguration(customers: 150, days: 7, seed: 11)
        configuration.warmupDays = 7
        let again = RiskSimulator(configuration: configuration, ruleSet: defaultRules).history()
        #expect(again == smallHistory)
    }
}

@Suite("Simulator")
struct SimulatorTests {
    @Test("the default run meets the targets on the default rules")
    func defaultRunMeetsTargets() {
        let report = RiskSimulator(ruleSet: defaultRules).run()
        let takeover = report.scenario(.accountTakeover)
        let mule = report.scenario(.muleFanIn)
        #expect((takeover?.count ?? 0) >= 50 && (mule?.count ?? 0) >= 20)
        #expect((takeover?.detectionRate ?? 0) >= 0.95, "\(String(describing: takeover))")
        #expect((mule?.detectionRate ?? 0) >= 0.95, "\(String(describing: mule))")
        #expect(report.legitimate.moneyOut > 40_000)
        #expect(report.legitimate.challengedRate <= 0.01, "\(report.legitimate)")
        #expect(report.legitimate.heldOrBlockedRate <= 0.002, "\(report.legitimate)")
        #expect(report.meetsTargets)
    }

    @Test("the same seed gives the same report; another seed gives other traffic")
    func seeded() throws {
        let small = SimulationConfiguration(customers: 100, days: 5, seed: 3)
        let a = RiskSimulator(configuration: small, ruleSet: defaultRules).run()
        let b = RiskSimulator(configuration: small, ruleSet: defaultRules).run()
        #expect(a == b)
        let json = try JSONEncoder().encode(a)
        #expect(try JSONDecoder().decode(SimulationReport.self, from: json) == a)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"meets_targets\"") && text.contains("\"detection_rate\"") && text.contains("\"challenged_rate\""))
        let c = RiskSimulator(configuration: SimulationConfiguration(customers: 100, days: 5, seed: 4), ruleSet: defaultRules).run()
        #expect(c.events != a.events)
    }

    @Test("labels never reach the engine: events carry only what production would send")
    func noLabels() {
        for item in smallHistory.prefix(5_000) {
            let e = item.event
            let visible = [e.id, e.device, e.sourceAddress, e.payee, e.rail].compactMap { $0 }.joined(separator: " ")
            // Attack ids are opaque keys; no string feature exposes them (only the payee's kind prefix).
            #expect(!FeatureCatalog.all.contains { $0.type == .string && $0.name == "event.payee" })
            #expect(!visible.isEmpty)
        }
        let strings = FeatureCatalog.all.filter { $0.type == .string }.map(\.name)
        #expect(Set(strings) == ["event.kind", "event.currency", "event.country", "event.payee_kind"])
    }

    @Test("a rule set with nothing in it stops nothing and challenges no one")
    func emptyRules() throws {
        let empty = try RuleSet.load(yaml: "version: empty\nthresholds: {challenge: 1, review: 2, block: 3}\nrules: []\n")
        let report = RiskSimulator(configuration: SimulationConfiguration(customers: 100, days: 5, seed: 2), ruleSet: empty).run()
        #expect(report.legitimate.challenged == 0 && report.legitimate.heldOrBlocked == 0)
        #expect(report.scenario(.accountTakeover)?.stopped == 0)
        #expect(!report.meetsTargets)
    }
}
