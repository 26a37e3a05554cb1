import Foundation
import LucidCore
@testable import LucidRisk
import Testing

/// A feature vector of an ordinary ¥100 transfer, for evaluating conditions by hand.
func ordinaryTransfer() -> FeatureVector {
    var f = FeatureVector()
    f.kind = "transfer"
    f.currency = "CNY"
    f.country = "CN"
    f.payeeKind = "user"
    f.isMoneyOut = true
    f.amount = 100
    f.balanceFraction = 0.01
    f.hour = 12
    f.deviceAgeHours = riskNever
    f.countryAgeHours = riskNever
    f.payeeAgeDays = 200
    f.payeePayments = 12
    f.outCount10m = 1; f.outCount1h = 1; f.outCount24h = 2
    f.outSum10m = 100; f.outSum1h = 100; f.outSum24h = 180
    f.accountAgeDays = 400
    f.daysSinceLastActivity = 1
    f.daysSinceLastOut = 1
    f.devicesKnown = 1; f.countriesKnown = 1
    f.drainedFraction24h = 0.02
    f.baselineSamples = 40; f.baselineMedian = 90; f.amountZ = 0.2; f.amountRatio = 1.1; f.hourShare = 0.3
    f.payeeNewSenders1h = 0; f.payeeNewSenders24h = 0; f.payeeInCount24h = 1; f.payeeInSum24h = 50
    return f
}

@Suite("Rule language")
struct ExpressionTests {
    func value(_ text: String, _ f: FeatureVector = ordinaryTransfer()) throws -> Bool {
        try RiskExpression.compile(text).evaluate(f)
    }

    @Test("precedence, arithmetic, comparison, boolean logic and parentheses", arguments: [
        ("1 + 2 * 3 == 7", true), ("(1 + 2) * 3 == 9", true), ("10 / 4 == 2.5", true), ("-2 * -3 == 6", true),
        ("1 - 2 - 3 == -4", true), ("not false and false", false), ("not (false and false)", true),
        ("true or false and false", true), ("(true or false) and false", false), ("1e3 == 1000", true), ("1_000 == 1000", true),
        ("event.amount > 99.5 and event.amount <= 100", true), ("event.amount != 100", false),
        ("event.amount > 3 * baseline.amount_median", false), ("event.amount / baseline.amount_median > 1.1", true),
        ("event.country in [\"CN\", \"HK\"]", true), ("event.country not in [\"CN\"]", false), ("not event.country in [\"US\"]", true),
        ("event.hour in [11, 12, 13]", true), ("event.hour in []", false), ("event.kind == 'transfer'", true),
        ("min(event.amount, 50) == 50 and max(event.amount, 50) == 100 and abs(-3) == 3", true),
        ("event.is_money_out && !event.is_login", true), ("event.new_device == false", true),
    ] as [(String, Bool)])
    func evaluates(text: String, expected: Bool) throws {
        #expect(try value(text) == expected, "\(text)")
    }

    @Test("absent numbers compare false, except !=")
    func absent() throws {
        var f = ordinaryTransfer()
        f.amount = .nan
        #expect(try !value("event.amount > 0", f))
        #expect(try !value("event.amount <= 0", f))
        #expect(try !value("event.amount == event.amount", f))
        #expect(try value("event.amount != 5", f))
        #expect(try !value("max(event.amount, 1) >= 1", f), "an absent value never wins a max")
    }

    @Test("the reads of a condition are listed once, in first-use order")
    func reads() throws {
        let condition = try RiskExpression.compile("event.amount > 5 and (features.out_count_1h > 2 or event.amount < 1)")
        #expect(condition.reads == ["event.amount", "features.out_count_1h"])
    }

    @Test("mistakes are refused at compile time with the place and a reason", arguments: [
        ("features.out_count_5m > 1", 0, "unknown feature"),
        ("event.amout > 1", 0, "did you mean event.amount"),
        ("event.amount and true", 0, "needs true or false"),
        ("event.country > 1", 14, "cannot compare"),
        ("event.country + 1 > 2", 0, "needs a number"),
        ("event.amount + 1", 13, "must be true or false"),
        ("event.amount >", 14, "expected a value"),
        ("event.amount = 5", 13, "use =="),
        ("event.country == \"CN", 17, "unterminated"),
        ("1 < 2 < 3", 6, "do not chain"),
        ("(event.amount > 1", 17, "expected \")\""),
        ("event.hour in [\"x\"]", 15, "must hold numbers"),
        ("frobnicate(1) > 0", 0, "unknown function"),
        ("event.amount > 1 event.amount", 17, "unexpected"),
        ("", 0, "empty"),
        ("event.amount > 1 # comment", 17, "unexpected character"),
        ("event..amount > 1", 0, "not a valid name"),
    ] as [(String, Int, String)])
    func refused(text: String, offset: Int, reason: String) {
        #expect(throws: RiskExpression.CompileError.self) { try RiskExpression.compile(text) }
        do {
            _ = try RiskExpression.compile(text)
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
            #expect(error.message.contains(reason), "\(text): \(error.message)")
        }
    }

