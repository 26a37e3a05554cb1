import Foundation
import HTTPTypes
import LucidCore
import LucidGateway
import LucidHTTP
import LucidServices
import LucidStore
import Testing

/// The app with its in-process sandbox rails (bank-a: every currency, bank-b: CNY, USD, HKD) on a manual
/// clock, with the faults and timings a test asks for. Nothing runs in the background: tests settle
/// the sandbox (`settle`), sweep and reconcile when they choose.
func withRails(
    faultsA: RailFaults = .none, faultsB: RailFaults = .none, confirmTopUps: Bool = false, delaySeconds: Int64 = 5,
    attemptsMax: Int = 3, failureThreshold: Int = 5, sweepAttemptsMax: Int = 3, seed: UInt64 = 11,
    _ body: @escaping @Sendable (TestAPI, LucidApplication, ManualClock) async throws -> Void
) async throws {
    let clock = ManualClock()
    try await withApp(clock: clock, configure: { configuration in
        configuration.gateway.sandboxFaults = ["bank-a": faultsA, "bank-b": faultsB]
        configuration.gateway.sandboxConfirmsAtOnce = confirmTopUps ? [.topUp] : []
        configuration.gateway.sandboxSettlementDelaySeconds = delaySeconds
        configuration.gateway.sandboxSeed = seed
        configuration.gateway.sweepAttemptsMax = sweepAttemptsMax
        configuration.gateway.resilience = ResiliencePolicy(
            callTimeout: .seconds(5), attemptsMax: attemptsMax, backoffBase: .milliseconds(100), backoffMax: .seconds(1),
            deadlineGrace: nil, breaker: .init(failureThreshold: failureThreshold, windowSeconds: 30, openSeconds: 30))
    }) { api, lucid in
        try await body(api, lucid, clock)
    }
}

extension LucidApplication {
    var bank: SandboxBank {
        get throws { try #require(gateway.sandbox) }
    }

    /// Moves the clock and makes what is due at the sandbox final (its callbacks are applied in process).
    func settle(_ clock: ManualClock, afterSeconds seconds: Int64 = 10) async throws {
        clock.advance(seconds: seconds)
        await (try bank).settleDue()
    }

    func item(_ id: Any?) async throws -> RailItemRecord {
        let text = try #require(id as? String)
        return try #require(try await store.railItem(TransferID(text)))
    }
}

extension TestAPI {
    @discardableResult
    func railTopUp(_ token: String, _ amount: Int, rail: String? = nil, last4: String? = nil, currency: String = "CNY",
               key: String = UUID().uuidString) async throws -> Answer {
        var body: [String: Any] = ["amount": amount, "currency": currency]
        if let rail { body["rail"] = rail }
        if let last4 { body["bank_account"] = ["bank": "ICBC", "last4": last4] }
        return try await call(.post, "/v1/topups", token: token, json: body, key: key)
    }

    @discardableResult
    func withdraw(_ token: String, _ amount: Int, rail: String? = nil, last4: String? = nil, key: String = UUID().uuidString,
                  language: String? = nil) async throws -> Answer {
        var body: [String: Any] = ["amount": amount, "currency": "CNY"]
        if let rail { body["rail"] = rail }
        if let last4 { body["bank_account"] = ["bank": "ICBC", "last4": last4] }
        return try await call(.post, "/v1/withdrawals", token: token, json: body, key: key,
                              headers: language.map { ["Accept-Language": $0] } ?? [:])
    }

    func wallet(_ token: String) async throws -> (posted: Int, pendingOut: Int, pendingIn: Int, available: Int) {
        let wallets = try await call(.get, "/v1/wallets", token: token)
        let item = (wallets["items"] as? [[String: Any]])?.first { $0["currency"] as? String == "CNY" } ?? [:]
        return (item["posted"] as? Int ?? 0, item["pending_out"] as? Int ?? 0, item["pending_in"] as? Int ?? 0,
                item["available"] as? Int ?? 0)
    }

    /// The customer's notifications of `type`, newest first, rendered in `language`.
    func notifications(_ token: String, type: String, language: String = "en") async throws -> [[String: Any]] {
        let page = try await call(.get, "/v1/notifications?limit=100", token: token, headers: ["Accept-Language": language])
        return (page["items"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == type }
    }

    /// Posts a callback signed with `secret` at `signedAt`, as a rail does.
    @discardableResult
    func callback(_ callback: RailCallback, to rail: String? = nil, secret: String = railCallbackSecret, signedAt: Timestamp,
                  signature: String? = nil) async throws -> Answer {
        let body = RailWire.encode(callback)
        let header = signature ?? CallbackSigner(secret: secret).signature(for: body, at: signedAt)
        return try await call(.post, "/v1/gateway/callbacks/\(rail ?? callback.rail.rawValue)", raw: String(decoding: body, as: UTF8.self),
                              headers: header.isEmpty ? [:] : [CallbackSigner.headerName: header])
    }
}

/// A callback about `reference` with a fresh event id.
func railCallback(_ reference: String, _ status: RailItemStatus, rail: RailID = "bank-a", event: String = UUID().uuidString,
                  at time: Timestamp) -> RailCallback {
    RailCallback(eventID: "evt-test-\(event)", rail: rail, reference: RailReference(reference), bankID: "TEST-\(reference.prefix(8))",
                 status: status, occurredAt: time)
}
