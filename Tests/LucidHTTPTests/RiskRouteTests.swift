import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LucidCore
import LucidHTTP
import LucidRisk
import LucidServices
import LucidStore
import Testing

/// Rules whose outcome depends on the amount alone, so each test can ask for the decision it
/// wants: ¥100–199 challenge, ¥200–299 review, ¥300–399 block, ¥400+ freeze; a sign-in from
/// ZZ is challenged; a third payment within the hour is challenged.
let amountRules = """
    version: "test-amounts-1"
    thresholds:
      challenge: 40
      review: 70
      block: 100
      freeze: 160
    rules:
      - id: challenge_band
        category: unusual_activity
        description: {en: "Challenge band", zh-CN: "验证区间"}
        condition: "event.is_money_out and event.amount >= 100 and event.amount < 200"
        score: 40
      - id: review_band
        category: payee_risk
        description: {en: "Review band", zh-CN: "审核区间"}
        condition: "event.is_money_out and event.amount >= 200 and event.amount < 300"
        score: 70
      - id: block_band
        category: unusual_activity
        description: {en: "Block band", zh-CN: "拦截区间"}
        condition: "event.is_money_out and event.amount >= 300 and event.amount < 400"
        score: 100
      - id: freeze_band
        category: account_security
        description: {en: "Freeze band", zh-CN: "冻结区间"}
        condition: "event.is_money_out and event.amount >= 400"
        score: 160
      - id: sign_in_from_zz
        category: account_security
        description: {en: "Sign-in from ZZ", zh-CN: "来自 ZZ 的登录"}
        condition: "event.login_succeeded and event.country == \\"ZZ\\""
        score: 40
      - id: third_in_an_hour
        category: unusual_activity
        description: {en: "Third payment within the hour", zh-CN: "一小时内第三笔"}
        condition: "event.is_money_out and features.out_count_1h >= 3 and event.amount < 100"
        score: 40

    """

/// Like `withApp`, on a database folder the caller keeps, so a second app can open it again (a restart).
func withAppAt(_ folder: URL, clock: ManualClock, sender: RecordingWebhookSender = RecordingWebhookSender(),
               _ body: @escaping @Sendable (TestAPI, LucidApplication) async throws -> Void) async throws {
    var configuration = ServerConfiguration()
    configuration.store = .sqlite(path: folder.appendingPathComponent("lucid.sqlite").path)
    configuration.passwordHashing = .lowCostForTests
    configuration.secretKeyPath = folder.appendingPathComponent("secret.key").path
    configuration.logLevel = .critical
    configuration.holdExpiryInterval = .seconds(86_400)
    configuration.deliveryInterval = .seconds(86_400)
    configuration.webhooks = [WebhookEndpoint(url: "https://hooks.test/lucid", secret: RecordingWebhookSender.secret)]
    let lucid = try await buildApplication(configuration, clock: clock, ids: UUIDv7Generator(clock: clock), webhookSender: sender)
    try await lucid.application.test(.router) { client in
        try await body(TestAPI(client: client), lucid)
    }
}

extension TestAPI {
    func putRules(_ yaml: String, slot: String = "live", token: String) async throws -> Answer {
        try await call(.put, "/v1/ops/risk/rules/\(slot)", token: token, raw: yaml, headers: ["Content-Type": "application/yaml"])
    }

    /// Types of the customer's notifications, newest first.
    func notificationTypes(_ token: String) async throws -> [String] {
        let page = try await call(.get, "/v1/notifications?limit=100", token: token)
        return (page["items"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
    }
}

@Suite("HTTP: risk monitoring")
struct RiskRouteTests {
    @Test("each decision has its HTTP outcome: allow 201, challenge 401 then 201 with a code, review 202 held, block 403, freeze 403 and frozen")
    func outcomes() async throws {
        let sender = RecordingWebhookSender()
        try await withApp(sender: sender) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 1_000_000)

            // allow
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 5_000).status == 201)

