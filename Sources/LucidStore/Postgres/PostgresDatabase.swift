import Foundation
import Logging
import LucidCore
import NIOCore
import PostgresNIO
import Synchronization

/// `SQLDatabase` over a PostgresNIO connection pool.
///
/// Write transactions run at READ COMMITTED with explicit row locks where the
/// ledger needs them (`SELECT … FOR UPDATE` in id order). A serialization
/// failure (40001) or deadlock (40P01) retries the whole body a bounded number
/// of times with jittered backoff; every call is bounded by `operationTimeout`
/// so a lost database turns into `storage_unavailable`, never a hung request.
final class PostgresDatabase: SQLDatabase {
    let client: PostgresClient
    private let logger: Logger
    var dialect: SQLDialect { .postgres }
    /// Attempts for one write transaction before giving up with `storage_unavailable`.
    static let writeAttemptsMax = 8
    /// Longest a single read, write or snapshot may take, including waiting for a connection.
    let operationTimeout: Duration
    /// Keeps `operationTimeout`; its `watch()` loop runs wherever the pool runs.
    let deadlines: OperationDeadlines
    /// Migrations may rebuild large tables or wait for another process's migration.
    static let migrationTimeout: Duration = .seconds(3_600)

    init(client: PostgresClient, logger: Logger, operationTimeout: Duration = .seconds(10),
         deadlines: OperationDeadlines = OperationDeadlines()) {
        self.client = client
        self.logger = logger
        self.operationTimeout = operationTimeout
        self.deadlines = deadlines
    }

    /// The same pool with another bound per operation, for work that is slow by nature (migrations).
    func bounded(by timeout: Duration) -> PostgresDatabase {
        PostgresDatabase(client: client, logger: logger, operationTimeout: timeout, deadlines: deadlines)
    }

