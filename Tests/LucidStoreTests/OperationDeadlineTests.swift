import Logging
import LucidCore
@testable import LucidStore
import PostgresNIO
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
            for value in 0..<200 { group.addTask { try await deadlines.run(within: .seconds(30)) { value } } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values.sorted() == Array(0..<200))
        await #expect(throws: Refused.self) { try await deadlines.run(within: .seconds(30)) { () async throws -> Int in throw Refused() } }
    }

    @Test("an operation still waiting at its deadline is cancelled and reported overdue")
    func overdue() async throws {
        let deadlines = OperationDeadlines()
        let watcher = Task { await deadlines.watch() }
        defer { watcher.cancel() }
        // Waits (cancellably) far longer than its deadline, as a wait for a connection would.
        await #expect(throws: OperationDeadlines.Overdue.self) {
            try await deadlines.run(within: .milliseconds(200)) { try await Task.sleep(for: .seconds(600)) }
        }
        // The loop keeps going: the next operation is served as usual.
        #expect(try await deadlines.run(within: .seconds(30)) { 7 } == 7)
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
