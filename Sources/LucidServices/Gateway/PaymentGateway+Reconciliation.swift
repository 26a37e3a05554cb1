import Foundation
import Logging
import LucidCore
import LucidGateway
import LucidStore
import Synchronization

/// A finished reconciliation: the stored run, the full report, and the exceptions as stored (with their alerts).
public struct ReconciliationOutcome: Sendable {
    public let run: ReconciliationRunRecord
    public let report: ReconciliationReport
    public let exceptions: [ReconciliationExceptionRecord]
}

extension PaymentGateway {
    /// Reconciles `rail`'s settlement report for `day` against the ledger: the report at `reportPath`, or
    /// downloaded from the rail when nil. The run, its exceptions and an operator alert per exception (and
    /// per currency whose clearing account disagrees with the rail) are stored. Returns nil when this is
    /// the scheduled run of a rail and day that another process already did or is doing.
    public func reconcile(rail: RailID, day: SettlementDay, reportPath: String? = nil, triggeredBy: String,
                          scheduled: Bool = false) async throws -> ReconciliationOutcome? {
        if reportPath == nil { _ = try directory.descriptor(rail) }
        var run = ReconciliationRunRecord(id: ids.next(), rail: rail.rawValue, day: day.description, triggeredBy: triggeredBy,
                                          scheduled: scheduled, startedAt: clock.now())
        guard try await store.startReconciliation(run) else { return nil }
        do {
            let path: String
            if let reportPath {
                path = reportPath
            } else {
                try FileManager.default.createDirectory(atPath: configuration.reportFolder, withIntermediateDirectories: true)
                path = (configuration.reportFolder as NSString).appendingPathComponent("\(rail)-\(day)-\(run.id).csv")
                _ = try await directory.downloadSettlementReport(for: day, via: rail, to: path)
            }
            let report = try await Reconciler(ledger: StoreReconciliationLedger(store: store)).reconcile(reportAt: path, rail: rail, day: day)
            run.state = .completed
            run.finishedAt = clock.now()
            run.linesRead = report.linesRead
            run.matched = report.count(.matched)
            run.exceptionCount = report.exceptionCount
            run.malformedCount = report.malformedCount
            run.inFlight = report.ledgerInFlight
            run.clean = report.isClean
            run.summary = try await summary(report, rail: rail)
            let exceptions = report.exceptions.enumerated().map { position, e in
                ReconciliationExceptionRecord(
                    position: position, kind: e.kind.rawValue, reference: e.reference.rawValue, direction: e.direction.rawValue,
                    lineNumber: e.lineNumber, railAmount: e.railAmountMinorUnits, ledgerAmount: e.ledgerAmountMinorUnits,
                    currency: e.currency, railState: e.railState?.rawValue, ledgerState: e.ledgerState?.rawValue, bankID: e.bankID,
                    detail: e.detail)
            }
            let ids = self.ids
            let stored = try await store.finishReconciliation(run, exceptions: exceptions, newAlertID: { ids.next() })
            for (currency, difference) in report.clearingDifferences.sorted(by: { $0.key < $1.key }) {
                _ = try await store.raiseAlert(OperatorAlertRecord(
                    id: ids.next(), kind: "clearing_difference", rail: rail.rawValue, reference: "\(day):\(currency)", userID: nil,
                    amount: difference, currency: currency,
                    details: SecurityEvents.json([
                        "day": .text(day.description), "rail_net_minor": .int(report.railNetMinorUnits[currency] ?? 0),
                        "ledger_net_minor": .int(report.ledgerNetMinorUnits[currency] ?? 0), "difference_minor": .int(difference),
                    ]),
                    createdAt: clock.now(), runID: run.id), effects: .none)
            }
            logger.notice("reconciliation finished", metadata: [
                "rail": "\(rail)", "day": "\(day)", "lines": "\(report.linesRead)", "exceptions": "\(report.exceptionCount)",
                "clean": "\(report.isClean)",
            ])
            return ReconciliationOutcome(run: run, report: report, exceptions: stored)
        } catch {
            run.state = .failed
            run.finishedAt = clock.now()
            run.error = String((error as? LucidError).map { "\($0.code.rawValue): \($0.cause ?? "")" } ?? "\(error)").prefix(500)
                .description
            _ = try? await store.finishReconciliation(run, exceptions: [], newAlertID: { "" })
            throw error
        }
    }

