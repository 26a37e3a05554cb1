import Logging
import LucidCore
import Synchronization

/// How hard `ResilientRail` tries, and when it gives up.
public struct ResiliencePolicy: Sendable, Hashable {
    /// Time one submit or status call may take.
    public var callTimeout: Duration
    /// Time one report download may take.
    public var reportTimeout: Duration
    /// Attempts per call, the first included (1 disables retries); at most `GatewayLimits.attemptsMax`.
    public var attemptsMax: Int
    /// The first backoff's upper bound; it doubles per retry up to `backoffMax` (full jitter:
    /// each wait is uniform between zero and the bound).
    public var backoffBase: Duration
    public var backoffMax: Duration
    /// A rail that ignores its timeout is cut off this long after it; `nil` trusts the rail.
    /// This safety net runs on real time, whatever sleeper the policy is given.
    public var deadlineGrace: Duration?
    public var breaker: CircuitBreaker.Configuration

    public init(callTimeout: Duration = .seconds(5), reportTimeout: Duration = .seconds(300), attemptsMax: Int = 4,
                backoffBase: Duration = .milliseconds(200), backoffMax: Duration = .seconds(5),
                deadlineGrace: Duration? = .seconds(1), breaker: CircuitBreaker.Configuration = .init()) {
        precondition((1...GatewayLimits.attemptsMax).contains(attemptsMax), "attemptsMax out of range")
        precondition(callTimeout > .zero && reportTimeout > .zero && backoffBase >= .zero && backoffMax >= backoffBase,
                     "resilience durations out of range")
        self.callTimeout = callTimeout
        self.reportTimeout = reportTimeout
        self.attemptsMax = attemptsMax
        self.backoffBase = backoffBase
        self.backoffMax = backoffMax
        self.deadlineGrace = deadlineGrace
        self.breaker = breaker
    }
}

/// Wraps any `PaymentRail` with a timeout on every call, bounded retries with
/// exponential backoff and full jitter (always the same reference, so nothing is
/// paid twice), and a circuit breaker whose state is the rail's health.
///
/// Errors are `LucidError`s the service can pass on:
/// - `gateway_unavailable` (503): the breaker is open, or every attempt was refused.
///   Nothing was booked at the rail: a held withdrawal can be voided.
/// - `gateway_timeout` (504): attempts ran out and at least one may have reached the
///   rail. The outcome is unknown: keep the item pending and ask `status(of:)` later.
/// - `internal_error`: the rail refused the request itself (a reference reused for
///   another movement, a malformed request): a bug, never retried.
public final class ResilientRail: PaymentRail, Sendable {
    public let id: RailID
    public let policy: ResiliencePolicy
    private let rail: any PaymentRail
    private let clock: any WallClock
    private let sleeper: any GatewaySleeper
    private let logger: Logger

    private struct State: ~Copyable {
        var breaker: CircuitBreaker
        var random: any RandomNumberGenerator & Sendable
        var backoffs: Int64 = 0
    }
    private let state: Mutex<State>

    /// - Parameters:
    ///   - sleeper: waits between retries (a `VirtualSleeper` in tests).
    ///   - random: jitter source; seed it in tests for a repeatable sequence.
    public init(_ rail: any PaymentRail, policy: ResiliencePolicy = ResiliencePolicy(), clock: any WallClock,
                sleeper: any GatewaySleeper = TaskSleeper(),
                random: some RandomNumberGenerator & Sendable = SeededRandom(seed: UInt64.random(in: .min ... .max)),
                logger: Logger = Logger(label: "lucid.gateway")) {
        self.id = rail.id
        self.rail = rail
        self.policy = policy
        self.clock = clock
        self.sleeper = sleeper
        self.logger = logger
        state = Mutex(State(breaker: CircuitBreaker(configuration: policy.breaker), random: random))
    }

    /// The rail's health as its circuit breaker sees it now.
    public var health: RailHealth {
        let now = clock.now()
        return state.withLock { $0.breaker.health(now: now) }
    }

    public var breakerState: CircuitBreaker.State { state.withLock { $0.breaker.state } }

    // MARK: PaymentRail

    /// Submits with the policy's call timeout.
    public func submit(_ request: RailRequest) async throws -> RailReceipt {
        try await submit(request, timeout: policy.callTimeout)
    }

