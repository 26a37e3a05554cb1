import Logging
import LucidCore
import LucidStore
import ServiceLifecycle

/// Keeps a process's risk monitoring in step with the database: reloads rules, lists and
/// suppressions within seconds of a change made by any process, closes reviews whose hold
/// timed out (telling the customer the money is back), and drops expired list entries and
/// suppressions.
///
/// Runs under swift-service-lifecycle; a graceful shutdown ends the wait between rounds at once.
public struct RiskMaintenanceService: Service {
    let operations: RiskOperations
    let logger: Logger
    /// Reviews and expired entries are swept every this many reload rounds.
    let sweepEvery: Int

    public init(operations: RiskOperations, sweepEvery: Int = 15, logger: Logger = Logger(label: "lucid.risk")) {
        self.operations = operations
        self.sweepEvery = max(1, sweepEvery)
        self.logger = logger
    }

    public func run() async throws {
        let interval = operations.monitor.configuration.reloadInterval
        do {
            try await cancelWhenGracefulShutdown {
                var round = 0
                while !Task.isCancelled {
                    await once(sweep: round % sweepEvery == 0)
                    round += 1
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // shutting down
        }
    }

    /// One round: reload when something changed; with `sweep`, close timed-out reviews and purge expired entries.
    public func once(sweep: Bool) async {
        do {
            try await operations.monitor.reloadIfChanged()
        } catch {
            logger.error("risk rules reload failed", metadata: ["error": "\(error)"])
        }
        guard sweep else { return }
        do {
            let expired = try await operations.expireReviews()
            if expired > 0 { logger.info("risk reviews expired", metadata: ["count": "\(expired)"]) }
            _ = try await operations.monitor.store.purgeExpiredRiskEntries(now: operations.clock.now())
        } catch {
            logger.error("risk sweep failed", metadata: ["error": "\(error)"])
        }
    }
}
