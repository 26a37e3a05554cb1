import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import ServiceLifecycle

@main
struct Lucid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lucid",
        abstract: "Lucid Wallet: a digital wallet service with a double-entry ledger.",
        subcommands: [Serve.self, Migrate.self, OperatorCommand.self, MerchantCommand.self, Verify.self, Backup.self, Restore.self,
                      ExportStatement.self, Bench.self, Simulate.self, SandboxBankCommand.self, ReconcileCommand.self,
                      RiskCommand.self]
    )
}

/// `--db` or `--database-url`, shared by every command that touches data.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite database file (created on first use).")
    var db: String = "lucid-data/lucid.sqlite"
    @Option(name: .long, help: "PostgreSQL URL (postgres://user:password@host:port/database); overrides --db. Env: LUCID_DATABASE_URL.")
    var databaseURL: String?

    var location: StoreLocation {
        get throws {
            try StoreLocation.from(databaseURL: databaseURL ?? ProcessInfo.processInfo.environment["LUCID_DATABASE_URL"],
                                   sqlitePath: db)
        }
    }

    /// Runs `body` with the store open (and PostgreSQL's pool running), for commands that do not serve.
    func withStore<T: Sendable>(migrate: Bool = false, _ body: (SQLStore) async throws -> T) async throws -> T {
        let clock = SystemClock()
        return try await location.withStore(ids: UUIDv7Generator(clock: clock), clock: clock, migrate: migrate, body)
    }

    /// Services for commands that do not serve. They never read sealed secrets, so a throw-away key is enough.
    func identity(_ store: SQLStore) -> IdentityService {
        let clock = SystemClock()
        var generator = SystemRandomNumberGenerator()
        let key = (0..<SecretBox.keyByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return IdentityService(store: store, configuration: IdentityConfiguration(), clock: clock, ids: UUIDv7Generator(clock: clock),
                               passwords: ScryptPasswordHasher(parameters: .production), secrets: SecretBox(key: key))
    }

    func wallet(_ store: SQLStore) -> WalletService {
        let clock = SystemClock()
        return WalletService(store: store, configuration: WalletConfiguration(), clock: clock, ids: UUIDv7Generator(clock: clock),
                             identity: identity(store))
    }
}

/// Prints a failure the way customers see them: code and English text, no stack trace.
func report(_ error: any Error) -> ExitCode {
    if let error = error as? LucidError {
        let description = ErrorCatalogue.describe(error, in: .en)
        FileHandle.standardError.write(Data("error: \(error.code.rawValue): \(description.detail)\n".utf8))
        for step in description.nextSteps { FileHandle.standardError.write(Data("  → \(step)\n".utf8)) }
    } else {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    }
    return ExitCode.failure
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Flag(help: "Hash passwords with a tiny scrypt cost. For automated tests only: never in production.")
    var insecureFastPasswordHashing = false
    @Option(help: "Key file that seals TOTP secrets when LUCID_SECRET_KEY is not set (created if missing; share it between processes).")
    var secretKeyFile: String?
    @Flag(help: "Take the client address from X-Forwarded-For (only behind a proxy that sets it).")
    var trustForwardedFor = false
    @Option(help: "Oldest client version accepted (X-Client-Version); overrides the config file (default 1.0.0).")
    var minimumClientVersion: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Flag(help: "Seed two demo customers with money and print how to log in.") var demo = false
    @Option(help: "JSON file with fees, limits and timings (see docs/OPERATIONS.md); missing parts keep the defaults.")
    var config: String?
    @Option(name: .customLong("sandbox-bank-url"),
            help: "Reach the payment rails at a `lucid sandbox-bank` at this URL instead of the in-process sandbox.")
    var sandboxBankURL: String?
    @Option(help: "HMAC secret the rails sign callbacks with (or LUCID_RAIL_CALLBACK_SECRET, or the config file).")
    var railCallbackSecret: String?

    func run() async throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.store = try store.location
        if insecureFastPasswordHashing { configuration.passwordHashing = .lowCostForTests }
        configuration.trustForwardedFor = trustForwardedFor
        if let secretKeyFile {
            configuration.secretKeyPath = secretKeyFile
        } else if case .sqlite(let path) = configuration.store {
            configuration.secretKeyPath = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("secret.key")
        }
        if let config {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: config))
                configuration.wallet = try WalletConfiguration.load(json: data)
                (configuration.identity, configuration.webhooks) = try IdentityConfiguration.load(json: data)
                configuration.risk = try RiskConfiguration.load(json: data)
            } catch {
                throw ValidationError("--config \(config): \(error)")
            }
        }
        if let minimumClientVersion { configuration.wallet.minimumClientVersion = minimumClientVersion }
        configuration.gateway = try gatewayConfiguration(store: configuration.store)
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let logLevel = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let host = self.host
        let place = configuration.store.description
        let demo = self.demo
        let seeded = DemoBox()
        let lucid: LucidApplication
        do {
            lucid = try await buildApplication(configuration) { port in
                // The writer runs once the server does, so demo data is seeded here.
                if demo, let lucid = seeded.value {
                    do { try await Demo.seed(lucid, port: port) } catch { _ = report(error) }
                }
                Console.line("Lucid listening on http://\(host):\(port) (\(place))")
            }
        } catch {
            // Unreachable database, newer schema, pending migrations: say so plainly and exit non-zero.
            throw report(error)
        }
        seeded.value = lucid
        try await lucid.application.runService()
    }
}

struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "operator", abstract: "Manage operators.",
                                                    subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an operator and print its token (shown once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "Unique operator name.") var name: String
        @Option(help: "admin, support, risk or auditor.") var role: String = "admin"

        func run() async throws {
            guard let role = OperatorRole(rawValue: role) else { throw ValidationError("--role must be admin, support, risk or auditor") }
            do {
                let (record, token) = try await store.withStore { try await store.identity($0).createOperator(name: name, role: role) }
                print("Operator \(record.name) (\(record.role.rawValue)) created. Its token is shown only now:")
                print(token)
            } catch { throw report(error) }
        }
    }
}

struct MerchantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merchant", abstract: "Manage merchants.",
                                                    subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a merchant and print its id.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Merchant name shown to customers.") var name: String
        @Option(help: "Two-letter country code.") var country: String = "CN"

        func run() async throws {
            do {
                let merchant = try await store.withStore { try await store.wallet($0).createMerchant(name: name, country: country) }
                print("Merchant \(merchant.name) created with id:")
                print(merchant.id.rawValue)
            } catch { throw report(error) }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild every balance from the journal and report mismatches (exit 1 if any).")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        let report: VerificationReport
        do {
            report = try await store.withStore { try await $0.verify() }
        } catch { throw Lucid_report(error) }
        if json {
            let object: [String: Any] = [
                "ok": report.ok, "accounts_checked": report.accountsChecked, "transfers_checked": report.transfersChecked,
                "mismatches": report.mismatches.map { mismatch -> [String: Any] in
                    var item: [String: Any] = ["kind": mismatch.kind.rawValue, "detail": mismatch.detail]
                    if let account = mismatch.accountID { item["account_id"] = account.rawValue }
                    if let currency = mismatch.currency { item["currency"] = currency }
                    if let expected = mismatch.expected { item["expected"] = expected }
                    if let actual = mismatch.actual { item["actual"] = actual }
                    return item
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("Checked \(report.accountsChecked) accounts and \(report.transfersChecked) journal rows.")
            if report.ok {
                print("OK: every balance equals the sum of its journal entries; debits equal credits.")
            } else {
                print("FAILED: \(report.mismatches.count) mismatch(es):")
                for mismatch in report.mismatches { print("  [\(mismatch.kind.rawValue)] \(mismatch.detail)") }
            }
        }
        if !report.ok { throw ExitCode(1) }
    }
}

// Name clash with `report` variables inside commands.
func Lucid_report(_ error: any Error) -> ExitCode { report(error) }

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database while the service runs (SQLite online backup; pg_dump for PostgreSQL).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Destination file.") var to: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: to) else { throw ValidationError("\(to) already exists; choose a new file") }
        do {
            let location = try store.location
            print("Backing up \(location) to \(to)…")
            let journalRows = try await store.withStore { db -> Int in
                let before = try await db.verify()
                try await db.backup(to: to)
                return before.transfersChecked
            }
            if case .sqlite = location {
                // A SQLite backup is a database: prove it by verifying the copy.
                let report = try await SQLiteStore(path: to, ids: CountingIDGenerator(), clock: SystemClock()).verify()
                print("Done: \(report.transfersChecked) journal rows in the copy, verify \(report.ok ? "OK" : "FAILED").")
                if !report.ok { throw ExitCode(1) }
            } else {
                let size = (try? FileManager.default.attributesOfItem(atPath: to)[.size] as? Int) ?? 0
                print("Done: pg_dump archive of \(size) bytes (at least \(journalRows) journal rows). Restore with `lucid restore`.")
            }
        } catch let exit as ExitCode { throw exit } catch { throw report(error) }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the database with a backup (stop the service first; PostgreSQL: into an empty database).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Backup file made by `lucid backup`.") var from: String

    func run() async throws {
        guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("\(from) does not exist") }
        do {
            let location = try store.location
            print("Restoring \(from) into \(location)…")
            switch location {
            case .sqlite(let path): try SQLiteStore.restore(from: from, to: path)
            case .postgres(let postgres): try PostgresStore.restore(from: from, to: postgres)
            }
            let report = try await store.withStore { try await $0.verify() }
            print("Done: \(report.transfersChecked) journal rows, verify \(report.ok ? "OK" : "FAILED").")
            if !report.ok { throw ExitCode(1) }
        } catch let exit as ExitCode { throw exit } catch { throw report(error) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply database migrations (PostgreSQL needs this before `serve`; SQLite migrates itself on start).")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        do {
            let location = try store.location
            switch location {
            case .sqlite(let path):
                try StoreLocation.createFolder(for: path)
                let applied = try SQLiteStore(path: path, ids: CountingIDGenerator(), clock: SystemClock()).appliedMigrations()
                print("\(location) is at migration \(applied.last ?? "none") (\(applied.count) applied).")
            case .postgres(let postgres):
                let clock = SystemClock()
                let db = try PostgresStore(location: postgres, ids: UUIDv7Generator(clock: clock), clock: clock)
                let (now, all) = try await db.withRunningPool {
                    (try await db.migrate(now: clock.now()), try await db.appliedMigrations())
                }
                print(now.isEmpty ? "\(location) was up to date (\(all.count) migrations)."
                                  : "Applied \(now.joined(separator: ", ")) to \(location).")
            }
        } catch { throw report(error) }
    }
}

