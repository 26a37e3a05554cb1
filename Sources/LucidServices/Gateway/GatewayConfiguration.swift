import Foundation
import LucidCore
import LucidGateway

/// How Lucid reaches its payment rails, and how hard it tries (issue 5).
///
/// By default two rails, `bank-a` and `bank-b`, are hosted by a sandbox bank inside the
/// process (top-ups confirmed at once, withdrawals settled after a few seconds). With
/// `sandboxBankURL` the same rails are a separate `lucid sandbox-bank` spoken to over HTTP,
/// whose signed callbacks come back to `POST /v1/gateway/callbacks/{rail}`.
public struct GatewayConfiguration: Sendable {
    /// One rail: its name, what it moves, and the secrets its callbacks are signed with.
    public struct Rail: Sendable, Hashable {
        public var id: RailID
        public var currencies: Set<Currency>
        public var directions: Set<RailDirection>
        /// HMAC secrets for this rail's callbacks (several during a rotation); empty: `callbackSecrets`.
        public var callbackSecrets: [String]

        public init(id: RailID, currencies: Set<Currency>, directions: Set<RailDirection> = Set(RailDirection.allCases),
                    callbackSecrets: [String] = []) {
            self.id = id
            self.currencies = currencies
            self.directions = directions
            self.callbackSecrets = callbackSecrets
        }

        public var descriptor: RailDescriptor { RailDescriptor(id: id, currencies: currencies, directions: directions) }
    }

    /// Rails in order of preference: a customer who names none gets the first operational one.
    public var rails: [Rail] = [
        Rail(id: "bank-a", currencies: Set(Currency.supported)),
        Rail(id: "bank-b", currencies: [.cny, .usd, .hkd]),
    ]
    /// `lucid sandbox-bank` at this URL hosts the rails; nil: a sandbox bank in this process.
    public var sandboxBankURL: String?
    /// Secrets every rail's callbacks may be signed with, unless the rail names its own.
    /// Required with `sandboxBankURL`; otherwise a random one is made at start.
    public var callbackSecrets: [String] = []
    /// How far a callback's signed time may be from now.
    public var callbackToleranceSeconds: Int64 = CallbackVerifier.defaultToleranceSeconds

    // The in-process sandbox bank.
    public var sandboxSeed: UInt64 = 1
    public var sandboxSettlementDelaySeconds: Int64 = 5
    /// Directions the sandbox confirms in its answer (top-ups, as a card or instant payment would).
    public var sandboxConfirmsAtOnce: Set<RailDirection> = [.topUp]
    public var sandboxFaults: [RailID: RailFaults] = [:]

    /// Timeouts, retries and circuit breaker around every rail.
    public var resilience = ResiliencePolicy()
    /// When a top-up should arrive if the rail gives no time of its own.
    public var topUpExpectedSeconds: Int64 = 900

    // The stuck-item sweeper.
    /// Between sweeps; nil: no background sweeper (tests call `PaymentGateway.sweep()`).
    public var sweepIntervalSeconds: Int64? = 30
    /// How long after its expected time an item is first asked about.
    public var sweepGraceSeconds: Int64 = 60
    /// Wait before the next check of an item still pending; doubles per check (capped at a day).
    public var sweepRetrySeconds: Int64 = 60
    /// Checks before an item is escalated to an operator.
    public var sweepAttemptsMax = 5
    /// Items one sweep claims.
    public var sweepBatchMax = 100
    /// How long a claim keeps other processes off an item.
    public var sweepClaimSeconds: Int64 = 300

    /// Minutes after UTC midnight for the daily reconciliation of the day before; nil: none.
    public var reconciliationMinuteOfDay: Int? = 150
    /// Where downloaded settlement reports are kept.
    public var reportFolder = "lucid-data/reports"
    /// Makes due sandbox movements final this often (in-process sandbox); nil: only when asked (tests).
    public var sandboxTickMilliseconds: Int64? = 200

    /// Waits between retries and in the sandbox; nil: real sleeps (tests give a `VirtualSleeper`).
    public var sleeper: (any GatewaySleeper)?
    /// An in-process sandbox bank to use instead of making one (tests: two processes sharing one bank,
    /// whose callbacks then go to the last process built).
    public var sandboxBank: SandboxBank?

    public init() {}

    /// The secrets for one rail's callbacks.
    public func secrets(for rail: Rail) -> [String] {
        rail.callbackSecrets.isEmpty ? callbackSecrets : rail.callbackSecrets
    }

