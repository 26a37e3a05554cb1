import Foundation
import LucidCore
import Synchronization
import Yams

/// What the engine does about an event, from least to most severe.
public enum RiskAction: String, Sendable, Hashable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    /// Go ahead.
    case allow
    /// Ask for a second factor (`second_factor_required`); the retry carrying a fresh code is allowed.
    case challenge
    /// Accept but hold the money as a pending transfer until an operator approves or rejects it.
    case review
    /// Refuse (`risk_blocked` with a customer-safe reason).
    case block
    /// Refuse and freeze the account.
    case freeze

    private var severity: Int {
        switch self {
        case .allow: 0
        case .challenge: 1
        case .review: 2
        case .block: 3
        case .freeze: 4
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.severity < rhs.severity }

    /// The request goes through (`allow`) or is accepted on hold (`review`): features learn from it.
    public var isAccepted: Bool { self == .allow || self == .review }

    /// Stops the money before it leaves (everything but `allow`): what the simulator counts as "stopped".
    public var stops: Bool { self != .allow }

    public var description: String { rawValue }
}

/// Score → action. A score at or above a threshold takes that action; `freeze` is optional
/// (without it, no score freezes: only a rule's forced decision can).
public struct RiskThresholds: Sendable, Hashable, Codable {
    public var challenge: Int
    public var review: Int
    public var block: Int
    public var freeze: Int?

    public init(challenge: Int, review: Int, block: Int, freeze: Int? = nil) {
        precondition(challenge < review && review < block && (freeze.map { block < $0 } ?? true), "thresholds must increase")
        self.challenge = challenge
        self.review = review
        self.block = block
        self.freeze = freeze
    }

    public func action(for score: Int) -> RiskAction {
        if let freeze, score >= freeze { return .freeze }
        if score >= block { return .block }
        if score >= review { return .review }
        if score >= challenge { return .challenge }
        return .allow
    }
}

/// One rule: when its condition holds it adds `score` and optionally forces at least `decision`.
public struct RiskRule: Sendable {
    public let id: String
    public let description: Localized
    public let category: RiskReason
    public let condition: RiskExpression.Condition
    public let score: Int
    /// A floor for the action when the rule fires (`challenge`, `review`, `block` or `freeze`).
    public let decision: RiskAction?
    public let enabled: Bool
    /// Line of the rule in its file, for operators reading explanations.
    public let line: Int
}

/// A validated, compiled, immutable set of rules. Made only by `RuleSet.load`, so a value
/// of this type is always good; replacing the live one is a swap in `RuleSetHolder`.
public struct RuleSet: Sendable {
    public let version: String
    public let thresholds: RiskThresholds
    public let rules: [RiskRule]
    /// The text it was loaded from, so a decision's version can be traced to exact rules.
    public let source: String

    /// Largest rules file and rule count accepted.
    public static let fileBytesMax = 1 << 20
    public static let rulesMax = 1_000
    public static let scoreRange = -1_000...1_000
    public static let idLengthMax = 64

    /// The rules bundled with Lucid (Sources/LucidRisk/Resources/default-rules.yaml), loaded once.
    public static func bundledDefault() -> RuleSet { bundled }

    private static let bundled: RuleSet = {
        do {
            return try load(yaml: bundledDefaultText())
        } catch {
            preconditionFailure("the bundled default rules do not load: \(error)")
        }
    }()