struct ExportStatement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-statement",
                                                    abstract: "Export a customer's transactions as CSV (evidence, backups).")
    @OptionGroup var store: StoreOptions
    @Option(help: "User id.") var user: String
    @Option(help: "Output format (csv).") var format: String = "csv"
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        guard format == "csv" else { throw ValidationError("only --format csv is supported") }
        guard let userID = UserID(parsing: user) else { throw ValidationError("--user must be a user id (UUID)") }
        do {
            let rows = try await store.withStore { db -> [TransactionView] in
                guard try await db.user(userID) != nil else { throw LucidError(.userNotFound) }
                return try await store.wallet(db).statement(of: userID)
            }
            let csv = StatementCSV.render(rows)
            if let output {
                try csv.write(toFile: output, atomically: true, encoding: .utf8)
                FileHandle.standardError.write(Data("Wrote \(rows.count) transactions to \(output)\n".utf8))
            } else {
                print(csv, terminator: "")
            }
        } catch let error as ValidationError { throw error } catch { throw report(error) }
    }
}

/// CSV per RFC 4180: amounts in minor units and as decimals, times in UTC.
enum StatementCSV {
    static func render(_ rows: [TransactionView]) -> String {
        var out = "created_at,id,kind,state,direction,amount_minor,fee_minor,currency,amount,fee,counterparty,memo,reason\r\n"
        for row in rows {
            let fields: [String] = [
                row.createdAt.rfc3339, row.id.rawValue, row.kind.rawValue, row.state.rawValue, row.direction ?? "",
                String(row.amount), String(row.fee), row.currency.code, decimal(row.amount, row.currency),
                decimal(row.fee, row.currency), row.counterparty.name, row.memo ?? "", row.reason ?? "",
            ]
            out += fields.map(escape).joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func decimal(_ minor: Int64, _ currency: Currency) -> String {
        let text = Money.format(minor, currency)
        return text.replacingOccurrences(of: currency.symbol, with: "")
    }

    static func escape(_ field: String) -> String {
        // A leading = + - @ would be run as a formula by spreadsheets: neutralise it.
        var value = field
        if let first = value.first, "=+-@".contains(first), Int64(value) == nil { value = "'" + value }
        if value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return value
    }
}

/// Holds the application for the server-running callback, which is made before it exists.
final class DemoBox: @unchecked Sendable {
    var value: LucidApplication?
}

/// Line-buffered standard output that flushes, so scripts waiting for a line see it at once.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// Two demo customers with money, for trying the API by hand.
enum Demo {
    static let password = "lucid-demo-password"

    static func seed(_ lucid: LucidApplication, port: Int) async throws {
        do {
            for (email, name) in [("alice@example.com", "Alice Zhang"), ("bob@example.com", "Bob Li")] {
                let user: UserRecord
                if let existing = try await lucid.store.user(login: email) {
                    user = existing
                } else {
                    user = try await lucid.identity.register(.init(email: email, phone: nil, password: password,
                                                                   displayName: name, country: "CN"))
                }
                let session = try await lucid.identity.logIn(.init(login: email, password: password, deviceID: "demo"),
                                                             origin: RequestOrigin(sourceAddress: "demo"))
                let customer = try await lucid.identity.authenticateCustomer(token: session.token)
                _ = try await lucid.wallet.topUp(customer, amount: 100_000, currency: .cny, idempotencyKey: "demo-seed-\(user.id)")
            }
            Console.line("""
                Demo customers (password \(password)), each with ¥1,000.00:
                  alice@example.com, bob@example.com
                Log in:  curl -s -X POST localhost:\(port)/v1/sessions -H 'Content-Type: application/json' \\
                           -d '{"login":"alice@example.com","password":"\(password)"}'
                """)
        }
    }
}
