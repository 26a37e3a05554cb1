/// Account lockout after repeated failed sign-ins, and a per-source rate limit.
///
/// Both are pure values: the service loads the state from the database, asks
/// the policy, and writes the new state back in the same transaction, so the
/// lock holds across processes (DESIGN.md, "Storage"). Nothing here reads a
/// clock; every decision takes `now`.
///
/// The shape follows Keycloak's brute-force detector (failure factor, growing
/// wait, maximum wait, failure reset time), with these decisions of our own:
///
/// - **Counting.** `failuresBeforeLock` consecutive failures start a lock. The
///   counter restarts at zero when a lock starts, so after a lock expires the
///   next lock needs another full run of failures. At the cap (24 h) that
///   leaves an attacker about `failuresBeforeLock` guesses a day per account,
///   while an owner who mistypes once after a lock is not punished at once.
/// - **Growth.** Each lock in one escalation run lasts the next entry of
///   `lockDurationsSeconds` (1 min, 5 min, 15 min, 1 h, then 24 h for every
///   further lock: capped at the last entry).
/// - **Decay.** The escalation level and the failure counter fall back to zero
///   after `escalationResetSeconds` (24 h) without a failure *and* without a
///   lock in force, measured from whichever ended last. Measuring from the end
///   of the lock matters: otherwise a 24 h lock would expire exactly when the
///   level decays, and an attacker would start over at 1 min.
/// - **Failures while locked.** The service does not check the password while
///   an account is locked (the stranger gets `invalid_credentials` either way),
///   so an attempt then is not a guess: `recordFailure` leaves the state
///   untouched. It neither counts toward the next lock nor extends this one, so
///   an attacker cannot keep an owner locked out for longer than the schedule
///   says by hammering; the lock ends when it said it would.
/// - **Success** resets everything (`recordSuccess`); the same call is the
///   self-service unlock (second factor proven, password reset) and the
///   operator's unlock.
public struct LockoutPolicy: Sendable, Hashable, Codable {
    /// Consecutive failures that start a lock (issue 4: configurable, default 5).
    public static let failuresBeforeLockDefault = 5
    /// 1 min, 5 min, 15 min, 1 h, 24 h; every lock after the fifth lasts 24 h.
    public static let lockDurationsSecondsDefault: [Int64] = [60, 300, 900, 3_600, 86_400]
    /// A quiet day forgives: the escalation starts again from the first duration.
    public static let escalationResetSecondsDefault: Int64 = 86_400

    public let failuresBeforeLock: Int
    /// Lock durations by escalation level, non-decreasing; the last one is the cap.
    public let lockDurationsSeconds: [Int64]
    /// Quiet time after which failures and escalation are forgotten.
    public let escalationResetSeconds: Int64

    public init(failuresBeforeLock: Int = LockoutPolicy.failuresBeforeLockDefault,
                lockDurationsSeconds: [Int64] = LockoutPolicy.lockDurationsSecondsDefault,
                escalationResetSeconds: Int64 = LockoutPolicy.escalationResetSecondsDefault) {
        let problem = Self.problem(failuresBeforeLock, lockDurationsSeconds, escalationResetSeconds)
        precondition(problem == nil, problem ?? "")
        self.failuresBeforeLock = failuresBeforeLock
        self.lockDurationsSeconds = lockDurationsSeconds
        self.escalationResetSeconds = escalationResetSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case failuresBeforeLock, lockDurationsSeconds, escalationResetSeconds
    }