    /// Refuses a configuration that cannot work, naming the place.
    public func validated() throws -> GatewayConfiguration {
        guard !rails.isEmpty else { throw ConfigurationFileError(path: "gateway.rails", reason: "configure at least one rail") }
        guard Set(rails.map(\.id)).count == rails.count else {
            throw ConfigurationFileError(path: "gateway.rails", reason: "rail names must be unique")
        }
        for rail in rails where rail.currencies.isEmpty || rail.directions.isEmpty {
            throw ConfigurationFileError(path: "gateway.rails.\(rail.id)", reason: "name at least one currency and direction")
        }
        if sandboxBankURL != nil, rails.contains(where: { secrets(for: $0).isEmpty }) {
            throw ConfigurationFileError(path: "gateway.callback_secret",
                                         reason: "a sandbox bank URL needs the callback secret it signs with (or LUCID_RAIL_CALLBACK_SECRET)")
        }
        for secret in callbackSecrets + rails.flatMap(\.callbackSecrets) where secret.utf8.count < 16 {
            throw ConfigurationFileError(path: "gateway.callback_secret", reason: "a callback secret needs at least 16 characters")
        }
        guard (1...GatewayLimits.attemptsMax * 10).contains(sweepAttemptsMax), (1...10_000).contains(sweepBatchMax),
              sweepGraceSeconds >= 0, sweepRetrySeconds > 0, sweepClaimSeconds > 0, topUpExpectedSeconds > 0,
              (sweepIntervalSeconds ?? 1) > 0 else {
            throw ConfigurationFileError(path: "gateway", reason: "sweeper settings out of range")
        }
        if let minute = reconciliationMinuteOfDay, !(0..<1440).contains(minute) {
            throw ConfigurationFileError(path: "gateway.reconciliation_time", reason: "use HH:MM in UTC")
        }
        return self
    }

    // MARK: The configuration file

    private struct File: Decodable {
        struct RailFile: Decodable {
            var id: String
            var currencies: [String]?
            var directions: [String]?
            var callbackSecret: String?
        }
        struct SandboxFile: Decodable {
            var seed: UInt64?
            var settlementDelaySeconds: Int64?
            var confirmAtOnce: [String]?
        }
        struct ResilienceFile: Decodable {
            var callTimeoutMs: Int64?
            var reportTimeoutMs: Int64?
            var attemptsMax: Int?
            var backoffBaseMs: Int64?
            var backoffMaxMs: Int64?
            var failureThreshold: Int?
            var windowSeconds: Int64?
            var openSeconds: Int64?
        }
        var sandboxBankUrl: String?
        var callbackSecret: String?
        var callbackToleranceSeconds: Int64?
        var rails: [RailFile]?
        var sandbox: SandboxFile?
        var resilience: ResilienceFile?
        var topupExpectedSeconds: Int64?
        var sweepIntervalSeconds: Int64?
        var sweepGraceSeconds: Int64?
        var sweepRetrySeconds: Int64?
        var sweepAttemptsMax: Int?
        var reconciliationTime: String?
        var reportFolder: String?
    }

    private struct Envelope: Decodable {
        var gateway: File?
    }

