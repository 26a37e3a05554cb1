import LucidCore

/// Counts and sums over a sliding window, kept in a ring of fixed-width time buckets
/// so that both an update and a read touch at most `slots` buckets, whatever the traffic.
///
/// A bucket holds `channels` values (event count, amount sum, …) for one interval of
/// `bucketMilliseconds`. The window covers the current bucket and the `slots − 1`
/// before it: an event stops counting at the start of the bucket `slots` buckets after
/// its own, so it is counted for at least `window − bucket` and less than `window`.
/// With 10 one-minute buckets, something at 12:00:30 counts until 12:09:59.999 and
/// is gone at 12:10:00.
///
/// Events older than the window (a late store write) are ignored rather than
/// reviving a reused slot; events in the future of a read are not counted by it.
public struct WindowRing: Sendable, Hashable {
    public let bucketMilliseconds: Int64
    public let slots: Int
    public let channels: Int
    /// Bucket number (time / bucket width) held by each slot; `Int64.min` for an empty slot.
    private var buckets: [Int64]
    /// `slots × channels` values, slot-major.
    private var values: [Int64]

    public init(bucketMilliseconds: Int64, slots: Int, channels: Int) {
        precondition(bucketMilliseconds > 0 && slots > 0 && channels > 0)
        self.bucketMilliseconds = bucketMilliseconds
        self.slots = slots
        self.channels = channels
        buckets = Array(repeating: .min, count: slots)
        values = Array(repeating: 0, count: slots * channels)
    }

    /// The window's length: `slots × bucket`.
    public var windowMilliseconds: Int64 { bucketMilliseconds * Int64(slots) }

    @inline(__always)
    private func bucketNumber(_ time: Timestamp) -> Int64 {
        let ms = time.millisecondsSinceEpoch
        return ms >= 0 ? ms / bucketMilliseconds : (ms - bucketMilliseconds + 1) / bucketMilliseconds
    }

    @inline(__always)
    private func slot(_ bucket: Int64) -> Int {
        let r = Int(bucket % Int64(slots))
        return r < 0 ? r + slots : r
    }

    /// Adds `amount` to `channel` at `time` (saturating: a window total never wraps).
    public mutating func add(_ amount: Int64, to channel: Int, at time: Timestamp) {
        precondition(channel >= 0 && channel < channels)
        let bucket = bucketNumber(time)
        let index = slot(bucket)
        let held = buckets[index]
        if held < bucket {
            buckets[index] = bucket
            let base = index * channels
            for c in 0..<channels { values[base + c] = 0 }
        } else if held > bucket {
            return // older than everything the slot can still hold: already outside the window
        }
        let position = index * channels + channel
        let (sum, overflow) = values[position].addingReportingOverflow(amount)
        values[position] = overflow ? (amount > 0 ? .max : .min) : sum
    }

    /// The total of `channel` over the window that ends at `now`.
    public func total(_ channel: Int, at now: Timestamp) -> Int64 {
        precondition(channel >= 0 && channel < channels)
        let newest = bucketNumber(now)
        let oldest = newest - Int64(slots) + 1
        var sum: Int64 = 0
        for index in 0..<slots {
            let bucket = buckets[index]
            if bucket >= oldest && bucket <= newest {
                let (s, overflow) = sum.addingReportingOverflow(values[index * channels + channel])
                sum = overflow ? .max : s
            }
        }
        return sum
    }

    /// Slots that still hold a bucket, for compact persistence.
    var liveSlotCount: Int { buckets.reduce(0) { $0 + ($1 == .min ? 0 : 1) } }
}

extension WindowRing: Codable {
    // Persisted compactly: only the slots that hold a bucket, each as [bucket, v0, v1, …].
    private enum CodingKeys: String, CodingKey { case bucketMilliseconds = "bucket_ms", slots, channels, live }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let width = try c.decode(Int64.self, forKey: .bucketMilliseconds)
        let slots = try c.decode(Int.self, forKey: .slots)
        let channels = try c.decode(Int.self, forKey: .channels)
        guard width > 0, (1...10_000).contains(slots), (1...64).contains(channels) else {
            throw DecodingError.dataCorruptedError(forKey: .slots, in: c, debugDescription: "window shape out of range")
        }
        self.init(bucketMilliseconds: width, slots: slots, channels: channels)
        for row in try c.decode([[Int64]].self, forKey: .live) {
            guard row.count == channels + 1 else {
                throw DecodingError.dataCorruptedError(forKey: .live, in: c, debugDescription: "bucket row has the wrong width")
            }
            let index = slot(row[0])
            buckets[index] = row[0]
            for channel in 0..<channels { values[index * channels + channel] = row[channel + 1] }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bucketMilliseconds, forKey: .bucketMilliseconds)
        try c.encode(slots, forKey: .slots)
        try c.encode(channels, forKey: .channels)
        var rows: [[Int64]] = []
        for index in 0..<slots where buckets[index] != .min {
            rows.append([buckets[index]] + values[(index * channels)..<((index + 1) * channels)])
        }
        try c.encode(rows, forKey: .live)
    }
}

/// The three standard windows (10 minutes in 1-minute buckets, 1 hour in 5-minute
/// buckets, 24 hours in 1-hour buckets), each with the same channels.
public struct StandardWindows: Sendable, Hashable, Codable {
    public enum Span: Sendable, CaseIterable { case tenMinutes, oneHour, oneDay }

    public var tenMinutes: WindowRing
    public var oneHour: WindowRing
    public var oneDay: WindowRing

