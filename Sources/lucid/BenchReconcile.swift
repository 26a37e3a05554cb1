import ArgumentParser
import Foundation
import LucidCore
import LucidGateway
import LucidServices
import LucidStore
import Synchronization

/// `lucid bench reconcile`: writes a settlement report of `--lines` lines with seeded
/// discrepancies (`SettlementWorkload`) and reconciles it, printing lines/s, elapsed time and
/// peak RSS. Checks that every seeded discrepancy was found and nothing else (exit 1 otherwise).
///
/// Without `--store` the ledger computes its records instead of storing them (`SyntheticLedger`),
/// so the figures are the reconciler's own. With `--store` the day's movements are first seeded
/// into a real database through the ledger (`PaymentGateway.seed`, not measured), and the report is
/// reconciled the way an operator's run does it (`PaymentGateway.reconcile`: the reconciler over the
/// store-backed ledger, the run, its exceptions and their alerts stored).
struct ReconcileBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile", abstract: "Reconcile a generated settlement report (streamed, bounded memory).")
    @Option(help: "Movements in the report.") var lines = 1_000_000
    @Option(help: "Chance per line of each kind of discrepancy.") var discrepancyRate = 0.001
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Write the report here and keep it (default: a temporary file, removed).") var file: String?
    @Flag(help: "Reconcile against a real store seeded with the day's movements (default: a temporary SQLite file).")
    var store = false
    @Option(help: "With --store: this SQLite file, kept afterwards; a file this benchmark seeded before with as many lines is reused.")
    var db: String?
    @Option(help: "With --store: PostgreSQL URL; the benchmark runs in a fresh schema of that database, dropped afterwards.")
    var databaseURL: String?
    @Option(help: "With --store: customers the movements are spread over.") var customers = 1_000
    @Option(help: "With --store: movements per seeding batch (default 10000 on SQLite, 1000 on PostgreSQL, whose round trips must each answer within the store's deadline).")
    var batchSize: Int?
    @Flag(help: "Print JSON.") var json = false

    static let rail: RailID = "bank-a"
    static let day = SettlementDay(parsing: "2026-11-25")!

    func run() async throws {
        guard (1...50_000_000).contains(lines), (0...0.1).contains(discrepancyRate) else {
            throw ValidationError("--lines 1…50000000, --discrepancy-rate 0…0.1")
        }
        guard store || (db == nil && databaseURL == nil) else { throw ValidationError("--db and --database-url need --store") }
        guard (1...1_000_000).contains(customers), (1...PaymentGateway.seedBatchMax).contains(batchSize ?? 1) else {
            throw ValidationError("--customers 1…1000000, --batch-size 1…\(PaymentGateway.seedBatchMax)")
        }
        let workload = SettlementWorkload(movements: lines, rail: Self.rail, day: Self.day, discrepancyRate: discrepancyRate, seed: seed)
        let path = file ?? NSTemporaryDirectory() + "lucid-bench-reconcile-\(ProcessInfo.processInfo.processIdentifier).csv"
        defer { if file == nil { try? FileManager.default.removeItem(atPath: path) } }
        if store {
            try await runOnStore(workload, reportPath: path)
        } else {
            let (expected, generation) = try writeReport(workload, to: path)
            let measured = try await measure {
                try await Reconciler(ledger: SyntheticLedger(workload: workload)).reconcile(reportAt: path, rail: Self.rail, day: Self.day)
            }
            try finish(measured, expected: expected, generationSeconds: generation, store: nil)
        }
    }

    private func writeReport(_ workload: SettlementWorkload, to path: String) throws -> (SettlementWorkload.Expectation, Double) {
        log("Writing \(lines) lines to \(path)…")
        let started = ContinuousClock.now
        let expected = try workload.writeReport(to: path)
        let elapsed = (ContinuousClock.now - started).inSeconds
        log(String(format: "Wrote %.1f MB in %.2f s", Double(expected.bytes) / 1e6, elapsed))
        return (expected, elapsed)
    }

    // MARK: Against a real store

    private func runOnStore(_ workload: SettlementWorkload, reportPath: String) async throws {
        // The benchmark day's evening: the rail finished every movement by then.
        let clock = ManualClock(Self.day.end.adding(seconds: 3_600))
        let ids = UUIDv7Generator(clock: clock)
        if let databaseURL {
            let base = try PostgresLocation(url: databaseURL)
            let schema = "lucid_bench_reconcile_\(ProcessInfo.processInfo.processIdentifier)"
            try await PostgresAdmin.withScratchStore(base, named: schema, ids: ids, clock: clock) { database in
                log("Benchmarking \(base) in schema \(schema)…")
                try await reconcile(workload, in: database, backend: "postgresql", reportPath: reportPath, clock: clock, ids: ids)
            }
        } else {
            let path = db ?? NSTemporaryDirectory() + "lucid-bench-reconcile-\(ProcessInfo.processInfo.processIdentifier).sqlite"
            defer { if db == nil { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } } }
            log("Benchmarking SQLite file \(path)…")
            try StoreLocation.createFolder(for: path)
            try await reconcile(workload, in: try SQLiteStore(path: path, ids: ids, clock: clock), backend: "sqlite",
                                reportPath: reportPath, clock: clock, ids: ids)
        }
    }

    private func reconcile(_ workload: SettlementWorkload, in database: SQLStore, backend: String, reportPath: String,
                           clock: ManualClock, ids: any IDGenerator) async throws {
        var settings = GatewayConfiguration()
        settings.sweepIntervalSeconds = nil
        settings.reconciliationMinuteOfDay = nil
        settings.sandboxTickMilliseconds = nil
        let gateway = try await PaymentGateway.make(configuration: settings, store: database, clock: clock, ids: ids,
                                                    withdrawalExpectedSeconds: WalletConfiguration().withdrawalExpectedSeconds)
        var seeding = SeedingFigures(customers: customers, reused: false, seconds: 0, movementsPerSecond: 0)
        if try await Self.isSeeded(workload, in: database) {
            log("The database already holds these \(lines) movements: reusing them.")
            seeding.reused = true
        } else {
            let batchSize = self.batchSize ?? (backend == "postgresql" ? 1_000 : 10_000)
            log("Seeding \(customers) customers and \(lines) movements (batches of \(batchSize))…")
            let started = ContinuousClock.now
            let step = max(batchSize, lines / 10)
            var reported = 0
            _ = try await gateway.seed(workload, customers: customers, batchSize: batchSize) { done in
                if done - reported >= step || done == lines {
                    reported = done
                    log(String(format: "  %d movements, %.1f s", done, (ContinuousClock.now - started).inSeconds))
                }
            }
            seeding.seconds = (ContinuousClock.now - started).inSeconds
            seeding.movementsPerSecond = Double(lines) / seeding.seconds
            log(String(format: "Seeded in %.1f s (%.0f movements/s)", seeding.seconds, seeding.movementsPerSecond))
        }
        let (expected, generation) = try writeReport(workload, to: reportPath)
        let measured = try await measure {
            guard let outcome = try await gateway.reconcile(rail: workload.rail, day: workload.day, reportPath: reportPath,
                                                            triggeredBy: "bench") else {
                throw ValidationError("the run was refused")
            }
            return outcome.report
        }
        try finish(measured, expected: expected, generationSeconds: generation, store: StoreFigures(backend: backend, seeding: seeding))
    }

    /// True when this benchmark seeded `workload`'s movements into the database before (the first and
    /// the last are there, resolved).
    static func isSeeded(_ workload: SettlementWorkload, in database: SQLStore) async throws -> Bool {
        for index in [0, workload.movements - 1] {
            guard let item = try await database.railItem(TransferID(workload.reference(index).rawValue)),
                  item.state.isFinal else { return false }
        }
        guard try await database.railItem(TransferID(workload.reference(workload.movements).rawValue)) == nil else {
            throw ValidationError("the database holds more movements than --lines \(workload.movements): use another --db")
        }
        return true
    }

    // MARK: Measuring and checking

    struct Measured {
        var report: ReconciliationReport
        var elapsedSeconds: Double
        var rssBeforeKiB: Int?
        var peakRSSKiB: Int?
        var peakAnonymousKiB: Int?
        var peakIsForReconcileOnly: Bool
    }

    /// Runs `body` with the peak resident memory reset before it, and samples the anonymous part
    /// (the heap: what the process allocated, not the database pages it maps) while it runs.
    private func measure(_ body: () async throws -> ReconciliationReport) async throws -> Measured {
        let rssBefore = Memory.read("VmRSS")
        let peakReset = Memory.resetPeak()
        let sampler = Task {
            var peak = Memory.read("RssAnon") ?? 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
                peak = max(peak, Memory.read("RssAnon") ?? 0)
            }
            return peak
        }
        log("Reconciling…")
        let started = ContinuousClock.now
        let report: ReconciliationReport
        do {
            report = try await body()
        } catch {
            sampler.cancel()
            throw error
        }
        let elapsed = (ContinuousClock.now - started).inSeconds
        let peak = Memory.read("VmHWM")
        sampler.cancel()
        let anonymous = max(await sampler.value, Memory.read("RssAnon") ?? 0)
        return Measured(report: report, elapsedSeconds: elapsed, rssBeforeKiB: rssBefore, peakRSSKiB: peak,
                        peakAnonymousKiB: anonymous, peakIsForReconcileOnly: peakReset)
    }

    private func finish(_ measured: Measured, expected: SettlementWorkload.Expectation, generationSeconds: Double,
                        store: StoreFigures?) throws {
        let report = measured.report
        var found: [String: Int] = [:]
        var wanted: [String: Int] = [:]
        for kind in ReconciliationClass.allCases {
            found[kind.rawValue] = report.count(kind)
            wanted[kind.rawValue] = expected.counts[kind] ?? 0
        }
        // Every listed exception is a seeded one and every seeded one is listed (when none were left unlisted).
        let listed = Set(report.exceptions.map { SettlementWorkload.Discrepancy(kind: $0.kind, reference: $0.reference) })
        let exact = report.exceptionsOmitted > 0 || listed == Set(expected.discrepancies)
        let ok = found == wanted && exact && report.malformedCount == 0 && report.ledgerInFlight == 0
        let elapsed = measured.elapsedSeconds
        let result = ReconcileBenchResult(
            lines: report.linesRead, elapsedSeconds: elapsed, linesPerSecond: Double(report.linesRead) / elapsed,
            reportBytes: expected.bytes, generationSeconds: generationSeconds, rssBeforeKiB: measured.rssBeforeKiB, peakRSSKiB: measured.peakRSSKiB,
            peakAnonymousRSSKiB: measured.peakAnonymousKiB, peakIsForReconcileOnly: measured.peakIsForReconcileOnly,
            classes: found, expected: wanted, ok: ok, store: store)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            let peak = measured.peakRSSKiB
            if let store {
                print(store.seeding.reused ? "seeding: reused an earlier seeded \(store.backend) database"
                      : String(format: "seeding (not measured): %d customers, %d movements in %.1f s = %.0f movements/s on %@",
                               store.seeding.customers, lines, store.seeding.seconds, store.seeding.movementsPerSecond, store.backend))
            }
            print(String(format: "reconcile%@: %d lines in %.2f s = %.0f lines/s", store == nil ? "" : " (against the \(store!.backend) store)",
                         result.lines, elapsed, result.linesPerSecond))
            print("  peak RSS \(peak.map { "\($0 / 1024) MiB" } ?? "?")\(measured.peakIsForReconcileOnly ? " during reconciliation" : " (whole process)"), "
                  + "of it anonymous (heap) \(measured.peakAnonymousKiB.map { "\($0 / 1024) MiB" } ?? "?"); "
                  + "RSS before \(measured.rssBeforeKiB.map { "\($0 / 1024) MiB" } ?? "?"); report \(expected.bytes / 1_000_000) MB")
            print("  classes: \(found.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            if report.malformedCount > 0 || report.ledgerInFlight > 0 {
                print("  malformed lines \(report.malformedCount), in flight \(report.ledgerInFlight)")
            }
            print(ok ? "  every seeded discrepancy found, nothing else"
                     : "  MISMATCH: expected \(wanted)\(exact ? "" : "; the exceptions listed are not the seeded ones")")
        }
        if !ok { throw ExitCode(1) }
    }
}

