import DequeModule
import Synchronization

/// A first-come, first-served lock for async code: waiters suspend instead of
/// blocking a thread. Used to give SQLite's single writer connection to one
/// transaction at a time across suspension points.
final class AsyncMutex: Sendable {
    private struct State {
        var locked = false
        var waiters = Deque<CheckedContinuation<Void, Never>>()
    }

    private let state = Mutex(State())

    init() {}

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            precondition(state.locked, "unlock of an unlocked AsyncMutex")
            if let next = state.waiters.popFirst() { return next } // ownership passes straight on
            state.locked = false
            return nil
        }
        next?.resume()
    }

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}
