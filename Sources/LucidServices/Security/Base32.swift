/// RFC 4648 base32 (alphabet `A–Z 2–7`), the encoding authenticator apps
/// expect for TOTP secrets in `otpauth://` URIs.
///
/// Decoding is strict on purpose: it takes upper or lower case, optional but
/// correct `=` padding, and nothing else (no spaces, no non-zero leftover
/// bits), so every byte string has exactly one accepted text per case.
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Encodes `bytes`; `padding` adds `=` up to a multiple of 8 characters
    /// (RFC 4648 §6). Authenticator apps want it without.
    public static func encode(_ bytes: [UInt8], padding: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5 + 6)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1f)])
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1f)])
        }
        if padding {
            while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `text`, or nil when it is not canonical base32.
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        if let firstPad = symbols.firstIndex(of: UInt8(ascii: "=")) {
            // Padding, when present, must complete a group of 8 and be the only thing after the data.
            guard symbols.count % 8 == 0, symbols[firstPad...].allSatisfy({ $0 == UInt8(ascii: "=") }) else { return nil }
            symbols.removeSubrange(firstPad...)
            guard [0, 2, 4, 5, 7].contains(symbols.count % 8), symbols.count % 8 != 0 else { return nil }
        }
        // 1, 3 and 6 leftover symbols cannot come from whole bytes.
        guard [0, 2, 4, 5, 7].contains(symbols.count % 8) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            guard let value = value(of: symbol) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xff))
                buffer &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits must be zero, or two texts would decode to the same bytes.
        guard buffer == 0 else { return nil }
        return out
    }

    private static func value(of symbol: UInt8) -> UInt8? {
        switch symbol {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): symbol - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): symbol - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): symbol - UInt8(ascii: "2") + 26
        default: nil
        }
    }
}
