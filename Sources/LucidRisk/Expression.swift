import LucidCore

/// The rule condition language: a small, typed expression language compiled once, at
/// load, into a tree of closures over `FeatureVector`.
///
///     features.out_count_10m >= 5 and (event.new_device or event.new_country)
///     event.amount > 3 * baseline.amount_median and not event.country in ["CN", "HK"]
///
/// Grammar (lowest precedence first):
///
///     expr    := or
///     or      := and ("or" and)*
///     and     := not ("and" not)*
///     not     := "not" not | compare
///     compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum | "not"? "in" list)?
///     sum     := product (("+" | "-") product)*
///     product := unary (("*" | "/") unary)*
///     unary   := "-" unary | primary
///     primary := number | string | "true" | "false" | name | call | "(" expr ")"
///     call    := ("min" | "max" | "abs") "(" expr ("," expr)* ")"
///     list    := "[" (literal ("," literal)*)? "]"
///     name    := identifier ("." identifier)*      — must be in `FeatureCatalog`
///
/// Types are number, bool and string; a type error is reported at load, never at run time.
/// Absent numbers are NaN, so comparisons with them are false (only `!=` is true).
public enum RiskExpression {
    /// A condition compiled for evaluation, with the feature names it reads (for explanations).
    public struct Condition: Sendable {
        let test: @Sendable (FeatureVector) -> Bool
        /// Feature names the condition reads, in first-use order.
        public let reads: [String]
        public let source: String

        public func evaluate(_ features: FeatureVector) -> Bool { test(features) }
    }

    /// A compile error at a character offset in the condition text.
    public struct CompileError: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        /// Offset in Unicode scalars from the start of the condition.
        public let offset: Int
        public var description: String { "\(message) (at character \(offset + 1))" }
    }

    /// Longest condition text accepted; nesting deeper than `depthMax` is refused too.
    public static let lengthMax = 4_000
    public static let depthMax = 64

    /// Parses, type-checks and compiles a condition that must be boolean.
    public static func compile(_ text: String) throws(CompileError) -> Condition {
        guard text.unicodeScalars.count <= lengthMax else {
            throw CompileError(message: "condition longer than \(lengthMax) characters", offset: 0)
        }
        var parser = Parser(tokens: try Lexer.tokens(text))
        let tree = try parser.parseCondition()
        var reads: [String] = []
        let compiled = try Compiler.compile(tree, reads: &reads)
        guard case .bool(let test) = compiled else {
            throw CompileError(message: "the condition must be true or false, not a \(compiled.type)", offset: tree.offset)
        }
        return Condition(test: test, reads: reads, source: text)
    }
}

// MARK: - Lexer

enum Token: Equatable {
    case number(Double)
    case string(String)
    case name(String)
    case symbol(String)
    case end
}

struct Lexed {
    let token: Token
    let offset: Int
}

enum Lexer {
    static func tokens(_ text: String) throws(RiskExpression.CompileError) -> [Lexed] {
        let scalars = Array(text.unicodeScalars)
        var out: [Lexed] = []
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while i < scalars.count {
            let c = scalars[i]
            if c == " " || c == "\t" || c == "\n" || c == "\r" { i += 1; continue }
            let start = i
            if isDigit(c) || (c == "." && i + 1 < scalars.count && isDigit(scalars[i + 1])) {
                var text = ""
                while i < scalars.count, isDigit(scalars[i]) || scalars[i] == "." || scalars[i] == "_" || scalars[i] == "e"
                        || scalars[i] == "E" || ((scalars[i] == "-" || scalars[i] == "+") && (scalars[i - 1] == "e" || scalars[i - 1] == "E")) {
                    if scalars[i] != "_" { text.unicodeScalars.append(scalars[i]) }
                    i += 1
                }
                guard let value = Double(text), value.isFinite else {
                    throw .init(message: "\"\(text)\" is not a number", offset: start)
                }
                out.append(Lexed(token: .number(value), offset: start))
            } else if isNameStart(c) {
                var text = ""
                while i < scalars.count, isNameStart(scalars[i]) || isDigit(scalars[i]) || scalars[i] == "." {
                    text.unicodeScalars.append(scalars[i])
                    i += 1
                }
                if text.hasSuffix(".") || text.contains("..") {
                    throw .init(message: "\"\(text)\" is not a valid name", offset: start)
                }
                out.append(Lexed(token: .name(text), offset: start))
            } else if c == "\"" || c == "'" {
                i += 1
                var text = ""
                while i < scalars.count, scalars[i] != c {
                    if scalars[i] == "\\", i + 1 < scalars.count { i += 1 }
                    text.unicodeScalars.append(scalars[i])
                    i += 1
                }
                guard i < scalars.count else { throw .init(message: "unterminated string", offset: start) }
                i += 1
                out.append(Lexed(token: .string(text), offset: start))
            } else {
                let two = i + 1 < scalars.count ? String(String.UnicodeScalarView([c, scalars[i + 1]])) : ""
                if ["<=", ">=", "==", "!=", "&&", "||"].contains(two) {
                    let symbol = two == "&&" ? "and" : two == "||" ? "or" : two
                    out.append(Lexed(token: symbol == two ? .symbol(two) : .name(symbol), offset: start))
                    i += 2
                } else if "<>+-*/()[],!".unicodeScalars.contains(c) {
                    out.append(Lexed(token: c == "!" ? .name("not") : .symbol(String(c)), offset: start))
                    i += 1
                } else if c == "=" {
                    throw .init(message: "use == to compare", offset: start)
                } else {
                    throw .init(message: "unexpected character \"\(c)\"", offset: start)
                }
            }
        }
        out.append(Lexed(token: .end, offset: scalars.count))
        return out
    }
}

