import LucidCore

/// A compact binary form of the remembered state (`CustomerFeatures`, `PayeeFeatures`,
/// `SourceFeatures`), which the store writes on every decided event.
///
/// JSON through `Codable` cost a busy customer's state (a hundred payees and senders) hundreds of
/// microseconds to encode on every payment — most of what risk added to a transfer. This form is
/// written and read field by field: integers as zig-zag varints, doubles as their 8 bytes,
/// strings with their length. It starts with a magic number and a format version, so a reader
/// refuses anything else (the caller then starts the state afresh, as for another schema).
enum BinaryStateFormat {
    static let magic: [UInt8] = [0x4C, 0x52, 0x53] // "LRS"
    static let version: UInt8 = 1

    enum Kind: UInt8 { case customer = 1, payee = 2, source = 3 }
}

/// What a malformed or foreign state reads as.
public struct BinaryStateError: Error, Sendable, Hashable {
    public let reason: String
}

struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    init(kind: BinaryStateFormat.Kind, capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
        bytes += BinaryStateFormat.magic
        bytes.append(BinaryStateFormat.version)
        bytes.append(kind.rawValue)
    }

    mutating func unsigned(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func int(_ value: Int64) { unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
    mutating func int(_ value: Int) { int(Int64(value)) }

    mutating func optionalInt(_ value: Int64?) {
        if let value {
            bytes.append(1)
            int(value)
        } else {
            bytes.append(0)
        }
    }

    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func double(_ value: Double) {
        var bits = value.bitPattern
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            unsigned(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }
}

struct BinaryReader {
    private let bytes: [UInt8]
    private var position = 0

    /// Checks the magic number, format version and kind.
    init(_ bytes: [UInt8], kind: BinaryStateFormat.Kind) throws(BinaryStateError) {
        self.bytes = bytes
        guard bytes.count >= 5, Array(bytes[0..<3]) == BinaryStateFormat.magic else { throw BinaryStateError(reason: "not a binary state") }
        guard bytes[3] == BinaryStateFormat.version else { throw BinaryStateError(reason: "binary state format \(bytes[3])") }
        guard bytes[4] == kind.rawValue else { throw BinaryStateError(reason: "binary state of another kind") }
        position = 5
    }

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() throws(BinaryStateError) -> UInt8 {
        guard position < bytes.count else { throw BinaryStateError(reason: "truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func unsigned() throws(BinaryStateError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw BinaryStateError(reason: "varint too long") }
            result |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return result }
            shift += 7
        }
    }

    mutating func int() throws(BinaryStateError) -> Int64 {
        let raw = try unsigned()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A count or size, bounded so a corrupt row cannot ask for a huge allocation.
    mutating func count(max: Int) throws(BinaryStateError) -> Int {
        let value = try unsigned()
        guard value <= UInt64(max) else { throw BinaryStateError(reason: "count \(value) above \(max)") }
        return Int(value)
    }

    mutating func optionalInt() throws(BinaryStateError) -> Int64? {
        switch try byte() {
        case 0: return nil
        case 1: return try int()
        default: throw BinaryStateError(reason: "bad optional flag")
        }
    }

    mutating func bool() throws(BinaryStateError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw BinaryStateError(reason: "bad boolean")
        }
    }

    mutating func double() throws(BinaryStateError) -> Double {
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(try byte()) << (8 * UInt64(index)) }
        return Double(bitPattern: bits)
    }

    mutating func string() throws(BinaryStateError) -> String {
        let length = try count(max: 4_096)
        guard position + length <= bytes.count else { throw BinaryStateError(reason: "truncated string") }
        defer { position += length }
        return String(decoding: bytes[position..<(position + length)], as: UTF8.self)
    }
}

// MARK: The states

extension CustomerFeatures {
    /// The compact binary form the store keeps (see `BinaryStateFormat`).
    public func binary() -> [UInt8] {
        var writer = BinaryWriter(kind: .customer, capacity: 512 + 64 * (payees.count + senders.count))
        writer.int(schemaVersion)
        windows.write(to: &writer)
        for set in [devices, countries, payees, rails, senders] { set.write(to: &writer) }
        baseline.write(to: &writer)
        writer.optionalInt(lastActivity)
        writer.optionalInt(lastOutgoing)
        writer.optionalInt(lastIncoming)
        writer.bool(lastTopup != nil)
        if let lastTopup {
            writer.int(lastTopup.time)
            writer.int(lastTopup.minorUnits)
            writer.bool(lastTopup.fromNewRail)
        }
        return writer.bytes
    }

    /// Reads the binary form; throws for anything else (another format, kind or schema, or damage).
    public init(binary bytes: [UInt8]) throws(BinaryStateError) {
        var reader = try BinaryReader(bytes, kind: .customer)
        let schema = try reader.int()
        guard schema == Int64(Self.schemaVersion) else { throw BinaryStateError(reason: "customer features of schema \(schema)") }
        self.init()
        windows = try StandardWindows(reading: &reader)
        guard windows.channels == Channel.allCases.count else { throw BinaryStateError(reason: "customer windows of another width") }
        devices = try RecentSet(reading: &reader)
        countries = try RecentSet(reading: &reader)
        payees = try RecentSet(reading: &reader)
        rails = try RecentSet(reading: &reader)
        senders = try RecentSet(reading: &reader)
        baseline = try AmountBaseline(reading: &reader)
        lastActivity = try reader.optionalInt()
        lastOutgoing = try reader.optionalInt()
        lastIncoming = try reader.optionalInt()
        if try reader.bool() {
            lastTopup = TopupMemory(time: try reader.int(), minorUnits: try reader.int(), fromNewRail: try reader.bool())
        }
        guard reader.isAtEnd else { throw BinaryStateError(reason: "trailing bytes") }
    }
}

extension PayeeFeatures {
    public func binary() -> [UInt8] {
        var writer = BinaryWriter(kind: .payee, capacity: 256)
        writer.int(schemaVersion)
        windows.write(to: &writer)
        writer.optionalInt(firstPaid)
        return writer.bytes
    }

    public init(binary bytes: [UInt8]) throws(BinaryStateError) {
        var reader = try BinaryReader(bytes, kind: .payee)
        let schema = try reader.int()
        guard schema == Int64(CustomerFeatures.schemaVersion) else { throw BinaryStateError(reason: "payee features of schema \(schema)") }
        self.init()
        windows = try StandardWindows(reading: &reader)
        guard windows.channels == Channel.allCases.count else { throw BinaryStateError(reason: "payee windows of another width") }
        firstPaid = try reader.optionalInt()
        guard reader.isAtEnd else { throw BinaryStateError(reason: "trailing bytes") }
    }
}

extension SourceFeatures {
    public func binary() -> [UInt8] {
        var writer = BinaryWriter(kind: .source, capacity: 256 + 48 * failingAccounts.count)
        writer.int(schemaVersion)
        windows.write(to: &writer)
        failingAccounts.write(to: &writer)
        return writer.bytes
    }

    public init(binary bytes: [UInt8]) throws(BinaryStateError) {
        var reader = try BinaryReader(bytes, kind: .source)
        let schema = try reader.int()
        guard schema == Int64(CustomerFeatures.schemaVersion) else { throw BinaryStateError(reason: "source features of schema \(schema)") }
        self.init()
        windows = try StandardWindows(reading: &reader)
        guard windows.channels == 1 else { throw BinaryStateError(reason: "source windows of another width") }
        failingAccounts = try RecentSet(reading: &reader)
        guard reader.isAtEnd else { throw BinaryStateError(reason: "trailing bytes") }
    }
}

extension StandardWindows {
    func write(to writer: inout BinaryWriter) {
        tenMinutes.write(to: &writer)
        oneHour.write(to: &writer)
        oneDay.write(to: &writer)
    }

    init(reading reader: inout BinaryReader) throws(BinaryStateError) {
        let tenMinutes = try WindowRing(reading: &reader)
        let oneHour = try WindowRing(reading: &reader)
        let oneDay = try WindowRing(reading: &reader)
        self.init(channels: tenMinutes.channels)
        let expected = self
        guard oneHour.channels == tenMinutes.channels, oneDay.channels == tenMinutes.channels,
              (tenMinutes.bucketMilliseconds, tenMinutes.slots) == (expected.tenMinutes.bucketMilliseconds, expected.tenMinutes.slots),
              (oneHour.bucketMilliseconds, oneHour.slots) == (expected.oneHour.bucketMilliseconds, expected.oneHour.slots),
              (oneDay.bucketMilliseconds, oneDay.slots) == (expected.oneDay.bucketMilliseconds, expected.oneDay.slots) else {
            throw BinaryStateError(reason: "windows of another shape")
        }
        self.tenMinutes = tenMinutes
        self.oneHour = oneHour
        self.oneDay = oneDay
    }
}

extension RecentSet {
    func write(to writer: inout BinaryWriter) {
        writer.unsigned(UInt64(capacity))
        writer.unsigned(UInt64(entries.count))
        for (key, entry) in entries {
            writer.string(key)
            writer.int(entry.firstSeen)
            writer.int(entry.lastSeen &- entry.firstSeen)
            writer.int(entry.count)
        }
    }

    init(reading reader: inout BinaryReader) throws(BinaryStateError) {
        let capacity = try reader.count(max: 100_000)
        guard capacity > 0 else { throw BinaryStateError(reason: "a recent set holds at least one key") }
        let count = try reader.count(max: capacity)
        var entries: [String: Entry] = [:]
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let key = try reader.string()
            let first = try reader.int()
            let last = first &+ (try reader.int())
            entries[key] = Entry(firstSeen: first, lastSeen: last, count: try reader.int())
        }
        self.init(capacity: capacity, entries: entries)
    }
}
