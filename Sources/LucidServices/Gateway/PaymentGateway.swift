import AsyncHTTPClient
import Foundation
import Logging
import LucidCore
import LucidGateway
import LucidStore
import Synchronization

/// The store payment rails need: the ledger, notifications and audit, and rail items.
public typealias GatewayStore = IdentityStore & PaymentRailStore

/// What applying a rail's status (from a callback, a submit answer or a status check) did.
public enum RailApplyOutcome: String, Sendable, Hashable {
    /// The item moved on: its expected time, or its transfer posted or voided.
    case applied
    /// Already known: nothing changed.
    case duplicate
    /// Older than what is known (a late `pending`): nothing changed.
    case stale
    /// Contradicts what is known (the rail or the ledger went the other way): an operator alert is open.
    case conflict
    /// Someone else (another process, a concurrent callback, an operator) resolved it the same way first.
    case alreadyResolved = "already_resolved"
    /// No item with that reference on that rail.
    case unknownReference = "unknown_reference"
}

/// Wires the payment rails to the wallet: chooses a rail, sends top-ups and withdrawals to it
/// behind the ledger's two-phase transfers, applies what the rail says (callbacks, submit
/// answers, status checks) in any order and any number of times, sweeps stuck items, and
/// reconciles settlement reports against the ledger.
///
/// Money never moves here except through ledger commands: a movement's transfer is created
/// pending together with its rail item, and posted or voided together with the item's new
/// state, its audit entry and the customer's notification. The ledger refuses a second post
/// or void, which is what makes duplicate callbacks, racing processes and retries harmless:
/// such a refusal means "already resolved", not an error.
public final class PaymentGateway: Sendable {
    public let directory: RailDirectory
    public let configuration: GatewayConfiguration
    /// The sandbox bank hosting the rails in this process (nil when they are reached over HTTP).
    public let sandbox: SandboxBank?
    let store: any GatewayStore
    let clock: any WallClock
    let ids: any IDGenerator
    let events: SecurityEvents
    let logger: Logger
    let authenticators: [RailID: CallbackAuthenticator]
    let withdrawalExpectedSeconds: Int64
    /// This process as a sweeper: claims carry it so two processes never check one item at once.
    let instance: String
    /// The HTTP client of `HTTPRail`s (shut down with the service).
    public let httpClient: HTTPClient?

    private init(directory: RailDirectory, configuration: GatewayConfiguration, sandbox: SandboxBank?, store: any GatewayStore,
                 clock: any WallClock, ids: any IDGenerator, logger: Logger, authenticators: [RailID: CallbackAuthenticator],
                 withdrawalExpectedSeconds: Int64, httpClient: HTTPClient?) {
        self.directory = directory
        self.configuration = configuration
        self.sandbox = sandbox
        self.store = store
        self.clock = clock
        self.ids = ids
        events = SecurityEvents(ids: ids, clock: clock)
        self.logger = logger
        self.authenticators = authenticators
        self.withdrawalExpectedSeconds = withdrawalExpectedSeconds
        instance = "process:" + ids.next()
        self.httpClient = httpClient
    }

