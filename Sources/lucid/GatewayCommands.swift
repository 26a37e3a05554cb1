import ArgumentParser
import AsyncHTTPClient
import Foundation
import LucidCore
import LucidGateway
import LucidServices
import LucidStore

extension Serve {
    /// The payment rails for `lucid serve`: the config file's `gateway` part, then the command line.
    /// Settlement reports are kept beside the SQLite database (or in `lucid-data/reports`).
    func gatewayConfiguration(store location: StoreLocation) throws -> GatewayConfiguration {
        try GatewayOptions.configuration(configFile: config, sandboxBankURL: sandboxBankURL, callbackSecret: railCallbackSecret,
                                         store: location)
    }
}

enum GatewayOptions {
    static func configuration(configFile: String?, sandboxBankURL: String?, callbackSecret: String?,
                              store location: StoreLocation) throws -> GatewayConfiguration {
        var configuration: GatewayConfiguration
        do {
            let data = try configFile.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? Data("{}".utf8)
            configuration = try GatewayConfiguration.load(json: data, environment: ProcessInfo.processInfo.environment)
            if let sandboxBankURL {
                guard sandboxBankURL.hasPrefix("http://") || sandboxBankURL.hasPrefix("https://") else {
                    throw ValidationError("--sandbox-bank-url: use an http:// or https:// URL")
                }
                configuration.sandboxBankURL = sandboxBankURL
            }
            if let callbackSecret { configuration.callbackSecrets = [callbackSecret] }
            if case .sqlite(let path) = location, !(configFile.map(mentionsReportFolder) ?? false) {
                configuration.reportFolder = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("reports")
            }
            configuration = try configuration.validated()
        } catch {
            throw ValidationError("\(configFile.map { "--config \($0): " } ?? "")\(error)")
        }
        return configuration
    }

    private static func mentionsReportFolder(_ path: String) -> Bool {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("report_folder")
    }
}

/// `lucid reconcile`: one rail's settlement report for one day against the ledger.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Reconcile a rail's settlement report for a day against the ledger (exit 1 if anything does not match).",
        discussion: """
            Reads --report FILE, or downloads the day's report from the rail (a `lucid sandbox-bank` at --sandbox-bank-url,
            or the rails of --config). Every line is classified: matched, missing_in_ledger, missing_at_rail,
            amount_mismatch, state_mismatch, duplicate; the rail's clearing account is checked against what the rail says
            it moved. The run and its exceptions are stored, each exception as an operator alert (GET /v1/ops/alerts).
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "The rail (e.g. bank-a).") var rail: String
    @Option(help: "The report's UTC day, YYYY-MM-DD.") var date: String
    @Option(help: "A settlement report file; without it the report is downloaded from the rail.") var report: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Also write every exception and malformed line to this CSV file.") var csv: String?
    @Option(name: .customLong("sandbox-bank-url"), help: "Download from a `lucid sandbox-bank` at this URL.")
    var sandboxBankURL: String?
    @Option(help: "The service's JSON configuration file (its `gateway` part names the rails).") var config: String?

    func run() async throws {
        guard let railID = RailID(parsing: rail) else { throw ValidationError("--rail: lower-case letters, digits and '-'") }
        guard let day = SettlementDay(parsing: date) else { throw ValidationError("--date must be a day, YYYY-MM-DD") }
        if let report, !FileManager.default.fileExists(atPath: report) { throw ValidationError("--report \(report) does not exist") }
        let location = try store.location
        var gatewayConfiguration = try GatewayOptions.configuration(
            configFile: config, sandboxBankURL: sandboxBankURL, callbackSecret: "unused-by-reconciliation-0123456789", store: location)
        guard report != nil || gatewayConfiguration.sandboxBankURL != nil else {
            throw ValidationError("give --report FILE, or --sandbox-bank-url URL (or --config) to download the report from the rail")
        }
        gatewayConfiguration.sweepIntervalSeconds = nil
        gatewayConfiguration.reconciliationMinuteOfDay = nil
        let settings = gatewayConfiguration
        let outcome: ReconciliationOutcome
        do {
            outcome = try await store.withStore { db in
                let clock = SystemClock()
                let gateway = try await PaymentGateway.make(configuration: settings, store: db, clock: clock,
                                                            ids: UUIDv7Generator(clock: clock),
                                                            withdrawalExpectedSeconds: WalletConfiguration().withdrawalExpectedSeconds)
                let outcome: ReconciliationOutcome?
                do {
                    outcome = try await gateway.reconcile(rail: railID, day: day, reportPath: report, triggeredBy: "cli")
                } catch {
                    try? await gateway.httpClient?.shutdown()
                    throw error
                }
                try? await gateway.httpClient?.shutdown()
                guard let outcome else { throw LucidError(.internalError, cause: "the run was refused") }
                return outcome
            }
        } catch { throw Lucid_report(error) }
        let result = outcome.report
        if let csv {
            do { try result.csv().write(toFile: csv, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("--csv \(csv): \(error)")
            }
        }
        if json {
            print(String(decoding: result.json(), as: UTF8.self))
        } else {
            print("Reconciled \(railID) for \(day): \(result.linesRead) lines, run \(outcome.run.id).")
            for kind in ReconciliationClass.allCases {
                let count = result.count(kind)
                if count > 0 || kind == .matched { print("  \(kind.rawValue): \(count)") }
            }
            if result.malformedCount > 0 { print("  malformed lines: \(result.malformedCount)") }
            if result.ledgerInFlight > 0 { print("  still in flight in the ledger: \(result.ledgerInFlight)") }
            for currency in Set(result.railNetMinorUnits.keys).union(result.ledgerNetMinorUnits.keys).sorted() {
                let railNet = result.railNetMinorUnits[currency] ?? 0, ledgerNet = result.ledgerNetMinorUnits[currency] ?? 0
                print("  clearing \(currency): the rail moved \(railNet), the ledger \(ledgerNet), difference \(railNet - ledgerNet)")
            }
            for exception in result.exceptions.prefix(20) {
                print("  [\(exception.kind.rawValue)] \(exception.reference): \(exception.detail)")
            }
            if result.exceptions.count > 20 { print("  … \(result.exceptions.count - 20) more (use --json or --csv)") }
            print(result.isClean ? "OK: the rail and the ledger agree." : "MISMATCHES: each exception is an operator alert.")
        }
        if !result.isClean { throw ExitCode(1) }
    }
}
