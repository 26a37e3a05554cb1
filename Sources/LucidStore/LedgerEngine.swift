import GRDB
import LucidCore

/// Applies ledger commands inside one SQLite write transaction.
///
/// The engine is the single writer's brain: it keeps every account it has
/// touched in memory (it is the only writer, so the cache is authoritative),
/// validates each command against that state with the pure `LedgerRules`, and
/// writes journal rows. Changes go to an overlay first and reach the cache
/// only after the transaction commits, so a rolled-back batch leaves no trace.
/// Only ever used from inside `DatabasePool.write`, which serializes access.
final class LedgerEngine: @unchecked Sendable {
    fileprivate struct OwnerKey: Hashable, Sendable {
        let owner: String
        let currency: String
    }

    fileprivate struct UsageKey: Hashable, Sendable {
        let account: AccountID
        let day: String
    }

    /// Changes made by the current transaction, not yet committed.
    struct Overlay: Sendable {
        fileprivate var accounts: [AccountID: AccountState] = [:]
        fileprivate var owners: [OwnerKey: AccountID] = [:]
        fileprivate var usage: [UsageKey: Int64] = [:]
        fileprivate var idempotency: [String: (hash: String, receipt: LedgerReceipt)] = [:]
    }

    private var accounts: [AccountID: AccountState] = [:]
    private var owners: [OwnerKey: AccountID] = [:]
    private var usage: [UsageKey: Int64] = [:]
    private let ids: any IDGenerator
    private let clock: any WallClock
    /// Bounds the cache; past it the cache is dropped and reloaded on demand.
    private let cachedAccountsMax = 1_000_000

    init(ids: any IDGenerator, clock: any WallClock) {
        self.ids = ids
        self.clock = clock
    }

    // MARK: Transaction lifecycle

