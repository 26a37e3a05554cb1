/// What a customer is doing; fees and limits are configured per operation.
public enum Operation: String, Sendable, Hashable, CaseIterable, Codable {
    case topup
    case transfer
    case payment
    case withdrawal
}

/// One fee rule: `fixed + amount × basisPoints / 10 000`, rounded half up,
/// then clamped to `[minimum, maximum]`. All in minor units.
public struct FeeRule: Sendable, Hashable, Codable {
    public var fixed: Int64
    public var basisPoints: Int64
    public var minimum: Int64
    public var maximum: Int64?

    public init(fixed: Int64 = 0, basisPoints: Int64 = 0, minimum: Int64 = 0, maximum: Int64? = nil) {
        precondition(fixed >= 0 && basisPoints >= 0 && minimum >= 0, "fee rules are never negative")
        self.fixed = fixed
        self.basisPoints = basisPoints
        self.minimum = minimum
        self.maximum = maximum
    }

    public static let free = FeeRule()

    public func fee(for amount: Int64) throws(LucidError) -> Int64 {
        precondition(amount > 0)
        let proportional = try Checked.multiply(amount, basisPoints)
        // round half up: (x + 5000) / 10000 without overflow for the largest products
        let rounded = proportional / 10_000 + (proportional % 10_000 >= 5_000 ? 1 : 0)
        var fee = try Checked.add(fixed, rounded)
        fee = max(fee, minimum)
        if let maximum { fee = min(fee, maximum) }
        return fee
    }
}

/// Fees per operation and currency. Missing entries mean "free", so a new
/// currency never gets a surprise fee.
public struct FeeSchedule: Sendable, Codable {
    public var rules: [String: FeeRule]

    public init(rules: [Operation: [String: FeeRule]] = [:]) {
        var flat: [String: FeeRule] = [:]
        for (operation, byCurrency) in rules {
            for (currency, rule) in byCurrency { flat["\(operation.rawValue):\(currency)"] = rule }
        }
        self.rules = flat
    }

    public func rule(_ operation: Operation, _ currency: Currency) -> FeeRule {
        rules["\(operation.rawValue):\(currency.code)"] ?? .free
    }

    public func fee(_ operation: Operation, amount: Money) throws(LucidError) -> Int64 {
        try rule(operation, amount.currency).fee(for: amount.minorUnits)
    }

    /// The default schedule: transfers between customers and top-ups are free,
    /// merchant payments carry 0.6 % (at least one minor unit), withdrawals
    /// 0.1 % with a minimum of 10 and a cap of 2 500 minor units.
    public static let standard: FeeSchedule = {
        var payment: [String: FeeRule] = [:]
        var withdrawal: [String: FeeRule] = [:]
        for currency in Currency.supported {
            payment[currency.code] = FeeRule(basisPoints: 60, minimum: 1)
            // 0.10 and 25.00 in two-digit currencies; 10 and 2 500 yen.
            withdrawal[currency.code] = FeeRule(basisPoints: 10, minimum: 10, maximum: 2_500)
        }
        return FeeSchedule(rules: [.payment: payment, .withdrawal: withdrawal])
    }()
}
