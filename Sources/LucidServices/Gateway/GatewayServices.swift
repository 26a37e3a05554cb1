import AsyncHTTPClient
import LucidCore
import LucidGateway
import Logging
import ServiceLifecycle

/// Sweeps stuck rail items every `interval` (see `PaymentGateway.sweep()`). A graceful shutdown
/// interrupts the wait at once; a sweep in progress finishes its current item.
public struct RailSweeperService: Service {
    let gateway: PaymentGateway
    let interval: Duration
    let logger: Logger

    public init(gateway: PaymentGateway, interval: Duration, logger: Logger = Logger(label: "lucid.sweeper")) {
        self.gateway = gateway
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    do {
                        _ = try await gateway.sweep()
                    } catch {
                        logger.error("sweep failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch is CancellationError {
            // shutting down
        }
    }
}

/// Reconciles every rail's report for the day before, once a day at `minuteOfDay` (UTC).
/// With several processes, the database lets one of them do each rail and day.
public struct ReconciliationScheduler: Service {
    let gateway: PaymentGateway
    let minuteOfDay: Int
    let clock: any WallClock
    let logger: Logger

    public init(gateway: PaymentGateway, minuteOfDay: Int, clock: any WallClock, logger: Logger = Logger(label: "lucid.reconciliation")) {
        precondition((0..<1440).contains(minuteOfDay), "a minute of the day")
        self.gateway = gateway
        self.minuteOfDay = minuteOfDay
        self.clock = clock
        self.logger = logger
    }

    /// The next time the run is due after `now`.
    public static func nextRun(after now: Timestamp, minuteOfDay: Int) -> Timestamp {
        let today = now.startOfUTCDay.adding(seconds: Int64(minuteOfDay) * 60)
        return today > now ? today : today.adding(seconds: 86_400)
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    let now = clock.now()
                    let next = Self.nextRun(after: now, minuteOfDay: minuteOfDay)
                    try await Task.sleep(for: .milliseconds(next.millisecondsSinceEpoch - now.millisecondsSinceEpoch))
                    await gateway.reconcileYesterday()
                }
            }
        } catch is CancellationError {
            // shutting down
        }
    }
}

/// Keeps the rails' HTTP client for the life of the service and shuts it down after.
public struct GatewayClientService: Service {
    let gateway: PaymentGateway

    public init(gateway: PaymentGateway) { self.gateway = gateway }

    public func run() async throws {
        try? await gracefulShutdown()
        try await gateway.httpClient?.shutdown()
    }
}

extension PaymentGateway {
    /// The long-running work the gateway needs, for `buildApplication`: the in-process sandbox's
    /// settlement ticker, the sweeper, the daily reconciliation, and the HTTP client's lifetime.
    public func services(logger: Logger) -> [any Service] {
        var services: [any Service] = []
        if let sandbox, let tick = configuration.sandboxTickMilliseconds {
            services.append(SettlementTicker(bank: sandbox, interval: .milliseconds(tick), logger: logger))
        }
        if let seconds = configuration.sweepIntervalSeconds {
            services.append(RailSweeperService(gateway: self, interval: .seconds(seconds), logger: logger))
        }
        if let minute = configuration.reconciliationMinuteOfDay {
            services.append(ReconciliationScheduler(gateway: self, minuteOfDay: minute, clock: clock, logger: logger))
        }
        if httpClient != nil { services.append(GatewayClientService(gateway: self)) }
        return services
    }
}
