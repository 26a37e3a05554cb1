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

    /// Set once the loop has cancelled an operation for being overdue.
    private final class OverdueFlag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// Runs `body` in a task of its own, cancelled once `timeout` has passed; the caller then gets
    /// `Overdue`. Cancellation ends a wait for a connection at once; a statement already sent to
    /// the server runs to its end (PostgresNIO does not interrupt it).
    func run<T: Sendable>(within timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task(operation: body)
        let overdue = OverdueFlag()
        let id = state.withLock { state in
            state.next &+= 1
            state.pending[state.next] = Pending(deadline: clock.now.advanced(by: timeout)) {
                overdue.set()
                task.cancel()
            }
            return state.next
        }
        defer { _ = state.withLock { $0.pending.removeValue(forKey: id) } }
        do {
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch where overdue.isSet {
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
