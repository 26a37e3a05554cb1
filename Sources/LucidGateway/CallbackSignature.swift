import Crypto
import Foundation
import LucidCore
import Synchronization

/// Signs callbacks the way Stripe signs webhooks: an HMAC-SHA256 over
/// `"<unix seconds>.<exact body>"`, sent as `X-Rail-Signature: t=<unix seconds>,v1=<hex>`.
/// Signing the timestamp with the body lets the receiver refuse old messages.
public struct CallbackSigner: Sendable {
    public static let headerName = "X-Rail-Signature"
    private let key: SymmetricKey

    public init(secret: String) {
        precondition(!secret.isEmpty, "a callback secret must not be empty")
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The header value for `body` signed at `time` (whole seconds).
    public func signature(for body: [UInt8], at time: Timestamp) -> String {
        let seconds = time.millisecondsSinceEpoch / 1000
        let mac = HMAC<SHA256>.authenticationCode(for: CallbackSigner.payload(seconds: seconds, body: body), using: key)
        return "t=\(seconds),v1=\(Hex.encode(Array(mac)))"
    }

    static func payload(seconds: Int64, body: [UInt8]) -> [UInt8] {
        Array("\(seconds).".utf8) + body
    }
}

/// Checks a callback's signature: the header's shape, the timestamp within the
/// tolerance (either side of now), and the MAC against every current secret (so a
/// secret can be rotated without downtime), compared in constant time.
public struct CallbackVerifier: Sendable {
    /// Default tolerance: five minutes, as Stripe uses.
    public static let defaultToleranceSeconds: Int64 = 300
    public let toleranceSeconds: Int64
    private let keys: [SymmetricKey]

    public init(secrets: [String], toleranceSeconds: Int64 = CallbackVerifier.defaultToleranceSeconds) {
        precondition(!secrets.isEmpty && secrets.allSatisfy { !$0.isEmpty }, "at least one non-empty secret")
        precondition(toleranceSeconds > 0, "tolerance must be positive")
        keys = secrets.map { SymmetricKey(data: Data($0.utf8)) }
        self.toleranceSeconds = toleranceSeconds
    }

    /// Returns the signed time, or throws `callback_signature_invalid` naming what is wrong.
    public func verify(header: String?, body: [UInt8], now: Timestamp) throws(LucidError) -> Timestamp {
        guard let header, !header.isEmpty else { throw invalid("the signature header is missing") }
        guard header.utf8.count <= 1024 else { throw invalid("the signature header is malformed") }
        var seconds: Int64?
        var candidates: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw invalid("the signature header is malformed") }
            let name = pair[0].trimmingCharacters(in: .whitespaces)
            let value = pair[1].trimmingCharacters(in: .whitespaces)
            switch name {
            case "t":
                guard seconds == nil, value.utf8.count <= 12, let parsed = Digits.value(value.utf8) else {
                    throw invalid("the signature header is malformed")
                }
                seconds = parsed
            case "v1":
                if let bytes = Hex.decode(value), bytes.count == SHA256.byteCount { candidates.append(bytes) }
            default:
                continue  // other schemes (v0, future ones) are ignored, as Stripe does
            }
        }
        guard let seconds else { throw invalid("the signature header has no timestamp") }
        guard !candidates.isEmpty else { throw invalid("the signature header has no v1 signature") }
        let signedAt = Timestamp(millisecondsSinceEpoch: seconds * 1000)
        let skew = abs(now.millisecondsSinceEpoch - signedAt.millisecondsSinceEpoch)
        guard skew <= toleranceSeconds * 1000 else {
            throw invalid("the timestamp is more than \(toleranceSeconds) seconds from now")
        }
        let payload = CallbackSigner.payload(seconds: seconds, body: body)
        for key in keys {
            for candidate in candidates where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: payload, using: key) {
                return signedAt
            }
        }
        throw invalid("no signature matches")
    }

    private func invalid(_ reason: String) -> LucidError {
        LucidError(.callbackSignatureInvalid, ["reason": .text(reason)])
    }
}