    /// Decoding comes from an operator's configuration file, so a bad value is
    /// an error that names the problem, not a crash.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let failures = try container.decodeIfPresent(Int.self, forKey: .failuresBeforeLock) ?? Self.failuresBeforeLockDefault
        let durations = try container.decodeIfPresent([Int64].self, forKey: .lockDurationsSeconds)
            ?? Self.lockDurationsSecondsDefault
        let reset = try container.decodeIfPresent(Int64.self, forKey: .escalationResetSeconds)
            ?? Self.escalationResetSecondsDefault
        if let problem = Self.problem(failures, durations, reset) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
        self.init(failuresBeforeLock: failures, lockDurationsSeconds: durations, escalationResetSeconds: reset)
    }

    private static func problem(_ failures: Int, _ durations: [Int64], _ reset: Int64) -> String? {
        if !(1...1_000).contains(failures) { return "failuresBeforeLock must be between 1 and 1000" }
        if durations.isEmpty { return "lockDurationsSeconds must not be empty" }
        if durations.contains(where: { !(1...31_536_000).contains($0) }) {
            return "every lock duration must be between 1 second and 1 year"
        }
        if zip(durations, durations.dropFirst()).contains(where: { $0 > $1 }) {
            return "lockDurationsSeconds must not decrease"
        }
        if !(1...31_536_000).contains(reset) { return "escalationResetSeconds must be between 1 second and 1 year" }
        return nil
    }

    /// A lock that a failure has just started: what the service audits and
    /// tells the owner ("locked until X").
    public struct LockStart: Sendable, Hashable {
        public let until: Timestamp
        /// 1 for the first lock of an escalation run, 2 for the second, …
        public let level: Int
        public let durationSeconds: Int64

        public init(until: Timestamp, level: Int, durationSeconds: Int64) {
            self.until = until
            self.level = level
            self.durationSeconds = durationSeconds
        }
    }

    /// The lock in force at `now`, or nil when there is none (never locked, or expired).
    public func lockedUntil(_ state: LockoutState, now: Timestamp) -> Timestamp? {
        guard let until = state.lockedUntil, until > now else { return nil }
        return until
    }

    /// Records a failed sign-in (wrong password or wrong second factor).
    ///
    /// Returns the new state and, when this failure starts a lock, the lock.
    /// While a lock is in force the state is returned unchanged (see the type's
    /// documentation: such an attempt is not a guess).
    public func recordFailure(_ state: LockoutState, at now: Timestamp) -> (LockoutState, started: LockStart?) {
        if lockedUntil(state, now: now) != nil { return (state, nil) }
        var next = decayed(state, now: now)
        next.consecutiveFailures += 1
        next.lastFailureAt = now
        guard next.consecutiveFailures >= failuresBeforeLock else { return (next, nil) }
        let duration = lockDurationsSeconds[min(next.level, lockDurationsSeconds.count - 1)]
        next.level += 1
        next.consecutiveFailures = 0
        let until = now.adding(seconds: duration)
        next.lockedUntil = until
        return (next, LockStart(until: until, level: next.level, durationSeconds: duration))
    }

    /// A successful sign-in, a proven second factor, a password reset or an
    /// operator's unlock: everything is forgiven.
    public func recordSuccess(_ state: LockoutState) -> LockoutState {
        LockoutState()
    }

    /// The state with old history forgotten, as the next failure would see it.
    /// Useful to show an operator the effective level; `recordFailure` applies it itself.
    public func decayed(_ state: LockoutState, now: Timestamp) -> LockoutState {
        guard let lastEvent = [state.lastFailureAt, state.lockedUntil].compactMap({ $0 }).max(),
              lastEvent.adding(seconds: escalationResetSeconds) <= now else { return state }
        return LockoutState()
    }
}

/// What the database keeps per account for `LockoutPolicy`.
public struct LockoutState: Sendable, Hashable, Codable {
    /// Failures since the last success, decay or lock start.
    public var consecutiveFailures: Int
    /// Locks started in the current escalation run (0: none).
    public var level: Int
    /// End of the most recent lock. It stays after the lock expired (decay is
    /// measured from it); ask `LockoutPolicy.lockedUntil(_:now:)` whether a lock is in force.
    public var lockedUntil: Timestamp?
    public var lastFailureAt: Timestamp?

    public init(consecutiveFailures: Int = 0, level: Int = 0, lockedUntil: Timestamp? = nil, lastFailureAt: Timestamp? = nil) {
        self.consecutiveFailures = consecutiveFailures
        self.level = level
        self.lockedUntil = lockedUntil
        self.lastFailureAt = lastFailureAt
    }
}

/// A per-source (IP address) limit on attempts, as a sliding-window counter.
///
/// Two fixed windows aligned to multiples of `windowSeconds` since the epoch;
/// the estimate at time t is `previous × (remaining part of the window) +
/// current`. It needs three numbers per source (cheap to keep in a database
/// row, so it holds across processes) and, unlike a plain fixed window, does
/// not let a burst through on either side of a window boundary.
///
/// Refused attempts are not counted: the refusal costs the service nothing,
/// and `retryAfterSeconds` stays truthful — waiting that long (with no other
/// attempts) is enough to be admitted.
public struct RateLimitPolicy: Sendable, Hashable, Codable {
    /// Sign-in attempts one source address may make per window.
    public static let loginAttemptsPerSourceMax = 20
    public static let loginWindowSeconds: Int64 = 300
    /// The limit on `POST /v1/sessions` per source address.
    public static let loginPerSource = RateLimitPolicy(limit: loginAttemptsPerSourceMax, windowSeconds: loginWindowSeconds)

    public let limit: Int
    public let windowSeconds: Int64

    public init(limit: Int, windowSeconds: Int64) {
        precondition(limit >= 1 && limit <= 1_000_000, "rate limit must be between 1 and 1,000,000")
        precondition(windowSeconds >= 1 && windowSeconds <= 31_536_000, "rate window must be between 1 second and 1 year")
        self.limit = limit
        self.windowSeconds = windowSeconds
    }

