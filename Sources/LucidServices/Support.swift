import Crypto
import Foundation
import HummingbirdBcrypt
import LucidCore

/// The real clock, for production.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

/// Hashes and checks passwords. The hash string names its algorithm and cost,
/// so a later change of parameters can rehash on the next login.
public protocol PasswordHasher: Sendable {
    func hash(_ password: String) -> String
    func verify(_ password: String, against hash: String) -> Bool
}

/// bcrypt through hummingbird-auth. Production cost is 12 (≈ 0.23 s release);
/// tests lower it through configuration, never by changing this default.
public struct BcryptPasswordHasher: PasswordHasher {
    public static let productionCost: UInt8 = 12
    public let cost: UInt8

    public init(cost: UInt8 = BcryptPasswordHasher.productionCost) {
        precondition((4...31).contains(cost), "bcrypt cost out of range")
        self.cost = cost
    }

    public func hash(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    public func verify(_ password: String, against hash: String) -> Bool { Bcrypt.verify(password, hash: hash) }
}

/// Opaque bearer tokens: 32 random bytes, base64url, with a prefix that says
/// what they are for (so a leaked one is recognisable in a secret scanner).
/// Only the SHA-256 of a token is stored.
public enum BearerToken {
    public static let customerPrefix = "lcs_"
    public static let operatorPrefix = "lop_"

    public static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return prefix + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(token.utf8)))
    }
}

/// Fingerprint of a money-moving request, so a reused idempotency key with a
/// different body is detected.
enum RequestFingerprint {
    static func make(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(String(part.utf8.count).utf8))
            hasher.update(data: Data(":".utf8))
            hasher.update(data: Data(part.utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
