import LucidCore
import PropertyBased
import Testing

@Suite("Ledger rules")
struct LedgerRulesTests {
    func customer(_ id: Int64, posted: Int64 = 0) -> AccountState {
        AccountState(id: AccountID(id), kind: .customer, currency: .cny, balance: AccountBalance(posted: posted))
    }

    @Test("posting moves money from debit to credit and numbers both entries")
    func post() throws {
        var a = customer(1, posted: 1_000), b = customer(2)
        try LedgerRules.post(400, debit: &a, credit: &b)
        #expect(a.balance.posted == 600 && b.balance.posted == 400)
        #expect(a.entrySeq == 1 && b.entrySeq == 1)
    }

    @Test("a customer never goes below zero; the refusal names the numbers and changes nothing")
    func insufficient() {
        var a = customer(1, posted: 100), b = customer(2)
        let before = (a, b)
        do {
            try LedgerRules.post(101, debit: &a, credit: &b)
            Issue.record("overdraft passed")
        } catch {
            #expect(error == LucidError(.insufficientFunds, [
                "available": .int(100), "required": .int(101), "fee": .int(0), "shortfall": .int(1), "currency": .text("CNY"),
            ]))
        }
        #expect(a == before.0 && b == before.1)
    }

    @Test("system accounts may go negative: they mirror money held outside the ledger")
    func systemNegative() throws {
        var bank = AccountState(id: AccountID(9), kind: .system, currency: .cny), a = customer(1)
        try LedgerRules.post(5_000, debit: &bank, credit: &a)
        #expect(bank.balance.posted == -5_000 && a.balance.posted == 5_000)
    }

    @Test("a hold lowers available, not posted; posting it moves the money, voiding releases it")
    func holds() throws {
        var a = customer(1, posted: 1_000), b = customer(2)
        try LedgerRules.hold(300, debit: &a, credit: &b)
        #expect(a.balance.available == 700 && a.balance.posted == 1_000 && b.balance.pendingIn == 300)
        #expect(throws: LucidError.self) { try LedgerRules.hold(701, debit: &a, credit: &b) }
        var (a2, b2) = (a, b)
        try LedgerRules.resolve(300, .post, debit: &a, credit: &b)
        #expect(a.balance.posted == 700 && a.balance.pendingOut == 0 && b.balance.posted == 300 && b.balance.pendingIn == 0)
        try LedgerRules.resolve(300, .void, debit: &a2, credit: &b2)
        #expect(a2.balance.posted == 1_000 && a2.balance.available == 1_000 && b2.balance.posted == 0 && a2.entrySeq == 0)
    }

    @Test("a fee counts against available: amount plus fee must be there")
    func fee() {
        let a = customer(1, posted: 1_000)
        #expect(throws: LucidError.self) { try LedgerRules.requireAvailable(990, on: a, fee: 11) }
        #expect(throws: Never.self) { try LedgerRules.requireAvailable(990, on: a, fee: 10) }
    }

    @Test("mixing currencies is refused")
    func currencies() {
        var a = customer(1, posted: 1_000)
        var b = AccountState(id: AccountID(2), kind: .customer, currency: .usd)
        #expect(throws: LucidError.self) { try LedgerRules.post(1, debit: &a, credit: &b) }
    }

    @Test("two-phase: only pending moves; each wrong move has its own error")
    func twoPhase() throws {
        #expect(try TwoPhase.transition(from: .pending, .post) == .posted)
        #expect(try TwoPhase.transition(from: .pending, .void) == .voided)
        #expect(try TwoPhase.transition(from: .pending, .expire) == .expired)
        #expect(throws: LucidError(.transferAlreadyPosted)) { try TwoPhase.transition(from: .posted, .post) }
        #expect(throws: LucidError(.transferAlreadyPosted)) { try TwoPhase.transition(from: .posted, .void) }
        #expect(throws: LucidError(.transferAlreadyVoided)) { try TwoPhase.transition(from: .voided, .post) }
        let expiredAt = Timestamp(millisecondsSinceEpoch: 0)
        #expect(throws: LucidError(.transferExpired, ["expired_at": .text(expiredAt.rfc3339)])) {
            try TwoPhase.transition(from: .expired, .post, expiredAt: expiredAt)
        }
    }
}

