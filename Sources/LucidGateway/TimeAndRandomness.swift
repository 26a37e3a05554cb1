import LucidCore
import Synchronization

/// One UTC calendar day, the unit of settlement reports (`2026-11-25`).
public struct SettlementDay: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// Days since 1970-01-01.
    public let daysSinceEpoch: Int64

    public init(daysSinceEpoch: Int64) { self.daysSinceEpoch = daysSinceEpoch }

    /// The day that contains `time`.
    public init(containing time: Timestamp) {
        daysSinceEpoch = time.startOfUTCDay.millisecondsSinceEpoch / 86_400_000
    }

    /// Parses `YYYY-MM-DD` (a real calendar date).
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == 0x2d, bytes[7] == 0x2d,
              let year = Digits.value(bytes[0..<4]), let month = Digits.value(bytes[5..<7]),
              let day = Digits.value(bytes[8..<10]),
              (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day) else { return nil }
        daysSinceEpoch = CivilDate.daysFromCivil(year: year, month: month, day: day)
    }

    public var start: Timestamp { Timestamp(millisecondsSinceEpoch: daysSinceEpoch * 86_400_000) }
    /// The first instant of the next day.
    public var end: Timestamp { Timestamp(millisecondsSinceEpoch: (daysSinceEpoch + 1) * 86_400_000) }

    public func contains(_ time: Timestamp) -> Bool { time >= start && time < end }

    public func adding(days: Int64) -> SettlementDay { SettlementDay(daysSinceEpoch: daysSinceEpoch + days) }

    public var description: String { start.utcDay }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let day = SettlementDay(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected YYYY-MM-DD"))
        }
        self = day
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Parsing of the timestamps rails send: RFC 3339 in UTC, `2026-11-25T08:30:00Z` or with milliseconds.
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`; anything else (other offsets, leap seconds) is `nil`.
    public static func parse(_ text: some StringProtocol) -> Timestamp? {
        parse(bytes: Array(text.utf8)[...])
    }

    static func parse<Bytes: RandomAccessCollection<UInt8>>(bytes: Bytes) -> Timestamp? where Bytes.Index == Int {
        let b = bytes
        let s = b.startIndex
        guard b.count == 20 || b.count == 24, b[s + 4] == 0x2d, b[s + 7] == 0x2d, b[s + 10] == 0x54 || b[s + 10] == 0x74,
              b[s + 13] == 0x3a, b[s + 16] == 0x3a, b[b.endIndex - 1] == 0x5a,
              let year = Digits.value(b[s..<s + 4]), let month = Digits.value(b[s + 5..<s + 7]),
              let day = Digits.value(b[s + 8..<s + 10]), let hour = Digits.value(b[s + 11..<s + 13]),
              let minute = Digits.value(b[s + 14..<s + 16]), let second = Digits.value(b[s + 17..<s + 19]),
              (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second < 60 else { return nil }
        var millis: Int64 = 0
        if b.count == 24 {
            guard b[s + 19] == 0x2e, let fraction = Digits.value(b[s + 20..<s + 23]) else { return nil }
            millis = fraction
        }
        let days = CivilDate.daysFromCivil(year: year, month: month, day: day)
        return Timestamp(millisecondsSinceEpoch: ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
    }
}

enum Digits {
    /// The decimal value of ASCII digits, `nil` if any byte is not a digit.
    static func value<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }
}

enum CivilDate {
    /// days_from_civil (Howard Hinnant), the inverse of `Timestamp.rfc3339`'s conversion.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

extension Timestamp {
    /// This instant moved by a `Duration` (rounded down to milliseconds).
    public func adding(_ duration: Duration) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + duration.wholeMilliseconds)
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Waits. Production sleeps for real (`TaskSleeper`); tests move a `ManualClock`
/// instead (`VirtualSleeper`), so backoff, latency and timeouts cost no real time
/// and runs are repeatable.
public protocol GatewaySleeper: Sendable {
    func sleep(for duration: Duration) async throws
}

/// Sleeps with `Task.sleep`, honouring cancellation.
public struct TaskSleeper: GatewaySleeper {
    public init() {}
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// Advances a `ManualClock` by the duration at once and remembers every sleep, for tests.
public final class VirtualSleeper: GatewaySleeper, Sendable {
    private let clock: ManualClock
    private let recorded = Mutex<[Duration]>([])

    public init(clock: ManualClock) { self.clock = clock }

    public func sleep(for duration: Duration) async throws {
        recorded.withLock { $0.append(duration) }
        clock.set(clock.now().adding(duration))
    }

    /// Every duration slept so far, in order.
    public var sleeps: [Duration] { recorded.withLock { $0 } }
}

/// A stable 64-bit hash (FNV-1a then a SplitMix finaliser). Unlike `Hasher`, it is the
/// same in every process, which the sandbox needs to make the same report twice.
public enum StableHash {
    public static func of(_ parts: String...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            hash ^= 0xff
            hash = hash &* 0x100_0000_01b3
        }
        var generator = SeededRandom(seed: hash)
        return generator.next()
    }
}