// MARK: - Parser

indirect enum ExprNode {
    case number(Double, Int)
    case bool(Bool, Int)
    case string(String, Int)
    case name(String, Int)
    case negate(ExprNode, Int)
    case not(ExprNode, Int)
    case binary(String, ExprNode, ExprNode, Int)
    case list(ExprNode, [ExprNode], negated: Bool, Int)
    case call(String, [ExprNode], Int)

    var offset: Int {
        switch self {
        case .number(_, let o), .bool(_, let o), .string(_, let o), .name(_, let o), .negate(_, let o), .not(_, let o),
             .binary(_, _, _, let o), .list(_, _, _, let o), .call(_, _, let o): o
        }
    }
}

struct Parser {
    let tokens: [Lexed]
    var position = 0
    var depth = 0

    init(tokens: [Lexed]) { self.tokens = tokens }

    var current: Lexed { tokens[position] }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    func describe(_ token: Token) -> String {
        switch token {
        case .number(let n): "number \(n)"
        case .string(let s): "string \"\(s)\""
        case .name(let n): "\"\(n)\""
        case .symbol(let s): "\"\(s)\""
        case .end: "the end of the condition"
        }
    }

    func isName(_ word: String) -> Bool { current.token == .name(word) }
    func isSymbol(_ symbol: String) -> Bool { current.token == .symbol(symbol) }

    mutating func expect(_ symbol: String) throws(RiskExpression.CompileError) {
        guard isSymbol(symbol) else {
            throw .init(message: "expected \"\(symbol)\" but found \(describe(current.token))", offset: current.offset)
        }
        advance()
    }

    mutating func parseCondition() throws(RiskExpression.CompileError) -> ExprNode {
        if current.token == .end { throw .init(message: "the condition is empty", offset: 0) }
        let node = try parseOr()
        guard current.token == .end else {
            throw .init(message: "unexpected \(describe(current.token))", offset: current.offset)
        }
        return node
    }

    mutating func nested() throws(RiskExpression.CompileError) {
        depth += 1
        if depth > RiskExpression.depthMax {
            throw .init(message: "the condition nests deeper than \(RiskExpression.depthMax) levels", offset: current.offset)
        }
    }

    mutating func parseOr() throws(RiskExpression.CompileError) -> ExprNode {
        try nested()
        defer { depth -= 1 }
        var left = try parseAnd()
        while isName("or") {
            let offset = current.offset
            advance()
            left = .binary("or", left, try parseAnd(), offset)
        }
        return left
    }

    mutating func parseAnd() throws(RiskExpression.CompileError) -> ExprNode {
        var left = try parseNot()
        while isName("and") {
            let offset = current.offset
            advance()
            left = .binary("and", left, try parseNot(), offset)
        }
        return left
    }

