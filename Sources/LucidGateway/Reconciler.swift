import Foundation
import LucidCore

/// Where the ledger stands on one movement across a rail.
public enum LedgerRailState: String, Sendable, Hashable, Codable {
    /// Held (withdrawal) or awaited (top-up): the ledger has no final answer from the rail yet.
    case pending
    /// Money moved: the withdrawal's hold was posted, the top-up credited.
    case posted
    /// Nothing moved: the hold was voided, the top-up never credited.
    case voided
}

/// The ledger's view of one movement, as reconciliation compares it.
public struct LedgerRailRecord: Sendable, Hashable {
    public let reference: RailReference
    public let rail: RailID
    public let direction: RailDirection
    public let amount: Money
    public let state: LedgerRailState

    public init(reference: RailReference, rail: RailID, direction: RailDirection, amount: Money, state: LedgerRailState) {
        self.reference = reference
        self.rail = rail
        self.direction = direction
        self.amount = amount
        self.state = state
    }
}

/// What reconciliation needs from the ledger.
public protocol ReconciliationLedger: Sendable {
    /// The records for these references (at most `Reconciler.lookupBatchSize` at a time);
    /// references the ledger does not know are simply absent from the answer.
    func records(references: [RailReference]) async throws -> [RailReference: LedgerRailRecord]

    /// Every movement the ledger expects on `rail`'s report for `day`, in batches of any
    /// size: those it resolved (posted or voided) from that rail's answers on that UTC day,
    /// and those still pending that were due that day. Movements the rail never accepted
    /// (voided because the rail did not know them) should be left out.
    func items(rail: RailID, day: SettlementDay) -> AsyncThrowingStream<[LedgerRailRecord], any Error>
}

/// How one line (or ledger item) came out.
public enum ReconciliationClass: String, Sendable, Hashable, Codable, CaseIterable {
    /// The rail and the ledger agree.
    case matched
    /// The rail reports a movement the ledger does not have (on this rail).
    case missingInLedger = "missing_in_ledger"
    /// The ledger has a final movement the rail's report does not mention.
    case missingAtRail = "missing_at_rail"
    /// Both know it, but amount, currency or direction differ.
    case amountMismatch = "amount_mismatch"
    /// Both know it with the same amount, but the final states differ (or the ledger is still pending).
    case stateMismatch = "state_mismatch"
    /// The report lists a reference again.
    case duplicate
}

/// One thing that did not match, with everything an operator needs to resolve it.
public struct ReconciliationException: Sendable, Hashable {
    public let kind: ReconciliationClass
    public let reference: RailReference
    public let direction: RailDirection
    /// The report line, when the exception comes from one.
    public let lineNumber: Int?
    public let railAmountMinorUnits: Int64?
    public let ledgerAmountMinorUnits: Int64?
    public let currency: String
    public let railState: SettlementState?
    public let ledgerState: LedgerRailState?
    public let bankID: String?
    /// One sentence in English for the operator.
    public let detail: String
}

/// A line that could not be read.
public struct MalformedReportLine: Sendable, Hashable, Codable {
    public let lineNumber: Int
    public let reason: String

    enum CodingKeys: String, CodingKey { case lineNumber = "line_number", reason }
}

/// Count and amounts (per currency, in minor units) of one class and direction.
public struct ReconciliationTally: Sendable, Hashable, Codable {
    public internal(set) var count = 0
    public internal(set) var amountsMinorUnits: [String: Int64] = [:]

    enum CodingKeys: String, CodingKey { case count, amountsMinorUnits = "amounts_minor" }

    mutating func add(_ minorUnits: Int64, _ currency: String) throws(LucidError) {
        count += 1
        amountsMinorUnits[currency] = try Checked.add(amountsMinorUnits[currency] ?? 0, minorUnits)
    }
}

