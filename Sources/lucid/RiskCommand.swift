import ArgumentParser
import Foundation
import LucidCore
import LucidRisk
import LucidServices
import LucidStore

/// `lucid risk …`: the rules, lists and suppressions in force, and backtests over the
/// stored decision history — the command-line twin of `/v1/ops/risk/…` (audited as `system:cli`).
struct RiskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "risk", abstract: "Risk monitoring: rules, lists, suppressions, backtests.",
        subcommands: [Backtest.self, Rules.self, Lists.self, Suppressions.self])

    /// Runs `body` with the operators' risk operations on the store.
    static func withOperations<T: Sendable>(_ options: StoreOptions, _ body: (RiskOperations) async throws -> T) async throws -> T {
        try await options.withStore { store in
            let wallet = options.wallet(store)
            let clock = SystemClock()
            let monitor = RiskMonitor(store: store, clock: clock, ids: UUIDv7Generator(clock: clock))
            try await monitor.reload()
            return try await body(RiskOperations(wallet: wallet, monitor: monitor))
        }
    }

    /// `2026-11-01` (UTC midnight) or an RFC 3339 time.
    static func time(_ text: String, option: String) throws -> Timestamp {
        guard let time = OperatorTime.parse(text, dateOnly: true) else {
            throw ValidationError("\(option) takes a date (2026-11-01) or an RFC 3339 time (2026-11-01T08:00:00Z)")
        }
        return time
    }

    static func read(_ path: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    struct Backtest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the stored decision history through a rules file; print per-rule hits and changed outcomes.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Rules file (YAML) to replay the history through.") var rules: String
        @Option(help: "Start of the history: a date (2026-11-01, UTC) or an RFC 3339 time.") var since: String
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let yaml = try RiskCommand.read(rules)
            let start = try RiskCommand.time(since, option: "--since")
            let result: BacktestReport
            do {
                result = try await RiskCommand.withOperations(store) { try await $0.backtest(yaml: yaml, since: start) }
            } catch { throw report(error) }
            if json { try RiskCommand.printJSON(result) } else { print(Self.render(result, since: start)) }
        }

        static func render(_ report: BacktestReport, since: Timestamp) -> String {
            var lines = ["Rules \(report.ruleSetVersion) over \(report.events) stored events since \(since.rfc3339)", ""]
            lines.append("rule                                      hits  money-out hits")
            for rule in report.rules {
                lines.append("\(rule.ruleID.padding(toLength: 40, withPad: " ", startingAt: 0)) \(String(format: "%5d  %14d", rule.hits, rule.moneyOutHits))")
            }
            lines.append("")
            lines.append("action      recorded  with these rules")
            for action in RiskAction.allCases {
                let was = report.recordedActions[action.rawValue] ?? 0
                let now = report.actions[action.rawValue] ?? 0
                lines.append("\(action.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(format: "%9d  %16d", was, now))")
            }
            lines.append("")
            if report.changes.isEmpty {
                lines.append("no outcome would have changed")
            } else {
                lines.append("changed outcomes (recorded → with these rules):")
                for change in report.changes { lines.append("  \(change.from.rawValue) → \(change.to.rawValue): \(change.count)") }
                lines.append("first changed decisions: \(report.changedExamples.joined(separator: ", "))")
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Rules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or change the rule sets in force (every process reloads within seconds).",
                                                        subcommands: [Show.self, Load.self, ShadowOff.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the live (or shadow) rules file.")
            @OptionGroup var store: StoreOptions
            @Flag(help: "The shadow set instead of the live one.") var shadow = false

            func run() async throws {
                let sets: (live: RiskOperations.RuleSetInfo, shadow: RiskOperations.RuleSetInfo?)
                do { sets = try await RiskCommand.withOperations(store) { try await $0.ruleSets(by: nil) } } catch { throw report(error) }
                guard let info = shadow ? sets.shadow : sets.live else {
                    print("# shadow mode is off")
                    return
                }
                let origin = info.loadedBy.map { "loaded by \($0) at \(info.loadedAt?.rfc3339 ?? "?")" } ?? "bundled defaults"
                print("# \(shadow ? "shadow" : "live") rules \(info.version): \(info.rules) rules, \(origin)")
                print(info.yaml)
            }
        }

        struct Load: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Validate a rules file and put it in force (a bad file changes nothing).")
            @OptionGroup var store: StoreOptions
            @Argument(help: "Rules file (YAML).") var file: String
            @Flag(help: "Run it in shadow beside the live set instead (recorded, never enforced).") var shadow = false

            func run() async throws {
                let yaml = try RiskCommand.read(file)
                let shadow = self.shadow
                do {
                    let info = try await RiskCommand.withOperations(store) { try await $0.putRules(yaml, slot: shadow ? .shadow : .live, by: nil) }
                    print("Rules \(info.version) (\(info.rules) rules) are now the \(shadow ? "shadow" : "live") set.")
                } catch { throw report(error) }
            }
        }

        struct ShadowOff: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "shadow-off", abstract: "Stop running a shadow rule set.")
            @OptionGroup var store: StoreOptions

            func run() async throws {
                do { try await RiskCommand.withOperations(store) { try await $0.switchOffShadow(by: nil) } } catch { throw report(error) }
                print("Shadow mode is off.")
            }
        }
    }

    struct Lists: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow and deny lists of payees, devices and countries.",
                                                        subcommands: [Show.self, Add.self, Remove.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print every entry.")
            @OptionGroup var store: StoreOptions

            func run() async throws {
                let entries: [RiskListEntryRecord]
                do { entries = try await RiskCommand.withOperations(store) { try await $0.listEntries(by: nil) } } catch { throw report(error) }
                if entries.isEmpty { print("(no entries)") }
                for entry in entries {
                    print("\(entry.id)  \(entry.verdict) \(entry.kind) \(entry.value)  for \(entry.userID?.rawValue ?? "everyone")"
                          + "  until \(entry.expiresAt?.rfc3339 ?? "removed")  \(entry.note)")
                }
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add an allow or deny entry.")
            @OptionGroup var store: StoreOptions
            @Option(help: "payee, device or country.") var kind: String
            @Option(help: "A payee key (user:<id>, merchant:<id>, bank:<ref>), a device id or a country code.") var value: String
            @Option(help: "allow or deny.") var verdict: String
            @Option(help: "Only for this customer (user id).") var user: String?
            @Option(help: "Until this date or RFC 3339 time (default: until removed).") var until: String?
            @Option(help: "Why (kept with the entry and in the audit log).") var note = ""

            func run() async throws {
                var userID: UserID?
                if let user {
                    guard let id = UserID(parsing: user) else { throw ValidationError("--user is a user id (UUID)") }
                    userID = id
                }
                let expiresAt = try until.map { try RiskCommand.time($0, option: "--until") }
                let entry = RiskOperations.NewListEntry(kind: kind, value: value, verdict: verdict, userID: userID, expiresAt: expiresAt, note: note)
                do {
                    let added = try await RiskCommand.withOperations(store) { try await $0.addListEntry(entry, by: nil) }
                    print(added.id)
                } catch { throw report(error) }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove an entry by id.")
            @OptionGroup var store: StoreOptions
            @Argument(help: "Entry id.") var id: String

            func run() async throws {
                let id = self.id
                do { try await RiskCommand.withOperations(store) { try await $0.removeListEntry(id, by: nil) } } catch { throw report(error) }
                print("Removed.")
            }
        }
    }

    struct Suppressions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch one rule off for one customer until a time.",
                                                        subcommands: [Show.self, Add.self, Remove.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print every suppression.")
            @OptionGroup var store: StoreOptions

            func run() async throws {
                let items: [RiskSuppressionRecord]
                do { items = try await RiskCommand.withOperations(store) { try await $0.suppressions(by: nil) } } catch { throw report(error) }
                if items.isEmpty { print("(no suppressions)") }
                for item in items {
                    print("\(item.id)  \(item.ruleID) off for \(item.userID.rawValue) until \(item.until.rfc3339)  \(item.note)")
                }
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Suppress a rule for a customer.")
            @OptionGroup var store: StoreOptions
            @Option(help: "The customer (user id).") var user: String
            @Option(help: "The rule id.") var rule: String
            @Option(help: "Until this date or RFC 3339 time.") var until: String
            @Option(help: "Why (e.g. travelling to JP until the 12th).") var note = ""

            func run() async throws {
                guard let userID = UserID(parsing: user) else { throw ValidationError("--user is a user id (UUID)") }
                let end = try RiskCommand.time(until, option: "--until")
                let (rule, note) = (self.rule, self.note)
                do {
                    let added = try await RiskCommand.withOperations(store) {
                        try await $0.addSuppression(user: userID, ruleID: rule, until: end, note: note, by: nil)
                    }
                    print(added.id)
                } catch { throw report(error) }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a suppression by id.")
            @OptionGroup var store: StoreOptions
            @Argument(help: "Suppression id.") var id: String

            func run() async throws {
                let id = self.id
                do { try await RiskCommand.withOperations(store) { try await $0.removeSuppression(id, by: nil) } } catch { throw report(error) }
                print("Removed.")
            }
        }
    }
}
