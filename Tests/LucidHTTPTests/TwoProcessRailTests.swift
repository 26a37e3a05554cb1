import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import LucidCore
import LucidGateway
import LucidHTTP
import LucidServices
@testable import LucidStore
import Testing

/// Two `lucid serve` processes on one PostgreSQL database, sharing one bank (issue 5): the sweepers
/// split the stuck items between them, and a post the other process (or an operator) made first is
/// "already resolved", never an error or a second movement. Runs when LUCID_TEST_POSTGRES_URL is set.
@Suite("HTTP: payment rails, two processes on PostgreSQL",
       .enabled(if: !(ProcessInfo.processInfo.environment["LUCID_TEST_POSTGRES_URL"] ?? "").isEmpty))
struct TwoProcessRailTests {
    @Test("two sweepers check each stuck item once; a resolution made elsewhere first counts as already resolved")
    func twoProcesses() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["LUCID_TEST_POSTGRES_URL"])
        let clock = ManualClock()
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresAdmin.withScratchSchema(try PostgresLocation(url: url), named: schema) { location in
            try await run(location, clock: clock)
        }
    }

    func run(_ location: PostgresLocation, clock: ManualClock) async throws {
        try await StoreLocation.postgres(location).withStore(ids: UUIDv7Generator(clock: clock), clock: clock, migrate: true) { _ in }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lucid-two-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        var configuration = ServerConfiguration()
        configuration.store = .postgres(location)
        configuration.passwordHashing = .lowCostForTests
        configuration.secretKeyPath = folder.appendingPathComponent("secret.key").path
        configuration.logLevel = .critical
        configuration.gateway.sleeper = VirtualSleeper(clock: clock)
        configuration.gateway.sweepIntervalSeconds = nil
        configuration.gateway.reconciliationMinuteOfDay = nil
        configuration.gateway.sandboxTickMilliseconds = nil
        configuration.gateway.callbackSecrets = [railCallbackSecret]
        configuration.gateway.reportFolder = folder.appendingPathComponent("reports").path
        configuration.gateway.sandboxConfirmsAtOnce = [.topUp]
        configuration.gateway.sandboxFaults = ["bank-a": RailFaults(lostCallbackRate: 1)]
        let first = try await buildApplication(configuration, clock: clock, ids: UUIDv7Generator(clock: clock))
        configuration.gateway.sandboxBank = first.gateway.sandbox
        let second = try await buildApplication(configuration, clock: clock, ids: UUIDv7Generator(clock: clock))
        let bank = try #require(first.gateway.sandbox)

        try await first.application.test(.router) { clientA in
            try await second.application.test(.router) { clientB in
                let a = TestAPI(client: clientA), b = TestAPI(client: clientB)
                let alice = try await a.customer("Alice")
                #expect(try await b.railTopUp(alice.token, 50_000).status == 201)
                var ids: [String] = []
                for n in 0..<6 {
                    let answer = try await (n % 2 == 0 ? a : b).withdraw(alice.token, 1_000, rail: "bank-a")
                    ids.append(try #require(answer["id"] as? String, "\(answer.raw)"))
                }
                clock.advance(seconds: 10)
                await bank.settleDue()
                clock.advance(seconds: 60)
                async let sweepA = first.gateway.sweep()
                async let sweepB = second.gateway.sweep()
                let (doneA, doneB) = try await (sweepA, sweepB)
                #expect(doneA.checked + doneB.checked == 6 && doneA.resolved + doneB.resolved == 6, "\(doneA) \(doneB)")
                for id in ids { #expect(try await first.store.railItem(TransferID(id))?.state == .posted) }
                #expect(try await a.wallet(alice.token).posted == 50_000 - 6 * 1_010)

                // The same final answer through both processes at once: it moves the money once.
                let raced = try #require(try await a.withdraw(alice.token, 2_000, rail: "bank-a")["id"] as? String)
                clock.advance(seconds: 10)
                await bank.settleDue()
                async let viaA = a.callback(railCallback(raced, .settled(at: clock.now()), at: clock.now()), signedAt: clock.now())
                async let viaB = b.callback(railCallback(raced, .settled(at: clock.now()), at: clock.now()), signedAt: clock.now())
                var outcomes = try await [viaA, viaB].map { $0["status"] as? String ?? "" }
                #expect(outcomes.filter { $0 == "applied" }.count == 1, "\(outcomes)")
                outcomes.removeAll { $0 == "applied" }
                #expect(["already_resolved", "duplicate"].contains(outcomes.first ?? ""), "\(outcomes)")

                // An operator on one process posts first; the rail's answer on the other is already resolved.
                let manual = try #require(try await b.withdraw(alice.token, 3_000, rail: "bank-a")["id"] as? String)
                let op = try await a.operatorToken(first, role: .admin)
                #expect(try await a.call(.post, "/v1/ops/transactions/\(manual)/post", token: op)["state"] as? String == "posted")
                let late = try await b.callback(railCallback(manual, .settled(at: clock.now()), at: clock.now()), signedAt: clock.now())
                #expect(late["status"] as? String == "already_resolved", "\(late.raw)")
                #expect(try await a.wallet(alice.token).posted == 50_000 - 6 * 1_010 - 2_010 - 3_010)
                let alerts = try await b.call(.get, "/v1/ops/alerts?state=open", token: op)
                #expect((alerts["items"] as? [Any])?.isEmpty == true, "\(alerts.raw)")
                #expect(try await first.store.verify().ok)
            }
        }
    }
}