    /// The bundled default rules' text (to write out as a starting point for an operator's own file).
    public static func bundledDefaultText() -> String {
        guard let url = Bundle.module.url(forResource: "default-rules", withExtension: "yaml"),
              let data = try? Data(contentsOf: url) else {
            preconditionFailure("the bundled default-rules.yaml is missing from the LucidRisk resources")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses, validates and compiles a rules file. Every problem found is reported with its
    /// line; nothing partial is ever returned.
    public static func load(yaml: String) throws(RuleSetError) -> RuleSet {
        guard yaml.utf8.count <= fileBytesMax else {
            throw RuleSetError([.init(line: 1, reason: "the file is larger than \(fileBytesMax) bytes")])
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw RuleSetError([.init(line: 1, reason: "the file is empty")])
            }
            root = node
        } catch let error as RuleSetError {
            throw error
        } catch let error as YamlError {
            throw RuleSetError([RuleSetError.Problem(yaml: error)])
        } catch {
            throw RuleSetError([.init(line: 1, reason: "not YAML: \(error)")])
        }
        var loader = Loader(text: yaml)
        let set = loader.load(root)
        if !loader.problems.isEmpty { throw RuleSetError(loader.problems.sorted { $0.line < $1.line }) }
        guard let set else { throw RuleSetError([.init(line: 1, reason: "the file holds no rule set")]) }
        return set
    }
}

/// Why a rules file was refused: one or more problems, each with its line.
public struct RuleSetError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// 1-based line in the file.
        public let line: Int
        public let reason: String
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
        public var description: String { "line \(line): \(reason)" }

        init(yaml error: YamlError) {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                self.init(line: mark.line, reason: "YAML syntax: \(problem)\(context.map { " (\($0.text))" } ?? "")")
            case .duplicatedKeysInMapping(let duplicates, let context):
                self.init(line: context.mark.line, reason: "duplicate key \(duplicates.joined(separator: ", "))")
            case .reader(let problem, _, _, _):
                self.init(line: 1, reason: "unreadable text: \(problem)")
            default:
                self.init(line: 1, reason: "YAML: \(error)")
            }
        }
    }

    public let problems: [Problem]
    public init(_ problems: [Problem]) {
        precondition(!problems.isEmpty)
        self.problems = problems
    }

    /// The first problem's line.
    public var line: Int { problems[0].line }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Walks the YAML nodes, collecting every problem rather than stopping at the first.
private struct Loader {
    let text: String
    var problems: [RuleSetError.Problem] = []

    init(text: String) { self.text = text }

    mutating func problem(_ node: Node?, _ reason: String, lineOffset: Int = 0) {
        problems.append(.init(line: (node?.mark?.line ?? 1) + lineOffset, reason: reason))
    }

    func scalarText(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node else { return nil }
        return scalar.string
    }

    mutating func load(_ root: Node) -> RuleSet? {
        guard case .mapping(let top) = root else {
            problem(root, "the file must be a mapping with version, thresholds and rules")
            return nil
        }
        let known: Set<String> = ["version", "thresholds", "rules"]
        for (key, _) in top where !known.contains(scalarText(key) ?? "") {
            problem(key, "unknown key \"\(scalarText(key) ?? "?")\" (expected version, thresholds, rules)")
        }
        var version = ""
        if let node = top["version"], let text = scalarText(node), !text.trimmingCharacters(in: .whitespaces).isEmpty {
            version = text
            if text.count > 64 { problem(node, "version is longer than 64 characters") }
        } else {
            problem(top["version"] ?? root, "version is missing: give the rule set a version such as \"2026-11-25.1\"")
        }
        let thresholds = loadThresholds(top["thresholds"], parent: root)
        var rules: [RiskRule] = []
        if let node = top["rules"] {
            if case .sequence(let sequence) = node {
                if sequence.count > RuleSet.rulesMax { problem(node, "more than \(RuleSet.rulesMax) rules") }
                var seen: [String: Int] = [:]
                for item in sequence {
                    guard let rule = loadRule(item) else { continue }
                    if let first = seen[rule.id] {
                        problem(item["id"] ?? item, "duplicate rule id \"\(rule.id)\" (first defined on line \(first))")
                    } else {
                        seen[rule.id] = rule.line
                        rules.append(rule)
                    }
                }
            } else {
                problem(node, "rules must be a list")
            }
        } else {
            problem(root, "rules is missing")
        }
        guard let thresholds, problems.isEmpty else { return nil }
        return RuleSet(version: version, thresholds: thresholds, rules: rules, source: text)
    }

