/// A currency the wallet can hold, with the number of minor-unit digits it uses.
///
/// Amounts are always stored as `Int64` minor units (fen, cents, yen); the
/// exponent is only needed to show them to people. Unknown codes are refused at
/// the edge with `unsupported_currency` rather than guessed.
public struct Currency: Hashable, Sendable, Codable, CustomStringConvertible {
    /// ISO 4217 alphabetic code, upper case.
    public let code: String
    /// Digits after the decimal point in the major unit (CNY 2, JPY 0).
    public let exponent: Int
    /// Symbol used when formatting amounts for customers.
    public let symbol: String

    public init(code: String, exponent: Int, symbol: String) {
        precondition((0...4).contains(exponent), "currency exponent out of range")
        self.code = code
        self.exponent = exponent
        self.symbol = symbol
    }

    public static let cny = Currency(code: "CNY", exponent: 2, symbol: "¥")
    public static let usd = Currency(code: "USD", exponent: 2, symbol: "$")
    public static let eur = Currency(code: "EUR", exponent: 2, symbol: "€")
    public static let hkd = Currency(code: "HKD", exponent: 2, symbol: "HK$")
    public static let jpy = Currency(code: "JPY", exponent: 0, symbol: "JP¥")

    /// Every currency Lucid accepts.
    public static let supported: [Currency] = [.cny, .usd, .eur, .hkd, .jpy]

    /// Looks a currency up by its code (case-sensitive, as ISO 4217 writes it).
    public static func named(_ code: String) -> Currency? {
        supported.first { $0.code == code }
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
