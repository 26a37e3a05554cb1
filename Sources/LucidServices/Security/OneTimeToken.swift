import LucidCore

/// Single-use tokens for links such as password reset (issue 4 §7).
///
/// 32 random bytes, base64url, behind a prefix that says what the token is
/// for (a leaked one is recognisable, and a session token is never mistaken
/// for one). The customer gets the token once, through the notification
/// outbox; the database keeps only its SHA-256 (hex), the expiry and when it
/// was used. Looking it up by digest means a database reader cannot use a
/// pending link. Forged, expired and used tokens all get the same
/// `reset_token_invalid`: telling them apart would only help an attacker.
public struct OneTimeToken: Sendable, Hashable {
    public static let passwordResetPrefix = "lrt_"
    public static let randomByteCount = 32
    /// Short-lived: 15 minutes is enough to open an e-mail or a message, and
    /// short enough that a forwarded or logged link soon stops working.
    public static let lifetimeSecondsDefault: Int64 = 15 * 60
    /// Presented tokens longer than this are refused before hashing.
    public static let lengthMax = 128

    /// What the customer receives, once.
    public let token: String
    /// What the database stores (SHA-256 hex of `token`).
    public let hash: String
    public let expiresAt: Timestamp

    /// A new token issued at `now`. Production passes `SystemRandomNumberGenerator`.
    public static func issue(at now: Timestamp, lifetimeSeconds: Int64 = lifetimeSecondsDefault,
                             prefix: String = passwordResetPrefix,
                             using generator: inout some RandomNumberGenerator) -> OneTimeToken {
        precondition(lifetimeSeconds > 0, "a token must live for some time")
        let token = prefix + SecretBytes.base64URL(SecretBytes.random(randomByteCount, using: &generator))
        return OneTimeToken(token: token, hash: SecretBytes.sha256Hex(token), expiresAt: now.adding(seconds: lifetimeSeconds))
    }

    /// The digest to look a presented token up by; `reset_token_invalid` when it
    /// cannot be one of ours (wrong prefix, length or characters), so junk
    /// never reaches the database.
    public static func lookupHash(for presented: String, prefix: String = passwordResetPrefix) throws(LucidError) -> String {
        let body = presented.utf8.dropFirst(prefix.utf8.count)
        guard presented.utf8.count <= lengthMax, presented.hasPrefix(prefix), !body.isEmpty,
              body.allSatisfy({ byte in
                  (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                      || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
              }) else {
            throw LucidError(.resetTokenInvalid)
        }
        return SecretBytes.sha256Hex(presented)
    }

    /// Whether a stored token may still be used at `now`: not used before and not expired.
    public static func isUsable(expiresAt: Timestamp, usedAt: Timestamp?, now: Timestamp) -> Bool {
        usedAt == nil && now < expiresAt
    }

    /// `isUsable`, as the error the service returns.
    public static func checkUsable(expiresAt: Timestamp, usedAt: Timestamp?, now: Timestamp) throws(LucidError) {
        guard isUsable(expiresAt: expiresAt, usedAt: usedAt, now: now) else { throw LucidError(.resetTokenInvalid) }
    }
}
