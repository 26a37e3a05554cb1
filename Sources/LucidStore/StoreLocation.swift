import Foundation
import Logging
import LucidCore
import ServiceLifecycle

/// Which store to open: the embedded SQLite file, or PostgreSQL for scale-out.
public enum StoreLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// `--database-url` (or `LUCID_DATABASE_URL`) wins over `--db`.
    public static func from(databaseURL: String?, sqlitePath: String) throws -> StoreLocation {
        if let url = databaseURL, !url.isEmpty { return .postgres(try PostgresLocation(url: url)) }
        return .sqlite(path: sqlitePath)
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "SQLite file \(path)"
        case .postgres(let location): location.description
        }
    }

    /// Opens the store for serving. SQLite is created and migrated on first use
    /// (it is embedded); PostgreSQL must be reachable and already migrated with
    /// `lucid migrate`, so several processes never race to change a shared schema.
    public func openForServing(ids: any IDGenerator, clock: any WallClock, logger: Logger) async throws -> any SQLStore & Service {
        switch self {
        case .sqlite(let path):
            try Self.createFolder(for: path)
            return try SQLiteStore(path: path, ids: ids, clock: clock, logger: logger)
        case .postgres(let location):
            // Probe with a short-lived pool: the serving pool can run only once, under the service group.
            let probe = try PostgresStore(location: location, ids: ids, clock: clock, logger: logger)
            try await probe.withRunningPool { try await probe.checkSchema() }
            return try PostgresStore(location: location, ids: ids, clock: clock, logger: logger)
        }
    }

    /// Runs `body` with a store for a command that does not serve: the pool (PostgreSQL)
    /// runs for the duration; ledger commands go through `applyBatch`.
    public func withStore<T: Sendable>(ids: any IDGenerator, clock: any WallClock, migrate: Bool = false,
                                       _ body: (SQLStore) async throws -> T) async throws -> T {
        switch self {
        case .sqlite(let path):
            try Self.createFolder(for: path)
            return try await body(SQLiteStore(path: path, ids: ids, clock: clock))
        case .postgres(let location):
            let store = try PostgresStore(location: location, ids: ids, clock: clock)
            return try await store.withRunningPool {
                if migrate { _ = try await store.migrate(now: clock.now()) } else { try await store.checkSchema() }
                return try await body(store)
            }
        }
    }

    public static func createFolder(for path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    }
}