    /// Builds the rails (in process, or over HTTP), each behind its `ResilientRail`.
    public static func make(configuration: GatewayConfiguration, store: any GatewayStore, clock: any WallClock,
                            ids: any IDGenerator, withdrawalExpectedSeconds: Int64,
                            logger: Logger = Logger(label: "lucid.gateway")) async throws -> PaymentGateway {
        var configuration = try configuration.validated()
        if configuration.callbackSecrets.isEmpty {
            // In process nobody signs callbacks over HTTP; the route still needs a key nobody knows.
            var generator = SystemRandomNumberGenerator()
            configuration.callbackSecrets = [(0..<32).map { _ in String(UInt8.random(in: 0...15, using: &generator), radix: 16) }.joined()]
        }
        let sleeper = configuration.sleeper ?? TaskSleeper()
        var sandbox: SandboxBank?
        var client: HTTPClient?
        let rails: [any PaymentRail]
        if let url = configuration.sandboxBankURL {
            let http = HTTPRail.makeClient()
            client = http
            rails = configuration.rails.map { HTTPRail(id: $0.id, baseURL: url, client: http, logger: logger) }
        } else if let bank = configuration.sandboxBank {
            sandbox = bank
            rails = configuration.rails.map { bank.rail($0.id) }
        } else {
            let bank = SandboxBank(
                rails: configuration.rails.map {
                    SandboxRailConfiguration(id: $0.id, currencies: $0.currencies,
                                             settlementDelaySeconds: configuration.sandboxSettlementDelaySeconds,
                                             faults: configuration.sandboxFaults[$0.id] ?? .none,
                                             confirmsAtOnce: configuration.sandboxConfirmsAtOnce)
                },
                seed: configuration.sandboxSeed, clock: clock, sleeper: sleeper)
            sandbox = bank
            rails = configuration.rails.map { bank.rail($0.id) }
        }
        let entries = zip(configuration.rails, rails).enumerated().map { index, pair in
            RailDirectory.Entry(descriptor: pair.0.descriptor, rail: ResilientRail(
                pair.1, policy: configuration.resilience, clock: clock, sleeper: sleeper,
                random: SeededRandom(seed: configuration.sleeper == nil ? UInt64.random(in: .min ... .max)
                                                                         : configuration.sandboxSeed &+ UInt64(index)),
                logger: logger))
        }
        var authenticators: [RailID: CallbackAuthenticator] = [:]
        for rail in configuration.rails {
            authenticators[rail.id] = CallbackAuthenticator(
                verifier: CallbackVerifier(secrets: configuration.secrets(for: rail), toleranceSeconds: configuration.callbackToleranceSeconds),
                replayGuard: StoreCallbackReplayGuard(store: store, rail: rail.id), clock: clock)
        }
        let gateway = PaymentGateway(directory: RailDirectory(entries), configuration: configuration, sandbox: sandbox, store: store,
                                     clock: clock, ids: ids, logger: logger, authenticators: authenticators,
                                     withdrawalExpectedSeconds: withdrawalExpectedSeconds, httpClient: client)
        if let sandbox {
            await sandbox.setCallbackSink { [weak gateway] callback in await gateway?.receiveInProcess(callback) }
        }
        return gateway
    }

    // MARK: Choosing a rail

    /// The rail a movement goes through: the customer's choice (checked), else the best rail for the
    /// currency and direction. Refuses with `gateway_unavailable` (naming an operational alternative
    /// when there is one) before anything is written when the rail is known to be down.
    func chooseRail(_ requested: RailID?, currency: Currency, direction: RailDirection) throws(LucidError) -> RailID {
        if let requested {
            let descriptor = try directory.descriptor(requested)
            guard descriptor.supports(currency, direction) else {
                throw LucidError.invalidField("rail", "\(requested) does not move \(currency.code) \(direction == .topUp ? "top-ups" : "withdrawals")")
            }
            if try directory.health(of: requested) == .outage { throw unavailable(requested, currency: currency, direction: direction) }
            return requested
        }
        guard let best = directory.rails(for: currency, direction: direction).first else {
            throw LucidError(.unsupportedCurrency, ["currency": .text(currency.code)],
                             cause: "no rail moves \(currency.code) \(direction.rawValue)")
        }
        if (try? directory.health(of: best)) == .outage { throw unavailable(best, currency: currency, direction: direction) }
        return best
    }

    /// `gateway_unavailable` for `rail`, with an operational alternative and the breaker's retry time when known.
    func unavailable(_ rail: RailID, currency: Currency, direction: RailDirection) -> LucidError {
        var params: [String: ErrorParam] = ["rail": .text(rail.rawValue)]
        if let alternative = directory.operationalRail(for: currency, direction: direction, excluding: rail) {
            params["alternative_rail"] = .text(alternative.rawValue)
        }
        if case .open(let until)? = try? directory.rail(rail).breakerState {
            let seconds = max(1, (until.millisecondsSinceEpoch - clock.now().millisecondsSinceEpoch + 999) / 1000)
            params["retry_after_seconds"] = .int(seconds)
        }
        return LucidError(.gatewayUnavailable, params, cause: "rail \(rail) is in outage")
    }