    @Test("absurdly deep nesting is refused, not a stack overflow")
    func depth() {
        let deep = String(repeating: "(", count: 500) + "true" + String(repeating: ")", count: 500)
        #expect(throws: RiskExpression.CompileError.self) { try RiskExpression.compile(deep) }
        let nots = String(repeating: "not ", count: 500) + "true"
        #expect(throws: RiskExpression.CompileError.self) { try RiskExpression.compile(nots) }
    }

    @Test("every catalogue feature compiles and reads its own value")
    func catalogue() throws {
        for feature in FeatureCatalog.all {
            let text: String
            switch feature.type {
            case .number: text = "\(feature.name) == \(feature.name) or \(feature.name) != \(feature.name)"
            case .bool: text = "\(feature.name) or not \(feature.name)"
            case .string: text = "\(feature.name) == \(feature.name)"
            }
            #expect(try RiskExpression.compile(text).evaluate(ordinaryTransfer()), "\(feature.name)")
            #expect(feature.name.split(separator: ".").count == 2)
            #expect(["event", "features", "baseline", "payee", "source"].contains(String(feature.name.split(separator: ".")[0])))
        }
    }
}

/// A minimal valid file, to break in one place at a time.
let goodRules = """
version: "t1"
thresholds:
  challenge: 40
  review: 70
  block: 100
rules:
  - id: big
    description:
      en: "Big"
      zh-CN: "大额"
    condition: "event.amount >= 1000"
    score: 50
  - id: huge
    description: {en: "Huge", zh-CN: "巨额"}
    condition: "event.amount >= 10000"
    score: 30
    decision: review
"""

@Suite("Rules files")
struct RuleSetTests {
    func refusal(_ yaml: String) -> RuleSetError? {
        do {
            _ = try RuleSet.load(yaml: yaml)
            return nil
        } catch {
            return error
        }
    }

    @Test("the bundled default rules load, are versioned and cover every required pattern")
    func defaults() {
        let rules = RuleSet.bundledDefault()
        #expect(!rules.version.isEmpty)
        #expect(rules.thresholds.challenge < rules.thresholds.review)
        let ids = Set(rules.rules.map(\.id))
        for required in ["ato_new_device_credential_change_drain", "velocity_burst_10m", "probing_small_payments",
                         "fan_in_new_senders", "topup_then_out_new_rail", "dormant_account_active", "amount_far_above_baseline",
                         "mule_pass_through"] {
            #expect(ids.contains(required), "\(required)")
        }
        for rule in rules.rules {
            #expect(!rule.description.en.isEmpty && rule.description.zh.unicodeScalars.contains { $0.value >= 0x4E00 })
        }
    }

    @Test("a good file loads")
    func good() throws {
        let set = try RuleSet.load(yaml: goodRules)
        #expect(set.version == "t1" && set.rules.map(\.id) == ["big", "huge"] && set.rules[1].decision == .review)
        #expect(set.rules[0].line == 7 && set.thresholds.freeze == nil)
    }

    @Test("an unknown feature is refused with the condition's line")
    func unknownFeature() {
        let error = refusal(goodRules.replacingOccurrences(of: "event.amount >= 1000", with: "event.amt >= 1000"))
        #expect(error?.line == 11)
        #expect(error?.problems[0].reason.contains("unknown feature \"event.amt\"") == true, "\(String(describing: error))")
    }

    @Test("a syntax error in a condition is refused with its line")
    func syntaxError() {
        let error = refusal(goodRules.replacingOccurrences(of: "event.amount >= 10000", with: "event.amount >= (10000"))
        #expect(error?.line == 15)
        #expect(error?.problems[0].reason.contains("rule huge") == true)
    }

    @Test("an error inside a literal block condition points at its own line")
    func literalBlockLine() {
        let yaml = goodRules.replacingOccurrences(of: "    condition: \"event.amount >= 1000\"", with: """
            condition: |
              event.is_money_out
              and event.amount >= 1000
              and features.nope > 1
        """)
        #expect(refusal(yaml)?.line == 14)
    }

    @Test("a duplicate id is refused with the second one's line")
    func duplicateID() {
        let error = refusal(goodRules.replacingOccurrences(of: "id: huge", with: "id: big"))
        #expect(error?.line == 13)
        #expect(error?.problems[0].reason.contains("duplicate rule id \"big\" (first defined on line 7)") == true)
    }

