import Foundation
import LucidCore
@testable import LucidRisk
import Testing

/// Rules whose firing is easy to control from the event's amount and device.
let scoringRules = try! RuleSet.load(yaml: """
version: "engine-test"
thresholds: {challenge: 40, review: 70, block: 100, freeze: 200}
rules:
  - id: over_1000
    category: unusual_activity
    description: {en: "Over 1000", zh-CN: "超过一千"}
    condition: "event.amount > 1000"
    score: 40
  - id: over_5000
    category: account_security
    description: {en: "Over 5000", zh-CN: "超过五千"}
    condition: "event.amount > 5000"
    score: 35
  - id: trusted_small
    description: {en: "Small", zh-CN: "小额"}
    condition: "event.amount < 10"
    score: -20
  - id: forced_freeze_device
    category: account_security
    description: {en: "Known bad device", zh-CN: "已知风险设备"}
    condition: "event.amount > 0 and event.country == \\"XX\\""
    score: 1
    decision: freeze
  - id: switched_off
    enabled: false
    description: {en: "Off", zh-CN: "停用"}
    condition: "event.amount > 0"
    score: 500
""")

@Suite("Engine decisions")
struct EngineTests {
    func decide(_ event: RiskEvent, lists: RiskLists = .empty, suppressions: [RuleSuppression] = [],
                rules: RuleSet = scoringRules) -> RiskDecision {
        RiskEngine.evaluate(event, inputs: RiskInputs(context: oldContext()), lists: lists, suppressions: suppressions,
                            ruleSet: rules).decision
    }

    @Test("scores add up and map through the thresholds; disabled rules never count", arguments: [
        (500.0, RiskAction.allow, 0), (2_000, .challenge, 40), (6_000, .review, 75), (5, .allow, -20),
    ] as [(Double, RiskAction, Int)])
    func scoring(amount: Double, action: RiskAction, score: Int) {
        let decision = decide(transfer(amount, at: at(0)))
        #expect(decision.action == action && decision.score == score)
        #expect(!decision.fired("switched_off"))
        #expect(decision.ruleSetVersion == "engine-test")
    }

    @Test("a forced decision is a floor whatever the score")
    func forced() {
        let decision = decide(transfer(50, at: at(0), country: "XX"))
        #expect(decision.score == 1 && decision.action == .freeze && decision.rulesAction == .freeze)
        #expect(decision.reason == .accountSecurity)
    }

    @Test("the explanation lists every fired rule with its contribution and the values it saw")
    func explanation() throws {
        let decision = decide(transfer(6_000, at: at(0)))
        #expect(decision.firedIDs == ["over_1000", "over_5000"])
        #expect(decision.fired.map(\.contribution) == [40, 35])
        #expect(decision.fired[0].observed == [ObservedValue(name: "event.amount", value: .number(6_000))])
        #expect(decision.reason == .unusualActivity, "the largest contributor's category")
        let json = try JSONEncoder().encode(decision)
        #expect(try JSONDecoder().decode(RiskDecision.self, from: json) == decision)
    }

    @Test("the customer's summary names the action and a broad reason, never a rule or a number", arguments: RiskAction.allCases)
    func summary(action: RiskAction) {
        for reason in RiskReason.allCases {
            for kind in [RiskEvent.Kind.transfer, .login] {
                let text = CustomerSummary.text(for: action, reason: reason, kind: kind)
                if action == .allow {
                    #expect(text.en.isEmpty)
                    continue
                }
                for rule in defaultRules.rules {
                    #expect(!text.en.contains(rule.id) && !text.zh.contains(rule.id))
                }
                #expect(!text.en.contains { $0.isNumber } && !text.en.contains("score"))
                #expect(text.zh.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) })
            }
        }
    }

    @Test("a challenge answered with a fresh second factor is allowed; a hold is not lifted by it")
    func challengeSatisfied() {
        let decision = decide(transfer(2_000, at: at(0), secondFactor: true))
        #expect(decision.action == .allow && decision.challengeSatisfied && decision.rulesAction == .challenge)
        let held = decide(transfer(6_000, at: at(0), secondFactor: true))
        #expect(held.action == .review && !held.challengeSatisfied)
    }

    @Test("the error params carry a customer-safe reason")
    func errorParams() {
        let decision = decide(transfer(6_000, at: at(0)))
        #expect(decision.errorParams["risk_reason"] == .text("unusual_activity"))
        let error = LucidError(.riskBlocked, decision.errorParams)
        let en = ErrorCatalogue.describe(error, in: .en)
        #expect(en.status == 403 && en.detail.contains("unusual for your account"))
        #expect(ErrorCatalogue.describe(error, in: .zhCN).detail.contains("使用习惯"))
    }
}

