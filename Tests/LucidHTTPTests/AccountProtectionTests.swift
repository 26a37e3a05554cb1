import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import Testing

let password = "correct horse battery"

extension TestAPI {
    func logIn(_ email: String, password pw: String = password, device: String? = nil, totp: String? = nil,
               recovery: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        var body: [String: Any] = ["login": email, "password": pw]
        if let device { body["device_id"] = device }
        if let totp { body["totp_code"] = totp }
        if let recovery { body["recovery_code"] = recovery }
        return try await call(.post, "/v1/sessions", json: body, headers: headers)
    }

    /// Enrols and confirms TOTP; returns the secret and the recovery codes.
    func enableTOTP(_ token: String, clock: ManualClock) async throws -> (secret: [UInt8], recovery: [String]) {
        let start = try await call(.post, "/v1/me/totp", token: token)
        try #require(start.status == 201, "\(start.raw)")
        let text = try #require(start["secret"] as? String)
        let secret = try #require(Base32.decode(text))
        #expect((start["otpauth_uri"] as? String)?.hasPrefix("otpauth://totp/Lucid%20Wallet:") == true)
        let confirmed = try await call(.post, "/v1/me/totp/confirm", token: token,
                                       json: ["code": TOTP.generate(secret: secret, at: clock.now())])
        try #require(confirmed.status == 200, "\(confirmed.raw)")
        clock.advance(seconds: 30) // the confirming code's time step is spent
        return (secret, confirmed["recovery_codes"] as? [String] ?? [])
    }
}

func code(_ secret: [UInt8], _ clock: ManualClock) -> String { TOTP.generate(secret: secret, at: clock.now()) }

