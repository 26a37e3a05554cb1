/// Named limits on everything that comes from outside. Each is checked at the
/// edge and has a test; raising one is a deliberate, reviewed change.
public enum InputLimits {
    public static let requestBodyBytesMax = 16 * 1024
    public static let idempotencyKeyLengthMax = 128
    public static let memoLengthMax = 140
    public static let displayNameLengthMax = 64
    public static let emailLengthMax = 254
    public static let phoneLengthMax = 20
    /// NIST SP 800-63B: at least 8 characters.
    public static let passwordLengthMin = 8
    /// NIST SP 800-63B asks to allow at least 64; 256 Unicode code points keeps
    /// passphrases comfortable while bounding the work of hashing.
    public static let passwordLengthMax = 256
    /// 256 code points are at most 1024 bytes of UTF-8; checked as well, so the
    /// bound on hashing work does not depend on how characters are counted.
    public static let passwordBytesMax = 1024
    public static let deviceIDLengthMax = 128
    public static let merchantNameLengthMax = 100
    /// Saved withdrawal bank accounts per customer: enough for real life, few enough that a
    /// stolen session cannot quietly stack up destinations.
    public static let bankAccountsPerCustomerMax = 10
    public static let pageSizeDefault = 20
    public static let pageSizeMax = 100
    /// Largest amount one request may move: 10^15 minor units, far below Int64.max,
    /// so that amount + fee and daily sums can never overflow.
    public static let amountMax: Int64 = 1_000_000_000_000_000
}

/// Validation of customer-supplied values; pure, throwing `LucidError`.
public enum Validate {
    public static func amount(_ value: Int64, field: String = "amount") throws(LucidError) -> Int64 {
        guard value > 0, value <= InputLimits.amountMax else {
            throw LucidError(.invalidAmount, ["field": .text(field), "amount": .int(value), "max": .int(InputLimits.amountMax)])
        }
        return value
    }

    public static func text(_ value: String, field: String, max: Int, allowEmpty: Bool = false) throws(LucidError) -> String {
        if value.count > max {
            throw LucidError(.stringTooLong, ["field": .text(field), "max_length": .int(Int64(max))])
        }
        if !allowEmpty && value.allSatisfy({ $0.isWhitespace }) {
            throw LucidError.invalidField(field, "must not be empty")
        }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw LucidError.invalidField(field, "must not contain control characters")
        }
        return value
    }

    /// A practical e-mail check: one `@`, something before it, a dot after it, no spaces. Lower-cased.
    public static func email(_ value: String) throws(LucidError) -> String {
        let trimmed = try text(value, field: "email", max: InputLimits.emailLengthMax).lowercased()
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
              !parts[1].hasSuffix("."), !trimmed.contains(where: { $0.isWhitespace }) else {
            throw LucidError.invalidField("email", "not an e-mail address")
        }
        return trimmed
    }

    /// E.164-style phone: optional `+`, then 6–15 digits (spaces and dashes are removed).
    public static func phone(_ value: String) throws(LucidError) -> String {
        _ = try text(value, field: "phone", max: InputLimits.phoneLengthMax)
        let compact = value.filter { $0 != " " && $0 != "-" }
        let digits = compact.hasPrefix("+") ? compact.dropFirst() : Substring(compact)
        guard (6...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw LucidError.invalidField("phone", "use digits only, 6 to 15 of them, optionally starting with +")
        }
        return compact
    }

    /// ISO 3166-1 alpha-2, upper case.
    public static func country(_ value: String) throws(LucidError) -> String {
        let upper = value.uppercased()
        guard upper.count == 2, upper.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw LucidError.invalidField("country", "use a two-letter ISO 3166-1 code such as CN")
        }
        return upper
    }

    /// Length only; `PasswordPolicy` in the services layer adds normalization
    /// and the common-password and personal-data checks.
    public static func password(_ value: String) throws(LucidError) -> String {
        let length = value.count
        guard length >= InputLimits.passwordLengthMin,
              length <= InputLimits.passwordLengthMax, value.utf8.count <= InputLimits.passwordBytesMax else {
            throw LucidError(.passwordTooWeak, [
                "reason": .text(length < InputLimits.passwordLengthMin ? "too_short" : "too_long"),
                "min_length": .int(Int64(InputLimits.passwordLengthMin)),
                "max_length": .int(Int64(InputLimits.passwordLengthMax)),
            ])
        }
        return value
    }

    /// 1–128 printable ASCII characters (0x21–0x7E, and space inside).
    public static func idempotencyKey(_ value: String?) throws(LucidError) -> String {
        guard let value else { throw LucidError(.idempotencyKeyMissing) }
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= InputLimits.idempotencyKeyLengthMax,
              bytes.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }), value.first != " ", value.last != " " else {
            throw LucidError(.idempotencyKeyInvalid, ["max_length": .int(Int64(InputLimits.idempotencyKeyLengthMax))])
        }
        return value
    }

    public static func pageSize(_ value: Int?) throws(LucidError) -> Int {
        guard let value else { return InputLimits.pageSizeDefault }
        guard (1...InputLimits.pageSizeMax).contains(value) else {
            throw LucidError.invalidField("limit", "must be between 1 and \(InputLimits.pageSizeMax)")
        }
        return value
    }
}

/// How a counterparty is shown to the other side: enough to recognise, not enough to harvest.
public enum Mask {
    /// `张三丰` → `*三丰`... keeps the last character(s): `Alice Zhang` → `A*** Z****`.
    public static func name(_ name: String) -> String {
        let chars = Array(name)
        guard chars.count > 1 else { return "*" }
        if chars.contains(" ") {
            return name.split(separator: " ").map { word in
                word.count <= 1 ? String(word) : String(word.first!) + String(repeating: "*", count: word.count - 1)
            }.joined(separator: " ")
        }
        // Chinese convention (e.g. payee confirmation): hide the family name, show the rest.
        return "*" + String(chars.dropFirst())
    }

    public static func email(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@") else { return "***" }
        let local = email[..<at]
        return String(local.prefix(1)) + "***" + email[at...]
    }

    public static func phone(_ phone: String) -> String {
        let chars = Array(phone)
        guard chars.count > 7 else { return "****" }
        return String(chars.prefix(3)) + String(repeating: "*", count: chars.count - 7) + String(chars.suffix(4))
    }
}