    /// Submits; `timeout` bounds each attempt.
    public func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        let rail = self.rail
        return try await perform("submit", reference: request.reference, timeout: timeout) { limit in
            try await rail.submit(request, timeout: limit)
        }
    }

    public func status(of reference: RailReference) async throws -> RailReceipt? {
        try await status(of: reference, timeout: policy.callTimeout)
    }

    public func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? {
        let rail = self.rail
        return try await perform("status", reference: reference, timeout: timeout) { limit in
            try await rail.status(of: reference, timeout: limit)
        }
    }

    public func downloadSettlementReport(for day: SettlementDay, to path: String) async throws -> SettlementReportDownload {
        try await downloadSettlementReport(for: day, to: path, timeout: policy.reportTimeout)
    }

    public func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        let rail = self.rail
        return try await perform("report", reference: nil, timeout: timeout) { limit in
            try await rail.downloadSettlementReport(for: day, to: path, timeout: limit)
        }
    }

    // MARK: The loop

    private func perform<T: Sendable>(
        _ operation: String, reference: RailReference?, timeout: Duration,
        _ call: @escaping @Sendable (Duration) async throws -> T
    ) async throws -> T {
        var lastError: RailCallError?
        var outcomeUnknown = false
        var metadata: Logger.Metadata = ["rail": "\(id)", "operation": "\(operation)"]
        if let reference { metadata["reference"] = "\(reference)" }
        for attempt in 1...policy.attemptsMax {
            let now = clock.now()
            let admission = state.withLock { $0.breaker.admit(now: now) }
            if case .rejected(let retryAt) = admission {
                if outcomeUnknown, let lastError { throw timedOut(attempts: attempt - 1, last: lastError) }
                let seconds = max(1, (retryAt.millisecondsSinceEpoch - now.millisecondsSinceEpoch + 999) / 1000)
                throw LucidError(.gatewayUnavailable, ["rail": .text(id.rawValue), "retry_after_seconds": .int(seconds)],
                                 cause: "circuit breaker open for \(id)" + (lastError.map { "; last error: \($0)" } ?? ""))
            }
            do {
                let value = try await Deadline.run(limit: policy.deadlineGrace.map { timeout + $0 }) {
                    try await call(timeout)
                }
                let done = clock.now()
                state.withLock { $0.breaker.recordSuccess(now: done) }
                if attempt > 1 { logger.notice("rail call succeeded after retries", metadata: metadata.merging(["attempt": "\(attempt)"]) { $1 }) }
                return value
            } catch let error as RailCallError {
                let done = clock.now()
                state.withLock {
                    if error.countsAgainstRail { $0.breaker.recordFailure(now: done) } else { $0.breaker.recordSuccess(now: done) }
                }
                guard error.isRetryable else {
                    throw LucidError(.internalError, [:], cause: "rail \(id) refused \(operation): \(error)")
                }
                lastError = error
                if error.outcomeUnknown { outcomeUnknown = true }
                logger.warning("rail call failed", metadata: metadata.merging([
                    "attempt": "\(attempt)", "error": "\(error)",
                ]) { $1 })
                if attempt < policy.attemptsMax {
                    try await sleeper.sleep(for: backoff(afterAttempt: attempt))
                }
            } catch {
                // Cancelled, or failed on our side (e.g. the local disk): says nothing about the
                // rail, but a probe must not stay out forever.
                state.withLock { $0.breaker.abandonProbe() }
                throw error
            }
        }
        guard let lastError else { preconditionFailure("the loop runs at least once") }
        if outcomeUnknown { throw timedOut(attempts: policy.attemptsMax, last: lastError) }
        throw LucidError(.gatewayUnavailable, ["rail": .text(id.rawValue)],
                         cause: "\(policy.attemptsMax) attempts refused by \(id); last error: \(lastError)")
    }

    private func timedOut(attempts: Int, last: RailCallError) -> LucidError {
        LucidError(.gatewayTimeout, ["rail": .text(id.rawValue)],
                   cause: "\(attempts) attempt(s) to \(id) without a definite answer; last error: \(last)")
    }

    /// Full jitter: uniform in [0, min(backoffMax, backoffBase · 2^(attempt−1))].
    func backoff(afterAttempt attempt: Int) -> Duration {
        let base = policy.backoffBase.wholeMilliseconds
        let cap = policy.backoffMax.wholeMilliseconds
        let shift = min(attempt - 1, 30)
        let bound = min(cap, base << shift)
        guard bound > 0 else { return .zero }
        let draw = state.withLock { state -> Int64 in
            state.backoffs += 1
            return Int64(state.random.next() % UInt64(bound + 1))
        }
        return .milliseconds(draw)
    }
}

/// Runs an operation with a real-time limit, abandoning it (and cancelling it) when the limit
/// passes even if it ignores cancellation.
enum Deadline {
    private final class Race<T: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<T, any Error>?> = Mutex(nil)
        private let tasks = Mutex<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))

        func start(_ continuation: CheckedContinuation<T, any Error>) { self.continuation.withLock { $0 = continuation } }

        /// Resumes the caller once; later results are dropped.
        func finish(_ result: Result<T, any Error>) {
            guard let waiting = continuation.withLock({ value -> CheckedContinuation<T, any Error>? in
                defer { value = nil }
                return value
            }) else { return }
            waiting.resume(with: result)
            let (work, timer) = tasks.withLock { $0 }
            work?.cancel()
            timer?.cancel()
        }

        func set(work: Task<Void, Never>, timer: Task<Void, Never>) {
            tasks.withLock { $0 = (work, timer) }
            // Finished before the tasks were known: stop whichever is still running.
            if continuation.withLock({ $0 == nil }) {
                work.cancel()
                timer.cancel()
            }
        }

        func cancel() { finish(.failure(CancellationError())) }
    }

    static func run<T: Sendable>(limit: Duration?, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let limit else { return try await operation() }
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await operation()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = Task {
                    do { try await Task.sleep(for: limit) } catch { return }
                    race.finish(.failure(RailCallError.timedOut))
                }
                race.set(work: work, timer: timer)
                if Task.isCancelled { race.cancel() }
            }
        } onCancel: {
            race.cancel()
        }
    }
}