    public init(channels: Int) {
        tenMinutes = WindowRing(bucketMilliseconds: 60_000, slots: 10, channels: channels)
        oneHour = WindowRing(bucketMilliseconds: 300_000, slots: 12, channels: channels)
        oneDay = WindowRing(bucketMilliseconds: 3_600_000, slots: 24, channels: channels)
    }

    public mutating func add(_ amount: Int64, to channel: Int, at time: Timestamp) {
        tenMinutes.add(amount, to: channel, at: time)
        oneHour.add(amount, to: channel, at: time)
        oneDay.add(amount, to: channel, at: time)
    }

    public func total(_ channel: Int, over span: Span, at now: Timestamp) -> Int64 {
        switch span {
        case .tenMinutes: tenMinutes.total(channel, at: now)
        case .oneHour: oneHour.total(channel, at: now)
        case .oneDay: oneDay.total(channel, at: now)
        }
    }

    /// Channels per bucket (the same in all three windows).
    public var channels: Int { tenMinutes.channels }

    private enum CodingKeys: String, CodingKey { case tenMinutes = "10m", oneHour = "1h", oneDay = "24h" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tenMinutes = try c.decode(WindowRing.self, forKey: .tenMinutes)
        oneHour = try c.decode(WindowRing.self, forKey: .oneHour)
        oneDay = try c.decode(WindowRing.self, forKey: .oneDay)
        let expected = StandardWindows(channels: tenMinutes.channels)
        guard oneHour.channels == tenMinutes.channels, oneDay.channels == tenMinutes.channels,
              (tenMinutes.bucketMilliseconds, tenMinutes.slots) == (expected.tenMinutes.bucketMilliseconds, expected.tenMinutes.slots),
              (oneHour.bucketMilliseconds, oneHour.slots) == (expected.oneHour.bucketMilliseconds, expected.oneHour.slots),
              (oneDay.bucketMilliseconds, oneDay.slots) == (expected.oneDay.bucketMilliseconds, expected.oneDay.slots) else {
            throw DecodingError.dataCorruptedError(forKey: .tenMinutes, in: c, debugDescription: "windows of another shape")
        }
    }
}

/// A bounded set of recently seen keys (devices, countries, payees, rails, senders) with
/// when each was first and last seen. When full, the key seen longest ago is forgotten,
/// so a customer with thousands of payees costs a fixed amount of state.
public struct RecentSet: Sendable, Hashable, Codable {
    public struct Entry: Sendable, Hashable, Codable {
        public var firstSeen: Int64
        public var lastSeen: Int64
        public var count: Int64
        enum CodingKeys: String, CodingKey { case firstSeen = "first", lastSeen = "last", count = "n" }
    }

    public let capacity: Int
    public private(set) var entries: [String: Entry]

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        entries = [:]
    }

    public func entry(_ key: String) -> Entry? { entries[key] }
    public func contains(_ key: String) -> Bool { entries[key] != nil }
    public var count: Int { entries.count }

    /// Notes `key` at `time`; returns whether it was new (not in the set before).
    @discardableResult
    public mutating func note(_ key: String, at time: Timestamp) -> Bool {
        let ms = time.millisecondsSinceEpoch
        if var entry = entries[key] {
            entry.lastSeen = max(entry.lastSeen, ms)
            entry.firstSeen = min(entry.firstSeen, ms)
            entry.count += 1
            entries[key] = entry
            return false
        }
        if entries.count >= capacity, let stalest = entries.min(by: { ($0.value.lastSeen, $0.key) < ($1.value.lastSeen, $1.key) }) {
            entries[stalest.key] = nil
        }
        entries[key] = Entry(firstSeen: ms, lastSeen: ms, count: 1)
        return true
    }

    /// Keys last seen within `milliseconds` before `now`: O(capacity).
    public func countSeen(within milliseconds: Int64, of now: Timestamp) -> Int {
        let oldest = now.millisecondsSinceEpoch - milliseconds
        var n = 0
        for entry in entries.values where entry.lastSeen > oldest && entry.lastSeen <= now.millisecondsSinceEpoch { n += 1 }
        return n
    }
}

extension WindowRing {
    /// Binary form (`BinaryState.swift`): the shape, then only the slots that hold a bucket.
    func write(to writer: inout BinaryWriter) {
        writer.int(bucketMilliseconds)
        writer.unsigned(UInt64(slots))
        writer.unsigned(UInt64(channels))
        writer.unsigned(UInt64(liveSlotCount))
        for index in 0..<slots where buckets[index] != .min {
            writer.int(buckets[index])
            for channel in 0..<channels { writer.int(values[index * channels + channel]) }
        }
    }

    init(reading reader: inout BinaryReader) throws(BinaryStateError) {
        let width = try reader.int()
        let slots = try reader.count(max: 10_000)
        let channels = try reader.count(max: 64)
        guard width > 0, slots > 0, channels > 0 else { throw BinaryStateError(reason: "window shape out of range") }
        self.init(bucketMilliseconds: width, slots: slots, channels: channels)
        for _ in 0..<(try reader.count(max: slots)) {
            let bucket = try reader.int()
            guard bucket != .min else { throw BinaryStateError(reason: "empty bucket written as live") }
            let index = slot(bucket)
            buckets[index] = bucket
            for channel in 0..<channels { values[index * channels + channel] = try reader.int() }
        }
    }
}

extension RecentSet {
    /// A set read back from its stored form.
    init(capacity: Int, entries: [String: Entry]) {
        precondition(capacity > 0 && entries.count <= capacity)
        self.capacity = capacity
        self.entries = entries
    }
}
