import ArgumentParser
import Foundation
import LucidCore
import LucidGateway
import Synchronization

/// `lucid bench reconcile`: writes a settlement report of `--lines` lines with seeded
/// discrepancies, reconciles it against a ledger that computes its records instead of
/// storing them (so the memory measured is the reconciler's), and prints lines/s,
/// elapsed time and peak RSS. Checks that every seeded discrepancy was found.
struct ReconcileBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile", abstract: "Reconcile a generated settlement report (streamed, bounded memory).")
    @Option(help: "Movements in the report.") var lines = 1_000_000
    @Option(help: "Chance per line of each kind of discrepancy.") var discrepancyRate = 0.001
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Write the report here and keep it (default: a temporary file, removed).") var file: String?
    @Flag(help: "Print JSON.") var json = false

    static let rail: RailID = "bank-a"
    static let day = SettlementDay(parsing: "2026-11-25")!

    func run() async throws {
        guard (1...50_000_000).contains(lines), (0...0.1).contains(discrepancyRate) else {
            throw ValidationError("--lines 1…50000000, --discrepancy-rate 0…0.1")
        }
        let path = file ?? NSTemporaryDirectory() + "lucid-bench-reconcile-\(ProcessInfo.processInfo.processIdentifier).csv"
        defer { if file == nil { try? FileManager.default.removeItem(atPath: path) } }

        log("Writing \(lines) lines to \(path)…")
        let generationStart = ContinuousClock.now
        let expected = try Self.generate(path: path, lines: lines, rate: discrepancyRate, seed: seed)
        let generation = ContinuousClock.now - generationStart
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        log(String(format: "Wrote %.1f MB in %.2f s", Double(bytes) / 1e6, generation.inSeconds))

        let rssBefore = Memory.read("VmRSS")
        let peakReset = Memory.resetPeak()
        log("Reconciling…")
        let started = ContinuousClock.now
        let report = try await Reconciler(ledger: SyntheticLedger(lines: lines))
            .reconcile(reportAt: path, rail: Self.rail, day: Self.day)
        let elapsed = (ContinuousClock.now - started).inSeconds
        let peak = Memory.read("VmHWM")

        var found: [String: Int] = [:]
        for kind in ReconciliationClass.allCases { found[kind.rawValue] = report.count(kind) }
        let ok = found == expected
        let result = ReconcileBenchResult(
            lines: report.linesRead, elapsedSeconds: elapsed, linesPerSecond: Double(report.linesRead) / elapsed,
            reportBytes: bytes, generationSeconds: generation.inSeconds, rssBeforeKiB: rssBefore,
            peakRSSKiB: peak, peakIsForReconcileOnly: peakReset, classes: found, expected: expected, ok: ok)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(format: "reconcile: %d lines in %.2f s = %.0f lines/s", result.lines, elapsed, result.linesPerSecond))
            print("  peak RSS \(peak.map { "\($0 / 1024) MiB" } ?? "?")\(peakReset ? " during reconciliation" : " (whole process)"), "
                  + "RSS before \(rssBefore.map { "\($0 / 1024) MiB" } ?? "?"); report \(bytes / 1_000_000) MB")
            print("  classes: \(found.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            print(ok ? "  every seeded discrepancy found, nothing else" : "  MISMATCH: expected \(expected)")
        }
        if !ok { throw ExitCode(1) }
    }

    /// The reference of movement `index`: UUID text with the index in its last 12 hex digits.
    static func reference(_ index: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes[6] = 0x70
        bytes[8] = 0x80
        let value = UInt64(index)
        for i in 0..<6 { bytes[10 + i] = UInt8((value >> (40 - 8 * UInt64(i))) & 0xff) }
        return UUIDText.format(bytes)
    }

    static func index(_ reference: RailReference) -> Int? {
        let text = reference.rawValue.utf8
        guard text.count == 36 else { return nil }
        var value = 0
        for byte in text.suffix(12) {
            switch byte {
            case 0x30...0x39: value = value << 4 | Int(byte - 0x30)
            case 0x61...0x66: value = value << 4 | Int(byte - 0x61 + 10)
            default: return nil
            }
        }
        return value
    }

    /// What the ledger holds for movement `index` (the truth the report is generated from).
    static func truth(_ index: Int) -> LedgerRailRecord {
        LedgerRailRecord(reference: RailReference(reference(index)), rail: rail,
                         direction: index % 3 == 0 ? .withdrawal : .topUp,
                         amount: Money(100 + Int64(index &* 7_919 % 1_000_000), .cny),
                         state: index % 10 == 0 ? .voided : .posted)
    }

    /// Writes the report with seeded discrepancies; returns the count per class reconciliation must find.
    static func generate(path: String, lines: Int, rate: Double, seed: UInt64) throws -> [String: Int] {
        var random = SeededRandom(seed: seed)
        var expected = Dictionary(uniqueKeysWithValues: ReconciliationClass.allCases.map { ($0.rawValue, 0) })
        let writer = try SettlementReportWriter(path: path)
        var ghost = lines
        for index in 0..<lines {
            let record = truth(index)
            let missing = random.chance(rate)
            let amountOff = random.chance(rate)
            let flip = random.chance(rate)
            let duplicate = random.chance(rate)
            let extra = random.chance(rate)
            if missing {
                expected["missing_at_rail", default: 0] += 1
                continue
            }
            var line = SettlementLine(
                valueDate: day, rail: rail, reference: record.reference, direction: record.direction,
                amountMinorUnits: record.amount.minorUnits, currency: .cny,
                finalState: record.state == .posted ? .settled : .failed,
                settledAt: day.start.adding(seconds: Int64(index % 86_400)), bankID: "BANKA-\(index)")
            if amountOff {
                line.amountMinorUnits += 1
                expected["amount_mismatch", default: 0] += 1
            } else if flip {
                line.finalState = line.finalState == .settled ? .failed : .settled
                expected["state_mismatch", default: 0] += 1
            } else {
                expected["matched", default: 0] += 1
            }
            try writer.write(line)
            if duplicate {
                try writer.write(line)
                expected["duplicate", default: 0] += 1
            }
            if extra {
                line.reference = RailReference(reference(ghost))
                line.bankID = "BANKA-\(ghost)"
                ghost += 1
                try writer.write(line)
                expected["missing_in_ledger", default: 0] += 1
            }
        }
        try writer.finish()
        return expected
    }
}

