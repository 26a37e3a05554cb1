import LucidCore

/// Rebuilds every balance from the journal and compares it with what is stored.
///
/// One pass over the accounts and the journal in order inside one snapshot,
/// keeping a running state per account, so memory grows with the number of
/// accounts, not with history. The same on both stores.
struct LedgerVerifier {
    private struct Running {
        var posted: Int64 = 0
        var entries: Int64 = 0
        var pendingOut: Int64 = 0
        var pendingIn: Int64 = 0
    }

    static let queries: [SQLStatement] = [
        SQLStatement("SELECT id, kind, currency FROM accounts"),
        SQLStatement("""
            SELECT id, debit_account_id, credit_account_id, amount, currency, pending, pending_id,
                   debit_entry_seq, credit_entry_seq, debit_balance_after, credit_balance_after
            FROM journal ORDER BY seq
            """),
        SQLStatement("SELECT id, kind, currency, posted, pending_out, pending_in, entry_seq FROM accounts ORDER BY id"),
    ]

    static func verify(_ database: any SQLDatabase) async throws -> VerificationReport {
        var verifier = LedgerVerifier()
        try await database.snapshot(queries) { index, row in
            switch index {
            case 0: try verifier.known(row)
            case 1: try verifier.journal(row)
            default: try verifier.stored(row)
            }
        }
        return verifier.report()
    }

    private var mismatches: [Mismatch] = []
    private var currencies: [Int64: String] = [:]
    private var running: [Int64: Running] = [:]
    private var holds: [String: (debit: Int64, credit: Int64, amount: Int64)] = [:]
    private var transfers = 0
    private var accountsChecked = 0
    private var totals: [String: Int64] = [:]

    private mutating func known(_ row: SQLRow) throws {
        currencies[try row.int(0)] = try row.text(2)
    }

    private mutating func journal(_ row: SQLRow) throws {
        transfers += 1
        let id = try row.text(0)
        let debit = try row.int(1), credit = try row.int(2), amount = try row.int(3), currency = try row.text(4)
        if currencies[debit] != currency || currencies[credit] != currency {
            mismatches.append(Mismatch(kind: .currencyMismatch, currency: currency,
                                       detail: "journal row \(id) moves \(currency) between accounts \(debit) and \(credit) of another currency"))
        }
        if try row.int(5) == 1 {
            holds[id] = (debit, credit, amount)
            running[debit, default: .init()].pendingOut += amount
            running[credit, default: .init()].pendingIn += amount
        }
        if let pendingID = try row[6].optionalText(), let hold = holds.removeValue(forKey: pendingID) {
            running[hold.debit, default: .init()].pendingOut -= hold.amount
            running[hold.credit, default: .init()].pendingIn -= hold.amount
        }
        guard let debitSeq = try row[7].optionalInt(), let creditSeq = try row[8].optionalInt() else { return }
        for (account, seq, delta, after) in [(debit, debitSeq, -amount, try row[9].optionalInt()),
                                             (credit, creditSeq, amount, try row[10].optionalInt())] {
            var state = running[account, default: .init()]
            state.entries += 1
            let (sum, overflow) = state.posted.addingReportingOverflow(delta)
            state.posted = sum
            if overflow {
                mismatches.append(Mismatch(kind: .balanceMismatch, accountID: AccountID(account), detail: "balance overflows at journal row \(id)"))
            }
            if seq != state.entries {
                mismatches.append(Mismatch(kind: .entrySequenceGap, accountID: AccountID(account), expected: state.entries,
                                           actual: seq, detail: "journal row \(id) has entry \(seq), expected \(state.entries)"))
                state.entries = seq
            }
            if after != state.posted {
                mismatches.append(Mismatch(kind: .balanceAfterMismatch, accountID: AccountID(account), expected: state.posted,
                                           actual: after, detail: "journal row \(id) records balance \(after.map(String.init) ?? "null"), the entries sum to \(state.posted)"))
            }
            running[account] = state
        }
    }

    private mutating func stored(_ row: SQLRow) throws {
        accountsChecked += 1
        let id = try row.int(0), currency = try row.text(2)
        let posted = try row.int(3), pendingOut = try row.int(4), pendingIn = try row.int(5), entrySeq = try row.int(6)
        let rebuilt = running[id] ?? .init()
        let account = AccountID(id)
        if posted != rebuilt.posted {
            mismatches.append(Mismatch(kind: .balanceMismatch, accountID: account, currency: currency, expected: rebuilt.posted,
                                       actual: posted, detail: "stored posted balance \(posted) ≠ sum of journal entries \(rebuilt.posted)"))
        }
        if entrySeq != rebuilt.entries {
            mismatches.append(Mismatch(kind: .entrySequenceGap, accountID: account, currency: currency, expected: rebuilt.entries,
                                       actual: entrySeq, detail: "account records \(entrySeq) entries, the journal has \(rebuilt.entries)"))
        }
        if pendingOut != rebuilt.pendingOut || pendingIn != rebuilt.pendingIn {
            mismatches.append(Mismatch(kind: .pendingMismatch, accountID: account, currency: currency, expected: rebuilt.pendingOut,
                                       actual: pendingOut, detail: "stored pending out/in \(pendingOut)/\(pendingIn) ≠ open holds \(rebuilt.pendingOut)/\(rebuilt.pendingIn)"))
        }
        if AccountKind(rawValue: try row.text(1)) != .system && (posted < 0 || posted - pendingOut < 0) {
            mismatches.append(Mismatch(kind: .negativeCustomerBalance, accountID: account, currency: currency, expected: 0,
                                       actual: min(posted, posted - pendingOut), detail: "customer or merchant balance below zero"))
        }
        totals[currency, default: 0] &+= rebuilt.posted
    }

    private func report() -> VerificationReport {
        var mismatches = self.mismatches
        for (currency, total) in totals.sorted(by: { $0.key < $1.key }) where total != 0 {
            mismatches.append(Mismatch(kind: .debitsCreditsUnbalanced, currency: currency, expected: 0, actual: total,
                                       detail: "credits minus debits over all \(currency) accounts is \(total), must be 0"))
        }
        return VerificationReport(accountsChecked: accountsChecked, transfersChecked: transfers, mismatches: mismatches)
    }
}
