import ArgumentParser
import Foundation
import LucidCore
import LucidRisk

/// `lucid bench risk`: in-process latency of one risk evaluation (features + rules + explanation).
struct RiskBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "risk", abstract: "Measure risk evaluation latency on simulated traffic (figures, never pass/fail).")

    @Option(help: "Customers in the simulated history that is replayed.") var customers = 2_000
    @Option(help: "Days of simulated history.") var days = 14
    @Option(help: "Random seed.") var seed: UInt64 = 7
    @Flag(help: "Also evaluate a shadow rule set (a copy of the defaults) on every event.") var shadow = false
    @Flag(help: "Print JSON.") var json = false

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

    func run() throws {
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

extension Duration {
    var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }
}
