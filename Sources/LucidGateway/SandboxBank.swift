import LucidCore

/// Where a rail's callbacks go: a closure in process, or an HTTP sender.
public typealias RailCallbackSink = @Sendable (RailCallback) async -> Void

/// A realistic bank in process, hosting several rails, each with faults that can be
/// changed at run time. Everything random is drawn from generators seeded per rail,
/// so the same seed and the same calls give the same run.
///
/// It keeps its own book per rail: a reference is booked once and a repeated submit
/// answers with the first receipt. Movements become final `settlementDelaySeconds`
/// after acceptance, when `settleDue()` runs (the HTTP server ticks it; tests call it
/// after moving their clock) or when someone asks for their status.
///
/// Magic accounts make single outcomes deterministic whatever the rates: an account
/// ending `0001` fails with insufficient funds, `0002` closed, `0003` limit exceeded,
/// `0004` bank maintenance, `0005` rejected.
public actor SandboxBank {
    /// What the bank recorded for one movement.
    public struct BookEntry: Hashable, Sendable {
        public let request: RailRequest
        public let bankID: String
        public let acceptedAt: Timestamp
        public internal(set) var status: RailItemStatus
        /// When the movement is (or was) due to become final.
        public let dueAt: Timestamp
        /// When it became final.
        public internal(set) var finalizedAt: Timestamp?
        let plannedFailure: RailFailureReason?
    }

    /// A discrepancy the sandbox put into a report on purpose, so tests can check that
    /// reconciliation finds exactly these.
    public enum InjectedReportFault: Hashable, Sendable {
        case amountOff(RailReference, byMinorUnits: Int64)
        case missingLine(RailReference)
        case extraLine(RailReference)
        case stateFlipped(RailReference)
        case duplicateLine(RailReference)
    }

    private struct RailState {
        var configuration: SandboxRailConfiguration
        var random: SeededRandom
        var book: [RailReference: BookEntry] = [:]
        /// References not final yet.
        var pending: Set<RailReference> = []
        /// `pending` callbacks held back to be delivered after the final one (out of order).
        var heldCallbacks: [RailReference: RailCallback] = [:]
        var bankSequence = 0
    }

    private var rails: [RailID: RailState] = [:]
    private let order: [RailID]
    private let seed: UInt64
    private let clock: any WallClock
    private let sleeper: any GatewaySleeper
    private var sink: RailCallbackSink?
    private var eventSequence = 0
    /// Part of every event id: the bank's start time, so a restarted bank never reuses an id.
    private let epoch: String

    public init(rails configurations: [SandboxRailConfiguration], seed: UInt64, clock: any WallClock,
                sleeper: any GatewaySleeper = TaskSleeper(), callbackSink: RailCallbackSink? = nil) {
        precondition(!configurations.isEmpty, "a bank needs at least one rail")
        precondition(Set(configurations.map(\.id)).count == configurations.count, "rail ids must be unique")
        for configuration in configurations {
            rails[configuration.id] = RailState(
                configuration: configuration, random: SeededRandom(seed: StableHash.of(String(seed), configuration.id.rawValue)))
        }
        order = configurations.map(\.id)
        self.seed = seed
        self.clock = clock
        self.sleeper = sleeper
        sink = callbackSink
        epoch = String(clock.now().millisecondsSinceEpoch, radix: 36)
    }

    /// The port for one of this bank's rails.
    public nonisolated func rail(_ id: RailID) -> SandboxRail {
        precondition(order.contains(id), "the sandbox bank has no rail \(id)")
        return SandboxRail(id: id, bank: self)
    }

    public nonisolated var railIDs: [RailID] { order }

    public func setCallbackSink(_ sink: RailCallbackSink?) { self.sink = sink }

    // MARK: Configuration

    public func configuration(of id: RailID) throws(LucidError) -> SandboxRailConfiguration {
        try state(id).configuration
    }

    /// Replaces a rail's faults now; calls already in flight finish under the old ones.
    public func configure(_ id: RailID, faults: RailFaults) throws(LucidError) {
        _ = try state(id)
        rails[id]?.configuration.faults = try faults.validated()
    }

    public func configure(_ id: RailID, settlementDelaySeconds: Int64) throws(LucidError) {
        _ = try state(id)
        guard settlementDelaySeconds >= 0 else {
            throw LucidError.invalidField("settlement_delay_seconds", "must not be negative")
        }
        rails[id]?.configuration.settlementDelaySeconds = settlementDelaySeconds
    }

    private func state(_ id: RailID) throws(LucidError) -> RailState {
        guard let state = rails[id] else { throw LucidError(.railNotFound, ["rail": .text(id.rawValue)]) }
        return state
    }

    /// What the bank booked on a rail, by acceptance time.
    public func book(of id: RailID) throws(LucidError) -> [BookEntry] {
        try state(id).book.values.sorted { ($0.acceptedAt, $0.request.reference) < ($1.acceptedAt, $1.request.reference) }
    }

    // MARK: The rail's API

    public func submit(_ request: RailRequest, on id: RailID, timeout: Duration) async throws -> RailReceipt {
        guard var rail = rails[id] else { throw RailCallError.invalidRequest("no rail \(id)") }
        let faults = rail.configuration.faults
        if faults.outage { throw RailCallError.unavailable("\(id) is down") }
        let latency = faults.latency.sample(using: &rail.random)
        let timesOut = rail.random.chance(faults.timeoutRate)
        let now = clock.now()
        var deliveries: [RailCallback] = []
        let receipt: RailReceipt
        if let existing = rail.book[request.reference] {
            rails[id] = rail
            guard existing.request.sameMovement(as: request) else {
                try await answer(after: latency, timesOut: timesOut, timeout: timeout)
                throw RailCallError.referenceConflict(request.reference)
            }
            deliveries = finalizeIfDue(request.reference, on: id, now: now)
            let current = rails[id]!.book[request.reference]!
            receipt = RailReceipt(rail: id, reference: request.reference, bankID: current.bankID, status: current.status,
                                  acceptedAt: current.acceptedAt, isReplay: true)
        } else {
            guard rail.configuration.currencies.contains(request.amount.currency) else {
                rails[id] = rail
                throw RailCallError.invalidRequest("\(id) does not move \(request.amount.currency.code)")
            }
            let failure: RailFailureReason?
            let failureDrawn = rail.random.chance(faults.failureRate)
            let reasonDraw = rail.random.next()
            if let magic = SandboxBank.magicFailure(request.account) {
                failure = magic
            } else if failureDrawn, !faults.failureReasons.isEmpty {
                failure = faults.failureReasons[Int(reasonDraw % UInt64(faults.failureReasons.count))]
            } else {
                failure = nil
            }
            rail.bankSequence += 1
            let bankID = SandboxBank.bankID(id, rail.bankSequence)
            let dueAt = now.adding(seconds: rail.configuration.settlementDelaySeconds)
            var entry = BookEntry(request: request, bankID: bankID, acceptedAt: now, status: .pending(expectedBy: dueAt),
                                  dueAt: dueAt, finalizedAt: nil, plannedFailure: failure)
            if let failure, failure.isImmediate || rail.configuration.confirmsAtOnce.contains(request.direction) {
                entry.status = .failed(reason: failure, message: failure.defaultMessage)
                entry.finalizedAt = now
            } else if rail.configuration.confirmsAtOnce.contains(request.direction) {
                entry.status = .settled(at: now)
                entry.finalizedAt = now
            } else {
                rail.pending.insert(request.reference)
            }
            rail.book[request.reference] = entry
            rails[id] = rail
            let event = callback(for: entry, on: id, at: now)
            deliveries = emit(event, on: id)
            receipt = RailReceipt(rail: id, reference: request.reference, bankID: bankID, status: entry.status,
                                  acceptedAt: now, isReplay: false)
        }
        await deliver(deliveries)
        try await answer(after: latency, timesOut: timesOut, timeout: timeout)
        return receipt
    }

    public func status(of reference: RailReference, on id: RailID, timeout: Duration) async throws -> RailReceipt? {
        guard var rail = rails[id] else { throw RailCallError.invalidRequest("no rail \(id)") }
        let faults = rail.configuration.faults
        if faults.outage { throw RailCallError.unavailable("\(id) is down") }
        let latency = faults.latency.sample(using: &rail.random)
        let timesOut = rail.random.chance(faults.timeoutRate)
        rails[id] = rail
        let deliveries = finalizeIfDue(reference, on: id, now: clock.now())
        let receipt = rails[id]!.book[reference].map {
            RailReceipt(rail: id, reference: reference, bankID: $0.bankID, status: $0.status, acceptedAt: $0.acceptedAt,
                        isReplay: false)
        }
        await deliver(deliveries)
        try await answer(after: latency, timesOut: timesOut, timeout: timeout)
        return receipt
    }

    /// Writes the day's report, with the rail's report faults, to `path`.
    public func writeSettlementReport(for day: SettlementDay, on id: RailID, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        guard var rail = rails[id] else { throw RailCallError.invalidRequest("no rail \(id)") }
        let faults = rail.configuration.faults
        if faults.outage { throw RailCallError.unavailable("\(id) is down") }
        let latency = faults.latency.sample(using: &rail.random)
        let timesOut = rail.random.chance(faults.timeoutRate)
        rails[id] = rail
        await settleDue()
        try await answer(after: latency, timesOut: timesOut, timeout: timeout)
        let writer = try SettlementReportWriter(path: path)
        for line in try settlementReport(for: day, on: id).lines { try writer.write(line) }
        try writer.finish()
        return SettlementReportDownload(rail: id, day: day, path: path, bytes: writer.bytesWritten)
    }

    /// Makes every movement that is due final, delivering its callbacks. Returns how many.
    /// Does nothing on a rail in outage.
    @discardableResult
    public func settleDue() async -> Int {
        let now = clock.now()
        var deliveries: [RailCallback] = []
        var count = 0
        for id in order where !(rails[id]!.configuration.faults.outage) {
            let due = rails[id]!.pending
                .compactMap { reference in rails[id]!.book[reference].flatMap { $0.dueAt <= now ? $0 : nil } }
                .sorted { ($0.dueAt, $0.request.reference) < ($1.dueAt, $1.request.reference) }
            for entry in due {
                deliveries += finalizeIfDue(entry.request.reference, on: id, now: now)
                count += 1
            }
        }
        await deliver(deliveries)
        return count
    }

    // MARK: Settlement reports

    /// The day's lines as the bank really booked them (no report faults): final states reached that day.
    public func bookedLines(for day: SettlementDay, on id: RailID) throws(LucidError) -> [SettlementLine] {
        try state(id).book.values
            .compactMap { entry -> SettlementLine? in
                guard let finalizedAt = entry.finalizedAt, day.contains(finalizedAt) else { return nil }
                let state: SettlementState
                switch entry.status {
                case .settled: state = .settled
                case .failed: state = .failed
                case .pending: return nil
                }
                return SettlementLine(valueDate: day, rail: id, reference: entry.request.reference,
                                      direction: entry.request.direction, amountMinorUnits: entry.request.amount.minorUnits,
                                      currency: entry.request.amount.currency, finalState: state, settledAt: finalizedAt,
                                      bankID: entry.bankID)
            }
            .sorted { ($0.settledAt, $0.reference) < ($1.settledAt, $1.reference) }
    }

    /// The day's report as the bank sends it: the booked lines with the rail's report
    /// faults applied, and the list of what was changed. The same every time it is asked.
    public func settlementReport(for day: SettlementDay, on id: RailID) throws(LucidError)
        -> (lines: [SettlementLine], injected: [InjectedReportFault]) {
        let faults = try state(id).configuration.faults.report
        var lines: [SettlementLine] = []
        var injected: [InjectedReportFault] = []
        for booked in try bookedLines(for: day, on: id) {
            // One generator per line keyed by the reference: the same report on every download.
            var random = SeededRandom(seed: StableHash.of(String(seed), id.rawValue, booked.reference.rawValue, "report"))
            let missing = random.chance(faults.missingLineRate)
            let amountOff = random.chance(faults.amountOffRate)
            let offBy = Int64(1 + random.next() % 100)
            let flip = random.chance(faults.stateFlipRate)
            let duplicate = random.chance(faults.duplicateLineRate)
            let extra = random.chance(faults.extraLineRate)
            let extraAmount = Int64(100 + random.next() % 100_000)
            if missing {
                injected.append(.missingLine(booked.reference))
                continue
            }
            var line = booked
            if amountOff {
                let delta = line.amountMinorUnits > offBy ? -offBy : offBy
                line.amountMinorUnits += delta
                injected.append(.amountOff(line.reference, byMinorUnits: delta))
            }
            if flip {
                line.finalState = line.finalState == .settled ? .failed : .settled
                injected.append(.stateFlipped(line.reference))
            }
            lines.append(line)
            if duplicate {
                lines.append(line)
                injected.append(.duplicateLine(line.reference))
            }
            if extra {
                let ghost = RailReference("X" + String(StableHash.of(booked.reference.rawValue, "ghost"), radix: 16))
                lines.append(SettlementLine(valueDate: day, rail: id, reference: ghost, direction: booked.direction,
                                            amountMinorUnits: extraAmount, currency: booked.currency, finalState: .settled,
                                            settledAt: booked.settledAt, bankID: booked.bankID + "X"))
                injected.append(.extraLine(ghost))
            }
        }
        return (lines, injected)
    }

    // MARK: Internals

    /// Waits the call's latency, or the caller's whole timeout when the answer is lost.
    private func answer(after latency: Duration, timesOut: Bool, timeout: Duration) async throws {
        if timesOut || latency > timeout {
            try await sleeper.sleep(for: timeout)
            throw RailCallError.timedOut
        }
        if latency > .zero { try await sleeper.sleep(for: latency) }
    }

    /// Makes one movement final if it is due; returns the callbacks to deliver.
    private func finalizeIfDue(_ reference: RailReference, on id: RailID, now: Timestamp) -> [RailCallback] {
        guard var entry = rails[id]!.book[reference], case .pending = entry.status, entry.dueAt <= now,
              !rails[id]!.configuration.faults.outage else { return [] }
        if let failure = entry.plannedFailure {
            entry.status = .failed(reason: failure, message: failure.defaultMessage)
        } else {
            entry.status = .settled(at: entry.dueAt)
        }
        entry.finalizedAt = entry.dueAt
        rails[id]!.book[reference] = entry
        rails[id]!.pending.remove(reference)
        return emit(callback(for: entry, on: id, at: entry.dueAt), on: id)
    }

    private func callback(for entry: BookEntry, on id: RailID, at time: Timestamp) -> RailCallback {
        eventSequence += 1
        let number = String(eventSequence)
        return RailCallback(eventID: "evt_\(id)_\(epoch)_" + String(repeating: "0", count: max(0, 8 - number.count)) + number,
                            rail: id, reference: entry.request.reference, bankID: entry.bankID, status: entry.status,
                            occurredAt: time)
    }

    /// Applies the callback faults: lost, held back (a `pending` one, delivered after the
    /// final one), duplicated. Returns what to deliver now, in order.
    private func emit(_ callback: RailCallback, on id: RailID) -> [RailCallback] {
        let faults = rails[id]!.configuration.faults
        let lost = rails[id]!.random.chance(faults.lostCallbackRate)
        let holdBack = rails[id]!.random.chance(faults.outOfOrderCallbackRate)
        let duplicate = rails[id]!.random.chance(faults.duplicateCallbackRate)
        var out: [RailCallback] = []
        if !lost {
            if !callback.status.isFinal && holdBack {
                rails[id]!.heldCallbacks[callback.reference] = callback
                return []
            }
            out.append(callback)
            if duplicate { out.append(callback) }
        }
        if callback.status.isFinal, let held = rails[id]!.heldCallbacks.removeValue(forKey: callback.reference) {
            out.append(held)
        }
        return out
    }

    private func deliver(_ callbacks: [RailCallback]) async {
        guard let sink else { return }
        for callback in callbacks { await sink(callback) }
    }

    static func magicFailure(_ account: MaskedBankAccount) -> RailFailureReason? {
        switch account.last4 {
        case "0001": return .insufficientFundsAtBank
        case "0002": return .accountClosed
        case "0003": return .limitExceeded
        case "0004": return .bankMaintenance
        case "0005": return .rejected
        default: return nil
        }
    }

    static func bankID(_ rail: RailID, _ sequence: Int) -> String {
        let prefix = rail.rawValue.uppercased().filter { $0 != "-" }
        let number = String(sequence)
        return prefix + "-" + String(repeating: "0", count: max(0, 8 - number.count)) + number
    }
}

/// One rail of a `SandboxBank`, as a `PaymentRail`.
public struct SandboxRail: PaymentRail {
    public let id: RailID
    public let bank: SandboxBank

    public func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        try await bank.submit(request, on: id, timeout: timeout)
    }

    public func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? {
        try await bank.status(of: reference, on: id, timeout: timeout)
    }

    public func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        try await bank.writeSettlementReport(for: day, on: id, to: path, timeout: timeout)
    }
}
