import Foundation
import LucidCore
@testable import LucidGateway
import Testing

/// What the gateway gained for the wallet's wiring (issue 5): rails that confirm at once, event ids a
/// restarted bank never reuses, and the clearing check in reconciliation.
@Suite("Gateway for the wallet")
struct WiringFeaturesTests {
    @Test("a rail that confirms top-ups at once answers settled (or failed) with one callback; withdrawals still wait")
    func confirmsAtOnce() async throws {
        let clock = ManualClock(start)
        let recorder = CallbackRecorder()
        let bank = SandboxBank(rails: [SandboxRailConfiguration(id: "bank-a", confirmsAtOnce: [.topUp])], seed: 1, clock: clock,
                               callbackSink: recorder.sink)
        let rail = bank.rail("bank-a")
        let settled = try await rail.submit(request("t-1"), timeout: .seconds(5))
        #expect(settled.status == .settled(at: start) && recorder.of("t-1").map(\.status.stateName) == ["settled"])
        let poor = try await rail.submit(request("t-2", account: MaskedBankAccount(bank: "ICBC", last4: "0001", holder: "*三")),
                                         timeout: .seconds(5))
        #expect(poor.status.stateName == "failed", "a failure found later on a slow rail is found at once on this one")
        let out = try await rail.submit(request("w-1", 100, .withdrawal), timeout: .seconds(5))
        #expect(out.status == .pending(expectedBy: start.adding(seconds: 5)))
        #expect(try await bank.bookedLines(for: SettlementDay(containing: start), on: "bank-a").map(\.reference) == ["t-1", "t-2"])
    }

    @Test("event ids carry the bank's start, so a restarted bank never repeats one")
    func eventIDs() async throws {
        let clock = ManualClock(start)
        let first = CallbackRecorder(), second = CallbackRecorder()
        let before = SandboxBank(rails: [SandboxRailConfiguration(id: "bank-a")], seed: 1, clock: clock, callbackSink: first.sink)
        _ = try await before.rail("bank-a").submit(request("a"), timeout: .seconds(5))
        clock.advance(seconds: 1)
        let after = SandboxBank(rails: [SandboxRailConfiguration(id: "bank-a")], seed: 1, clock: clock, callbackSink: second.sink)
        _ = try await after.rail("bank-a").submit(request("a"), timeout: .seconds(5))
        #expect(first.all.count == 1 && second.all.count == 1)
        #expect(first.all[0].eventID != second.all[0].eventID)
        #expect(first.all[0].eventID.hasPrefix("evt_bank-a_") && first.all[0].eventID.hasSuffix("_00000001"))
    }

    @Test("reconciliation compares what the rail moved with what the ledger posted, per currency")
    func clearingCheck() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let day = SettlementDay(containing: start)
        let path = folder.file("report.csv")
        let writer = try SettlementReportWriter(path: path)
        func line(_ reference: String, _ direction: RailDirection, _ amount: Int64, _ state: SettlementState = .settled) -> SettlementLine {
            SettlementLine(valueDate: day, rail: "bank-a", reference: RailReference(reference), direction: direction, amountMinorUnits: amount,
                           currency: .cny, finalState: state, settledAt: start, bankID: "B-\(reference)")
        }
        for entry in [line("t-1", .topUp, 1_000), line("t-2", .topUp, 500), line("w-1", .withdrawal, 300), line("w-2", .withdrawal, 50, .failed)] {
            try writer.write(entry)
        }
        try writer.finish()
        func record(_ reference: String, _ direction: RailDirection, _ amount: Int64, _ state: LedgerRailState) -> (record: LedgerRailRecord, day: SettlementDay) {
            (LedgerRailRecord(reference: RailReference(reference), rail: "bank-a", direction: direction, amount: Money(amount, .cny), state: state), day)
        }
        let agreeing = InMemoryReconciliationLedger([record("t-1", .topUp, 1_000, .posted), record("t-2", .topUp, 500, .posted),
                                                     record("w-1", .withdrawal, 300, .posted), record("w-2", .withdrawal, 50, .voided)])
        let clean = try await Reconciler(ledger: agreeing).reconcile(reportAt: path, rail: "bank-a", day: day)
        #expect(clean.isClean && clean.railNetMinorUnits == ["CNY": 1_200] && clean.ledgerNetMinorUnits == ["CNY": 1_200])
        #expect(clean.clearingDifferences.isEmpty)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(clean.json(includingExceptions: false))) as? [String: Any])
        #expect(((json["clearing"] as? [String: Any])?["CNY"] as? [String: Any])?["difference_minor"] as? Int == 0)
        // The ledger voided a top-up the rail settled: 500 the rail holds that no customer was credited.
        let missed = InMemoryReconciliationLedger([record("t-1", .topUp, 1_000, .posted), record("t-2", .topUp, 500, .voided),
                                                   record("w-1", .withdrawal, 300, .posted), record("w-2", .withdrawal, 50, .voided)])
        let report = try await Reconciler(ledger: missed).reconcile(reportAt: path, rail: "bank-a", day: day)
        #expect(!report.isClean && report.clearingDifferences == ["CNY": 500] && report.count(.stateMismatch) == 1)
    }
}
