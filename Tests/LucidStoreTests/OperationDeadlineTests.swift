import Logging
import LucidCore
@testable import LucidStore
import PostgresNIO
import Synchronization
import Testing

/// Every PostgreSQL operation is bounded: a database that cannot be reached becomes
/// `storage_unavailable`, not a request waiting for the pool's circuit breaker (a minute).
@Suite("Operation deadlines")
struct OperationDeadlineTests {
    struct Refused: Error {}

    @Test("operations within their deadline answer or fail as they would without one")
    func withinDeadline() async throws {
        let deadlines = OperationDeadlines()
        let watcher = Task { await deadlines.watch() }
        defer { watcher.cancel() }
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for value in 0..<200 { group.addTask { try await deadlines.run(within: .seconds(30)) { _ in value } } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values.sorted() == Array(0..<200))
        await #expect(throws: Refused.self) { try await deadlines.run(within: .seconds(30)) { _ async throws -> Int in throw Refused() } }
    }

    @Test("an operation still waiting at its deadline is cancelled and reported overdue")
    func overdue() async throws {
        let deadlines = OperationDeadlines()
        let watcher = Task { await deadlines.watch() }
        defer { watcher.cancel() }
        // Waits (cancellably) far longer than its deadline, as a wait for a connection would.
        await #expect(throws: OperationDeadlines.Overdue.self) {
            try await deadlines.run(within: .milliseconds(200)) { _ in try await Task.sleep(for: .seconds(600)) }
        }
        // The loop keeps going: the next operation is served as usual.
        #expect(try await deadlines.run(within: .seconds(30)) { _ in 7 } == 7)
    }

    @Test("a wait that ignores cancellation ends through what the operation registered for its deadline")
    func registeredExpiry() async throws {
        let deadlines = OperationDeadlines()
        let watcher = Task { await deadlines.watch() }
        defer { watcher.cancel() }
        // Like a statement the server sits on: cancelling the task does not end it, closing the connection
        // does (and the statement then fails, as a closed connection's does).
        let stuck = Stuck()
        await #expect(throws: OperationDeadlines.Overdue.self) {
            try await deadlines.run(within: .milliseconds(200)) { deadline in
                try await deadline.whilePending(onExpiry: { stuck.release() }) {
                    await stuck.wait()
                    throw Refused()
                }
            }
        }
        // Registered after the deadline passed: runs at once.
        let late = Stuck()
        await #expect(throws: OperationDeadlines.Overdue.self) {
            try await deadlines.run(within: .milliseconds(100)) { deadline in
                while !deadline.hasPassed { await Task.yield() }
                return try await deadline.whilePending(onExpiry: { late.release() }) {
                    await late.wait()
                    throw Refused()
                }
            }
        }
    }

    @Test("a statement waiting on a lock past its deadline fails with unavailable; the pool serves on",
          .enabled(if: Backend.postgresURL != nil))
    func statementPastDeadline() async throws {
        let url = try #require(Backend.postgresURL)
        let table = "deadline_probe_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try await administer(url, "CREATE TABLE \(table) (id BIGINT PRIMARY KEY)")
        try await administer(url, "INSERT INTO \(table) VALUES (1)")
        let location = try PostgresLocation(url: url)
        let holder = PostgresDatabase(client: PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: Logger(label: "test")),
                                      logger: Logger(label: "test"))
        let database = PostgresDatabase(client: PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: Logger(label: "test")),
                                        logger: Logger(label: "test"), operationTimeout: .milliseconds(500))
        let pools = [Task { await holder.runPool() }, Task { await database.runPool() }]
        defer { for pool in pools { pool.cancel() } }
        let locked = Stuck(), done = Stuck()
        // Another process holds the row's lock in an open transaction until the test lets go.
        let holding = Task {
            try await holder.write { connection in
                _ = try await connection.query(SQLStatement("SELECT id FROM \(table) WHERE id = 1 FOR UPDATE"))
                locked.release()
                await done.wait()
            }
        }
        await locked.wait()
        // Should the deadline not end the statement, the lock is let go after a while: a failure, not a hang.
        let fallback = Task {
            try await Task.sleep(for: .seconds(20))
            done.release()
        }
        defer { fallback.cancel() }
        do {
            _ = try await database.read { try await $0.query(SQLStatement("SELECT id FROM \(table) WHERE id = 1 FOR UPDATE")) }
            Issue.record("the locked row was read")
        } catch let error as SQLError {
            guard case .unavailable = error else { Issue.record("expected unavailable, got \(error)"); return }
        }
        // The same pool with a longer bound (as migrations get) waits for the lock instead.
        let patient = Task {
            try await database.bounded(by: .seconds(60)).read {
                try await $0.query(SQLStatement("SELECT id FROM \(table) WHERE id = 1 FOR UPDATE"))
            }.count
        }
        try await Task.sleep(for: .seconds(1))
        done.release()
        #expect(try await patient.value == 1, "a read with a longer bound outlived the short one and got the row")
        try await holding.value
        #expect(try await database.read { try await $0.query(SQLStatement("SELECT id FROM \(table) WHERE id = 1 FOR UPDATE")) }.count == 1)
        try await administer(url, "DROP TABLE \(table)")
    }

    /// A wait that only `release()` ends (cancellation does not), for as many waiters as come.
    final class Stuck: Sendable {
        private let state = Mutex<(released: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { continuation in
                let resume = state.withLock { state -> Bool in
                    if state.released { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resume { continuation.resume() }
            }
        }
        func release() {
            for waiter in state.withLock({ state -> [CheckedContinuation<Void, Never>] in
                state.released = true
                defer { state.waiters = [] }
                return state.waiters
            }) { waiter.resume() }
        }
    }

    @Test("a read against a database nobody answers on fails with unavailable")
    func unreachableDatabase() async throws {
        // Port 1 on loopback: nothing listens, every connection attempt is refused and the pool keeps retrying.
        let location = try PostgresLocation(url: "postgres://lucid:lucid@127.0.0.1:1/lucid")
        let client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: Logger(label: "test"))
        let database = PostgresDatabase(client: client, logger: Logger(label: "test"), operationTimeout: .milliseconds(500))
        let pool = Task { await database.runPool() }
        defer { pool.cancel() }
        do {
            _ = try await database.read { try await $0.query(SQLStatement("SELECT 1")) }
            Issue.record("a read without a database answered")
        } catch let error as SQLError {
            guard case .unavailable = error else { Issue.record("expected unavailable, got \(error)"); return }
            #expect(error.publicError.code == .storageUnavailable)
        }
    }
}