/// How the store was seeded (not part of the measured time).
struct SeedingFigures: Codable {
    var customers: Int
    var reused: Bool
    var seconds: Double
    var movementsPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case customers, reused, seconds = "seconds", movementsPerSecond = "movements_per_second"
    }
}

struct StoreFigures: Codable {
    var backend: String
    var seeding: SeedingFigures
}

/// A ledger that computes its records from the reference instead of storing them, so the
/// benchmark's memory is the reconciler's own.
struct SyntheticLedger: ReconciliationLedger {
    let workload: SettlementWorkload

    func records(references: [RailReference]) async throws -> [RailReference: LedgerRailRecord] {
        var out: [RailReference: LedgerRailRecord] = [:]
        out.reserveCapacity(references.count)
        for reference in references {
            if let index = workload.index(of: reference), index < workload.movements {
                out[reference] = workload.movement(index)
            }
        }
        return out
    }

    func items(rail: RailID, day: SettlementDay) -> AsyncThrowingStream<[LedgerRailRecord], any Error> {
        let workload = self.workload
        let next = Mutex(0)
        return AsyncThrowingStream(unfolding: {
            let range = next.withLock { start -> Range<Int> in
                let range = start..<min(start + 1_000, workload.movements)
                start = range.upperBound
                return range
            }
            return range.isEmpty ? nil : range.map(workload.movement)
        })
    }
}

