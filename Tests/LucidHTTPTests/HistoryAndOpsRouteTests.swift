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
@Suite("HTTP: history and operations")
struct HistoryAndOpsRouteTests {
    @Test("history pages newest first with next_cursor, null at the end")
    func paging() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock) { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100_000)
            for amount in 1...25 {
                // Spread over the afternoon: 25 transfers in one instant would be a velocity burst to risk monitoring.
                clock.advance(seconds: 360)
                try await api.transfer(alice.token, to: ["email": bob.email], amount)
            }
            var amounts: [Int] = []
            var cursor: String?
            repeat {
                let path = "/v1/transactions?limit=10" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await api.call(.get, path, token: alice.token)
                #expect(page.status == 200 && page.body.keys.contains("next_cursor"))
                amounts += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["amount"] as? Int }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            #expect(amounts == Array((1...25).reversed()) + [100_000])
            expectProblem(try await api.call(.get, "/v1/transactions?limit=101", token: alice.token), 422, "invalid_field")
            expectProblem(try await api.call(.get, "/v1/transactions?limit=ten", token: alice.token), 422, "invalid_field")
            expectProblem(try await api.call(.get, "/v1/transactions?cursor=xyz", token: alice.token), 400, "invalid_cursor")
        }
    }

    @Test("a customer sees their own transaction; someone else's is a 404, exactly like one that does not exist")
    func ownership() async throws {
        try await withApp { api, _ in
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            let mallory = try await api.customer("Mallory")
            try await api.topUp(alice.token, 1_000)
            let sent = try await api.transfer(alice.token, to: ["email": bob.email], 300)
            let id = try #require(sent["id"] as? String)
            #expect(try await api.call(.get, "/v1/transactions/\(id)", token: alice.token)["direction"] as? String == "out")
            #expect(try await api.call(.get, "/v1/transactions/\(id)", token: bob.token)["direction"] as? String == "in")
            let stolen = expectProblem(try await api.call(.get, "/v1/transactions/\(id)", token: mallory.token), 404, "transaction_not_found")
            let missing = expectProblem(try await api.call(.get, "/v1/transactions/\(UUID().uuidString.lowercased())", token: mallory.token),
                                        404, "transaction_not_found")
            #expect(stolen["detail"] as? String == missing["detail"] as? String)
            expectProblem(try await api.call(.get, "/v1/transactions/not-an-id", token: mallory.token), 404, "transaction_not_found")
        }
    }

    @Test("operators: roles are enforced and customer tokens never reach /v1/ops")
    func roles() async throws {
        try await withApp { api, lucid in
            let alice = try await api.customer("Alice")
            let auditor = try await api.operatorToken(lucid, role: .auditor)
            let support = try await api.operatorToken(lucid, role: .support)
            expectProblem(try await api.call(.get, "/v1/ops/ledger/verify", token: alice.token), 401, "unauthenticated")
            expectProblem(try await api.call(.get, "/v1/ops/ledger/verify"), 401, "unauthenticated")
            #expect(try await api.call(.get, "/v1/ops/ledger/verify", token: auditor).status == 200)
            expectProblem(try await api.call(.post, "/v1/ops/merchants", token: support, json: ["name": "Shop", "country": "CN"]),
                          403, "forbidden")
            try await api.topUp(alice.token, 500)
            let bob = try await api.customer("Bob")
            let sent = try await api.transfer(alice.token, to: ["email": bob.email], 100)
            expectProblem(try await api.call(.post, "/v1/ops/transactions/\(sent["id"] as! String)/reverse", token: support,
                                             json: ["reason": "mistake"], key: "r1"), 403, "forbidden")
        }
    }

    @Test("verify over HTTP reports the ledger; a reversal by an admin is a compensating transaction")
    func verifyAndReverse() async throws {
        try await withApp { api, lucid in
            let admin = try await api.operatorToken(lucid)
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 1_000)
            let sent = try await api.transfer(alice.token, to: ["email": bob.email], 400)
            let id = try #require(sent["id"] as? String)
            let reversal = try await api.call(.post, "/v1/ops/transactions/\(id)/reverse", token: admin, json: ["reason": "wrong payee"], key: "rev-1")
            #expect(reversal.status == 201 && reversal["kind"] as? String == "reversal" && reversal["reverses_id"] as? String == id)
            let replay = try await api.call(.post, "/v1/ops/transactions/\(id)/reverse", token: admin, json: ["reason": "wrong payee"], key: "rev-1")
            #expect(replay["id"] as? String == reversal["id"] as? String, "a retried reversal applies once")
            expectProblem(try await api.call(.post, "/v1/ops/transactions/\(id)/reverse", token: admin, json: ["reason": "again"], key: "rev-2"),
                          409, "transfer_not_reversible")
            #expect(try await api.available(alice.token) == 1_000)
            #expect(try await api.available(bob.token) == 0)
            let original = try await api.call(.get, "/v1/ops/transactions/\(id)", token: admin)
            #expect(original["reversed_by_id"] as? String == reversal["id"] as? String)
            let report = try await api.call(.get, "/v1/ops/ledger/verify", token: admin)
            #expect(report["ok"] as? Bool == true && (report["mismatches"] as? [Any])?.isEmpty == true)
            #expect((report["transfers_checked"] as? Int ?? 0) >= 3 && (report["accounts_checked"] as? Int ?? 0) >= 3)
        }
    }
}

