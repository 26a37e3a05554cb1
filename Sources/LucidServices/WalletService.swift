import Logging
import LucidCore
import LucidStore
import Metrics

/// The use cases of the wallet: one entry point per operation, each wiring
/// the pure rules of `LucidCore` to the store, the clock and the ID generator.
///
/// Handlers in `LucidHTTP` and commands in `lucid` call these and nothing
/// below them, so every operation behaves the same whichever edge starts it.
public struct WalletService: Sendable {
    public let store: any WalletStore
    public let configuration: WalletConfiguration
    public let clock: any WallClock
    public let ids: any IDGenerator
    let passwords: any PasswordHasher
    let logger: Logger
    /// A hash to compare against when the login is unknown, so that unknown
    /// and known logins take the same time (no account enumeration by timing).
    let decoyHash: String

    public init(store: any WalletStore, configuration: WalletConfiguration, clock: any WallClock, ids: any IDGenerator,
                passwords: any PasswordHasher, logger: Logger = Logger(label: "lucid.services")) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.ids = ids
        self.passwords = passwords
        self.logger = logger
        self.decoyHash = passwords.hash("decoy password that nobody has")
    }

    // MARK: Identity

    public struct Registration: Sendable {
        public var email: String?
        public var phone: String?
        public var password: String
        public var displayName: String
        public var country: String
        public init(email: String?, phone: String?, password: String, displayName: String, country: String) {
            self.email = email
            self.phone = phone
            self.password = password
            self.displayName = displayName
            self.country = country
        }
    }

    public func register(_ registration: Registration) async throws -> UserRecord {
        guard registration.email != nil || registration.phone != nil else {
            throw LucidError.invalidField("email", "give an e-mail address or a phone number")
        }
        let email = try registration.email.map { value throws(LucidError) in try Validate.email(value) }
        let phone = try registration.phone.map { value throws(LucidError) in try Validate.phone(value) }
        let name = try Validate.text(registration.displayName, field: "display_name", max: InputLimits.displayNameLengthMax)
        let country = try Validate.country(registration.country)
        let password = try Validate.password(registration.password)
        let user = UserRecord(id: ids.make(), email: email, phone: phone, passwordHash: passwords.hash(password),
                              displayName: name, country: country, tier: configuration.newCustomerTier,
                              createdAt: clock.now())
        try await store.createUser(user)
        logger.info("customer registered", metadata: ["user_id": "\(user.id)"])
        return user
    }

    /// Checks the password and opens a session. Unknown login and wrong password
    /// give the same error and take the same time.
    public func logIn(login: String, password: String, deviceID: String?, sourceAddress: String?) async throws -> NewSession {
        _ = try Validate.text(login, field: "login", max: InputLimits.emailLengthMax)
        _ = try Validate.text(password, field: "password", max: InputLimits.passwordLengthMax, allowEmpty: true)
        let deviceID = try deviceID.map { value throws(LucidError) in
            try Validate.text(value, field: "device_id", max: InputLimits.deviceIDLengthMax)
        }
        let normalized = login.contains("@") ? login.lowercased() : login.filter { $0 != " " && $0 != "-" }
        guard let user = try await store.user(login: normalized) else {
            _ = passwords.verify(password, against: decoyHash)
            throw LucidError(.invalidCredentials)
        }
        guard passwords.verify(password, against: user.passwordHash) else {
            logger.notice("failed login", metadata: ["user_id": "\(user.id)"])
            throw LucidError(.invalidCredentials)
        }
        let token = BearerToken.make(prefix: BearerToken.customerPrefix)
        let now = clock.now()
        let session = SessionRecord(id: ids.make(), userID: user.id, tokenHash: BearerToken.hash(token), deviceID: deviceID,
                                    sourceAddress: sourceAddress, createdAt: now,
                                    expiresAt: now.adding(seconds: configuration.sessionLifetimeSeconds))
        try await store.createSession(session)
        return NewSession(token: token, userID: user.id, expiresAt: session.expiresAt)
    }

    /// Resolves a bearer token to a customer; missing, unknown, expired or revoked tokens are `unauthenticated`.
    public func authenticateCustomer(token: String) async throws -> Customer {
        guard token.hasPrefix(BearerToken.customerPrefix), token.utf8.count < 200,
              let (session, user) = try await store.signedIn(tokenHash: BearerToken.hash(token)),
              session.revokedAt == nil, session.expiresAt > clock.now() else {
            throw LucidError(.unauthenticated)
        }
        return Customer(user: user, session: session)
    }

    public func logOut(_ customer: Customer) async throws {
        try await store.revokeSession(customer.session.id, at: clock.now())
    }

    public func authenticateOperator(token: String) async throws -> Operator {
        guard token.hasPrefix(BearerToken.operatorPrefix), token.utf8.count < 200,
              let record = try await store.operatorRecord(tokenHash: BearerToken.hash(token)), record.revokedAt == nil else {
            throw LucidError(.unauthenticated)
        }
        return Operator(record: record)
    }

    /// Creates an operator and returns its token, which is shown once and stored only hashed.
    public func createOperator(name: String, role: OperatorRole) async throws -> (OperatorRecord, String) {
        let name = try Validate.text(name, field: "name", max: InputLimits.displayNameLengthMax)
        let token = BearerToken.make(prefix: BearerToken.operatorPrefix)
        let record = OperatorRecord(id: ids.make(), name: name, role: role, tokenHash: BearerToken.hash(token), createdAt: clock.now())
        try await store.createOperator(record)
        logger.notice("operator created", metadata: ["operator": "\(name)", "role": "\(role.rawValue)"])
        return (record, token)
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

    /// Credits money from the sandbox bank, which confirms at once (a later
    /// version routes this through a real gateway with a pending state).
    public func topUp(_ customer: Customer, amount: Int64, currency: Currency, idempotencyKey: String) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let claim = claim(customer, idempotencyKey, ["topup", String(amount), currency.code])
        let tx = NewTransaction(id: ids.make(), kind: .topup, debit: .system(.gatewayClearing, currency),
                                credit: .customer(customer.user.id, currency), amount: money,
                                initiator: "user:\(customer.user.id)", idempotency: claim)
        return try await execute(tx, for: customer) { _ in
            CounterpartyView(type: "bank", name: "Sandbox Bank", login: nil, merchantID: nil)
        }
    }

    public func transfer(_ customer: Customer, to payee: PayeeSelector, amount: Int64, currency: Currency, memo: String?,
                         idempotencyKey: String) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let memo = try memo.map { value throws(LucidError) in try Validate.text(value, field: "memo", max: InputLimits.memoLengthMax, allowEmpty: true) }
        let payeeKey: String
        switch payee {
        case .phone(let phone): payeeKey = "phone:" + phone
        case .email(let email): payeeKey = "email:" + email.lowercased()
        case .userID(let id): payeeKey = "user:" + id.rawValue
        }
        let claim = claim(customer, idempotencyKey, ["transfer", payeeKey, String(amount), currency.code, memo ?? ""])
        try requireActive(customer)
        let recipient = try await findPayee(payee)
        guard recipient.id != customer.user.id else { throw LucidError(.selfTransferNotAllowed) }
        let fee = try configuration.fees.fee(.transfer, amount: money)
        let tx = NewTransaction(id: ids.make(), feeID: fee > 0 ? ids.make() : nil, kind: .transfer,
                                debit: .customer(customer.user.id, currency), credit: .customer(recipient.id, currency),
                                amount: money, fee: fee, memo: memo, initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim)
        return try await execute(tx, for: customer) { _ in
            CounterpartyView(party: PartyRecord(accountID: AccountID(0), kind: .customer, ownerID: recipient.id.rawValue,
                                                code: nil, displayName: recipient.displayName, email: recipient.email,
                                                phone: recipient.phone))
        }
    }

    public func pay(_ customer: Customer, merchant merchantID: MerchantID, amount: Int64, currency: Currency, memo: String?,
                    idempotencyKey: String) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let memo = try memo.map { value throws(LucidError) in try Validate.text(value, field: "memo", max: InputLimits.memoLengthMax, allowEmpty: true) }
        let claim = claim(customer, idempotencyKey, ["payment", merchantID.rawValue, String(amount), currency.code, memo ?? ""])
        try requireActive(customer)
        guard let merchant = try await store.merchant(merchantID) else { throw LucidError(.merchantNotFound) }
        let fee = try configuration.fees.fee(.payment, amount: money)
        let tx = NewTransaction(id: ids.make(), feeID: fee > 0 ? ids.make() : nil, kind: .payment,
                                debit: .customer(customer.user.id, currency), credit: .merchant(merchant.id, currency),
                                amount: money, fee: fee, memo: memo, initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim)
        return try await execute(tx, for: customer) { _ in
            CounterpartyView(type: "merchant", name: merchant.name, login: nil, merchantID: merchant.id.rawValue)
        }
    }

    /// Holds the amount and fee until the bank settles the withdrawal (posted
    /// by an operator or the gateway), or releases them when the hold expires.
    public func withdraw(_ customer: Customer, amount: Int64, currency: Currency, idempotencyKey: String) async throws -> (TransactionView, Int) {
        let money = Money(try Validate.amount(amount), currency)
        let claim = claim(customer, idempotencyKey, ["withdrawal", String(amount), currency.code])
        try requireActive(customer)
        let fee = try configuration.fees.fee(.withdrawal, amount: money)
        let now = clock.now()
        let tx = NewTransaction(id: ids.make(), feeID: fee > 0 ? ids.make() : nil, kind: .withdrawal,
                                debit: .customer(customer.user.id, currency), credit: .system(.gatewayClearing, currency),
                                amount: money, fee: fee, pending: true,
                                timeoutAt: now.adding(seconds: configuration.withdrawalHoldSeconds),
                                reason: "waiting_for_bank", initiator: "user:\(customer.user.id)",
                                limit: LimitCheck(policy: configuration.limits, tier: customer.user.tier), idempotency: claim)
        return try await execute(tx, for: customer) { _ in
            CounterpartyView(type: "bank", name: "Sandbox Bank", login: nil, merchantID: nil)
        }
    }

    /// Submits a new transaction and renders it; a replayed key re-reads the original.
    private func execute(_ tx: NewTransaction, for customer: Customer,
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
        let view = TransactionView(
            id: receipt.transactionID, kind: tx.kind, state: receipt.state, amount: tx.amount.minorUnits, fee: tx.fee,
            currency: tx.amount.currency, direction: outgoing ? "out" : "in", counterparty: counterparty(tx), memo: tx.memo,
            reason: tx.reason ?? TransactionView.defaultReason(tx.kind, receipt.state), createdAt: receipt.createdAt,
            resolvedAt: nil, expectedBy: receipt.state == .pending ? tx.timeoutAt : nil, reversesID: nil, reversedByID: nil)
        return (view, receipt.statusCode)
    }

    private func claim(_ customer: Customer, _ key: String, _ parts: [String]) -> IdempotencyClaim {
        IdempotencyClaim(scope: "user:\(customer.user.id)", key: key, requestHash: RequestFingerprint.make(parts))
    }

    private func requireActive(_ customer: Customer) throws(LucidError) {
        if customer.user.status != .active {
            throw LucidError(.accountFrozen, ["reason": .text(customer.user.frozenReason ?? customer.user.status.rawValue)])
        }
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
        return Page(items: page.items.map { TransactionView($0, reader: customer.user.id) }, nextCursor: page.nextCursor)
    }

    /// One of the customer's own transactions; anyone else's is `transaction_not_found`, never 403,
    /// so ids of other people's transactions reveal nothing.
    public func transaction(_ id: TransferID, of customer: Customer) async throws -> TransactionView {
        guard let record = try await store.transaction(id),
              record.debit.ownerID == customer.user.id.rawValue || record.credit.ownerID == customer.user.id.rawValue else {
            throw LucidError(.transactionNotFound)
        }
        return TransactionView(record, reader: customer.user.id)
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

    /// Compensates a posted transaction and its fee; never edits the original.
    public func reverse(_ id: TransferID, reason: String, by op: Operator, idempotencyKey: String) async throws -> TransactionView {
        try op.require(.admin)
        let reason = try Validate.text(reason, field: "reason", max: InputLimits.memoLengthMax)
        let claim = IdempotencyClaim(scope: "operator:\(op.record.id)", key: idempotencyKey,
                                     requestHash: RequestFingerprint.make(["reverse", id.rawValue, reason]))
        let receipt = try await store.submit(.reverse(id, reason: reason, initiator: "operator:\(op.record.name)", idempotency: claim))
        logger.notice("transaction reversed", metadata: ["transaction": "\(id)", "operator": "\(op.record.name)"])
        return try await operatorTransaction(receipt.transactionID)
    }

    /// Settles (post) or cancels (void) a pending transaction, e.g. when the bank confirms a withdrawal.
    public func resolve(_ id: TransferID, _ action: PendingAction, by op: Operator) async throws -> TransactionView {
        try op.require(.admin)
        _ = try await store.submit(.resolve(id, action, initiator: "operator:\(op.record.name)"))
        logger.notice("pending transaction resolved", metadata: ["transaction": "\(id)", "action": "\(action.rawValue)"])
        return try await operatorTransaction(id)
    }

    /// Expires holds past their timeout; returns how many were released.
    public func expireHolds(limit: Int = 500) async throws -> Int {
        var released = 0
        for id in try await store.expiredHolds(now: clock.now(), limit: limit) {
            do {
                _ = try await store.submit(.resolve(id, .expire, initiator: "system:hold-expiry"))
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
