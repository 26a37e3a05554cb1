import LucidCore
import LucidGateway
import Synchronization
import Testing

/// A rail that answers from a script and remembers every call.
final class ScriptedRail: PaymentRail, Sendable {
    let id: RailID
    private let script: Mutex<[RailCallError?]>
    private let calls = Mutex<[(RailReference, Duration)]>([])
    private let fallback: RailCallError?

    /// `script` is consumed one entry per call (nil: success); afterwards `fallback` applies.
    init(_ id: RailID, script: [RailCallError?] = [], fallback: RailCallError? = nil) {
        self.id = id
        self.script = Mutex(script)
        self.fallback = fallback
    }

    var references: [RailReference] { calls.withLock { $0.map(\.0) } }
    var timeouts: [Duration] { calls.withLock { $0.map(\.1) } }

    private func next(_ reference: RailReference, _ timeout: Duration) throws {
        calls.withLock { $0.append((reference, timeout)) }
        let outcome = script.withLock { $0.isEmpty ? fallback : $0.removeFirst() }
        if let outcome { throw outcome }
    }

    func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        try next(request.reference, timeout)
        return RailReceipt(rail: id, reference: request.reference, bankID: "B1", status: .pending(expectedBy: start),
                           acceptedAt: start, isReplay: false)
    }

    func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? {
        try next(reference, timeout)
        return nil
    }

    func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        try next("report", timeout)
        return SettlementReportDownload(rail: id, day: day, path: path, bytes: 0)
    }
}

/// Forwards to a real rail, then loses the answer of the first `lose` calls: the bank acted, the caller never heard.
final class AnswerLosingRail: PaymentRail, Sendable {
    let inner: any PaymentRail
    let lost: Mutex<Int>
    var id: RailID { inner.id }

    init(_ inner: any PaymentRail, lose: Int) {
        self.inner = inner
        lost = Mutex(lose)
    }

    func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        let receipt = try await inner.submit(request, timeout: timeout)
        if lost.withLock({ value -> Bool in defer { value -= 1 }; return value > 0 }) { throw RailCallError.timedOut }
        return receipt
    }

    func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? {
        try await inner.status(of: reference, timeout: timeout)
    }

    func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        try await inner.downloadSettlementReport(for: day, to: path, timeout: timeout)
    }
}

/// A rail that throws the given errors in turn, then succeeds.
final class ThrowingRail: PaymentRail, Sendable {
    let id: RailID = "bank-a"
    private let errors: Mutex<[any Error]>
    private let count = Mutex(0)
    init(_ errors: [any Error]) { self.errors = Mutex(errors) }
    var calls: Int { count.withLock { $0 } }

    func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        count.withLock { $0 += 1 }
        if let error = errors.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw error }
        return RailReceipt(rail: id, reference: request.reference, bankID: "B", status: .pending(expectedBy: start),
                           acceptedAt: start, isReplay: false)
    }
    func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? { nil }
    func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload { throw RailCallError.timedOut }
}

/// A rail that ignores the timeout it is given and never answers.
struct HangingRail: PaymentRail {
    let id: RailID = "bank-h"
    func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        try await Task.sleep(for: .seconds(3_600))
        throw RailCallError.timedOut
    }
    func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? { nil }
    func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload { throw RailCallError.timedOut }
}

@Suite("Resilience")
struct ResilienceTests {
    @Test("retries reuse the reference, wait with bounded jittered backoff, and stop at the bound")
    func retriesStopAtBound() async throws {
        let f = Fixture()
        let scripted = ScriptedRail("bank-a", fallback: .timedOut)
        let rail = f.resilient(scripted, policy: ResiliencePolicy(
            callTimeout: .seconds(3), attemptsMax: 5, backoffBase: .milliseconds(200), backoffMax: .milliseconds(1_000),
            deadlineGrace: .seconds(5), breaker: .init(failureThreshold: 100)))
        await #expect(throws: LucidError.self) { try await rail.submit(request("ref-1")) }
        do { _ = try await rail.submit(request("ref-2")) } catch let error as LucidError {
            #expect(error.code == .gatewayTimeout && error.params["rail"] == .text("bank-a"))
        }
        #expect(scripted.references == Array(repeating: "ref-1", count: 5) + Array(repeating: "ref-2", count: 5))
        #expect(scripted.timeouts.allSatisfy { $0 == .seconds(3) })
        let sleeps = f.sleeper.sleeps
        #expect(sleeps.count == 8, "four waits between five attempts, twice")
        let bounds: [Duration] = [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_000)]
        for (index, sleep) in sleeps.enumerated() { #expect(sleep >= .zero && sleep <= bounds[index % 4]) }
        #expect(Set(sleeps).count > 4, "full jitter: the waits differ")
        // Same seed, same waits.
        let g = Fixture()
        let again = g.resilient(ScriptedRail("bank-a", fallback: .timedOut), policy: rail.policy)
        for reference in ["ref-1", "ref-2"] { _ = try? await again.submit(request(reference)) }
        #expect(g.sleeper.sleeps == sleeps)
    }

