import Foundation
import LucidCore

/// What a new password must be, after NIST SP 800-63B §3.1.1.2 (and OWASP ASVS 5.0 §6.2):
///
/// - normalized to Unicode NFKC first, so what is checked is what is hashed
///   and the same password typed on another keyboard still matches;
/// - at least 8 characters, at most 256 (counted as Unicode code points, as
///   NIST says) and 1024 UTF-8 bytes, to bound the work of hashing;
/// - any characters, spaces included; no composition rules (no "one digit,
///   one symbol": they make passwords harder to remember, not to guess);
/// - not one of the most common passwords (a bundled list of 30,000,
///   compared case-insensitively), nor a single character repeated;
/// - not containing the account's own e-mail name, phone number or display
///   name, which anyone who knows the customer can try.
///
/// Errors are `password_too_weak` with `reason` = `too_short`, `too_long`,
/// `common` or `contains_personal_data`, and always `min_length` and `max_length`.
public struct PasswordPolicy: Sendable {
    /// The account's own data that a password must not contain.
    public struct Context: Sendable, Hashable {
        public var email: String?
        public var phone: String?
        public var displayName: String?

        public init(email: String? = nil, phone: String? = nil, displayName: String? = nil) {
            self.email = email
            self.phone = phone
            self.displayName = displayName
        }
    }

    public static let lengthMin = InputLimits.passwordLengthMin
    public static let lengthMax = InputLimits.passwordLengthMax
    public static let bytesMax = InputLimits.passwordBytesMax
    /// Input longer than this is refused before normalization, which would otherwise
    /// run over whatever size the body limit lets through.
    public static let rawBytesMax = 4 * InputLimits.passwordBytesMax
    /// Context words shorter than this (after folding) are ignored: refusing
    /// every password that contains "li" or "wu" would refuse good passphrases.
    public static let contextWordLengthMin = 3
    /// The trailing digits of a phone number that a password must not contain:
    /// they cover the number with or without its country code.
    public static let phoneDigitsCompared = 8

    let commonPasswords: CommonPasswords

    /// Production uses the bundled list; tests may pass a small one.
    public init(commonPasswords: CommonPasswords = .bundled) {
        self.commonPasswords = commonPasswords
    }

    /// Unicode NFKC (compatibility composition): full-width `ｐａｓｓ` becomes
    /// `pass`, `ﬁ` becomes `fi`, a decomposed `é` becomes one character.
    /// Used by the policy and by `ScryptPasswordHasher` alike.
    public static func normalize(_ password: String) -> String {
        password.precomposedStringWithCompatibilityMapping
    }

    /// Checks a new password and returns it normalized (what to hash).
    public func check(_ password: String, context: Context = Context()) throws(LucidError) -> String {
        guard password.utf8.count <= Self.rawBytesMax else { throw Self.refusal("too_long") }
        let normalized = Self.normalize(password)
        let length = normalized.unicodeScalars.count
        if length > Self.lengthMax || normalized.utf8.count > Self.bytesMax { throw Self.refusal("too_long") }
        if length < Self.lengthMin { throw Self.refusal("too_short") }
        let lowered = normalized.lowercased()
        if commonPasswords.contains(lowered) || Set(lowered.unicodeScalars).count == 1 {
            throw Self.refusal("common")
        }
        let folded = Self.fold(normalized)
        if Self.contextWords(context).contains(where: { folded.contains($0) }) {
            throw Self.refusal("contains_personal_data")
        }
        return normalized
    }

    static func refusal(_ reason: String) -> LucidError {
        LucidError(.passwordTooWeak, [
            "reason": .text(reason),
            "min_length": .int(Int64(lengthMin)),
            "max_length": .int(Int64(lengthMax)),
        ])
    }

    /// Lower case, letters and digits only: `Carol.Wang-88` → `carolwang88`, so
    /// separators do not hide a name inside a password.
    static func fold(_ text: String) -> String {
        String(normalize(text).lowercased().unicodeScalars.filter {
            $0.properties.isAlphabetic || $0.properties.numericType != nil
        })
    }

    /// The folded words a password must not contain: the e-mail's local part
    /// whole and split at separators, the display name whole and by word, and
    /// the phone's last digits.
    static func contextWords(_ context: Context) -> [String] {
        var words: [String] = []
        if let email = context.email {
            let local = email.split(separator: "@", maxSplits: 1).first.map(String.init) ?? email
            words.append(fold(local))
            words += local.split(whereSeparator: { ".-_+ ".contains($0) }).map { fold(String($0)) }
        }
        if let name = context.displayName {
            words.append(fold(name))
            words += name.split(whereSeparator: { $0.isWhitespace || ".-_·・".contains($0) }).map { fold(String($0)) }
        }
        if let phone = context.phone {
            let digits = phone.filter { $0.isASCII && $0.isNumber }
            words.append(String(digits.suffix(phoneDigitsCompared)))
        }
        return words.filter { $0.unicodeScalars.count >= contextWordLengthMin }
    }
}

/// The set of common passwords, lower-cased.
///
/// `bundled` reads `Resources/common-passwords.txt` through `Bundle.module` on
/// first use (a `static let` is initialized lazily and once), so processes that
/// never set a password do not pay for it. Deployments must ship the
/// `LucidWallet_LucidServices.resources` folder beside the binary; touching
/// `CommonPasswords.bundled.count` at start-up makes a missing one fail at once
/// instead of at the first registration.
public final class CommonPasswords: Sendable {
    public static let resourceName = "common-passwords"
    public static let bundled = CommonPasswords(contentsOf: resourceURL())

    private let entries: Set<String>

    /// A list given directly (tests).
    public init(_ passwords: some Sequence<String>) {
        entries = Set(passwords.map { $0.lowercased() })
    }

    /// One password per line; blank lines and lines starting with `#` are skipped.
    convenience init(contentsOf url: URL) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            preconditionFailure("cannot read the common-password list at \(url.path)")
        }
        self.init(text.split(whereSeparator: \.isNewline).lazy
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map(String.init))
    }

    private static func resourceURL() -> URL {
        guard let url = Bundle.module.url(forResource: resourceName, withExtension: "txt") else {
            preconditionFailure("the common-password list is missing from the LucidServices resources")
        }
        return url
    }

    public var count: Int { entries.count }

    /// Whether `password` (compared lower-cased) is on the list.
    public func contains(_ password: String) -> Bool {
        entries.contains(password.lowercased())
    }
}
