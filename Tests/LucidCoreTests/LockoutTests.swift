import Foundation
import LucidCore
import PropertyBased
import Testing

@Suite("Account lockout")
struct LockoutTests {
    let policy = LockoutPolicy()

    /// Fails `count` times at the clock's time, returning the last lock started (if any).
    @discardableResult
    func fail(_ state: inout LockoutState, _ count: Int, clock: ManualClock) -> LockoutPolicy.LockStart? {
        var started: LockoutPolicy.LockStart?
        for _ in 0..<count {
            let result = policy.recordFailure(state, at: clock.now())
            state = result.0
            if let lock = result.started { started = lock }
        }
        return started
    }

    @Test("the defaults are the issue's: 5 failures; 1 min, 5 min, 15 min, 1 h, capped at 24 h")
    func defaults() {
        #expect(policy.failuresBeforeLock == 5)
        #expect(policy.lockDurationsSeconds == [60, 300, 900, 3_600, 86_400])
        #expect(policy.escalationResetSeconds == 86_400)
    }

    @Test("four failures do not lock; the fifth locks for one minute, and the lock expires on time")
    func firstLock() {
        let clock = ManualClock()
        var state = LockoutState()
        for _ in 0..<4 {
            let (next, started) = policy.recordFailure(state, at: clock.now())
            #expect(started == nil)
            #expect(policy.lockedUntil(next, now: clock.now()) == nil)
            state = next
            clock.advance(seconds: 1)
        }
        #expect(state.consecutiveFailures == 4)
        let (locked, started) = policy.recordFailure(state, at: clock.now())
        let until = clock.now().adding(seconds: 60)
        #expect(started == LockoutPolicy.LockStart(until: until, level: 1, durationSeconds: 60))
        #expect(policy.lockedUntil(locked, now: clock.now()) == until)
        clock.advance(seconds: 59)
        #expect(policy.lockedUntil(locked, now: clock.now()) == until)
        clock.advance(seconds: 1)
        #expect(policy.lockedUntil(locked, now: clock.now()) == nil, "expired exactly at locked_until")
    }

