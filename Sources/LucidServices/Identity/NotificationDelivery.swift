import Crypto
import Foundation
import Logging
import LucidCore
import LucidStore
import ServiceLifecycle

/// A webhook that receives every notification: the integration point for the
/// operator's SMS, e-mail and push providers (Lucid sends none itself).
public struct WebhookEndpoint: Sendable, Hashable {
    public var url: String
    /// Shared secret for the `X-Lucid-Signature` HMAC.
    public var secret: String
    public init(url: String, secret: String) {
        self.url = url
        self.secret = secret
    }
}

/// Sends one HTTP POST; the HTTP edge provides the real one, tests a fake.
public protocol WebhookSender: Sendable {
    /// The response status, or a thrown error when nothing came back.
    func post(url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> Int
}

/// Signs webhook bodies the way receivers verify them:
/// `X-Lucid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
public enum WebhookSignature {
    public static let header = "X-Lucid-Signature"
    /// Receivers should refuse signatures older than this (replays).
    public static let toleranceSeconds: Int64 = 300

    public static func sign(body: [UInt8], secret: String, at time: Timestamp) -> String {
        let seconds = time.millisecondsSinceEpoch / 1000
        return "t=\(seconds),v1=\(mac(body: body, secret: secret, seconds: seconds))"
    }

    /// Verification as a receiver does it (used by the tests and documented for integrators).
    public static func verify(header: String, body: [UInt8], secret: String, now: Timestamp) -> Bool {
        var seconds: Int64?
        var signature: String?
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { seconds = Int64(pair[1]) }
            if pair[0] == "v1" { signature = pair[1] }
        }
        guard let seconds, let signature, abs(now.millisecondsSinceEpoch / 1000 - seconds) <= toleranceSeconds else { return false }
        let expected = Array(mac(body: body, secret: secret, seconds: seconds).utf8)
        let presented = Array(signature.utf8)
        guard expected.count == presented.count else { return false }
        return zip(expected, presented).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func mac(body: [UInt8], secret: String, seconds: Int64) -> String {
        let message = Array("\(seconds).".utf8) + body
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }
}

/// Delivers the outbox to the configured webhooks: signed, retried with growing
/// backoff, and dead-lettered after `attemptsMax` tries (still readable at
/// `GET /v1/notifications`; counted in `/metrics` and `lucid` reports).
public struct NotificationDeliveryService: Service {
    let store: any AccountProtectionStore & WalletStore
    let endpoints: [WebhookEndpoint]
    let sender: any WebhookSender
    let secrets: SecretBox
    let clock: any WallClock
    let interval: Duration
    let logger: Logger
    /// Minutes to wait before each retry; after the last the delivery is dead.
    public static let retryDelaysSeconds: [Int64] = [10, 60, 300, 1_800, 7_200, 43_200]
    public static var attemptsMax: Int { retryDelaysSeconds.count + 1 }
    static let batchMax = 100

    public init(store: any AccountProtectionStore & WalletStore, endpoints: [WebhookEndpoint], sender: any WebhookSender,
                secrets: SecretBox, clock: any WallClock, interval: Duration = .seconds(2),
                logger: Logger = Logger(label: "lucid.outbox")) {
        self.store = store
        self.endpoints = endpoints
        self.sender = sender
        self.secrets = secrets
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        guard !endpoints.isEmpty else {
            // Nothing to deliver to; a service that returns early would stop the whole group.
            try? await gracefulShutdown()
            return
        }
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    do { _ = try await deliverDue() } catch {
                        logger.error("notification delivery pass failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {}
    }

    /// One pass over what is due; returns how many were delivered.
    @discardableResult
    public func deliverDue() async throws -> Int {
        var delivered = 0
        for delivery in try await store.dueDeliveries(at: clock.now(), limit: Self.batchMax) {
            guard let endpoint = endpoints.first(where: { $0.url == delivery.endpoint }) else {
                try await store.deliveryFailed(delivery.id, error: "endpoint no longer configured", nextAttemptAt: nil)
                continue
            }
            let body = try await payload(delivery)
            let headers = [("Content-Type", "application/json"),
                           (WebhookSignature.header, WebhookSignature.sign(body: body, secret: endpoint.secret, at: clock.now())),
                           ("X-Lucid-Delivery", delivery.id)]
            do {
                let status = try await sender.post(url: endpoint.url, body: body, headers: headers, timeout: .seconds(10))
                if (200..<300).contains(status) {
                    try await store.deliverySucceeded(delivery.id, at: clock.now())
                    delivered += 1
                } else {
                    try await failed(delivery, "HTTP \(status)")
                }
            } catch {
                try await failed(delivery, "\(error)")
            }
        }
        return delivered
    }

    private func failed(_ delivery: DeliveryRecord, _ error: String) async throws {
        let attempt = delivery.attempts + 1
        let next = attempt <= Self.retryDelaysSeconds.count
            ? clock.now().adding(seconds: Self.retryDelaysSeconds[attempt - 1]) : nil
        if next == nil { logger.warning("notification delivery dead-lettered", metadata: ["delivery": "\(delivery.id)"]) }
        try await store.deliveryFailed(delivery.id, error: error, nextAttemptAt: next)
    }

    /// The message with both languages rendered, the recipient's contact and, for
    /// reset links and codes, the secret itself (only ever here, never in the readable copy).
    func payload(_ delivery: DeliveryRecord) async throws -> [UInt8] {
        let params = SecurityEvents.params(delivery.payload)
        var texts: [String: [String: String]] = [:]
        if let kind = NotificationKind(rawValue: delivery.type) {
            for language in Language.allCases {
                let text = NotificationCatalogue.render(kind, params, in: language)
                texts[language.rawValue] = ["title": text.title, "body": text.body]
            }
        }
        var object: [String: Any] = [
            "id": delivery.notificationID, "type": delivery.type, "category": delivery.category.rawValue,
            "user_id": delivery.userID.rawValue, "created_at": delivery.createdAt.rfc3339,
            "params": (try? JSONSerialization.jsonObject(with: Data(delivery.payload.utf8))) ?? [:], "texts": texts,
        ]
        if let user = try await store.user(delivery.userID) {
            var recipient: [String: Any] = ["display_name": user.displayName]
            recipient["email"] = user.email
            recipient["phone"] = user.phone
            object["recipient"] = recipient
        }
        if let sealed = delivery.sealedSecret, let secret = try? secrets.open(sealed) {
            object["secret"] = String(decoding: secret, as: UTF8.self)
        }
        return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
