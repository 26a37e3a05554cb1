import LucidCore
@testable import LucidRisk
import Testing

func ordinaryLogin() -> FeatureVector {
    var f = ordinaryTransfer()
    f.kind = "login"
    f.isMoneyOut = false
    f.isLogin = true
    f.loginSucceeded = true
    f.amount = .nan
    f.balanceFraction = .nan
    f.payeeKind = ""
    f.payeeAgeDays = .nan
    f.payeePayments = .nan
    f.amountRatio = .nan
    f.amountZ = 0
    f.drainedFraction24h = .nan
    return f
}

/// One default rule: a vector on which it fires and a near miss on which it must not.
struct RuleCase: Sendable, CustomTestStringConvertible {
    let rule: String
    let login: Bool
    let fires: @Sendable (inout FeatureVector) -> Void
    let nearMiss: @Sendable (inout FeatureVector) -> Void
    var testDescription: String { rule }

    init(_ rule: String, login: Bool = false, fires: @escaping @Sendable (inout FeatureVector) -> Void,
         nearMiss: @escaping @Sendable (inout FeatureVector) -> Void) {
        self.rule = rule
        self.login = login
        self.fires = fires
        self.nearMiss = nearMiss
    }

    func vector(_ change: (inout FeatureVector) -> Void) -> FeatureVector {
        var f = login ? ordinaryLogin() : ordinaryTransfer()
        change(&f)
        return f
    }
}

let ruleCases: [RuleCase] = [
    RuleCase("ato_new_device_credential_change_drain",
             fires: { $0.deviceAgeHours = 1; $0.hoursSinceCredentialChange = 2; $0.balanceFraction = 0.9 },
             nearMiss: { $0.deviceAgeHours = 1; $0.hoursSinceCredentialChange = 80; $0.balanceFraction = 0.9 }),
    RuleCase("ato_new_device_new_payee_drain",
             fires: { $0.deviceAgeHours = 1; $0.newPayee = true; $0.balanceFraction = 0.7 },
             nearMiss: { $0.deviceAgeHours = 30; $0.newPayee = true; $0.balanceFraction = 0.7 }),
    RuleCase("new_device_money_out", fires: { $0.deviceAgeHours = 2 }, nearMiss: { $0.deviceAgeHours = 25 }),
    RuleCase("new_country_money_out", fires: { $0.countryAgeHours = 0 },
             nearMiss: { $0.countryAgeHours = 0; $0.accountAgeDays = 1 }),
    RuleCase("login_after_failures_new_device", login: true,
             fires: { $0.newDevice = true; $0.failedLogins1h = 3 }, nearMiss: { $0.newDevice = true; $0.failedLogins1h = 2 }),
    RuleCase("credential_stuffing_source", login: true,
             fires: { $0.sourceFailedAccounts1h = 8 }, nearMiss: { $0.sourceFailedAccounts1h = 7 }),
    RuleCase("velocity_burst_10m", fires: { $0.outCount10m = 5; $0.outSum10m = 600 },
             nearMiss: { $0.outCount10m = 5; $0.outSum10m = 400 }),
    RuleCase("velocity_burst_1h", fires: { $0.outCount1h = 12 }, nearMiss: { $0.outCount1h = 11 }),
    RuleCase("probing_small_payments", fires: { $0.smallOutCount1h = 4; $0.newPayees1h = 3 },
             nearMiss: { $0.smallOutCount1h = 4; $0.newPayees1h = 2 }),
    RuleCase("probing_then_cash_out", fires: { $0.smallOutCount1h = 3; $0.newPayees1h = 3 },
             nearMiss: { $0.smallOutCount1h = 3; $0.newPayees1h = 3; $0.isSmall = true }),
    RuleCase("fan_in_new_senders", fires: { $0.newPayee = true; $0.payeeNewSenders24h = 5 },
             nearMiss: { $0.newPayee = true; $0.payeeNewSenders24h = 4 }),
    RuleCase("fan_in_new_senders_heavy", fires: { $0.newPayee = true; $0.payeeNewSenders24h = 10 },
             nearMiss: { $0.newPayee = true; $0.payeeNewSenders24h = 9 }),
    RuleCase("mule_pass_through",
             fires: { $0.kind = "withdrawal"; $0.newPayee = true; $0.inNewSenders24h = 4; $0.passthroughRatio24h = 0.9
                      $0.minutesSinceLastIn = 30; $0.amount = 2_000 },
             nearMiss: { $0.kind = "payment"; $0.newPayee = true; $0.inNewSenders24h = 4; $0.passthroughRatio24h = 0.9
                         $0.minutesSinceLastIn = 30; $0.amount = 2_000 }),
    RuleCase("topup_then_out_new_rail",
             fires: { $0.lastTopupNewRail = true; $0.minutesSinceTopup = 20; $0.topupFraction = 0.9; $0.amount = 900 },
             nearMiss: { $0.lastTopupNewRail = true; $0.minutesSinceTopup = 61; $0.topupFraction = 0.9; $0.amount = 900 }),
    RuleCase("topup_then_out_new_rail_new_payee",
             fires: { $0.lastTopupNewRail = true; $0.minutesSinceTopup = 20; $0.topupFraction = 0.9; $0.amount = 900; $0.newPayee = true },
             nearMiss: { $0.lastTopupNewRail = true; $0.minutesSinceTopup = 20; $0.topupFraction = 0.9; $0.amount = 900 }),
    RuleCase("dormant_account_active", fires: { $0.daysSinceLastOut = 120; $0.amount = 3_000 },
             nearMiss: { $0.daysSinceLastOut = 89; $0.amount = 3_000 }),
    RuleCase("amount_far_above_baseline", fires: { $0.amountZ = 4.5; $0.amount = 2_000 },
             nearMiss: { $0.amountZ = 4.5; $0.amount = 2_000; $0.toOwnAccount = true }),
    RuleCase("amount_far_above_baseline_new_payee", fires: { $0.amountZ = 4.5; $0.amount = 2_000; $0.newPayee = true },
             nearMiss: { $0.amountZ = 4.5; $0.amount = 2_000; $0.newPayee = true; $0.baselineSamples = 7 }),
    RuleCase("large_share_to_new_payee", fires: { $0.newPayee = true; $0.balanceFraction = 0.4; $0.amount = 1_500 },
             nearMiss: { $0.newPayee = true; $0.balanceFraction = 0.4; $0.amount = 999 }),
    RuleCase("draining_to_recent_payee", fires: { $0.payeeAgeDays = 2; $0.drainedFraction24h = 0.9; $0.amount = 800 },
             nearMiss: { $0.payeeAgeDays = 2; $0.drainedFraction24h = 0.79; $0.amount = 800 }),
    RuleCase("odd_hour_large", fires: { $0.hourShare = 0; $0.amountZ = 2.5 }, nearMiss: { $0.hourShare = 0.02; $0.amountZ = 2.5 }),
    RuleCase("repeated_refusals_then_drain", fires: { $0.refused1h = 2; $0.balanceFraction = 0.9 },
             nearMiss: { $0.refused1h = 1; $0.balanceFraction = 0.9 }),
]