    @Test("locks grow 1 min → 5 min → 15 min → 1 h → 24 h and stay at 24 h")
    func growthAndCap() {
        let clock = ManualClock()
        var state = LockoutState()
        var durations: [Int64] = []
        var levels: [Int] = []
        for _ in 0..<7 {
            guard let lock = fail(&state, 5, clock: clock) else { Issue.record("no lock after five failures"); return }
            durations.append(lock.durationSeconds)
            levels.append(lock.level)
            #expect(lock.until == clock.now().adding(seconds: lock.durationSeconds))
            clock.set(lock.until) // the lock just expired
            #expect(policy.lockedUntil(state, now: clock.now()) == nil)
        }
        #expect(durations == [60, 300, 900, 3_600, 86_400, 86_400, 86_400])
        #expect(levels == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test("attempts while locked neither count nor extend the lock")
    func failuresWhileLocked() {
        let clock = ManualClock()
        var state = LockoutState()
        let lock = fail(&state, 5, clock: clock)
        let lockedState = state
        for _ in 0..<50 {
            clock.advance(seconds: 1)
            let (next, started) = policy.recordFailure(state, at: clock.now())
            #expect(started == nil)
            #expect(next == lockedState)
            state = next
        }
        #expect(policy.lockedUntil(state, now: clock.now()) == lock?.until)
        clock.set(lock!.until)
        #expect(policy.lockedUntil(state, now: clock.now()) == nil)
        // After the lock a full run of failures is needed again, and the next lock is the second level.
        #expect(fail(&state, 4, clock: clock) == nil)
        #expect(fail(&state, 1, clock: clock)?.durationSeconds == 300)
    }

    @Test("success forgives everything, also a lock in force (self-service or operator unlock)")
    func success() {
        let clock = ManualClock()
        var state = LockoutState()
        fail(&state, 5, clock: clock)
        #expect(policy.lockedUntil(state, now: clock.now()) != nil)
        state = policy.recordSuccess(state)
        #expect(state == LockoutState())
        #expect(policy.lockedUntil(state, now: clock.now()) == nil)
        #expect(fail(&state, 5, clock: clock)?.durationSeconds == 60, "escalation starts over")
    }

    @Test("a quiet day after the last lock ended resets the escalation; less than a day does not")
    func decay() {
        let clock = ManualClock()
        var state = LockoutState()
        var lock = fail(&state, 5, clock: clock)!
        clock.set(lock.until.adding(seconds: 86_399))
        lock = fail(&state, 5, clock: clock)!
        #expect(lock.level == 2 && lock.durationSeconds == 300)
        clock.set(lock.until.adding(seconds: 86_400))
        lock = fail(&state, 5, clock: clock)!
        #expect(lock.level == 1 && lock.durationSeconds == 60)
    }

    @Test("at the cap the quiet day counts from the end of the 24 h lock, so the cap holds")
    func decayAtCap() {
        let clock = ManualClock()
        var state = LockoutState()
        var lock: LockoutPolicy.LockStart?
        for _ in 0..<5 {
            lock = fail(&state, 5, clock: clock)
            clock.set(lock!.until)
        }
        #expect(lock?.durationSeconds == 86_400)
        // 24 h after the last failure is when the 24 h lock ended: not yet a quiet day.
        clock.advance(seconds: 60)
        #expect(fail(&state, 5, clock: clock)?.durationSeconds == 86_400)
    }

    @Test("a few failures long ago are forgotten")
    func oldFailuresForgotten() {
        let clock = ManualClock()
        var state = LockoutState()
        fail(&state, 4, clock: clock)
        clock.advance(seconds: 86_400)
        #expect(fail(&state, 1, clock: clock) == nil)
        #expect(state.consecutiveFailures == 1)
        clock.advance(seconds: 86_399)
        #expect(fail(&state, 4, clock: clock)?.level == 1, "within a day they still count")
    }

    @Test("state and policy survive a JSON round trip; a bad policy is an error, not a crash")
    func codable() throws {
        let clock = ManualClock()
        var state = LockoutState()
        fail(&state, 5, clock: clock)
        let data = try JSONEncoder().encode(state)
        #expect(try JSONDecoder().decode(LockoutState.self, from: data) == state)
        let custom = LockoutPolicy(failuresBeforeLock: 3, lockDurationsSeconds: [30, 60], escalationResetSeconds: 3_600)
        #expect(try JSONDecoder().decode(LockoutPolicy.self, from: JSONEncoder().encode(custom)) == custom)
        #expect(try JSONDecoder().decode(LockoutPolicy.self, from: Data("{}".utf8)) == LockoutPolicy())
        for bad in [#"{"failuresBeforeLock": 0}"#, #"{"lockDurationsSeconds": []}"#, #"{"lockDurationsSeconds": [300, 60]}"#,
                    #"{"lockDurationsSeconds": [-1]}"#, #"{"escalationResetSeconds": 0}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(LockoutPolicy.self, from: Data(bad.utf8)) }
        }
    }

    enum Event: Equatable, CustomStringConvertible {
        case failure(afterSeconds: Int64)
        case success(afterSeconds: Int64)
        var description: String {
            switch self {
            case .failure(let s): "+\(s)s fail"
            case .success(let s): "+\(s)s success"
            }
        }
    }

    static let event = zip(Gen.int(in: 0...9), Gen.int64(in: 0...100_000)).map { value -> Event in
        let (choice, seconds) = value
        return choice == 0 ? .success(afterSeconds: seconds) : .failure(afterSeconds: seconds % (choice < 5 ? 120 : 100_000))
    }

    @Test("laws: a lock in force is never changed by a failure; every lock lasts its scheduled time; locks need a full run")
    func laws() async {
        let policy = LockoutPolicy()
        await propertyCheck(count: 300, input: Self.event.array(of: 1...80)) { events in
            let clock = ManualClock()
            var state = LockoutState()
            var failuresSinceLockOrSuccess = 0
            for event in events {
                switch event {
                case .success(let seconds):
                    clock.advance(seconds: seconds)
                    state = policy.recordSuccess(state)
                    failuresSinceLockOrSuccess = 0
                case .failure(let seconds):
                    clock.advance(seconds: seconds)
                    let wasLocked = policy.lockedUntil(state, now: clock.now()) != nil
                    let (next, started) = policy.recordFailure(state, at: clock.now())
                    if wasLocked {
                        #expect(next == state && started == nil)
                        continue
                    }
                    failuresSinceLockOrSuccess += 1
                    if let started {
                        let index = min(started.level - 1, policy.lockDurationsSeconds.count - 1)
                        #expect(started.durationSeconds == policy.lockDurationsSeconds[index])
                        #expect(started.until == clock.now().adding(seconds: started.durationSeconds))
                        #expect(failuresSinceLockOrSuccess >= policy.failuresBeforeLock)
                        failuresSinceLockOrSuccess = 0
                    }
                    #expect(next.consecutiveFailures < policy.failuresBeforeLock)
                    state = next
                }
            }
        }
    }
}

@Suite("Per-source rate limit")
struct RateLimitTests {
    let policy = RateLimitPolicy.loginPerSource
    /// A time at the very start of a 5-minute window.
    let windowStart = Timestamp(millisecondsSinceEpoch: 1_795_000_200_000)