@Suite("HTTP: sign-in protection")
struct SignInProtectionTests {
    @Test("five wrong passwords lock the account; the lock grows, expires, and the owner is told")
    func lockout() async throws {
        let clock = ManualClock()
        let sender = RecordingWebhookSender()
        try await withApp(clock: clock, sender: sender) { api, lucid in
            let alice = try await api.customer("Alice")
            for _ in 0..<5 { expectProblem(try await api.logIn(alice.email, password: "wrong password 1"), 401, "invalid_credentials") }
            // Locked now: even the right password is refused, with the same answer.
            expectProblem(try await api.logIn(alice.email), 401, "invalid_credentials")
            let op = try await api.operatorToken(lucid)
            let account = try await api.call(.get, "/v1/ops/users/\(alice.id)", token: op)
            let until = try #require(account["locked_until"] as? String)
            #expect(until == clock.now().adding(seconds: 60).rfc3339)
            try await lucid.delivery.deliverDue()
            #expect(sender.deliveries.contains { $0.json["type"] as? String == "account_locked" && $0.json["user_id"] as? String == alice.id })
            let notes = try await api.call(.get, "/v1/notifications", token: alice.token)
            #expect((notes["items"] as? [[String: Any]])?.first?["type"] as? String == "account_locked")
            clock.advance(seconds: 61)
            #expect(try await api.logIn(alice.email).status == 201, "the lock expired")
            // A success resets; a new run of failures locks again, and a later lock in the same run is longer.
            for _ in 0..<5 { _ = try await api.logIn(alice.email, password: "wrong password 2") }
            clock.advance(seconds: 61)
            for _ in 0..<5 { _ = try await api.logIn(alice.email, password: "wrong password 3") }
            let second = try await api.call(.get, "/v1/ops/users/\(alice.id)", token: op)
            #expect(second["locked_until"] as? String == clock.now().adding(seconds: 300).rfc3339)
            let audit = try await api.call(.get, "/v1/me/audit?limit=100", token: alice.token)
            let actions = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("account_locked") && actions.contains("sign_in_failed") && actions.contains("signed_in"))
        }
    }

    @Test("a stranger cannot tell an unknown login, a wrong password and a locked account apart")
    func noEnumeration() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let locked = try await api.customer("Bob")
            for _ in 0..<5 { _ = try await api.logIn(locked.email, password: "not the password") }
            let answers = [try await api.logIn("nobody@example.com", password: "not the password"),
                           try await api.logIn(alice.email, password: "not the password"),
                           try await api.logIn(locked.email, password: "not the password"),
                           try await api.logIn(locked.email)]
            for answer in answers { expectProblem(answer, 401, "invalid_credentials") }
            let shapes = Set(answers.map { Set($0.body.keys) })
            let details = Set(answers.map { $0["detail"] as? String ?? "" })
            #expect(shapes.count == 1 && details.count == 1)
            #expect(answers.allSatisfy { ($0.params).isEmpty })
        }
    }

    @Test("sign-in attempts from one source are rate-limited with a Retry-After")
    func rateLimit() async throws {
        try await withApp(configure: { $0.identity.loginRateLimit = RateLimitPolicy(limit: 3, windowSeconds: 60) }) { api, _ in
            for _ in 0..<3 { _ = try await api.logIn("someone@example.com", password: "whatever it is") }
            let limited = expectProblem(try await api.logIn("someone@example.com", password: "whatever it is"), 429, "rate_limited")
            #expect((limited.params["retry_after_seconds"] as? Int ?? 0) > 0)
            #expect(limited.headers[.retryAfter] != nil)
        }
    }

    @Test("the owner who proves the second factor while locked gets in and is told until when it was locked")
    func ownerUnlocksWithSecondFactor() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            let (secret, _) = try await api.enableTOTP(alice.token, clock: clock)
            for _ in 0..<5 { _ = try await api.logIn(alice.email, password: "wrong password") }
            expectProblem(try await api.logIn(alice.email), 401, "invalid_credentials")
            let session = try await api.logIn(alice.email, totp: code(secret, clock))
            #expect(session.status == 201, "\(session.raw)")
            let notice = try #require(session["security_notice"] as? [String: Any])
            #expect(notice["unlocked_lock_until"] is String && notice["failed_attempts"] as? Int == 5)
        }
    }

    @Test("over-long and malformed sign-in input gets specific 4xx answers")
    func badInput() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            expectProblem(try await api.logIn(alice.email, password: String(repeating: "p", count: 300)), 422, "string_too_long")
            expectProblem(try await api.logIn(String(repeating: "a", count: 300) + "@example.com"), 422, "string_too_long")
            expectProblem(try await api.logIn(alice.email, totp: String(repeating: "1", count: 100)), 422, "string_too_long")
            expectProblem(try await api.call(.post, "/v1/sessions", json: ["login": alice.email, "password": password, "admin": true]),
                          400, "unknown_field")
            let invalidUTF8 = try await api.client.execute(uri: "/v1/sessions", method: .post, headers: [.contentType: "application/json"],
                                                           body: ByteBuffer(bytes: Array(#"{"login":""#.utf8) + [0xC3, 0x28] + Array(#"","password":"x"}"#.utf8))) { $0 }
            #expect(invalidUTF8.status == .badRequest)
            expectProblem(try await api.call(.get, "/v1/wallets", token: "lcs_" + String(repeating: "A", count: 43)), 401, "unauthenticated")
        }
    }

    @Test("registration refuses common passwords and passwords made of the account's own details")
    func passwordPolicy() async throws {
        try await withApp { api, _ in
            for (bad, reason) in [("password", "common"), ("12345678", "common"), ("carolwang2024", "contains_personal_data"),
                                  ("short", "too_short")] {
                let answer = expectProblem(try await api.call(.post, "/v1/users", json: [
                    "email": "carolwang@example.com", "password": bad, "display_name": "Carol Wang", "country": "CN",
                ]), 422, "password_too_weak")
                #expect(answer.params["reason"] as? String == reason, "\(bad)")
            }
            // NFKC: a full-width password is the same password typed half-width.
            let registered = try await api.call(.post, "/v1/users", json: [
                "email": "dora@example.com", "password": "ｔｒｅｅ ｈｏｕｓｅ ｌａｋｅ", "display_name": "Dora", "country": "CN",
            ])
            #expect(registered.status == 201)
            #expect(try await api.logIn("dora@example.com", password: "tree house lake").status == 201)
        }
    }
}

