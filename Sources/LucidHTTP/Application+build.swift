import Foundation
import Hummingbird
import Logging
import LucidCore
import LucidServices
import LucidStore
import Metrics
import Prometheus
import ServiceLifecycle

/// Everything `lucid serve` needs to know; tests build the same thing with other values.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The embedded SQLite file (created with its folder on first start) or a PostgreSQL database.
    public var store: StoreLocation = .sqlite(path: "lucid-data/lucid.sqlite")
    /// scrypt parameters for new password hashes; lower only in tests (`--insecure-fast-password-hashing`).
    public var passwordHashing = ScryptPasswordHasher.Parameters.production
    public var wallet = WalletConfiguration()
    public var identity = IdentityConfiguration()
    /// Webhooks that receive every notification (the SMS / e-mail / push integration point).
    public var webhooks: [WebhookEndpoint] = []
    /// Where the key that seals TOTP secrets lives when `LUCID_SECRET_KEY` is not set.
    public var secretKeyPath = "lucid-data/secret.key"
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    public var trustForwardedFor = false
    public var holdExpiryInterval: Duration = .seconds(30)
    /// Between passes of the webhook deliverer over the outbox.
    public var deliveryInterval: Duration = .seconds(2)
    /// Payment rails: in-process sandbox rails by default, or a `lucid sandbox-bank` over HTTP.
    public var gateway = GatewayConfiguration()
    /// Risk monitoring of every login and movement of money (docs/RISK.md).
    public var risk = RiskConfiguration()
    public var logLevel: Logger.Level = .info
    public init() {}
}

/// The assembled service: the HTTP application plus handles tools and tests use.
public struct LucidApplication: Sendable {
    public let application: Application<RouterResponder<LucidContext>>
    public let wallet: WalletService
    public let identity: IdentityService
    public let store: SQLStore
    /// The payment rails (tests drive the in-process sandbox and the sweeper through it).
    public let gateway: PaymentGateway
    /// The outbox's webhook deliverer (tests drive it directly).
    public let delivery: NotificationDeliveryService
    /// Risk monitoring: the operators' side and the background upkeep (tests drive it directly).
    public let risk: RiskOperations
    public let riskMaintenance: RiskMaintenanceService
    /// Every route as `METHOD /path` (`:id` for parameters), for the OpenAPI coverage test.
    public let routeTable: [String]
}

/// Prometheus registry shared by the process; metrics can be bootstrapped only once.
public enum LucidMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// The one builder used by `lucid serve`, the tests and the benchmarks.
public func buildApplication(
    _ configuration: ServerConfiguration,
    clock: any WallClock = SystemClock(),
    ids: (any IDGenerator)? = nil,
    webhookSender: any WebhookSender = HTTPWebhookSender(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> LucidApplication {
    var logger = Logger(label: "lucid")
    logger.logLevel = configuration.logLevel
    let ids = ids ?? UUIDv7Generator(clock: clock)
    let registry = LucidMetrics.registry
    let store = try await configuration.store.openForServing(ids: ids, clock: clock, logger: logger)
    store.setDeliveryEndpoints(configuration.webhooks.map(\.url))
    let secrets = try SecretBox.load(environment: ProcessInfo.processInfo.environment, path: configuration.secretKeyPath)
    // Loading the common-password list now makes a missing resource fail the start, not a customer's sign-up.
    let passwordPolicy = PasswordPolicy()
    let monitor = RiskMonitor(store: store, configuration: configuration.risk, clock: clock, ids: ids, logger: logger)
    var identity = IdentityService(store: store, configuration: configuration.identity, clock: clock, ids: ids,
                                   passwords: ScryptPasswordHasher(parameters: configuration.passwordHashing), secrets: secrets,
                                   passwordPolicy: passwordPolicy, logger: logger)
    if configuration.risk.enabled { identity.risk = monitor }
    let gateway = try await PaymentGateway.make(configuration: configuration.gateway, store: store, clock: clock, ids: ids,
                                                withdrawalExpectedSeconds: configuration.wallet.withdrawalExpectedSeconds, logger: logger)
    var wallet = WalletService(store: store, configuration: configuration.wallet, clock: clock, ids: ids, identity: identity,
                               gateway: gateway, logger: logger)
    if configuration.risk.enabled { wallet.risk = monitor }
    let risk = RiskOperations(wallet: wallet, monitor: monitor)
    let riskMaintenance = RiskMaintenanceService(operations: risk, logger: logger)
    let delivery = NotificationDeliveryService(store: store, endpoints: configuration.webhooks, sender: webhookSender,
                                               secrets: secrets, clock: clock,
                                               interval: configuration.deliveryInterval, logger: logger)
    let router = Router(context: LucidContext.self)
    // Metrics sit outside the problem middleware so they count the status the client really got.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(ids: ids, trustForwardedFor: configuration.trustForwardedFor))
    router.add(middleware: ClientVersionMiddleware(minimum: configuration.wallet.minimumClientVersion))
    Routes(wallet: wallet, identity: identity, risk: risk, registry: registry).register(on: router)
    let application = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lucid"),
        services: [store, HoldExpiryService(wallet: wallet, interval: configuration.holdExpiryInterval, logger: logger), delivery,
                   riskMaintenance] + gateway.services(logger: logger),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
    let routeTable = router.routes.map { "\($0.method) \($0.path)" }
    return LucidApplication(application: application, wallet: wallet, identity: identity, store: store, gateway: gateway,
                            delivery: delivery, risk: risk, riskMaintenance: riskMaintenance, routeTable: routeTable)
}
