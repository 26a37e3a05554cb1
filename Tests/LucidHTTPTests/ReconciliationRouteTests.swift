import Foundation
import HTTPTypes
import LucidCore
import LucidGateway
import LucidHTTP
import LucidServices
import LucidStore
import Testing

/// Reconciliation through the real store (issue 5): a clean day is clean; each discrepancy the
/// sandbox seeds into its report is found, and nothing else; exceptions become alerts; resolving
/// one with a correcting transfer moves the money, audited and notified.
@Suite("HTTP: reconciliation")
struct ReconciliationRouteTests {
    @Test("a clean day is clean; each seeded discrepancy is found and nothing else; alerts, a correcting transfer, the schedule")
    func reconciliation() async throws {
        try await withRails(confirmTopUps: true, seed: 5) { api, lucid, clock in
            let risk = try await api.operatorToken(lucid, role: .risk)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            var topUpTotal = 0, withdrawalTotal = 0
            for n in 0..<20 {
                let amount = 10_000 + n
                #expect(try await api.railTopUp(n % 2 == 0 ? alice.token : bob.token, amount, rail: "bank-a").status == 201)
                topUpTotal += amount
            }
            for n in 0..<10 {
                #expect(try await api.withdraw(n % 2 == 0 ? alice.token : bob.token, 500 + n, rail: "bank-a").status == 201)
                withdrawalTotal += 500 + n
            }
            #expect(try await api.withdraw(alice.token, 700, rail: "bank-a", last4: "0002").status == 201)
            try await lucid.settle(clock)
            let today = clock.now().utcDay

            // A clean day.
            expectProblem(try await api.call(.post, "/v1/ops/reconciliations", token: risk, json: ["rail": "bank-z", "date": today]),
                          404, "rail_not_found")
            expectProblem(try await api.call(.post, "/v1/ops/reconciliations", token: risk, json: ["rail": "bank-a", "date": "2026-13-01"]),
                          422, "invalid_field")
            let clean = try await api.call(.post, "/v1/ops/reconciliations", token: risk, json: ["rail": "bank-a", "date": today])
            #expect(clean.status == 201 && clean["clean"] as? Bool == true, "\(clean.raw)")
            #expect(clean["matched"] as? Int == 31 && clean["exception_count"] as? Int == 0 && clean["state"] as? String == "completed")
            let summary = try #require(clean["summary"] as? [String: Any])
            let clearing = try #require((summary["clearing"] as? [String: Any])?["CNY"] as? [String: Any])
            #expect(clearing["rail_net_minor"] as? Int == topUpTotal - withdrawalTotal && clearing["difference_minor"] as? Int == 0)
            let account = try #require((summary["clearing_accounts"] as? [String: Any])?["CNY"] as? [String: Any])
            #expect(account["posted"] as? Int == -(topUpTotal - withdrawalTotal), "the clearing account nets to what the rail says")
            #expect(((try await api.call(.get, "/v1/ops/alerts?state=open", token: risk))["items"] as? [Any])?.isEmpty == true)

            // The bank's report starts disagreeing with what it said live.
            try await lucid.bank.configure("bank-a", faults: RailFaults(report: ReportFaults(
                amountOffRate: 0.15, missingLineRate: 0.15, extraLineRate: 0.15, stateFlipRate: 0.15, duplicateLineRate: 0.15)))
            let injected = try await lucid.bank.settlementReport(for: SettlementDay(containing: clock.now()), on: "bank-a").injected
            var amountOff = Set<String>(), flipped = Set<String>()
            var expected: [String] = []
            for fault in injected {
                switch fault {
                case .amountOff(let reference, _): amountOff.insert(reference.rawValue); expected.append("amount_mismatch/\(reference)")
                case .missingLine(let reference): expected.append("missing_at_rail/\(reference)")
                case .extraLine(let reference): expected.append("missing_in_ledger/\(reference)")
                case .stateFlipped(let reference): flipped.insert(reference.rawValue)
                case .duplicateLine(let reference): expected.append("duplicate/\(reference)")
                }
            }
            expected += flipped.subtracting(amountOff).map { "state_mismatch/\($0)" }
            let kinds = Set(expected.map { $0.split(separator: "/")[0] })
            #expect(kinds == ["amount_mismatch", "missing_at_rail", "missing_in_ledger", "state_mismatch", "duplicate"],
                    "the seed gives every kind of discrepancy: \(expected)")
            let dirty = try await api.call(.post, "/v1/ops/reconciliations", token: risk, json: ["rail": "bank-a", "date": today])
            #expect(dirty.status == 201 && dirty["clean"] as? Bool == false && dirty["exception_count"] as? Int == expected.count)
            let runID = try #require(dirty["id"] as? String)
            var found: [[String: Any]] = []
            var cursor: String?
            repeat {
                let page = try await api.call(.get, "/v1/ops/reconciliations/\(runID)?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""),
                                              token: risk)
                #expect(page.status == 200 && page["id"] as? String == runID)
                let exceptions = try #require(page["exceptions"] as? [String: Any])
                found += exceptions["items"] as? [[String: Any]] ?? []
                cursor = exceptions["next_cursor"] as? String
            } while cursor != nil
            #expect(found.map { "\($0["class"] ?? "")/\($0["reference"] ?? "")" }.sorted() == expected.sorted(), "exactly what was seeded")
            let difference = try #require(((dirty["summary"] as? [String: Any])?["clearing"] as? [String: Any])?["CNY"] as? [String: Any])
            #expect(difference["difference_minor"] as? Int != 0)

            // Every exception is an alert (once), and the clearing difference too.
            let alerts = try await api.call(.get, "/v1/ops/alerts?state=open&limit=100", token: risk)
            let open = alerts["items"] as? [[String: Any]] ?? []
            #expect(open.filter { $0["reconciliation_id"] as? String == runID }.count == expected.count + 1)
            #expect(open.contains { $0["kind"] as? String == "clearing_difference" && $0["currency"] as? String == "CNY" })
            #expect(found.allSatisfy { $0["alert_id"] is String })
            let again = try await api.call(.post, "/v1/ops/reconciliations", token: risk, json: ["rail": "bank-a", "date": today])
            #expect(again["exception_count"] as? Int == expected.count)
            #expect(((try await api.call(.get, "/v1/ops/alerts?state=open&limit=100", token: risk))["items"] as? [Any])?.count == open.count,
                    "a second run raises no second alert for the same exception")