/// What one rail is for.
public struct RailDescriptor: Sendable, Hashable {
    public let id: RailID
    /// Currencies the rail moves.
    public let currencies: Set<Currency>
    /// Directions it supports.
    public let directions: Set<RailDirection>

    public init(id: RailID, currencies: Set<Currency>, directions: Set<RailDirection> = Set(RailDirection.allCases)) {
        self.id = id
        self.currencies = currencies
        self.directions = directions
    }

    public func supports(_ currency: Currency, _ direction: RailDirection) -> Bool {
        currencies.contains(currency) && directions.contains(direction)
    }
}

/// How one rail is doing, for the status page and the ops routes.
public struct RailOverview: Sendable, Hashable {
    public let descriptor: RailDescriptor
    public let health: RailHealth
    public let breaker: CircuitBreaker.State
}

/// Every configured rail, in order of preference, each behind its `ResilientRail`.
///
/// Answers "which rail is up for CNY top-ups", and names that rail as
/// `alternative_rail` when a submit fails fast with `gateway_unavailable`.
public final class RailDirectory: Sendable {
    public struct Entry: Sendable {
        public let descriptor: RailDescriptor
        public let rail: ResilientRail

        public init(descriptor: RailDescriptor, rail: ResilientRail) {
            precondition(descriptor.id == rail.id, "descriptor and rail name differ")
            self.descriptor = descriptor
            self.rail = rail
        }
    }

    public let entries: [Entry]

    public init(_ entries: [Entry]) {
        precondition(Set(entries.map(\.descriptor.id)).count == entries.count, "rail ids must be unique")
        self.entries = entries
    }

    public var railIDs: [RailID] { entries.map(\.descriptor.id) }

    /// The rail named `id`, or `rail_not_found`.
    public func rail(_ id: RailID) throws(LucidError) -> ResilientRail {
        try entry(id).rail
    }

    public func descriptor(_ id: RailID) throws(LucidError) -> RailDescriptor {
        try entry(id).descriptor
    }

    private func entry(_ id: RailID) throws(LucidError) -> Entry {
        guard let entry = entries.first(where: { $0.descriptor.id == id }) else {
            throw LucidError(.railNotFound, ["rail": .text(id.rawValue)])
        }
        return entry
    }

    public func health(of id: RailID) throws(LucidError) -> RailHealth { try rail(id).health }

    public func overview() -> [RailOverview] {
        entries.map { RailOverview(descriptor: $0.descriptor, health: $0.rail.health, breaker: $0.rail.breakerState) }
    }

    /// The first rail, in configured order, that moves `currency` in `direction` and is operational.
    public func operationalRail(for currency: Currency, direction: RailDirection, excluding excluded: RailID? = nil) -> RailID? {
        entries.first { entry in
            entry.descriptor.id != excluded && entry.descriptor.supports(currency, direction) && entry.rail.health == .operational
        }?.descriptor.id
    }

    /// Rails that move `currency` in `direction`, best first: operational, then degraded, then in outage.
    public func rails(for currency: Currency, direction: RailDirection) -> [RailID] {
        let order: [RailHealth: Int] = [.operational: 0, .degraded: 1, .outage: 2]
        return entries.enumerated()
            .filter { $0.element.descriptor.supports(currency, direction) }
            .sorted { (order[$0.element.rail.health]!, $0.offset) < (order[$1.element.rail.health]!, $1.offset) }
            .map(\.element.descriptor.id)
    }

    /// Submits through `railID`. A `gateway_unavailable` answer names an operational
    /// `alternative_rail` for the same currency and direction when there is one.
    public func submit(_ request: RailRequest, via railID: RailID) async throws -> RailReceipt {
        let entry = try entry(railID)
        guard entry.descriptor.supports(request.amount.currency, request.direction) else {
            throw LucidError(.unsupportedCurrency, ["currency": .text(request.amount.currency.code)],
                             cause: "rail \(railID) does not move \(request.amount.currency.code) \(request.direction.rawValue)")
        }
        do {
            return try await entry.rail.submit(request)
        } catch let error as LucidError where error.code == .gatewayUnavailable {
            guard let alternative = operationalRail(for: request.amount.currency, direction: request.direction,
                                                    excluding: railID) else { throw error }
            var params = error.params
            params["alternative_rail"] = .text(alternative.rawValue)
            throw LucidError(error.code, params, cause: error.cause)
        }
    }

    public func status(of reference: RailReference, via railID: RailID) async throws -> RailReceipt? {
        try await rail(railID).status(of: reference)
    }

    public func downloadSettlementReport(for day: SettlementDay, via railID: RailID, to path: String) async throws
        -> SettlementReportDownload {
        try await rail(railID).downloadSettlementReport(for: day, to: path)
    }
}