/// A ledger that computes its records from the reference instead of storing them, so the
/// benchmark's memory is the reconciler's own.
struct SyntheticLedger: ReconciliationLedger {
    let lines: Int

    func records(references: [RailReference]) async throws -> [RailReference: LedgerRailRecord] {
        var out: [RailReference: LedgerRailRecord] = [:]
        out.reserveCapacity(references.count)
        for reference in references {
            if let index = ReconcileBench.index(reference), index < lines { out[reference] = ReconcileBench.truth(index) }
        }
        return out
    }

    func items(rail: RailID, day: SettlementDay) -> AsyncThrowingStream<[LedgerRailRecord], any Error> {
        let lines = self.lines
        let next = Mutex(0)
        return AsyncThrowingStream(unfolding: {
            let range = next.withLock { start -> Range<Int> in
                let range = start..<min(start + 1_000, lines)
                start = range.upperBound
                return range
            }
            return range.isEmpty ? nil : range.map(ReconcileBench.truth)
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
    var peakIsForReconcileOnly: Bool
    var classes: [String: Int]
    var expected: [String: Int]
    var ok: Bool

    enum CodingKeys: String, CodingKey {
        case lines, elapsedSeconds = "elapsed_s", linesPerSecond = "lines_per_second", reportBytes = "report_bytes"
        case generationSeconds = "generation_s", rssBeforeKiB = "rss_before_kib", peakRSSKiB = "peak_rss_kib"
        case peakIsForReconcileOnly = "peak_is_for_reconcile_only", classes, expected, ok
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