/// Random sequences of transfers, holds and resolutions over a few accounts,
/// replayed against the pure rules with an in-memory journal.
@Suite("Ledger properties")
struct LedgerPropertyTests {
    enum Step: Sendable, CustomStringConvertible {
        case post(from: Int, to: Int, amount: Int64)
        case hold(from: Int, to: Int, amount: Int64)
        case resolve(index: Int, post: Bool)
        var description: String {
            switch self {
            case .post(let f, let t, let a): "post \(f)→\(t) \(a)"
            case .hold(let f, let t, let a): "hold \(f)→\(t) \(a)"
            case .resolve(let i, let p): "\(p ? "post" : "void") hold #\(i)"
            }
        }
    }

    static let accountCount = 5 // account 0 is the system (bank) account
    static let step = zip(Gen.int(in: 0...9), Gen.int(in: 0..<accountCount), Gen.int(in: 0..<accountCount),
                          Gen.int64(in: 1...5_000)).map { value -> Step in
        let (choice, from, to, amount) = value
        switch choice {
        case 0...4: return .post(from: from, to: to, amount: amount)
        case 5...7: return .hold(from: from, to: to, amount: amount)
        default: return .resolve(index: Int(amount) % 8, post: from % 2 == 0)
        }
    }

    @Test("money is conserved, nobody goes negative, and balances equal the sum of their entries")
    func conservation() async {
        await propertyCheck(count: 300, input: Self.step.array(of: 1...60)) { steps in
            var accounts = (0..<Self.accountCount).map { index in
                AccountState(id: AccountID(Int64(index)), kind: index == 0 ? .system : .customer, currency: .cny)
            }
            var entries: [(account: Int, delta: Int64)] = []
            var openHolds: [(from: Int, to: Int, amount: Int64)] = []
            for step in steps {
                let snapshot = accounts
                do {
                    switch step {
                    case .post(let from, let to, let amount) where from != to:
                        var (debit, credit) = (accounts[from], accounts[to])
                        try LedgerRules.post(amount, debit: &debit, credit: &credit)
                        (accounts[from], accounts[to]) = (debit, credit)
                        entries += [(from, -amount), (to, amount)]
                    case .hold(let from, let to, let amount) where from != to:
                        var (debit, credit) = (accounts[from], accounts[to])
                        try LedgerRules.hold(amount, debit: &debit, credit: &credit)
                        (accounts[from], accounts[to]) = (debit, credit)
                        openHolds.append((from, to, amount))
                    case .resolve(let index, let post) where !openHolds.isEmpty:
                        let hold = openHolds.remove(at: index % openHolds.count)
                        var (debit, credit) = (accounts[hold.from], accounts[hold.to])
                        try LedgerRules.resolve(hold.amount, post ? .post : .void, debit: &debit, credit: &credit)
                        (accounts[hold.from], accounts[hold.to]) = (debit, credit)
                        if post { entries += [(hold.from, -hold.amount), (hold.to, hold.amount)] }
                    default:
                        continue
                    }
                } catch {
                    #expect((error as? LucidError)?.code == .insufficientFunds)
                    #expect(accounts == snapshot, "a refused step changed nothing")
                }
            }
            #expect(accounts.reduce(0) { $0 + $1.balance.posted } == 0, "credits minus debits sum to zero")
            for (index, account) in accounts.enumerated() {
                let fromEntries = entries.filter { $0.account == index }
                #expect(account.balance.posted == fromEntries.reduce(0) { $0 + $1.delta })
                #expect(account.entrySeq == Int64(fromEntries.count))
                #expect(account.balance.pendingOut == openHolds.filter { $0.from == index }.reduce(0) { $0 + $1.amount })
                #expect(account.balance.pendingIn == openHolds.filter { $0.to == index }.reduce(0) { $0 + $1.amount })
                if index != 0 {
                    #expect(account.balance.posted >= 0 && account.balance.available >= 0)
                }
            }
        }
    }
}