@Suite("HTTP: two-factor and step-up")
struct TwoFactorTests {
    @Test("with 2FA on, sign-in needs a code; a code is accepted once; recovery codes are single-use")
    func signInWithTOTP() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            let (secret, recovery) = try await api.enableTOTP(alice.token, clock: clock)
            #expect(recovery.count == 10 && Set(recovery).count == 10)
            let needed = expectProblem(try await api.logIn(alice.email), 401, "second_factor_required")
            #expect(needed.params["methods"] as? String == "totp_code, recovery_code")
            expectProblem(try await api.logIn(alice.email, totp: "000000"), 401, "second_factor_invalid")
            expectProblem(try await api.logIn(alice.email, totp: "12a456"), 401, "second_factor_invalid")
            let current = code(secret, clock)
            #expect(try await api.logIn(alice.email, totp: current).status == 201)
            expectProblem(try await api.logIn(alice.email, totp: current), 401, "second_factor_invalid")
            #expect(try await api.logIn(alice.email, recovery: recovery[3].uppercased()).status == 201)
            expectProblem(try await api.logIn(alice.email, recovery: recovery[3]), 401, "second_factor_invalid")
            let account = try await api.call(.get, "/v1/me", token: alice.token)
            #expect(account["two_factor_enabled"] as? Bool == true && account["recovery_codes_left"] as? Int == 9)
        }
    }

    @Test("enrolment refuses wrong and malformed codes, and a second enrolment")
    func enrolmentErrors() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            expectProblem(try await api.call(.post, "/v1/me/totp/confirm", token: alice.token, json: ["code": "123456"]), 409, "totp_not_enabled")
            _ = try await api.call(.post, "/v1/me/totp", token: alice.token)
            expectProblem(try await api.call(.post, "/v1/me/totp/confirm", token: alice.token, json: ["code": "12345"]), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/me/totp/confirm", token: alice.token, json: ["code": "000000"]), 401, "second_factor_invalid")
            _ = try await api.enableTOTP(alice.token, clock: clock)
            expectProblem(try await api.call(.post, "/v1/me/totp", token: alice.token), 409, "totp_already_enabled")
        }
    }

    @Test("step-up is asked for exactly where listed: large amounts, first-time payees, password change, disabling 2FA")
    func stepUp() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            let carol = try await api.customer("Carol")
            try await api.topUp(alice.token, 1_000_000)
            // Without 2FA: no step-up anywhere.
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 150_000).status == 201)
            let (secret, _) = try await api.enableTOTP(alice.token, clock: clock)
            // Known payee, small amount: straight through.
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 1_000).status == 201)
            // Known payee, above the threshold (¥1,000).
            let large = expectProblem(try await api.transfer(alice.token, to: ["email": bob.email], 100_001), 401, "second_factor_required")
            #expect(large.params["reason"] as? String == "transfer_amount")
            // First-time payee, small amount.
            let newPayee = expectProblem(try await api.transfer(alice.token, to: ["email": carol.email], 100, key: "to-carol"),
                                         401, "second_factor_required")
            #expect(newPayee.params["reason"] as? String == "new_payee")
            var body: [String: Any] = ["to": ["email": carol.email], "amount": 100, "currency": "CNY", "totp_code": code(secret, clock)]
            let stepped = try await api.call(.post, "/v1/transfers", token: alice.token, json: body, key: "to-carol")
            #expect(stepped.status == 201, "\(stepped.raw)")
            // A retry of that request (same key, same body, the code now spent) replays without asking again.
            let replay = try await api.call(.post, "/v1/transfers", token: alice.token, json: body, key: "to-carol")
            #expect(replay.status == 201 && replay["id"] as? String == stepped["id"] as? String)
            body["totp_code"] = nil
            let replayWithout = try await api.call(.post, "/v1/transfers", token: alice.token, json: body, key: "to-carol")
            #expect(replayWithout["id"] as? String == stepped["id"] as? String)
            // Payments and withdrawals above the threshold too.
            expectProblem(try await api.call(.post, "/v1/withdrawals", token: alice.token, json: ["amount": 200_000, "currency": "CNY"],
                                             key: "w"), 401, "second_factor_required")
            // Password change and disabling 2FA.
            expectProblem(try await api.call(.post, "/v1/me/password", token: alice.token,
                                             json: ["current_password": password, "new_password": "a brand new passphrase"]),
                          401, "second_factor_required")
            expectProblem(try await api.call(.post, "/v1/me/totp/disable", token: alice.token, json: ["password": password]),
                          401, "second_factor_required")
            clock.advance(seconds: 30)
            #expect(try await api.call(.post, "/v1/me/totp/disable", token: alice.token,
                                       json: ["password": password, "totp_code": code(secret, clock)]).status == 204)
            #expect(try await api.transfer(alice.token, to: ["email": bob.email], 100_001).status == 201, "2FA off: no step-up")
        }
    }
}

