import LucidCore
import LucidGateway
import LucidStore

/// Saved withdrawal bank accounts.
///
/// A new withdrawal destination is where a stolen account drains money to, so adding one is a
/// sensitive action (issue 4): with 2FA on it needs a fresh second factor, and the customer is
/// always told through the outbox so the real owner learns of it. A withdrawal that names an
/// account by its details instead of its id counts as adding it.
extension WalletService {
    /// The customer's saved accounts, newest first.
    public func bankAccounts(of customer: Customer) async throws -> [BankAccountRecord] {
        try await store.bankAccounts(of: customer.user.id)
    }

    /// Saves a withdrawal account. Adding one the customer already holds answers with that one
    /// (`created` false) and asks for nothing; a new one needs a step-up when 2FA is on.
    public func addBankAccount(_ customer: Customer, _ input: BankAccountInput, proof: SecondFactorProof,
                               origin: RequestOrigin) async throws -> (account: BankAccountRecord, created: Bool) {
        try requireMayPay(customer)
        let record = try newBankAccount(customer, input)
        if let existing = try await store.bankAccount(bank: record.bank, last4: record.last4, of: customer.user.id) {
            return (existing, false)
        }
        if customer.user.totpEnabled {
            try await identity.stepUp(customer, reason: "add_bank_account", proof: proof)
        }
        return try await save(record, for: customer, origin: origin)
    }

    /// Removes a saved account (no step-up: it takes a destination away). `bank_account_not_found`
    /// when the customer holds no such account.
    public func removeBankAccount(_ customer: Customer, id: String, origin: RequestOrigin) async throws {
        guard let account = try await store.bankAccount(id, of: customer.user.id) else { throw Self.notFound(id) }
        let removed = try await store.removeBankAccount(id, of: customer.user.id, at: clock.now(), effects: SideEffects(
            audit: [events.audit("bank_account_removed", actor: "user:\(customer.user.id)", target: customer.user.id,
                                 origin: origin, ["bank_account_id": .text(id)])],
            notifications: [events.notify(.bankAccountRemoved, customer.user.id,
                                          ["bank": .text(account.bank), "last4": .text(account.last4)])]))
        guard removed else { throw Self.notFound(id) }
    }

    /// Where a withdrawal goes, and whether choosing it adds a new saved account (which needs the
    /// `add_bank_account` step-up, see `withdraw`).
    ///
    /// - a saved account by id (someone else's or a removed one is `bank_account_not_found`);
    /// - an account by its details: a saved one, or a new one that is saved first;
    /// - neither: the newest saved account, or else the account linked when the wallet was opened.
    func withdrawalDestination(_ customer: Customer, id: String?, details: BankAccountInput?) async throws
        -> (account: BankAccountInput?, new: BankAccountRecord?) {
        switch (id, details) {
        case (.some, .some):
            throw LucidError.invalidField("bank_account_id", "give either bank_account_id or bank_account, not both")
        case (.some(let id), nil):
            guard let saved = try await store.bankAccount(id, of: customer.user.id) else { throw Self.notFound(id) }
            return (BankAccountInput(bank: saved.bank, last4: saved.last4), nil)
        case (nil, .some(let details)):
            let record = try newBankAccount(customer, details)
            let saved = try await store.bankAccount(bank: record.bank, last4: record.last4, of: customer.user.id)
            return (details, saved == nil ? record : nil)
        case (nil, nil):
            let newest = try await store.bankAccounts(of: customer.user.id).first
            return (newest.map { BankAccountInput(bank: $0.bank, last4: $0.last4) }, nil)
        }
    }

    /// Writes a new saved account with its audit entry and the customer's notification.
    func save(_ record: BankAccountRecord, for customer: Customer, origin: RequestOrigin) async throws
        -> (account: BankAccountRecord, created: Bool) {
        try await store.addBankAccount(record, max: InputLimits.bankAccountsPerCustomerMax, effects: SideEffects(
            audit: [events.audit("bank_account_added", actor: "user:\(customer.user.id)", target: customer.user.id, origin: origin,
                                 ["bank_account_id": .text(record.id), "bank": .text(record.bank), "last4": .text(record.last4)])],
            notifications: [events.notify(.bankAccountAdded, customer.user.id,
                                          ["bank": .text(record.bank), "last4": .text(record.last4)])]))
    }

    private func newBankAccount(_ customer: Customer, _ input: BankAccountInput) throws(LucidError) -> BankAccountRecord {
        let masked = try MaskedBankAccount(bank: input.bank, last4: input.last4, holder: Mask.name(customer.user.displayName))
            .validated()
        return BankAccountRecord(id: ids.next(), userID: customer.user.id, bank: masked.bank, last4: masked.last4,
                                 holder: masked.holder, createdAt: clock.now())
    }

    private static func notFound(_ id: String) -> LucidError {
        LucidError(.bankAccountNotFound, ["bank_account_id": .text(String(id.prefix(64)))])
    }
}