@Suite("HTTP: protocol")
struct ProtocolTests {
    @Test("malformed bodies get specific 4xx answers")
    func malformed() async throws {
        try await withApp { api, _ in
            let cases: [(String, Int, String)] = [
                ("{", 400, "malformed_json"), ("", 400, "malformed_json"), ("[1, 2]", 400, "malformed_json"),
                ("\"text\"", 400, "malformed_json"),
            ]
            for (body, status, code) in cases {
                expectProblem(try await api.call(.post, "/v1/users", raw: body), status, code)
            }
            let invalidUTF8 = try await api.client.execute(uri: "/v1/users", method: .post, headers: [.contentType: "application/json"],
                                                           body: ByteBuffer(bytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D])) { $0 }
            #expect(invalidUTF8.status == .badRequest)
            let big = #"{"email": ""# + String(repeating: "a", count: InputLimits.requestBodyBytesMax) + #""}"#
            expectProblem(try await api.call(.post, "/v1/users", raw: big), 413, "body_too_large")
            expectProblem(try await api.call(.post, "/v1/users", raw: "{}", headers: ["Content-Type": "text/plain"]), 415, "unsupported_media_type")
        }
    }

    @Test("unknown routes and methods are problem+json too")
    func notFound() async throws {
        try await withApp { api, _ in
            expectProblem(try await api.call(.get, "/v1/nothing-here"), 404, "route_not_found")
            let answer = try await api.call(.put, "/v1/users", json: [:])
            #expect(answer.status == 404 || answer.status == 405)
            #expect(answer.contentType.hasPrefix("application/problem+json"))
        }
    }

    @Test("clients older than the minimum version get 426 client_outdated; newer ones pass")
    func clientVersion() async throws {
        try await withApp(configure: { $0.wallet.minimumClientVersion = "3.2.0" }) { api, _ in
            let old = expectProblem(try await api.call(.get, "/healthz", headers: ["X-Client-Version": "3.1.9"]), 426, "client_outdated")
            #expect(old.params["minimum_version"] as? String == "3.2.0" && old.params["client_version"] as? String == "3.1.9")
            #expect(try await api.call(.get, "/healthz", headers: ["X-Client-Version": "3.10.0"]).status == 200)
            #expect(try await api.call(.get, "/healthz").status == 200)
        }
    }

    @Test("health and metrics: request counts by route and status, transfers by result, group-commit batch sizes")
    func metrics() async throws {
        try await withApp { api, _ in
            #expect(try await api.call(.get, "/healthz")["status"] as? String == "ok")
            let alice = try await api.customer("Alice")
            let bob = try await api.customer("Bob")
            try await api.topUp(alice.token, 100)
            try await api.transfer(alice.token, to: ["email": bob.email], 50)
            try await api.transfer(alice.token, to: ["email": bob.email], 5_000)
            let text = try await api.client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(text.contains("lucid_transfers_total{kind=\"transfer\",result=\"ok\"}"))
            #expect(text.contains("lucid_transfers_total{kind=\"transfer\",result=\"insufficient_funds\"}"))
            #expect(text.contains("lucid_group_commit_batch_size"))
            #expect(text.contains("hb_requests") && text.contains("http_response_status_code=\"422\""), "requests are counted with the status the client got")
            #expect(text.contains("http_server_request_duration"))
        }
    }

    @Test("/openapi.json is OpenAPI 3.1 and describes exactly the routes the router serves")
    func openAPICoverage() async throws {
        try await withApp { api, lucid in
            let document = try await api.call(.get, "/openapi.json")
            #expect(document.status == 200 && document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var documented = Set<String>()
            for (path, operations) in paths {
                for (method, operation) in operations {
                    documented.insert("\(method.uppercased()) \(path)")
                    let responses = (operation as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                    #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(method) \(path) documents its success")
                }
            }
            let served = Set(lucid.routeTable.map { route in
                route.split(separator: " ").map { part in
                    part.split(separator: "/", omittingEmptySubsequences: false)
                        .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
                }.joined(separator: " ")
            })
            #expect(served == documented, "undocumented: \(served.subtracting(documented)); not served: \(documented.subtracting(served))")
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
            let problem = schemas?["Problem"] as? [String: Any]
            let codes = ((problem?["properties"] as? [String: Any])?["code"] as? [String: Any])?["enum"] as? [String]
            #expect(Set(codes ?? []) == Set(ErrorCode.allCases.map(\.rawValue)), "every error code is documented")
        }
    }
}