@Suite("Default rules")
struct DefaultRulesTests {
    func decide(_ f: FeatureVector, login: Bool = false) -> RiskDecision {
        let event = login ? RiskEvent.login(id: "x", customer: alice, time: at(0), succeeded: true, device: "d", sourceAddress: "s", country: "CN")
                          : transfer(100, at: at(0))
        return RiskEngine.evaluate(event, features: f, ruleSet: defaultRules)
    }

    @Test("every default rule has a firing case and a near miss here")
    func coverage() {
        #expect(Set(defaultRules.rules.map(\.id)) == Set(ruleCases.map(\.rule)))
    }

    @Test("an ordinary transfer and an ordinary login fire nothing")
    func ordinary() {
        #expect(decide(ordinaryTransfer()).fired.isEmpty)
        #expect(decide(ordinaryLogin(), login: true).fired.isEmpty)
    }

    @Test("the rule fires on its case", arguments: ruleCases)
    func fires(_ c: RuleCase) {
        let decision = decide(c.vector(c.fires), login: c.login)
        #expect(decision.fired(c.rule), "fired: \(decision.firedIDs)")
        let rule = decision.fired.first { $0.ruleID == c.rule }
        #expect(rule?.observed.isEmpty == false, "the explanation records what the rule saw")
    }

    @Test("the rule stays quiet on the near miss", arguments: ruleCases)
    func nearMiss(_ c: RuleCase) {
        let decision = decide(c.vector(c.nearMiss), login: c.login)
        #expect(!decision.fired(c.rule), "fired: \(decision.firedIDs)")
    }
}

