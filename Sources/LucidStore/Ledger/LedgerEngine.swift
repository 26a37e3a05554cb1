import LucidCore

/// A journal row as the engine needs it to act on it later (resolve, reverse, replay).
struct JournalRow: Sendable {
    let id: TransferID
    let kind: TransferKind
    let debitAccount: AccountID
    let creditAccount: AccountID
    let amount: Int64
    let pending: Bool
    let parentID: TransferID?
    let timeoutAt: Timestamp?
    let createdAt: Timestamp
}

/// What an idempotency key was first used for.
struct IdempotencyRecord: Sendable {
    let requestHash: String
    let transactionID: TransferID
    let statusCode: Int
    let createdAt: Timestamp
}

/// How a pending row was resolved.
struct Resolution: Sendable {
    let kind: TransferKind
    let at: Timestamp
}

/// Identifies the owner side of an account reference (user, merchant or system code) in one currency.
struct OwnerKey: Hashable, Sendable {
    let owner: String
    let currency: Currency

    init?(_ ref: AccountRef) {
        switch ref {
        case .customer(let user, let currency): self.init(owner: user.rawValue, currency: currency)
        case .merchant(let merchant, let currency): self.init(owner: merchant.rawValue, currency: currency)
        case .system(let code, let currency): self.init(owner: "system:" + code.rawValue, currency: currency)
        case .id: return nil
        }
    }

    init(owner: String, currency: Currency) {
        self.owner = owner
        self.currency = currency
    }
}

/// The ledger state a batch of commands reads, looked up synchronously.
///
/// SQLite answers from the single writer's cache and the database inside the
/// batch's transaction; PostgreSQL answers from a snapshot prefetched and row-
/// locked at the start of the batch's transaction. The engine never asks for
/// something the PostgreSQL prefetch did not load (`LedgerPrefetch` derives
/// both from the same commands).
protocol LedgerStateSource {
    mutating func account(_ ref: AccountRef) throws -> AccountState?
    /// A fresh account id for an account the engine opens.
    mutating func allocateAccountID() throws -> AccountID
    mutating func journalRow(_ id: TransferID) throws -> JournalRow?
    mutating func children(of id: TransferID) throws -> [JournalRow]
    mutating func resolution(of id: TransferID) throws -> Resolution?
    mutating func isReversed(_ id: TransferID) throws -> Bool
    mutating func idempotency(scope: String, key: String) throws -> IdempotencyRecord?
    mutating func usage(account: AccountID, day: String) throws -> Int64
}

/// A new account row.
struct AccountInsert: Sendable {
    let id: AccountID
    let kind: AccountKind
    let ownerID: String?
    let code: String?
    let currency: Currency
    let createdAt: Timestamp
}

/// A new journal row with everything its columns need.
struct JournalInsert: Sendable {
    let id: TransferID
    let kind: TransferKind
    let debit: AccountID
    let credit: AccountID
    let amount: Int64
    let currency: Currency
    let pending: Bool
    let parentID: TransferID?
    let pendingID: TransferID?
    let reversesID: TransferID?
    /// Entry numbers and balances after the row, for posted rows only.
    let debitEntrySeq: Int64?
    let creditEntrySeq: Int64?
    let debitBalanceAfter: Int64?
    let creditBalanceAfter: Int64?
    let timeoutAt: Timestamp?
    let memo: String?
    let reason: String?
    let initiator: String?
    let createdAt: Timestamp
}

/// An idempotency key claimed by this batch.
struct IdempotencyInsert: Sendable {
    let scope: String
    let key: String
    let record: IdempotencyRecord
}

/// Everything a batch writes, in the order the database needs it.
struct LedgerChanges: Sendable {
    var newAccounts: [AccountInsert] = []
    var journal: [JournalInsert] = []
    /// Final state of every account the batch changed.
    var accounts: [AccountID: AccountState] = [:]
    var usage: [UsageKey: Int64] = [:]
    var idempotency: [IdempotencyInsert] = []
    /// Notifications and audit events of the commands that went through.
    var effects = SideEffects()

    var isEmpty: Bool { journal.isEmpty && newAccounts.isEmpty }
}

struct UsageKey: Hashable, Sendable {
    let account: AccountID
    let day: String
}