    @Test("thresholds that do not increase are refused with the line", arguments: [
        ("  review: 70", "  review: 30", 4, "review (30) must be above challenge (40)"),
        ("  block: 100", "  block: 70", 5, "block (70) must be above review (70)"),
        ("  block: 100", "  block: 100\n  freeze: 90", 6, "freeze (90) must be above block (100)"),
        ("  challenge: 40", "  challenge: forty", 3, "whole number"),
        ("  challenge: 40", "  challenge: 0", 3, "above 0"),
        ("  challenge: 40", "  challeng: 40", 3, "unknown threshold"),
    ] as [(String, String, Int, String)])
    func badThreshold(old: String, new: String, line: Int, reason: String) {
        let error = refusal(goodRules.replacingOccurrences(of: old, with: new))
        #expect(error?.problems.contains { $0.line == line && $0.reason.contains(reason) } == true, "\(String(describing: error))")
    }

    @Test("other mistakes are refused with a line too", arguments: [
        ("event.amount >= 1000", "event.country >= 1000", 11, "cannot compare a string"),
        ("event.amount >= 1000", "event.amount", 11, "must be true or false"),
        ("    score: 50", "    score: 5000", 12, "score must be between"),
        ("    score: 50", "    scor: 50", 12, "unknown rule key"),
        ("    decision: review", "    decision: allow", 17, "decision must be"),
        ("      zh-CN: \"大额\"", "", 9, "needs both en and zh-CN"),
        ("version: \"t1\"", "", 2, "version is missing"),
        ("  - id: big", "  - id: Big-One", 7, "must be 1–64 characters"),
        ("    score: 30", "    score: 30\n    enabled: maybe", 17, "enabled must be true or false"),
    ] as [(String, String, Int, String)])
    func otherMistakes(old: String, new: String, line: Int, reason: String) {
        let error = refusal(goodRules.replacingOccurrences(of: old, with: new))
        #expect(error?.problems.contains { $0.line == line && $0.reason.contains(reason) } == true, "\(String(describing: error))")
    }

    @Test("broken YAML is refused with the scanner's line")
    func brokenYAML() {
        let error = refusal(goodRules.replacingOccurrences(of: "    score: 50", with: "    score: [50"))
        #expect(error != nil)
        #expect((error?.line ?? 0) >= 12, "\(String(describing: error))")
        let duplicateKey = refusal(goodRules.replacingOccurrences(of: "  review: 70", with: "  review: 70\n  review: 80"))
        #expect(duplicateKey?.problems[0].reason.contains("duplicate") == true, "\(String(describing: duplicateKey))")
        #expect(refusal("")?.problems[0].reason.contains("empty") == true)
        #expect(refusal("- just\n- a list")?.problems[0].reason.contains("mapping") == true)
    }

    @Test("a bad reload keeps the old set; a good one swaps atomically")
    func holder() throws {
        let holder = RuleSetHolder(try RuleSet.load(yaml: goodRules))
        #expect(throws: RuleSetError.self) { try holder.reload(yaml: goodRules.replacingOccurrences(of: "id: huge", with: "id: big")) }
        #expect(holder.live.version == "t1" && holder.live.rules.count == 2)
        try holder.reload(yaml: goodRules.replacingOccurrences(of: "\"t1\"", with: "\"t2\""))
        #expect(holder.live.version == "t2")
        try holder.reloadShadow(yaml: goodRules.replacingOccurrences(of: "\"t1\"", with: "\"draft\""))
        #expect(holder.current.shadow?.version == "draft" && holder.current.live.version == "t2")
        #expect(throws: RuleSetError.self) { try holder.reloadShadow(yaml: "version: x") }
        #expect(holder.shadow?.version == "draft")
        try holder.reloadShadow(yaml: nil)
        #expect(holder.shadow == nil)
    }

    @Test("docs/RISK.md describes every feature of the catalogue")
    func documented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/RISK.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for feature in FeatureCatalog.all { #expect(text.contains("`\(feature.name)`"), "\(feature.name) is not in docs/RISK.md") }
        for rule in defaultRules.rules { #expect(text.contains("`\(rule.id)`"), "\(rule.id) is not in docs/RISK.md") }
    }

    @Test("thresholds map scores to actions", arguments: [
        (0, RiskAction.allow), (39, .allow), (40, .challenge), (69, .challenge), (70, .review), (99, .review),
        (100, .block), (159, .block), (160, .freeze), (10_000, .freeze), (-50, .allow),
    ] as [(Int, RiskAction)])
    func thresholds(score: Int, action: RiskAction) {
        #expect(RiskThresholds(challenge: 40, review: 70, block: 100, freeze: 160).action(for: score) == action)
        #expect(RiskThresholds(challenge: 40, review: 70, block: 100).action(for: score) == (action == .freeze ? .block : action))
    }
}
