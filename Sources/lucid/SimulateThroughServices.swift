import Foundation
import Logging
import LucidCore
import LucidGateway
import LucidRisk
import LucidServices
import LucidStore
import Synchronization

/// `lucid simulate --through-services`: the simulator's traffic played through the real
/// `IdentityService` and `WalletService` on a temporary SQLite database, so what is measured
/// is the wiring — features persisted and reloaded per event, decisions enforced as HTTP would
/// (challenge → one-time code through the outbox → retry; review → held, then approved for a
/// legitimate customer and rejected for an attacker; block; freeze) — not the engine alone.
///
/// Differences from the engine in memory, all small: every account is opened (and funded) on
/// its creation day; a money event uses the session the customer signed in with on that
/// device and in that country (opening one first when there is none, as the app would);
/// top-ups come from the one sandbox rail; a second-factor change is played as a password
/// change (both are "credential changes" to the rules; enabling an authenticator would make
/// the simulated owner's later sign-ins need the attacker's codes); a legitimate customer
/// frozen by mistake is unfrozen by support at once.
final class ServicesDriver {
    let clock = ManualClock()
    let ids = CountingIDGenerator()
    let folder: String
    let store: SQLiteStore
    let writer: Task<Void, any Error>
    let identity: IdentityService
    let wallet: WalletService
    let monitor: RiskMonitor
    let operations: RiskOperations
    let secrets: SecretBox
    private let evaluations = EvaluationLog()
    private var support: Operator?
    private var users: [Int: UserRecord] = [:]
    private var passwords: [Int: String] = [:]
    private var passwordChanges = 0
    /// Signed-in sessions per customer, by device and country.
    private var sessions: [Int: [String: String]] = [:]
    private var lastSession: [Int: String] = [:]
    private var extraUsers: [String: UserID] = [:]
    private var merchants: [String: MerchantID] = [:]
    /// Accounts of ordinary customers (an attacker's own accounts stay frozen when frozen).
    private var legitimate: Set<Int> = []
    static let outbox = "sim://outbox"

