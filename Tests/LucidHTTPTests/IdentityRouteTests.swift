import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import Testing
@Suite("HTTP: identity")
struct IdentityRouteTests {
    @Test("register, log in, use the token, log out: the token stops working at once")
    func lifecycle() async throws {
        try await withApp { api, _ in
            let registered = try await api.call(.post, "/v1/users", json: [
                "email": "Carol@Example.com", "password": "correct horse battery", "display_name": "Carol Wang", "country": "cn"])
            #expect(registered.status == 201)
            #expect(registered["email"] as? String == "carol@example.com" && registered["country"] as? String == "CN")
            #expect(registered["password"] == nil && registered["password_hash"] == nil && !registered.raw.contains("$2b$"))
            let session = try await api.call(.post, "/v1/sessions", json: ["login": "carol@example.com", "password": "correct horse battery"])
            #expect(session.status == 201 && session["user_id"] as? String == registered["id"] as? String)
            let token = try #require(session["token"] as? String)
            #expect(token.hasPrefix("lcs_") && session["expires_at"] is String)
            #expect(try await api.call(.get, "/v1/wallets", token: token).status == 200)
            #expect(try await api.call(.delete, "/v1/sessions/current", token: token).status == 204)
            expectProblem(try await api.call(.get, "/v1/wallets", token: token), 401, "unauthenticated")
        }
    }

    @Test("registration errors are specific")
    func registrationErrors() async throws {
        try await withApp { api, _ in
            _ = try await api.customer("Dan", email: "dan@example.com")
            let base: [String: Any] = ["email": "erin@example.com", "password": "correct horse battery", "display_name": "Erin", "country": "CN"]
            func with(_ change: [String: Any?]) -> [String: Any] {
                var body = base
                for (key, value) in change { body[key] = value }
                return body
            }
            expectProblem(try await api.call(.post, "/v1/users", json: with(["email": "DAN@example.com"])), 409, "login_already_registered")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["password": "short"])), 422, "password_too_weak")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["email": nil])), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["email": "not-an-email"])), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["country": "CHN"])), 422, "invalid_field")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["display_name": String(repeating: "名", count: 65)])), 422, "string_too_long")
            let unknown = expectProblem(try await api.call(.post, "/v1/users", json: with(["is_admin": true])), 400, "unknown_field")
            #expect(unknown.params["field"] as? String == "is_admin")
            expectProblem(try await api.call(.post, "/v1/users", json: with(["display_name": 42])), 422, "invalid_field")
        }
    }

    @Test("unknown login and wrong password get the same answer, so account existence does not leak")
    func noEnumeration() async throws {
        try await withApp { api, _ in
            _ = try await api.customer("Fay", email: "fay@example.com")
            let wrong = expectProblem(try await api.call(.post, "/v1/sessions", json: ["login": "fay@example.com", "password": "wrong password"]),
                                      401, "invalid_credentials")
            let unknown = expectProblem(try await api.call(.post, "/v1/sessions", json: ["login": "nobody@example.com", "password": "wrong password"]),
                                        401, "invalid_credentials")
            #expect(wrong["detail"] as? String == unknown["detail"] as? String)
            #expect(NSDictionary(dictionary: wrong.params) == NSDictionary(dictionary: unknown.params))
            #expect(Set(wrong.body.keys) == Set(unknown.body.keys))
        }
    }

    @Test("customer routes need a valid customer token; operator tokens and garbage are refused")
    func authentication() async throws {
        try await withApp { api, lucid in
            let op = try await api.operatorToken(lucid)
            expectProblem(try await api.call(.get, "/v1/wallets"), 401, "unauthenticated")
            expectProblem(try await api.call(.get, "/v1/wallets", token: "lcs_forged"), 401, "unauthenticated")
            expectProblem(try await api.call(.get, "/v1/wallets", token: op), 401, "unauthenticated")
            expectProblem(try await api.call(.get, "/v1/wallets", headers: ["Authorization": "Basic Zm9vOmJhcg=="]), 401, "unauthenticated")
            expectProblem(try await api.call(.get, "/v1/wallets", headers: ["Authorization": "Bearer"]), 401, "unauthenticated")
            let alice = try await api.customer("Alice")
            #expect(try await api.call(.get, "/v1/wallets", headers: ["Authorization": "bearer   \(alice.token)  "]).status == 200,
                    "the scheme is case-insensitive and spaces around the token are ignored")
        }
    }
}
