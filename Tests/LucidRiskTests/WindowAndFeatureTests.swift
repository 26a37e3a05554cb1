import Foundation
import LucidCore
@testable import LucidRisk
import Testing

@Suite("Sliding windows, bounded sets and baselines")
struct WindowTests {
    @Test("an event counts until the start of the bucket a whole window after its own, then expires")
    func boundary() {
        var ring = WindowRing(bucketMilliseconds: 60_000, slots: 10, channels: 2)
        ring.add(1, to: 0, at: at(30))
        ring.add(500, to: 1, at: at(30))
        #expect(ring.total(0, at: at(30)) == 1)
        #expect(ring.total(1, at: at(30)) == 500)
        #expect(ring.total(0, at: at(minutes(10) - 1)) == 1, "still inside at 9:59")
        #expect(ring.total(0, at: Timestamp(millisecondsSinceEpoch: t0 + minutes(10) * 1000 - 1)) == 1, "still inside at 9:59.999")
        #expect(ring.total(0, at: at(minutes(10))) == 0, "gone at 10:00")
        #expect(ring.total(1, at: at(minutes(10))) == 0)
    }

    @Test("a reused slot starts from zero, late events are ignored, future ones are not read early")
    func reuseLateFuture() {
        var ring = WindowRing(bucketMilliseconds: 60_000, slots: 10, channels: 1)
        ring.add(5, to: 0, at: at(0))
        ring.add(1, to: 0, at: at(minutes(10)))  // same slot, next lap
        #expect(ring.total(0, at: at(minutes(10))) == 1)
        ring.add(7, to: 0, at: at(0))             // older than anything the slot can hold: dropped
        #expect(ring.total(0, at: at(minutes(10))) == 1)
        ring.add(3, to: 0, at: at(minutes(12)))
        #expect(ring.total(0, at: at(minutes(11))) == 1, "an event in the future of a read is not counted")
        #expect(ring.total(0, at: at(minutes(12))) == 4)
    }

    @Test("sums saturate instead of wrapping")
    func saturation() {
        var ring = WindowRing(bucketMilliseconds: 1_000, slots: 3, channels: 1)
        ring.add(.max - 1, to: 0, at: at(0))
        ring.add(10, to: 0, at: at(0))
        ring.add(10, to: 0, at: at(1))
        #expect(ring.total(0, at: at(1)) == .max)
    }

    @Test("the three standard windows expire at 10 minutes, 1 hour and 24 hours")
    func standardWindows() {
        var windows = StandardWindows(channels: 1)
        windows.add(1, to: 0, at: at(0))
        #expect(windows.total(0, over: .tenMinutes, at: at(minutes(9))) == 1)
        #expect(windows.total(0, over: .tenMinutes, at: at(minutes(10))) == 0)
        #expect(windows.total(0, over: .oneHour, at: at(minutes(59))) == 1)
        #expect(windows.total(0, over: .oneHour, at: at(hours(1))) == 0)
        #expect(windows.total(0, over: .oneDay, at: at(hours(24) - 1)) == 1)
        #expect(windows.total(0, over: .oneDay, at: at(hours(24))) == 0)
    }