/// The ledger's rules applied to a batch of commands, backend-independent.
///
/// Each command succeeds or fails on its own: it is checked completely against
/// the state as the earlier commands of the batch left it, its changes are
/// made on copies, and only a command that went through is merged into the
/// batch. So a refused command leaves no trace (not even an opened wallet) and
/// the batch never needs to be rolled back for a business error. The backend
/// then writes `changes` in one transaction.
struct LedgerBatch<Source: LedgerStateSource> {
    private(set) var source: Source
    private(set) var changes = LedgerChanges()
    private let now: Timestamp
    private let ids: any IDGenerator

    /// Accounts opened or changed in this batch, by owner key, so later commands see them.
    private var owners: [OwnerKey: AccountID] = [:]
    /// Rows created by this batch by id, and their children: built on first need (a
    /// resolve or reverse in the same batch), since most batches never look rows up.
    private var rowIndex: [TransferID: Int]?
    private var childIndex: [TransferID: [Int]] = [:]
    /// Resolutions, reversals and keys created by this batch.
    private var resolutions: [TransferID: Resolution] = [:]
    private var reversed: Set<TransferID> = []
    private var keys: [String: (hash: String, receipt: LedgerReceipt)] = [:]

    init(source: Source, now: Timestamp, ids: any IDGenerator, capacity: Int = 0) {
        self.source = source
        self.now = now
        self.ids = ids
        changes.journal.reserveCapacity(capacity * 2)
        changes.accounts.reserveCapacity(capacity * 2)
    }

    /// Applies one command; on failure nothing of it remains in the batch.
    mutating func apply(_ command: LedgerCommand) -> Result<LedgerReceipt, LucidError> {
        do {
            switch command {
            case .create(let transaction):
                let receipt = try create(transaction)
                if !receipt.replayed { record(transaction.effects) }
                return .success(receipt)
            case .resolve(let id, let action, let initiator, let effects):
                let receipt = try resolve(id, action, initiator)
                record(effects)
                return .success(receipt)
            case .reverse(let id, let reason, let initiator, let claim, let effects):
                let receipt = try reverse(id, reason, initiator, claim)
                if !receipt.replayed { record(effects) }
                return .success(receipt)
            }
        } catch let error as LucidError {
            return .failure(error)
        } catch let error as SQLError {
            return .failure(error.publicError)
        } catch {
            return .failure(LucidError(.internalError, cause: "\(error)"))
        }
    }

    // MARK: Commands

    private mutating func create(_ tx: NewTransaction) throws -> LedgerReceipt {
        if let claim = tx.idempotency, let replay = try replay(claim) { return replay }
        let currency = tx.amount.currency
        let amount = tx.amount.minorUnits
        let required = try Checked.add(amount, tx.fee)
        var opened: [AccountInsert] = []

        var debit: AccountState
        if let existing = try account(tx.debit) {
            debit = existing
        } else if case .system = tx.debit {
            debit = try open(tx.debit, &opened)
        } else {
            // A customer without a wallet in this currency has nothing to send.
            throw LucidError(.insufficientFunds, [
                "available": .int(0), "required": .int(required), "fee": .int(tx.fee),
                "shortfall": .int(required), "currency": .text(currency.code),
            ])
        }
        let existingCredit = try account(tx.credit)
        precondition(debit.id != existingCredit?.id, "services refuse self-transfers")
        guard debit.currency == currency, existingCredit.map({ $0.currency == currency }) ?? true else {
            throw LucidError(.currencyMismatch, ["expected_currency": .text(debit.currency.code), "currency": .text(currency.code)])
        }
        var usageKey: UsageKey?
        var usedToday: Int64 = 0
        if let limit = tx.limit {
            let key = UsageKey(account: debit.id, day: now.utcDay)
            usedToday = try usage(key)
            try limit.policy.check(amount: tx.amount, usedToday: usedToday, tier: limit.tier, now: now)
            usageKey = key
        }
        try LedgerRules.requireAvailable(amount, on: debit, fee: tx.fee)

        // Checked; now build the rows on copies. The payee's wallet is opened
        // only here, so a refused request never opens one.
        var credit = try existingCredit ?? open(tx.credit, &opened)
        var feeAccount: AccountState?
        if tx.fee > 0 {
            let ref = AccountRef.system(.feeRevenue, currency)
            feeAccount = try account(ref) ?? open(ref, &opened)
        }
        var inserts: [JournalInsert] = []
        if tx.pending {
            try LedgerRules.hold(amount, debit: &debit, credit: &credit)
            inserts.append(row(tx.id, tx.kind, debit, credit, amount, posted: false, pending: true, timeoutAt: tx.timeoutAt,
                               memo: tx.memo, reason: tx.reason, initiator: tx.initiator))
            if var fees = feeAccount, let feeID = tx.feeID {
                try LedgerRules.hold(tx.fee, debit: &debit, credit: &fees)
                inserts.append(row(feeID, .fee, debit, fees, tx.fee, posted: false, pending: true, parent: tx.id,
                                   timeoutAt: tx.timeoutAt, initiator: tx.initiator))
                feeAccount = fees
            }
        } else {
            try LedgerRules.post(amount, debit: &debit, credit: &credit)
            inserts.append(row(tx.id, tx.kind, debit, credit, amount, posted: true, pending: false, memo: tx.memo,
                               reason: tx.reason, initiator: tx.initiator))
            if var fees = feeAccount, let feeID = tx.feeID {
                try LedgerRules.post(tx.fee, debit: &debit, credit: &fees)
                inserts.append(row(feeID, .fee, debit, fees, tx.fee, posted: true, pending: false, parent: tx.id,
                                   initiator: tx.initiator))
                feeAccount = fees
            }
        }

        // Everything checked and built: merge into the batch.
        commit(opened: opened, accounts: [debit, credit] + (feeAccount.map { [$0] } ?? []), rows: inserts)
        if let usageKey { changes.usage[usageKey] = usedToday + amount }
        let receipt = LedgerReceipt(transactionID: tx.id, state: tx.pending ? .pending : .posted, createdAt: now,
                                    replayed: false, statusCode: tx.statusCode)
        if let claim = tx.idempotency { remember(claim, receipt) }
        return receipt
    }

