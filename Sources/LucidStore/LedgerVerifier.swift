import GRDB
import LucidCore

/// Rebuilds every balance from the journal and compares it with what is stored.
///
/// One pass over the journal in order, keeping a running state per account,
/// so memory grows with the number of accounts, not with history.
enum LedgerVerifier {
    private struct Running {
        var posted: Int64 = 0
        var entries: Int64 = 0
        var pendingOut: Int64 = 0
        var pendingIn: Int64 = 0
    }

    static func verify(_ db: Database) throws -> VerificationReport {
        var mismatches: [Mismatch] = []
        var kinds: [Int64: (kind: AccountKind, currency: String)] = [:]
        let accountKinds = try Row.fetchCursor(db, sql: "SELECT id, kind, currency FROM accounts")
        while let row = try accountKinds.next() {
            kinds[row[0]] = (AccountKind(rawValue: row[1]) ?? .system, row[2])
        }
        var running: [Int64: Running] = [:]
        var holds: [String: (debit: Int64, credit: Int64, amount: Int64)] = [:]
        var transfers = 0
        let rows = try Row.fetchCursor(db, sql: """
            SELECT seq, id, kind, debit_account_id, credit_account_id, amount, currency, pending, pending_id,
                   debit_entry_seq, credit_entry_seq, debit_balance_after, credit_balance_after
            FROM journal ORDER BY seq
            """)
        while let row = try rows.next() {
            transfers += 1
            let id: String = row[1]
            let debit: Int64 = row[3], credit: Int64 = row[4], amount: Int64 = row[5], currency: String = row[6]
            if kinds[debit]?.currency != currency || kinds[credit]?.currency != currency {
                mismatches.append(Mismatch(kind: .currencyMismatch, currency: currency,
                                           detail: "journal row \(id) moves \(currency) between accounts \(debit) and \(credit) of another currency"))
            }
            let isHold = (row[7] as Int64) == 1
            if isHold {
                holds[id] = (debit, credit, amount)
                running[debit, default: .init()].pendingOut += amount
                running[credit, default: .init()].pendingIn += amount
            }
            if let pendingID = row[8] as String?, let hold = holds.removeValue(forKey: pendingID) {
                running[hold.debit, default: .init()].pendingOut -= hold.amount
                running[hold.credit, default: .init()].pendingIn -= hold.amount
            }
            guard let debitSeq = row[9] as Int64?, let creditSeq = row[10] as Int64? else { continue }
            for (account, seq, delta, after) in [(debit, debitSeq, -amount, row[11] as Int64?),
                                                 (credit, creditSeq, amount, row[12] as Int64?)] {
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

        var totals: [String: Int64] = [:]
        var accountsChecked = 0
        let accounts = try Row.fetchCursor(db, sql: "SELECT id, kind, currency, posted, pending_out, pending_in, entry_seq FROM accounts ORDER BY id")
        while let row = try accounts.next() {
            accountsChecked += 1
            let id: Int64 = row[0], currency: String = row[2]
            let posted: Int64 = row[3], pendingOut: Int64 = row[4], pendingIn: Int64 = row[5], entrySeq: Int64 = row[6]
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
            if AccountKind(rawValue: row[1]) != .system && (posted < 0 || posted - pendingOut < 0) {
                mismatches.append(Mismatch(kind: .negativeCustomerBalance, accountID: account, currency: currency, expected: 0,
                                           actual: min(posted, posted - pendingOut), detail: "customer or merchant balance below zero"))
            }
            totals[currency, default: 0] &+= rebuilt.posted
        }
        for (currency, total) in totals.sorted(by: { $0.key < $1.key }) where total != 0 {
            mismatches.append(Mismatch(kind: .debitsCreditsUnbalanced, currency: currency, expected: 0, actual: total,
                                       detail: "credits minus debits over all \(currency) accounts is \(total), must be 0"))
        }
        return VerificationReport(accountsChecked: accountsChecked, transfersChecked: transfers, mismatches: mismatches)
    }
}