    @Test("windows survive encoding, storing only live buckets")
    func windowCodable() throws {
        var windows = StandardWindows(channels: 3)
        for i in 0..<40 { windows.add(Int64(i), to: i % 3, at: at(Int64(i) * 97)) }
        let data = try JSONEncoder().encode(windows)
        let back = try JSONDecoder().decode(StandardWindows.self, from: data)
        #expect(back == windows)
        for span in StandardWindows.Span.allCases {
            for channel in 0..<3 { #expect(back.total(channel, over: span, at: at(3_000)) == windows.total(channel, over: span, at: at(3_000))) }
        }
        var empty = WindowRing(bucketMilliseconds: 60_000, slots: 10, channels: 1)
        empty.add(1, to: 0, at: at(0))
        #expect(empty.liveSlotCount == 1)
        let json = String(decoding: try JSONEncoder().encode(empty), as: UTF8.self)
        #expect(json.contains("\"live\":[["), "one live row: \(json)")
    }

    @Test("a bounded set forgets the key seen longest ago")
    func recentSet() {
        var set = RecentSet(capacity: 3)
        let fresh = [set.note("a", at: at(0)), set.note("b", at: at(10)), set.note("c", at: at(20)),
                     set.note("a", at: at(30)), set.note("d", at: at(40))]
        #expect(fresh == [true, true, true, false, true], "a again: not new, now the freshest")
        #expect(!set.contains("b") && set.contains("a") && set.contains("c") && set.contains("d"))
        #expect(set.entry("a")?.firstSeen == t0 && set.entry("a")?.count == 2)
        #expect(set.countSeen(within: 15_000, of: at(40)) == 2, "a (30 s) and d (40 s)")
        #expect(set.countSeen(within: 5_000, of: at(40)) == 1)
    }

    @Test("the baseline is the median and MAD of recent log amounts; z is robust and floored")
    func baseline() {
        var baseline = AmountBaseline(capacity: 5)
        for amount in [100.0, 100, 100, 100, 100] { baseline.add(majorUnits: amount, hour: 10) }
        #expect(abs(baseline.medianAmount - 100) < 1e-9)
        #expect(baseline.madLog == 0)
        // With no spread the floor (0.25 in log units) keeps z finite.
        #expect(abs(baseline.robustZ(majorUnits: 100 * exp(1.0)) - 4) < 1e-9)
        // One outlier does not move the median; the ring forgets the oldest.
        baseline.add(majorUnits: 1_000_000, hour: 3)
        #expect(abs(baseline.medianAmount - 100) < 1e-9)
        #expect(baseline.sampleCount == 5)
        #expect(baseline.hourCounts[10] == 4 && baseline.hourCounts[3] == 1)
        #expect(abs(baseline.hourShare(11) - 0.8) < 1e-9, "10:00 activity supports 11:00")
        #expect(baseline.hourShare(20) == 0)
        #expect(AmountBaseline().robustZ(majorUnits: 5) == 0, "no samples, no deviation")
    }

    @Test("a spread-out sample gives a proportionate z-score")
    func baselineSpread() {
        var baseline = AmountBaseline(capacity: 10)
        for amount in [50.0, 80, 100, 120, 200, 100, 90, 110, 60, 150] { baseline.add(majorUnits: amount, hour: 12) }
        let z = baseline.robustZ(majorUnits: 5_000)
        #expect(z > 5 && z < 20)
        #expect(abs(baseline.robustZ(majorUnits: baseline.medianAmount)) < 1e-9)
    }
}

@Suite("Customer, payee and source features")
struct FeatureTests {
    @Test("counts and sums include the event being decided; novelty describes the state before it")
    func includesThisEvent() {
        var h = Harness()
        h.history()
        for i in 0..<3 { h.run(transfer(50, to: "user:friend0", at: at(minutes(Int64(i))))) }
        let next = transfer(70, to: "user:stranger", at: at(minutes(4)))
        let f = h.features(next)
        #expect(f.outCount10m == 4)
        #expect(abs(f.outSum10m - 220) < 1e-9)
        #expect(f.newPayee && f.newPayees1h == 1)
        #expect(!f.newDevice && f.deviceAgeHours == riskNever, "the phone is known from the context")
        #expect(f.baselineSamples == 23)
        #expect(abs(f.balanceFraction - 0.007) < 1e-9)
    }

    @Test("windows expire with a fixed clock: 10 minutes, 1 hour, 24 hours")
    func expiry() {
        var h = Harness()
        h.run(transfer(10, at: at(0)))
        #expect(h.features(transfer(1, at: at(minutes(9)))).outCount10m == 2)
        #expect(h.features(transfer(1, at: at(minutes(10)))).outCount10m == 1)
        #expect(h.features(transfer(1, at: at(minutes(59)))).outCount1h == 2)
        #expect(h.features(transfer(1, at: at(hours(1)))).outCount1h == 1)
        #expect(h.features(transfer(1, at: at(hours(23)))).outCount24h == 2)
        #expect(h.features(transfer(1, at: at(hours(24)))).outCount24h == 1)
    }