    private mutating func resolve(_ id: TransferID, _ action: PendingAction, _ initiator: String?) throws -> LedgerReceipt {
        guard let original = try journalRow(id), original.parentID == nil, !original.kind.isResolution else {
            throw LucidError(.transactionNotFound)
        }
        let current = try state(of: original)
        _ = try TwoPhase.transition(from: current.state, action, expiredAt: current.resolvedAt)
        if action == .post, let timeout = original.timeoutAt, now >= timeout {
            throw LucidError(.transferExpired, ["expired_at": .text(timeout.rfc3339)])
        }
        if action == .expire, let timeout = original.timeoutAt, now < timeout {
            throw LucidError.invalidField("action", "the hold has not reached its timeout yet")
        }
        var touched: [AccountID: AccountState] = [:]
        var inserts: [JournalInsert] = []
        for held in try [original] + children(of: id).filter(\.pending) {
            var debit = try touched[held.debitAccount] ?? requireAccount(held.debitAccount)
            var credit = try touched[held.creditAccount] ?? requireAccount(held.creditAccount)
            try LedgerRules.resolve(held.amount, action, debit: &debit, credit: &credit)
            inserts.append(row(ids.make(), action.resolutionKind, debit, credit, held.amount, posted: action == .post,
                               pending: false, pendingID: held.id, initiator: initiator))
            touched[debit.id] = debit
            touched[credit.id] = credit
        }
        commit(opened: [], accounts: Array(touched.values), rows: inserts)
        resolutions[id] = Resolution(kind: action.resolutionKind, at: now)
        return LedgerReceipt(transactionID: id, state: action.resultingState, createdAt: original.createdAt,
                             replayed: false, statusCode: 200)
    }