/// The result of reconciling one rail's report for one day.
public struct ReconciliationReport: Sendable {
    public let rail: RailID
    public let day: SettlementDay
    /// Data lines read from the report (malformed ones included, the header not).
    public internal(set) var linesRead = 0
    public internal(set) var totals: [ReconciliationClass: [RailDirection: ReconciliationTally]] = [:]
    /// Every exception, up to `Reconciler.exceptionsListedMax`; `exceptionsOmitted` counts the rest.
    public internal(set) var exceptions: [ReconciliationException] = []
    public internal(set) var exceptionsOmitted = 0
    public internal(set) var malformedLines: [MalformedReportLine] = []
    public internal(set) var malformedCount = 0
    /// Ledger items still pending that the report does not mention yet (in flight, not an exception).
    public internal(set) var ledgerInFlight = 0
    /// What the rail says it moved that day, per currency in minor units: settled top-ups minus settled
    /// withdrawals (each reference counted once). This is what the rail owes the operator for the day and
    /// has not settled with it yet.
    public internal(set) var railNetMinorUnits: [String: Int64] = [:]
    /// The same figure from the ledger: posted top-ups minus posted withdrawals among the day's items,
    /// i.e. minus how far the rail's clearing account moved for that day.
    public internal(set) var ledgerNetMinorUnits: [String: Int64] = [:]

    /// Per currency, how far the rail's clearing account is from what the rail says (rail − ledger);
    /// only currencies that differ. Empty on a clean day.
    public var clearingDifferences: [String: Int64] {
        var out: [String: Int64] = [:]
        for currency in Set(railNetMinorUnits.keys).union(ledgerNetMinorUnits.keys) {
            let difference = (railNetMinorUnits[currency] ?? 0) &- (ledgerNetMinorUnits[currency] ?? 0)
            if difference != 0 { out[currency] = difference }
        }
        return out
    }

    public func tally(_ kind: ReconciliationClass, _ direction: RailDirection) -> ReconciliationTally {
        totals[kind]?[direction] ?? ReconciliationTally()
    }

    public func count(_ kind: ReconciliationClass) -> Int {
        RailDirection.allCases.reduce(0) { $0 + tally(kind, $1).count }
    }

    /// Exceptions of every class but `matched`.
    public var exceptionCount: Int {
        ReconciliationClass.allCases.filter { $0 != .matched }.reduce(0) { $0 + count($1) }
    }

    /// True when every line matched, every line was readable and the clearing account agrees with the rail.
    public var isClean: Bool { exceptionCount == 0 && malformedCount == 0 && clearingDifferences.isEmpty }

    // MARK: Renderings