    mutating func parseNot() throws(RiskExpression.CompileError) -> ExprNode {
        if isName("not") {
            let offset = current.offset
            advance()
            try nested()
            defer { depth -= 1 }
            return .not(try parseNot(), offset)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws(RiskExpression.CompileError) -> ExprNode {
        let left = try parseSum()
        if case .symbol(let op) = current.token, ["<", "<=", ">", ">=", "==", "!="].contains(op) {
            let offset = current.offset
            advance()
            let right = try parseSum()
            if case .symbol(let next) = current.token, ["<", "<=", ">", ">=", "==", "!="].contains(next) {
                throw .init(message: "comparisons do not chain; join them with \"and\"", offset: current.offset)
            }
            return .binary(op, left, right, offset)
        }
        var negated = false
        if isName("not"), position + 1 < tokens.count, tokens[position + 1].token == .name("in") {
            negated = true
            advance()
        }
        if isName("in") {
            let offset = current.offset
            advance()
            try expect("[")
            var items: [ExprNode] = []
            if !isSymbol("]") {
                repeat {
                    if isSymbol(",") { advance() }
                    items.append(try parseLiteral())
                } while isSymbol(",")
            }
            try expect("]")
            return .list(left, items, negated: negated, offset)
        }
        return left
    }

    mutating func parseLiteral() throws(RiskExpression.CompileError) -> ExprNode {
        let offset = current.offset
        switch current.token {
        case .number(let n): advance(); return .number(n, offset)
        case .string(let s): advance(); return .string(s, offset)
        case .symbol("-"):
            advance()
            guard case .number(let n) = current.token else {
                throw .init(message: "a list holds only numbers or strings", offset: current.offset)
            }
            advance()
            return .number(-n, offset)
        default:
            throw .init(message: "a list holds only numbers or strings, found \(describe(current.token))", offset: offset)
        }
    }

    mutating func parseSum() throws(RiskExpression.CompileError) -> ExprNode {
        var left = try parseProduct()
        while case .symbol(let op) = current.token, op == "+" || op == "-" {
            let offset = current.offset
            advance()
            left = .binary(op, left, try parseProduct(), offset)
        }
        return left
    }

    mutating func parseProduct() throws(RiskExpression.CompileError) -> ExprNode {
        var left = try parseUnary()
        while case .symbol(let op) = current.token, op == "*" || op == "/" {
            let offset = current.offset
            advance()
            left = .binary(op, left, try parseUnary(), offset)
        }
        return left
    }

    mutating func parseUnary() throws(RiskExpression.CompileError) -> ExprNode {
        if isSymbol("-") {
            let offset = current.offset
            advance()
            try nested()
            defer { depth -= 1 }
            return .negate(try parseUnary(), offset)
        }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(RiskExpression.CompileError) -> ExprNode {
        let offset = current.offset
        switch current.token {
        case .number(let n):
            advance()
            return .number(n, offset)
        case .string(let s):
            advance()
            return .string(s, offset)
        case .name("true"):
            advance()
            return .bool(true, offset)
        case .name("false"):
            advance()
            return .bool(false, offset)
        case .name(let word) where ["and", "or", "not", "in"].contains(word):
            throw .init(message: "expected a value but found \"\(word)\"", offset: offset)
        case .name(let word):
            advance()
            if isSymbol("(") {
                guard ["min", "max", "abs"].contains(word) else {
                    throw .init(message: "unknown function \"\(word)\" (min, max and abs exist)", offset: offset)
                }
                advance()
                var arguments: [ExprNode] = []
                if !isSymbol(")") {
                    arguments.append(try parseOr())
                    while isSymbol(",") {
                        advance()
                        arguments.append(try parseOr())
                    }
                }
                try expect(")")
                return .call(word, arguments, offset)
            }
            return .name(word, offset)
        case .symbol("("):
            advance()
            let inner = try parseOr()
            try expect(")")
            return inner
        case .symbol, .end:
            throw .init(message: "expected a value but found \(describe(current.token))", offset: offset)
        }
    }
}

// MARK: - Compiler

typealias NumberFn = @Sendable (FeatureVector) -> Double
typealias BoolFn = @Sendable (FeatureVector) -> Bool
typealias StringFn = @Sendable (FeatureVector) -> String

enum Compiled {
    case number(NumberFn, constant: Double?)
    case bool(BoolFn)
    case string(StringFn, constant: String?)

    var type: RiskType {
        switch self {
        case .number: .number
        case .bool: .bool
        case .string: .string
        }
    }
}

enum Compiler {
    static func compile(_ node: ExprNode, reads: inout [String]) throws(RiskExpression.CompileError) -> Compiled {
        switch node {
        case .number(let n, _):
            return .number({ _ in n }, constant: n)
        case .bool(let b, _):
            return .bool({ _ in b })
        case .string(let s, _):
            return .string({ _ in s }, constant: s)
        case .name(let name, let offset):
            guard let feature = FeatureCatalog.byName[name] else {
                throw .init(message: "unknown feature \"\(name)\"\(suggestion(for: name))", offset: offset)
            }
            if !reads.contains(name) { reads.append(name) }
            switch feature.read {
            case .number(let read): return .number(read, constant: nil)
            case .bool(let read): return .bool(read)
            case .string(let read): return .string(read, constant: nil)
            }
        case .negate(let inner, let offset):
            let value = try number(inner, reads: &reads, offset: offset, role: "\"-\"")
            if case .number(_, let c?) = value { return .number({ _ in -c }, constant: -c) }
            guard case .number(let f, _) = value else { fatalError("unreachable") }
            return .number({ -f($0) }, constant: nil)
        case .not(let inner, let offset):
            let test = try bool(inner, reads: &reads, offset: offset, role: "\"not\"")
            return .bool({ !test($0) })
        case .binary(let op, let left, let right, let offset):
            return try binary(op, left, right, offset, reads: &reads)
        case .list(let subject, let items, let negated, let offset):
            let value = try compile(subject, reads: &reads)
            switch value {
            case .number(let f, _):
                var set: [Double] = []
                for item in items {
                    guard case .number(let n, _) = item else {
                        throw .init(message: "this list must hold numbers, like the value before \"in\"", offset: item.offset)
                    }
                    set.append(n)
                }
                let frozen = set
                if negated { return .bool({ !frozen.contains(f($0)) }) }
                return .bool({ frozen.contains(f($0)) })
            case .string(let f, _):
                var set: Set<String> = []
                for item in items {
                    guard case .string(let s, _) = item else {
                        throw .init(message: "this list must hold strings, like the value before \"in\"", offset: item.offset)
                    }
                    set.insert(s)
                }
                let frozen = set
                if negated { return .bool({ !frozen.contains(f($0)) }) }
                return .bool({ frozen.contains(f($0)) })
            case .bool:
                throw .init(message: "\"in\" needs a number or a string on its left, not a bool", offset: offset)
            }
        case .call(let name, let arguments, let offset):
            var fns: [NumberFn] = []
            for argument in arguments {
                guard case .number(let f, _) = try number(argument, reads: &reads, offset: argument.offset, role: name) else {
                    fatalError("unreachable")
                }
                fns.append(f)
            }
            switch name {
            case "abs":
                guard fns.count == 1 else { throw .init(message: "abs takes one number", offset: offset) }
                let f = fns[0]
                return .number({ Swift.abs(f($0)) }, constant: nil)
            default:
                guard fns.count == 2 else { throw .init(message: "\(name) takes two numbers", offset: offset) }
                let (a, b) = (fns[0], fns[1])
                // NaN-propagating, so an absent value never wins a min or max.
                if name == "min" {
                    return .number({ let x = a($0), y = b($0); return x.isNaN || y.isNaN ? .nan : Swift.min(x, y) }, constant: nil)
                }
                return .number({ let x = a($0), y = b($0); return x.isNaN || y.isNaN ? .nan : Swift.max(x, y) }, constant: nil)
            }
        }
    }

    static func number(_ node: ExprNode, reads: inout [String], offset: Int, role: String) throws(RiskExpression.CompileError) -> Compiled {
        let value = try compile(node, reads: &reads)
        guard case .number = value else {
            throw .init(message: "\(role) needs a number, but \(what(node)) is a \(value.type)", offset: node.offset)
        }
        return value
    }

    static func bool(_ node: ExprNode, reads: inout [String], offset: Int, role: String) throws(RiskExpression.CompileError) -> BoolFn {
        let value = try compile(node, reads: &reads)
        guard case .bool(let f) = value else {
            throw .init(message: "\(role) needs true or false, but \(what(node)) is a \(value.type)", offset: node.offset)
        }
        return f
    }

    static func what(_ node: ExprNode) -> String {
        if case .name(let name, _) = node { return name }
        return "the expression"
    }

    static func binary(_ op: String, _ left: ExprNode, _ right: ExprNode, _ offset: Int,
                       reads: inout [String]) throws(RiskExpression.CompileError) -> Compiled {
        switch op {
        case "and", "or":
            let l = try bool(left, reads: &reads, offset: offset, role: "\"\(op)\"")
            let r = try bool(right, reads: &reads, offset: offset, role: "\"\(op)\"")
            if op == "and" { return .bool({ l($0) && r($0) }) }
            return .bool({ l($0) || r($0) })
        case "+", "-", "*", "/":
            guard case .number(let l, let lc) = try number(left, reads: &reads, offset: offset, role: "\"\(op)\""),
                  case .number(let r, let rc) = try number(right, reads: &reads, offset: offset, role: "\"\(op)\"") else {
                fatalError("unreachable")
            }
            if let lc, let rc {
                let c = arithmetic(op, lc, rc)
                return .number({ _ in c }, constant: c)
            }
            if let rc {
                switch op {
                case "+": return .number({ l($0) + rc }, constant: nil)
                case "-": return .number({ l($0) - rc }, constant: nil)
                case "*": return .number({ l($0) * rc }, constant: nil)
                default: return .number({ l($0) / rc }, constant: nil)
                }
            }
            if let lc {
                switch op {
                case "+": return .number({ lc + r($0) }, constant: nil)
                case "-": return .number({ lc - r($0) }, constant: nil)
                case "*": return .number({ lc * r($0) }, constant: nil)
                default: return .number({ lc / r($0) }, constant: nil)
                }
            }
            switch op {
            case "+": return .number({ l($0) + r($0) }, constant: nil)
            case "-": return .number({ l($0) - r($0) }, constant: nil)
            case "*": return .number({ l($0) * r($0) }, constant: nil)
            default: return .number({ l($0) / r($0) }, constant: nil)
            }
        default:
            return try comparison(op, left, right, offset, reads: &reads)
        }
    }

    static func arithmetic(_ op: String, _ a: Double, _ b: Double) -> Double {
        switch op {
        case "+": a + b
        case "-": a - b
        case "*": a * b
        default: a / b
        }
    }

    static func comparison(_ op: String, _ left: ExprNode, _ right: ExprNode, _ offset: Int,
                           reads: inout [String]) throws(RiskExpression.CompileError) -> Compiled {
        let l = try compile(left, reads: &reads)
        let r = try compile(right, reads: &reads)
        switch (l, r) {
        case (.number(let lf, _), .number(let rf, let rc)):
            if let c = rc {
                switch op {
                case "<": return .bool({ lf($0) < c })
                case "<=": return .bool({ lf($0) <= c })
                case ">": return .bool({ lf($0) > c })
                case ">=": return .bool({ lf($0) >= c })
                case "==": return .bool({ lf($0) == c })
                default: return .bool({ lf($0) != c })
                }
            }
            switch op {
            case "<": return .bool({ lf($0) < rf($0) })
            case "<=": return .bool({ lf($0) <= rf($0) })
            case ">": return .bool({ lf($0) > rf($0) })
            case ">=": return .bool({ lf($0) >= rf($0) })
            case "==": return .bool({ lf($0) == rf($0) })
            default: return .bool({ lf($0) != rf($0) })
            }
        case (.string(let lf, _), .string(let rf, let rc)):
            guard op == "==" || op == "!=" else {
                throw .init(message: "strings compare only with == and !=", offset: offset)
            }
            if let c = rc {
                if op == "==" { return .bool({ lf($0) == c }) }
                return .bool({ lf($0) != c })
            }
            if op == "==" { return .bool({ lf($0) == rf($0) }) }
            return .bool({ lf($0) != rf($0) })
        case (.bool(let lf), .bool(let rf)):
            guard op == "==" || op == "!=" else {
                throw .init(message: "true/false values compare only with == and !=", offset: offset)
            }
            if op == "==" { return .bool({ lf($0) == rf($0) }) }
            return .bool({ lf($0) != rf($0) })
        default:
            throw .init(message: "cannot compare a \(l.type) (\(what(left))) with a \(r.type) (\(what(right)))", offset: offset)
        }
    }

    /// "did you mean …" for a mistyped feature name: the closest catalogue name within three edits.
    static func suggestion(for name: String) -> String {
        var best: (name: String, distance: Int)?
        for feature in FeatureCatalog.all {
            let distance = editDistance(Array(name.utf8), Array(feature.name.utf8), limit: 3)
            if distance <= 3, distance < (best?.distance ?? .max) { best = (feature.name, distance) }
        }
        if let best { return "; did you mean \(best.name)?" }
        let last = name.split(separator: ".").last.map(String.init) ?? name
        if let match = FeatureCatalog.all.first(where: { $0.name.hasSuffix("." + last) }) {
            return "; did you mean \(match.name)?"
        }
        return ""
    }

    /// Levenshtein distance, giving up (returning `limit + 1`) once every path exceeds `limit`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            current[0] = i
            var rowMin = current[0]
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                rowMin = min(rowMin, current[j])
            }
            if rowMin > limit { return limit + 1 }
            swap(&previous, &current)
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