    mutating func integer(_ node: Node?, _ name: String) -> Int? {
        guard let node else { return nil }
        guard case .scalar = node, let value = node.int else {
            problem(node, "\(name) must be a whole number, not \"\(scalarText(node) ?? "a collection")\"")
            return nil
        }
        return value
    }

    mutating func loadThresholds(_ node: Node?, parent: Node) -> RiskThresholds? {
        guard let node else {
            problem(parent, "thresholds is missing (challenge, review, block and optionally freeze)")
            return nil
        }
        guard case .mapping(let mapping) = node else {
            problem(node, "thresholds must be a mapping of action to score")
            return nil
        }
        let known: Set<String> = ["challenge", "review", "block", "freeze"]
        for (key, _) in mapping where !known.contains(scalarText(key) ?? "") {
            problem(key, "unknown threshold \"\(scalarText(key) ?? "?")\" (challenge, review, block, freeze)")
        }
        var values: [String: Int] = [:]
        for name in ["challenge", "review", "block", "freeze"] {
            guard let child = mapping[name] else {
                if name != "freeze" { problem(node, "threshold \(name) is missing") }
                continue
            }
            guard let value = integer(child, "threshold \(name)") else { continue }
            if value <= 0 { problem(child, "threshold \(name) must be above 0") }
            values[name] = value
        }
        guard let challenge = values["challenge"], let review = values["review"], let block = values["block"] else { return nil }
        var ok = true
        if !(challenge < review) { problem(mapping["review"], "threshold review (\(review)) must be above challenge (\(challenge))"); ok = false }
        if !(review < block) { problem(mapping["block"], "threshold block (\(block)) must be above review (\(review))"); ok = false }
        if let freeze = values["freeze"], !(block < freeze) {
            problem(mapping["freeze"], "threshold freeze (\(freeze)) must be above block (\(block))")
            ok = false
        }
        guard ok, challenge > 0 else { return nil }
        return RiskThresholds(challenge: challenge, review: review, block: block, freeze: values["freeze"])
    }

