/// How well a customer's identity is known; higher tiers may move more money.
public enum VerificationTier: Int, Sendable, Hashable, Codable, CaseIterable {
    case unverified = 0
    case basic = 1
    case full = 2
}

/// Per-transaction and per-day ceilings for outgoing money of one tier and currency.
public struct LimitRule: Sendable, Hashable, Codable {
    public var perTransferMax: Int64
    public var dailyMax: Int64
    public init(perTransferMax: Int64, dailyMax: Int64) {
        self.perTransferMax = perTransferMax
        self.dailyMax = dailyMax
    }
}

/// Outgoing-money limits by tier and currency.
///
/// Daily usage counts customer-initiated outgoing money (transfers, payments,
/// withdrawals, without fees) since UTC midnight.
public struct LimitPolicy: Sendable, Codable {
    public var rules: [String: LimitRule]

    public init(rules: [VerificationTier: [String: LimitRule]]) {
        var flat: [String: LimitRule] = [:]
        for (tier, byCurrency) in rules {
            for (currency, rule) in byCurrency { flat["\(tier.rawValue):\(currency)"] = rule }
        }
        self.rules = flat
    }

    public func rule(_ tier: VerificationTier, _ currency: Currency) -> LimitRule {
        // No rule configured means nothing may leave: limits fail closed.
        rules["\(tier.rawValue):\(currency.code)"] ?? LimitRule(perTransferMax: 0, dailyMax: 0)
    }

    /// Checks one outgoing amount against the tier's limits.
    /// - Parameters:
    ///   - usedToday: outgoing money already counted today in this currency.
    ///   - now: the time of the request, to tell when the daily limit resets.
    public func check(
        amount: Money, usedToday: Int64, tier: VerificationTier, now: Timestamp
    ) throws(LucidError) {
        let rule = rule(tier, amount.currency)
        let currency = ErrorParam.text(amount.currency.code)
        if amount.minorUnits > rule.perTransferMax {
            throw LucidError(.perTransferLimitExceeded, [
                "amount": .int(amount.minorUnits), "limit": .int(rule.perTransferMax),
                "tier": .int(Int64(tier.rawValue)), "currency": currency,
            ])
        }
        let remaining = max(0, rule.dailyMax - usedToday)
        if amount.minorUnits > remaining {
            throw LucidError(.dailyLimitExceeded, [
                "amount": .int(amount.minorUnits), "limit": .int(rule.dailyMax), "used": .int(usedToday),
                "remaining": .int(remaining), "currency": currency,
                "resets_at": .text(now.startOfUTCDay.adding(seconds: 86_400).rfc3339),
            ])
        }
    }

    /// Defaults in major units: unverified 2 000 per transfer / 5 000 a day,
    /// basic 20 000 / 50 000, full 200 000 / 1 000 000 (×100 for two-digit currencies).
    public static let standard: LimitPolicy = {
        var rules: [VerificationTier: [String: LimitRule]] = [:]
        let major: [VerificationTier: (Int64, Int64)] = [
            .unverified: (2_000, 5_000), .basic: (20_000, 50_000), .full: (200_000, 1_000_000),
        ]
        for (tier, (single, daily)) in major {
            var byCurrency: [String: LimitRule] = [:]
            for currency in Currency.supported {
                var scale: Int64 = 1
                for _ in 0..<currency.exponent { scale *= 10 }
                // JPY is worth ~1/20 of CNY; keep limits in the same real-money range.
                let factor: Int64 = currency == .jpy ? 20 : 1
                byCurrency[currency.code] = LimitRule(perTransferMax: single * scale * factor, dailyMax: daily * scale * factor)
            }
            rules[tier] = byCurrency
        }
        return LimitPolicy(rules: rules)
    }()
}