struct ReconcileBenchResult: Codable {
    var lines: Int
    var elapsedSeconds: Double
    var linesPerSecond: Double
    var reportBytes: Int64
    var generationSeconds: Double
    var rssBeforeKiB: Int?
    var peakRSSKiB: Int?
    /// The heap's peak (RssAnon, sampled): memory the process allocated, not file pages it maps.
    var peakAnonymousRSSKiB: Int?
    var peakIsForReconcileOnly: Bool
    var classes: [String: Int]
    var expected: [String: Int]
    var ok: Bool
    /// With `--store`: the backend and how it was seeded.
    var store: StoreFigures?

    enum CodingKeys: String, CodingKey {
        case lines, elapsedSeconds = "elapsed_s", linesPerSecond = "lines_per_second", reportBytes = "report_bytes"
        case generationSeconds = "generation_s", rssBeforeKiB = "rss_before_kib", peakRSSKiB = "peak_rss_kib", peakAnonymousRSSKiB = "peak_anon_rss_kib"
        case peakIsForReconcileOnly = "peak_is_for_reconcile_only", classes, expected, ok, store
    }
}

/// Resident memory from /proc (Linux).
enum Memory {
    /// A `Vm…` line of /proc/self/status in KiB.
    static func read(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Resets the peak (VmHWM) to the current RSS (Linux ≥ 4.0); false when not possible.
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }
}

extension Duration {
    var inSeconds: Double { milliseconds / 1000 }
}
