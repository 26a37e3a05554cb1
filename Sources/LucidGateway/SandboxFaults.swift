#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LucidCore

/// How long a sandbox rail takes to answer: normal around a mean, plus a slow tail.
public struct LatencyDistribution: Sendable, Hashable, Codable {
    public var meanMilliseconds: Double
    public var standardDeviationMilliseconds: Double
    /// Share of calls that land in the slow tail.
    public var tailRate: Double
    /// A tail call takes between this and twice this.
    public var tailMilliseconds: Double

    public init(meanMilliseconds: Double = 0, standardDeviationMilliseconds: Double = 0, tailRate: Double = 0,
                tailMilliseconds: Double = 0) {
        self.meanMilliseconds = meanMilliseconds
        self.standardDeviationMilliseconds = standardDeviationMilliseconds
        self.tailRate = tailRate
        self.tailMilliseconds = tailMilliseconds
    }

    /// Answers at once.
    public static let instant = LatencyDistribution()
    /// A plausible bank API: 80 ± 20 ms, 1 % of calls 1.5–3 s.
    public static let typical = LatencyDistribution(meanMilliseconds: 80, standardDeviationMilliseconds: 20, tailRate: 0.01,
                                                    tailMilliseconds: 1_500)

    /// One draw (never negative).
    public func sample(using random: inout SeededRandom) -> Duration {
        // Box–Muller; the draws happen whatever the parameters, so a run's sequence
        // does not change shape when only the latency is reconfigured.
        let u1 = max(random.unit(), 1e-12)
        let u2 = random.unit()
        let tail = random.chance(tailRate)
        let tailSpread = random.unit()
        let normal = (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
        var milliseconds = meanMilliseconds + standardDeviationMilliseconds * normal
        if tail { milliseconds = tailMilliseconds * (1 + tailSpread) }
        return .milliseconds(Int64(max(0, milliseconds).rounded()))
    }

    enum CodingKeys: String, CodingKey {
        case meanMilliseconds = "mean_ms", standardDeviationMilliseconds = "stddev_ms", tailRate = "tail_rate",
             tailMilliseconds = "tail_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        meanMilliseconds = try c.decodeIfPresent(Double.self, forKey: .meanMilliseconds) ?? 0
        standardDeviationMilliseconds = try c.decodeIfPresent(Double.self, forKey: .standardDeviationMilliseconds) ?? 0
        tailRate = try c.decodeIfPresent(Double.self, forKey: .tailRate) ?? 0
        tailMilliseconds = try c.decodeIfPresent(Double.self, forKey: .tailMilliseconds) ?? 0
    }
}

/// Ways a sandbox rail's settlement report disagrees with what it said live.
/// Each rate is the chance per line; they combine.
public struct ReportFaults: Sendable, Hashable, Codable {
    /// The amount is a little off (1–100 minor units).
    public var amountOffRate: Double
    /// The line is left out.
    public var missingLineRate: Double
    /// A line for a movement nobody asked for is added after it.
    public var extraLineRate: Double
    /// The final state is the other one (settled ↔ failed).
    public var stateFlipRate: Double
    /// The line appears twice.
    public var duplicateLineRate: Double

    public init(amountOffRate: Double = 0, missingLineRate: Double = 0, extraLineRate: Double = 0, stateFlipRate: Double = 0,
                duplicateLineRate: Double = 0) {
        self.amountOffRate = amountOffRate
        self.missingLineRate = missingLineRate
        self.extraLineRate = extraLineRate
        self.stateFlipRate = stateFlipRate
        self.duplicateLineRate = duplicateLineRate
    }

    public static let none = ReportFaults()

    enum CodingKeys: String, CodingKey {
        case amountOffRate = "amount_off_rate", missingLineRate = "missing_line_rate", extraLineRate = "extra_line_rate",
             stateFlipRate = "state_flip_rate", duplicateLineRate = "duplicate_line_rate"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        amountOffRate = try c.decodeIfPresent(Double.self, forKey: .amountOffRate) ?? 0
        missingLineRate = try c.decodeIfPresent(Double.self, forKey: .missingLineRate) ?? 0
        extraLineRate = try c.decodeIfPresent(Double.self, forKey: .extraLineRate) ?? 0
        stateFlipRate = try c.decodeIfPresent(Double.self, forKey: .stateFlipRate) ?? 0
        duplicateLineRate = try c.decodeIfPresent(Double.self, forKey: .duplicateLineRate) ?? 0
    }

