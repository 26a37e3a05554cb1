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

/// Hashes and checks passwords. The hash string names its algorithm and its
/// parameters, so they can be raised later: after a successful sign-in the
/// service asks `needsRehash` and, when true, stores `hash(password)` instead.
///
/// Hashing is deliberately slow (≈ 0.1–0.3 s); callers on an async path
/// should run it off the cooperative pool (e.g. `NIOThreadPool`).
public protocol PasswordHasher: Sendable {
    func hash(_ password: String) -> String
    func verify(_ password: String, against hash: String) -> Bool
    /// True when `hash` uses another algorithm or weaker parameters than new
    /// hashes get, so it should be replaced at the next successful sign-in.
    func needsRehash(_ hash: String) -> Bool
}

/// bcrypt through hummingbird-auth. Production cost is 12 (≈ 0.23 s release);
/// tests lower it through configuration, never by changing this default.
///
/// Kept so existing hashes and call sites work; new hashes should come from
/// `ScryptPasswordHasher`, which also verifies bcrypt hashes.
public struct BcryptPasswordHasher: PasswordHasher {
    public static let productionCost: UInt8 = 12
    public let cost: UInt8

    public init(cost: UInt8 = BcryptPasswordHasher.productionCost) {
        precondition((4...31).contains(cost), "bcrypt cost out of range")
        self.cost = cost
    }

    public func hash(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    /// `$2y$` (PHP's crypt_blowfish) is the same algorithm as `$2b$`, but the
    /// OpenBSD code inside hummingbird-auth knows only `$2a$` and `$2b$`, so it
    /// is checked under the `$2b$` name; hashes imported from elsewhere then work too.
    public func verify(_ password: String, against hash: String) -> Bool {
        guard Self.cost(of: hash) != nil else { return false }
        let canonical = hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
        return Bcrypt.verify(password, hash: canonical)
    }

    public func needsRehash(_ hash: String) -> Bool {
        guard let existing = Self.cost(of: hash) else { return true }
        return existing < cost
    }

    /// The cost of a `$2a$` / `$2b$` / `$2y$` hash (`$2b$12$` + 53 characters), or nil when it is not one.
    static func cost(of hash: String) -> UInt8? {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]),
              bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$"),
              let cost = UInt8(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost) else { return nil }
        return cost
    }
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
            hasher.update(data: Array(String(part.utf8.count).utf8))
            hasher.update(data: [UInt8(ascii: ":")])
            hasher.update(data: Array(part.utf8))
        }
        // Hex by table: this runs on every money request, and String(format:) per byte showed in profiles.
        return SecretBytes.hex(hasher.finalize())
    }
}
