import Foundation
import LucidCore
import LucidGateway
import Testing

@Suite("Sandbox bank")
struct SandboxBankTests {
    let timeout: Duration = .seconds(10)

    @Test("without faults a movement is pending, then settles after the delay with one callback each")
    func happyPath() async throws {
        let f = Fixture()
        let receipt = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(receipt.status == .pending(expectedBy: start.adding(seconds: 5)))
        #expect(!receipt.isReplay && receipt.bankID == "BANKA-00000001")
        #expect(f.recorder.all.map(\.status.stateName) == ["pending"])
        f.clock.advance(seconds: 4)
        #expect(await f.bank.settleDue() == 0)
        f.clock.advance(seconds: 1)
        #expect(await f.bank.settleDue() == 1)
        #expect(f.recorder.all.map(\.status) == [.pending(expectedBy: start.adding(seconds: 5)), .settled(at: start.adding(seconds: 5))])
        #expect(Set(f.recorder.all.map(\.eventID)).count == 2)
        let status = try await f.railA.status(of: "ref-1", timeout: timeout)
        #expect(status?.status == .settled(at: start.adding(seconds: 5)))
        #expect(try await f.railA.status(of: "never-sent", timeout: timeout) == nil)
    }

    @Test("the same reference twice is one movement at the bank; another movement under it is a conflict")
    func idempotentSubmit() async throws {
        let f = Fixture()
        let first = try await f.railA.submit(request("ref-1"), timeout: timeout)
        let again = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(again.isReplay && again.bankID == first.bankID && again.status == first.status)
        #expect(try await f.bank.book(of: "bank-a").count == 1)
        #expect(f.recorder.all.count == 1, "a replay sends no new callback")
        await f.settleAll()
        let late = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(late.isReplay && late.status == .settled(at: start.adding(seconds: 5)))
        await #expect(throws: RailCallError.referenceConflict("ref-1")) {
            try await f.railA.submit(request("ref-1", 99), timeout: timeout)
        }
        // The same reference on the other rail is another bank's business.
        #expect(try await f.railB.submit(request("ref-1"), timeout: timeout).isReplay == false)
    }

    @Test("latency: every call waits a draw of the distribution, the same draws for the same seed")
    func latency() async throws {
        func run() async throws -> [Duration] {
            let f = Fixture(seed: 11, faultsA: RailFaults(latency: LatencyDistribution(
                meanMilliseconds: 80, standardDeviationMilliseconds: 20, tailRate: 0.2, tailMilliseconds: 1_000)))
            for index in 0..<20 { _ = try await f.railA.submit(request("ref-\(index)"), timeout: timeout) }
            return f.sleeper.sleeps
        }
        let first = try await run()
        #expect(first.count == 20)
        #expect(first.allSatisfy { $0 >= .zero && $0 <= .seconds(2) })
        #expect(first.contains { $0 >= .seconds(1) }, "some calls land in the tail")
        #expect(first.contains { $0 < .milliseconds(200) })
        #expect(try await run() == first, "seeded: the same run twice")
    }

    @Test("timeout: the bank books the movement but the answer is lost; a retry gets the first receipt")
    func timeoutFault() async throws {
        let f = Fixture(faultsA: RailFaults(timeoutRate: 1))
        await #expect(throws: RailCallError.timedOut) { try await f.railA.submit(request("ref-1"), timeout: timeout) }
        #expect(f.sleeper.sleeps == [timeout], "the caller waited its whole timeout")
        #expect(try await f.bank.book(of: "bank-a").map(\.request.reference) == ["ref-1"])
        try await f.bank.configure("bank-a", faults: .none)
        let retry = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(retry.isReplay)
        #expect(try await f.bank.book(of: "bank-a").count == 1)
    }

    @Test("a tail latency beyond the caller's timeout is a timeout too")
    func slowTail() async throws {
        let f = Fixture(faultsA: RailFaults(latency: LatencyDistribution(tailRate: 1, tailMilliseconds: 20_000)))
        await #expect(throws: RailCallError.timedOut) { try await f.railA.submit(request("ref-1"), timeout: timeout) }
        #expect(f.sleeper.sleeps == [timeout])
    }

    @Test("failures: late reasons come by callback after pending, immediate ones in the submit answer")
    func failures() async throws {
        let f = Fixture(faultsA: RailFaults(failureRate: 1, failureReasons: [.accountClosed]),
                        faultsB: RailFaults(failureRate: 1, failureReasons: [.limitExceeded]))
        let late = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(late.status.stateName == "pending")
        await f.settleAll()
        #expect(f.recorder.of("ref-1").last?.status == .failed(reason: .accountClosed, message: "the bank account is closed"))
        let now = try await f.railB.submit(request("ref-2"), timeout: timeout)
        #expect(now.status == .failed(reason: .limitExceeded, message: "a limit at the bank is exceeded"))
        #expect(f.recorder.of("ref-2").map(\.status.stateName) == ["failed"])
    }

    @Test("a failure rate picks among the configured reasons")
    func failureMix() async throws {
        let f = Fixture(faultsA: RailFaults(failureRate: 0.5))
        for index in 0..<200 { _ = try await f.railA.submit(request("ref-\(index)"), timeout: timeout) }
        await f.settleAll()
        let statuses = try await f.bank.book(of: "bank-a").map(\.status)
        let failed = statuses.compactMap { status -> RailFailureReason? in
            if case .failed(let reason, _) = status { return reason }
            return nil
        }
        #expect((60...140).contains(failed.count))
        #expect(Set(failed) == Set(RailFailureReason.allCases))
        #expect(statuses.allSatisfy { $0.isFinal })
    }

    @Test("magic account numbers fail the same way whatever the rates", arguments: [
        ("0001", RailFailureReason.insufficientFundsAtBank), ("0002", .accountClosed), ("0003", .limitExceeded),
        ("0004", .bankMaintenance), ("0005", .rejected),
    ])
    func magicAccounts(last4: String, reason: RailFailureReason) async throws {
        let f = Fixture()
        let magic = MaskedBankAccount(bank: "ICBC", last4: last4, holder: "*三丰")
        _ = try await f.railA.submit(request("ref-1", account: magic), timeout: timeout)
        await f.settleAll()
        #expect(try await f.railA.status(of: "ref-1", timeout: timeout)?.status
            == .failed(reason: reason, message: reason.defaultMessage))
    }

    @Test("duplicate callbacks: every event twice with the same id; folding them changes nothing")
    func duplicateCallbacks() async throws {
        let f = Fixture(faultsA: RailFaults(duplicateCallbackRate: 1))
        _ = try await f.railA.submit(request("ref-1"), timeout: timeout)
        await f.settleAll()
        let events = f.recorder.all
        #expect(events.count == 4)
        #expect(events[0] == events[1] && events[2] == events[3])
        #expect(fold(events)["ref-1"] == .settled(at: start.adding(seconds: 5)))
    }

    @Test("out-of-order callbacks: pending arrives after settled and does not undo it")
    func outOfOrderCallbacks() async throws {
        let f = Fixture(faultsA: RailFaults(outOfOrderCallbackRate: 1))
        _ = try await f.railA.submit(request("ref-1"), timeout: timeout)
        #expect(f.recorder.all.isEmpty, "the pending callback is held back")
        await f.settleAll()
        #expect(f.recorder.all.map(\.status.stateName) == ["settled", "pending"])
        #expect(fold(f.recorder.all)["ref-1"] == .settled(at: start.adding(seconds: 5)))
    }

    @Test("lost callbacks: nothing arrives, the status query still tells the truth")
    func lostCallbacks() async throws {
        let f = Fixture(faultsA: RailFaults(lostCallbackRate: 1))
        _ = try await f.railA.submit(request("ref-1"), timeout: timeout)
        await f.settleAll()
        #expect(f.recorder.all.isEmpty)
        #expect(try await f.railA.status(of: "ref-1", timeout: timeout)?.status == .settled(at: start.adding(seconds: 5)))
    }

    @Test("outage: every call refused, nothing booked or settled until it ends")
    func outage() async throws {
        let f = Fixture()
        _ = try await f.railA.submit(request("ref-1"), timeout: timeout)
        try await f.bank.configure("bank-a", faults: RailFaults(outage: true))
        await #expect(throws: RailCallError.unavailable("bank-a is down")) {
            try await f.railA.submit(request("ref-2"), timeout: timeout)
        }
        await #expect(throws: RailCallError.self) { try await f.railA.status(of: "ref-1", timeout: timeout) }
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        await #expect(throws: RailCallError.self) {
            try await f.railA.downloadSettlementReport(for: SettlementDay(containing: start), to: folder.file("r.csv"), timeout: timeout)
        }
        await f.settleAll()
        #expect(try await f.bank.book(of: "bank-a").map(\.status.stateName) == ["pending"])
        #expect(try await f.railB.submit(request("ref-3"), timeout: timeout).isReplay == false, "the other rail works")
        try await f.bank.configure("bank-a", faults: .none)
        #expect(await f.bank.settleDue() == 1)
        #expect(try await f.bank.book(of: "bank-a").map(\.request.reference) == ["ref-1"])
    }

    @Test("faults are checked when set; an unknown rail is rail_not_found")
    func configuration() async throws {
        let f = Fixture()
        await #expect(throws: LucidError.invalidField("faults", "every rate must be between 0 and 1")) {
            try await f.bank.configure("bank-a", faults: RailFaults(timeoutRate: 1.5))
        }
        await #expect(throws: LucidError.self) {
            try await f.bank.configure("bank-a", faults: RailFaults(failureRate: 0.1, failureReasons: []))
        }
        await #expect(throws: LucidError(.railNotFound, ["rail": .text("bank-z")])) {
            try await f.bank.configure("bank-z", faults: .none)
        }
        await #expect(throws: RailCallError.invalidRequest("bank-b does not move USD")) {
            try await f.railB.submit(request("ref-1", currency: .usd), timeout: timeout)
        }
    }

    @Test("report faults, one at a time: each changes the report the way it says and is listed", arguments: [
        ReportFaults(amountOffRate: 1), ReportFaults(missingLineRate: 1), ReportFaults(extraLineRate: 1),
        ReportFaults(stateFlipRate: 1), ReportFaults(duplicateLineRate: 1),
    ])
    func reportFaults(faults: ReportFaults) async throws {
        let f = Fixture(faultsA: RailFaults(failureRate: 0.3, failureReasons: [.accountClosed], report: faults))
        for index in 0..<10 { _ = try await f.railA.submit(request("ref-\(index)", 10_000 + Int64(index)), timeout: timeout) }
        await f.settleAll()
        let day = SettlementDay(containing: start)
        let booked = try await f.bank.bookedLines(for: day, on: "bank-a")
        let (lines, injected) = try await f.bank.settlementReport(for: day, on: "bank-a")
        #expect(booked.count == 10 && injected.count == 10)
        if faults.amountOffRate == 1 {
            #expect(lines.count == 10 && zip(lines, booked).allSatisfy { $0.amountMinorUnits != $1.amountMinorUnits })
        } else if faults.missingLineRate == 1 {
            #expect(lines.isEmpty)
        } else if faults.extraLineRate == 1 {
            #expect(lines.count == 20 && Set(lines.map(\.reference)).count == 20)
        } else if faults.stateFlipRate == 1 {
            #expect(zip(lines, booked).allSatisfy { $0.finalState != $1.finalState })
        } else {
            #expect(lines.count == 20 && Set(lines.map(\.reference)) == Set(booked.map(\.reference)))
        }
        let again = try await f.bank.settlementReport(for: day, on: "bank-a")
        #expect(again.lines == lines && again.injected == injected, "the same report on every download")
    }

    @Test("a clean rail's report is exactly its book, written in the documented format")
    func cleanReport() async throws {
        let f = Fixture()
        for index in 0..<5 { _ = try await f.railA.submit(request("ref-\(index)", 100 + Int64(index), .withdrawal), timeout: timeout) }
        await f.settleAll()
        let day = SettlementDay(containing: start)
        let (lines, injected) = try await f.bank.settlementReport(for: day, on: "bank-a")
        let booked = try await f.bank.bookedLines(for: day, on: "bank-a")
        #expect(injected.isEmpty && lines == booked)
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let download = try await f.railA.downloadSettlementReport(for: day, to: folder.file("a.csv"), timeout: timeout)
        let text = try String(contentsOfFile: download.path, encoding: .utf8)
        #expect(text.hasPrefix(SettlementReportFormat.header + "\n"))
        #expect(text.contains("\n\(day),bank-a,ref-0,withdrawal,100,CNY,settled,\(start.adding(seconds: 5).rfc3339),BANKA-00000001\n"))
        #expect(download.bytes == Int64(text.utf8.count))
    }

    @Test("every fault at once, many movements through a resilient rail: one booking each, callbacks fold to the bank's truth")
    func combined() async throws {
        func run() async throws -> ([RailCallback], [SandboxBank.BookEntry]) {
            let faults = RailFaults(latency: .typical, timeoutRate: 0.2, failureRate: 0.2, duplicateCallbackRate: 0.3,
                                    outOfOrderCallbackRate: 0.3, lostCallbackRate: 0.2,
                                    report: ReportFaults(amountOffRate: 0.1, missingLineRate: 0.1, extraLineRate: 0.1,
                                                         stateFlipRate: 0.1, duplicateLineRate: 0.1))
            let f = Fixture(seed: 99, faultsA: faults)
            let rail = f.resilient(f.railA, policy: ResiliencePolicy(
                callTimeout: .seconds(30), attemptsMax: 8, backoffBase: .milliseconds(100), backoffMax: .seconds(1),
                deadlineGrace: .seconds(5), breaker: .init(failureThreshold: 1_000)))
            for index in 0..<150 {
                do {
                    _ = try await rail.submit(request("ref-\(index)", 1_000 + Int64(index)))
                } catch let error as LucidError {
                    #expect(error.code == .gatewayTimeout)  // outcome unknown: the status query settles it below
                }
            }
            await f.settleAll(afterSeconds: 600)
            return (f.recorder.all, try await f.bank.book(of: "bank-a"))
        }
        let (callbacks, book) = try await run()
        #expect(book.count == 150, "every reference booked exactly once despite timeouts and retries")
        #expect(book.allSatisfy { $0.status.isFinal })
        let folded = fold(callbacks)
        var unknown = 0
        for entry in book {
            guard let seen = folded[entry.request.reference] else { unknown += 1; continue }
            if seen.isFinal { #expect(seen == entry.status) } else { unknown += 1 }
        }
        #expect(unknown > 0, "some final callbacks were lost: the sweeper's status query is needed")
        #expect(callbacks.count > book.count, "duplicates arrived")
        let (again, _) = try await run()
        #expect(again == callbacks, "seeded: the same run twice")
    }
}