    @Test("the default is 20 sign-in attempts per source per 5 minutes")
    func defaults() {
        #expect(policy.limit == 20 && policy.windowSeconds == 300)
        #expect(windowStart.millisecondsSinceEpoch % 300_000 == 0)
    }

    @Test("20 attempts pass, the 21st is refused with a Retry-After, and refusals are not counted")
    func limit() {
        var window = RateWindow()
        for index in 0..<20 {
            let (next, decision) = policy.admit(window, at: windowStart.adding(seconds: Int64(index)))
            #expect(decision == RateLimitPolicy.Decision(allowed: true, retryAfterSeconds: 0))
            window = next
        }
        let (after, refused) = policy.admit(window, at: windowStart.adding(seconds: 20))
        #expect(!refused.allowed)
        #expect(after == window, "a refusal leaves the counts alone")
        // In this window nothing gets through; in the next one the 20 weigh less as the window slides:
        // 20 × (300 − e) / 300 + 1 ≤ 20 needs e ≥ 15 s.
        #expect(refused.retryAfterSeconds == 280 + 15)
    }

    @Test("the window slides: a full previous window still counts, fading over the next")
    func sliding() {
        var window = RateWindow()
        for _ in 0..<20 { window = policy.admit(window, at: windowStart).0 }
        let next = windowStart.adding(seconds: 300)
        #expect(policy.admit(window, at: next).1 == RateLimitPolicy.Decision(allowed: false, retryAfterSeconds: 15))
        #expect(policy.admit(window, at: next.adding(seconds: 14)).1.allowed == false)
        #expect(policy.admit(window, at: next.adding(seconds: 15)).1.allowed == true)
        // After two whole windows nothing of the burst remains.
        var late = policy.admit(window, at: windowStart.adding(seconds: 600)).0
        for _ in 0..<19 { late = policy.admit(late, at: windowStart.adding(seconds: 600)).0 }
        #expect(late.currentCount == 20 && late.previousCount == 0)
    }

    @Test("a clock that goes backwards does not open the gate")
    func backwards() {
        var window = RateWindow()
        for _ in 0..<20 { window = policy.admit(window, at: windowStart.adding(seconds: 400)).0 }
        #expect(!policy.admit(window, at: windowStart.adding(seconds: 10)).1.allowed)
        #expect(!policy.admit(window, at: windowStart.adding(seconds: -1_000)).1.allowed)
    }

    @Test("the window state survives a JSON round trip")
    func codable() throws {
        var window = RateWindow()
        for _ in 0..<3 { window = policy.admit(window, at: windowStart).0 }
        #expect(try JSONDecoder().decode(RateWindow.self, from: JSONEncoder().encode(window)) == window)
    }

    @Test("Retry-After is truthful and tight: waiting it out admits, a second less does not")
    func retryAfterIsTruthful() async {
        let small = RateLimitPolicy(limit: 5, windowSeconds: 60)
        await propertyCheck(count: 300, input: Gen.int64(in: 0...30_000).array(of: 1...60)) { gaps in
            var window = RateWindow()
            var now = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000)
            for gap in gaps {
                now = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + gap)
                let (next, decision) = small.admit(window, at: now)
                if decision.allowed {
                    #expect(next.currentCount + next.previousCount >= 1)
                } else {
                    #expect(decision.retryAfterSeconds >= 1)
                    #expect(small.admit(next, at: now.adding(seconds: decision.retryAfterSeconds)).1.allowed)
                    if decision.retryAfterSeconds > 1 {
                        #expect(!small.admit(next, at: now.adding(seconds: decision.retryAfterSeconds - 1)).1.allowed)
                    }
                }
                window = next
            }
        }
    }
}