    /// The report as JSON (snake_case, sorted keys); without the exception list when `includingExceptions`
    /// is false (a summary to store beside exceptions kept elsewhere).
    public func json(includingExceptions: Bool = true) -> [UInt8] {
        struct Exception: Encodable {
            let kind: String, reference: String, direction: String, lineNumber: Int?, railAmountMinor: Int64?
            let ledgerAmountMinor: Int64?, currency: String, railState: String?, ledgerState: String?, bankID: String?
            let detail: String
            enum CodingKeys: String, CodingKey {
                case kind = "class", reference, direction, lineNumber = "line_number", railAmountMinor = "rail_amount_minor"
                case ledgerAmountMinor = "ledger_amount_minor", currency, railState = "rail_state"
                case ledgerState = "ledger_state", bankID = "bank_id", detail
            }
        }
        struct Clearing: Encodable {
            let railNetMinor: Int64, ledgerNetMinor: Int64, differenceMinor: Int64
            enum CodingKeys: String, CodingKey {
                case railNetMinor = "rail_net_minor", ledgerNetMinor = "ledger_net_minor", differenceMinor = "difference_minor"
            }
        }
        struct Document: Encodable {
            let rail: String, day: String, clean: Bool, linesRead: Int, clearing: [String: Clearing]
            let totals: [String: [String: ReconciliationTally]]
            let exceptions: [Exception], exceptionsOmitted: Int
            let malformedLines: [MalformedReportLine], malformedCount: Int, ledgerInFlight: Int
            enum CodingKeys: String, CodingKey {
                case rail, day, clean, linesRead = "lines_read", clearing, totals, exceptions, exceptionsOmitted = "exceptions_omitted"
                case malformedLines = "malformed_lines", malformedCount = "malformed_count", ledgerInFlight = "ledger_in_flight"
            }
        }
        var totals: [String: [String: ReconciliationTally]] = [:]
        for kind in ReconciliationClass.allCases {
            var byDirection: [String: ReconciliationTally] = [:]
            for direction in RailDirection.allCases { byDirection[direction.rawValue] = tally(kind, direction) }
            totals[kind.rawValue] = byDirection
        }
        var clearing: [String: Clearing] = [:]
        for currency in Set(railNetMinorUnits.keys).union(ledgerNetMinorUnits.keys) {
            let railNet = railNetMinorUnits[currency] ?? 0, ledgerNet = ledgerNetMinorUnits[currency] ?? 0
            clearing[currency] = Clearing(railNetMinor: railNet, ledgerNetMinor: ledgerNet, differenceMinor: railNet &- ledgerNet)
        }
        let document = Document(
            rail: rail.rawValue, day: day.description, clean: isClean, linesRead: linesRead, clearing: clearing, totals: totals,
            exceptions: (includingExceptions ? exceptions : []).map {
                Exception(kind: $0.kind.rawValue, reference: $0.reference.rawValue, direction: $0.direction.rawValue,
                          lineNumber: $0.lineNumber, railAmountMinor: $0.railAmountMinorUnits,
                          ledgerAmountMinor: $0.ledgerAmountMinorUnits, currency: $0.currency, railState: $0.railState?.rawValue,
                          ledgerState: $0.ledgerState?.rawValue, bankID: $0.bankID, detail: $0.detail)
            },
            exceptionsOmitted: exceptionsOmitted, malformedLines: malformedLines, malformedCount: malformedCount,
            ledgerInFlight: ledgerInFlight)
        return RailWire.encodeJSON(document)
    }

    public static let csvHeader =
        "class,reference,direction,line_number,rail_amount_minor,ledger_amount_minor,currency,rail_state,ledger_state,bank_id,detail"

    /// Every exception and malformed line as CSV (RFC 4180), one per line, for spreadsheets and tickets.
    public func csv() -> String {
        func field(_ text: String) -> String {
            var value = text
            // A leading = + - @ would run as a formula in a spreadsheet.
            if let first = value.first, "=+-@".contains(first), Int64(value) == nil { value = "'" + value }
            if value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return value
        }
        var out = ReconciliationReport.csvHeader + "\r\n"
        for e in exceptions {
            let fields = [
                e.kind.rawValue, e.reference.rawValue, e.direction.rawValue, e.lineNumber.map(String.init) ?? "",
                e.railAmountMinorUnits.map(String.init) ?? "", e.ledgerAmountMinorUnits.map(String.init) ?? "", e.currency,
                e.railState?.rawValue ?? "", e.ledgerState?.rawValue ?? "", e.bankID ?? "", e.detail,
            ]
            out += fields.map(field).joined(separator: ",") + "\r\n"
        }
        for line in malformedLines {
            out += ["malformed", "", "", String(line.lineNumber), "", "", "", "", "", "", line.reason].map(field)
                .joined(separator: ",") + "\r\n"
        }
        return out
    }
}

/// Compares a rail's settlement report with the ledger and classifies every line.
///
/// The report is streamed from its file (`SettlementReportReader`) and looked up in the
/// ledger in batches; the only state that grows with the report is a set of 128-bit
/// reference fingerprints (16 bytes a reference, for duplicates and for finding what
/// the ledger has and the rail does not), plus the listed exceptions, which are capped.
public struct Reconciler: Sendable {
    /// References per ledger lookup.
    public static let lookupBatchSize = 1_000
    /// Exceptions listed in one report; the totals still count every one.
    public static let exceptionsListedMax = 100_000
    /// Malformed lines listed in one report.
    public static let malformedListedMax = 10_000

    private let ledger: any ReconciliationLedger
    private let exceptionsListedMax: Int
    private let malformedListedMax: Int

