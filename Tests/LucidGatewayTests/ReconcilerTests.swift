import Foundation
import LucidCore
@testable import LucidGateway
import Testing

@Suite("Reconciliation")
struct ReconcilerTests {
    let day = SettlementDay(containing: start)

    /// Runs `count` movements through the sandbox (some fail), settles them, and builds the
    /// ledger a correct service would hold: posted for settled, voided for failed.
    func scenario(count: Int, report: ReportFaults, seed: UInt64 = 5)
        async throws -> (f: Fixture, ledger: [(record: LedgerRailRecord, day: SettlementDay)]) {
        let f = Fixture(seed: seed, faultsA: RailFaults(failureRate: 0.2, failureReasons: [.accountClosed, .insufficientFundsAtBank],
                                                        report: report))
        for index in 0..<count {
            _ = try await f.railA.submit(request("ref-\(index)", 500 + Int64(index), index % 3 == 0 ? .withdrawal : .topUp),
                                         timeout: .seconds(10))
        }
        await f.settleAll()
        let ledger = try await f.bank.book(of: "bank-a").map { entry -> (record: LedgerRailRecord, day: SettlementDay) in
            let state: LedgerRailState = entry.status.stateName == "settled" ? .posted : .voided
            return (LedgerRailRecord(reference: entry.request.reference, rail: "bank-a", direction: entry.request.direction,
                                     amount: entry.request.amount, state: state), day)
        }
        return (f, ledger)
    }

    func reconcile(_ f: Fixture, _ ledger: [(record: LedgerRailRecord, day: SettlementDay)], folder: TemporaryFolder)
        async throws -> ReconciliationReport {
        let path = folder.file("bank-a-\(day).csv")
        _ = try await f.railA.downloadSettlementReport(for: day, to: path, timeout: .seconds(10))
        return try await Reconciler(ledger: InMemoryReconciliationLedger(ledger)).reconcile(reportAt: path, rail: "bank-a", day: day)
    }

    /// What reconciliation must find for what the sandbox injected (amount beats state on the same line).
    func expected(_ injected: [SandboxBank.InjectedReportFault]) -> Set<String> {
        var out = Set<String>()
        let amountOff = Set(injected.compactMap { if case .amountOff(let r, _) = $0 { return r } else { return nil } })
        for fault in injected {
            switch fault {
            case .amountOff(let reference, _): out.insert("amount_mismatch \(reference)")
            case .missingLine(let reference): out.insert("missing_at_rail \(reference)")
            case .extraLine(let reference): out.insert("missing_in_ledger \(reference)")
            case .stateFlipped(let reference) where !amountOff.contains(reference): out.insert("state_mismatch \(reference)")
            case .stateFlipped: break
            case .duplicateLine(let reference): out.insert("duplicate \(reference)")
            }
        }
        return out
    }

    func found(_ report: ReconciliationReport) -> Set<String> {
        Set(report.exceptions.map { "\($0.kind.rawValue) \($0.reference)" })
    }

