import LucidCore

/// Single-use recovery codes: the way back in when the authenticator is lost.
///
/// Ten codes of ten characters from Crockford's base32 alphabet (no `i l o u`,
/// so nothing reads as another character): 50 random bits each, shown in
/// groups as `ab3d-9kfz-2q`. Input is forgiving — any case, spaces and dashes
/// anywhere, `o` read as `0`, `i` and `l` as `1` — because people copy them
/// from paper.
///
/// Only a SHA-256 digest is stored, salted with the user's id: without the
/// salt one pass over the 2^50 code space would find every customer's codes at
/// once after a database leak; with it an attacker must search per customer.
/// A slow hash is not needed on top: online guessing is bounded by lockout
/// and rate limits, and 50 bits per customer is a lot of offline work.
public enum RecoveryCodes {
    public static let count = 10
    /// Characters per code (× 5 bits = 50 bits).
    public static let characterCount = 10
    static let groupSizes = [4, 4, 2]
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
    /// Longer input is refused before any work is done.
    public static let inputLengthMax = 64

    /// Ten distinct new codes, formatted for display. Production passes
    /// `SystemRandomNumberGenerator`; tests a seeded generator.
    public static func generate(using generator: inout some RandomNumberGenerator) -> [String] {
        var codes: [String] = []
        while codes.count < count {
            let raw = String((0..<characterCount).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
            let code = format(raw)
            if !codes.contains(code) { codes.append(code) }
        }
        return codes
    }

    /// `ab3d9kfz2q` → `ab3d-9kfz-2q`.
    static func format(_ canonical: String) -> String {
        var rest = Substring(canonical)
        var groups: [Substring] = []
        for size in groupSizes {
            groups.append(rest.prefix(size))
            rest = rest.dropFirst(size)
        }
        return groups.joined(separator: "-")
    }

    /// The canonical form (ten lower-case alphabet characters) of what a customer
    /// typed, or nil when it cannot be a recovery code.
    public static func normalize(_ input: String) -> String? {
        guard input.utf8.count <= inputLengthMax else { return nil }
        var out: [Character] = []
        for character in input.lowercased() {
            switch character {
            case " ", "-", "\t": continue
            case "o": out.append("0")
            case "i", "l": out.append("1")
            default:
                guard alphabet.contains(character) else { return nil }
                out.append(character)
            }
        }
        guard out.count == characterCount else { return nil }
        return String(out)
    }

    /// What to store for `code`: SHA-256 hex of a versioned, salted text.
    /// `salt` is the user's id (stable, unique, and not secret).
    public static func hash(_ code: String, salt: String) -> String? {
        guard let canonical = normalize(code) else { return nil }
        return SecretBytes.sha256Hex("lucid-recovery-code-v1:\(salt):\(canonical)")
    }

    /// The index in `hashes` of the code the customer typed, for the service to
    /// burn (replace with an empty string, or delete), or nil when none matches.
    /// Every stored hash is compared in constant time, without an early exit.
    public static func match(_ input: String, against hashes: [String], salt: String) -> Int? {
        guard let presented = hash(input, salt: salt) else { return nil }
        var found: Int?
        for (index, stored) in hashes.enumerated() {
            if SecretBytes.constantTimeEquals(Array(stored.utf8), Array(presented.utf8)), found == nil { found = index }
        }
        return found
    }
}
