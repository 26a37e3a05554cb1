import Logging
import LucidCore
import LucidGateway
import LucidStore
import Metrics

/// The use cases of the wallet: one entry point per operation, each wiring
/// the pure rules of `LucidCore` to the store, the clock and the ID generator.
///
/// Handlers in `LucidHTTP` and commands in `lucid` call these and nothing
/// below them, so every operation behaves the same whichever edge starts it.
public struct WalletService: Sendable {
    public let store: any IdentityStore
    public let configuration: WalletConfiguration
    public let clock: any WallClock
    public let ids: any IDGenerator
    public let identity: IdentityService
    /// The payment rails top-ups and withdrawals go through (nil in tools that move no money).
    public let gateway: PaymentGateway?
    /// Risk monitoring of every movement of money (nil: off). See `Risk/WalletService+Risk.swift`.
    public var risk: RiskMonitor?
    let events: SecurityEvents
    let logger: Logger

    public init(store: any IdentityStore, configuration: WalletConfiguration, clock: any WallClock, ids: any IDGenerator,
                identity: IdentityService, gateway: PaymentGateway? = nil, logger: Logger = Logger(label: "lucid.services")) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.ids = ids
        self.identity = identity
        self.gateway = gateway
        self.events = SecurityEvents(ids: ids, clock: clock)
        self.logger = logger
    }

    public func createMerchant(name: String, country: String) async throws -> MerchantRecord {
        let merchant = MerchantRecord(
            id: ids.make(), name: try Validate.text(name, field: "name", max: InputLimits.merchantNameLengthMax),
            country: try Validate.country(country), createdAt: clock.now())
        try await store.createMerchant(merchant)
        return merchant
    }

    // MARK: Money

    public func wallets(of customer: Customer) async throws -> [WalletView] {
        try await store.wallets(of: customer.user.id).map {
            WalletView(currency: $0.currency, posted: $0.balance.posted, pendingOut: $0.balance.pendingOut,
                       pendingIn: $0.balance.pendingIn, available: $0.balance.available)
        }
    }

    /// Credits money from the customer's bank through a payment rail: pending until the rail confirms
    /// (201 when it did at once, 202 while pending). See `WalletService+Rails.swift`.
    public func topUp(_ customer: Customer, amount: Int64, currency: Currency, idempotencyKey: String, rail: String? = nil,
                      bankAccount: BankAccountInput? = nil) async throws -> (TransactionView, Int) {
        try await railTopUp(customer, amount: amount, currency: currency, idempotencyKey: idempotencyKey, rail: rail,
                            bankAccount: bankAccount)
    }

    public func transfer(_ customer: Customer, to payee: PayeeSelector, amount: Int64, currency: Currency, memo: String?,
                         idempotencyKey: String, proof: SecondFactorProof = .init()) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let memo = try memo.map { value throws(LucidError) in try Validate.text(value, field: "memo", max: InputLimits.memoLengthMax, allowEmpty: true) }
        let payeeKey: String
        switch payee {
        case .phone(let phone): payeeKey = "phone:" + phone
        case .email(let email): payeeKey = "email:" + email.lowercased()
        case .userID(let id): payeeKey = "user:" + id.rawValue
        }
        let claim = claim(customer, idempotencyKey, ["transfer", payeeKey, String(amount), currency.code, memo ?? ""])
        try requireMayPay(customer)
        let recipient = try await findPayee(payee)
        guard recipient.id != customer.user.id else { throw LucidError(.selfTransferNotAllowed) }
        let newPayee = customer.user.totpEnabled ? !(try await store.hasPaid(customer.user.id, recipient.id)) : false
        let stepUp = stepUpReason(customer, money, newPayee: newPayee)
        if let replay = try await replayBeforeChecks(claim, customer, stepUp: stepUp) { return replay }
        let to = Mask.name(recipient.displayName)
        let screening = try await screen(customer, .transfer, money, payee: "user:" + recipient.id.rawValue, recipient: recipient,
                                         counterparty: to, stepUp: stepUp, proof: proof)
        let fee = try configuration.fees.fee(.transfer, amount: money)
        let from = Mask.name(customer.user.displayName)
        let tx = NewTransaction(id: ids.make(), feeID: fee > 0 ? ids.make() : nil, kind: .transfer,
                                debit: .customer(customer.user.id, currency), credit: .customer(recipient.id, currency),
                                amount: money, fee: fee, memo: memo, initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim,
                                effects: SideEffects(notifications: [
                                    events.notify(.moneySent, customer.user.id, moneyParams(money, to)),
                                    events.notify(.moneyReceived, recipient.id, moneyParams(money, from)),
                                ]))
        return try await execute(tx, for: customer, screening: screening) { _ in
            CounterpartyView(party: PartyRecord(accountID: AccountID(0), kind: .customer, ownerID: recipient.id.rawValue,
                                                code: nil, displayName: recipient.displayName, email: recipient.email,
                                                phone: recipient.phone))
        }
    }

    public func pay(_ customer: Customer, merchant merchantID: MerchantID, amount: Int64, currency: Currency, memo: String?,
                    idempotencyKey: String, proof: SecondFactorProof = .init()) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let memo = try memo.map { value throws(LucidError) in try Validate.text(value, field: "memo", max: InputLimits.memoLengthMax, allowEmpty: true) }
        let claim = claim(customer, idempotencyKey, ["payment", merchantID.rawValue, String(amount), currency.code, memo ?? ""])
        try requireMayPay(customer)
        guard let merchant = try await store.merchant(merchantID) else { throw LucidError(.merchantNotFound) }
        let stepUp = stepUpReason(customer, money, newPayee: false)
        if let replay = try await replayBeforeChecks(claim, customer, stepUp: stepUp) { return replay }
        let screening = try await screen(customer, .payment, money, payee: "merchant:" + merchant.id.rawValue, counterparty: merchant.name,
                                         stepUp: stepUp, proof: proof)
        let fee = try configuration.fees.fee(.payment, amount: money)
        let tx = NewTransaction(id: ids.make(), feeID: fee > 0 ? ids.make() : nil, kind: .payment,
                                debit: .customer(customer.user.id, currency), credit: .merchant(merchant.id, currency),
                                amount: money, fee: fee, memo: memo, initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim,
                                effects: SideEffects(notifications: [events.notify(.moneySent, customer.user.id,
                                                                                   moneyParams(money, merchant.name))]))
        return try await execute(tx, for: customer, screening: screening) { _ in
            CounterpartyView(type: "merchant", name: merchant.name, login: nil, merchantID: merchant.id.rawValue)
        }
    }

    /// Holds the amount and fee and sends the withdrawal to a payment rail; the hold is posted when the
    /// rail settles and voided when it fails (see `WalletService+Rails.swift`). The destination is a saved
    /// account (`bankAccountID`), an account by its details (saved first if new: that needs the
    /// `add_bank_account` step-up with 2FA on), or by default the newest saved one (see `withdrawalDestination`).
    public func withdraw(_ customer: Customer, amount: Int64, currency: Currency, idempotencyKey: String,
                         proof: SecondFactorProof = .init(), rail: String? = nil, bankAccountID: String? = nil,
                         bankAccount: BankAccountInput? = nil, origin: RequestOrigin = .unknown) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let bankAccountID = try bankAccountID.map { id throws(LucidError) in try Validate.text(id, field: "bank_account_id", max: 64) }
        let claim = claim(customer, idempotencyKey, ["withdrawal", String(amount), currency.code] + Self.railParts(rail, bankAccount)
                          + (bankAccountID.map { ["bank_account_id:" + $0] } ?? []))
        try requireMayPay(customer)
        // Always answered from the rail's current state: a retry must not meet a breaker opened since.
        if let replay = try await withdrawalReplay(claim, customer) { return replay }
        let destination = try await withdrawalDestination(customer, id: bankAccountID, details: bankAccount)
        // A new destination is a sensitive action of its own; its proof covers the amount too.
        let stepUp = destination.new != nil && customer.user.totpEnabled ? "add_bank_account"
            : stepUpReason(customer, money, newPayee: false)
        let account = try requireGateway().account(destination.account, for: customer.user)
        let screening = try await screen(customer, .withdrawal, money, payee: Self.riskKey(account, of: customer.user.id), counterparty: account.description,
                                         stepUp: stepUp, proof: proof)
        let fee = try configuration.fees.fee(.withdrawal, amount: money)
        if let new = destination.new { _ = try await save(new, for: customer, origin: origin) }
        return try await railWithdrawal(customer, money, fee: fee, claim: claim, rail: rail, account: account, screening: screening)
    }

    /// A retried request whose key already went through answers with its first result before any check
    /// runs again: the second factor was proven, and risk decided, the first time. Read only when a check
    /// would otherwise run (risk on, or a step-up due); without one the ledger's own replay answers.
    private func replayBeforeChecks(_ claim: IdempotencyClaim, _ customer: Customer,
                                    stepUp: String?) async throws -> (TransactionView, Int)? {
        guard risk != nil || stepUp != nil else { return nil }
        return try await replayIfKnown(claim, customer)
    }

    /// Why the step-up policy asks for a fresh second factor here, if it does (2FA on, and a large amount or a new payee).
    private func stepUpReason(_ customer: Customer, _ money: Money, newPayee: Bool) -> String? {
        identity.policy.stepUp(amount: money, newPayee: newPayee, twoFactorOn: customer.user.totpEnabled)?.rawValue
    }

    private func replayIfKnown(_ claim: IdempotencyClaim, _ customer: Customer) async throws -> (TransactionView, Int)? {
        guard let record = try await store.idempotentResult(scope: claim.scope, key: claim.key) else { return nil }
        guard record.requestHash == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
        guard let transaction = try await store.transaction(record.transactionID) else { return nil }
        return (TransactionView(transaction, reader: customer.user.id), record.statusCode)
    }

    private func moneyParams(_ money: Money, _ counterparty: String) -> [String: ErrorParam] {
        ["amount": .int(money.minorUnits), "currency": .text(money.currency.code), "counterparty": .text(counterparty)]
    }

    /// Submits a new transaction and renders it; a replayed key re-reads the original.
    func execute(_ tx: NewTransaction, for customer: Customer,
                         counterparty: (NewTransaction) -> CounterpartyView) async throws -> (TransactionView, Int) {
        let receipt: LedgerReceipt
        do {
            receipt = try await store.submit(.create(tx))
            LedgerMetrics.count(tx.kind, result: "ok")
        } catch let error as LucidError {
            LedgerMetrics.count(tx.kind, result: error.code.rawValue)
            throw error
        }
        if receipt.replayed {
            guard let record = try await store.transaction(receipt.transactionID) else { throw LucidError(.internalError) }
            return (TransactionView(record, reader: customer.user.id), receipt.statusCode)
        }
        let outgoing: Bool
        if case .customer(let id, _) = tx.debit, id == customer.user.id { outgoing = true } else { outgoing = false }
        if outgoing { await noteActivity(customer) }
        let view = TransactionView(
            id: receipt.transactionID, kind: tx.kind, state: receipt.state, amount: tx.amount.minorUnits, fee: tx.fee,
            currency: tx.amount.currency, direction: outgoing ? "out" : "in", counterparty: counterparty(tx), memo: tx.memo,
            reason: tx.reason ?? TransactionView.defaultReason(tx.kind, receipt.state), createdAt: receipt.createdAt,
            resolvedAt: nil, expectedBy: receipt.state == .pending ? tx.timeoutAt : nil, reversesID: nil, reversedByID: nil)
        return (view, receipt.statusCode)
    }

    /// Moving money out keeps an account from going dormant; written at most once a day per customer.
    func noteActivity(_ customer: Customer) async {
        let now = clock.now()
        if let last = customer.user.lastActivityAt, now < last.adding(seconds: 86_400) { return }
        try? await store.recordActivity(customer.user.id, at: now)
    }

    private func claim(_ customer: Customer, _ key: String, _ parts: [String]) -> IdempotencyClaim {
        IdempotencyClaim(scope: "user:\(customer.user.id)", key: key, requestHash: RequestFingerprint.make(parts))
    }

    /// Outgoing money needs an active account, not dormant, used from a served region.
    func requireMayPay(_ customer: Customer) throws(LucidError) {
        if customer.user.status != .active {
            throw LucidError(.accountFrozen, [
                "reason": .text(customer.user.frozenReason ?? customer.user.status.rawValue),
                "frozen_by": .text(IdentityService.describe(customer.user.frozenBy)),
                "frozen_at": .text(customer.user.frozenAt?.rfc3339 ?? "?"),
            ])
        }
        try identity.requireNotDormant(customer.user)
    }

    private func findPayee(_ payee: PayeeSelector) async throws -> UserRecord {
        let found: UserRecord?
        switch payee {
        case .phone(let phone): found = try await store.user(login: try Validate.phone(phone))
        case .email(let email): found = try await store.user(login: try Validate.email(email))
        case .userID(let id): found = try await store.user(id)
        }
        guard let found, found.status != .closed else { throw LucidError(.payeeNotFound) }
        return found
    }

    // MARK: History

    public func transactions(of customer: Customer, limit: Int?, cursor: String?) async throws -> Page<TransactionView> {
        let page = try await store.transactions(of: customer.user.id, limit: try Validate.pageSize(limit), cursor: cursor)
        let items = try await annotateSecurity(page.items.map { TransactionView($0, reader: customer.user.id) })
        return Page(items: items, nextCursor: page.nextCursor)
    }

    /// One of the customer's own transactions; anyone else's is `transaction_not_found`, never 403,
    /// so ids of other people's transactions reveal nothing.
    public func transaction(_ id: TransferID, of customer: Customer) async throws -> TransactionView {
        guard let record = try await store.transaction(id),
              record.debit.ownerID == customer.user.id.rawValue || record.credit.ownerID == customer.user.id.rawValue else {
            throw LucidError(.transactionNotFound)
        }
        return try await annotateSecurity([TransactionView(record, reader: customer.user.id)])[0]
    }

    /// Every transaction of a user, oldest first, for statements and evidence.
    public func statement(of user: UserID) async throws -> [TransactionView] {
        var all: [TransactionView] = []
        var cursor: String?
        repeat {
            let page = try await store.transactions(of: user, limit: InputLimits.pageSizeMax, cursor: cursor)
            all += page.items.map { TransactionView($0, reader: user) }
            cursor = page.nextCursor
        } while cursor != nil
        return all.reversed()
    }

    // MARK: Operations

    public func operatorTransaction(_ id: TransferID) async throws -> TransactionView {
        guard let record = try await store.transaction(id) else { throw LucidError(.transactionNotFound) }
        return TransactionView(record, reader: nil)
    }

    /// Compensates a posted transaction and its fee; never edits the original. Both sides are told.
    public func reverse(_ id: TransferID, reason: String, by op: Operator, idempotencyKey: String) async throws -> TransactionView {
        try op.require(.admin)
        let reason = try Validate.text(reason, field: "reason", max: InputLimits.memoLengthMax)
        let claim = IdempotencyClaim(scope: "operator:\(op.record.id)", key: idempotencyKey,
                                     requestHash: RequestFingerprint.make(["reverse", id.rawValue, reason]))
        let original = try await operatorRecord(id)
        var effects = SideEffects(audit: [events.audit("transaction_reversed", actor: "operator:\(op.record.name)",
                                                       target: nil, ["transaction_id": .text(id.rawValue), "reason": .text(reason)])])
        for owner in Set([original.debit, original.credit].filter { $0.kind == .customer }.compactMap(\.ownerID)) {
            effects.notifications.append(events.notify(.transactionReversed, UserID(owner), [
                "amount": .int(original.amount), "currency": .text(original.currency.code), "reason": .text(reason),
            ]))
        }
        let receipt = try await store.submit(.reverse(id, reason: reason, initiator: "operator:\(op.record.name)", idempotency: claim,
                                                      effects: effects))
        logger.notice("transaction reversed", metadata: ["transaction": "\(id)", "operator": "\(op.record.name)"])
        return try await operatorTransaction(receipt.transactionID)
    }

    /// Settles (post) or cancels (void) a pending transaction, e.g. when the bank confirms a withdrawal.
    public func resolve(_ id: TransferID, _ action: PendingAction, by op: Operator) async throws -> TransactionView {
        try op.require(.admin)
        let original = try await operatorRecord(id)
        var effects = resolutionEffects(original, action)
        effects.audit.append(events.audit("transaction_\(action.resultingState.rawValue)", actor: "operator:\(op.record.name)",
                                          target: nil, ["transaction_id": .text(id.rawValue)]))
        if let change = try await gateway?.operatorResolution(of: id, action) { effects.gateway.append(change) }
        _ = try await store.submit(.resolve(id, action, initiator: "operator:\(op.record.name)", effects: effects))
        logger.notice("pending transaction resolved", metadata: ["transaction": "\(id)", "action": "\(action.rawValue)"])
        return try await operatorTransaction(id)
    }

    private func operatorRecord(_ id: TransferID) async throws -> TransactionRecord {
        guard let record = try await store.transaction(id) else { throw LucidError(.transactionNotFound) }
        return record
    }

    /// What the customer is told when a held withdrawal settles or comes back.
    private func resolutionEffects(_ record: TransactionRecord, _ action: PendingAction) -> SideEffects {
        guard record.kind == .withdrawal, record.debit.kind == .customer, let owner = record.debit.ownerID else { return .none }
        let params: [String: ErrorParam] = ["amount": .int(record.amount), "currency": .text(record.currency.code),
                                            "reason": .text(action == .expire ? "the bank did not confirm in time" : "cancelled")]
        return SideEffects(notifications: [events.notify(action == .post ? .withdrawalSettled : .withdrawalReturned,
                                                         UserID(owner), params)])
    }

    /// Expires holds past their timeout; returns how many were released.
    public func expireHolds(limit: Int = 500) async throws -> Int {
        var released = 0
        for id in try await store.expiredHolds(now: clock.now(), limit: limit) {
            do {
                let effects = try await store.transaction(id).map { resolutionEffects($0, .expire) } ?? .none
                _ = try await store.submit(.resolve(id, .expire, initiator: "system:hold-expiry", effects: effects))
                released += 1
            } catch let error as LucidError where error.code != .internalError && error.code != .storageUnavailable {
                // settled or voided meanwhile: nothing to do
                continue
            }
        }
        if released > 0 { logger.info("expired holds released", metadata: ["count": "\(released)"]) }
        return released
    }

    public func verifyLedger() async throws -> VerificationReport {
        try await store.verify()
    }
}

/// Counters for money movements by kind and result code.
enum LedgerMetrics {
    static func count(_ kind: TransferKind, result: String) {
        Counter(label: "lucid_transfers_total", dimensions: [("kind", kind.rawValue), ("result", result)]).increment()
    }
}