    /// Parses a rail name from a request.
    static func railID(_ text: String?) throws(LucidError) -> RailID? {
        guard let text else { return nil }
        guard let rail = RailID(parsing: text) else { throw LucidError(.railNotFound, ["rail": .text(String(text.prefix(32)))]) }
        return rail
    }

    // MARK: New items

    /// The rail item created with a movement's pending transfer.
    func newItem(_ id: TransferID, rail: RailID, direction: RailDirection, user: UserID, amount: Money,
                 account: MaskedBankAccount, now: Timestamp) -> RailItemRecord {
        let expectedSeconds = direction == .topUp ? configuration.topUpExpectedSeconds : withdrawalExpectedSeconds
        let expectedBy = now.adding(seconds: expectedSeconds)
        return RailItemRecord(reference: id, rail: rail.rawValue, direction: direction.rawValue, userID: user,
                              amount: amount.minorUnits, currency: amount.currency, accountBank: account.bank,
                              accountLast4: account.last4, expectedBy: expectedBy,
                              nextCheckAt: expectedBy.adding(seconds: configuration.sweepGraceSeconds), createdAt: now)
    }

    /// Sends a movement whose pending transfer and item were just written, and applies the answer.
    ///
    /// - Every attempt refused (`gateway_unavailable`): nothing was booked, so the transfer is voided at
    ///   once (no hold left behind) and the error, naming an alternative rail, goes back to the customer.
    /// - Timed out (`gateway_timeout`): the rail may have it; it stays pending for the callback or the sweeper.
    /// - Refused as malformed or conflicting: a bug; it stays pending and an operator is alerted.
    func send(_ request: RailRequest, item: RailItemRecord) async throws {
        let rail = RailID(item.rail)
        do {
            let receipt = try await directory.submit(request, via: rail)
            try await store.markRailItemSubmitted(item.reference, at: clock.now(), bankReference: receipt.bankID, reason: nil)
            _ = try await apply(receipt.status, bankID: receipt.bankID, occurredAt: receipt.acceptedAt, to: item.reference, rail: rail,
                                actor: "system:gateway")
        } catch let error as LucidError where error.code == .gatewayUnavailable {
            _ = try await resolve(item, .void, railState: nil, railReason: nil, reason: "gateway_unavailable", finalAt: nil,
                                  bankID: nil, actor: "system:gateway", notify: false)
            throw error
        } catch let error as LucidError where error.code == .gatewayTimeout {
            logger.warning("rail did not answer; the movement stays pending", metadata: ["rail": "\(rail)", "reference": "\(item.reference)"])
            try await store.markRailItemSubmitted(item.reference, at: clock.now(), bankReference: nil, reason: "bank_not_responding")
        } catch let error as LucidError where error.code == .internalError {
            logger.error("rail refused a movement", metadata: ["rail": "\(rail)", "reference": "\(item.reference)",
                                                               "cause": "\(error.cause ?? "")"])
            try await store.markRailItemSubmitted(item.reference, at: clock.now(), bankReference: nil, reason: "under_review")
            _ = try await store.raiseAlert(alert("rail_refused", item, ["detail": .text(error.cause ?? "refused")]), effects: .none)
        }
    }

    // MARK: Applying what the rail says

    /// Applies one status the rail reported for `reference`, whatever the order and however often it
    /// arrives: the item's known status and the incoming one are merged by rank (`RailItemStatus.merging`).
    /// A final status posts (settled) or voids (failed) the transfer through the ledger, with the item's
    /// change, an audit entry and the customer's notification in the same transaction.
    @discardableResult
    func apply(_ incoming: RailItemStatus, bankID: String?, occurredAt: Timestamp?, to reference: TransferID, rail: RailID,
               actor: String) async throws -> RailApplyOutcome {
        guard let item = try await store.railItem(reference), item.rail == rail.rawValue else { return .unknownReference }
        let known = Self.status(of: item)
        switch known.map({ $0.merging(incoming) }) ?? .advanced(incoming) {
        case .duplicate:
            return .duplicate
        case .stale:
            return .stale
        case .conflict:
            try await conflict(item, rail: incoming, detail: "the rail said \(known?.stateName ?? "nothing") before and \(incoming.stateName) now")
            return .conflict
        case .advanced(let status):
            switch status {
            case .pending(let expectedBy):
                guard !item.state.isFinal else { return .stale }
                let changed = try await store.noteRailItemPending(
                    reference, expectedBy: expectedBy, bankReference: bankID,
                    nextCheckAt: expectedBy.adding(seconds: configuration.sweepGraceSeconds))
                return changed ? .applied : .duplicate
            case .settled(let at):
                return try await resolve(item, .post, railState: "settled", railReason: nil, reason: nil, finalAt: at, bankID: bankID,
                                         actor: actor)
            case .failed(let reason, _):
                return try await resolve(item, .void, railState: "failed", railReason: reason.rawValue, reason: reason.rawValue,
                                         finalAt: occurredAt ?? clock.now(), bankID: bankID, actor: actor)
            }
        }
    }

