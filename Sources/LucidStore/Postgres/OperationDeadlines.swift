import Synchronization

/// Cancels database operations that outlive their deadline, with one loop for all of them.
///
/// Every read and write on PostgreSQL is bounded so that a database that cannot be reached
/// turns into `storage_unavailable` rather than a request waiting for a connection until the
/// pool gives up (a minute). The first bound raced each operation against a timer of its own
/// in a task group: two child tasks and a dispatch timer per statement, 13–18 % of a process's
/// CPU with risk monitoring on (half a dozen reads per movement). Here an operation runs in one
/// task, registered with its deadline; a single loop wakes `tick` times a second and cancels
/// what is overdue, so a deadline is kept to within one tick.
final class OperationDeadlines: Sendable {
    /// How often the loop looks for overdue operations.
    static let tick: Duration = .milliseconds(100)

    /// Thrown by `run` when the operation was cancelled for being overdue.
    struct Overdue: Error {}

    private struct Pending {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var next = 0
        var pending: [Int: Pending] = [:]
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// Runs `body` in a task of its own; once `timeout` has passed, the task is cancelled (which
    /// ends a wait for a connection at once), whatever `body` registered with its deadline runs
    /// (closing the connection ends a statement the server or the network sits on: PostgresNIO does
    /// not interrupt a running query), and the caller gets `Overdue`.
    func run<T: Sendable>(within timeout: Duration, _ body: @escaping @Sendable (OperationDeadline) async throws -> T) async throws -> T {
        let deadline = OperationDeadline()
        let task = Task { try await body(deadline) }
        let id = state.withLock { state in
            state.next &+= 1
            state.pending[state.next] = Pending(deadline: clock.now.advanced(by: timeout)) {
                deadline.expire()
                task.cancel()
            }
            return state.next
        }
        defer { _ = state.withLock { $0.pending.removeValue(forKey: id) } }
        do {
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch where deadline.hasPassed {
            throw Overdue()
        }
    }

    /// Cancels overdue operations until the surrounding task is cancelled: run beside the pool.
    func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.tick)
            let now = clock.now
            let overdue = state.withLock { state -> [Pending] in
                let due = state.pending.filter { $0.value.deadline <= now }
                for key in due.keys { state.pending.removeValue(forKey: key) }
                return Array(due.values)
            }
            for operation in overdue { operation.expire() }
        }
    }
}

/// One operation's deadline, handed to the operation so it can say what ends it when the deadline passes.
final class OperationDeadline: Sendable {
    private struct State {
        var passed = false
        var onExpiry: (@Sendable () -> Void)?
        var actionRan = false
    }

    private let state = Mutex(State())

    var hasPassed: Bool { state.withLock { $0.passed } }
    /// Whether the action given to `whilePending` ran (the deadline passed while it was registered).
    var actionRan: Bool { state.withLock { $0.actionRan } }

    /// Runs `body`; if the deadline passes meanwhile, `action` runs (at once if it has passed already).
    /// Never after `body` returns: the action runs under the same lock that forgets it, so a
    /// connection handed back to the pool is never closed on behalf of an operation that is over.
    func whilePending<T>(isolation: isolated (any Actor)? = #isolation, onExpiry action: @escaping @Sendable () -> Void,
                         _ body: () async throws -> T) async throws -> T {
        let passed = state.withLock { state in
            if state.passed { state.actionRan = true } else { state.onExpiry = action }
            return state.passed
        }
        if passed { action() }
        defer { state.withLock { $0.onExpiry = nil } }
        return try await body()
    }

    fileprivate func expire() {
        state.withLock { state in
            state.passed = true
            if let action = state.onExpiry {
                action()
                state.actionRan = true
            }
            state.onExpiry = nil
        }
    }
}