/// Remembers callback event ids so a replayed (or redelivered) event is refused.
///
/// Protocol so that the database can keep them across processes. Use:
/// `claim` before applying an event (false: seen before, refuse with
/// `callback_replayed`); `release` when applying it failed, so the rail's
/// redelivery is accepted. A database implementation may instead claim inside
/// the transaction that applies the event.
public protocol CallbackReplayGuard: Sendable {
    /// Records `eventID`; false when it was already recorded.
    func claim(eventID: String, at time: Timestamp) async throws -> Bool
    /// Forgets `eventID` (its processing failed and should be retried).
    func release(eventID: String) async throws
}

/// Event ids in memory for `retentionSeconds` (longer than the signature tolerance, so
/// a captured request is refused by its timestamp once its id is forgotten), at most
/// `entriesMax` of them.
public final class InMemoryCallbackReplayGuard: CallbackReplayGuard, Sendable {
    public let retentionSeconds: Int64
    public let entriesMax: Int
    private struct State {
        var seen: [String: Timestamp] = [:]
        var order: [(String, Timestamp)] = []
        var head = 0
    }
    private let state = Mutex(State())

    public init(retentionSeconds: Int64 = 2 * CallbackVerifier.defaultToleranceSeconds, entriesMax: Int = 1_000_000) {
        precondition(retentionSeconds > 0 && entriesMax > 0, "retention and capacity must be positive")
        self.retentionSeconds = retentionSeconds
        self.entriesMax = entriesMax
    }

    public func claim(eventID: String, at time: Timestamp) async throws -> Bool {
        try state.withLock { state in
            // Forget what is older than the retention (the order list is oldest first).
            let horizon = time.adding(seconds: -retentionSeconds)
            while state.head < state.order.count, state.order[state.head].1 <= horizon {
                let (id, at) = state.order[state.head]
                if state.seen[id] == at { state.seen[id] = nil }
                state.head += 1
            }
            if state.head > 1024 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
            if state.seen[eventID] != nil { return false }
            guard state.seen.count < entriesMax else {
                throw LucidError(.serviceOverloaded, [:], cause: "callback replay guard full (\(entriesMax) events)")
            }
            state.seen[eventID] = time
            state.order.append((eventID, time))
            return true
        }
    }

    public func release(eventID: String) async throws {
        state.withLock { _ = $0.seen.removeValue(forKey: eventID) }
    }

    public var count: Int { state.withLock { $0.seen.count } }
}

/// The whole check a callback endpoint runs: size, signature, timestamp, body, replay.
public struct CallbackAuthenticator: Sendable {
    public let verifier: CallbackVerifier
    public let replayGuard: any CallbackReplayGuard
    private let clock: any WallClock

    public init(verifier: CallbackVerifier, replayGuard: any CallbackReplayGuard, clock: any WallClock) {
        self.verifier = verifier
        self.replayGuard = replayGuard
        self.clock = clock
    }

    /// The authenticated callback, claimed in the replay guard. Throws
    /// `body_too_large`, `callback_signature_invalid`, `malformed_json` / `invalid_field`,
    /// or `callback_replayed`. Call `replayGuard.release(eventID:)` if applying it fails.
    public func authenticate(signatureHeader: String?, body: [UInt8]) async throws -> RailCallback {
        guard body.count <= GatewayLimits.callbackBodyBytesMax else {
            throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(GatewayLimits.callbackBodyBytesMax))])
        }
        let now = clock.now()
        _ = try verifier.verify(header: signatureHeader, body: body, now: now)
        let callback: RailCallback
        do {
            callback = try RailWire.decodeCallback(body)
        } catch {
            throw LucidError(.malformedJSON, ["reason": .text(error.reason)])
        }
        guard try await replayGuard.claim(eventID: callback.eventID, at: now) else {
            throw LucidError(.callbackReplayed, ["event_id": .text(callback.eventID)])
        }
        return callback
    }
}

enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
}