    @Test("a refused event teaches nothing: the attacker's device stays new")
    func refusedDoesNotTeach() {
        var features = CustomerFeatures()
        let attempt = transfer(9_000, to: "user:mule", at: at(0), device: "attacker")
        features.record(attempt, action: .block)
        #expect(!features.devices.contains("attacker") && !features.payees.contains("user:mule"))
        #expect(features.windows.total(CustomerFeatures.Channel.refused.rawValue, over: .oneHour, at: at(1)) == 1)
        features.record(attempt, action: .review)
        #expect(features.devices.contains("attacker") && features.payees.contains("user:mule"), "held money was accepted")
    }

    @Test("a device seen at login is new, then ages")
    func deviceAge() {
        var h = Harness()
        #expect(h.features(login(at: at(0), device: "tablet")).newDevice)
        h.run(login(at: at(0), device: "tablet"))
        let later = h.features(transfer(10, at: at(hours(5)), device: "tablet"))
        #expect(!later.newDevice && abs(later.deviceAgeHours - 5) < 1e-9)
    }

    @Test("failed logins count per account and per source, distinct accounts per source")
    func failedLogins() {
        var h = Harness()
        for i in 0..<3 { h.run(login(at: at(Int64(i) * 60), succeeded: false, source: "ip-bad")) }
        h.run(login(at: at(200), succeeded: false, source: "ip-bad", customer: bob))
        let f = h.features(login(at: at(300), succeeded: false, source: "ip-bad", customer: UserID("carol")))
        #expect(f.sourceFailedLogins1h == 5)
        #expect(f.sourceFailedAccounts1h == 3)
        let mine = h.features(login(at: at(300), succeeded: true, source: "ip-bad"))
        #expect(mine.failedLogins1h == 3 && mine.loginSucceeded)
    }

    @Test("money in then straight out: pass-through ratio, new senders, minutes since")
    func passThrough() {
        var h = Harness()
        for (i, sender) in ["u1", "u2", "u3"].enumerated() {
            h.run(transfer(1_000, to: "user:alice", at: at(minutes(Int64(i) * 10)), customer: UserID(sender)))
        }
        let f = h.features(transfer(2_700, to: "bank:new", at: at(minutes(40)), kind: .withdrawal))
        #expect(f.inNewSenders24h == 3 && f.inCount24h == 3 && abs(f.inSum24h - 3_000) < 1e-9)
        #expect(abs(f.passthroughRatio24h - 0.9) < 1e-9)
        #expect(abs(f.minutesSinceLastIn - 20) < 1e-9)
    }

    @Test("fan-in: distinct new senders to one payee, this one included")
    func fanIn() {
        var h = Harness()
        for i in 0..<4 { h.run(transfer(100, to: "user:collector", at: at(minutes(Int64(i))), customer: UserID("s\(i)"))) }
        h.run(transfer(100, to: "user:collector", at: at(minutes(5)), customer: UserID("s0")))  // not new again
        let f = h.features(transfer(100, to: "user:collector", at: at(minutes(6)), customer: UserID("s9")))
        #expect(f.payeeNewSenders24h == 5)
        #expect(f.payeeInCount24h == 5)
    }

    @Test("a top-up from a new rail, then most of it out: the top-up features")
    func topupFeatures() {
        var h = Harness()
        h.run(topup(1_000, rail: "card:new", at: at(0)))
        let f = h.features(transfer(800, to: "user:x", at: at(minutes(15))))
        #expect(f.lastTopupNewRail && abs(f.minutesSinceTopup - 15) < 1e-9 && abs(f.topupFraction - 0.8) < 1e-9)
        // After a day the rail is the customer's own: money back to it is going home.
        h.run(topup(500, rail: "card:new", at: at(days(2))))
        let home = h.features(transfer(1_200, to: "card:new", at: at(days(2) + 60), kind: .withdrawal))
        #expect(home.toOwnAccount && !home.newPayee && !home.lastTopupNewRail)
    }

    @Test("credential changes and account age come from the context; never is 1e9")
    func contextFeatures() {
        var h = Harness()
        #expect(h.features(transfer(1, at: at(0))).hoursSinceCredentialChange == riskNever)
        h.contexts[alice] = oldContext(passwordChanged: at(-hours(3)))
        let f = h.features(transfer(1, at: at(0)))
        #expect(abs(f.hoursSincePasswordChange - 3) < 1e-9 && f.hoursSinceCredentialChange == f.hoursSincePasswordChange)
        #expect(abs(f.accountAgeDays - 365) < 1e-9)
        #expect(abs(f.daysSinceLastOut - 365) < 1e-9, "never sent: as old as the account")
    }