@Suite("Default rules on whole stories")
struct StoryTests {
    @Test("account takeover: new device, password changed, wallet emptied to a new payee: held or worse")
    func takeover() {
        var h = Harness()
        h.history()
        h.run(login(at: at(0), device: "attacker-phone", source: "ip-x", country: "NG"))
        h.contexts[alice] = oldContext(passwordChanged: at(minutes(3)))
        let decision = h.run(transfer(9_500, to: "user:mule", at: at(minutes(20)), device: "attacker-phone", country: "NG"))
        #expect(decision.action >= .review, "\(decision.firedIDs) score \(decision.score)")
        #expect(decision.fired("ato_new_device_credential_change_drain"))
        #expect(decision.reason == .accountSecurity)
    }

    @Test("the owner's new phone and an ordinary payment: allowed")
    func newPhoneOrdinary() {
        var h = Harness()
        h.history()
        h.run(login(at: at(0), device: "new-phone"))
        h.contexts[alice] = oldContext(passwordChanged: at(-minutes(5)))
        let decision = h.run(transfer(90, to: "user:friend1", at: at(minutes(10)), device: "new-phone"))
        #expect(decision.action == .allow, "\(decision.firedIDs)")
    }

    @Test("probing: small payments to new merchants are challenged by the fourth")
    func probing() {
        var h = Harness()
        h.history()
        var actions: [RiskAction] = []
        for i in 0..<5 { actions.append(h.run(transfer(3, to: "merchant:p\(i)", at: at(minutes(Int64(i))), kind: .payment)).action) }
        #expect(actions[0] == .allow && actions[2] == .allow)
        #expect(actions[3] >= .challenge)
    }

    @Test("mule: money in from many new senders, straight out to a new bank account: held")
    func mule() {
        var h = Harness()
        h.contexts[alice] = CustomerContext(accountCreatedAt: at(-days(10)), knownDevices: ["phone"], knownCountries: ["CN"])
        for i in 0..<5 { h.run(transfer(800, to: "user:alice", at: at(minutes(Int64(i) * 20)), customer: UserID("victim\(i)"))) }
        let decision = h.run(transfer(3_900, to: "bank:fresh", at: at(minutes(110)), balance: 4_000, kind: .withdrawal))
        #expect(decision.action >= .review, "\(decision.firedIDs)")
        #expect(decision.fired("mule_pass_through") && decision.reason == .payeeRisk)
    }

    @Test("fan-in: the fifth first-time sender to one payee is challenged")
    func fanIn() {
        var h = Harness()
        var last = RiskAction.allow
        for i in 0..<5 {
            last = h.run(transfer(300, to: "user:collector", at: at(minutes(Int64(i) * 5)), customer: UserID("p\(i)"))).action
        }
        #expect(last == .challenge)
    }

    @Test("dormant for months, then most of the wallet: challenged")
    func dormant() {
        var h = Harness()
        h.history(count: 3)
        let decision = h.run(transfer(6_000, to: "user:friend0", at: at(days(100))))
        #expect(decision.fired("dormant_account_active") && decision.action >= .challenge)
    }

    @Test("a top-up from a new card sent straight on to a new payee: held")
    func topupThenOut() {
        var h = Harness()
        h.history()
        h.run(topup(2_000, rail: "card:new", at: at(0)))
        let decision = h.run(transfer(1_900, to: "user:stranger", at: at(minutes(10)), balance: 2_100))
        #expect(decision.fired("topup_then_out_new_rail") && decision.action >= .review, "\(decision.firedIDs)")
    }

    @Test("far above the customer's own baseline to a stranger: challenged; to their own bank: not")
    func baseline() {
        var h = Harness()
        h.history()
        h.run(topup(100, rail: "bank:mine", at: at(-days(10))))
        let stranger = h.features(transfer(5_000, to: "user:stranger", at: at(0), balance: 50_000))
        #expect(stranger.amountZ >= 4)
        #expect(h.run(transfer(5_000, to: "user:stranger", at: at(0), balance: 50_000)).action >= .challenge)
        #expect(h.run(transfer(5_000, to: "bank:mine", at: at(hours(2)), balance: 45_000, kind: .withdrawal)).action == .allow)
    }
}
