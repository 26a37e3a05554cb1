import Synchronization

/// A typed identifier: a UUIDv7 string tagged with what it identifies, so a
/// `UserID` can never be passed where a `TransferID` is expected.
///
/// UUIDv7 puts the creation time in the leading bits, so identifiers sort by
/// creation; that is what makes journals and cursors ordered for free.
/// There is deliberately no random `init()`: identifiers come from an
/// injected `IDGenerator`, which keeps tests deterministic.
public struct Identifier<Tag>: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let rawValue: String

    /// Wraps a stored or received identifier; use `IDGenerator` to make new ones.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Parses identifiers received from outside: canonical lower-case UUID text only.
    public init?(parsing text: String) {
        guard UUIDText.isCanonical(text) else { return nil }
        self.rawValue = text
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

public enum UserTag {}
public enum SessionTag {}
public enum TransferTag {}
public enum MerchantTag {}
public enum OperatorTag {}
public enum RequestTag {}

public typealias UserID = Identifier<UserTag>
public typealias SessionID = Identifier<SessionTag>
public typealias TransferID = Identifier<TransferTag>
public typealias MerchantID = Identifier<MerchantTag>
public typealias OperatorID = Identifier<OperatorTag>
public typealias RequestID = Identifier<RequestTag>

/// Ledger accounts are numbered by the store in creation order; the number is
/// internal (customers address wallets by currency), which keeps journal keys small.
public struct AccountID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Source of new identifiers. Production uses `UUIDv7Generator`; tests use a counting one.
public protocol IDGenerator: Sendable {
    /// 128 bits of a new UUIDv7, as canonical lower-case text.
    func next() -> String
}

extension IDGenerator {
    public func make<Tag>(_: Tag.Type = Tag.self) -> Identifier<Tag> { Identifier(next()) }
}

public enum UUIDText {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Formats 16 bytes as 8-4-4-4-12 lower-case hex.
    public static func format(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 16)
        return String(unsafeUninitializedCapacity: 36) { out in
            var position = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                out[position] = hexDigits[Int(bytes[index] >> 4)]
                out[position + 1] = hexDigits[Int(bytes[index] & 0x0f)]
                position += 2
            }
            return 36
        }
    }

    public static func isCanonical(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, c) in utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                if c != UInt8(ascii: "-") { return false }
            } else if !((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) {
                return false
            }
        }
        return true
    }
}

/// RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits. Within one
/// millisecond a counter in the random field keeps identifiers monotonic.
///
/// The random bits make identifiers hard to guess, not secret (access is always
/// checked), so they come from a fast generator seeded once from the system's
/// instead of a system call per identifier.
public final class UUIDv7Generator: IDGenerator, Sendable {
    private struct State {
        var lastMillis: Int64 = 0
        var counter: UInt16 = 0
        var random = Xoshiro(seed: SystemRandomNumberGenerator())
    }
    private let clock: any WallClock
    private let state = Mutex(State())

    public init(clock: any WallClock) { self.clock = clock }

    public func next() -> String {
        let now = clock.now().millisecondsSinceEpoch
        let bytes: [UInt8] = state.withLock { state in
            var millis = now
            if millis <= state.lastMillis {
                millis = state.lastMillis
                state.counter &+= 1
                if state.counter >= 0x0fff { // exhausted 12-bit counter: borrow the next millisecond
                    millis += 1
                    state.counter = UInt16(truncatingIfNeeded: state.random.next() & 0x03ff)
                }
            } else {
                state.counter = UInt16(truncatingIfNeeded: state.random.next() & 0x03ff)
            }
            state.lastMillis = millis
            let counter = state.counter
            var b = [UInt8](repeating: 0, count: 16)
            let ms = UInt64(millis)
            for i in 0..<6 { b[i] = UInt8((ms >> (40 - 8 * UInt64(i))) & 0xff) }
            b[6] = 0x70 | UInt8((counter >> 8) & 0x0f)
            b[7] = UInt8(counter & 0xff)
            let random = state.random.next()
            for i in 8..<16 { b[i] = UInt8((random >> (8 * UInt64(i - 8))) & 0xff) }
            b[8] = 0x80 | (b[8] & 0x3f)
            return b
        }
        return UUIDText.format(bytes)
    }
}

/// Deterministic identifiers for tests: still valid, ordered UUID text.
public final class CountingIDGenerator: IDGenerator, Sendable {
    private let value = Mutex<UInt64>(0)

    public init() {}

    public func next() -> String {
        let n = value.withLock { $0 += 1; return $0 }
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { b[8 + i] = UInt8((n >> (56 - 8 * UInt64(i))) & 0xff) }
        b[6] = 0x70
        b[8] |= 0x80
        return UUIDText.format(b)
    }
}

/// xoshiro256** (Blackman and Vigna): fast, good statistical quality, not cryptographic.
struct Xoshiro: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: some RandomNumberGenerator) {
        var seed = seed
        s = (seed.next(), seed.next(), seed.next(), seed.next() | 1)
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}