    @Test("state survives encode and decode: the same decisions after a restart")
    func restartRecovery() throws {
        var h = Harness()
        h.history()
        for i in 0..<4 { h.run(transfer(30, to: "merchant:m\(i)", at: at(minutes(Int64(i))))) }
        h.run(login(at: at(minutes(5)), succeeded: false, source: "ip-9"))
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        var restored = h
        restored.state.customers = try decoder.decode([UserID: CustomerFeatures].self, from: encoder.encode(h.state.customers))
        restored.state.payees = try decoder.decode([String: PayeeFeatures].self, from: encoder.encode(h.state.payees))
        restored.state.sources = try decoder.decode([String: SourceFeatures].self, from: encoder.encode(h.state.sources))
        #expect(restored.state.customers == h.state.customers)
        let next = transfer(5_000, to: "merchant:m9", at: at(minutes(8)))
        #expect(h.run(next) == restored.run(next))
    }

    @Test("stored state of another shape is refused, not trapped on later")
    func foreignShapeRefused() throws {
        var json = String(decoding: try JSONEncoder().encode(CustomerFeatures()), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CustomerFeatures.self, from: Data(json.utf8)) }
        let payeeAsCustomer = try JSONEncoder().encode(PayeeFeatures())
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SourceFeatures.self, from: payeeAsCustomer) }
    }
}

@Suite("Binary form of the remembered state")
struct BinaryStateTests {
    /// Real states: a few days of simulated traffic replayed into memory.
    static let state: RiskState = {
        var state = RiskState()
        var configuration = SimulationConfiguration(customers: 60, days: 3, seed: 11)
        configuration.warmupDays = 5
        for item in RiskSimulator(configuration: configuration, ruleSet: RuleSet.bundledDefault()).history() {
            let inputs = state.take(for: item.event, context: item.context, payeeContext: item.payeeContext)
            state.put(inputs, after: item.event, action: item.recordedAction ?? .allow)
        }
        return state
    }()

    @Test("every customer, payee and source state reads back exactly as it was written, and smaller than its JSON")
    func roundTrip() throws {
        #expect(Self.state.customers.count > 50 && !Self.state.payees.isEmpty && !Self.state.sources.isEmpty)
        for features in Self.state.customers.values {
            let bytes = features.binary()
            #expect(try CustomerFeatures(binary: bytes) == features)
            #expect(bytes.count < (try JSONEncoder().encode(features)).count)
        }
        for features in Self.state.payees.values { #expect(try PayeeFeatures(binary: features.binary()) == features) }
        for features in Self.state.sources.values { #expect(try SourceFeatures(binary: features.binary()) == features) }
        #expect(try CustomerFeatures(binary: CustomerFeatures().binary()) == CustomerFeatures())
    }

    @Test("anything else is refused, never trapped on: JSON, another kind, truncation, trailing bytes, corrupt counts")
    func refused() throws {
        let features = try #require(Self.state.customers.values.first)
        let bytes = features.binary()
        #expect(throws: BinaryStateError.self) { try CustomerFeatures(binary: Array(try JSONEncoder().encode(features))) }
        #expect(throws: BinaryStateError.self) { try PayeeFeatures(binary: bytes) }
        #expect(throws: BinaryStateError.self) { try CustomerFeatures(binary: Array(bytes.dropLast(3))) }
        #expect(throws: BinaryStateError.self) { try CustomerFeatures(binary: bytes + [0]) }
        var newer = bytes
        newer[3] = 99
        #expect(throws: BinaryStateError.self) { try CustomerFeatures(binary: newer) }
        // Every single-byte corruption either reads as some state or is refused: none traps.
        for index in stride(from: 5, to: bytes.count, by: max(1, bytes.count / 200)) {
            var damaged = bytes
            damaged[index] ^= 0xFF
            _ = try? CustomerFeatures(binary: damaged)
        }
    }
}
