import Foundation
import LucidCore

/// Times that people type — an operator's `expires_at` or `until` in a request body, `--since`
/// on the command line: RFC 3339 with or without fractional seconds, any UTC offset, or (where
/// a caller allows it) a bare date meaning UTC midnight. Rails' wire times are stricter
/// (`LucidGateway.RFC3339`: UTC only, fixed width) and parsed there.
public enum OperatorTime {
    /// Longest text accepted: an RFC 3339 time with nanoseconds and an offset fits.
    public static let lengthMax = 40

    /// `2026-12-01T08:00:00Z`, `2026-12-01T08:00:00.250+08:00`, or with `dateOnly`, `2026-12-01`.
    public static func parse(_ text: String, dateOnly: Bool = false) -> Timestamp? {
        guard text.utf8.count <= lengthMax else { return nil }
        var options: [ISO8601DateFormatter.Options] = [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]]
        if dateOnly, text.utf8.count == 10 { options = [[.withFullDate]] }
        for option in options {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = option
            if let date = formatter.date(from: text) {
                return Timestamp(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
            }
        }
        return nil
    }
}
