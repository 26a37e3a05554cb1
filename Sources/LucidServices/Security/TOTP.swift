import Crypto
import LucidCore

/// RFC 4226 HOTP: a one-time code from a shared secret and a counter.
///
/// HMAC-SHA-1 is what every authenticator app implements for TOTP (RFC 6238's
/// default); SHA-1's collision weakness does not affect HMAC.
public enum HOTP {
    /// RFC 4226 §5.3 allows 6 to 8 digits (more would exceed the 31-bit value).
    public static let digitsRange = 6...8

    /// The code for `counter`, zero-padded to `digits`.
    public static func code(secret: [UInt8], counter: UInt64, digits: Int = 6) -> String {
        precondition(digitsRange.contains(digits), "HOTP digits must be 6…8")
        precondition(!secret.isEmpty, "an HOTP secret must not be empty")
        let message = (0..<8).map { UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * $0)) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        // Dynamic truncation (RFC 4226 §5.4).
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = UInt32(mac[offset] & 0x7f) << 24 | UInt32(mac[offset + 1]) << 16
            | UInt32(mac[offset + 2]) << 8 | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }
}

/// RFC 6238 TOTP: HOTP over the number of 30-second steps since 1970.
///
/// Verification accepts the current step and one on either side (clock drift
/// and the time it takes to type, RFC 6238 §5.2) and returns the step that
/// matched. The service stores it and passes it back as `lastUsedStep`, so a
/// code — and every code of an earlier step — is accepted once only (§5.2:
/// "the verifier MUST NOT accept the second attempt of the same OTP").
public enum TOTP {
    public static let digitsDefault = 6
    public static let periodSecondsDefault: Int64 = 30
    /// Steps accepted on either side of the current one.
    public static let allowedDriftSteps: Int64 = 1
    /// 160 bits, the length RFC 4226 §4 recommends and HMAC-SHA-1's block fits.
    public static let secretByteCount = 20
    public static let issuerDefault = "Lucid Wallet"

    /// The time step that contains `time` (floor division, so it is right before 1970 too).
    public static func timeStep(at time: Timestamp, period: Int64 = periodSecondsDefault) -> Int64 {
        precondition(period > 0, "TOTP period must be positive")
        let ms = time.millisecondsSinceEpoch
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        return seconds >= 0 ? seconds / period : (seconds - period + 1) / period
    }

    /// The code an authenticator shows at `time`.
    public static func generate(secret: [UInt8], at time: Timestamp, digits: Int = digitsDefault,
                                period: Int64 = periodSecondsDefault) -> String {
        let step = timeStep(at: time, period: period)
        precondition(step >= 0, "TOTP is defined from 1970 on")
        return HOTP.code(secret: secret, counter: UInt64(step), digits: digits)
    }

    /// The time step `code` belongs to, or nil when it does not match.
    ///
    /// Refused: anything but exactly `digits` ASCII digits (no spaces, no
    /// full-width digits: the edge may strip spaces before calling), steps
    /// outside ±`allowedDriftSteps`, and any step at or before `lastUsedStep`.
    /// All candidate steps are computed and compared in constant time, so the
    /// answer's timing does not depend on which one matched.
    public static func verify(code: String, secret: [UInt8], at time: Timestamp, lastUsedStep: Int64?,
                              digits: Int = digitsDefault, period: Int64 = periodSecondsDefault) -> Int64? {
        precondition(HOTP.digitsRange.contains(digits), "TOTP digits must be 6…8")
        let presented = Array(code.utf8)
        guard presented.count == digits,
              presented.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        let current = timeStep(at: time, period: period)
        var matched: Int64?
        for step in (current - allowedDriftSteps)...(current + allowedDriftSteps) where step >= 0 {
            let expected = Array(HOTP.code(secret: secret, counter: UInt64(step), digits: digits).utf8)
            let equal = SecretBytes.constantTimeEquals(expected, presented)
            if equal, step > (lastUsedStep ?? Int64.min) { matched = step }
        }
        return matched
    }

    /// A new secret of `secretByteCount` bytes. Production passes
    /// `SystemRandomNumberGenerator` (the operating system's CSPRNG).
    public static func makeSecret(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        SecretBytes.random(secretByteCount, using: &generator)
    }

    /// The `otpauth://` URI an authenticator app scans as a QR code
    /// (Google Authenticator's Key Uri Format):
    /// `otpauth://totp/Lucid%20Wallet:alice%40example.com?secret=…&issuer=Lucid%20Wallet&algorithm=SHA1&digits=6&period=30`.
    ///
    /// Issuer and account are percent-encoded byte by byte (everything but
    /// RFC 3986 unreserved characters), so a colon, space, `&` or Chinese name
    /// cannot break the label or the query.
    public static func provisioningURI(secret: [UInt8], accountName: String, issuer: String = issuerDefault,
                                       digits: Int = digitsDefault, period: Int64 = periodSecondsDefault) -> String {
        let issuerText = percentEncoded(issuer)
        return "otpauth://totp/\(issuerText):\(percentEncoded(accountName))"
            + "?secret=\(Base32.encode(secret))&issuer=\(issuerText)&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }

    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
