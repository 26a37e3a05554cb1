import LucidCore
import LucidGateway
import Testing

@Suite("Rail types")
struct RailTypesTests {
    let expected = Timestamp(millisecondsSinceEpoch: 1_795_000_005_000)
    let later = Timestamp(millisecondsSinceEpoch: 1_795_000_065_000)
    let settledAt = Timestamp(millisecondsSinceEpoch: 1_795_000_004_000)

    @Test("a late pending never undoes a final state; repeats change nothing")
    func ranking() {
        let pending = RailItemStatus.pending(expectedBy: expected)
        let settled = RailItemStatus.settled(at: settledAt)
        let failed = RailItemStatus.failed(reason: .accountClosed, message: "closed")
        #expect(pending.rank < settled.rank && settled.rank == failed.rank)
        #expect(pending.merging(settled) == .advanced(settled))
        #expect(settled.merging(pending) == .stale)
        #expect(failed.merging(pending) == .stale)
        #expect(settled.merging(settled) == .duplicate)
        #expect(failed.merging(.failed(reason: .accountClosed, message: "other words")) == .duplicate)
        #expect(settled.merging(failed) == .conflict)
        #expect(failed.merging(.failed(reason: .rejected, message: "")) == .conflict)
        #expect(pending.merging(.pending(expectedBy: later)) == .advanced(.pending(expectedBy: later)))
        #expect(RailItemStatus.pending(expectedBy: later).merging(pending) == .duplicate)
    }

    @Test("every arrival order of duplicated callbacks ends in the same state")
    func orderIndependence() {
        let events: [RailItemStatus] = [
            .pending(expectedBy: expected), .pending(expectedBy: later), .settled(at: settledAt), .settled(at: settledAt),
            .pending(expectedBy: expected),
        ]
        var finals = Set<RailItemStatus>()
        for order in permutations(Array(events.indices)) {
            var state: RailItemStatus?
            for index in order { state = RailItemStatus.merged(state, events[index]) }
            finals.insert(state!)
        }
        #expect(finals == [.settled(at: settledAt)])
        // Without a final state, the latest promise wins whatever the order.
        var pendings = Set<RailItemStatus>()
        for order in permutations([0, 1, 4]) {
            var state: RailItemStatus?
            for index in order { state = RailItemStatus.merged(state, events[index]) }
            pendings.insert(state!)
        }
        #expect(pendings == [.pending(expectedBy: later)])
    }

    private func permutations(_ items: [Int]) -> [[Int]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { index -> [[Int]] in
            var rest = items
            let first = rest.remove(at: index)
            return permutations(rest).map { [first] + $0 }
        }
    }

    @Test("rail ids and references accept only what files and URLs can carry")
    func names() {
        #expect(RailID(parsing: "bank-a") != nil)
        #expect(RailID(parsing: "Bank-A") == nil)
        #expect(RailID(parsing: "") == nil)
        #expect(RailID(parsing: String(repeating: "a", count: GatewayLimits.railIDLengthMax + 1)) == nil)
        #expect(RailReference(parsing: "0190a5c2-7b1e-7000-8000-000000000001") != nil)
        #expect(RailReference(parsing: "a,b") == nil)
        #expect(RailReference(parsing: "a b") == nil)
        #expect(RailReference(parsing: "say\"hi") == nil)
        #expect(RailReference(parsing: String(repeating: "r", count: GatewayLimits.referenceLengthMax)) != nil)
        #expect(RailReference(parsing: String(repeating: "r", count: GatewayLimits.referenceLengthMax + 1)) == nil)
        #expect(RailReference(TransferID("0190a5c2-7b1e-7000-8000-000000000001")).rawValue == "0190a5c2-7b1e-7000-8000-000000000001")
    }

    @Test("days and RFC 3339 times parse back what Timestamp prints")
    func time() {
        for ms in [Int64(0), 951_782_400_000, 1_795_000_000_123, 4_102_444_799_999] {
            let time = Timestamp(millisecondsSinceEpoch: ms)
            #expect(RFC3339.parse(time.rfc3339) == time)
            #expect(SettlementDay(parsing: time.utcDay) == SettlementDay(containing: time))
        }
        #expect(RFC3339.parse("2026-11-25T08:30:00Z") == Timestamp(millisecondsSinceEpoch: 1_795_595_400_000))
        #expect(RFC3339.parse("2026-11-25T08:30:00+08:00") == nil)
        #expect(RFC3339.parse("2026-02-30T08:30:00Z") == nil)
        #expect(SettlementDay(parsing: "2024-02-29") != nil)
        #expect(SettlementDay(parsing: "2026-02-29") == nil)
        #expect(SettlementDay(parsing: "2026-1-05") == nil)
        let day = SettlementDay(parsing: "2026-11-25")!
        #expect(day.contains(day.start) && !day.contains(day.end) && day.adding(days: 1).start == day.end)
    }

    @Test("the new error codes have their statuses")
    func statuses() {
        let expected: [ErrorCode: Int] = [
            .gatewayUnavailable: 503, .gatewayTimeout: 504, .bankDeclined: 422, .railNotFound: 404,
            .callbackSignatureInvalid: 401, .callbackReplayed: 409, .settlementReportInvalid: 422,
        ]
        for (code, status) in expected { #expect(LucidError(code).status == status, "\(code.rawValue)") }
    }

    @Test("gateway_unavailable names the alternative only when there is one")
    func unavailableText() {
        let with = ErrorCatalogue.describe(LucidError(.gatewayUnavailable, ["rail": .text("bank-a"),
                                                                             "alternative_rail": .text("bank-b")]), in: .en)
        #expect(with.nextSteps.first == "Use the payment rail bank-b instead; it is working normally.")
        let without = ErrorCatalogue.describe(LucidError(.gatewayUnavailable, ["rail": .text("bank-a")]), in: .zhCN)
        #expect(!without.nextSteps.joined().contains("?"))
        #expect(without.detail.contains("bank-a"))
        let declined = ErrorCatalogue.describe(LucidError(.bankDeclined, ["rail": .text("bank-a"),
                                                                           "bank_reason": .text("R61_limit_exceeded")]), in: .en)
        #expect(declined.detail == "The payment rail bank-a declined this: a limit at the bank is exceeded (R61_limit_exceeded). No money moved.")
    }

    @Test("the seeded generator repeats and its rates hold roughly")
    func random() {
        var a = SeededRandom(seed: 42)
        var b = SeededRandom(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var c = SeededRandom(seed: 1)
        let hits = (0..<10_000).filter { _ in c.chance(0.25) }.count
        #expect((2_200...2_800).contains(hits))
        var d = SeededRandom(seed: 1)
        #expect(!(0..<1_000).contains { _ in d.chance(0) })
        #expect(StableHash.of("bank-a", "x") == StableHash.of("bank-a", "x"))
        #expect(StableHash.of("bank-a", "x") != StableHash.of("bank-ax"))
    }
}
