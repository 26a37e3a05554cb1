import Logging
import ServiceLifecycle

/// Releases pending holds whose timeout passed (e.g. a withdrawal the bank
/// never confirmed), so held money does not stay unavailable forever.
///
/// Runs under swift-service-lifecycle; a graceful shutdown interrupts the wait
/// between sweeps at once, so stopping the server never waits for the interval.
public struct HoldExpiryService: Service {
    let wallet: WalletService
    let interval: Duration
    let logger: Logger

    public init(wallet: WalletService, interval: Duration = .seconds(30), logger: Logger = Logger(label: "lucid.expiry")) {
        self.wallet = wallet
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    do {
                        _ = try await wallet.expireHolds()
                    } catch {
                        logger.error("hold expiry failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // shutting down
        }
    }
}
