import LucidCore
import LucidServices
import Testing

@Suite("Operator time")
struct OperatorTimeTests {
    @Test("RFC 3339 with or without fractions and with offsets; a bare date only where allowed; nonsense refused")
    func parsing() {
        let noonUTC = Timestamp(millisecondsSinceEpoch: 1_764_072_000_000)  // 2025-11-25T12:00:00Z
        #expect(OperatorTime.parse("2025-11-25T12:00:00Z") == noonUTC)
        #expect(OperatorTime.parse("2025-11-25T12:00:00.250Z") == Timestamp(millisecondsSinceEpoch: noonUTC.millisecondsSinceEpoch + 250))
        #expect(OperatorTime.parse("2025-11-25T20:00:00+08:00") == noonUTC)
        #expect(OperatorTime.parse("2025-11-25") == nil, "a bare date only when the caller allows it")
        #expect(OperatorTime.parse("2025-11-25", dateOnly: true) == noonUTC.adding(seconds: -43_200))
        for bad in ["", "tomorrow", "2025-13-01T00:00:00Z", "2025-11-25 12:00:00", String(repeating: "9", count: 41)] {
            #expect(OperatorTime.parse(bad, dateOnly: true) == nil, "\(bad)")
        }
    }
}