@Suite("HTTP: sessions")
struct SessionTests {
    @Test("sessions list device, address and country; revoking one ends it at once; others can all be revoked")
    func sessions() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let phone = try await api.logIn(alice.email, device: "phone-1", headers: ["X-Geo-Country": "CN", "User-Agent": "LucidApp/3.2"])
            let phoneToken = try #require(phone["token"] as? String)
            let list = try await api.call(.get, "/v1/me/sessions", token: alice.token)
            let items = try #require(list["items"] as? [[String: Any]])
            #expect(items.count == 2)
            let phoneSession = try #require(items.first { $0["device_id"] as? String == "phone-1" })
            #expect(phoneSession["country"] as? String == "CN" && phoneSession["user_agent"] as? String == "LucidApp/3.2")
            #expect(phoneSession["first_seen_at"] is String && phoneSession["current"] as? Bool == false)
            let id = try #require(phoneSession["id"] as? String)
            #expect(try await api.call(.delete, "/v1/me/sessions/\(id)", token: alice.token).status == 204)
            expectProblem(try await api.call(.get, "/v1/wallets", token: phoneToken), 401, "unauthenticated")
            expectProblem(try await api.call(.delete, "/v1/me/sessions/\(id)", token: alice.token), 404, "session_not_found")
            _ = try await api.logIn(alice.email)
            _ = try await api.logIn(alice.email)
            let revoked = try await api.call(.post, "/v1/me/sessions/revoke-others", token: alice.token)
            #expect(revoked["revoked"] as? Int == 2)
            #expect(try await api.call(.get, "/v1/wallets", token: alice.token).status == 200, "the current session stays")
        }
    }

    @Test("sessions end after the idle limit and the absolute limit")
    func expiry() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            clock.advance(seconds: 6 * 86_400)
            #expect(try await api.call(.get, "/v1/wallets", token: alice.token).status == 200)
            clock.advance(seconds: 7 * 86_400 + 1)
            expectProblem(try await api.call(.get, "/v1/wallets", token: alice.token), 401, "unauthenticated")
            let fresh = try #require(try await api.logIn(alice.email)["token"] as? String)
            for _ in 0..<6 { clock.advance(seconds: 5 * 86_400); _ = try await api.call(.get, "/v1/wallets", token: fresh) }
            expectProblem(try await api.call(.get, "/v1/wallets", token: fresh), 401, "unauthenticated")
        }
    }

    @Test("a sign-in from a new device or country notifies the owner with actions")
    func newDevice() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            _ = try await api.logIn(alice.email, device: "phone-1", headers: ["X-Geo-Country": "CN"])
            _ = try await api.logIn(alice.email, device: "phone-1", headers: ["X-Geo-Country": "CN"])
            _ = try await api.logIn(alice.email, device: "laptop-9", headers: ["X-Geo-Country": "FR"])
            let notes = try await api.call(.get, "/v1/notifications", token: alice.token, headers: ["Accept-Language": "zh-CN"])
            let items = try #require(notes["items"] as? [[String: Any]])
            let types = items.compactMap { $0["type"] as? String }
            #expect(types.filter { $0 == "new_device_sign_in" }.count == 1 && types.filter { $0 == "new_country_sign_in" }.count == 1)
            let device = try #require(items.first { $0["type"] as? String == "new_device_sign_in" })
            #expect(device["actions"] as? [String] == ["this_was_me", "secure_my_account"])
            #expect((device["title"] as? String) == "新设备登录" && (device["body"] as? String)?.contains("laptop-9") == true)
            let marked = try await api.call(.post, "/v1/notifications/read", token: alice.token)
            #expect((marked["marked_read"] as? Int ?? 0) >= 2)
        }
    }
}