    var rates: [Double] { [amountOffRate, missingLineRate, extraLineRate, stateFlipRate, duplicateLineRate] }
}

/// Every fault a sandbox rail can inject, each switchable on its own or combined.
/// All rates are chances in 0…1 per call (or per callback, per report line).
public struct RailFaults: Sendable, Hashable, Codable {
    public var latency: LatencyDistribution
    /// The call is booked but the answer never comes within the caller's timeout.
    public var timeoutRate: Double
    /// The movement fails, with a reason drawn from `failureReasons`.
    public var failureRate: Double
    public var failureReasons: [RailFailureReason]
    /// A callback is delivered twice (same event id).
    public var duplicateCallbackRate: Double
    /// A movement's `pending` callback is held back and delivered after its final one.
    public var outOfOrderCallbackRate: Double
    /// A callback is never delivered.
    public var lostCallbackRate: Double
    /// The rail refuses every call (`RailCallError.unavailable`) and settles nothing.
    public var outage: Bool
    public var report: ReportFaults

    public init(latency: LatencyDistribution = .instant, timeoutRate: Double = 0, failureRate: Double = 0,
                failureReasons: [RailFailureReason] = RailFailureReason.allCases, duplicateCallbackRate: Double = 0,
                outOfOrderCallbackRate: Double = 0, lostCallbackRate: Double = 0, outage: Bool = false,
                report: ReportFaults = .none) {
        self.latency = latency
        self.timeoutRate = timeoutRate
        self.failureRate = failureRate
        self.failureReasons = failureReasons
        self.duplicateCallbackRate = duplicateCallbackRate
        self.outOfOrderCallbackRate = outOfOrderCallbackRate
        self.lostCallbackRate = lostCallbackRate
        self.outage = outage
        self.report = report
    }

    /// A well-behaved rail that answers at once.
    public static let none = RailFaults()

    /// Checks ranges; the admin route answers 400 with the reason.
    public func validated() throws(LucidError) -> RailFaults {
        let rates = [timeoutRate, failureRate, duplicateCallbackRate, outOfOrderCallbackRate, lostCallbackRate,
                     latency.tailRate] + report.rates
        guard rates.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
            throw LucidError.invalidField("faults", "every rate must be between 0 and 1")
        }
        let latencies = [latency.meanMilliseconds, latency.standardDeviationMilliseconds, latency.tailMilliseconds]
        guard latencies.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 600_000 }) else {
            throw LucidError.invalidField("faults.latency", "milliseconds must be between 0 and 600000")
        }
        guard !failureReasons.isEmpty || failureRate == 0 else {
            throw LucidError.invalidField("faults.failure_reasons", "name at least one reason when failure_rate is above 0")
        }
        return self
    }

    enum CodingKeys: String, CodingKey {
        case latency, timeoutRate = "timeout_rate", failureRate = "failure_rate", failureReasons = "failure_reasons",
             duplicateCallbackRate = "duplicate_callback_rate", outOfOrderCallbackRate = "out_of_order_callback_rate",
             lostCallbackRate = "lost_callback_rate", outage, report
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latency = try c.decodeIfPresent(LatencyDistribution.self, forKey: .latency) ?? .instant
        timeoutRate = try c.decodeIfPresent(Double.self, forKey: .timeoutRate) ?? 0
        failureRate = try c.decodeIfPresent(Double.self, forKey: .failureRate) ?? 0
        failureReasons = try c.decodeIfPresent([RailFailureReason].self, forKey: .failureReasons) ?? RailFailureReason.allCases
        duplicateCallbackRate = try c.decodeIfPresent(Double.self, forKey: .duplicateCallbackRate) ?? 0
        outOfOrderCallbackRate = try c.decodeIfPresent(Double.self, forKey: .outOfOrderCallbackRate) ?? 0
        lostCallbackRate = try c.decodeIfPresent(Double.self, forKey: .lostCallbackRate) ?? 0
        outage = try c.decodeIfPresent(Bool.self, forKey: .outage) ?? false
        report = try c.decodeIfPresent(ReportFaults.self, forKey: .report) ?? .none
    }
}

/// One sandbox rail: its name, what it moves, how long settlement takes, and its faults.
public struct SandboxRailConfiguration: Sendable, Hashable {
    public var id: RailID
    public var currencies: Set<Currency>
    /// Time from acceptance to the final state.
    public var settlementDelaySeconds: Int64
    public var faults: RailFaults
    /// Directions the rail confirms in its answer to the submit (a card or instant-payment top-up):
    /// the receipt is already `settled` (or `failed`) and so is the one callback.
    public var confirmsAtOnce: Set<RailDirection>

    public init(id: RailID, currencies: Set<Currency> = [.cny], settlementDelaySeconds: Int64 = 5,
                faults: RailFaults = .none, confirmsAtOnce: Set<RailDirection> = []) {
        precondition(settlementDelaySeconds >= 0, "settlement delay must not be negative")
        self.id = id
        self.currencies = currencies
        self.settlementDelaySeconds = settlementDelaySeconds
        self.faults = faults
        self.confirmsAtOnce = confirmsAtOnce
    }

    public var descriptor: RailDescriptor { RailDescriptor(id: id, currencies: currencies) }
}

@inline(__always) private func _log(_ x: Double) -> Double { log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { cos(x) }