    @Test("a refused call is retried; refused every time it is gateway_unavailable: nothing was booked")
    func refusedEveryTime() async throws {
        let f = Fixture()
        let scripted = ScriptedRail("bank-a", fallback: .unavailable("down"))
        let rail = f.resilient(scripted, policy: ResiliencePolicy(attemptsMax: 3, deadlineGrace: nil,
                                                                  breaker: .init(failureThreshold: 100)))
        do {
            _ = try await rail.submit(request("ref-1"))
            Issue.record("expected a failure")
        } catch let error as LucidError {
            #expect(error.code == .gatewayUnavailable)
        }
        #expect(scripted.references.count == 3)
        let recovering = ScriptedRail("bank-a", script: [.unavailable("down"), .connectionLost("reset"), nil])
        let receipt = try await f.resilient(recovering).submit(request("ref-2"))
        #expect(receipt.reference == "ref-2" && recovering.references == ["ref-2", "ref-2", "ref-2"])
    }

    @Test("a timeout after the bank booked: the retry with the same reference gets the first booking, nothing twice")
    func retryAfterLostAnswer() async throws {
        let f = Fixture()
        let rail = f.resilient(AnswerLosingRail(f.railA, lose: 2))
        let receipt = try await rail.submit(request("ref-1"))
        #expect(receipt.isReplay, "the bank had it from the first attempt")
        #expect(try await f.bank.book(of: "bank-a").count == 1)
        #expect(f.sleeper.sleeps.count == 2)
    }

    @Test("a conflict is not retried and is an internal error")
    func noRetryOnConflict() async throws {
        let f = Fixture()
        let scripted = ScriptedRail("bank-a", fallback: .referenceConflict("ref-1"))
        do {
            _ = try await f.resilient(scripted).submit(request("ref-1"))
        } catch let error as LucidError {
            #expect(error.code == .internalError)
        }
        #expect(scripted.references.count == 1 && f.sleeper.sleeps.isEmpty)
    }

    @Test("the breaker opens after N failures, fails fast without calling the rail, half-opens, and closes on a good probe")
    func breakerLifecycle() async throws {
        let f = Fixture()
        let scripted = ScriptedRail("bank-a", script: [.timedOut, .unavailable("x"), .timedOut, .timedOut, nil, nil])
        let rail = f.resilient(scripted, policy: ResiliencePolicy(
            callTimeout: .seconds(2), attemptsMax: 1, deadlineGrace: nil,
            breaker: .init(failureThreshold: 3, windowSeconds: 60, openSeconds: 30)))
        #expect(rail.health == .operational)
        _ = try? await rail.submit(request("r1"))
        #expect(rail.health == .degraded, "a recent failure")
        _ = try? await rail.submit(request("r2"))
        _ = try? await rail.submit(request("r3"))
        #expect(rail.health == .outage)
        do {
            _ = try await rail.submit(request("r4"))
        } catch let error as LucidError {
            #expect(error.code == .gatewayUnavailable)
            #expect(error.params["retry_after_seconds"] == .int(30))
        }
        #expect(scripted.references.count == 3, "fail fast: the rail was not called")
        f.clock.advance(seconds: 30)
        #expect(rail.health == .degraded, "ready to probe")
        _ = try? await rail.submit(request("r5"))  // the probe fails
        #expect(rail.health == .outage)
        #expect(scripted.references.count == 4)
        f.clock.advance(seconds: 30)
        _ = try await rail.submit(request("r6"))  // the probe succeeds
        #expect(rail.breakerState == .closed)
        #expect(rail.health == .operational)
        _ = try await rail.submit(request("r7"))
        #expect(scripted.references.count == 6)
    }

    @Test("a probe that fails on our side (not the rail's) is given back: the next call probes again")
    func probeGivenBack() async throws {
        let f = Fixture()
        let rail = f.resilient(ThrowingRail([RailCallError.timedOut, FileError.cannotWrite(28)]), policy: ResiliencePolicy(
            attemptsMax: 1, deadlineGrace: nil, breaker: .init(failureThreshold: 1, windowSeconds: 60, openSeconds: 30)))
        _ = try? await rail.submit(request("r1"))
        #expect(rail.health == .outage)
        f.clock.advance(seconds: 30)
        await #expect(throws: FileError.cannotWrite(28)) { try await rail.submit(request("r2")) }
        _ = try await rail.submit(request("r3"))
        #expect(rail.breakerState == .closed)
    }