    /// The report without its exceptions, plus the rail's clearing account balances now.
    func summary(_ report: ReconciliationReport, rail: RailID) async throws -> String {
        var object = (try? JSONSerialization.jsonObject(with: Data(report.json(includingExceptions: false)))) as? [String: Any] ?? [:]
        object.removeValue(forKey: "exceptions")
        var accounts: [String: Any] = [:]
        for (currency, balance) in try await store.clearingBalances(rail: rail.rawValue) {
            accounts[currency.code] = ["posted": balance.posted, "pending_in": balance.pendingIn, "pending_out": balance.pendingOut]
        }
        object["clearing_accounts"] = accounts
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The scheduled run: every rail, the UTC day before `now`.
    public func reconcileYesterday() async {
        let day = SettlementDay(containing: clock.now()).adding(days: -1)
        _ = try? await store.failStaleReconciliations(startedBefore: clock.now().adding(seconds: -6 * 3_600), at: clock.now())
        for rail in directory.railIDs {
            do {
                if try await reconcile(rail: rail, day: day, triggeredBy: "schedule", scheduled: true) == nil {
                    logger.info("scheduled reconciliation already done elsewhere", metadata: ["rail": "\(rail)", "day": "\(day)"])
                }
            } catch {
                logger.error("scheduled reconciliation failed", metadata: ["rail": "\(rail)", "day": "\(day)", "error": "\(error)"])
            }
        }
    }
}

/// The ledger side of reconciliation, read from the store in batches: lookups by reference, and the
/// day's items of a rail by keyset pages, so a day of any size is never loaded whole.
public struct StoreReconciliationLedger: ReconciliationLedger {
    /// Items per page of `items(rail:day:)`.
    public static let pageSize = 1_000
    let store: any PaymentRailStore

    public init(store: any PaymentRailStore) { self.store = store }

    public func records(references: [RailReference]) async throws -> [RailReference: LedgerRailRecord] {
        var out: [RailReference: LedgerRailRecord] = [:]
        for record in try await store.railLedgerRecords(references: references.map(\.rawValue)) {
            if let converted = Self.convert(record) { out[converted.reference] = converted }
        }
        return out
    }

    public func items(rail: RailID, day: SettlementDay) -> AsyncThrowingStream<[LedgerRailRecord], any Error> {
        let store = self.store
        let fetcher = PageFetcher()
        @Sendable func fetch(after cursor: RailLedgerItemsCursor?) -> PageFetcher.Fetch {
            Task { try await store.railLedgerItems(rail: rail.rawValue, dayStart: day.start, dayEnd: day.end, after: cursor,
                                                   limit: Self.pageSize) }
        }
        return AsyncThrowingStream(unfolding: {
            // Each page is asked for while the one before is being checked (should the reader stop early,
            // the page asked for ahead is one read that finishes unused).
            while let current = fetcher.take(orStart: { fetch(after: nil) }) {
                let page = try await current.value
                if let next = page.next { fetcher.put(fetch(after: next)) } else { fetcher.finish() }
                // An empty page between the resolved and the waiting items is skipped, not an end.
                if !page.items.isEmpty { return page.items.compactMap(Self.convert) }
            }
            return nil
        })
    }

    /// The page being fetched ahead for one `items` stream.
    final class PageFetcher: Sendable {
        typealias Fetch = Task<(items: [RailLedgerRecord], next: RailLedgerItemsCursor?), any Error>
        private enum State { case notStarted, fetching(Fetch), finished }
        private let state = Mutex(State.notStarted)

        /// The fetch in flight (starting the first one if none was), or nil when the pages are done.
        func take(orStart start: () -> Fetch) -> Fetch? {
            state.withLock { state in
                switch state {
                case .notStarted:
                    state = .finished
                    return start()
                case .fetching(let fetch):
                    state = .finished
                    return fetch
                case .finished:
                    return nil
                }
            }
        }

        func put(_ fetch: Fetch) { state.withLock { $0 = .fetching(fetch) } }

        func finish() { state.withLock { $0 = .finished } }
    }

    static func convert(_ record: RailLedgerRecord) -> LedgerRailRecord? {
        guard let reference = RailReference(parsing: record.reference), let rail = RailID(parsing: record.rail),
              let direction = RailDirection(rawValue: record.direction), let state = LedgerRailState(rawValue: record.state) else {
            return nil
        }
        return LedgerRailRecord(reference: reference, rail: rail, direction: direction, amount: Money(record.amount, record.currency),
                                state: state)
    }
}
