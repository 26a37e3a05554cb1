/// A currency the wallet can hold, with the number of minor-unit digits it uses.
///
/// Amounts are always stored as `Int64` minor units (fen, cents, yen); the
/// exponent is only needed to show them to people. Unknown codes are refused at
/// the edge with `unsupported_currency` rather than guessed.
///
/// A currency is one byte indexing a fixed table: `Money` and account states
/// are copied millions of times a second on the ledger's hot path, and a
/// trivially copyable currency costs no reference counting there.
public struct Currency: Hashable, Sendable, Codable, CustomStringConvertible {
    private struct Facts {
        let code: String
        let exponent: Int
        let symbol: String
    }

    private static let table: [Facts] = [
        Facts(code: "CNY", exponent: 2, symbol: "¥"),
        Facts(code: "USD", exponent: 2, symbol: "$"),
        Facts(code: "EUR", exponent: 2, symbol: "€"),
        Facts(code: "HKD", exponent: 2, symbol: "HK$"),
        Facts(code: "JPY", exponent: 0, symbol: "JP¥"),
    ]

    private let index: UInt8

    private init(index: UInt8) { self.index = index }

    /// ISO 4217 alphabetic code, upper case.
    public var code: String { Self.table[Int(index)].code }
    /// Digits after the decimal point in the major unit (CNY 2, JPY 0).
    public var exponent: Int { Self.table[Int(index)].exponent }
    /// Symbol used when formatting amounts for customers.
    public var symbol: String { Self.table[Int(index)].symbol }

    public static let cny = Currency(index: 0)
    public static let usd = Currency(index: 1)
    public static let eur = Currency(index: 2)
    public static let hkd = Currency(index: 3)
    public static let jpy = Currency(index: 4)

    /// Every currency Lucid accepts.
    public static let supported: [Currency] = (0..<table.count).map { Currency(index: UInt8($0)) }

    /// Looks a currency up by its code (case-sensitive, as ISO 4217 writes it).
    public static func named(_ code: String) -> Currency? {
        guard let index = table.firstIndex(where: { $0.code == code }) else { return nil }
        return Currency(index: UInt8(index))
    }

    public var description: String { code }

    public init(from decoder: any Decoder) throws {
        let code = try decoder.singleValueContainer().decode(String.self)
        guard let currency = Currency.named(code) else {
            throw LucidError(.unsupportedCurrency, ["currency": .text(String(code.prefix(8)))])
        }
        self = currency
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}

/// An amount of one currency in integer minor units.
///
/// Arithmetic is checked: an overflow throws `amount_overflow` instead of
/// wrapping, so a bug can never mint or destroy money silently.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(_ minorUnits: Int64, _ currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(0, currency) }

    public func adding(_ other: Money) throws(LucidError) -> Money {
        try requireSameCurrency(other)
        return Money(try Checked.add(minorUnits, other.minorUnits), currency)
    }

    public func subtracting(_ other: Money) throws(LucidError) -> Money {
        try requireSameCurrency(other)
        return Money(try Checked.subtract(minorUnits, other.minorUnits), currency)
    }

    private func requireSameCurrency(_ other: Money) throws(LucidError) {
        guard other.currency == currency else {
            throw LucidError(.currencyMismatch, [
                "expected_currency": .text(currency.code), "currency": .text(other.currency.code),
            ])
        }
    }

    /// Customer-facing text such as `¥12.50`, `-$0.05` or `JP¥1200`.
    public var formatted: String { Money.format(minorUnits, currency) }
    public var description: String { formatted }

    public static func format(_ minorUnits: Int64, _ currency: Currency) -> String {
        let negative = minorUnits < 0
        // magnitude avoids the overflow of negating Int64.min
        let magnitude = minorUnits.magnitude
        var digits = String(magnitude)
        var text: String
        if currency.exponent == 0 {
            text = digits
        } else {
            while digits.count <= currency.exponent { digits = "0" + digits }
            let split = digits.index(digits.endIndex, offsetBy: -currency.exponent)
            text = digits[..<split] + "." + digits[split...]
        }
        return (negative ? "-" : "") + currency.symbol + text
    }
}

/// Checked `Int64` arithmetic for money: throws `amount_overflow` instead of trapping or wrapping.
public enum Checked {
    public static func add(_ a: Int64, _ b: Int64) throws(LucidError) -> Int64 {
        let (value, overflow) = a.addingReportingOverflow(b)
        if overflow { throw LucidError(.amountOverflow, [:]) }
        return value
    }

    public static func subtract(_ a: Int64, _ b: Int64) throws(LucidError) -> Int64 {
        let (value, overflow) = a.subtractingReportingOverflow(b)
        if overflow { throw LucidError(.amountOverflow, [:]) }
        return value
    }

    public static func multiply(_ a: Int64, _ b: Int64) throws(LucidError) -> Int64 {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw LucidError(.amountOverflow, [:]) }
        return value
    }
}
