import LucidCore
import Testing

@Suite("Money")
struct MoneyTests {
    @Test("adding and subtracting stay in minor units")
    func arithmetic() throws {
        let a = Money(1250, .cny)
        let b = Money(50, .cny)
        #expect(try a.adding(b) == Money(1300, .cny))
        #expect(try a.subtracting(b) == Money(1200, .cny))
    }

    @Test("overflow is an error, never a wrap")
    func overflow() {
        #expect(throws: LucidError(.amountOverflow)) { try Money(.max, .usd).adding(Money(1, .usd)) }
        #expect(throws: LucidError(.amountOverflow)) { try Money(.min, .usd).subtracting(Money(1, .usd)) }
        #expect(throws: LucidError(.amountOverflow)) { try Checked.multiply(.max / 2, 3) }
    }

    @Test("mixing currencies is refused")
    func currencyMismatch() {
        #expect(throws: LucidError.self) { try Money(1, .cny).adding(Money(1, .usd)) }
    }

    @Test("formatting follows each currency's exponent", arguments: [
        (Int64(1250), Currency.cny, "¥12.50"), (5, .usd, "$0.05"), (-5, .usd, "-$0.05"),
        (1200, .jpy, "JP¥1200"), (100, .hkd, "HK$1.00"), (Int64.min, .eur, "-€92233720368547758.08"),
    ])
    func formatting(minor: Int64, currency: Currency, text: String) {
        #expect(Money.format(minor, currency) == text)
    }

    @Test("the five required currencies are supported with their exponents")
    func currencies() {
        #expect(Currency.named("CNY")?.exponent == 2)
        #expect(Currency.named("USD")?.exponent == 2)
        #expect(Currency.named("EUR")?.exponent == 2)
        #expect(Currency.named("HKD")?.exponent == 2)
        #expect(Currency.named("JPY")?.exponent == 0)
        #expect(Currency.named("cny") == nil)
        #expect(Currency.named("XXX") == nil)
    }
}