    /// Reads the `gateway` part of a configuration file (see docs/GATEWAY.md) over the defaults.
    public static func load(json data: Data, environment: [String: String] = [:]) throws -> GatewayConfiguration {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let envelope: Envelope
        do { envelope = try decoder.decode(Envelope.self, from: data) } catch {
            throw ConfigurationFileError(path: "gateway", reason: "not a valid gateway configuration: \(error)")
        }
        var configuration = GatewayConfiguration()
        if let secret = environment["LUCID_RAIL_CALLBACK_SECRET"], !secret.isEmpty { configuration.callbackSecrets = [secret] }
        guard let file = envelope.gateway else { return try configuration.validated() }
        if let url = file.sandboxBankUrl {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigurationFileError(path: "gateway.sandbox_bank_url", reason: "use an http:// or https:// URL")
            }
            configuration.sandboxBankURL = url
        }
        if let secret = file.callbackSecret { configuration.callbackSecrets = [secret] }
        if let seconds = file.callbackToleranceSeconds {
            guard (1...3_600).contains(seconds) else {
                throw ConfigurationFileError(path: "gateway.callback_tolerance_seconds", reason: "between 1 and 3600")
            }
            configuration.callbackToleranceSeconds = seconds
        }
        if let rails = file.rails {
            configuration.rails = try rails.enumerated().map { index, rail in
                let path = "gateway.rails[\(index)]"
                guard let id = RailID(parsing: rail.id) else {
                    throw ConfigurationFileError(path: path + ".id", reason: "lower-case letters, digits and '-', at most 32")
                }
                let currencies = try (rail.currencies ?? Currency.supported.map(\.code)).map { code in
                    guard let currency = Currency.named(code) else {
                        throw ConfigurationFileError(path: path + ".currencies", reason: "\(code) is not supported")
                    }
                    return currency
                }
                let directions = try (rail.directions ?? RailDirection.allCases.map(\.rawValue)).map { name in
                    guard let direction = RailDirection(rawValue: name) else {
                        throw ConfigurationFileError(path: path + ".directions", reason: "use topup and withdrawal")
                    }
                    return direction
                }
                return Rail(id: id, currencies: Set(currencies), directions: Set(directions),
                            callbackSecrets: rail.callbackSecret.map { [$0] } ?? [])
            }
        }
        if let sandbox = file.sandbox {
            if let seed = sandbox.seed { configuration.sandboxSeed = seed }
            if let delay = sandbox.settlementDelaySeconds {
                guard (0...86_400).contains(delay) else {
                    throw ConfigurationFileError(path: "gateway.sandbox.settlement_delay_seconds", reason: "between 0 and 86400")
                }
                configuration.sandboxSettlementDelaySeconds = delay
            }
            if let directions = sandbox.confirmAtOnce {
                configuration.sandboxConfirmsAtOnce = Set(try directions.map { name in
                    guard let direction = RailDirection(rawValue: name) else {
                        throw ConfigurationFileError(path: "gateway.sandbox.confirm_at_once", reason: "use topup and withdrawal")
                    }
                    return direction
                })
            }
        }
        // Faults use their own snake_case keys (as the sandbox bank's admin route does): decoded as they are.
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let sandboxObject = (object?["gateway"] as? [String: Any])?["sandbox"] as? [String: Any]
        for (name, value) in sandboxObject?["faults"] as? [String: Any] ?? [:] {
            guard let id = RailID(parsing: name) else {
                throw ConfigurationFileError(path: "gateway.sandbox.faults", reason: "\(name) is not a rail name")
            }
            do {
                let json = try JSONSerialization.data(withJSONObject: value)
                configuration.sandboxFaults[id] = try JSONDecoder().decode(RailFaults.self, from: json).validated()
            } catch {
                throw ConfigurationFileError(path: "gateway.sandbox.faults.\(name)", reason: "\(error)")
            }
        }
        if let resilience = file.resilience {
            let defaults = ResiliencePolicy()
            func duration(_ milliseconds: Int64?, _ fallback: Duration, _ name: String) throws -> Duration {
                guard let milliseconds else { return fallback }
                guard (1...3_600_000).contains(milliseconds) else {
                    throw ConfigurationFileError(path: "gateway.resilience.\(name)", reason: "between 1 and 3600000")
                }
                return .milliseconds(milliseconds)
            }
            let attempts = resilience.attemptsMax ?? defaults.attemptsMax
            guard (1...GatewayLimits.attemptsMax).contains(attempts) else {
                throw ConfigurationFileError(path: "gateway.resilience.attempts_max", reason: "between 1 and \(GatewayLimits.attemptsMax)")
            }
            let threshold = resilience.failureThreshold ?? defaults.breaker.failureThreshold
            let window = resilience.windowSeconds ?? defaults.breaker.windowSeconds
            let open = resilience.openSeconds ?? defaults.breaker.openSeconds
            guard (1...1_000).contains(threshold), window >= 1, open >= 1 else {
                throw ConfigurationFileError(path: "gateway.resilience", reason: "breaker settings out of range")
            }
            let base = try duration(resilience.backoffBaseMs, defaults.backoffBase, "backoff_base_ms")
            let cap = try duration(resilience.backoffMaxMs, defaults.backoffMax, "backoff_max_ms")
            guard cap >= base else { throw ConfigurationFileError(path: "gateway.resilience", reason: "backoff_max_ms < backoff_base_ms") }
            configuration.resilience = ResiliencePolicy(
                callTimeout: try duration(resilience.callTimeoutMs, defaults.callTimeout, "call_timeout_ms"),
                reportTimeout: try duration(resilience.reportTimeoutMs, defaults.reportTimeout, "report_timeout_ms"),
                attemptsMax: attempts, backoffBase: base, backoffMax: cap,
                breaker: .init(failureThreshold: threshold, windowSeconds: window, openSeconds: open))
        }
        if let seconds = file.topupExpectedSeconds { configuration.topUpExpectedSeconds = seconds }
        if let seconds = file.sweepIntervalSeconds { configuration.sweepIntervalSeconds = seconds }
        if let seconds = file.sweepGraceSeconds { configuration.sweepGraceSeconds = seconds }
        if let seconds = file.sweepRetrySeconds { configuration.sweepRetrySeconds = seconds }
        if let attempts = file.sweepAttemptsMax { configuration.sweepAttemptsMax = attempts }
        if let time = file.reconciliationTime {
            guard let minute = minuteOfDay(time) else {
                throw ConfigurationFileError(path: "gateway.reconciliation_time", reason: "use HH:MM in UTC, or \"off\"")
            }
            configuration.reconciliationMinuteOfDay = minute >= 0 ? minute : nil
        }
        if let folder = file.reportFolder { configuration.reportFolder = folder }
        return try configuration.validated()
    }

    /// `HH:MM` as minutes after midnight; `off` as -1; nil when malformed.
    public static func minuteOfDay(_ text: String) -> Int? {
        if text == "off" { return -1 }
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }
}