    private mutating func reverse(_ id: TransferID, _ reason: String, _ initiator: String?,
                                  _ claim: IdempotencyClaim?) throws -> LedgerReceipt {
        if let claim, let replay = try replay(claim) { return replay }
        guard let original = try journalRow(id), original.parentID == nil, !original.kind.isResolution else {
            throw LucidError(.transactionNotFound)
        }
        let current = try state(of: original).state
        guard current == .posted, original.kind != .reversal else {
            throw LucidError(.transferNotReversible, ["state": .text(original.kind == .reversal ? "reversal" : current.rawValue)])
        }
        if try reversed.contains(id) || source.isReversed(id) {
            throw LucidError(.transferNotReversible, ["state": .text("reversed")])
        }
        let legs = [original] + (try children(of: id).filter { $0.kind == .fee })
        // Check every leg first so the reversal is all-or-nothing.
        var needed: [AccountID: Int64] = [:]
        for leg in legs { needed[leg.creditAccount, default: 0] += leg.amount }
        for (accountID, amount) in needed { try LedgerRules.requireAvailable(amount, on: try requireAccount(accountID), fee: 0) }

        let reversalID: TransferID = ids.make()
        var touched: [AccountID: AccountState] = [:]
        var inserts: [JournalInsert] = []
        for leg in legs {
            var debit = try touched[leg.creditAccount] ?? requireAccount(leg.creditAccount)
            var credit = try touched[leg.debitAccount] ?? requireAccount(leg.debitAccount)
            try LedgerRules.post(leg.amount, debit: &debit, credit: &credit)
            let isMain = leg.id == original.id
            inserts.append(row(isMain ? reversalID : ids.make(), .reversal, debit, credit, leg.amount, posted: true, pending: false,
                               parent: isMain ? nil : reversalID, reverses: leg.id, reason: reason, initiator: initiator))
            touched[debit.id] = debit
            touched[credit.id] = credit
        }
        commit(opened: [], accounts: Array(touched.values), rows: inserts)
        for leg in legs { reversed.insert(leg.id) }
        let receipt = LedgerReceipt(transactionID: reversalID, state: .posted, createdAt: now, replayed: false, statusCode: 201)
        if let claim { remember(claim, receipt) }
        return receipt
    }

    // MARK: Merging a command into the batch

    private mutating func record(_ effects: SideEffects) {
        changes.effects.append(effects)
    }

    private mutating func commit(opened: [AccountInsert], accounts: [AccountState], rows inserts: [JournalInsert]) {
        for account in opened {
            changes.newAccounts.append(account)
            if let key = OwnerKey(ref(for: account)) { owners[key] = account.id }
        }
        for account in accounts { changes.accounts[account.id] = account }
        for insert in inserts {
            changes.journal.append(insert)
            if rowIndex != nil { index(changes.journal.count - 1) }
            if let reverses = insert.reversesID { reversed.insert(reverses) }
        }
    }

    private func ref(for account: AccountInsert) -> AccountRef {
        switch account.kind {
        case .customer: .customer(UserID(account.ownerID!), account.currency)
        case .merchant: .merchant(MerchantID(account.ownerID!), account.currency)
        case .system: .system(SystemAccount(rawValue: account.code!)!, account.currency)
        }
    }

    private mutating func remember(_ claim: IdempotencyClaim, _ receipt: LedgerReceipt) {
        let record = IdempotencyRecord(requestHash: claim.requestHash, transactionID: receipt.transactionID,
                                       statusCode: receipt.statusCode, createdAt: receipt.createdAt)
        changes.idempotency.append(IdempotencyInsert(scope: claim.scope, key: claim.key, record: record))
        keys[claim.scope + "\u{1}" + claim.key] = (claim.requestHash, receipt)
    }

    // MARK: Lookups: this batch first, then the source

    private mutating func account(_ ref: AccountRef) throws -> AccountState? {
        if case .id(let id) = ref { return try account(id: id) }
        if let key = OwnerKey(ref), let id = owners[key] { return changes.accounts[id] }
        guard let found = try source.account(ref) else { return nil }
        return changes.accounts[found.id] ?? found
    }

    private mutating func account(id: AccountID) throws -> AccountState? {
        if let state = changes.accounts[id] { return state }
        return try source.account(.id(id))
    }

    private mutating func requireAccount(_ id: AccountID) throws -> AccountState {
        guard let state = try account(id: id) else { preconditionFailure("journal rows reference existing accounts") }
        return state
    }

    private mutating func open(_ ref: AccountRef, _ opened: inout [AccountInsert]) throws -> AccountState {
        let kind: AccountKind, owner: String?, code: String?, currency: Currency
        switch ref {
        case .customer(let user, let c): (kind, owner, code, currency) = (.customer, user.rawValue, nil, c)
        case .merchant(let merchant, let c): (kind, owner, code, currency) = (.merchant, merchant.rawValue, nil, c)
        case .system(let system, let c): (kind, owner, code, currency) = (.system, nil, system.rawValue, c)
        case .id: preconditionFailure("accounts opened on demand are named by owner")
        }
        let id = try source.allocateAccountID()
        opened.append(AccountInsert(id: id, kind: kind, ownerID: owner, code: code, currency: currency, createdAt: now))
        return AccountState(id: id, kind: kind, currency: currency)
    }