    /// What the rail is known to have said about an item, as a status to merge into.
    static func status(of item: RailItemRecord) -> RailItemStatus? {
        switch item.railState {
        case "pending": return .pending(expectedBy: item.expectedBy)
        case "settled": return .settled(at: item.finalAt ?? item.resolvedAt ?? item.createdAt)
        case "failed":
            let reason = item.railReason.flatMap(RailFailureReason.init(rawValue:)) ?? .rejected
            return .failed(reason: reason, message: reason.defaultMessage)
        default: return nil
        }
    }

    /// Posts or voids an item's transfer with the item's change, audit and notification in one ledger command.
    /// A ledger that already did the same is "already resolved"; one that did the opposite is a conflict.
    func resolve(_ item: RailItemRecord, _ action: PendingAction, railState: String?, railReason: String?, reason: String?,
                 finalAt: Timestamp?, bankID: String?, actor: String, notify: Bool = true) async throws -> RailApplyOutcome {
        let (resolution, effects) = resolution(item, action, railState: railState, railReason: railReason, reason: reason,
                                               finalAt: finalAt, bankID: bankID, actor: actor, notify: notify)
        let state = resolution.state
        let now = resolution.resolvedAt
        do {
            _ = try await store.submit(.resolve(item.reference, action, initiator: actor, effects: effects))
            LedgerMetrics.count(item.direction == "topup" ? .topup : .withdrawal, result: action == .post ? "rail_posted" : "rail_voided")
            logger.info("rail item resolved", metadata: ["reference": "\(item.reference)", "rail": "\(item.rail)",
                                                         "state": "\(state.rawValue)", "by": "\(actor)"])
            return .applied
        } catch let error as LucidError
            where [.transferAlreadyPosted, .transferAlreadyVoided, .transferExpired].contains(error.code) {
            let ledgerPosted = error.code == .transferAlreadyPosted
            if ledgerPosted == (action == .post) {
                try await store.syncRailItem(resolution)
                return .alreadyResolved
            }
            // The ledger went the other way (an operator, an earlier answer): it stands; an operator decides.
            try await store.syncRailItem(RailItemResolution(
                reference: item.reference, state: ledgerPosted ? .posted : .voided, railState: railState, railReason: railReason,
                reason: ledgerPosted ? nil : (item.reason ?? "cancelled"), bankReference: bankID, finalAt: finalAt, resolvedAt: now))
            try await conflict(item, rail: nil, detail: "the ledger \(ledgerPosted ? "posted" : "voided") it, the rail says \(railState ?? "nothing")")
            return .conflict
        }
    }

    /// What posting or voiding an item's transfer carries: the item's new state with what the rail said, the
    /// audit entry, the customer's notification, and the closing of a `stuck_item` alert when it was escalated.
    func resolution(_ item: RailItemRecord, _ action: PendingAction, railState: String?, railReason: String?, reason: String?,
                    finalAt: Timestamp?, bankID: String?, actor: String, notify: Bool) -> (RailItemResolution, SideEffects) {
        let now = clock.now()
        let state: RailItemState = action == .post ? .posted : .voided
        let resolution = RailItemResolution(reference: item.reference, state: state, railState: railState, railReason: railReason,
                                            reason: action == .post ? nil : reason, bankReference: bankID, finalAt: finalAt,
                                            resolvedAt: now)
        var details: [String: ErrorParam] = ["transaction_id": .text(item.reference.rawValue), "rail": .text(item.rail),
                                             "direction": .text(item.direction), "amount": .int(item.amount),
                                             "currency": .text(item.currency.code)]
        if let reason, action == .void { details["reason"] = .text(reason) }
        var effects = SideEffects(audit: [events.audit("rail_item_\(state.rawValue)", actor: actor, target: item.userID, details)],
                                  gateway: [.resolveItem(resolution)])
        if notify { effects.notifications.append(notification(item, action, reason: reason)) }
        if item.state == .escalated {
            effects.gateway.append(.closeStuckAlert(reference: item.reference, by: actor, note: "resolved by the rail's answer", at: now))
        }
        return (resolution, effects)
    }

