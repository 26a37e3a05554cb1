import Foundation
import GRDB
import LucidCore

/// `SQLDatabase` over one SQLite file through GRDB.
///
/// Statements run with GRDB's synchronous API from async code. That is a
/// deliberate trade: each statement is a few microseconds against a local file
/// (WAL, page cache, mmap), and `DispatchQueue.sync` runs it on the calling
/// thread, whereas an async hop to GRDB's queues costs a thread switch per
/// statement — which dominated the request path. Readers never wait (WAL); the
/// writer connection is handed to one transaction at a time by `writeLock`, so
/// a synchronous write call never waits for another transaction either. The
/// ledger's group commit takes the same lock around its batches.
final class SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    let writeLock = AsyncMutex()
    var dialect: SQLDialect { .sqlite }

    init(pool: DatabasePool) { self.pool = pool }

    func read<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        try await body(ReadConnection(pool: pool))
    }

    func write<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        try await write(body, committed: { _ in })
    }

    /// `write`, then `committed` with the result once the COMMIT succeeded, while the writer is
    /// still this transaction's: what mirrors committed state in memory (the ledger's cache) is
    /// brought up to date before the next transaction can read it.
    func write<T: Sendable>(_ body: (any SQLConnection) async throws -> T, committed: (T) -> Void) async throws -> T {
        try await writeLock.withLock {
            try Self.execute(pool, "BEGIN IMMEDIATE")
            let result: T
            do {
                result = try await body(WriteConnection(pool: pool))
                try Self.execute(pool, "COMMIT")
            } catch {
                try? Self.execute(pool, "ROLLBACK")
                throw error
            }
            committed(result)
            return result
        }
    }

    func snapshot(_ queries: [SQLStatement], _ consume: (Int, SQLRow) throws -> Void) async throws {
        try syncSnapshot(queries, consume)
    }

    private func syncSnapshot(_ queries: [SQLStatement], _ consume: (Int, SQLRow) throws -> Void) throws {
        // One GRDB read is one read transaction: one snapshot for every query.
        try Self.mapErrors {
            try pool.read { db in
                for (index, query) in queries.enumerated() {
                    try Self.forEach(db, query) { try consume(index, $0) }
                }
            }
        }
    }

    private static func execute(_ pool: DatabasePool, _ sql: String) throws {
        try mapErrors { try pool.writeWithoutTransaction { db in try db.execute(sql: sql) } }
    }

    /// Runs a GRDB call and turns its errors into `SQLError`.
    static func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError {
            throw sqlError(error)
        }
    }

    static func sqlError(_ error: DatabaseError) -> SQLError {
        let message = error.message ?? "\(error)"
        switch error.extendedResultCode {
        case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
            return .uniqueViolation(message)
        default:
            break
        }
        switch error.resultCode {
        case .SQLITE_CONSTRAINT: return .constraintViolation(message)
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_READONLY:
            return .unavailable(message)
        default: return .other("\(error)")
        }
    }

    static func arguments(_ binds: [SQLValue]) -> StatementArguments {
        StatementArguments(binds.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .null: return nil
            case .int(let int): return int
            case .text(let text): return text
            case .blob(let bytes): return Data(bytes)
            }
        })
    }

    static func row(_ row: Row) -> SQLRow {
        var columns: [String] = []
        var values: [SQLValue] = []
        columns.reserveCapacity(row.count)
        values.reserveCapacity(row.count)
        for (column, value) in row {
            columns.append(column)
            switch value.storage {
            case .null: values.append(.null)
            case .int64(let int): values.append(.int(int))
            case .double(let double): values.append(.int(Int64(double)))
            case .string(let text): values.append(.text(text))
            case .blob(let data): values.append(.blob([UInt8](data)))
            }
        }
        return SQLRow(columns: columns, values: values)
    }

    static func query(_ db: Database, _ sql: SQLStatement) throws -> [SQLRow] {
        try Row.fetchAll(db.cachedStatement(sql: sql.text), arguments: arguments(sql.binds)).map(row)
    }

    static func forEach(_ db: Database, _ sql: SQLStatement, _ body: (SQLRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql.text), arguments: arguments(sql.binds))
        while let next = try cursor.next() { try body(row(next)) }
    }

    /// Statements on a reader connection, each in its own snapshot.
    private struct ReadConnection: SQLConnection {
        let pool: DatabasePool

        func query(_ sql: SQLStatement) async throws -> [SQLRow] { try syncQuery(sql) }
        private func syncQuery(_ sql: SQLStatement) throws -> [SQLRow] {
            // One statement is its own snapshot in SQLite; GRDB's `read` would wrap it in BEGIN/COMMIT.
            try SQLiteDatabase.mapErrors { try pool.unsafeRead { db in try SQLiteDatabase.query(db, sql) } }
        }

        func execute(_ sql: SQLStatement) async throws -> Int {
            preconditionFailure("writes go through SQLDatabase.write")
        }

        func forEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) async throws { try syncForEach(sql, body) }
        private func syncForEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) throws {
            try SQLiteDatabase.mapErrors { try pool.read { db in try SQLiteDatabase.forEach(db, sql, body) } }
        }
    }

    /// Statements on the writer connection, inside the transaction `write` opened.
    private struct WriteConnection: SQLConnection {
        let pool: DatabasePool

        func query(_ sql: SQLStatement) async throws -> [SQLRow] { try syncQuery(sql) }
        private func syncQuery(_ sql: SQLStatement) throws -> [SQLRow] {
            try SQLiteDatabase.mapErrors { try pool.writeWithoutTransaction { db in try SQLiteDatabase.query(db, sql) } }
        }

        func execute(_ sql: SQLStatement) async throws -> Int { try syncExecute(sql) }
        private func syncExecute(_ sql: SQLStatement) throws -> Int {
            try SQLiteDatabase.mapErrors {
                try pool.writeWithoutTransaction { db in
                    try db.cachedStatement(sql: sql.text).execute(arguments: SQLiteDatabase.arguments(sql.binds))
                    return db.changesCount
                }
            }
        }

        func forEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) async throws { try syncForEach(sql, body) }
        private func syncForEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) throws {
            try SQLiteDatabase.mapErrors { try pool.writeWithoutTransaction { db in try SQLiteDatabase.forEach(db, sql, body) } }
        }
    }
}
