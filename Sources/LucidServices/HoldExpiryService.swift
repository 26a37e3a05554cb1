import Logging
import ServiceLifecycle

/// Releases pending holds whose timeout passed (e.g. a withdrawal the bank
/// never confirmed), so held money does not stay unavailable forever.
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
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await wallet.expireHolds()
            } catch {
                logger.error("hold expiry failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