            // challenge: second_factor_required, then the retry with a fresh code goes through
            let key = "challenged-1"
            let challenged = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 15_000, key: key),
                                           401, "second_factor_required")
            #expect(challenged.params["reason"] as? String == "risk_check")
            #expect(challenged.params["methods"] as? String == "verification_code")
            #expect(challenged.params["decision_id"] is String)
            #expect(try await api.available(alice.token) == 995_000, "nothing moved")
            #expect(try await api.call(.post, "/v1/me/verification-codes", token: alice.token, json: ["purpose": "step_up"]).status == 202)
            _ = try await lucid.delivery.deliverDue()
            let code = try #require(sender.secret("verification_code", for: alice.id))
            let retried = try await api.call(.post, "/v1/transfers", token: alice.token, json: [
                "to": ["email": bob.email], "amount": 15_000, "currency": "CNY", "verification_code": code], key: key)
            #expect(retried.status == 201, "\(retried.raw)")

            // review: the money is held, the customer told it is under review and until when
            let held = try await api.transfer(alice.token, to: ["email": bob.email], 25_000, language: "zh-CN")
            #expect(held.status == 202, "\(held.raw)")
            #expect(held["state"] as? String == "pending" && held["reason"] as? String == "security_review")
            #expect(held["expected_by"] is String)
            let note = try #require(held["security"] as? [String: Any])
            #expect(note["status"] as? String == "review" && note["reason"] as? String == "payee_risk")
            #expect((note["summary"] as? String)?.contains("安全审核") == true, "the summary is in the reader's language")
            #expect(!(note["summary"] as? String ?? "").contains("review_band"), "never a rule name")
            #expect(try await api.available(alice.token) == 995_000 - 15_000 - 25_000)
            #expect(try await api.available(bob.token) == 5_000 + 15_000, "the payee has received nothing yet")
            let shown = try await api.call(.get, "/v1/transactions/\(held["id"] as! String)", token: alice.token)
            #expect((shown["security"] as? [String: Any])?["status"] as? String == "review")
            #expect(try await api.notificationTypes(alice.token).contains("risk_review_held"))

            // block: refused with a customer-safe reason, nothing taken
            let blocked = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 35_000), 403, "risk_blocked")
            #expect(blocked.params["risk_reason"] as? String == "unusual_activity")
            #expect(!blocked.raw.contains("block_band"))
            #expect(try await api.available(alice.token) == 955_000)
            #expect(try await api.notificationTypes(alice.token).contains("risk_payment_blocked"))

            // The operator sees everything about that decision.
            let decisionID = try #require(blocked.params["decision_id"] as? String)
            let decision = try await api.call(.get, "/v1/ops/risk/decisions/\(decisionID)", token: admin)
            #expect(decision.status == 200 && decision["action"] as? String == "block")
            #expect(decision["rule_set_version"] as? String == "test-amounts-1")
            let fired = try #require((decision["explanation"] as? [String: Any])?["fired"] as? [[String: Any]])
            #expect(fired.first?["rule_id"] as? String == "block_band" && fired.first?["contribution"] as? Int == 100)
            let observed = fired.first?["observed"] as? [[String: Any]] ?? []
            #expect(observed.contains { $0["name"] as? String == "event.amount" && $0["value"] as? Double == 350 })
            #expect((decision["event"] as? [String: Any])?["amount_minor_units"] as? Int == 35_000)

            // freeze: refused, and the account frozen by security monitoring
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 45_000), 403, "risk_blocked")
            let account = try await api.call(.get, "/v1/ops/users/\(alice.id)", token: admin)
            #expect(account["status"] as? String == "frozen" && account["frozen_by"] as? String == "risk")
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token), 401, "unauthenticated")
        }
    }

    @Test("a held transfer posts on approve and voids on reject; the customer is told either way; every action audited")
    func reviewQueue() async throws {
        let sender = RecordingWebhookSender()
        try await withApp(sender: sender) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            let ann = try await api.operatorToken(lucid, role: .risk)
            let ben = try await api.operatorToken(lucid, role: .risk)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            let first = try await api.transfer(alice.token, to: ["email": bob.email], 20_000)
            let second = try await api.transfer(alice.token, to: ["email": bob.email], 21_000)
            #expect(first.status == 202 && second.status == 202)

            let open = try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: ann)
            let items = open["items"] as? [[String: Any]] ?? []
            #expect(items.count == 2)
            let firstReview = try #require(items.first { $0["transaction_id"] as? String == first["id"] as? String }?["id"] as? String)
            let secondReview = try #require(items.first { $0["transaction_id"] as? String == second["id"] as? String }?["id"] as? String)

            let claimed = try await api.call(.post, "/v1/ops/risk/reviews/\(firstReview)/claim", token: ann, json: ["note": "looking"])
            #expect(claimed.status == 200 && claimed["state"] as? String == "claimed")
            expectProblem(try await api.call(.post, "/v1/ops/risk/reviews/\(firstReview)/approve", token: ben, json: ["note": "mine now"]),
                          409, "risk_review_claimed")
            let detail = try await api.call(.get, "/v1/ops/risk/reviews/\(firstReview)", token: ben)
            #expect((detail["decision"] as? [String: Any])?["action"] as? String == "review")
            #expect((detail["transaction"] as? [String: Any])?["state"] as? String == "pending")

            let approved = try await api.call(.post, "/v1/ops/risk/reviews/\(firstReview)/approve", token: ann, json: ["note": "called the customer"])
            #expect(approved.status == 200 && approved["state"] as? String == "approved" && approved["resolved_by"] as? String != nil)
            #expect(try await api.available(bob.token) == 20_000, "the held money reached the payee")
            let posted = try await api.call(.get, "/v1/transactions/\(first["id"] as! String)", token: alice.token)
            #expect(posted["state"] as? String == "posted" && (posted["security"] as? [String: Any])?["status"] as? String == "approved")
            expectProblem(try await api.call(.post, "/v1/ops/risk/reviews/\(firstReview)/reject", token: ann, json: ["note": "too late"]),
                          409, "risk_review_closed")

            let rejected = try await api.call(.post, "/v1/ops/risk/reviews/\(secondReview)/reject", token: ben,
                                              json: ["note": "mule account", "freeze": true])
            #expect(rejected.status == 200 && rejected["state"] as? String == "rejected" && rejected["froze"] as? Bool == true)
            let voided = try await api.call(.get, "/v1/ops/transactions/\(second["id"] as! String)", token: admin)
            #expect(voided["state"] as? String == "voided")
            let account = try await api.call(.get, "/v1/ops/users/\(alice.id)", token: admin)
            #expect(account["status"] as? String == "frozen")
            #expect(account["user"] != nil)

            // Told either way (read through the store: Alice's sessions ended with the freeze).
            let aliceNotes = try await lucid.store.notifications(of: UserID(alice.id), limit: 50, cursor: nil).items.map(\.type)
            #expect(aliceNotes.contains("risk_review_approved") && aliceNotes.contains("risk_review_rejected"))
            #expect(try await api.notificationTypes(bob.token).contains("money_received"))
            let audit = try await api.call(.get, "/v1/ops/audit?user_id=\(alice.id)&limit=100", token: admin)
            let actions = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            for action in ["risk_hold", "risk_review_claimed", "risk_review_approved", "risk_review_rejected", "account_frozen"] {
                #expect(actions.contains(action), "audited: \(action)")
            }
        }
    }

    @Test("a hold nobody decides expires: the money comes back and the customer is told")
    func reviewExpires() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            let held = try await api.transfer(alice.token, to: ["email": bob.email], 20_000)
            #expect(held.status == 202)
            #expect(try await api.available(alice.token) == 80_000)
            clock.advance(seconds: 24 * 3_600 + 1)
            #expect(try await lucid.wallet.expireHolds() == 1)
            await lucid.riskMaintenance.once(sweep: true)
            #expect(try await api.available(alice.token) == 100_000)
            let shown = try await api.call(.get, "/v1/transactions/\(held["id"] as! String)", token: alice.token)
            #expect(shown["state"] as? String == "expired" && shown["reason"] as? String == "security_review_expired")
            #expect((shown["security"] as? [String: Any])?["status"] as? String == "expired")
            #expect(try await api.notificationTypes(alice.token).contains("risk_review_expired"))
            let reviews = try await api.call(.get, "/v1/ops/risk/reviews?state=expired", token: admin)
            #expect((reviews["items"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test("only admin and risk change risk settings and decide reviews; auditors read; support and customers cannot")
    func roles() async throws {
        try await withApp { api, lucid in
            let support = try await api.operatorToken(lucid, role: .support)
            let auditor = try await api.operatorToken(lucid, role: .auditor)
            let risk = try await api.operatorToken(lucid, role: .risk)
            let alice = try await api.customer("Alice")
            let missing = "01900000-0000-7000-8000-000000000000"
            for path in ["/v1/ops/risk/reviews", "/v1/ops/risk/rules", "/v1/ops/risk/lists", "/v1/ops/risk/suppressions",
                         "/v1/ops/risk/decisions"] {
                expectProblem(try await api.call(.get, path, token: support), 403, "forbidden")
                expectProblem(try await api.call(.get, path, token: alice.token), 401, "unauthenticated")
                #expect(try await api.call(.get, path, token: auditor).status == 200, "\(path)")
            }
            expectProblem(try await api.putRules(amountRules, token: auditor), 403, "forbidden")
            expectProblem(try await api.putRules(amountRules, token: support), 403, "forbidden")
            expectProblem(try await api.call(.post, "/v1/ops/risk/reviews/\(missing)/approve", token: auditor, json: ["note": "x"]),
                          403, "forbidden")
            expectProblem(try await api.call(.post, "/v1/ops/risk/lists", token: auditor,
                                             json: ["kind": "country", "value": "KP", "verdict": "deny"]), 403, "forbidden")
            expectProblem(try await api.call(.post, "/v1/ops/risk/reviews/\(missing)/approve", token: risk, json: ["note": "x"]),
                          404, "risk_review_not_found")
            expectProblem(try await api.call(.get, "/v1/ops/risk/decisions/\(missing)", token: auditor), 404, "risk_decision_not_found")
            #expect(try await api.putRules(amountRules, token: risk).status == 200)
        }
    }

    @Test("a bad rules file is refused with its line and reason; the rules in force do not change")
    func badRules() async throws {
        try await withApp { api, lucid in
            let admin = try await api.operatorToken(lucid)
            let before = try await api.call(.get, "/v1/ops/risk/rules", token: admin)
            let defaultVersion = (before["live"] as? [String: Any])?["version"] as? String
            #expect(defaultVersion == RuleSet.bundledDefault().version && before.body.keys.contains("shadow"))
            let broken = amountRules.replacingOccurrences(of: "event.amount >= 300 and", with: "event.amount_typo >= 300 and")
            let refused = expectProblem(try await api.putRules(broken, token: admin), 422, "risk_rules_invalid")
            #expect(refused.params["line"] as? Int == 21)
            #expect((refused.params["reason"] as? String)?.contains("event.amount_typo") == true)
            let asJSON = expectProblem(try await api.call(.put, "/v1/ops/risk/rules/shadow", token: admin, json: ["yaml": "version: 1\nrules: ["]),
                                       422, "risk_rules_invalid")
            #expect(asJSON.params["line"] as? Int != nil)
            let after = try await api.call(.get, "/v1/ops/risk/rules", token: admin)
            #expect((after["live"] as? [String: Any])?["version"] as? String == defaultVersion)
            #expect(after["shadow"] is NSNull)
            let loaded = try await api.call(.put, "/v1/ops/risk/rules/live", token: admin, json: ["yaml": amountRules])
            #expect(loaded.status == 200 && loaded["version"] as? String == "test-amounts-1" && loaded["rules"] as? Int == 6)
        }
    }

    @Test("shadow mode changes nothing customers see: draft decisions are recorded beside the live ones, never enforced")
    func shadow() async throws {
        try await withApp { api, lucid in
            let admin = try await api.operatorToken(lucid)
            let draft = amountRules.replacingOccurrences(of: "event.amount >= 400", with: "event.amount >= 1")
                .replacingOccurrences(of: "test-amounts-1", with: "draft-2")
            #expect(try await api.putRules(draft, slot: "shadow", token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            let sent = try await api.transfer(alice.token, to: ["email": bob.email], 1_000)
            #expect(sent.status == 201 && sent["security"] == nil, "the draft would freeze; the customer sees a plain transfer")
            #expect(try await api.available(bob.token) == 1_000)
            let account = try await api.call(.get, "/v1/me", token: alice.token)
            #expect(account["status"] as? String == "active")
            #expect(try await !api.notificationTypes(alice.token).contains { $0.hasPrefix("risk_") })
            let decisions = try await api.call(.get, "/v1/ops/risk/decisions?user_id=\(alice.id)", token: admin)
            let latest = try #require((decisions["items"] as? [[String: Any]])?.first)
            #expect(latest["event_kind"] as? String == "transfer" && latest["action"] as? String == "allow")
            #expect(latest["shadow_action"] as? String == "freeze" && latest["shadow_rule_set_version"] as? String == "draft-2")
            let full = try await api.call(.get, "/v1/ops/risk/decisions/\(latest["id"] as! String)", token: admin)
            #expect(((full["shadow"] as? [String: Any])?["fired"] as? [[String: Any]])?.first?["rule_id"] as? String == "freeze_band")
            #expect((full["fired_rules"] as? [[String: Any]])?.allSatisfy { $0["shadow"] as? Bool == true } == true)
            #expect(try await api.call(.delete, "/v1/ops/risk/rules/shadow", token: admin).status == 204)
            #expect(try await api.call(.get, "/v1/ops/risk/rules", token: admin)["shadow"] is NSNull)
        }
    }

    @Test("feature windows survive a restart: the state comes from the database")
    func restart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lucid-risk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = ManualClock()
        let box = Box()
        try await withAppAt(folder, clock: clock) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            for _ in 0..<2 {
                clock.advance(seconds: 300)
                #expect(try await api.transfer(alice.token, to: ["email": bob.email], 1_000).status == 201)
            }
            box.set(alice.token, bob.email)
        }
        clock.advance(seconds: 300)
        try await withAppAt(folder, clock: clock) { api, _ in
            let (token, bob) = box.get()
            // The third payment within the hour is seen as such by a fresh process.
            let third = expectProblem(try await api.transfer(token, to: ["email": bob], 1_000), 401, "second_factor_required")
            #expect(third.params["reason"] as? String == "risk_check")
            clock.advance(seconds: 3_600)
            #expect(try await api.transfer(token, to: ["email": bob], 1_000).status == 201, "the hour has passed")
        }
    }

    @Test("deny lists block, allow lists let through, a suppression silences one rule for one customer until a time")
    func listsAndSuppressions() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 1_000_000)
            let deny = try await api.call(.post, "/v1/ops/risk/lists", token: admin, json: [
                "kind": "payee", "value": "user:\(bob.id)", "verdict": "deny", "note": "reported mule",
                "expires_at": clock.now().adding(seconds: 3_600).rfc3339])
            #expect(deny.status == 201, "\(deny.raw)")
            let refused = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 1_000), 403, "risk_blocked")
            #expect(refused.params["risk_reason"] as? String == "restriction")
            #expect(try await api.call(.delete, "/v1/ops/risk/lists/\(deny["id"] as! String)", token: admin).status == 204)
            clock.advance(seconds: 3_600)
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 1_000).status == 201)

            let allow = try await api.call(.post, "/v1/ops/risk/lists", token: admin, json: [
                "kind": "payee", "value": "user:\(bob.id)", "verdict": "allow", "user_id": alice.id])
            #expect(allow.status == 201)
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 35_000).status == 201, "allowed whatever the rules say")
            #expect(try await api.call(.delete, "/v1/ops/risk/lists/\(allow["id"] as! String)", token: admin).status == 204)
            expectProblem(try await api.call(.delete, "/v1/ops/risk/lists/\(allow["id"] as! String)", token: admin), 404, "risk_entry_not_found")

            let suppression = try await api.call(.post, "/v1/ops/risk/suppressions", token: admin, json: [
                "user_id": alice.id, "rule_id": "challenge_band", "until": clock.now().adding(seconds: 86_400).rfc3339, "note": "travelling"])
            #expect(suppression.status == 201, "\(suppression.raw)")
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 15_000).status == 201)
            let decisions = try await api.call(.get, "/v1/ops/risk/decisions?user_id=\(alice.id)&limit=1", token: admin)
            let id = try #require((decisions["items"] as? [[String: Any]])?.first?["id"] as? String)
            let fired = try await api.call(.get, "/v1/ops/risk/decisions/\(id)", token: admin)["fired_rules"] as? [[String: Any]]
            #expect(fired?.first?["rule_id"] as? String == "challenge_band" && fired?.first?["suppressed"] as? Bool == true)
            expectProblem(try await api.call(.post, "/v1/ops/risk/suppressions", token: admin, json: [
                "user_id": alice.id, "rule_id": "no_such_rule", "until": clock.now().adding(seconds: 60).rfc3339]), 422, "invalid_field")
            clock.advance(seconds: 86_401)
            expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 15_000), 401, "second_factor_required")
        }
    }

    @Test("a challenged sign-in without 2FA gets a code through the outbox and goes through with it")
    func challengedSignIn() async throws {
        let sender = RecordingWebhookSender()
        try await withApp(sender: sender) { api, lucid in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            let login: [String: Any] = ["login": alice.email, "password": "correct horse battery", "device_id": "new-phone"]
            let challenged = expectProblem(try await api.call(.post, "/v1/sessions", json: login, headers: ["X-Geo-Country": "ZZ"]),
                                           401, "second_factor_required")
            #expect(challenged.params["methods"] as? String == "verification_code")
            _ = try await lucid.delivery.deliverDue()
            let code = try #require(sender.secret("verification_code", for: alice.id))
            var retry = login
            retry["verification_code"] = code
            let session = try await api.call(.post, "/v1/sessions", json: retry, headers: ["X-Geo-Country": "ZZ"])
            #expect(session.status == 201, "\(session.raw)")
            expectProblem(try await api.call(.post, "/v1/sessions", json: login.merging(["password": "wrong password"]) { $1 }),
                          401, "invalid_credentials")
            let decisions = try await lucid.store.riskDecisions(of: UserID(alice.id), limit: 10, cursor: nil).items
            #expect(decisions.map(\.action).prefix(3) == ["allow", "allow", "challenge"])
            #expect(decisions.first.map { $0.eventKind == "login" } == true)
        }
    }

    @Test("a backtest over a seeded history gives the same, expected numbers every time")
    func backtest() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, lucid in
            let start = clock.now()
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            let carol = try await api.customer("Carol")
            try await api.topUp(alice.token, 1_000_000)
            for (index, amount) in [5_000, 15_000, 25_000, 35_000, 2_000, 3_000, 45_000].enumerated() {
                clock.advance(seconds: 1_200)
                try await api.transfer(alice.token, to: ["email": index % 2 == 0 ? bob.email : carol.email], amount)
            }
            let first = try await lucid.risk.backtest(yaml: amountRules, since: start)
            let second = try await lucid.risk.backtest(yaml: amountRules, since: start)
            #expect(first == second)
            // 3 sign-ins, 1 top-up, 7 transfers, all allowed by the default rules.
            #expect(first.events == 11 && first.recordedActions == ["allow": 11])
            let hits = Dictionary(uniqueKeysWithValues: first.rules.map { ($0.ruleID, $0.hits) })
            // Every 20 minutes: the 5th and 6th (¥20, ¥30) are each the third payment within the hour.
            #expect(hits == ["challenge_band": 1, "review_band": 1, "block_band": 1, "freeze_band": 1, "sign_in_from_zz": 0,
                             "third_in_an_hour": 2])
            #expect(first.actions == ["allow": 5, "challenge": 3, "review": 1, "block": 1, "freeze": 1])
            #expect(first.changes.map { "\($0.from)>\($0.to):\($0.count)" } == ["allow>challenge:3", "allow>review:1", "allow>block:1",
                                                                               "allow>freeze:1"])
            let later = try await lucid.risk.backtest(yaml: amountRules, since: clock.now().adding(seconds: 1))
            #expect(later.events == 0)
        }
    }
}