    init(rules: String?) async throws {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        folder = (base as NSString).appendingPathComponent("lucid-simulate-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var logger = Logger(label: "lucid.simulate")
        logger.logLevel = .critical
        store = try SQLiteStore(path: (folder as NSString).appendingPathComponent("lucid.sqlite"), ids: ids, clock: clock, logger: logger)
        let store = self.store
        writer = Task { try await store.run() }
        var generator = SystemRandomNumberGenerator()
        secrets = SecretBox(key: (0..<SecretBox.keyByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        var identityConfiguration = IdentityConfiguration()
        // Thousands of simulated customers share a handful of test addresses and never go quiet for a year.
        identityConfiguration.loginRateLimit = RateLimitPolicy(limit: 1_000_000, windowSeconds: 60)
        identityConfiguration.policy.dormantAfterSeconds = 100 * 365 * 86_400
        let evaluations = self.evaluations
        monitor = RiskMonitor(store: store, clock: clock, ids: ids, logger: logger) { _, evaluation in
            evaluations.append(evaluation)
        }
        var identity = IdentityService(store: store, configuration: identityConfiguration, clock: clock, ids: ids,
                                       passwords: ScryptPasswordHasher(parameters: .lowCostForTests), secrets: secrets, logger: logger)
        identity.risk = monitor
        var walletConfiguration = WalletConfiguration()
        // The simulator's balances are fee-free; limits are the risk rules' business here, not the tiers'.
        walletConfiguration.fees = FeeSchedule()
        walletConfiguration.limits = LimitPolicy(rules: [.full: ["CNY": LimitRule(perTransferMax: InputLimits.amountMax,
                                                                                 dailyMax: InputLimits.amountMax)]])
        // The in-process sandbox rails, confirming both ways at once and never waiting: the simulated
        // clock is the events' own, and risk (not the bank) is what is measured here.
        var gatewayConfiguration = GatewayConfiguration()
        gatewayConfiguration.sandboxConfirmsAtOnce = [.topUp, .withdrawal]
        gatewayConfiguration.sleeper = NoWait()
        gatewayConfiguration.resilience.deadlineGrace = nil
        gatewayConfiguration.sweepIntervalSeconds = nil
        gatewayConfiguration.reconciliationMinuteOfDay = nil
        gatewayConfiguration.sandboxTickMilliseconds = nil
        let gateway = try await PaymentGateway.make(configuration: gatewayConfiguration, store: store, clock: clock, ids: ids,
                                                    withdrawalExpectedSeconds: walletConfiguration.withdrawalExpectedSeconds,
                                                    logger: logger)
        var wallet = WalletService(store: store, configuration: walletConfiguration, clock: clock, ids: ids, identity: identity,
                                   gateway: gateway, logger: logger)
        wallet.risk = monitor
        self.identity = identity
        self.wallet = wallet
        operations = RiskOperations(wallet: wallet, monitor: monitor)
        if let rules { try await operations.putRules(rules, slot: .live, by: nil) }
        let (_, token) = try await identity.createOperator(name: "simulated-support", role: .admin)
        support = try await identity.authenticateOperator(token: token)
    }

    func stop() {
        writer.cancel()
        try? FileManager.default.removeItem(atPath: folder)
    }

    // MARK: Accounts

    /// Opens every account on its creation day and funds it with its starting balance.
    func open(_ customers: [SimulatedCustomer]) async throws {
        for customer in customers {
            clock.set(customer.createdAt)
            let password = "purple horse battery \(customer.index) staple"
            let user = try await identity.register(.init(email: "c\(customer.index)@sim.lucid.example", phone: nil, password: password,
                                                         displayName: "Sim Customer", country: customer.home), tier: .full)
            users[customer.index] = user
            passwords[customer.index] = password
            if customer.legitimate { legitimate.insert(customer.index) }
            if customer.initialBalance > 0 {
                let signedIn = try await signIn(customer.index, device: nil, country: customer.home, source: customer.sources.first)
                _ = try await wallet.topUp(signedIn, amount: customer.initialBalance, currency: .cny, idempotencyKey: "open-\(customer.index)")
            }
        }
    }

    private func email(_ index: Int) -> String { "c\(index)@sim.lucid.example" }

    /// The bank account a simulated key names (`bank:own-12`, `bank:mule-3`): one account per key, so the
    /// services key it for risk as the in-memory run does.
    static func bankAccount(_ key: String?) -> BankAccountInput? {
        guard let key, key.hasPrefix("bank:") else { return nil }
        return BankAccountInput(bank: String(key.dropFirst("bank:".count).prefix(16)), last4: "0000")
    }

    /// A placeholder account for a payee that is not one of the simulated customers (a mule's layer account, a cash-out account).
    private func payeeUser(_ key: String) async throws -> UserID {
        if let id = extraUsers[key] { return id }
        let number = extraUsers.count
        let user = try await identity.register(.init(email: "payee\(number)@sim.lucid.example", phone: nil,
                                                     password: "orange horse battery \(number) staple", displayName: "Sim Payee",
                                                     country: "CN"), tier: .full)
        extraUsers[key] = user.id
        return user.id
    }

    private func merchant(_ key: String) async throws -> MerchantID {
        if let id = merchants[key] { return id }
        let merchant = try await wallet.createMerchant(name: String(key.dropFirst("merchant:".count).prefix(100)), country: "CN")
        merchants[key] = merchant.id
        return merchant.id
    }

    /// Signs in (outside the measured traffic) and returns the customer.
    private func signIn(_ index: Int, device: String?, country: String?, source: String?) async throws -> Customer {
        let session = try await identity.logIn(.init(login: email(index), password: passwords[index] ?? "", deviceID: device),
                                               origin: RequestOrigin(sourceAddress: source, country: country))
        remember(index, device: device, country: country, token: session.token)
        return try await identity.authenticateCustomer(token: session.token)
    }

    private func remember(_ index: Int, device: String?, country: String?, token: String) {
        sessions[index, default: [:]][(device ?? "-") + "|" + (country ?? "-")] = token
        lastSession[index] = token
    }

    /// The customer signed in on this device in this country, signing in first when there is no live session.
    private func customer(_ index: Int, device: String?, country: String?) async throws -> Customer {
        if let token = sessions[index]?[(device ?? "-") + "|" + (country ?? "-")],
           let customer = try? await identity.authenticateCustomer(token: token) {
            lastSession[index] = token
            return customer
        }
        return try await signIn(index, device: device, country: country, source: nil)
    }

    /// The one-time code the outbox would deliver to `user`'s phone.
    private func deliveredCode(for user: UserID) async throws -> String? {
        var code: String?
        for delivery in try await store.dueDeliveries(at: clock.now(), limit: 1_000) {
            if delivery.type == "verification_code", delivery.userID == user, let sealed = delivery.sealedSecret {
                code = String(decoding: try secrets.open(sealed), as: UTF8.self)
            }
            try await store.deliverySucceeded(delivery.id, at: clock.now())
        }
        return code
    }

    // MARK: Steps

    func changeCredentials(_ index: Int, at time: Timestamp) async {
        clock.set(time)
        guard let current = passwords[index] else { return }
        passwordChanges += 1
        let new = "green horse battery \(index) staple \(passwordChanges)"
        do {
            let token = lastSession[index]
            let signedIn: Customer
            if let token, let customer = try? await identity.authenticateCustomer(token: token) { signedIn = customer } else {
                signedIn = try await signIn(index, device: nil, country: users[index]?.country, source: nil)
            }
            try await identity.changePassword(signedIn, current: current, new: new, proof: .init(), origin: .unknown)
            passwords[index] = new
            // Every other session ended with the change.
            let kept = lastSession[index]
            sessions[index] = sessions[index]?.filter { $0.value == kept }
        } catch {
            FileHandle.standardError.write(Data("simulate: password change of customer \(index) failed: \(error)\n".utf8))
        }
    }

    func decide(_ request: SimulationRequest) async -> SimulationOutcome {
        clock.set(request.event.time)
        evaluations.clear()
        let enforced: RiskAction
        var moved: Bool?
        switch request.event.kind {
        case .login:
            enforced = await login(request)
        case .topup, .transfer, .payment, .withdrawal:
            (enforced, moved) = await money(request)
        }
        let seen = evaluations.all
        // Support unfreezes an ordinary customer's account once the owner is reached (after a false
        // alarm, or after a takeover was stopped): the owner's traffic goes on, as in the engine in memory.
        if enforced == .freeze, legitimate.contains(request.customer) { await unfreeze(request.customer) }
        return SimulationOutcome(first: seen.first?.decision, last: seen.last?.decision, enforced: enforced, moneyMoved: moved)
    }

    private func lastDecision() -> RiskAction { evaluations.all.last?.decision.action ?? .block }

    private func unfreeze(_ index: Int) async {
        guard let user = users[index], let support else { return }
        try? await identity.operatorUnfreeze(user.id, reason: "confirmed with the customer", by: support)
        sessions[index] = [:]
    }

    private func login(_ request: SimulationRequest) async -> RiskAction {
        let index = request.customer
        let event = request.event
        let succeeded = event.loginSucceeded == true
        var attempt = IdentityService.LoginAttempt(login: email(index), password: succeeded ? passwords[index] ?? "" : "not the password",
                                                   deviceID: event.device)
        let origin = RequestOrigin(sourceAddress: request.sourceAddress, country: event.country)
        // A challenged sign-in's code goes out through the outbox; only for sign-ins, the rest of the traffic has no deliveries.
        store.setDeliveryEndpoints([Self.outbox])
        defer { store.setDeliveryEndpoints([]) }
        do {
            let session = try await identity.logIn(attempt, origin: origin)
            remember(index, device: event.device, country: event.country, token: session.token)
            return .allow
        } catch let error as LucidError where error.code == .secondFactorRequired {
            guard request.answersChallenge, let user = users[index], let code = try? await deliveredCode(for: user.id) else {
                return .challenge
            }
            attempt.secondFactor = SecondFactorProof(verificationCode: code)
            do {
                let session = try await identity.logIn(attempt, origin: origin)
                remember(index, device: event.device, country: event.country, token: session.token)
                return .allow
            } catch {
                return lastDecision()
            }
        } catch let error as LucidError where error.code == .invalidCredentials && !succeeded {
            return lastDecision()
        } catch {
            return evaluations.all.isEmpty ? .block : lastDecision()
        }
    }

    private func money(_ request: SimulationRequest) async -> (RiskAction, Bool?) {
        let index = request.customer
        let event = request.event
        guard let amount = event.amount else { return (.block, false) }
        let key = "sim-\(event.id)"
        do {
            let customer = try await self.customer(index, device: event.device, country: event.country)
            evaluations.clear()
            let call: (SecondFactorProof) async throws -> (TransactionView, Int)
            switch event.kind {
            case .topup:
                let account = Self.bankAccount(event.rail)
                call = { _ in
                    try await self.wallet.topUp(customer, amount: amount.minorUnits, currency: .cny, idempotencyKey: key,
                                                bankAccount: account)
                }
            case .transfer:
                let payee = event.payee ?? ""
                let to: UserID
                if let receiver = request.payeeCustomer, let user = users[receiver] { to = user.id } else { to = try await payeeUser(payee) }
                call = { proof in
                    try await self.wallet.transfer(customer, to: .userID(to), amount: amount.minorUnits, currency: .cny, memo: nil,
                                                   idempotencyKey: key, proof: proof)
                }
            case .payment:
                let merchant = try await self.merchant(event.payee ?? "merchant:unknown")
                call = { proof in
                    try await self.wallet.pay(customer, merchant: merchant, amount: amount.minorUnits, currency: .cny, memo: nil,
                                              idempotencyKey: key, proof: proof)
                }
            case .withdrawal:
                let account = Self.bankAccount(event.payee)
                call = { proof in
                    try await self.wallet.withdraw(customer, amount: amount.minorUnits, currency: .cny, idempotencyKey: key, proof: proof,
                                                   bankAccount: account)
                }
            case .login:
                preconditionFailure("logins are not money")
            }
            do {
                return try await settle(try await call(.init()), request)
            } catch let error as LucidError where error.code == .secondFactorRequired && request.answersChallenge {
                // The customer asks for a code, reads it on their phone and sends the payment again.
                store.setDeliveryEndpoints([Self.outbox])
                defer { store.setDeliveryEndpoints([]) }
                try await identity.sendVerificationCode(customer, purpose: "step_up", origin: .unknown)
                guard let code = try await deliveredCode(for: customer.user.id) else { return (.challenge, false) }
                return try await settle(try await call(.init(verificationCode: code)), request)
            }
        } catch let error as LucidError {
            switch error.code {
            case .secondFactorRequired: return (.challenge, false)
            case .riskBlocked: return (lastDecision(), false)
            default:
                // Refused by something else (funds, a frozen account …): the money did not move.
                return (evaluations.all.last?.decision.action ?? .block, false)
            }
        } catch {
            return (.block, false)
        }
    }

    /// An accepted movement: a held one is decided at once the way the review team would —
    /// released for the real customer, refused for the attacker.
    private func settle(_ result: (TransactionView, Int), _ request: SimulationRequest) async throws -> (RiskAction, Bool?) {
        let (view, _) = result
        guard view.security?.status == "review" else { return (.allow, true) }
        guard let review = try await store.riskReviews(transactions: [view.id]).first else { return (.review, false) }
        if request.answersChallenge {
            _ = try await operations.approve(review.id, note: "confirmed with the customer", by: nil)
            return (.review, true)
        }
        _ = try await operations.reject(review.id, note: "fraud", freeze: false, by: nil)
        return (.review, false)
    }
}

/// The evaluations the risk monitor made during one step.
final class EvaluationLog: Sendable {
    private let list = Mutex<[RiskEvaluation]>([])
    func append(_ evaluation: RiskEvaluation) { list.withLock { $0.append(evaluation) } }
    func clear() { list.withLock { $0.removeAll() } }
    var all: [RiskEvaluation] { list.withLock { $0 } }
}

/// Rails that answer without waiting: the simulation's clock is the events' own.
private struct NoWait: GatewaySleeper {
    func sleep(for duration: Duration) async throws {}
}