    @Test("breaker as a value: old failures fall out of the window; one probe at a time")
    func breakerValue() {
        var breaker = CircuitBreaker(configuration: .init(failureThreshold: 2, windowSeconds: 10, openSeconds: 5))
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start.adding(seconds: 11))
        #expect(breaker.state == .closed, "the first failure left the window")
        #expect(breaker.health(now: start.adding(seconds: 30)) == .operational)
        breaker.recordFailure(now: start.adding(seconds: 12))
        #expect(breaker.state == .open(until: start.adding(seconds: 17)))
        #expect(breaker.admit(now: start.adding(seconds: 16)) == .rejected(retryAt: start.adding(seconds: 17)))
        #expect(breaker.admit(now: start.adding(seconds: 17)) == .probe)
        #expect(breaker.admit(now: start.adding(seconds: 17)) == .rejected(retryAt: start.adding(seconds: 18)))
        breaker.abandonProbe()
        #expect(breaker.admit(now: start.adding(seconds: 18)) == .probe)
        breaker.recordSuccess(now: start.adding(seconds: 18))
        #expect(breaker.state == .closed && breaker.recentFailures.isEmpty)
        #expect(breaker.admit(now: start.adding(seconds: 18)) == .allowed)
    }

    @Test("a refused request counts against the rail; a conflict does not")
    func whatCounts() {
        #expect(RailCallError.timedOut.countsAgainstRail && RailCallError.timedOut.outcomeUnknown)
        #expect(RailCallError.unavailable("x").countsAgainstRail && !RailCallError.unavailable("x").outcomeUnknown)
        #expect(!RailCallError.referenceConflict("r").countsAgainstRail && !RailCallError.referenceConflict("r").isRetryable)
        #expect(RailCallError.connectionLost("x").outcomeUnknown)
    }

    @Test("the directory names an operational alternative when a rail is down, and none when none is up")
    func directoryAlternative() async throws {
        let f = Fixture()
        let policy = ResiliencePolicy(callTimeout: .seconds(2), attemptsMax: 1, deadlineGrace: nil,
                                      breaker: .init(failureThreshold: 1, windowSeconds: 60, openSeconds: 30))
        let a = f.resilient(f.railA, policy: policy)
        let b = f.resilient(f.railB, policy: policy)
        let directory = RailDirectory([
            .init(descriptor: RailDescriptor(id: "bank-a", currencies: [.cny, .usd]), rail: a),
            .init(descriptor: RailDescriptor(id: "bank-b", currencies: [.cny]), rail: b),
        ])
        #expect(directory.operationalRail(for: .cny, direction: .topUp) == "bank-a")
        try await f.bank.configure("bank-a", faults: RailFaults(outage: true))
        do {
            _ = try await directory.submit(request("ref-1"), via: "bank-a")
        } catch let error as LucidError {
            #expect(error.code == .gatewayUnavailable)
            #expect(error.params["alternative_rail"] == .text("bank-b"))
        }
        #expect(try directory.health(of: "bank-a") == .outage)
        // Now fails fast, still naming bank-b.
        do {
            _ = try await directory.submit(request("ref-2"), via: "bank-a")
        } catch let error as LucidError {
            #expect(error.params["alternative_rail"] == .text("bank-b") && error.params["retry_after_seconds"] != nil)
        }
        #expect(directory.operationalRail(for: .cny, direction: .withdrawal) == "bank-b")
        #expect(directory.operationalRail(for: .usd, direction: .topUp) == nil, "only bank-a moves USD")
        #expect(directory.rails(for: .cny, direction: .topUp) == ["bank-b", "bank-a"])
        do {
            _ = try await directory.submit(request("ref-3", currency: .usd), via: "bank-a")
        } catch let error as LucidError {
            #expect(error.code == .gatewayUnavailable && error.params["alternative_rail"] == nil)
        }
        #expect(try await directory.submit(request("ref-4"), via: "bank-b").rail == "bank-b")
        #expect(throws: LucidError(.railNotFound, ["rail": .text("bank-z")])) { try directory.rail("bank-z") }
        await #expect(throws: LucidError.self) { try await directory.submit(request("ref-5", currency: .usd), via: "bank-b") }
        #expect(directory.overview().map(\.health) == [.outage, .operational])
    }

    @Test("a rail that ignores its timeout is cut off by the real-time deadline")
    func deadlineBackstop() async throws {
        let rail = ResilientRail(HangingRail(), policy: ResiliencePolicy(
            callTimeout: .milliseconds(20), attemptsMax: 1, deadlineGrace: .milliseconds(20)), clock: ManualClock(start), logger: quietLogger)
        do {
            _ = try await rail.submit(request("ref-1"))
            Issue.record("expected a timeout")
        } catch let error as LucidError {
            #expect(error.code == .gatewayTimeout)
        }
    }
}