    @Test("a clean day: every line matched, nothing else")
    func cleanDay() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, ledger) = try await scenario(count: 60, report: .none)
        let report = try await reconcile(f, ledger, folder: folder)
        #expect(report.isClean && report.exceptions.isEmpty && report.malformedCount == 0)
        #expect(report.count(.matched) == 60 && report.linesRead == 60)
        let topUps = ledger.filter { $0.record.direction == .topUp }
        #expect(report.tally(.matched, .topUp).count == topUps.count)
        #expect(report.tally(.matched, .topUp).amountsMinorUnits["CNY"] == topUps.reduce(0) { $0 + $1.record.amount.minorUnits })
    }

    @Test("each seeded discrepancy alone is found, and nothing else", arguments: [
        ReportFaults(amountOffRate: 0.2), ReportFaults(missingLineRate: 0.2), ReportFaults(extraLineRate: 0.2),
        ReportFaults(stateFlipRate: 0.2), ReportFaults(duplicateLineRate: 0.2),
    ])
    func eachDiscrepancy(faults: ReportFaults) async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, ledger) = try await scenario(count: 80, report: faults)
        let injected = try await f.bank.settlementReport(for: day, on: "bank-a").injected
        #expect(!injected.isEmpty)
        let report = try await reconcile(f, ledger, folder: folder)
        #expect(found(report) == expected(injected))
        #expect(report.exceptionCount == injected.count)
        #expect(report.count(.matched) == 80 - injected.count + report.count(.duplicate) + report.count(.missingInLedger))
    }

    @Test("all discrepancies combined are found, each under its class")
    func combined() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let faults = ReportFaults(amountOffRate: 0.1, missingLineRate: 0.1, extraLineRate: 0.1, stateFlipRate: 0.1,
                                  duplicateLineRate: 0.1)
        let (f, ledger) = try await scenario(count: 300, report: faults, seed: 8)
        let injected = try await f.bank.settlementReport(for: day, on: "bank-a").injected
        let report = try await reconcile(f, ledger, folder: folder)
        #expect(found(report) == expected(injected))
        for kind in ReconciliationClass.allCases where kind != .matched { #expect(report.count(kind) > 0, "\(kind)") }
    }

    @Test("the ledger's own gaps: a missed callback, a posting the bank never made, items still in flight")
    func ledgerSide() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, ledger) = try await scenario(count: 10, report: .none)
        var changed = ledger
        // ref-1: the settled callback never came, the ledger still holds it pending.
        let one = changed.firstIndex { $0.record.reference == "ref-1" }!
        let r1 = changed[one].record
        changed[one].record = LedgerRailRecord(reference: r1.reference, rail: r1.rail, direction: r1.direction, amount: r1.amount,
                                               state: .pending)
        // ref-2 is booked in the ledger on bank-b.
        let two = changed.firstIndex { $0.record.reference == "ref-2" }!
        let r2 = changed[two].record
        changed[two].record = LedgerRailRecord(reference: r2.reference, rail: "bank-b", direction: r2.direction, amount: r2.amount,
                                               state: r2.state)
        // A posting the bank knows nothing of, and an item still in flight.
        changed.append((LedgerRailRecord(reference: "ghost-1", rail: "bank-a", direction: .withdrawal, amount: Money(777, .cny),
                                         state: .posted), day))
        changed.append((LedgerRailRecord(reference: "later-1", rail: "bank-a", direction: .topUp, amount: Money(5, .cny),
                                         state: .pending), day))
        let report = try await reconcile(f, changed, folder: folder)
        let r1Status = try await f.bank.book(of: "bank-a").first { $0.request.reference == "ref-1" }!.status
        #expect(r1Status.stateName == "settled" || r1Status.stateName == "failed")
        #expect(found(report) == ["state_mismatch ref-1", "missing_in_ledger ref-2", "missing_at_rail ghost-1"])
        #expect(report.ledgerInFlight == 1)
        let missing = report.exceptions.first { $0.kind == .missingAtRail }!
        #expect(missing.ledgerAmountMinorUnits == 777 && missing.lineNumber == nil && missing.direction == .withdrawal)
        #expect(report.tally(.missingAtRail, .withdrawal) == ReconciliationTally(count: 1, amountsMinorUnits: ["CNY": 777]))
    }

    @Test("malformed, foreign and misdated lines are listed with their numbers and do not stop the run")
    func malformedLines() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, ledger) = try await scenario(count: 3, report: .none)
        let lines = try await f.bank.bookedLines(for: day, on: "bank-a")
        var other = lines[0]
        other.rail = "bank-b"
        other.reference = "ref-x"
        var misdated = lines[0]
        misdated.valueDate = day.adding(days: -1)
        misdated.reference = "ref-y"
        let text = ([SettlementReportFormat.header] + lines.map(SettlementReportFormat.render)
            + ["this is not a line", SettlementReportFormat.render(other), SettlementReportFormat.render(misdated)])
            .joined(separator: "\n") + "\n"
        let path = try folder.write("m.csv", text)
        let report = try await Reconciler(ledger: InMemoryReconciliationLedger(ledger)).reconcile(reportAt: path, rail: "bank-a", day: day)
        #expect(report.count(.matched) == 3)
        #expect(report.malformedLines.map(\.lineNumber) == [5, 6, 7])
        #expect(report.malformedLines[1].reason == "rail: the line is for bank-b, the report for bank-a")
        #expect(!report.isClean && report.exceptionCount == 0)
    }

    @Test("JSON and CSV renderings carry the totals, every exception and the malformed lines")
    func renderings() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, ledger) = try await scenario(count: 30, report: ReportFaults(amountOffRate: 0.2, duplicateLineRate: 0.1))
        let report = try await reconcile(f, ledger, folder: folder)
        let object = try JSONSerialization.jsonObject(with: Data(report.json())) as! [String: Any]
        #expect(object["rail"] as? String == "bank-a" && object["day"] as? String == day.description)
        #expect(object["clean"] as? Bool == false)
        #expect((object["exceptions"] as? [[String: Any]])?.count == report.exceptions.count)
        let totals = object["totals"] as! [String: [String: [String: Any]]]
        #expect(Set(totals.keys) == Set(ReconciliationClass.allCases.map(\.rawValue)))
        #expect(totals["matched"]?["topup"]?["count"] as? Int == report.tally(.matched, .topUp).count)
        let first = (object["exceptions"] as! [[String: Any]])[0]
        #expect(first["class"] != nil && first["line_number"] != nil && first["rail_amount_minor"] != nil)
        let csv = report.csv().split(separator: "\r\n")
        #expect(csv.first.map(String.init) == ReconciliationReport.csvHeader)
        #expect(csv.count == 1 + report.exceptions.count)
        #expect(csv.dropFirst().allSatisfy { $0.hasPrefix("amount_mismatch,") || $0.hasPrefix("duplicate,") })
    }

    @Test("the exception list is capped; the totals still count everything")
    func cap() async throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let (f, _) = try await scenario(count: 20, report: .none)
        let path = folder.file("r.csv")
        _ = try await f.railA.downloadSettlementReport(for: day, to: path, timeout: .seconds(10))
        let report = try await Reconciler(ledger: InMemoryReconciliationLedger([]), exceptionsListedMax: 5)
            .reconcile(reportAt: path, rail: "bank-a", day: day)
        #expect(report.count(.missingInLedger) == 20 && report.exceptions.count == 5 && report.exceptionsOmitted == 15)
    }

    @Test("the fingerprint set: inserts, finds, refuses repeats and grows")
    func referenceSet() {
        var set = ReferenceSet(capacity: 4)
        var fresh = 0
        for index in 0..<10_000 where set.insert("ref-\(index)") { fresh += 1 }
        #expect(fresh == 10_000)
        let again = set.insert("ref-42")
        #expect(!again)
        #expect(set.contains("ref-9999") && !set.contains("ref-10000"))
        #expect(set.count == 10_000)
    }
}
