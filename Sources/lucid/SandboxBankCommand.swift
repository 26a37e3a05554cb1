import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LucidCore
import LucidGateway
import LucidServices

/// `lucid sandbox-bank`: the sandbox bank as its own process, so the service talks to
/// its rails over a real connection (and tests can kill and restart it).
struct SandboxBankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox-bank",
        abstract: "Run the sandbox bank (payment rails with fault injection) as an HTTP server.",
        discussion: """
            Rails answer on /rails/{rail}/…; faults change at run time with PUT /admin/rails/{rail}/faults
            (see docs/GATEWAY.md). Callbacks go to --callback-url as signed POSTs (X-Rail-Signature).
            The callback secret comes from --callback-secret or LUCID_RAIL_CALLBACK_SECRET.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 9090
    @Option(help: "Rail names, comma-separated.") var rails = "bank-a,bank-b"
    @Option(help: "Currencies every rail moves, comma-separated.") var currencies = "CNY"
    @Option(help: "Where callbacks are POSTed (none: callbacks are dropped).") var callbackURL: String?
    @Option(help: "HMAC secret for callback signatures.") var callbackSecret: String?
    @Option(help: "Seconds from acceptance to the final state.") var settlementDelaySeconds: Int64 = 5
    @Option(help: "Seed for every random draw (same seed, same calls: same run).") var seed: UInt64 = 1
    @Option(help: "Faults for every rail at start, as JSON (e.g. '{\"failure_rate\":0.1}').") var faults: String?
    @Option(help: "Directions confirmed in the submit's answer, comma-separated (topup, withdrawal); none by default.")
    var confirmAtOnce: String = ""
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func run() async throws {
        let railIDs = rails.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !railIDs.isEmpty, railIDs.allSatisfy(RailID.isValid), Set(railIDs).count == railIDs.count else {
            throw ValidationError("--rails must be distinct names of lower-case letters, digits and '-'")
        }
        var currencySet = Set<Currency>()
        for code in currencies.split(separator: ",") {
            guard let currency = Currency.named(String(code).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--currencies: \(code) is not supported")
            }
            currencySet.insert(currency)
        }
        guard (0...86_400).contains(settlementDelaySeconds) else {
            throw ValidationError("--settlement-delay-seconds must be between 0 and 86400")
        }
        var startFaults = RailFaults.none
        if let faults {
            do {
                startFaults = try JSONDecoder().decode(RailFaults.self, from: Data(faults.utf8)).validated()
            } catch {
                throw ValidationError("--faults: \(error)")
            }
        }
        var confirmed = Set<RailDirection>()
        for name in confirmAtOnce.split(separator: ",") {
            guard let direction = RailDirection(rawValue: String(name).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--confirm-at-once: \(name) is not topup or withdrawal")
            }
            confirmed.insert(direction)
        }
        let secret = callbackSecret ?? ProcessInfo.processInfo.environment["LUCID_RAIL_CALLBACK_SECRET"]
        if callbackURL != nil, secret == nil {
            throw ValidationError("--callback-url needs --callback-secret or LUCID_RAIL_CALLBACK_SECRET")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }

        let clock = SystemClock()
        let bank = SandboxBank(
            rails: railIDs.map {
                SandboxRailConfiguration(id: RailID($0), currencies: currencySet, settlementDelaySeconds: settlementDelaySeconds,
                                         faults: startFaults, confirmsAtOnce: confirmed)
            },
            seed: seed, clock: clock)
        var configuration = SandboxServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.callbackURL = callbackURL
        if let secret { configuration.callbackSecret = secret }
        configuration.logLevel = level
        let host = self.host
        let names = railIDs.joined(separator: ", ")
        let callbacks = callbackURL ?? "nowhere"
        let application = await SandboxBankServer.buildApplication(bank: bank, configuration: configuration, clock: clock) { port in
            Console.line("Sandbox bank listening on http://\(host):\(port) (rails \(names); callbacks to \(callbacks))")
        }
        try await application.runService()
    }
}