@Suite("Lists and suppressions")
struct ListAndSuppressionTests {
    func decide(_ event: RiskEvent, lists: RiskLists = .empty, suppressions: [RuleSuppression] = []) -> RiskDecision {
        RiskEngine.evaluate(event, inputs: RiskInputs(context: oldContext()), lists: lists, suppressions: suppressions,
                            ruleSet: scoringRules).decision
    }

    @Test("a denied payee is blocked until the entry expires")
    func denyPayee() {
        let lists = RiskLists([RiskListEntry(kind: .payee, value: "user:mule", verdict: .deny, expiresAt: at(hours(1)))])
        let blocked = decide(transfer(10, to: "user:mule", at: at(minutes(59))), lists: lists)
        #expect(blocked.action == .block && blocked.reason == .restriction && blocked.listMatch?.value == "user:mule")
        #expect(decide(transfer(10, to: "user:mule", at: at(hours(1))), lists: lists).action == .allow, "expired")
        #expect(decide(transfer(10, to: "user:other", at: at(0)), lists: lists).action == .allow)
    }

    @Test("an allowed device overrides the rules; the rules are still recorded")
    func allowDevice() {
        let lists = RiskLists([RiskListEntry(kind: .device, value: "phone", verdict: .allow)])
        let decision = decide(transfer(6_000, at: at(0)), lists: lists)
        #expect(decision.action == .allow && decision.rulesAction == .review && decision.fired.count == 2)
    }

    @Test("deny beats allow; a per-customer entry applies to that customer only")
    func precedenceAndScope() {
        let lists = RiskLists([
            RiskListEntry(kind: .device, value: "phone", verdict: .allow),
            RiskListEntry(kind: .country, value: "KP", verdict: .deny),
            RiskListEntry(kind: .payee, value: "user:x", verdict: .deny, customer: bob),
        ])
        #expect(decide(transfer(10, at: at(0), country: "KP"), lists: lists).action == .block)
        #expect(decide(transfer(10, to: "user:x", at: at(0)), lists: lists).action == .allow, "alice is not bob")
        #expect(decide(transfer(10, to: "user:x", at: at(0), customer: bob), lists: lists).action == .block)
    }

    @Test("lists survive encoding")
    func listsCodable() throws {
        let lists = RiskLists([RiskListEntry(kind: .payee, value: "user:mule", verdict: .deny, customer: bob, expiresAt: at(60), note: "ring 7")])
        let back = try JSONDecoder().decode(RiskLists.self, from: JSONEncoder().encode(lists))
        #expect(back == lists)
        #expect(back.match(transfer(1, to: "user:mule", at: at(0), customer: bob))?.note == "ring 7")
    }

    @Test("a suppressed rule fires for nothing until its time, then counts again")
    func suppression() {
        let travel = [RuleSuppression(customer: alice, ruleID: "over_1000", until: at(days(7)), note: "trip to Japan")]
        let during = decide(transfer(2_000, at: at(days(1))), suppressions: travel)
        #expect(during.action == .allow && during.score == 0)
        #expect(during.fired.first?.suppressed == true && during.fired.first?.contribution == 0)
        #expect(decide(transfer(2_000, at: at(days(7))), suppressions: travel).action == .challenge, "expired")
        #expect(decide(transfer(2_000, at: at(days(1)), customer: bob), suppressions: travel).action == .challenge, "bob is not travelling")
    }
}

@Suite("Shadow mode")
struct ShadowTests {
    @Test("a shadow rule set never changes the enforced decision", arguments: [10.0, 2_000, 6_000, 9_999])
    func neverEnforced(amount: Double) {
        var h = Harness()
        h.history()
        let event = transfer(amount, to: "user:new", at: at(0))
        let inputs = h.state.take(for: event, context: oldContext())
        let alone = RiskEngine.evaluate(event, inputs: inputs, ruleSet: defaultRules)
        let withShadow = RiskEngine.evaluate(event, inputs: inputs, ruleSet: defaultRules, shadow: scoringRules)
        #expect(alone.shadow == nil)
        #expect(withShadow.decision == alone.decision)
        #expect(withShadow.shadow?.ruleSetVersion == "engine-test")
    }

    @Test("the shadow decision is what the draft rules alone would decide")
    func shadowIsDraft() {
        let event = transfer(6_000, at: at(0))
        let inputs = RiskInputs(context: oldContext())
        let evaluation = RiskEngine.evaluate(event, inputs: inputs, ruleSet: defaultRules, shadow: scoringRules)
        #expect(evaluation.shadow == RiskEngine.evaluate(event, inputs: inputs, ruleSet: scoringRules).decision)
        #expect(evaluation.shadow?.action == .review)
    }
}