    /// The pool and the loop that keeps operations' deadlines, until cancelled.
    func runPool() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.deadlines.watch() }
            await client.run()
            group.cancelAll()
        }
    }

    func read<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        try await bounded { deadline in
            try await Self.mapErrors {
                try await leased(until: deadline) { connection in
                    try await body(Connection(connection: connection, logger: logger))
                }
            }
        }
    }

    func write<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await bounded { deadline in
                    try await Self.mapErrors {
                        try await leased(until: deadline) { connection in
                            try await connection.withTransaction(logger: logger) { connection in
                                try await body(Connection(connection: connection, logger: logger))
                            }
                        }
                    }
                }
            } catch SQLError.retryable(let reason) where attempt < Self.writeAttemptsMax {
                logger.debug("retrying transaction", metadata: ["reason": "\(reason)", "attempt": "\(attempt)"])
                try await Task.sleep(for: Self.backoff(attempt: attempt))
            } catch SQLError.retryable(let reason) {
                throw SQLError.unavailable("gave up after \(attempt) attempts: \(reason)")
            }
        }
    }

    func snapshot(_ queries: [SQLStatement], _ consume: (Int, SQLRow) throws -> Void) async throws {
        // Called only from this task, sequentially, while the connection is leased.
        try await withoutActuallyEscaping(consume) { consume in
            nonisolated(unsafe) let consume = consume
            try await streamSnapshot(queries, consume)
        }
    }

    private func streamSnapshot(_ queries: [SQLStatement], _ consume: @escaping (Int, SQLRow) throws -> Void) async throws {
        nonisolated(unsafe) let consume = consume
        try await Self.mapErrors {
            try await client.withConnection { connection in
                let wrapped = Connection(connection: connection, logger: logger)
                try await wrapped.execute(SQLStatement("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                do {
                    for (index, query) in queries.enumerated() {
                        try await wrapped.forEach(query) { try consume(index, $0) }
                    }
                    try await wrapped.execute(SQLStatement("COMMIT"))
                } catch {
                    _ = try? await wrapped.execute(SQLStatement("ROLLBACK"))
                    throw error
                }
            }
        }
    }

    /// Full jitter over an exponential ceiling: 2, 4, 8 … ms, capped at 200 ms.
    static func backoff(attempt: Int) -> Duration {
        let ceiling = min(200, 1 << min(attempt, 8))
        return .milliseconds(Int.random(in: 1...ceiling))
    }

    /// Runs `body`, failing with `unavailable` when it takes longer than `operationTimeout`
    /// (kept by `deadlines`, whose loop runs beside the pool).
    private func bounded<T: Sendable>(_ body: (OperationDeadline) async throws -> T) async throws -> T {
        let timeout = operationTimeout
        return try await withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            do {
                return try await deadlines.run(within: timeout) { deadline in try await box.value(deadline) }
            } catch is OperationDeadlines.Overdue {
                throw SQLError.unavailable("no answer from PostgreSQL within \(timeout)")
            }
        }
    }

    /// Runs `body` on a pooled connection that is closed if `deadline` passes first: a statement the
    /// server or the network sits on then fails at once (an open transaction is rolled back by the
    /// server), and the pool replaces the connection.
    private func leased<T: Sendable>(until deadline: OperationDeadline, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            do {
                return try await deadline.whilePending(onExpiry: { Self.abandon(connection) }) { try await body(connection) }
            } catch {
                // Handed back before it has finished closing, the connection could go to the next lease.
                if deadline.actionRan { try? await connection.closeFuture.get() }
                throw error
            }
        }
    }

    private static func abandon(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in }
    }

    /// Translates PostgresNIO's errors into `SQLError` by SQLSTATE.
    static func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            throw unwrap(error)
        }
    }

    /// PostgresNIO wraps what went wrong inside a transaction; callers want the error itself.
    static func unwrap(_ error: any Error) -> any Error {
        if let error = error as? PSQLError { return sqlError(error) }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return unwrap(inner) }
            return SQLError.unavailable("transaction failed: \(String(describing: error.rollbackError))")
        }
        return error
    }

    static func sqlError(_ error: PSQLError) -> SQLError {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        let constraint = error.serverInfo?[.constraintName] ?? ""
        switch state {
        case "23505": return .uniqueViolation("\(constraint) \(error.serverInfo?[.detail] ?? message)")
        case "40001", "40P01": return .retryable("\(state) \(message)")
        case _ where state.hasPrefix("23"): return .constraintViolation("\(state) \(constraint) \(message)")
        case "P0001": return .constraintViolation(message) // RAISE EXCEPTION from a trigger
        case _ where state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57"):
            return .unavailable("\(state) \(message)")
        case "": return .unavailable("\(error.code)") // no server answer: connection-level failure
        default: return .other("\(state) \(message)")
        }
    }

    /// `?` placeholders become `$1…$n` (outside quoted strings). Byte by byte: every query passes
    /// through here (a batch's multi-row statements run to tens of kilobytes), and UTF-8 never puts
    /// an ASCII byte inside a multi-byte character.
    static func numbered(_ text: String) -> String {
        let questionMark = UInt8(ascii: "?"), singleQuote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\"")
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 64)
        var index = 0
        var quote: UInt8?
        for byte in text.utf8 {
            if let open = quote {
                if byte == open { quote = nil }
                out.append(byte)
            } else if byte == singleQuote || byte == doubleQuote {
                quote = byte
                out.append(byte)
            } else if byte == questionMark {
                index += 1
                out.append(UInt8(ascii: "$"))
                out.append(contentsOf: String(index).utf8)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func query(_ sql: SQLStatement) -> PostgresQuery {
        PostgresQuery(unsafeSQL: numbered(sql.text), binds: bindings(sql.binds))
    }

    static func bindings(_ binds: [SQLValue]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .int(let int): bindings.append(int)
            case .text(let text): bindings.append(text)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        return bindings
    }

    static func row(_ row: PostgresRow) throws -> SQLRow {
        var columns: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            columns.append(cell.columnName)
            guard cell.bytes != nil else { values.append(.null); continue }
            switch cell.dataType {
            case .int2, .int4, .int8, .oid: values.append(.int(try cell.decode(Int64.self)))
            case .bool: values.append(.int(try cell.decode(Bool.self) ? 1 : 0))
            case .bytea: values.append(.blob(Array(try cell.decode(ByteBuffer.self).readableBytesView)))
            case .numeric:
                guard let value = Int64(try cell.decode(String.self)) else {
                    throw SQLError.decoding("numeric column \(cell.columnName) is not an integer; cast it to BIGINT")
                }
                values.append(.int(value))
            default: values.append(.text(try cell.decode(String.self)))
            }
        }
        return SQLRow(columns: columns, values: values)
    }

    struct Connection: SQLConnection {
        let connection: PostgresConnection
        let logger: Logger

        func query(_ sql: SQLStatement) async throws -> [SQLRow] {
            var rows: [SQLRow] = []
            try await forEach(sql) { rows.append($0) }
            return rows
        }

        /// Rows changed, from the command tag (`UPDATE 3`).
        @discardableResult
        func execute(_ sql: SQLStatement) async throws -> Int {
            let result = try await run(PostgresDatabase.query(sql)).get()
            return result.metadata.rows ?? 0
        }

        private func run(_ query: PostgresQuery) -> EventLoopFuture<PostgresQueryResult> {
            connection.query(query, logger: logger)
        }

        func forEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) async throws {
            if let prepared = sql.prepared {
                try await prepared.forEachRow(on: connection, PostgresDatabase.bindings(sql.binds), logger: logger, body)
                return
            }
            let result = try await connection.query(PostgresDatabase.query(sql), logger: logger)
            for try await row in result { try body(try PostgresDatabase.row(row)) }
        }
    }
}