    private mutating func index(_ position: Int) {
        let insert = changes.journal[position]
        rowIndex?[insert.id] = position
        if let parent = insert.parentID { childIndex[parent, default: []].append(position) }
    }

    private mutating func batchRowPosition(_ id: TransferID) -> Int? {
        if rowIndex == nil {
            rowIndex = Dictionary(minimumCapacity: changes.journal.count)
            for position in changes.journal.indices { index(position) }
        }
        return rowIndex?[id]
    }

    private func row(at position: Int) -> JournalRow {
        let insert = changes.journal[position]
        return JournalRow(id: insert.id, kind: insert.kind, debitAccount: insert.debit, creditAccount: insert.credit,
                          amount: insert.amount, pending: insert.pending, parentID: insert.parentID,
                          timeoutAt: insert.timeoutAt, createdAt: insert.createdAt)
    }

    private mutating func journalRow(_ id: TransferID) throws -> JournalRow? {
        if let position = batchRowPosition(id) { return row(at: position) }
        return try source.journalRow(id)
    }

    private mutating func children(of id: TransferID) throws -> [JournalRow] {
        // Created in this batch: so are its children.
        if batchRowPosition(id) != nil { return (childIndex[id] ?? []).map { row(at: $0) } }
        return try source.children(of: id)
    }

    private mutating func usage(_ key: UsageKey) throws -> Int64 {
        if let used = changes.usage[key] { return used }
        return try source.usage(account: key.account, day: key.day)
    }

    private mutating func state(of row: JournalRow) throws -> (state: TransferState, resolvedAt: Timestamp?) {
        guard row.pending else { return (.posted, nil) }
        guard let resolution = try resolutions[row.id] ?? source.resolution(of: row.id) else { return (.pending, nil) }
        switch resolution.kind {
        case .postPending: return (.posted, resolution.at)
        case .voidPending: return (.voided, resolution.at)
        case .expirePending: return (.expired, row.timeoutAt ?? resolution.at)
        case .topup, .transfer, .payment, .withdrawal, .fee, .reversal, .adjustment:
            preconditionFailure("only resolution rows resolve a pending row")
        }
    }

    /// The first result for a replayed key, an error for a reused one, nil for a new one.
    private mutating func replay(_ claim: IdempotencyClaim) throws -> LedgerReceipt? {
        if let earlier = keys[claim.scope + "\u{1}" + claim.key] {
            guard earlier.hash == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
            var receipt = earlier.receipt
            receipt.replayed = true
            return receipt
        }
        guard let record = try source.idempotency(scope: claim.scope, key: claim.key) else { return nil }
        guard record.requestHash == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
        guard let original = try journalRow(record.transactionID) else { preconditionFailure("idempotency keys reference the journal") }
        return LedgerReceipt(transactionID: record.transactionID, state: try state(of: original).state,
                             createdAt: record.createdAt, replayed: true, statusCode: record.statusCode)
    }

    /// One journal row; posted rows carry each side's entry number and balance after it.
    private func row(_ id: TransferID, _ kind: TransferKind, _ debit: AccountState, _ credit: AccountState, _ amount: Int64,
                     posted: Bool, pending: Bool, parent: TransferID? = nil, pendingID: TransferID? = nil,
                     reverses: TransferID? = nil, timeoutAt: Timestamp? = nil, memo: String? = nil, reason: String? = nil,
                     initiator: String?) -> JournalInsert {
        JournalInsert(id: id, kind: kind, debit: debit.id, credit: credit.id, amount: amount, currency: debit.currency,
                      pending: pending, parentID: parent, pendingID: pendingID, reversesID: reverses,
                      debitEntrySeq: posted ? debit.entrySeq : nil, creditEntrySeq: posted ? credit.entrySeq : nil,
                      debitBalanceAfter: posted ? debit.balance.posted : nil,
                      creditBalanceAfter: posted ? credit.balance.posted : nil,
                      timeoutAt: timeoutAt, memo: memo, reason: reason, initiator: initiator, createdAt: now)
    }
}
