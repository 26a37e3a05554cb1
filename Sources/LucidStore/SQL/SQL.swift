import LucidCore

/// A value bound to or read from SQL. The same four kinds on SQLite and
/// PostgreSQL, which is what lets the stores share their queries: booleans are
/// stored as 0/1 integers and times as Unix milliseconds on both.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])
}

/// Anything that can be bound as a query parameter.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

extension Int64: SQLBindable { public var sqlValue: SQLValue { .int(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension Array: SQLBindable where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension Timestamp: SQLBindable { public var sqlValue: SQLValue { .int(millisecondsSinceEpoch) } }
extension Identifier: SQLBindable { public var sqlValue: SQLValue { .text(rawValue) } }
extension AccountID: SQLBindable { public var sqlValue: SQLValue { .int(rawValue) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// A read with fixed text that runs on (nearly) every request — the session
/// behind a bearer token, a payee, an idempotency key — declared as a type so
/// that PostgreSQL parses and plans it once per connection instead of on every
/// call. Planning the session lookup alone (a join whose cost estimate reads
/// both tables' statistics) took a quarter of PostgreSQL's CPU under transfer
/// load. SQLite's statement cache already reuses every statement.
///
/// Only for `SELECT`s, and only where the text never changes (no `IN` lists of
/// varying length): each one is a server-side statement on every connection.
public protocol PreparedRead: Sendable {
    /// The statement, with `?` placeholders as in `SQLStatement`.
    static var text: String { get }
}

/// One statement with `?` placeholders and its parameters. PostgreSQL's
/// connection rewrites the placeholders to `$1…$n`; nothing else differs.
public struct SQLStatement: Sendable, CustomStringConvertible {
    public let text: String
    public let binds: [SQLValue]
    /// Set when the text is a `PreparedRead`'s: PostgreSQL then runs the prepared statement.
    public let prepared: (any PreparedRead.Type)?

    public init(_ text: String, _ binds: any SQLBindable...) {
        self.text = text
        self.binds = binds.map(\.sqlValue)
        self.prepared = nil
    }

    /// Runs `read`'s fixed text with `binds`, prepared once per connection on PostgreSQL.
    public init(_ read: any PreparedRead.Type, _ binds: any SQLBindable...) {
        self.text = read.text
        self.binds = binds.map(\.sqlValue)
        self.prepared = read
    }

    /// Runs `read`'s fixed text with `binds`, prepared once per connection on PostgreSQL.
    public init(_ read: any PreparedRead.Type, binds: [SQLValue]) {
        self.text = read.text
        self.binds = binds
        self.prepared = read
    }

    public init(_ text: String, binds: [SQLValue]) {
        self.text = text
        self.binds = binds
        self.prepared = nil
    }

    /// `?, ?, ?` for an `IN (…)` list of `count` values.
    public static func placeholders(_ count: Int) -> String {
        precondition(count > 0, "an IN list needs at least one value")
        return Array(repeating: "?", count: count).joined(separator: ", ")
    }

    /// The statement without its parameters, for logs (parameters may be personal data).
    public var description: String { text }
}

/// A result row: values by position, and by column name for readability.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        precondition(columns.count == values.count)
        self.columns = columns
        self.values = values
    }

    public subscript(_ index: Int) -> SQLValue { values[index] }

    public subscript(_ name: String) -> SQLValue {
        guard let index = columns.firstIndex(of: name) else { preconditionFailure("no column \(name) in the query") }
        return values[index]
    }

    public func int(_ index: Int) throws -> Int64 { try values[index].int() }
    public func int(_ name: String) throws -> Int64 { try self[name].int() }
    public func optionalInt(_ name: String) throws -> Int64? { try self[name].optionalInt() }
    public func text(_ index: Int) throws -> String { try values[index].text() }
    public func text(_ name: String) throws -> String { try self[name].text() }
    public func optionalText(_ name: String) throws -> String? { try self[name].optionalText() }
    public func blob(_ name: String) throws -> [UInt8] { try self[name].blob() }
    public func timestamp(_ name: String) throws -> Timestamp { Timestamp(millisecondsSinceEpoch: try int(name)) }
    public func optionalTimestamp(_ name: String) throws -> Timestamp? {
        try optionalInt(name).map(Timestamp.init(millisecondsSinceEpoch:))
    }
}

extension SQLValue {
    public func int() throws -> Int64 {
        if case .int(let value) = self { return value }
        throw SQLError.decoding("expected an integer, found \(kind)")
    }
    public func optionalInt() throws -> Int64? { self == .null ? nil : try int() }
    public func text() throws -> String {
        if case .text(let value) = self { return value }
        throw SQLError.decoding("expected text, found \(kind)")
    }
    public func optionalText() throws -> String? { self == .null ? nil : try text() }
    public func blob() throws -> [UInt8] {
        if case .blob(let value) = self { return value }
        throw SQLError.decoding("expected bytes, found \(kind)")
    }
    private var kind: String {
        switch self {
        case .null: "null"
        case .int: "integer"
        case .text: "text"
        case .blob: "bytes"
        }
    }
}

/// Database failures, the same on both stores, so services never see a driver's error type.
public enum SQLError: Error, Sendable, CustomStringConvertible {
    /// A UNIQUE constraint refused the row; the text names the constraint or columns.
    case uniqueViolation(String)
    /// A CHECK, NOT NULL or FOREIGN KEY constraint, or a trigger, refused the change: a bug or tampering.
    case constraintViolation(String)
    /// Serialization failure or deadlock: the whole transaction may be retried.
    case retryable(String)
    /// The database cannot be reached or is busy beyond the timeout: `storage_unavailable`.
    case unavailable(String)
    /// A row did not have the expected shape.
    case decoding(String)
    case other(String)

    public var description: String {
        switch self {
        case .uniqueViolation(let s): "unique violation: \(s)"
        case .constraintViolation(let s): "constraint violation: \(s)"
        case .retryable(let s): "retryable: \(s)"
        case .unavailable(let s): "unavailable: \(s)"
        case .decoding(let s): "decoding: \(s)"
        case .other(let s): s
        }
    }

    /// What a client may be told: storage trouble is `storage_unavailable` (retry later), the rest
    /// `internal_error`. The cause stays in the logs.
    public var publicError: LucidError {
        switch self {
        case .unavailable, .retryable: LucidError(.storageUnavailable, cause: description)
        default: LucidError(.internalError, cause: description)
        }
    }
}

/// Which SQL the database speaks, for the few places where the two differ.
public enum SQLDialect: Sendable {
    case sqlite, postgres

    /// Row locks: PostgreSQL locks rows read for update; SQLite's single writer needs none.
    public var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }
}

/// A connection inside `SQLDatabase.read` or `write`. Never keep it beyond the closure.
public protocol SQLConnection: Sendable {
    func query(_ sql: SQLStatement) async throws -> [SQLRow]
    /// Runs a statement and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: SQLStatement) async throws -> Int
    /// Streams the rows one by one, for queries too large to hold (verification, exports).
    func forEach(_ sql: SQLStatement, _ body: (SQLRow) throws -> Void) async throws
}

extension SQLConnection {
    public func queryOne(_ sql: SQLStatement) async throws -> SQLRow? { try await query(sql).first }
}

/// A database both stores share their queries through.
///
/// `write` runs its body in one transaction; on PostgreSQL a serialization
/// failure or deadlock retries the whole body (bounded, jittered), so the body
/// must not have effects outside the database. `read` gives each statement its
/// own consistent snapshot and never waits for a writer.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func read<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T
    func write<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T
    /// Runs `queries` in order inside one consistent snapshot, streaming every row to
    /// `consume` with the index of its query: for whole-ledger reads (verification,
    /// exports) that must not see a half-applied batch and must not hold all rows.
    func snapshot(_ queries: [SQLStatement], _ consume: (Int, SQLRow) throws -> Void) async throws
}