    /// What the customer is told when a movement is done.
    func notification(_ item: RailItemRecord, _ action: PendingAction, reason: String?) -> OutboxMessage {
        var params: [String: ErrorParam] = ["amount": .int(item.amount), "currency": .text(item.currency.code), "rail": .text(item.rail)]
        if action != .post { params["reason"] = .text(reason ?? "cancelled") }
        let kind: NotificationKind
        switch (item.direction, action) {
        case ("topup", .post): kind = .topUpCredited
        case ("topup", _): kind = .topUpFailed
        case (_, .post): kind = .withdrawalSettled
        default: kind = .withdrawalReturned
        }
        return events.notify(kind, item.userID, params)
    }

    /// Opens a `rail_conflict` alert (once per item while open).
    func conflict(_ item: RailItemRecord, rail incoming: RailItemStatus?, detail: String) async throws {
        var details: [String: ErrorParam] = ["detail": .text(detail), "item_state": .text(item.state.rawValue)]
        if let incoming { details["rail_state"] = .text(incoming.stateName) }
        logger.error("rail conflict", metadata: ["reference": "\(item.reference)", "rail": "\(item.rail)", "detail": "\(detail)"])
        _ = try await store.raiseAlert(alert("rail_conflict", item, details),
                                       effects: SideEffects(audit: [events.audit("rail_conflict", actor: "system:gateway",
                                                                                 target: item.userID, details)]))
    }

    func alert(_ kind: String, _ item: RailItemRecord, _ details: [String: ErrorParam]) -> OperatorAlertRecord {
        var values = details
        values["direction"] = .text(item.direction)
        values["expected_by"] = .text(item.expectedBy.rfc3339)
        if let bank = item.bankReference { values["bank_id"] = .text(bank) }
        return OperatorAlertRecord(id: ids.next(), kind: kind, rail: item.rail, reference: item.reference.rawValue, userID: item.userID,
                                   amount: item.amount, currency: item.currency.code, details: SecurityEvents.json(values),
                                   createdAt: clock.now())
    }

    // MARK: Callbacks

    /// A signed callback posted to `/v1/gateway/callbacks/{rail}`: authenticated (signature, timestamp,
    /// replay), then applied. A failure after the event was claimed gives the claim back, so the rail's
    /// redelivery is accepted.
    public func receiveCallback(rail text: String, signature: String?, body: [UInt8]) async throws -> (outcome: RailApplyOutcome, eventID: String) {
        guard let rail = RailID(parsing: text), let authenticator = authenticators[rail] else {
            throw LucidError(.railNotFound, ["rail": .text(String(text.prefix(GatewayLimits.railIDLengthMax)))])
        }
        let callback = try await authenticator.authenticate(signatureHeader: signature, body: body)
        do {
            guard callback.rail == rail else {
                throw LucidError.invalidField("rail", "the callback is for \(callback.rail), sent to \(rail)'s address")
            }
            return (try await receive(callback), callback.eventID)
        } catch {
            try? await store.releaseCallbackEvent(callback.eventID)
            throw error
        }
    }