    /// Writes the overlay's balances and daily usage; call last inside the transaction.
    func flush(_ overlay: Overlay, _ db: Database) throws {
        let update = RawBinding(try db.cachedStatement(sql: """
            UPDATE accounts SET posted = ?, pending_out = ?, pending_in = ?, entry_seq = ? WHERE id = ?
            """))
        for (id, account) in overlay.accounts {
            update.bind(1, account.balance.posted)
            update.bind(2, account.balance.pendingOut)
            update.bind(3, account.balance.pendingIn)
            update.bind(4, account.entrySeq)
            update.bind(5, id.rawValue)
            try update.execute(db)
        }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO daily_usage (account_id, day, amount) VALUES (?, ?, ?)
            ON CONFLICT (account_id, day) DO UPDATE SET amount = excluded.amount
            """)
        for (key, amount) in overlay.usage {
            try upsert.execute(arguments: [key.account.rawValue, key.day, amount])
        }
    }

    /// Makes the overlay's state the engine's state; call after the commit succeeded.
    func commit(_ overlay: Overlay) {
        if accounts.count > cachedAccountsMax {
            accounts.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            usage.removeAll(keepingCapacity: true)
        }
        accounts.merge(overlay.accounts) { $1 }
        owners.merge(overlay.owners) { $1 }
        usage.merge(overlay.usage) { $1 }
    }

    // MARK: Commands

    func apply(_ command: LedgerCommand, _ db: Database, _ overlay: inout Overlay) throws -> LedgerReceipt {
        switch command {
        case .create(let transaction): return try create(transaction, db, &overlay)
        case .resolve(let id, let action, let initiator): return try resolve(id, action, initiator, db, &overlay)
        case .reverse(let id, let reason, let initiator, let claim): return try reverse(id, reason, initiator, claim, db, &overlay)
        }
    }

    private func create(_ tx: NewTransaction, _ db: Database, _ overlay: inout Overlay) throws -> LedgerReceipt {
        if let claim = tx.idempotency, let replay = try replay(claim, db, overlay) { return replay }
        let now = clock.now()
        let currency = tx.amount.currency
        guard var debit = try account(tx.debit, db, &overlay, openIfMissing: isSystem(tx.debit)) else {
            // A customer without a wallet in this currency has nothing to send.
            throw LucidError(.insufficientFunds, [
                "available": .int(0), "required": .int(try Checked.add(tx.amount.minorUnits, tx.fee)), "fee": .int(tx.fee),
                "shortfall": .int(try Checked.add(tx.amount.minorUnits, tx.fee)), "currency": .text(currency.code),
            ])
        }
        // The payee's wallet is opened only once the transfer is known to go
        // through, so a refused request leaves no trace (not even an empty wallet).
        let existingCredit = try account(tx.credit, db, &overlay, openIfMissing: false)
        precondition(debit.id != existingCredit?.id, "services refuse self-transfers")
        guard debit.currency == currency, existingCredit.map({ $0.currency == currency }) ?? true else {
            throw LucidError(.currencyMismatch, ["expected_currency": .text(debit.currency.code), "currency": .text(currency.code)])
        }
        var usageKey: UsageKey?
        var usedToday: Int64 = 0
        if let limit = tx.limit {
            let key = UsageKey(account: debit.id, day: now.utcDay)
            usedToday = try self.usage(key, db, overlay)
            try limit.policy.check(amount: tx.amount, usedToday: usedToday, tier: limit.tier, now: now)
            usageKey = key
        }
        try LedgerRules.requireAvailable(tx.amount.minorUnits, on: debit, fee: tx.fee)

        // Validation is complete; from here on nothing may fail for a business reason.
        try committing {
            guard var credit = try existingCredit ?? account(tx.credit, db, &overlay, openIfMissing: true) else {
                preconditionFailure("accounts open on demand")
            }
            defer { overlay.accounts[credit.id] = credit }
            var feeAccount: AccountState?
            if tx.fee > 0 {
                feeAccount = try account(.system(.feeRevenue, currency), db, &overlay, openIfMissing: true)
            }
            let insert = try journalInsert(db)
            if tx.pending {
                try LedgerRules.hold(tx.amount.minorUnits, debit: &debit, credit: &credit)
                try insertRow(insert, db, id: tx.id, kind: tx.kind, debit: debit, credit: credit, amount: tx.amount.minorUnits,
                                                  pending: true, posted: false, timeoutAt: tx.timeoutAt, memo: tx.memo,
                                                  reason: tx.reason, initiator: tx.initiator, now: now)
                if var feeAccount, let feeID = tx.feeID {
                    try LedgerRules.hold(tx.fee, debit: &debit, credit: &feeAccount)
                    try insertRow(insert, db, id: feeID, kind: .fee, debit: debit, credit: feeAccount, amount: tx.fee,
                                                      pending: true, posted: false, parent: tx.id, timeoutAt: tx.timeoutAt,
                                                      initiator: tx.initiator, now: now)
                    overlay.accounts[feeAccount.id] = feeAccount
                }
            } else {
                try LedgerRules.post(tx.amount.minorUnits, debit: &debit, credit: &credit)
                try insertRow(insert, db, id: tx.id, kind: tx.kind, debit: debit, credit: credit, amount: tx.amount.minorUnits,
                                                  pending: false, posted: true, memo: tx.memo, reason: tx.reason,
                                                  initiator: tx.initiator, now: now)
                if var feeAccount, let feeID = tx.feeID {
                    try LedgerRules.post(tx.fee, debit: &debit, credit: &feeAccount)
                    try insertRow(insert, db, id: feeID, kind: .fee, debit: debit, credit: feeAccount, amount: tx.fee,
                                                      pending: false, posted: true, parent: tx.id, initiator: tx.initiator, now: now)
                    overlay.accounts[feeAccount.id] = feeAccount
                }
            }
        }
        overlay.accounts[debit.id] = debit
        if let usageKey { overlay.usage[usageKey] = usedToday + tx.amount.minorUnits }
        let receipt = LedgerReceipt(transactionID: tx.id, state: tx.pending ? .pending : .posted, createdAt: now,
                                    replayed: false, statusCode: tx.statusCode)
        if let claim = tx.idempotency { try remember(claim, receipt, db, &overlay) }
        return receipt
    }

    private func resolve(_ id: TransferID, _ action: PendingAction, _ initiator: String?, _ db: Database,
                         _ overlay: inout Overlay) throws -> LedgerReceipt {
        let now = clock.now()
        guard let original = try JournalRow.fetch(id: id, db), original.parentID == nil, !original.kind.isResolution else {
            throw LucidError(.transactionNotFound)
        }
        let state = try currentState(of: original, db)
        _ = try TwoPhase.transition(from: state.state, action, expiredAt: state.resolvedAt)
        if action == .post, let timeout = original.timeoutAt, now >= timeout {
            throw LucidError(.transferExpired, ["expired_at": .text(timeout.rfc3339)])
        }
        if action == .expire, let timeout = original.timeoutAt, now < timeout {
            throw LucidError.invalidField("action", "the hold has not reached its timeout yet")
        }
        try committing {
            var rows = [original]
            rows += try JournalRow.fetchChildren(of: id, db).filter(\.pending)
            let insert = try journalInsert(db)
            for held in rows {
                guard var debit = try account(.id(held.debitAccount), db, &overlay, openIfMissing: false),
                      var credit = try account(.id(held.creditAccount), db, &overlay, openIfMissing: false) else {
                    preconditionFailure("journal rows reference existing accounts")
                }
                try LedgerRules.resolve(held.amount, action, debit: &debit, credit: &credit)
                try insertRow(insert, db, id: ids.make(), kind: action.resolutionKind, debit: debit, credit: credit,
                                                  amount: held.amount, pending: false, posted: action == .post,
                                                  pendingID: held.id, initiator: initiator, now: now)
                overlay.accounts[debit.id] = debit
                overlay.accounts[credit.id] = credit
            }
        }
        return LedgerReceipt(transactionID: id, state: action.resultingState, createdAt: original.createdAt,
                             replayed: false, statusCode: 200)
    }

    private func reverse(_ id: TransferID, _ reason: String, _ initiator: String?, _ claim: IdempotencyClaim?,
                         _ db: Database, _ overlay: inout Overlay) throws -> LedgerReceipt {
        if let claim, let replay = try replay(claim, db, overlay) { return replay }
        let now = clock.now()
        guard let original = try JournalRow.fetch(id: id, db), original.parentID == nil, !original.kind.isResolution else {
            throw LucidError(.transactionNotFound)
        }
        let state = try currentState(of: original, db).state
        guard state == .posted, original.kind != .reversal else {
            throw LucidError(.transferNotReversible, ["state": .text(original.kind == .reversal ? "reversal" : state.rawValue)])
        }
        if try String.fetchOne(db, sql: "SELECT id FROM journal WHERE reverses_id = ?", arguments: [id.rawValue]) != nil {
            throw LucidError(.transferNotReversible, ["state": .text("reversed")])
        }
        let fees = try JournalRow.fetchChildren(of: id, db).filter { $0.kind == .fee }
        let legs = [original] + fees
        // Check every leg first so the reversal is all-or-nothing.
        var states: [AccountID: AccountState] = [:]
        func load(_ accountID: AccountID) throws -> AccountState {
            if let state = states[accountID] { return state }
            guard let state = try account(.id(accountID), db, &overlay, openIfMissing: false) else {
                preconditionFailure("journal rows reference existing accounts")
            }
            return state
        }
        var needed: [AccountID: Int64] = [:]
        for leg in legs { needed[leg.creditAccount, default: 0] += leg.amount }
        for (accountID, amount) in needed { try LedgerRules.requireAvailable(amount, on: try load(accountID), fee: 0) }

        let reversalID: TransferID = ids.make()
        try committing {
            let insert = try journalInsert(db)
            for leg in legs {
                var debit = try load(leg.creditAccount)
                var credit = try load(leg.debitAccount)
                try LedgerRules.post(leg.amount, debit: &debit, credit: &credit)
                let legID: TransferID = leg.id == original.id ? reversalID : ids.make()
                try insertRow(insert, db, id: legID, kind: .reversal, debit: debit, credit: credit, amount: leg.amount,
                                                  pending: false, posted: true, parent: leg.id == original.id ? nil : reversalID,
                                                  reverses: leg.id, reason: reason, initiator: initiator, now: now)
                states[debit.id] = debit
                states[credit.id] = credit
            }
        }
        for (accountID, state) in states { overlay.accounts[accountID] = state }
        let receipt = LedgerReceipt(transactionID: reversalID, state: .posted, createdAt: now, replayed: false, statusCode: 201)
        if let claim { try remember(claim, receipt, db, &overlay) }
        return receipt
    }

    /// Runs the writing half of a command. A business error there would leave
    /// half-written rows in the shared batch transaction, so it is turned into
    /// an `EngineFault`, which rolls the whole batch back and retries each
    /// command alone.
    private func committing(_ body: () throws -> Void) throws {
        do { try body() } catch let error as LucidError { throw EngineFault(error: error) }
    }

    // MARK: Idempotency

    private func idempotencyKey(_ claim: IdempotencyClaim) -> String { claim.scope + "\u{1}" + claim.key }

    /// Returns the first result for a replayed key, throws for a reused one, nil for a new one.
    private func replay(_ claim: IdempotencyClaim, _ db: Database, _ overlay: Overlay) throws -> LedgerReceipt? {
        if let earlier = overlay.idempotency[idempotencyKey(claim)] {
            guard earlier.hash == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
            var receipt = earlier.receipt
            receipt.replayed = true
            return receipt
        }
        guard let row = try Row.fetchOne(db, sql: """
            SELECT k.request_hash, k.transaction_id, k.status_code, j.created_at
            FROM idempotency_keys k JOIN journal j ON j.id = k.transaction_id
            WHERE k.scope = ? AND k.key = ?
            """, arguments: [claim.scope, claim.key]) else { return nil }
        guard (row[0] as String) == claim.requestHash else { throw LucidError(.idempotencyKeyReused) }
        let id = TransferID(row[1] as String)
        guard let original = try JournalRow.fetch(id: id, db) else { preconditionFailure("foreign key") }
        let state = try currentState(of: original, db).state
        return LedgerReceipt(transactionID: id, state: state, createdAt: Timestamp(millisecondsSinceEpoch: row[3]),
                             replayed: true, statusCode: row[2])
    }

    private func remember(_ claim: IdempotencyClaim, _ receipt: LedgerReceipt, _ db: Database, _ overlay: inout Overlay) throws {
        try db.cachedStatement(sql: """
            INSERT INTO idempotency_keys (scope, key, request_hash, transaction_id, status_code, created_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [claim.scope, claim.key, claim.requestHash, receipt.transactionID.rawValue,
                                     receipt.statusCode, receipt.createdAt.millisecondsSinceEpoch])
        overlay.idempotency[idempotencyKey(claim)] = (claim.requestHash, receipt)
    }

