import LucidCore

/// A circuit breaker for one rail, as a value: closed → open after `failureThreshold`
/// failures within `window` → half-open after `openDuration` (one probe at a time)
/// → closed when the probe succeeds, open again when it fails.
///
/// Pure and clock-free: every call is given `now`, so tests drive it with a
/// `ManualClock` and the whole lifecycle is deterministic.
public struct CircuitBreaker: Sendable, Hashable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Failures within `windowSeconds` that open the breaker.
        public var failureThreshold: Int
        /// How far back failures count.
        public var windowSeconds: Int64
        /// How long the breaker stays open before it lets a probe through.
        public var openSeconds: Int64

        public init(failureThreshold: Int = 5, windowSeconds: Int64 = 30, openSeconds: Int64 = 30) {
            precondition(failureThreshold >= 1 && failureThreshold <= 1_000, "failure threshold out of range")
            precondition(windowSeconds >= 1 && openSeconds >= 1, "breaker durations must be positive")
            self.failureThreshold = failureThreshold
            self.windowSeconds = windowSeconds
            self.openSeconds = openSeconds
        }
    }

    public enum State: Sendable, Hashable {
        case closed
        /// Failing fast until `until`.
        case open(until: Timestamp)
        /// A probe may go through; `probeInFlight` while one is out.
        case halfOpen(probeInFlight: Bool)
    }

    /// What the breaker says about a new call.
    public enum Admission: Sendable, Hashable {
        /// Go ahead.
        case allowed
        /// Go ahead: this call is the probe that decides whether the breaker closes.
        case probe
        /// Fail fast; the rail may be tried again at `retryAt`.
        case rejected(retryAt: Timestamp)
    }

    public let configuration: Configuration
    public private(set) var state: State = .closed
    /// Times of recent failures (at most `failureThreshold` of them), oldest first.
    public private(set) var recentFailures: [Timestamp] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Decides whether a call may go to the rail now. A probe admission must be
    /// followed by `recordSuccess` or `recordFailure`.
    public mutating func admit(now: Timestamp) -> Admission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            if now < until { return .rejected(retryAt: until) }
            state = .halfOpen(probeInFlight: true)
            return .probe
        case .halfOpen(let probeInFlight):
            if probeInFlight { return .rejected(retryAt: now.adding(seconds: 1)) }
            state = .halfOpen(probeInFlight: true)
            return .probe
        }
    }

    public mutating func recordSuccess(now: Timestamp) {
        switch state {
        case .closed:
            prune(now: now)
        case .halfOpen:
            state = .closed
            recentFailures.removeAll()
        case .open:
            // A call admitted before the breaker opened came back fine: it does not close it early.
            break
        }
    }

    public mutating func recordFailure(now: Timestamp) {
        switch state {
        case .closed:
            prune(now: now)
            recentFailures.append(now)
            if recentFailures.count > configuration.failureThreshold { recentFailures.removeFirst() }
            if recentFailures.count >= configuration.failureThreshold {
                state = .open(until: now.adding(seconds: configuration.openSeconds))
            }
        case .halfOpen:
            state = .open(until: now.adding(seconds: configuration.openSeconds))
        case .open:
            break
        }
    }

    /// Gives back a probe admission whose call never reached the rail (e.g. it was cancelled).
    public mutating func abandonProbe() {
        if case .halfOpen(true) = state { state = .halfOpen(probeInFlight: false) }
    }

    /// The rail's health: operational when closed without recent failures, degraded
    /// with recent failures or while probing, outage while open.
    public func health(now: Timestamp) -> RailHealth {
        switch state {
        case .closed:
            let windowStart = now.adding(seconds: -configuration.windowSeconds)
            return recentFailures.contains { $0 > windowStart } ? .degraded : .operational
        case .open(let until):
            return now < until ? .outage : .degraded
        case .halfOpen:
            return .degraded
        }
    }

    private mutating func prune(now: Timestamp) {
        let windowStart = now.adding(seconds: -configuration.windowSeconds)
        recentFailures.removeAll { $0 <= windowStart }
    }
}
