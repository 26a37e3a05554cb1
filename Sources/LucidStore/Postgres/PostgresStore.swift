import Foundation
import Logging
import LucidCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// Where a PostgreSQL database is, parsed from `postgres://user:password@host:port/database?sslmode=…`
/// (or `?host=/socket/dir` for a Unix socket). Printing it never shows the password.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var socketPath: String?
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Extra startup parameters (tests set `search_path` to a schema of their own).
    public var startupParameters: [(String, String)] = []

    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public init(url text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw LocationError(url: Self.redacted(text), reason: "expected postgres://user:password@host:port/database")
        }
        let query = Dictionary(url.queryItems?.map { ($0.name, $0.value ?? "") } ?? [], uniquingKeysWith: { $1 })
        socketPath = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = url.host?.isEmpty == false ? url.host! : "localhost"
        port = url.port ?? 5432
        username = url.user.map { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        password = url.password.map { $0.removingPercentEncoding ?? $0 }
        let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        database = path.isEmpty ? username : path
        guard let mode = TLSMode(rawValue: query["sslmode"] ?? (socketPath != nil || ["localhost", "127.0.0.1", "::1"].contains(host) ? "disable" : "prefer")) else {
            throw LocationError(url: Self.redacted(text), reason: "sslmode must be disable, prefer or require")
        }
        tls = mode
    }

    public var description: String {
        let place = socketPath.map { "socket \($0)/.s.PGSQL.\(port)" } ?? "\(host):\(port)"
        return "PostgreSQL at \(place), database \(database), user \(username)"
    }

    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text) else { return "(unparsable URL)" }
        if url.password != nil { url.password = "***" }
        return url.string ?? "(unparsable URL)"
    }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: "\(socketPath)/.s.PGSQL.\(port)", username: username, password: password,
                                  database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }
}

public struct LocationError: Error, CustomStringConvertible {
    public let url: String
    public let reason: String
    public var description: String { "invalid database URL \(url): \(reason)" }
}

/// Why the database could not be used at start, with what to check.
public struct PostgresUnreachable: Error, CustomStringConvertible {
    public let location: String
    public let cause: String
    public var description: String {
        """
        cannot reach \(location): \(cause)
        Check that the server is running and listening there (pg_isready), that the user and password are right, \
        that the database exists (createdb), and that pg_hba.conf allows this client.
        """
    }
}

/// The scale-out store: several `lucid serve` processes share one PostgreSQL
/// database with the same semantics as the SQLite store.
///
/// Runs as a `Service`: the connection pool and this process's group-commit
/// writer. Everything that must hold across processes — balances, idempotency
/// keys, sessions, daily usage, lockouts — lives in the database.
public final class PostgresStore: SQLStore, Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var batchMax: Int = 8_192
        public var queueDepthMax: Int = 65_536
        public var connectionsMax: Int = 20
        public init() {}
    }

    public let location: PostgresLocation
    let client: PostgresClient
    let postgres: PostgresDatabase

    public init(location: PostgresLocation, ids: any IDGenerator, clock: any WallClock, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "lucid.store")) throws {
        self.location = location
        var clientConfiguration = try location.clientConfiguration()
        clientConfiguration.options.maximumConnections = configuration.connectionsMax
        client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        postgres = PostgresDatabase(client: client, logger: logger)
        let endpoints = DeliveryEndpoints()
        let committer = GroupCommitter(
            backend: PostgresLedgerBackend(database: postgres, ids: ids, clock: clock, endpoints: endpoints),
            configuration: .init(batchMax: configuration.batchMax, queueDepthMax: configuration.queueDepthMax),
            logger: logger)
        super.init(database: postgres, committer: committer, deliveryEndpoints: endpoints)
    }

    /// The connection pool and the writer, until shutdown.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.postgres.runPool() }
            try await self.committer.run()
            // The writer drained on shutdown; stop the pool once nothing can need it.
            group.cancelAll()
        }
    }

    /// Runs `body` with the pool running, for commands that do not serve (migrate, verify, backup).
    /// A pool runs once: a store used this way is not also `run()` as a service.
    public func withRunningPool<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let pool = Task { await postgres.runPool() }
        defer { pool.cancel() }
        return try await body()
    }

    /// Applies pending migrations; returns their names. Safe with other processes doing the same.
    public func migrate(now: Timestamp) async throws -> [String] {
        // An overdue operation's connection is closed, which would abort a long migration: give them an hour.
        try await reachable { try await PostgresMigrator.migrate(postgres.bounded(by: PostgresDatabase.migrationTimeout), now: now) }
    }

    /// Refuses a database this binary cannot serve (newer schema, pending migrations) or cannot reach.
    public func checkSchema() async throws {
        try await reachable { try await PostgresMigrator.check(postgres) }
    }

    /// Names of applied migrations.
    public func appliedMigrations() async throws -> [String] {
        try await reachable { try await PostgresMigrator.applied(postgres) }
    }

    private func reachable<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch SQLError.unavailable(let cause) {
            throw PostgresUnreachable(location: location.description, cause: cause)
        }
    }

    /// `pg_dump` in its custom format: consistent while the service runs.
    override public func backup(to path: String) async throws {
        try PostgresTools.run("pg_dump", ["--format=custom", "--no-owner", "--file=\(path)"] + PostgresTools.connection(location),
                              password: location.password)
    }

    /// Restores a `pg_dump` file into the (empty) database at `location`.
    public static func restore(from path: String, to location: PostgresLocation) throws {
        try PostgresTools.run("pg_restore", ["--no-owner", "--exit-on-error", "--single-transaction",
                                             "--dbname=\(location.database)"] + PostgresTools.connection(location, withDatabase: false) + [path],
                              password: location.password)
    }
}