    /// Applies an authenticated callback.
    func receive(_ callback: RailCallback) async throws -> RailApplyOutcome {
        let outcome: RailApplyOutcome
        if let reference = TransferID(parsing: callback.reference.rawValue) {
            outcome = try await apply(callback.status, bankID: callback.bankID, occurredAt: callback.occurredAt, to: reference,
                                      rail: callback.rail, actor: "rail:\(callback.rail)")
        } else {
            outcome = .unknownReference
        }
        if outcome == .unknownReference {
            logger.warning("callback for an unknown reference", metadata: ["rail": "\(callback.rail)", "reference": "\(callback.reference)"])
            _ = try await store.raiseAlert(OperatorAlertRecord(
                id: ids.next(), kind: "unknown_callback", rail: callback.rail.rawValue, reference: callback.reference.rawValue,
                userID: nil, amount: nil, currency: nil,
                details: SecurityEvents.json(["event_id": .text(callback.eventID), "bank_id": .text(callback.bankID),
                                              "rail_state": .text(callback.status.stateName)]),
                createdAt: clock.now()), effects: .none)
        }
        return outcome
    }

    /// The in-process sandbox's callbacks: the same replay guard and the same application as over HTTP.
    func receiveInProcess(_ callback: RailCallback) async {
        do {
            guard try await store.claimCallbackEvent(callback.eventID, rail: callback.rail.rawValue, at: clock.now()) else { return }
            do {
                _ = try await receive(callback)
            } catch {
                try? await store.releaseCallbackEvent(callback.eventID)
                throw error
            }
        } catch {
            // The sweeper asks the rail later.
            logger.error("callback not applied", metadata: ["event_id": "\(callback.eventID)", "error": "\(error)"])
        }
    }

    // MARK: Answers to the customer

    /// The answer to a top-up or withdrawal request, from the movement's current state: posted 201; pending 202
    /// for a top-up, 201 for a withdrawal (held); voided by the bank `bank_declined`; voided because no rail
    /// took it `gateway_unavailable` (naming an alternative); anything else the transaction with 201.
    func answer(_ id: TransferID, reader: UserID, direction: RailDirection) async throws -> (TransactionView, Int) {
        guard let record = try await store.transaction(id) else { throw LucidError(.internalError, cause: "transaction \(id) vanished") }
        let view = TransactionView(record, reader: reader)
        switch record.state {
        case .posted: return (view, 201)
        case .pending: return (view, direction == .topUp || view.reason == SecurityNote.heldReason ? 202 : 201)
        case .voided, .expired, .failed:
            guard let item = try await store.railItem(id) else { return (view, 201) }
            if let code = item.railReason ?? item.reason, RailFailureReason(rawValue: code) != nil {
                throw LucidError(.bankDeclined, ["rail": .text(item.rail), "bank_reason": .text(code)])
            }
            if item.reason == "gateway_unavailable" {
                throw unavailable(RailID(item.rail), currency: item.currency, direction: direction)
            }
            return (view, 201)
        }
    }

    /// A request whose idempotency key was used before: the first movement's current answer. While the first
    /// request is still talking to the rail (a concurrent retry), waits for it, up to what its retries may take.
    func replay(_ claim: IdempotencyClaim, reader: UserID, direction: RailDirection) async throws -> (TransactionView, Int)? {
        guard let record = try await store.idempotentResult(scope: claim.scope, key: claim.key) else { return nil }
        guard record.requestHash == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
        return try await replayed(record.transactionID, reader: reader, direction: direction)
    }

    func replayed(_ id: TransferID, reader: UserID, direction: RailDirection) async throws -> (TransactionView, Int) {
        let policy = configuration.resilience
        let patience = policy.callTimeout * policy.attemptsMax + policy.backoffMax * policy.attemptsMax
        let deadline = ContinuousClock.now + min(patience, .seconds(60))
        var wait = Duration.milliseconds(5)
        while let item = try await store.railItem(id), item.state == .pending, item.submittedAt == nil, item.railState == nil,
              item.reason != SecurityNote.heldReason, ContinuousClock.now < deadline {
            try await Task.sleep(for: wait)
            wait = min(wait * 2, .milliseconds(200))
        }
        return try await answer(id, reader: reader, direction: direction)
    }

    /// How the account linked to the wallet at sign-up is shown (`LINKED ****0000`).
    public static let linkedAccountBank = "LINKED"

    /// The bank account of a movement: the customer's (bank code and last four digits given), or the one
    /// linked to the wallet; the holder is the customer's masked name.
    func account(_ input: BankAccountInput?, for user: UserRecord) throws(LucidError) -> MaskedBankAccount {
        let holder = Mask.name(user.displayName)
        guard let input else { return MaskedBankAccount(bank: Self.linkedAccountBank, last4: "0000", holder: holder) }
        return try MaskedBankAccount(bank: input.bank, last4: input.last4, holder: holder).validated()
    }

