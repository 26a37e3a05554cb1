import LucidCore
import Testing

@Suite("Time and identifiers")
struct TimeAndIdentifierTests {
    @Test("RFC 3339 UTC with milliseconds", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"), (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (1_795_000_000_000, "2026-11-18T11:06:40.000Z"), (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func rfc3339(millis: Int64, text: String) {
        #expect(Timestamp(millisecondsSinceEpoch: millis).rfc3339 == text)
    }

    @Test("the UTC day starts at midnight, also before 1970")
    func startOfDay() {
        #expect(Timestamp(millisecondsSinceEpoch: 1_795_000_000_000).startOfUTCDay.rfc3339 == "2026-11-18T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).startOfUTCDay.rfc3339 == "1969-12-31T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: 1_795_000_000_000).utcDay == "2026-11-18")
    }

    @Test("a manual clock moves only when told")
    func manualClock() {
        let clock = ManualClock(Timestamp(millisecondsSinceEpoch: 1_000))
        #expect(clock.now().millisecondsSinceEpoch == 1_000)
        clock.advance(seconds: 2)
        #expect(clock.now().millisecondsSinceEpoch == 3_000)
    }

    @Test("UUIDv7 identifiers are canonical, version 7, and strictly increasing even within one millisecond")
    func uuidV7() {
        let generator = UUIDv7Generator(clock: ManualClock())
        let ids = (0..<10_000).map { _ in generator.next() }
        #expect(ids.allSatisfy(UUIDText.isCanonical))
        #expect(ids.allSatisfy { Array($0.utf8)[14] == UInt8(ascii: "7") })
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        #expect(Set(ids).count == ids.count)
    }

    @Test("UUIDv7 leading bits carry the clock's milliseconds")
    func uuidTime() {
        let clock = ManualClock(Timestamp(millisecondsSinceEpoch: 0x0123_4567_89AB))
        #expect(UUIDv7Generator(clock: clock).next().hasPrefix("01234567-89ab-7"))
    }

    @Test("the counting generator is deterministic and ordered")
    func counting() {
        let a = CountingIDGenerator(), b = CountingIDGenerator()
        let first = (0..<3).map { _ in a.next() }
        #expect(first == (0..<3).map { _ in b.next() })
        #expect(first == first.sorted() && first.allSatisfy(UUIDText.isCanonical))
    }

    @Test("only canonical lower-case UUID text parses as an identifier")
    func parsing() {
        #expect(UserID(parsing: "0190f5c2-7d3e-7abc-8def-0123456789ab") != nil)
        #expect(UserID(parsing: "0190F5C2-7D3E-7ABC-8DEF-0123456789AB") == nil)
        #expect(UserID(parsing: "not-an-id") == nil)
        #expect(UserID(parsing: "0190f5c2-7d3e-7abc-8def-0123456789ab'--") == nil)
    }
}