/// PostgreSQL's own command-line tools, run as child processes.
enum PostgresTools {
    static func connection(_ location: PostgresLocation, withDatabase: Bool = true) -> [String] {
        var arguments = ["--host=\(location.socketPath ?? location.host)", "--port=\(location.port)", "--username=\(location.username)"]
        if withDatabase { arguments.append("--dbname=\(location.database)") }
        return arguments
    }

    static func run(_ tool: String, _ arguments: [String], password: String?) throws {
        let candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?
            .sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin/\(tool)" } ?? []
        guard let executable = (candidates + ["/usr/bin/\(tool)", "/usr/local/bin/\(tool)"])
            .first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw PostgresUnreachable(location: tool, cause: "\(tool) is not installed (apt-get install postgresql-client)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let password { environment["PGPASSWORD"] = password }
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw PostgresUnreachable(location: tool, cause: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

/// Administrative statements (CREATE/DROP SCHEMA, …), each on a short-lived pool of its own.
public enum PostgresAdmin {
    public static func execute(_ location: PostgresLocation, _ sql: String) async throws {
        let store = try PostgresStore(location: location, ids: CountingIDGenerator(), clock: ManualClock())
        _ = try await store.withRunningPool {
            try await store.database.write { try await $0.execute(SQLStatement(sql)) }
        }
    }

    /// Runs `body` with a location whose tables live in a fresh schema `schema` of `base`'s database,
    /// dropped afterwards (also when `body` throws): benchmarks and tests touch nothing else there.
    public static func withScratchSchema<T>(_ base: PostgresLocation, named schema: String,
                                            _ body: (PostgresLocation) async throws -> T) async throws -> T {
        try await execute(base, "CREATE SCHEMA \(schema)")
        var location = base
        location.startupParameters = [("search_path", schema)]
        let result: T
        do {
            result = try await body(location)
        } catch {
            try? await execute(base, "DROP SCHEMA \(schema) CASCADE")
            throw error
        }
        try await execute(base, "DROP SCHEMA \(schema) CASCADE")
        return result
    }

    /// A migrated store in a scratch schema (`withScratchSchema`), its pool running while `body` runs.
    public static func withScratchStore<T: Sendable>(_ base: PostgresLocation, named schema: String, ids: any IDGenerator,
                                                     clock: any WallClock, _ body: (PostgresStore) async throws -> T) async throws -> T {
        try await withScratchSchema(base, named: schema) { location in
            let store = try PostgresStore(location: location, ids: ids, clock: clock)
            return try await store.withRunningPool {
                _ = try await store.migrate(now: clock.now())
                return try await body(store)
            }
        }
    }
}