    // MARK: Withdrawals held by risk monitoring

    /// The next check of an item risk holds for review: never, until it is released (sent) or voided.
    static let heldUntilReleased = Timestamp(millisecondsSinceEpoch: 253_402_300_799_000) // 9999-12-31

    /// Where a transaction held by risk monitoring stands at the rails.
    public enum ReviewHold: Sendable { case notARailMovement, heldUnsent, released }

    /// Whether `id` is a rail movement, and if so whether it still waits unsent for its review.
    public func reviewHold(of id: TransferID) async throws -> ReviewHold {
        guard let item = try await store.railItem(id) else { return .notARailMovement }
        return item.state == .pending && item.submittedAt == nil && item.reason == SecurityNote.heldReason ? .heldUnsent : .released
    }

    /// Sends a withdrawal risk held, now that an operator approved it. The item is released first (a new
    /// expected time, the sweeper's schedule): that is the commit point, so a crash before the rail is asked
    /// leaves an item the sweeper finds and settles like any unanswered one. False when it was not held.
    public func sendApproved(_ id: TransferID) async throws -> Bool {
        guard let item = try await store.railItem(id), item.state == .pending, item.reason == SecurityNote.heldReason else {
            return false
        }
        let expectedBy = clock.now().adding(seconds: withdrawalExpectedSeconds)
        guard try await store.releaseHeldRailItem(id, heldReason: SecurityNote.heldReason, expectedBy: expectedBy,
                                                  nextCheckAt: expectedBy.adding(seconds: configuration.sweepGraceSeconds)) else {
            return false
        }
        let holder = try await store.user(item.userID).map { Mask.name($0.displayName) } ?? "*"
        let request = RailRequest(reference: RailReference(id.rawValue), direction: .withdrawal, amount: Money(item.amount, item.currency),
                                  account: MaskedBankAccount(bank: item.accountBank, last4: item.accountLast4, holder: holder))
        do {
            try await send(request, item: item)
        } catch let error as LucidError where error.code == .gatewayUnavailable {
            // Every attempt was refused, so `send` voided the hold: the money is back; the customer is told why.
            try await store.writeEffects(SideEffects(notifications: [notification(item, .void, reason: "gateway_unavailable")]))
            throw error
        }
        return true
    }

    /// The rail item change a void of a held withdrawal carries (rejected or expired in review).
    func heldVoid(_ id: TransferID, reason: String) -> GatewayEffect {
        .resolveItem(RailItemResolution(reference: id, state: .voided, railState: nil, reason: reason, bankReference: nil,
                                        finalAt: nil, resolvedAt: clock.now()))
    }

    /// The rail item change an operator's post or void of a rail movement (`/v1/ops/transactions/{id}/post|void`) carries.
    public func operatorResolution(of id: TransferID, _ action: PendingAction) async throws -> GatewayEffect? {
        guard let item = try await store.railItem(id), !item.state.isFinal else { return nil }
        return .resolveItem(RailItemResolution(reference: id, state: action == .post ? .posted : .voided, railState: nil,
                                               reason: action == .post ? nil : "operator_decision", bankReference: nil,
                                               finalAt: nil, resolvedAt: clock.now()))
    }
}

/// A bank account a customer names for a top-up or withdrawal: bank code and last four digits.
public struct BankAccountInput: Sendable, Hashable {
    public var bank: String
    public var last4: String

    public init(bank: String, last4: String) {
        self.bank = bank
        self.last4 = last4
    }
}

/// Callback event ids in the database: a replay is refused whichever process receives it.
struct StoreCallbackReplayGuard: CallbackReplayGuard {
    let store: any PaymentRailStore
    let rail: RailID

    func claim(eventID: String, at time: Timestamp) async throws -> Bool {
        try await store.claimCallbackEvent(eventID, rail: rail.rawValue, at: time)
    }

    func release(eventID: String) async throws {
        try await store.releaseCallbackEvent(eventID)
    }
}
