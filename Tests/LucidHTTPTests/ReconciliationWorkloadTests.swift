import Foundation
import LucidCore
import LucidGateway
import LucidServices
import LucidStore
import Testing

/// `lucid bench reconcile --store` in small: a day of movements seeded into a real store through the
/// ledger, its settlement report with every kind of discrepancy, reconciled the way an operator's run
/// does it. Runs on PostgreSQL too when LUCID_TEST_POSTGRES_URL is set.
@Suite("Reconciliation against a seeded store")
struct ReconciliationWorkloadTests {
    static let postgresURL = ProcessInfo.processInfo.environment["LUCID_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static var backends: [String] { postgresURL == nil ? ["sqlite"] : ["sqlite", "postgresql"] }

    @Test("a seeded day reconciled through the store finds exactly the seeded discrepancies, over many pages",
          arguments: backends)
    func seededDay(backend: String) async throws {
        // 3,000 movements: three pages of the day's items and three lookup batches; rate 1 % gives every kind.
        let workload = SettlementWorkload(movements: 3_000, discrepancyRate: 0.01, seed: 7)
        let clock = ManualClock(workload.day.end.adding(seconds: 3_600))
        let ids = CountingIDGenerator()  // one generator for the store and the gateway: ids never repeat
        try await Self.withStore(backend, clock: clock, ids: ids) { store in
            var settings = GatewayConfiguration()
            settings.sweepIntervalSeconds = nil
            settings.reconciliationMinuteOfDay = nil
            settings.sandboxTickMilliseconds = nil
            let gateway = try await PaymentGateway.make(configuration: settings, store: store, clock: clock, ids: ids,
                                                        withdrawalExpectedSeconds: 86_400)
            let seeded = try await gateway.seed(workload, customers: 25, batchSize: 700)
            #expect(seeded.customers == 25 && seeded.movements == 3_000 && seeded.batches == 2 * (1 + 5))
            #expect(try await store.verify().ok, "seeding went through the ledger's rules")
            let clearing = try #require(try await store.clearingBalances(rail: "bank-a").first)
            var net: Int64 = 0
            for index in 0..<workload.movements {
                let movement = workload.movement(index)
                guard movement.state == .posted else { continue }
                net += movement.direction == .topUp ? movement.amount.minorUnits : -movement.amount.minorUnits
            }
            let opening = try await store.railItems(rail: "bank-a", state: .posted, limit: 5_000, cursor: nil).items
                .filter { workload.index(of: RailReference($0.reference)) == nil }
            #expect(opening.count == 25)
            #expect(clearing.balance.posted == -(net + opening.reduce(0) { $0 + $1.amount }), "the clearing account moved as the rail did")

            let path = NSTemporaryDirectory() + "lucid-workload-\(UUID().uuidString).csv"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let expected = try workload.writeReport(to: path)
            for kind in ReconciliationClass.allCases { #expect(expected.counts[kind, default: 0] > 0, "the seed gives \(kind)") }

            let outcome = try #require(try await gateway.reconcile(rail: workload.rail, day: workload.day, reportPath: path,
                                                                   triggeredBy: "test"))
            let report = outcome.report
            #expect(report.linesRead == expected.lines && report.malformedCount == 0 && report.ledgerInFlight == 0)
            for kind in ReconciliationClass.allCases { #expect(report.count(kind) == expected.counts[kind], "\(kind)") }
            let found = report.exceptions.map { SettlementWorkload.Discrepancy(kind: $0.kind, reference: $0.reference) }
            #expect(found.count == expected.discrepancies.count && Set(found) == Set(expected.discrepancies))
            #expect(outcome.run.exceptionCount == expected.discrepancies.count && !outcome.run.clean)
            #expect(outcome.exceptions.allSatisfy { $0.alertID != nil }, "each exception is an operator alert")
        }
    }

    /// A fresh store with its writer idle (seeding and reconciliation use `applyBatch` and reads).
    static func withStore(_ backend: String, clock: ManualClock, ids: CountingIDGenerator, _ body: (SQLStore) async throws -> Void) async throws {
        if backend == "postgresql" {
            let url = try #require(postgresURL)
            let schema = "w_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await PostgresAdmin.withScratchStore(try PostgresLocation(url: url), named: schema, ids: ids, clock: clock) { store in
                try await body(store)
            }
        } else {
            let path = NSTemporaryDirectory() + "lucid-workload-\(UUID().uuidString).sqlite"
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            try await body(try SQLiteStore(path: path, ids: ids, clock: clock))
        }
    }
}
