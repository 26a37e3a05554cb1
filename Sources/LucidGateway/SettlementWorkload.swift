import LucidCore

/// A day of movements across one rail, each computed from its index, and that day's settlement
/// report with discrepancies seeded at random: what `lucid bench reconcile` reconciles (against a
/// ledger computed on the fly, or one seeded into a real store) and what its tests check.
///
/// Movement `i` has the reference `reference(i)` (a UUIDv7 of the day with `i` in its last twelve hex
/// digits, so references sort in index order); every third one is a withdrawal, the others
/// top-ups; every tenth failed at the rail (the ledger voided it), the others settled (posted); its
/// amount is 1.00–10,000.99 CNY; the rail finished it at second `i mod 86,400` of the day.
///
/// Keeping the movements a function of their index, not a table, lets a benchmark of any size keep
/// nothing in memory but what it measures.
public struct SettlementWorkload: Sendable {
    /// Movements the ledger has on the day (the report lists them, less the seeded discrepancies).
    public let movements: Int
    public let rail: RailID
    public let day: SettlementDay
    /// Chance per movement of each kind of discrepancy.
    public let discrepancyRate: Double
    public let seed: UInt64
    /// The first 24 characters every reference of the day shares.
    private let referencePrefix: [UInt8]

    public init(movements: Int, rail: RailID = "bank-a", day: SettlementDay = SettlementDay(parsing: "2026-11-25")!,
                discrepancyRate: Double = 0.001, seed: UInt64 = 42) {
        precondition(movements >= 0 && movements < 1 << 47, "indices fit the reference's last twelve hex digits")
        precondition((0...1).contains(discrepancyRate))
        self.movements = movements
        self.rail = rail
        self.day = day
        self.discrepancyRate = discrepancyRate
        self.seed = seed
        referencePrefix = Array(Self.referenceText(day: day, index: 0).utf8.prefix(24))
    }

    /// The reference of movement `index` (also of the report's lines for movements the ledger does not
    /// have: indices from `movements` on): a UUIDv7 of the day's first millisecond with `index` in its
    /// last twelve hex digits, so references sort in index order and never meet identifiers made at
    /// another time (or by a counting generator).
    public func reference(_ index: Int) -> RailReference { RailReference(Self.referenceText(day: day, index: index)) }

    private static func referenceText(day: SettlementDay, index: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let millis = UInt64(day.start.millisecondsSinceEpoch)
        for i in 0..<6 { bytes[i] = UInt8((millis >> (40 - 8 * UInt64(i))) & 0xff) }
        bytes[6] = 0x70
        bytes[8] = 0x80
        let value = UInt64(index)
        for i in 0..<6 { bytes[10 + i] = UInt8((value >> (40 - 8 * UInt64(i))) & 0xff) }
        return UUIDText.format(bytes)
    }

    /// The index `reference` was made from, or nil when `reference(_:)` did not make it.
    public func index(of reference: RailReference) -> Int? {
        let text = reference.rawValue.utf8
        guard text.count == 36, text.prefix(24).elementsEqual(referencePrefix) else { return nil }
        var value = 0
        for byte in text.suffix(12) {
            switch byte {
            case 0x30...0x39: value = value << 4 | Int(byte - 0x30)
            case 0x61...0x66: value = value << 4 | Int(byte - 0x61 + 10)
            default: return nil
            }
        }
        return value
    }

    /// What the ledger holds for movement `index`: the truth the report is generated from.
    public func movement(_ index: Int) -> LedgerRailRecord {
        LedgerRailRecord(reference: reference(index), rail: rail, direction: index % 3 == 0 ? .withdrawal : .topUp,
                         amount: Money(100 + Int64(index &* 7_919 % 1_000_000), .cny), state: index % 10 == 0 ? .voided : .posted)
    }

    /// When the rail settled or failed movement `index`: within the day.
    public func finishedAt(_ index: Int) -> Timestamp { day.start.adding(seconds: Int64(index % 86_400)) }

    /// The rail's own id of movement `index`.
    public func bankID(_ index: Int) -> String { "BANKA-\(index)" }

    /// The rail's reason for a movement it failed.
    public static let failureReason = RailFailureReason.rejected

    /// One discrepancy the report was given on purpose.
    public struct Discrepancy: Sendable, Hashable {
        public let kind: ReconciliationClass
        public let reference: RailReference

        public init(kind: ReconciliationClass, reference: RailReference) {
            self.kind = kind
            self.reference = reference
        }
    }

    /// What reconciling the report must find.
    public struct Expectation: Sendable {
        /// Lines (or ledger items, for `missing_at_rail`) per class, `matched` included.
        public var counts: [ReconciliationClass: Int]
        /// Every seeded discrepancy.
        public var discrepancies: [Discrepancy]
        /// Data lines written.
        public var lines: Int
        public var bytes: Int64
    }

    /// Writes the day's settlement report to `path` with discrepancies seeded from `seed`: per movement,
    /// with `discrepancyRate` each, left out (missing at the rail), its amount one minor unit off, its final
    /// state flipped, listed twice, and followed by a line for a movement the ledger does not have.
    public func writeReport(to path: String) throws -> Expectation {
        var random = SeededRandom(seed: seed)
        var expectation = Expectation(counts: Dictionary(uniqueKeysWithValues: ReconciliationClass.allCases.map { ($0, 0) }),
                                      discrepancies: [], lines: 0, bytes: 0)
        func seeded(_ kind: ReconciliationClass, _ reference: RailReference) {
            expectation.counts[kind, default: 0] += 1
            expectation.discrepancies.append(Discrepancy(kind: kind, reference: reference))
        }
        let writer = try SettlementReportWriter(path: path)
        var ghost = movements
        for index in 0..<movements {
            let record = movement(index)
            let missing = random.chance(discrepancyRate)
            let amountOff = random.chance(discrepancyRate)
            let flip = random.chance(discrepancyRate)
            let duplicate = random.chance(discrepancyRate)
            let extra = random.chance(discrepancyRate)
            if missing {
                seeded(.missingAtRail, record.reference)
                continue
            }
            var line = SettlementLine(
                valueDate: day, rail: rail, reference: record.reference, direction: record.direction,
                amountMinorUnits: record.amount.minorUnits, currency: record.amount.currency,
                finalState: record.state == .posted ? .settled : .failed, settledAt: finishedAt(index), bankID: bankID(index))
            if amountOff {
                line.amountMinorUnits += 1
                seeded(.amountMismatch, record.reference)
            } else if flip {
                line.finalState = line.finalState == .settled ? .failed : .settled
                seeded(.stateMismatch, record.reference)
            } else {
                expectation.counts[.matched, default: 0] += 1
            }
            try writer.write(line)
            if duplicate {
                try writer.write(line)
                seeded(.duplicate, record.reference)
            }
            if extra {
                line.reference = reference(ghost)
                line.bankID = bankID(ghost)
                ghost += 1
                try writer.write(line)
                seeded(.missingInLedger, line.reference)
            }
        }
        try writer.finish()
        expectation.lines = writer.linesWritten
        expectation.bytes = writer.bytesWritten
        return expectation
    }
}