/// Carries values from one app's run to the next in the restart test.
final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var values = ("", "")
    func set(_ a: String, _ b: String) { lock.withLock { values = (a, b) } }
    func get() -> (String, String) { lock.withLock { values } }
}

/// Withdrawals held by risk wait at their rail unsent: approval hands them to the rail (they post when it
/// settles), rejection and expiry void them with their rail item; the sweeper leaves them alone meanwhile.
@Suite("HTTP: risk holds at the payment rails")
struct RiskRailHoldTests {
    @Test("a held withdrawal is not sent until approved; approved, the rail settles it; rejected or expired, it is voided with its item")
    func heldWithdrawals() async throws {
        try await withRails(confirmTopUps: true) { api, lucid, clock in
            let admin = try await api.operatorToken(lucid)
            #expect(try await api.putRules(amountRules, token: admin).status == 200)
            let alice = try await api.customer("Alice")
            try await api.topUp(alice.token, 200_000)

            let held = try await api.withdraw(alice.token, 20_000, key: "held-1")
            #expect(held.status == 202, "\(held.raw)")
            #expect(held["state"] as? String == "pending" && held["reason"] as? String == "security_review")
            #expect((held["security"] as? [String: Any])?["status"] as? String == "review")
            let heldID = try #require(held["id"] as? String)
            var item = try await lucid.item(heldID)
            #expect(item.reason == "security_review" && item.submittedAt == nil, "not sent to the rail")
            // A retry answers at once with the same hold; the sweeper and the bank leave it alone.
            let replay = try await api.withdraw(alice.token, 20_000, key: "held-1")
            #expect(replay.status == 202 && replay["id"] as? String == heldID)
            try await lucid.settle(clock, afterSeconds: 3_600)
            #expect(try await lucid.gateway.sweep().checked == 0)
            #expect(try await lucid.item(heldID).state == .pending)

            let reviews = try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: admin)
            func reviewID(_ transaction: String) async throws -> String {
                let open = try await api.call(.get, "/v1/ops/risk/reviews?state=open", token: admin)
                return try #require((open["items"] as? [[String: Any]])?.first { $0["transaction_id"] as? String == transaction }?["id"] as? String)
            }
            #expect((reviews["items"] as? [[String: Any]])?.count == 1)
            let approved = try await api.call(.post, "/v1/ops/risk/reviews/\(try await reviewID(heldID))/approve", token: admin,
                                              json: ["note": "called the customer"])
            #expect(approved.status == 200 && approved["state"] as? String == "approved", "\(approved.raw)")
            item = try await lucid.item(heldID)
            #expect(item.submittedAt != nil && item.reason != "security_review", "sent to the rail on approval")
            try await lucid.settle(clock)
            #expect(try await lucid.item(heldID).state == .posted)
            let posted = try await api.call(.get, "/v1/transactions/\(heldID)", token: alice.token)
            #expect(posted["state"] as? String == "posted")

            // Rejected: voided with its item, the money back.
            let before = try await api.wallet(alice.token)
            let second = try await api.withdraw(alice.token, 21_000)
            #expect(second.status == 202)
            let secondID = try #require(second["id"] as? String)
            let rejected = try await api.call(.post, "/v1/ops/risk/reviews/\(try await reviewID(secondID))/reject", token: admin,
                                              json: ["note": "not the customer"])
            #expect(rejected.status == 200 && rejected["state"] as? String == "rejected", "\(rejected.raw)")
            #expect(try await lucid.item(secondID).state == .voided)
            #expect(try await api.wallet(alice.token).available == before.available)

            // Nobody decides: the review expires and risk upkeep voids it (a rail hold has no ledger timeout).
            let third = try await api.withdraw(alice.token, 22_000)
            let thirdID = try #require(third["id"] as? String)
            clock.advance(seconds: 24 * 3_600 + 1)
            #expect(try await lucid.wallet.expireHolds() == 0, "the ledger does not time a rail hold out")
            await lucid.riskMaintenance.once(sweep: true)
            #expect(try await lucid.item(thirdID).state == .voided)
            let shown = try await api.call(.get, "/v1/transactions/\(thirdID)", token: alice.token)
            #expect(shown["state"] as? String == "voided" && (shown["security"] as? [String: Any])?["status"] as? String == "expired", "\(shown.raw)")
            #expect(try await api.notificationTypes(alice.token).contains("risk_review_expired"))
            #expect(try await api.wallet(alice.token).available == before.available)
            #expect(try await api.call(.get, "/v1/ops/ledger/verify", token: admin)["ok"] as? Bool == true)
        }
    }
}
