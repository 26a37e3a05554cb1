import Logging
import LucidCore
import Metrics
import ServiceLifecycle
import Synchronization

/// Where a batch of ledger commands is written: one database transaction per
/// batch, each command succeeding or failing on its own.
protocol LedgerBackend: Sendable {
    func write(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>]
}

/// The single writer of one process: gathers concurrently submitted commands
/// into batches (group commit) and hands each batch to the backend.
///
/// While a batch is being committed the next one accumulates, so under load
/// many requests share one transaction and one fsync; alone, a request is
/// committed at once. Runs as a `Service`; on shutdown it stops taking new
/// commands and drains what is queued.
final class GroupCommitter: Sendable {
    struct Configuration: Sendable {
        var batchMax: Int
        var queueDepthMax: Int
    }

    private let backend: any LedgerBackend
    private let queue: CommitQueue
    private let configuration: Configuration
    private let statistics = Mutex(CommitStatistics())
    private let logger: Logger
    private let batchSizeRecorder = Recorder(label: "lucid_group_commit_batch_size")

    init(backend: any LedgerBackend, configuration: Configuration, logger: Logger) {
        precondition(configuration.batchMax > 0 && configuration.queueDepthMax > 0)
        self.backend = backend
        self.configuration = configuration
        self.queue = CommitQueue(depthMax: configuration.queueDepthMax)
        self.logger = logger
    }

    func submit(_ command: LedgerCommand) async throws -> LedgerReceipt {
        try await queue.submit(command)
    }

    /// A caller-made batch in one transaction, bypassing the queue (bulk tools, benchmarks).
    func applyBatch(_ commands: [LedgerCommand]) async throws -> [Result<LedgerReceipt, LucidError>] {
        let results = try await backend.write(commands)
        record(batchSize: commands.count)
        return results
    }

    func commitStatistics() -> CommitStatistics { statistics.withLock { $0 } }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                while true {
                    let batch = await queue.take(max: configuration.batchMax)
                    if batch.isEmpty { return }
                    await commit(batch)
                }
            } onCancel: {
                queue.close()
            }
        } onGracefulShutdown: {
            self.queue.close()
        }
    }

    private func commit(_ batch: [CommitQueue.Item]) async {
        do {
            let results = try await backend.write(batch.map(\.command))
            record(batchSize: batch.count)
            for (item, result) in zip(batch, results) { item.continuation.resume(with: result.mapError { $0 }) }
        } catch {
            // The batch as a whole failed (the database refused the transaction):
            // retry each command alone so one bad command cannot fail its neighbours.
            logger.error("group commit failed; retrying one by one", metadata: ["error": "\(error)", "size": "\(batch.count)"])
            for item in batch {
                do {
                    let result = try await backend.write([item.command])[0]
                    record(batchSize: 1)
                    item.continuation.resume(with: result.mapError { $0 })
                } catch {
                    logger.error("ledger command failed", metadata: ["error": "\(error)"])
                    item.continuation.resume(throwing: Self.publicError(error))
                }
            }
        }
    }

    private func record(batchSize: Int) {
        batchSizeRecorder.record(batchSize)
        statistics.withLock { stats in
            stats.batches += 1
            stats.commands += Int64(batchSize)
            stats.largestBatch = max(stats.largestBatch, batchSize)
            var bucket = 1
            while bucket < batchSize { bucket *= 2 }
            stats.batchSizeBuckets[bucket, default: 0] += 1
        }
    }

    /// Storage failures become public errors; the cause stays in the logs.
    static func publicError(_ error: any Error) -> LucidError {
        if let error = error as? LucidError { return error }
        if let error = error as? SQLError { return error.publicError }
        return LucidError(.internalError, cause: "\(error)")
    }
}