    mutating func loadRule(_ node: Node) -> RiskRule? {
        guard case .mapping(let mapping) = node else {
            problem(node, "each rule must be a mapping with id, description, condition and score")
            return nil
        }
        let known: Set<String> = ["id", "description", "category", "condition", "score", "decision", "enabled"]
        for (key, _) in mapping where !known.contains(scalarText(key) ?? "") {
            problem(key, "unknown rule key \"\(scalarText(key) ?? "?")\" (id, description, category, condition, score, decision, enabled)")
        }
        let before = problems.count
        var id = ""
        if let idNode = mapping["id"], let text = scalarText(idNode) {
            id = text
            let allowed = text.unicodeScalars.allSatisfy(Self.isIDCharacter)
            if text.isEmpty || text.count > RuleSet.idLengthMax || !allowed {
                problem(idNode, "rule id \"\(text)\" must be 1–\(RuleSet.idLengthMax) characters of a–z, 0–9 and _")
            }
        } else {
            problem(node, "a rule has no id")
        }
        var description = Localized("", "")
        if let descriptionNode = mapping["description"], case .mapping(let texts) = descriptionNode {
            let en = texts["en"].flatMap(scalarText) ?? ""
            let zh = texts["zh-CN"].flatMap(scalarText) ?? ""
            if en.isEmpty || zh.isEmpty { problem(descriptionNode, "rule \(id): description needs both en and zh-CN") }
            for (key, _) in texts where !["en", "zh-CN"].contains(scalarText(key) ?? "") {
                problem(key, "rule \(id): description languages are en and zh-CN")
            }
            description = Localized(en, zh)
        } else {
            problem(mapping["description"] ?? node, "rule \(id): description with en and zh-CN is missing")
        }
        var category = RiskReason.unusualActivity
        if let categoryNode = mapping["category"] {
            if let text = scalarText(categoryNode), let value = RiskReason(rawValue: text) {
                category = value
            } else {
                problem(categoryNode, "rule \(id): category must be one of \(RiskReason.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        var score = 0
        if let scoreNode = mapping["score"] {
            if let value = integer(scoreNode, "rule \(id): score") {
                if RuleSet.scoreRange.contains(value) { score = value } else {
                    problem(scoreNode, "rule \(id): score must be between \(RuleSet.scoreRange.lowerBound) and \(RuleSet.scoreRange.upperBound)")
                }
            }
        } else {
            problem(node, "rule \(id): score is missing")
        }
        var decision: RiskAction?
        if let decisionNode = mapping["decision"] {
            if let text = scalarText(decisionNode), let action = RiskAction(rawValue: text), action != .allow {
                decision = action
            } else {
                problem(decisionNode, "rule \(id): decision must be challenge, review, block or freeze")
            }
        }
        var enabled = true
        if let enabledNode = mapping["enabled"] {
            if case .scalar = enabledNode, let value = enabledNode.bool { enabled = value } else {
                problem(enabledNode, "rule \(id): enabled must be true or false")
            }
        }
        var condition: RiskExpression.Condition?
        if let conditionNode = mapping["condition"], let text = scalarText(conditionNode) {
            do throws(RiskExpression.CompileError) {
                condition = try RiskExpression.compile(text)
            } catch {
                problem(conditionNode, "rule \(id): condition: \(error.description)",
                        lineOffset: lineOffset(of: conditionNode, at: error.offset, in: text))
            }
        } else {
            problem(mapping["condition"] ?? node, "rule \(id): condition is missing")
        }
        guard problems.count == before, let condition else { return nil }
        return RiskRule(id: id, description: description, category: category, condition: condition, score: score,
                        decision: decision, enabled: enabled, line: node.mark?.line ?? 1)
    }

    static func isIDCharacter(_ c: Unicode.Scalar) -> Bool {
        if c >= "a" && c <= "z" { return true }
        if c >= "0" && c <= "9" { return true }
        return c == "_"
    }

    /// Lines between a condition's YAML mark and the character at `offset`: exact for literal
    /// block scalars (`|`), whose text keeps its line breaks; the first content line for folded ones.
    func lineOffset(of node: Node, at offset: Int, in text: String) -> Int {
        guard case .scalar(let scalar) = node else { return 0 }
        switch scalar.style {
        case .literal:
            return 1 + text.unicodeScalars.prefix(offset).filter { $0 == "\n" }.count
        case .folded:
            return 1
        default:
            return 0
        }
    }
}

/// The live rule set (and an optional shadow set), swapped atomically on reload: readers
/// always see a complete, valid set, and a bad file never replaces a good one.
public final class RuleSetHolder: Sendable {
    private struct Sets: Sendable {
        var live: RuleSet
        var shadow: RuleSet?
    }
    private let sets: Mutex<Sets>

    public init(_ live: RuleSet, shadow: RuleSet? = nil) { sets = Mutex(Sets(live: live, shadow: shadow)) }

    public var live: RuleSet { sets.withLock { $0.live } }
    public var shadow: RuleSet? { sets.withLock { $0.shadow } }
    /// Both at once, consistent with each other.
    public var current: (live: RuleSet, shadow: RuleSet?) { sets.withLock { ($0.live, $0.shadow) } }

    /// Loads `yaml` and makes it live; on error the old set stays and the error is thrown.
    @discardableResult
    public func reload(yaml: String) throws(RuleSetError) -> RuleSet {
        let set = try RuleSet.load(yaml: yaml)
        sets.withLock { $0.live = set }
        return set
    }

    /// Makes an already loaded set live (e.g. the bundled defaults when no set is stored).
    public func replaceLive(_ set: RuleSet) {
        sets.withLock { $0.live = set }
    }

    /// Loads `yaml` as the shadow (draft) set; `nil` text turns shadow mode off.
    public func reloadShadow(yaml: String?) throws(RuleSetError) {
        guard let yaml else {
            sets.withLock { $0.shadow = nil }
            return
        }
        let set = try RuleSet.load(yaml: yaml)
        sets.withLock { $0.shadow = set }
    }
}
