import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LucidCore
import LucidGateway
import LucidHTTP
import LucidServices
import LucidStore
import Testing
/// Builds the real application on a temporary database (bcrypt cost 4 so tests
/// are quick, through configuration only) and runs `body` with a test client.
func withApp(
    clock: ManualClock = ManualClock(), sender: RecordingWebhookSender = RecordingWebhookSender(),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (TestAPI, LucidApplication) async throws -> Void
) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lucid-http-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var configuration = ServerConfiguration()
    configuration.store = .sqlite(path: folder.appendingPathComponent("lucid.sqlite").path)
    configuration.passwordHashing = .lowCostForTests
    configuration.secretKeyPath = folder.appendingPathComponent("secret.key").path
    configuration.logLevel = .critical
    // Tests drive hold expiry and webhook delivery themselves: background passes (real time, on the
    // router test's running services) would race them on a loaded machine.
    configuration.holdExpiryInterval = .seconds(86_400)
    configuration.deliveryInterval = .seconds(86_400)
    // The in-process sandbox rails on the test's clock: waits move the clock, nothing runs in the
    // background (tests settle, sweep and reconcile when they choose), a known callback secret.
    configuration.gateway.sleeper = VirtualSleeper(clock: clock)
    configuration.gateway.sweepIntervalSeconds = nil
    configuration.gateway.reconciliationMinuteOfDay = nil
    configuration.gateway.sandboxTickMilliseconds = nil
    configuration.gateway.callbackSecrets = [railCallbackSecret]
    // No real-time safety net: the sandbox runs on the test's clock, and on a loaded machine a
    // wall-clock deadline would turn a confirmed top-up into a timed-out one.
    configuration.gateway.resilience.deadlineGrace = nil
    configuration.gateway.reportFolder = folder.appendingPathComponent("reports").path
    configure(&configuration)
    configuration.webhooks = [WebhookEndpoint(url: "https://hooks.test/lucid", secret: RecordingWebhookSender.secret)]
    let lucid = try await buildApplication(configuration, clock: clock, ids: CountingIDGenerator(), webhookSender: sender)
    try await lucid.application.test(.router) { client in
        try await body(TestAPI(client: client), lucid)
    }
}

/// The secret test rails sign callbacks with.
let railCallbackSecret = "test-rail-callback-secret-0123456789"

/// A decoded answer: status, headers and the JSON body as a dictionary.
struct Answer: @unchecked Sendable {
    let status: Int
    let headers: HTTPFields
    let body: [String: Any]
    let raw: String

    subscript(key: String) -> Any? { body[key] }
    var code: String? { body["code"] as? String }
    var params: [String: Any] { body["params"] as? [String: Any] ?? [:] }
    var contentType: String { headers[.contentType] ?? "" }
}

/// Thin helpers over the Hummingbird test client that speak Lucid's JSON.
struct TestAPI: Sendable {
    let client: any TestClientProtocol