    public init(ledger: any ReconciliationLedger, exceptionsListedMax: Int = Reconciler.exceptionsListedMax,
                malformedListedMax: Int = Reconciler.malformedListedMax) {
        self.ledger = ledger
        self.exceptionsListedMax = exceptionsListedMax
        self.malformedListedMax = malformedListedMax
    }

    /// Reconciles the report at `path` for `rail` and `day`. Throws `settlement_report_invalid`
    /// when the file is not a report at all; malformed lines are listed, not thrown.
    public func reconcile(reportAt path: String, rail: RailID, day: SettlementDay) async throws -> ReconciliationReport {
        let reader = try SettlementReportReader(path: path)
        defer { reader.close() }
        var run = Run(report: ReconciliationReport(rail: rail, day: day), exceptionsListedMax: exceptionsListedMax,
                      malformedListedMax: malformedListedMax)
        var seen = ReferenceSet()
        var batch: [(SettlementLine, Int)] = []
        batch.reserveCapacity(Reconciler.lookupBatchSize)
        // One lookup in flight while the next batch is read: the database answers while this reads the file.
        var inFlight: (batch: [(SettlementLine, Int)], lookup: Task<[RailReference: LedgerRailRecord], any Error>)?
        let ledger = self.ledger
        func classifyInFlight(_ run: inout Run) async throws {
            guard let (done, lookup) = inFlight else { return }
            inFlight = nil
            try classify(done, records: try await lookup.value, into: &run)
        }
        func lookUp(_ lines: [(SettlementLine, Int)]) {
            let references = lines.map(\.0.reference)
            inFlight = (lines, Task { try await ledger.records(references: references) })
        }
        defer { inFlight?.lookup.cancel() }
        while let row = reader.next() {
            run.report.linesRead += 1
            switch row {
            case .malformed(let lineNumber, let reason):
                run.malformed(lineNumber, reason)
            case .line(let line, let lineNumber):
                guard line.rail == rail else {
                    run.malformed(lineNumber, "rail: the line is for \(line.rail), the report for \(rail)")
                    continue
                }
                guard line.valueDate == day else {
                    run.malformed(lineNumber, "value_date: the line is dated \(line.valueDate), the report \(day)")
                    continue
                }
                guard seen.insert(line.reference.rawValue) else {
                    try run.record(.duplicate, line: line, lineNumber: lineNumber, ledger: nil,
                                   detail: "the report lists this reference more than once")
                    continue
                }
                if line.finalState == .settled {
                    try run.report.railNetMinorUnits.addSigned(line.amountMinorUnits, line.currency.code, line.direction)
                }
                batch.append((line, lineNumber))
                if batch.count == Reconciler.lookupBatchSize {
                    try await classifyInFlight(&run)
                    lookUp(batch)
                    batch = []
                    batch.reserveCapacity(Reconciler.lookupBatchSize)
                }
            }
        }
        try reader.finishReading()
        try await classifyInFlight(&run)
        if !batch.isEmpty {
            lookUp(batch)
            try await classifyInFlight(&run)
        }

        // What the ledger has and the report does not.
        for try await items in ledger.items(rail: rail, day: day) {
            for item in items where item.state == .posted {
                try run.report.ledgerNetMinorUnits.addSigned(item.amount.minorUnits, item.amount.currency.code, item.direction)
            }
            for item in items where !seen.contains(item.reference.rawValue) {
                switch item.state {
                case .pending:
                    run.report.ledgerInFlight += 1
                case .posted, .voided:
                    try run.recordMissingAtRail(item)
                }
            }
        }
        return run.report
    }

