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
    public var bcryptCost: UInt8 = BcryptPasswordHasher.productionCost
    public var wallet = WalletConfiguration()
    public var holdExpiryInterval: Duration = .seconds(30)
    public var logLevel: Logger.Level = .info
    public init() {}
}

/// The assembled service: the HTTP application plus handles tools and tests use.
public struct LucidApplication: Sendable {
    public let application: Application<RouterResponder<LucidContext>>
    public let wallet: WalletService
    public let store: SQLStore
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
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> LucidApplication {
    var logger = Logger(label: "lucid")
    logger.logLevel = configuration.logLevel
    let ids = ids ?? UUIDv7Generator(clock: clock)
    let registry = LucidMetrics.registry
    let store = try await configuration.store.openForServing(ids: ids, clock: clock, logger: logger)
    let wallet = WalletService(store: store, configuration: configuration.wallet, clock: clock, ids: ids,
                               passwords: BcryptPasswordHasher(cost: configuration.bcryptCost), logger: logger)
    let router = Router(context: LucidContext.self)
    // Metrics sit outside the problem middleware so they count the status the client really got.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(ids: ids))
    router.add(middleware: ClientVersionMiddleware(minimum: configuration.wallet.minimumClientVersion))
    Routes(wallet: wallet, registry: registry).register(on: router)
    let application = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lucid"),
        services: [store, HoldExpiryService(wallet: wallet, interval: configuration.holdExpiryInterval, logger: logger)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
    let routeTable = router.routes.map { "\($0.method) \($0.path)" }
    return LucidApplication(application: application, wallet: wallet, store: store, routeTable: routeTable)
}
