import Logging
import LucidCore
import LucidGateway
import LucidStore

/// Top-ups and withdrawals through the payment rails (issue 5).
///
/// Both are two-phase: the pending transfer and its rail item are written first (top-up: the rail's
/// clearing account → the customer; withdrawal: the customer → the clearing account, holding amount
/// and fee), then the rail is asked, and the transfer is posted when the rail settles or voided when
/// it fails — whichever of the answer, a callback or the sweeper tells first.
extension WalletService {
    /// The fingerprint parts a rail and a bank account add to a request (none when not given, so keys
    /// used before rails were named keep their meaning).
    static func railParts(_ rail: String?, _ account: BankAccountInput?) -> [String] {
        var parts: [String] = []
        if let rail { parts.append("rail:" + rail) }
        if let account { parts += ["bank:" + account.bank, "last4:" + account.last4] }
        return parts
    }

    func requireGateway() throws(LucidError) -> PaymentGateway {
        guard let gateway else { throw LucidError(.gatewayUnavailable, ["rail": .text("none")], cause: "no payment rails configured") }
        return gateway
    }

    /// A top-up: 201 when the rail confirmed at once, 202 while it is pending (`reason`, `expected_by`).
    func railTopUp(_ customer: Customer, amount: Int64, currency: Currency, idempotencyKey: String, rail: String?,
                   bankAccount: BankAccountInput?) async throws -> (TransactionView, Int) {
        let gateway = try requireGateway()
        let money = Money(try Validate.amount(amount), currency)
        let requested = try PaymentGateway.railID(rail)
        let account = try gateway.account(bankAccount, for: customer.user)
        let claim = IdempotencyClaim(scope: "user:\(customer.user.id)", key: idempotencyKey, requestHash: RequestFingerprint.make(
            ["topup", String(amount), currency.code] + Self.railParts(requested?.rawValue, bankAccount)))
        if let replay = try await gateway.replay(claim, reader: customer.user.id, direction: .topUp) { return replay }
        let chosen = try gateway.chooseRail(requested, currency: currency, direction: .topUp)
        let screening = try await screenTopUp(customer, money, from: account)
        let id: TransferID = ids.make()
        let item = gateway.newItem(id, rail: chosen, direction: .topUp, user: customer.user.id, amount: money, account: account,
                                   now: clock.now())
        let tx = NewTransaction(id: id, kind: .topup, debit: .system(.clearing(rail: chosen.rawValue), currency),
                                credit: .customer(customer.user.id, currency), amount: money, pending: true,
                                reason: "waiting_for_bank", initiator: "user:\(customer.user.id)", idempotency: claim, statusCode: 202,
                                effects: SideEffects(gateway: [.insertItem(item)]))
        return try await railMovement(tx, item: item, account: account, direction: .topUp, customer: customer, screening: screening)
    }

    /// A withdrawal whose checks (account state, step-up, risk, fee) are done: holds amount and fee (within
    /// the customer's limits) and sends it. 201 with state `pending` until the rail settles; 202 when risk
    /// holds it for review, and then it is sent only once an operator approves it.
    func railWithdrawal(_ customer: Customer, _ money: Money, fee: Int64, claim: IdempotencyClaim, rail: String?,
                        account: MaskedBankAccount, screening: Screening?) async throws -> (TransactionView, Int) {
        let gateway = try requireGateway()
        let chosen = try gateway.chooseRail(try PaymentGateway.railID(rail), currency: money.currency, direction: .withdrawal)
        let id: TransferID = ids.make()
        let item = gateway.newItem(id, rail: chosen, direction: .withdrawal, user: customer.user.id, amount: money, account: account,
                                   now: clock.now())
        let tx = NewTransaction(id: id, feeID: fee > 0 ? ids.make() : nil, kind: .withdrawal, debit: .customer(customer.user.id, money.currency),
                                credit: .system(.clearing(rail: chosen.rawValue), money.currency), amount: money, fee: fee,
                                pending: true, reason: "waiting_for_bank", initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim,
                                effects: SideEffects(gateway: [.insertItem(item)]))
        return try await railMovement(tx, item: item, account: account, direction: .withdrawal, customer: customer,
                                      screening: screening)
    }

    /// The replay of a withdrawal's key, answered from the movement's current state.
    func withdrawalReplay(_ claim: IdempotencyClaim, _ customer: Customer) async throws -> (TransactionView, Int)? {
        try await requireGateway().replay(claim, reader: customer.user.id, direction: .withdrawal)
    }

    /// Writes the pending transfer with its rail item, then asks the rail, unless risk holds it for review:
    /// then the item waits unsent (reason `security_review`) until `PaymentGateway.sendApproved`.
    private func railMovement(_ tx: NewTransaction, item: RailItemRecord, account: MaskedBankAccount, direction: RailDirection,
                              customer: Customer, screening: Screening?) async throws -> (TransactionView, Int) {
        let gateway = try requireGateway()
        var tx = tx
        var item = item
        let review = screening.flatMap { holdForReview(&tx, $0, customer: customer, expires: false) }
        if let review {
            item.reason = SecurityNote.heldReason
            item.expectedBy = review.expiresAt
            item.nextCheckAt = PaymentGateway.heldUntilReleased
            tx.effects.gateway = [.insertItem(item)]
        }
        let learned = try screening.map { screening throws in try attachDecision(&tx, screening, review: review) }
        let receipt: LedgerReceipt
        do {
            receipt = try await store.submit(.create(tx))
            LedgerMetrics.count(tx.kind, result: "ok")
        } catch let error as LucidError {
            LedgerMetrics.count(tx.kind, result: error.code.rawValue)
            await refused(screening)
            throw error
        }
        if receipt.replayed {
            // The same key raced in from another request: answer with that movement.
            let answer = try await gateway.replayed(receipt.transactionID, reader: customer.user.id, direction: direction)
            if let screening, let learned { return await recorded(screening, tx, review: nil, learned: learned, result: answer) }
            return answer
        }
        if direction == .withdrawal { await noteActivity(customer) }
        let answer: (TransactionView, Int)
        do {
            if review == nil {
                try await gateway.send(RailRequest(reference: RailReference(tx.id.rawValue), direction: direction, amount: tx.amount,
                                                   account: account), item: item)
            }
            answer = try await gateway.answer(tx.id, reader: customer.user.id, direction: direction)
        } catch {
            // The rail refused it: nothing moved. The decision and the features' lesson were written with
            // the transaction: the features count the attempt, as they do when a rail fails a withdrawal later.
            if let screening, let learned { screening.monitor.remember(committed: learned) }
            throw error
        }
        guard let screening, let learned else { return answer }
        return await recorded(screening, tx, review: review, learned: learned, result: answer)
    }
}
