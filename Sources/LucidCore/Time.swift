import Synchronization

/// A point in time as Unix milliseconds. The core never reads the system
/// clock itself: time comes in through `WallClock`, so rules are testable.
public struct Timestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch }

    public func adding(seconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000)
    }

    /// The UTC calendar day, e.g. `2026-11-25`; daily limits reset at UTC midnight.
    public var utcDay: String { String(rfc3339.prefix(10)) }

    /// Start of the UTC day that contains this instant.
    public var startOfUTCDay: Timestamp {
        let day: Int64 = 86_400_000
        let floored = millisecondsSinceEpoch >= 0
            ? millisecondsSinceEpoch / day * day
            : ((millisecondsSinceEpoch - day + 1) / day) * day
        return Timestamp(millisecondsSinceEpoch: floored)
    }

    /// RFC 3339 UTC with millisecond precision: `2026-11-25T08:30:00.123Z`.
    public var rfc3339: String {
        let ms = millisecondsSinceEpoch
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        // civil_from_days (Howard Hinnant)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var year = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        if month <= 2 { year += 1 }
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let h = msOfDay / 3_600_000, m = msOfDay / 60_000 % 60, s = msOfDay / 1000 % 60, milli = msOfDay % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(h, 2)):\(pad(m, 2)):\(pad(s, 2)).\(pad(milli, 3))Z"
    }

    public var description: String { rfc3339 }
}

/// Where time comes from. `SystemClock` lives in the services layer; tests use `ManualClock`.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// A clock that only moves when told to.
public final class ManualClock: WallClock, Sendable {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000)) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    public func advance(seconds: Int64) { current.withLock { $0 = $0.adding(seconds: seconds) } }

    public func set(_ time: Timestamp) { current.withLock { $0 = time } }
}


/// A timestamp is stored and exchanged as its plain Unix milliseconds (one
/// number, no time-zone text to parse), so state that carries times —
/// lockout counters, rate windows — can live in a database column as JSON.
extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(millisecondsSinceEpoch: try container.decode(Int64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(millisecondsSinceEpoch)
    }
}
