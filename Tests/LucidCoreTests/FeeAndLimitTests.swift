import LucidCore
import Testing

@Suite("Fees")
struct FeeTests {
    @Test("fixed plus basis points, rounded half up, clamped to minimum and maximum", arguments: [
        // (fixed, bps, min, max, amount, fee)
        (Int64(0), Int64(60), Int64(1), Int64?.none, Int64(10_000), Int64(60)),
        (0, 60, 1, nil, 1, 1),              // 0.006 rounds to 0, the minimum lifts it to 1
        (0, 60, 0, nil, 84, 1),             // 0.504 rounds half up to 1
        (0, 60, 0, nil, 83, 0),             // 0.498 rounds down to 0
        (0, 10, 10, 2_500, 5_000_000, 2_500), // capped
        (0, 10, 10, 2_500, 50_000, 50),
        (100, 25, 0, nil, 10_000, 125),     // fixed + proportional
    ])
    func rule(fixed: Int64, bps: Int64, min: Int64, max: Int64?, amount: Int64, fee: Int64) throws {
        #expect(try FeeRule(fixed: fixed, basisPoints: bps, minimum: min, maximum: max).fee(for: amount) == fee)
    }

    @Test("a huge amount with a proportional fee overflows with a clear error, never wraps")
    func overflow() {
        #expect(throws: LucidError(.amountOverflow)) { try FeeRule(basisPoints: 10_000).fee(for: .max) }
    }

    @Test("the standard schedule: transfers and top-ups free, payments 0.6 %, withdrawals 0.1 % within bounds")
    func standard() throws {
        let fees = FeeSchedule.standard
        #expect(try fees.fee(.transfer, amount: Money(123_456, .cny)) == 0)
        #expect(try fees.fee(.topup, amount: Money(123_456, .cny)) == 0)
        #expect(try fees.fee(.payment, amount: Money(10_000, .cny)) == 60)
        #expect(try fees.fee(.withdrawal, amount: Money(1_000, .usd)) == 10)
        #expect(try fees.fee(.withdrawal, amount: Money(100_000_000, .jpy)) == 2_500)
    }

    @Test("a currency without a rule is free, never a surprise fee")
    func missingRuleIsFree() throws {
        let fees = FeeSchedule(rules: [.payment: ["CNY": FeeRule(fixed: 5)]])
        #expect(try fees.fee(.payment, amount: Money(100, .usd)) == 0)
        #expect(try fees.fee(.payment, amount: Money(100, .cny)) == 5)
    }
}

@Suite("Limits")
struct LimitTests {
    let now = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000) // 2026-11-18T…Z
    let policy = LimitPolicy(rules: [.unverified: ["CNY": LimitRule(perTransferMax: 200_000, dailyMax: 500_000)]])

    @Test("within both limits passes")
    func within() throws {
        try policy.check(amount: Money(200_000, .cny), usedToday: 300_000, tier: .unverified, now: now)
    }

    @Test("over the per-transfer limit names the amount and the limit")
    func perTransfer() {
        #expect(throws: LucidError(.perTransferLimitExceeded, [
            "amount": .int(200_001), "limit": .int(200_000), "tier": .int(0), "currency": .text("CNY"),
        ])) { try policy.check(amount: Money(200_001, .cny), usedToday: 0, tier: .unverified, now: now) }
    }

    @Test("over the daily limit reports used, remaining and when it resets")
    func daily() {
        do {
            try policy.check(amount: Money(100_000, .cny), usedToday: 450_000, tier: .unverified, now: now)
            Issue.record("expected daily_limit_exceeded")
        } catch {
            #expect(error.code == .dailyLimitExceeded)
            #expect(error.params["remaining"] == .int(50_000))
            #expect(error.params["used"] == .int(450_000))
            #expect(error.params["limit"] == .int(500_000))
            #expect(error.params["resets_at"] == .text(now.startOfUTCDay.adding(seconds: 86_400).rfc3339))
        }
    }

    @Test("no rule for a tier or currency means nothing may leave (fail closed)")
    func failClosed() {
        #expect(throws: LucidError.self) { try policy.check(amount: Money(1, .usd), usedToday: 0, tier: .unverified, now: now) }
        #expect(throws: LucidError.self) { try policy.check(amount: Money(1, .cny), usedToday: 0, tier: .full, now: now) }
    }

    @Test("standard limits grow with the tier in every supported currency")
    func standard() {
        for currency in Currency.supported {
            let tiers = VerificationTier.allCases.map { LimitPolicy.standard.rule($0, currency) }
            #expect(tiers.allSatisfy { $0.perTransferMax > 0 && $0.perTransferMax <= $0.dailyMax })
            #expect(zip(tiers, tiers.dropFirst()).allSatisfy { $0.perTransferMax < $1.perTransferMax && $0.dailyMax < $1.dailyMax })
        }
        #expect(LimitPolicy.standard.rule(.unverified, .cny) == LimitRule(perTransferMax: 200_000, dailyMax: 500_000))
    }
}