            // An amount the bank moved differently: corrected with a transfer against the clearing account.
            let mismatch = try #require(found.first { $0["class"] as? String == "amount_mismatch" })
            let alertID = try #require(mismatch["alert_id"] as? String)
            let reference = try #require(mismatch["reference"] as? String)
            let ledgerAmount = try #require(mismatch["ledger_amount_minor"] as? Int)
            let railAmount = try #require(mismatch["rail_amount_minor"] as? Int)
            let item = try await lucid.item(reference)
            let owner = item.userID.rawValue == alice.id ? alice : bob
            // A top-up the bank took less for: the customer gives the difference back; a withdrawal it paid less: the customer gets it.
            let action = item.direction == "topup" ? (ledgerAmount > railAmount ? "debit" : "credit")
                                                   : (ledgerAmount > railAmount ? "credit" : "debit")
            let change = abs(ledgerAmount - railAmount) * (action == "credit" ? 1 : -1)
            let before = try await api.wallet(owner.token).posted
            let support = try await api.operatorToken(lucid, role: .support)
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: support,
                                             json: ["note": "x", "action": action, "amount": abs(change)]), 403, "forbidden")
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: risk,
                                             json: ["note": "x", "action": action]), 422, "invalid_amount")
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: risk,
                                             json: ["note": "x", "action": "post"]), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/ops/alerts/not-an-id/resolve", token: risk, json: ["note": "x"]),
                          404, "alert_not_found")
            let resolved = try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: risk, json: [
                "note": "bank statement shows the amount it really moved", "action": action, "amount": abs(change),
            ])
            #expect(resolved.status == 200 && resolved["state"] as? String == "resolved" && resolved["correction_id"] is String,
                    "\(resolved.raw)")
            #expect(try await api.wallet(owner.token).posted == before + change)
            let told = try #require(try await api.notifications(owner.token, type: "balance_corrected").first)
            #expect((told["body"] as? String)?.contains("bank statement shows") == true)
            let correction = try await api.call(.get, "/v1/transactions/\(try #require(resolved["correction_id"] as? String))",
                                                token: owner.token)
            #expect(correction["kind"] as? String == "adjustment" && correction["state"] as? String == "posted")
            let audit = try await api.call(.get, "/v1/ops/audit?user_id=\(owner.id)&limit=100", token: risk)
            #expect((audit["items"] as? [[String: Any]])?.contains { $0["action"] as? String == "alert_resolved" } == true)
            expectProblem(try await api.call(.post, "/v1/ops/alerts/\(alertID)/resolve", token: risk,
                                             json: ["note": "again", "action": action, "amount": abs(change)]), 409, "alert_already_resolved")
            let noted = try #require(open.first { $0["kind"] as? String == "duplicate" }?["id"] as? String)
            let closed = try await api.call(.post, "/v1/ops/alerts/\(noted)/resolve", token: risk, json: ["note": "the bank's file error"])
            #expect(closed["state"] as? String == "resolved" && closed["correction_id"] == nil)
            #expect(try await lucid.store.verify().ok)

            // The daily run: every rail, the day before, once however many processes try.
            clock.advance(seconds: 86_400)
            await lucid.gateway.reconcileYesterday()
            await lucid.gateway.reconcileYesterday()
            let scheduled = try await lucid.store.reconciliations(rail: nil, limit: 100).filter(\.scheduled)
            #expect(scheduled.map(\.rail).sorted() == ["bank-a", "bank-b"] && scheduled.allSatisfy { $0.day == today })
            let auditor = try await api.operatorToken(lucid, role: .auditor)
            expectProblem(try await api.call(.post, "/v1/ops/reconciliations", token: auditor, json: ["rail": "bank-a", "date": today]),
                          403, "forbidden")
            expectProblem(try await api.call(.get, "/v1/ops/reconciliations/\(UUID().uuidString.lowercased())", token: auditor),
                          404, "reconciliation_not_found")
        }
    }

    @Test("the daily run is due at the configured minute of each UTC day")
    func schedule() {
        let midnight = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000).startOfUTCDay
        #expect(ReconciliationScheduler.nextRun(after: midnight, minuteOfDay: 150) == midnight.adding(seconds: 150 * 60))
        #expect(ReconciliationScheduler.nextRun(after: midnight.adding(seconds: 150 * 60), minuteOfDay: 150)
                == midnight.adding(seconds: 86_400 + 150 * 60), "not twice in one minute")
        #expect(GatewayConfiguration.minuteOfDay("02:30") == 150 && GatewayConfiguration.minuteOfDay("off") == -1)
        #expect(GatewayConfiguration.minuteOfDay("2:30") == nil && GatewayConfiguration.minuteOfDay("24:00") == nil)
    }

    @Test("the gateway part of the configuration file is read, checked and names its mistakes")
    func configurationFile() throws {
        let file = #"""
            {"gateway": {"sandbox_bank_url": "http://127.0.0.1:9090", "callback_secret": "a-secret-of-sixteen-chars",
             "rails": [{"id": "bank-x", "currencies": ["CNY"], "directions": ["topup"]}],
             "sweep_attempts_max": 7, "reconciliation_time": "03:15", "topup_expected_seconds": 120,
             "sandbox": {"settlement_delay_seconds": 2, "confirm_at_once": ["withdrawal"], "faults": {"bank-x": {"timeout_rate": 0.25}}},
             "resilience": {"call_timeout_ms": 2000, "attempts_max": 2, "failure_threshold": 9, "open_seconds": 12}}}
            """#
        let configuration = try GatewayConfiguration.load(json: Data(file.utf8))
        #expect(configuration.sandboxBankURL == "http://127.0.0.1:9090" && configuration.callbackSecrets == ["a-secret-of-sixteen-chars"])
        #expect(configuration.rails.map(\.id) == ["bank-x"] && configuration.rails[0].directions == [.topUp])
        #expect(configuration.sweepAttemptsMax == 7 && configuration.reconciliationMinuteOfDay == 195 && configuration.topUpExpectedSeconds == 120)
        #expect(configuration.sandboxSettlementDelaySeconds == 2 && configuration.sandboxConfirmsAtOnce == [.withdrawal])
        #expect(configuration.sandboxFaults["bank-x"]?.timeoutRate == 0.25)
        #expect(configuration.resilience.callTimeout == .seconds(2) && configuration.resilience.attemptsMax == 2)
        #expect(configuration.resilience.breaker.failureThreshold == 9 && configuration.resilience.breaker.openSeconds == 12)
        let environment = try GatewayConfiguration.load(json: Data("{}".utf8), environment: ["LUCID_RAIL_CALLBACK_SECRET": "from-the-environment"])
        #expect(environment.callbackSecrets == ["from-the-environment"] && environment.rails.map(\.id) == ["bank-a", "bank-b"])
        for (text, place) in [
            (#"{"gateway": {"sandbox_bank_url": "http://x"}}"#, "gateway.callback_secret"),
            (#"{"gateway": {"rails": [{"id": "Bank X"}]}}"#, "gateway.rails[0].id"),
            (#"{"gateway": {"rails": [{"id": "a", "currencies": ["XXX"]}]}}"#, "gateway.rails[0].currencies"),
            (#"{"gateway": {"reconciliation_time": "25:00"}}"#, "gateway.reconciliation_time"),
            (#"{"gateway": {"sandbox": {"faults": {"bank-a": {"failure_rate": 2}}}}}"#, "gateway.sandbox.faults.bank-a"),
            (#"{"gateway": {"callback_secret": "short"}}"#, "gateway.callback_secret"),
        ] {
            #expect(throws: ConfigurationFileError.self, "\(text)") { try GatewayConfiguration.load(json: Data(text.utf8)) }
            do { _ = try GatewayConfiguration.load(json: Data(text.utf8)) } catch let error as ConfigurationFileError {
                #expect(error.path == place, "\(text): \(error)")
            }
        }
    }
}