    private func classify(_ batch: [(SettlementLine, Int)], records: [RailReference: LedgerRailRecord], into run: inout Run) throws {
        for (line, lineNumber) in batch {
            guard let record = records[line.reference], record.rail == line.rail else {
                let detail = records[line.reference].map { "the ledger has this reference on \($0.rail), not on \(line.rail)" }
                    ?? "the ledger has no movement with this reference"
                try run.record(.missingInLedger, line: line, lineNumber: lineNumber, ledger: nil, detail: detail)
                continue
            }
            if record.direction != line.direction {
                try run.record(.amountMismatch, line: line, lineNumber: lineNumber, ledger: record,
                               detail: "the rail says \(line.direction.rawValue), the ledger \(record.direction.rawValue)")
            } else if record.amount.currency != line.currency {
                try run.record(.amountMismatch, line: line, lineNumber: lineNumber, ledger: record,
                               detail: "the rail says \(line.currency.code), the ledger \(record.amount.currency.code)")
            } else if record.amount.minorUnits != line.amountMinorUnits {
                try run.record(.amountMismatch, line: line, lineNumber: lineNumber, ledger: record,
                               detail: "the rail says \(line.amount.formatted), the ledger \(record.amount.formatted)")
            } else {
                switch (line.finalState, record.state) {
                case (.settled, .posted), (.failed, .voided):
                    try run.record(.matched, line: line, lineNumber: lineNumber, ledger: record, detail: "")
                case (.settled, .voided):
                    try run.record(.stateMismatch, line: line, lineNumber: lineNumber, ledger: record,
                                   detail: "the rail settled it, the ledger voided it")
                case (.failed, .posted):
                    try run.record(.stateMismatch, line: line, lineNumber: lineNumber, ledger: record,
                                   detail: "the rail failed it, the ledger posted it")
                case (.settled, .pending), (.failed, .pending):
                    try run.record(.stateMismatch, line: line, lineNumber: lineNumber, ledger: record,
                                   detail: "the rail \(line.finalState.rawValue) it, the ledger still has it pending (a callback was missed)")
                }
            }
        }
    }

    /// The mutable state of one reconciliation.
    private struct Run {
        var report: ReconciliationReport
        let exceptionsListedMax: Int
        let malformedListedMax: Int

        mutating func malformed(_ lineNumber: Int, _ reason: String) {
            report.malformedCount += 1
            if report.malformedLines.count < malformedListedMax {
                report.malformedLines.append(MalformedReportLine(lineNumber: lineNumber, reason: reason))
            }
        }

        mutating func record(_ kind: ReconciliationClass, line: SettlementLine, lineNumber: Int, ledger: LedgerRailRecord?,
                             detail: String) throws {
            try report.totals[kind, default: [:]][line.direction, default: ReconciliationTally()]
                .add(line.amountMinorUnits, line.currency.code)
            guard kind != .matched else { return }
            append(ReconciliationException(
                kind: kind, reference: line.reference, direction: line.direction, lineNumber: lineNumber,
                railAmountMinorUnits: line.amountMinorUnits, ledgerAmountMinorUnits: ledger?.amount.minorUnits,
                currency: line.currency.code, railState: line.finalState, ledgerState: ledger?.state, bankID: line.bankID,
                detail: detail))
        }

        mutating func recordMissingAtRail(_ item: LedgerRailRecord) throws {
            try report.totals[.missingAtRail, default: [:]][item.direction, default: ReconciliationTally()]
                .add(item.amount.minorUnits, item.amount.currency.code)
            append(ReconciliationException(
                kind: .missingAtRail, reference: item.reference, direction: item.direction, lineNumber: nil,
                railAmountMinorUnits: nil, ledgerAmountMinorUnits: item.amount.minorUnits, currency: item.amount.currency.code,
                railState: nil, ledgerState: item.state, bankID: nil,
                detail: "the ledger \(item.state.rawValue) it, the rail's report does not mention it"))
        }

        private mutating func append(_ exception: ReconciliationException) {
            if report.exceptions.count < exceptionsListedMax {
                report.exceptions.append(exception)
            } else {
                report.exceptionsOmitted += 1
            }
        }
    }
}