    @discardableResult
    func call(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: Any]? = nil,
              raw: String? = nil, key: String? = nil, headers extra: [String: String] = [:]) async throws -> Answer {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil || raw != nil { headers[.contentType] = "application/json" }
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        var buffer: ByteBuffer?
        if let json { buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)) }
        if let raw { buffer = ByteBuffer(string: raw) }
        return try await client.execute(uri: path, method: method, headers: headers, body: buffer) { response in
            let text = String(buffer: response.body)
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            return Answer(status: Int(response.status.code), headers: response.headers, body: object, raw: text)
        }
    }

    /// Registers a customer by e-mail and logs in; returns (user id, token).
    func customer(_ name: String, email: String? = nil, phone: String? = nil) async throws -> (id: String, token: String, email: String) {
        let email = email ?? "\(name.lowercased().replacingOccurrences(of: " ", with: "."))@example.com"
        var body: [String: Any] = ["email": email, "password": "correct horse battery", "display_name": name, "country": "CN"]
        if let phone { body["phone"] = phone }
        let registered = try await call(.post, "/v1/users", json: body)
        try #require(registered.status == 201, "\(registered.raw)")
        let session = try await call(.post, "/v1/sessions", json: ["login": email, "password": "correct horse battery"])
        try #require(session.status == 201, "\(session.raw)")
        return (registered["id"] as! String, session["token"] as! String, email)
    }

    @discardableResult
    func topUp(_ token: String, _ amount: Int, key: String = UUID().uuidString) async throws -> Answer {
        try await call(.post, "/v1/topups", token: token, json: ["amount": amount, "currency": "CNY"], key: key)
    }

    @discardableResult
    func transfer(_ token: String, to: [String: Any], _ amount: Int, memo: String? = nil, key: String = UUID().uuidString,
                  language: String? = nil) async throws -> Answer {
        var body: [String: Any] = ["to": to, "amount": amount, "currency": "CNY"]
        if let memo { body["memo"] = memo }
        return try await call(.post, "/v1/transfers", token: token, json: body, key: key,
                              headers: language.map { ["Accept-Language": $0] } ?? [:])
    }

    func available(_ token: String) async throws -> Int {
        let wallets = try await call(.get, "/v1/wallets", token: token)
        let items = wallets["items"] as? [[String: Any]] ?? []
        return items.first { $0["currency"] as? String == "CNY" }?["available"] as? Int ?? 0
    }

    /// An operator token made the way `lucid operator create` makes it.
    func operatorToken(_ lucid: LucidApplication, role: OperatorRole = .admin) async throws -> String {
        try await lucid.identity.createOperator(name: "ops-\(role.rawValue)-\(UUID().uuidString.prefix(6))", role: role).1
    }
}

/// Checks the RFC 9457 shape every error has; returns the answer for further checks.
@discardableResult
func expectProblem(_ answer: Answer, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) -> Answer {
    #expect(answer.status == status, "\(answer.raw)", sourceLocation: sourceLocation)
    #expect(answer.code == code, "\(answer.raw)", sourceLocation: sourceLocation)
    #expect(answer.contentType.hasPrefix("application/problem+json"), sourceLocation: sourceLocation)
    for field in ["type", "title", "status", "code", "detail", "params", "next_steps", "request_id"] {
        #expect(answer[field] != nil, "problem field \(field) missing", sourceLocation: sourceLocation)
    }
    #expect(answer["status"] as? Int == status, sourceLocation: sourceLocation)
    #expect((answer["next_steps"] as? [String])?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(answer["type"] as? String == "https://lucid.example/errors/\(code)", sourceLocation: sourceLocation)
    #expect(answer["request_id"] as? String == answer.headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
    #expect(!answer.raw.contains("SQLITE") && !answer.raw.contains("Swift/") && !answer.raw.contains("Fatal"), sourceLocation: sourceLocation)
    return answer
}

/// Captures webhook deliveries instead of sending them; can be told to fail.
final class RecordingWebhookSender: WebhookSender, @unchecked Sendable {
    static let secret = "test-webhook-secret-0123456789"
    struct Delivery {
        let url: String
        let body: [UInt8]
        let headers: [(String, String)]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var signature: String? { headers.first { $0.0 == WebhookSignature.header }?.1 }
    }
    private let lock = NSLock()
    private var recorded: [Delivery] = []
    private var failing = false

    func post(url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> Int {
        record(Delivery(url: url, body: body, headers: headers))
    }

    private func record(_ delivery: Delivery) -> Int {
        lock.withLock {
            if failing { return 503 }
            recorded.append(delivery)
            return 200
        }
    }

    func fail(_ on: Bool) { lock.withLock { failing = on } }
    var deliveries: [Delivery] { lock.withLock { recorded } }

    /// The secret (reset link or code) of the newest delivery of `type` to `user`.
    func secret(_ type: String, for user: String) -> String? {
        deliveries.last { $0.json["type"] as? String == type && $0.json["user_id"] as? String == user }?.json["secret"] as? String
    }
}