    // MARK: State

    private func currentState(of row: JournalRow, _ db: Database) throws -> (state: TransferState, resolvedAt: Timestamp?) {
        guard row.pending else { return (.posted, nil) }
        guard let resolution = try Row.fetchOne(db, sql: "SELECT kind, created_at FROM journal WHERE pending_id = ?",
                                                arguments: [row.id.rawValue]) else { return (.pending, nil) }
        let at = Timestamp(millisecondsSinceEpoch: resolution[1])
        switch TransferKind(rawValue: resolution[0]) {
        case .postPending: return (.posted, at)
        case .voidPending: return (.voided, at)
        case .expirePending: return (.expired, row.timeoutAt ?? at)
        default: preconditionFailure("CHECK constraint limits resolution kinds")
        }
    }

    private func isSystem(_ ref: AccountRef) -> Bool {
        if case .system = ref { return true }
        return false
    }

    private func usage(_ key: UsageKey, _ db: Database, _ overlay: Overlay) throws -> Int64 {
        if let value = overlay.usage[key] ?? usage[key] { return value }
        return try Int64.fetchOne(db, sql: "SELECT amount FROM daily_usage WHERE account_id = ? AND day = ?",
                                  arguments: [key.account.rawValue, key.day]) ?? 0
    }

    /// Finds an account (overlay, then cache, then database), opening it when asked.
    private func account(_ ref: AccountRef, _ db: Database, _ overlay: inout Overlay, openIfMissing: Bool) throws -> AccountState? {
        let key: OwnerKey
        let kind: AccountKind
        switch ref {
        case .id(let id):
            if let state = overlay.accounts[id] ?? accounts[id] { return state }
            return try loadAccount(sql: "WHERE id = ?", [id.rawValue], db, &overlay)
        case .customer(let user, let currency):
            key = OwnerKey(owner: user.rawValue, currency: currency.code); kind = .customer
        case .merchant(let merchant, let currency):
            key = OwnerKey(owner: merchant.rawValue, currency: currency.code); kind = .merchant
        case .system(let code, let currency):
            key = OwnerKey(owner: "system:" + code.rawValue, currency: currency.code); kind = .system
        }
        if let id = overlay.owners[key] ?? owners[key], let state = overlay.accounts[id] ?? accounts[id] { return state }
        let found: AccountState?
        if case .system(let code, _) = ref {
            found = try loadAccount(sql: "WHERE code = ? AND currency = ?", [code.rawValue, key.currency], db, &overlay)
        } else {
            found = try loadAccount(sql: "WHERE owner_id = ? AND currency = ?", [key.owner, key.currency], db, &overlay)
        }
        if let found {
            overlay.owners[key] = found.id
            return found
        }
        guard openIfMissing, let currency = Currency.named(key.currency) else { return nil }
        let code: String? = if case .system(let code, _) = ref { code.rawValue } else { nil }
        let owner: String? = code == nil ? key.owner : nil
        try db.execute(sql: "INSERT INTO accounts (kind, owner_id, code, currency, created_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [kind.rawValue, owner, code, currency.code, clock.now().millisecondsSinceEpoch])
        let state = AccountState(id: AccountID(db.lastInsertedRowID), kind: kind, currency: currency)
        overlay.owners[key] = state.id
        overlay.accounts[state.id] = state
        return state
    }

    private func loadAccount(sql whereClause: String, _ arguments: StatementArguments, _ db: Database,
                             _ overlay: inout Overlay) throws -> AccountState? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT id, kind, currency, posted, pending_out, pending_in, entry_seq FROM accounts \(whereClause)
            """), arguments: arguments) else { return nil }
        let id = AccountID(row[0])
        if let known = overlay.accounts[id] ?? accounts[id] { return known }
        guard let kind = AccountKind(rawValue: row[1]), let currency = Currency.named(row[2]) else {
            throw LucidError(.internalError, cause: "account \(id) has unknown kind or currency")
        }
        let state = AccountState(id: id, kind: kind, currency: currency,
                                 balance: AccountBalance(posted: row[3], pendingOut: row[4], pendingIn: row[5]), entrySeq: row[6])
        // Loaded, not changed: goes straight to the cache (it matches the committed database).
        accounts[id] = state
        return state
    }

    // MARK: Journal rows

    private func journalInsert(_ db: Database) throws -> RawBinding {
        RawBinding(try db.cachedStatement(sql: """
            INSERT INTO journal (id, kind, debit_account_id, credit_account_id, amount, currency, pending, parent_id,
                pending_id, reverses_id, debit_entry_seq, credit_entry_seq, debit_balance_after, credit_balance_after,
                timeout_at, memo, reason, initiator, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
    }

    /// Binds and inserts one journal row. Posted rows carry both entries
    /// (entry number and balance after, taken from the accounts as they are now).
    private func insertRow(_ insert: RawBinding, _ db: Database, id: TransferID, kind: TransferKind, debit: AccountState,
                           credit: AccountState, amount: Int64, pending: Bool, posted: Bool, parent: TransferID? = nil,
                           pendingID: TransferID? = nil, reverses: TransferID? = nil, timeoutAt: Timestamp? = nil,
                           memo: String? = nil, reason: String? = nil, initiator: String?, now: Timestamp) throws {
        insert.bind(1, id.rawValue)
        insert.bind(2, kind.rawValue)
        insert.bind(3, debit.id.rawValue)
        insert.bind(4, credit.id.rawValue)
        insert.bind(5, amount)
        insert.bind(6, debit.currency.code)
        insert.bind(7, pending ? 1 : 0)
        insert.bind(8, parent?.rawValue)
        insert.bind(9, pendingID?.rawValue)
        insert.bind(10, reverses?.rawValue)
        insert.bind(11, posted ? debit.entrySeq : nil)
        insert.bind(12, posted ? credit.entrySeq : nil)
        insert.bind(13, posted ? debit.balance.posted : nil)
        insert.bind(14, posted ? credit.balance.posted : nil)
        insert.bind(15, timeoutAt?.millisecondsSinceEpoch)
        insert.bind(16, memo)
        insert.bind(17, reason)
        insert.bind(18, initiator)
        insert.bind(19, now.millisecondsSinceEpoch)
        try insert.execute(db)
    }
}

/// A business error raised after a command started writing; aborts the batch.
struct EngineFault: Error {
    let error: LucidError
}

/// The columns of a journal row the engine needs to act on it.
struct JournalRow {
    let id: TransferID
    let kind: TransferKind
    let debitAccount: AccountID
    let creditAccount: AccountID
    let amount: Int64
    let pending: Bool
    let parentID: TransferID?
    let timeoutAt: Timestamp?
    let createdAt: Timestamp

    static let columns = "id, kind, debit_account_id, credit_account_id, amount, pending, parent_id, timeout_at, created_at"

    init(_ row: Row) {
        id = TransferID(row[0] as String)
        kind = TransferKind(rawValue: row[1])!
        debitAccount = AccountID(row[2])
        creditAccount = AccountID(row[3])
        amount = row[4]
        pending = row[5] as Int64 == 1
        parentID = (row[6] as String?).map(TransferID.init)
        timeoutAt = (row[7] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:))
        createdAt = Timestamp(millisecondsSinceEpoch: row[8])
    }

    static func fetch(id: TransferID, _ db: Database) throws -> JournalRow? {
        try Row.fetchOne(db, sql: "SELECT \(columns) FROM journal WHERE id = ?", arguments: [id.rawValue]).map(JournalRow.init)
    }

    static func fetchChildren(of id: TransferID, _ db: Database) throws -> [JournalRow] {
        try Row.fetchAll(db, sql: "SELECT \(columns) FROM journal WHERE parent_id = ? ORDER BY seq", arguments: [id.rawValue])
            .map(JournalRow.init)
    }
}