/// A `PreparedRead` as PostgresNIO's prepared statement: the connection prepares it the first time
/// it runs there (named after the read's type) and afterwards only binds and executes it.
private struct PostgresPreparedRead<Read: PreparedRead>: PostgresPreparedStatement {
    /// The fully qualified type name: unique, so two reads never share a server-side statement.
    static var name: String { texts.name }
    static var sql: String { texts.sql }
    let bindings: PostgresBindings
    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }

    /// Worked out once per read (PostgresNIO asks on every run; a generic type cannot store them).
    private static var texts: (name: String, sql: String) {
        let key = ObjectIdentifier(Read.self)
        if let known = preparedReadTexts.withLock({ $0[key] }) { return known }
        let texts = (name: String(reflecting: Read.self), sql: PostgresDatabase.numbered(Read.text))
        precondition(texts.name.utf8.count <= 63, "PostgreSQL truncates statement names beyond 63 bytes: \(texts.name)")
        preparedReadTexts.withLock { $0[key] = texts }
        return texts
    }
}

private let preparedReadTexts = Mutex<[ObjectIdentifier: (name: String, sql: String)]>([:])

extension PreparedRead {
    /// Runs the prepared statement on `connection`. A connection remembers a failed preparation
    /// for good (PostgresNIO answers every later use with the same error), so on a failure that
    /// may have been the preparation's the connection is closed and the pool opens a fresh one:
    /// the caller sees the error once.
    fileprivate static func forEachRow(on connection: PostgresConnection, _ bindings: PostgresBindings, logger: Logger,
                                       _ body: (SQLRow) throws -> Void) async throws {
        do {
            let rows = try await connection.execute(PostgresPreparedRead<Self>(bindings: bindings), logger: logger)
            for try await row in rows { try body(try PostgresDatabase.row(row)) }
        } catch let error as PSQLError {
            if PostgresDatabase.mayHaveFailedPreparation(error) { try? await connection.close() }
            throw error
        }
    }
}

extension PostgresDatabase {
    /// False for the errors only running a statement raises (a bad value, a constraint, a
    /// serialization failure or deadlock, a lock or a cancelled statement): the preparation
    /// succeeded and the connection is fine. True for the rest (an unknown column, an aborted
    /// transaction, a lost connection).
    static func mayHaveFailedPreparation(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return true }
        return !["22", "23", "40", "55", "57"].contains(String(state.prefix(2)))
    }
}

/// Lets a non-Sendable closure run in a task of its own; safe because the caller awaits it before returning.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: (OperationDeadline) async throws -> T
    init(_ value: @escaping (OperationDeadline) async throws -> T) { self.value = value }
}