    private enum CodingKeys: String, CodingKey { case limit, windowSeconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let limit = try container.decode(Int.self, forKey: .limit)
        let window = try container.decode(Int64.self, forKey: .windowSeconds)
        guard (1...1_000_000).contains(limit), (1...31_536_000).contains(window) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "limit must be 1…1,000,000 and windowSeconds 1 s…1 year"))
        }
        self.init(limit: limit, windowSeconds: window)
    }

    /// The answer to one attempt.
    public struct Decision: Sendable, Hashable {
        public let allowed: Bool
        /// 0 when allowed; otherwise whole seconds (at least 1) until an attempt would be admitted.
        public let retryAfterSeconds: Int64

        public init(allowed: Bool, retryAfterSeconds: Int64) {
            self.allowed = allowed
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// Admits or refuses one attempt at `now` and returns the updated window.
    ///
    /// A clock that went backwards (another process, a little skew) is read
    /// as the start of the window it points into; it never unlocks early.
    public func admit(_ window: RateWindow, at now: Timestamp) -> (RateWindow, Decision) {
        let current = rolled(window, to: now)
        let windowMillis = windowSeconds * 1000
        let elapsed = min(max(now.millisecondsSinceEpoch - current.windowStart.millisecondsSinceEpoch, 0), windowMillis - 1)
        if admits(previous: current.previousCount, current: current.currentCount, elapsed: elapsed) {
            var next = current
            next.currentCount += 1
            return (next, Decision(allowed: true, retryAfterSeconds: 0))
        }
        let waitMillis = millisecondsUntilAdmitted(previous: current.previousCount, current: current.currentCount, elapsed: elapsed)
        return (current, Decision(allowed: false, retryAfterSeconds: max(1, (waitMillis + 999) / 1000)))
    }

    /// The window moved forward to the one that contains `now`.
    private func rolled(_ window: RateWindow, to now: Timestamp) -> RateWindow {
        let windowMillis = windowSeconds * 1000
        let ms = now.millisecondsSinceEpoch
        let start = (ms >= 0 ? ms / windowMillis : (ms - windowMillis + 1) / windowMillis) * windowMillis
        let old = window.windowStart.millisecondsSinceEpoch
        if (window.currentCount == 0 && window.previousCount == 0) || start - old >= 2 * windowMillis {
            return RateWindow(windowStart: Timestamp(millisecondsSinceEpoch: start))
        }
        if start - old == windowMillis {
            return RateWindow(windowStart: Timestamp(millisecondsSinceEpoch: start), currentCount: 0, previousCount: window.currentCount)
        }
        return window // same window, or a clock that went backwards: keep the newer window
    }

    /// `previous × (W − elapsed) / W + current + 1 ≤ limit`, in integers.
    private func admits(previous: Int, current: Int, elapsed: Int64) -> Bool {
        let windowMillis = windowSeconds * 1000
        return Int64(previous) * (windowMillis - elapsed) + Int64(current + 1) * windowMillis <= Int64(limit) * windowMillis
    }

    /// Least wait after which `admits` holds, assuming no other attempts meanwhile.
    private func millisecondsUntilAdmitted(previous: Int, current: Int, elapsed: Int64) -> Int64 {
        let windowMillis = windowSeconds * 1000
        if current + 1 <= limit {
            // Still in this window: need previous × (W − e) ≤ (limit − current − 1) × W.
            let needed = neededElapsed(weight: previous, room: limit - current - 1)
            return max(needed - elapsed, 1)
        }
        // This window is full: in the next one `current` becomes the previous count.
        return (windowMillis - elapsed) + neededElapsed(weight: current, room: limit - 1)
    }

    /// Smallest e in 0…W with weight × (W − e) ≤ room × W.
    private func neededElapsed(weight: Int, room: Int) -> Int64 {
        let windowMillis = windowSeconds * 1000
        guard weight > 0 else { return 0 }
        // W − e ≤ room × W / weight  ⇔  e ≥ W − floor(room × W / weight)
        return max(0, windowMillis - Int64(room) * windowMillis / Int64(weight))
    }
}

/// What the database keeps per source address for `RateLimitPolicy`.
public struct RateWindow: Sendable, Hashable, Codable {
    /// Start of the current fixed window (a multiple of the window length).
    public var windowStart: Timestamp
    public var currentCount: Int
    public var previousCount: Int

    public init(windowStart: Timestamp = Timestamp(millisecondsSinceEpoch: 0), currentCount: Int = 0, previousCount: Int = 0) {
        self.windowStart = windowStart
        self.currentCount = currentCount
        self.previousCount = previousCount
    }
}