/// A set of strings kept as 128-bit fingerprints in one open-addressed table: 16 bytes a
/// member (32 at the load factor), no per-member allocation. Two fingerprints collide with
/// probability about n²/2¹²⁹ — for a million references, below 10⁻²⁶.
struct ReferenceSet {
    private var slots: [UInt64]  // pairs: [2i] high, [2i+1] low; high == 0 means empty
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1 << 12) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size * 2)
        mask = size - 1
    }

    private static func fingerprint(_ text: String) -> (UInt64, UInt64) {
        var a = Hasher()
        a.combine(0x5EED_0001 as UInt64)
        a.combine(text)
        var b = Hasher()
        b.combine(0x5EED_0002 as UInt64)
        b.combine(text)
        let high = UInt64(bitPattern: Int64(a.finalize())) | 1  // never 0: 0 marks an empty slot
        return (high, UInt64(bitPattern: Int64(b.finalize())))
    }

    /// Adds `text`; false when it was already there.
    mutating func insert(_ text: String) -> Bool {
        if (count + 1) * 10 > (mask + 1) * 7 { grow() }
        let (high, low) = ReferenceSet.fingerprint(text)
        return insert(high, low)
    }

    func contains(_ text: String) -> Bool {
        let (high, low) = ReferenceSet.fingerprint(text)
        var index = Int(truncatingIfNeeded: low) & mask
        while true {
            let h = slots[2 * index]
            if h == 0 { return false }
            if h == high && slots[2 * index + 1] == low { return true }
            index = (index + 1) & mask
        }
    }

    private mutating func insert(_ high: UInt64, _ low: UInt64) -> Bool {
        var index = Int(truncatingIfNeeded: low) & mask
        while true {
            let h = slots[2 * index]
            if h == 0 {
                slots[2 * index] = high
                slots[2 * index + 1] = low
                count += 1
                return true
            }
            if h == high && slots[2 * index + 1] == low { return false }
            index = (index + 1) & mask
        }
    }

    private mutating func grow() {
        let old = slots
        let size = (mask + 1) * 2
        slots = [UInt64](repeating: 0, count: size * 2)
        mask = size - 1
        count = 0
        var i = 0
        while i < old.count {
            if old[i] != 0 { _ = insert(old[i], old[i + 1]) }
            i += 2
        }
    }
}

/// An in-memory `ReconciliationLedger` for tests and tools.
public final class InMemoryReconciliationLedger: ReconciliationLedger, Sendable {
    private let records: [RailReference: LedgerRailRecord]
    private let byDay: [String: [LedgerRailRecord]]

    /// - Parameter items: each record with the UTC day the ledger expects it on the rail's report.
    public init(_ items: [(record: LedgerRailRecord, day: SettlementDay)]) {
        var records: [RailReference: LedgerRailRecord] = [:]
        var byDay: [String: [LedgerRailRecord]] = [:]
        for (record, day) in items {
            records[record.reference] = record
            byDay["\(record.rail)|\(day)", default: []].append(record)
        }
        self.records = records
        self.byDay = byDay
    }

    public func records(references: [RailReference]) async throws -> [RailReference: LedgerRailRecord] {
        var out: [RailReference: LedgerRailRecord] = [:]
        for reference in references { if let record = records[reference] { out[reference] = record } }
        return out
    }

    public func items(rail: RailID, day: SettlementDay) -> AsyncThrowingStream<[LedgerRailRecord], any Error> {
        let items = byDay["\(rail)|\(day)"] ?? []
        return AsyncThrowingStream { continuation in
            var start = 0
            while start < items.count {
                continuation.yield(Array(items[start..<min(start + 1_000, items.count)]))
                start += 1_000
            }
            continuation.finish()
        }
    }
}

extension Dictionary where Key == String, Value == Int64 {
    /// Adds a top-up's amount, subtracts a withdrawal's, checked.
    mutating func addSigned(_ minorUnits: Int64, _ currency: String, _ direction: RailDirection) throws(LucidError) {
        let current = self[currency] ?? 0
        switch direction {
        case .topUp: self[currency] = try Checked.add(current, minorUnits)
        case .withdrawal: self[currency] = try Checked.subtract(current, minorUnits)
        }
    }
}
