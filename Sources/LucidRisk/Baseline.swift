import LucidCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The customer's own habits: a robust centre and spread of recent outgoing amounts and
/// how their activity spreads over the hours of the day, from a bounded sample of the
/// most recent outgoing movements.
///
/// Amounts are compared on a log scale (amounts are roughly log-normal: ¥20 → ¥200 is as
/// unusual as ¥200 → ¥2 000). Median and MAD are robust: one past outlier does not move
/// them, unlike a mean and standard deviation. They are recomputed when a sample is added
/// (O(n log n) for n ≤ `capacity`, once per outgoing movement) so a read is O(1).
public struct AmountBaseline: Sendable, Hashable, Codable {
    public static let defaultCapacity = 48
    /// The spread never counts as smaller than this (in natural-log units, ≈ ±25 %), so a
    /// customer who always sends exactly ¥100 is not "50 sigmas" off for sending ¥130.
    public static let spreadFloor = 0.25
    /// MAD × 1.4826 estimates the standard deviation of a normal distribution.
    static let madToSigma = 1.4826

    public let capacity: Int
    /// Ring of natural logs of major-unit amounts, oldest overwritten first.
    private var logAmounts: [Double]
    private var hours: [UInt8]
    private var next: Int
    /// Outgoing movements per UTC hour of day within the sample.
    public private(set) var hourCounts: [Int]
    public private(set) var medianLog: Double
    public private(set) var madLog: Double

    public init(capacity: Int = AmountBaseline.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
        logAmounts = []
        hours = []
        next = 0
        hourCounts = Array(repeating: 0, count: 24)
        medianLog = 0
        madLog = 0
    }

    public var sampleCount: Int { logAmounts.count }

    /// The median amount in major units (0 without samples).
    public var medianAmount: Double { sampleCount == 0 ? 0 : exp(medianLog) }

    /// Adds one outgoing movement of `majorUnits` at UTC hour `hour`.
    public mutating func add(majorUnits: Double, hour: Int) {
        precondition((0..<24).contains(hour))
        let value = log(max(majorUnits, 0.01))
        if logAmounts.count < capacity {
            logAmounts.append(value)
            hours.append(UInt8(hour))
        } else {
            hourCounts[Int(hours[next])] -= 1
            logAmounts[next] = value
            hours[next] = UInt8(hour)
        }
        next = (next + 1) % capacity
        hourCounts[hour] += 1
        var sorted = logAmounts
        sorted.sort()
        medianLog = Self.median(sorted)
        for i in sorted.indices { sorted[i] = abs(sorted[i] - medianLog) }
        sorted.sort()
        madLog = Self.median(sorted)
    }

    private static func median(_ sorted: [Double]) -> Double {
        let n = sorted.count
        if n == 0 { return 0 }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// Robust z-score of an amount against the sample: how many (robust) standard deviations
    /// its log lies above the median; 0 without samples.
    public func robustZ(majorUnits: Double) -> Double {
        guard sampleCount > 0 else { return 0 }
        let spread = max(madLog * Self.madToSigma, Self.spreadFloor)
        return (log(max(majorUnits, 0.01)) - medianLog) / spread
    }

    /// Share of the sample in `hour` and its two neighbours (activity at 23:00 supports 00:00).
    public func hourShare(_ hour: Int) -> Double {
        guard sampleCount > 0 else { return 0 }
        let around = hourCounts[(hour + 23) % 24] + hourCounts[hour] + hourCounts[(hour + 1) % 24]
        return Double(around) / Double(sampleCount)
    }

    private enum CodingKeys: String, CodingKey {
        case capacity, logAmounts = "log_amounts", hours, next, hourCounts = "hour_counts", medianLog = "median_log", madLog = "mad_log"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        capacity = try c.decode(Int.self, forKey: .capacity)
        logAmounts = try c.decode([Double].self, forKey: .logAmounts)
        hours = try c.decode([UInt8].self, forKey: .hours)
        next = try c.decode(Int.self, forKey: .next)
        hourCounts = try c.decode([Int].self, forKey: .hourCounts)
        medianLog = try c.decode(Double.self, forKey: .medianLog)
        madLog = try c.decode(Double.self, forKey: .madLog)
        guard (1...1_000).contains(capacity), logAmounts.count <= capacity, hours.count == logAmounts.count,
              (0..<capacity).contains(next), hourCounts.count == 24, hours.allSatisfy({ $0 < 24 }) else {
            throw DecodingError.dataCorruptedError(forKey: .capacity, in: c, debugDescription: "baseline sample is inconsistent")
        }
    }
}

extension AmountBaseline {
    /// Binary form (`BinaryState.swift`): the sample in ring order, with the statistics kept as they were.
    func write(to writer: inout BinaryWriter) {
        writer.unsigned(UInt64(capacity))
        writer.unsigned(UInt64(logAmounts.count))
        for value in logAmounts { writer.double(value) }
        for hour in hours { writer.unsigned(UInt64(hour)) }
        writer.unsigned(UInt64(next))
        for count in hourCounts { writer.int(count) }
        writer.double(medianLog)
        writer.double(madLog)
    }

    init(reading reader: inout BinaryReader) throws(BinaryStateError) {
        let capacity = try reader.count(max: 1_000)
        guard capacity > 0 else { throw BinaryStateError(reason: "a baseline holds at least one sample") }
        self.init(capacity: capacity)
        let count = try reader.count(max: capacity)
        logAmounts = []
        logAmounts.reserveCapacity(count)
        for _ in 0..<count { logAmounts.append(try reader.double()) }
        hours = []
        for _ in 0..<count {
            let hour = try reader.count(max: 23)
            hours.append(UInt8(hour))
        }
        let next = try reader.count(max: capacity - 1)
        self.next = next
        var counts: [Int] = []
        for _ in 0..<24 { counts.append(Int(try reader.int())) }
        guard counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == count else {
            throw BinaryStateError(reason: "baseline hour counts do not match its sample")
        }
        hourCounts = counts
        medianLog = try reader.double()
        madLog = try reader.double()
    }
}
