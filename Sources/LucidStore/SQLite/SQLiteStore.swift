import Foundation
import GRDB
import Logging
import LucidCore
import ServiceLifecycle

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
/// a pool of readers, and one writer that group-commits ledger commands.
///
/// Run it as a `Service` (it owns the writer loop); reads work without it.
/// Only one process may serve a file (the writer's account cache is
/// authoritative); scale-out is `PostgresStore`.
public final class SQLiteStore: SQLStore, Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Most commands committed in one transaction.
        public var batchMax: Int = 8_192
        /// Most commands waiting for the writer before new ones are refused with `service_overloaded`.
        public var queueDepthMax: Int = 65_536
        public var readerCountMax: Int = 8
        public init() {}
    }

    public let path: String
    let pool: DatabasePool

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, ids: any IDGenerator, clock: any WallClock, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "lucid.store")) throws {
        self.path = path
        var config = GRDB.Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.maximumReaderCount = configuration.readerCountMax
        config.label = "lucid"
        // `SQLiteDatabase.write` spans a transaction over several writer calls under its own lock.
        config.allowsUnsafeTransactions = true
        config.prepareDatabase { db in
            // Reads through the OS page cache with mmap instead of a pread per page.
            try db.execute(sql: "PRAGMA mmap_size = 1073741824")
        }
        let pool = try DatabasePool(path: path, configuration: config)
        // GRDB switches WAL databases to synchronous=NORMAL when it opens the
        // writer; NORMAL can lose the last commits on power loss. An
        // acknowledged transfer must survive, so the writer goes back to FULL.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            // The writer touches accounts and index pages all over the file; a
            // 64 MiB page cache keeps them in memory between batches.
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        // A file migrated by a newer release has migrations this binary does not know: refuse it.
        let superseded = try pool.read { db in
            try SQLiteSchema.migrator.appliedIdentifiers(db).first { !SQLiteSchema.migrator.migrations.contains($0) }
        }
        if let unknown = superseded { throw SchemaError.newerThanBinary(unknown: unknown) }
        try SQLiteSchema.migrator.migrate(pool)
        self.pool = pool
        let database = SQLiteDatabase(pool: pool)
        let endpoints = DeliveryEndpoints()
        let committer = GroupCommitter(
            backend: SQLiteLedgerBackend(database: database, ids: ids, clock: clock, endpoints: endpoints),
            configuration: .init(batchMax: configuration.batchMax, queueDepthMax: configuration.queueDepthMax),
            logger: logger)
        super.init(database: database, committer: committer, deliveryEndpoints: endpoints)
    }

    /// The writer loop: takes whatever is queued, commits it as one batch, repeats.
    public func run() async throws { try await committer.run() }

    /// The writer connection's `synchronous` setting (2 = FULL); tests assert it.
    public func writerSynchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Names of applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try SQLiteSchema.migrator.appliedMigrations($0) }
    }

    // MARK: Backup

    /// SQLite's online backup: a consistent copy taken while writes continue.
    override public func backup(to path: String) async throws {
        let destination = try DatabaseQueue(path: path)
        try pool.backup(to: destination)
        try destination.close()
    }

    /// Replaces the database at `path` with the backup at `backupPath` (the service must be stopped).
    public static func restore(from backupPath: String, to path: String) throws {
        let source = try DatabaseQueue(path: backupPath)
        // Refuse files that are not Lucid databases before touching the target.
        guard try source.read({ try $0.tableExists("journal") }) else {
            throw LucidError.invalidField("backup", "not a Lucid backup")
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let destination = try DatabaseQueue(path: path)
        try source.backup(to: destination)
        try destination.close()
        try source.close()
    }
}
