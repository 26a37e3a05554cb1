import Hummingbird
import LucidCore
import LucidServices
import LucidStore
import Prometheus

/// Thin handlers: decode, call one service entry point, encode.
struct Routes {
    let wallet: WalletService
    let identity: IdentityService
    let risk: RiskOperations
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<LucidContext>) {
        router.get("healthz") { _, _ in try JSONResponse.make(["status": "ok"]) }
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("openapi.json") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.json)))
        }

        let v1 = router.group("v1")
        v1.post("users", use: register)
        v1.post("sessions", use: logIn)
        v1.post("password-resets", use: requestPasswordReset)
        v1.post("password-resets/confirm", use: confirmPasswordReset)
        v1.post("freeze", use: freezeWithPassword)

        let customer = v1.group().add(middleware: CustomerAuthMiddleware(identity: identity))
        customer.delete("sessions/current", use: logOut)
        customer.get("wallets", use: wallets)
        customer.post("topups", use: topUp)
        customer.post("transfers", use: transfer)
        customer.post("payments", use: pay)
        customer.post("withdrawals", use: withdraw)
        customer.get("bank-accounts", use: bankAccounts)
        customer.post("bank-accounts", use: addBankAccount)
        customer.delete("bank-accounts/:id", use: removeBankAccount)
        customer.get("transactions", use: transactions)
        customer.get("transactions/:id", use: transaction)
        customer.get("me", use: me)
        customer.post("me/password", use: changePassword)
        customer.post("me/totp", use: startTOTP)
        customer.post("me/totp/confirm", use: confirmTOTP)
        customer.post("me/totp/disable", use: disableTOTP)
        customer.get("me/sessions", use: listSessions)
        customer.delete("me/sessions/:id", use: revokeSession)
        customer.post("me/sessions/revoke-others", use: revokeOtherSessions)
        customer.post("me/freeze", use: freeze)
        customer.post("me/unfreeze", use: unfreeze)
        customer.post("me/verification-codes", use: sendVerificationCode)
        customer.post("me/reactivate", use: reactivate)
        customer.get("me/audit", use: ownAudit)
        customer.get("notifications", use: notifications)
        customer.post("notifications/read", use: markNotificationsRead)

        let ops = v1.group("ops").add(middleware: OperatorAuthMiddleware(identity: identity))
        ops.get("ledger/verify", use: verify)
        ops.post("merchants", use: createMerchant)
        ops.get("transactions/:id", use: operatorTransaction)
        ops.post("transactions/:id/reverse", use: reverse)
        ops.post("transactions/:id/post") { request, context in try await resolve(request, context, .post) }
        ops.post("transactions/:id/void") { request, context in try await resolve(request, context, .void) }
        ops.get("users/:id", use: operatorUser)
        ops.post("users/:id/freeze", use: operatorFreeze)
        ops.post("users/:id/unfreeze", use: operatorUnfreeze)
        ops.post("users/:id/unlock", use: operatorUnlock)
        ops.get("audit", use: operatorAudit)
        registerGateway(v1: v1, ops: ops)
        registerRisk(on: ops.group("risk"))
    }

    // MARK: Identity

    @Sendable func register(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(RegisterBody.self, from: request, allowedFields: RegisterBody.fields)
        let user = try await identity.register(.init(email: body.email, phone: body.phone, password: body.password,
                                                     displayName: body.displayName, country: body.country), origin: context.origin)
        return try JSONResponse.make(UserDTO(user), status: .created)
    }

    @Sendable func logIn(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(SessionBody.self, from: request, allowedFields: SessionBody.fields)
        let session = try await identity.logIn(.init(login: body.login, password: body.password, deviceID: body.deviceId,
                                                     secondFactor: body.proof), origin: context.origin)
        return try JSONResponse.make(SessionDTO(token: session.token, userId: session.userID.rawValue,
                                                sessionId: session.sessionID.rawValue, expiresAt: session.expiresAt.rfc3339,
                                                securityNotice: session.notices.isEmpty ? nil : JSONObject(session.notices)),
                                     status: .created)
    }

    @Sendable func logOut(_ request: Request, context: LucidContext) async throws -> Response {
        try await identity.logOut(try context.requireCustomer(), origin: context.origin)
        return Response(status: .noContent)
    }

    // MARK: Money

    @Sendable func wallets(_ request: Request, context: LucidContext) async throws -> Response {
        let items = try await wallet.wallets(of: try context.requireCustomer()).map {
            WalletDTO(currency: $0.currency.code, posted: $0.posted, pendingOut: $0.pendingOut, pendingIn: $0.pendingIn,
                      available: $0.available)
        }
        return try JSONResponse.make(ItemsDTO(items: items))
    }

    @Sendable func topUp(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let key = try Validate.idempotencyKey(request.headers[.idempotencyKey])
        let body = try await JSONBody.decode(TopupBody.self, from: request, allowedFields: TopupBody.fields,
                                             nested: ["bank_account": BankAccountBody.fields])
        let (view, status) = try await wallet.topUp(customer, amount: body.amount, currency: body.currency, idempotencyKey: key,
                                                    rail: body.rail, bankAccount: body.bankAccount?.input)
        return try JSONResponse.make(TransactionDTO(view, language: context.language), status: .init(code: status))
    }

    @Sendable func transfer(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let key = try Validate.idempotencyKey(request.headers[.idempotencyKey])
        let body = try await JSONBody.decode(TransferBody.self, from: request, allowedFields: TransferBody.fields,
                                             nested: ["to": PayeeBody.fields])
        let payee: PayeeSelector
        switch (body.to.phone, body.to.email, body.to.userId) {
        case (let phone?, nil, nil): payee = .phone(phone)
        case (nil, let email?, nil): payee = .email(email)
        case (nil, nil, let id?):
            guard let userID = UserID(parsing: id) else { throw LucidError(.payeeNotFound) }
            payee = .userID(userID)
        default: throw LucidError.invalidField("to", "give exactly one of phone, email or user_id")
        }
        let (view, status) = try await wallet.transfer(customer, to: payee, amount: body.amount, currency: body.currency,
                                                       memo: body.memo, idempotencyKey: key, proof: body.proof)
        return try JSONResponse.make(TransactionDTO(view, language: context.language), status: .init(code: status))
    }

    @Sendable func pay(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let key = try Validate.idempotencyKey(request.headers[.idempotencyKey])
        let body = try await JSONBody.decode(PaymentBody.self, from: request, allowedFields: PaymentBody.fields)
        guard let merchant = MerchantID(parsing: body.merchantId) else { throw LucidError(.merchantNotFound) }
        let (view, status) = try await wallet.pay(customer, merchant: merchant, amount: body.amount, currency: body.currency,
                                                  memo: body.memo, idempotencyKey: key, proof: body.proof)
        return try JSONResponse.make(TransactionDTO(view, language: context.language), status: .init(code: status))
    }

    @Sendable func withdraw(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let key = try Validate.idempotencyKey(request.headers[.idempotencyKey])
        let body = try await JSONBody.decode(WithdrawalBody.self, from: request, allowedFields: WithdrawalBody.fields,
                                             nested: ["bank_account": BankAccountBody.fields])
        let (view, status) = try await wallet.withdraw(customer, amount: body.amount, currency: body.currency, idempotencyKey: key,
                                                       proof: body.proof, rail: body.rail, bankAccountID: body.bankAccountId,
                                                       bankAccount: body.bankAccount?.input, origin: context.origin)
        return try JSONResponse.make(TransactionDTO(view, language: context.language), status: .init(code: status))
    }

    @Sendable func bankAccounts(_ request: Request, context: LucidContext) async throws -> Response {
        let accounts = try await wallet.bankAccounts(of: try context.requireCustomer())
        return try JSONResponse.make(ItemsDTO(items: accounts.map(BankAccountDTO.init)))
    }

    /// 201 with the new account; 200 with the saved one when the customer already holds it.
    @Sendable func addBankAccount(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let body = try await JSONBody.decode(AddBankAccountBody.self, from: request, allowedFields: AddBankAccountBody.fields)
        let (account, created) = try await wallet.addBankAccount(customer, BankAccountInput(bank: body.bank, last4: body.last4),
                                                                 proof: body.proof, origin: context.origin)
        return try JSONResponse.make(BankAccountDTO(account), status: created ? .created : .ok)
    }

    @Sendable func removeBankAccount(_ request: Request, context: LucidContext) async throws -> Response {
        try await wallet.removeBankAccount(try context.requireCustomer(), id: context.parameters.get("id") ?? "", origin: context.origin)
        return Response(status: .noContent)
    }

    @Sendable func transactions(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let query = try PageQuery(request)
        let page = try await wallet.transactions(of: customer, limit: query.limit, cursor: query.cursor)
        return try JSONResponse.make(PageDTO(items: page.items.map { TransactionDTO($0, language: context.language) },
                                             nextCursor: page.nextCursor))
    }

    @Sendable func transaction(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        guard let id = context.parameters.get("id").flatMap(TransferID.init(parsing:)) else {
            throw LucidError(.transactionNotFound)
        }
        return try JSONResponse.make(TransactionDTO(try await wallet.transaction(id, of: customer), language: context.language))
    }

    // MARK: Operations

    @Sendable func verify(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin, .support, .auditor)
        return try JSONResponse.make(VerificationDTO(try await wallet.verifyLedger()))
    }

    @Sendable func createMerchant(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin)
        let body = try await JSONBody.decode(MerchantBody.self, from: request, allowedFields: MerchantBody.fields)
        let merchant = try await wallet.createMerchant(name: body.name, country: body.country)
        return try JSONResponse.make(MerchantDTO(id: merchant.id.rawValue, name: merchant.name, country: merchant.country,
                                                 createdAt: merchant.createdAt.rfc3339), status: .created)
    }

    @Sendable func operatorTransaction(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin, .support, .auditor)
        guard let id = context.parameters.get("id").flatMap(TransferID.init(parsing:)) else { throw LucidError(.transactionNotFound) }
        return try JSONResponse.make(TransactionDTO(try await wallet.operatorTransaction(id)))
    }

    @Sendable func reverse(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let key = try Validate.idempotencyKey(request.headers[.idempotencyKey])
        guard let id = context.parameters.get("id").flatMap(TransferID.init(parsing:)) else { throw LucidError(.transactionNotFound) }
        let body = try await JSONBody.decode(ReverseBody.self, from: request, allowedFields: ReverseBody.fields)
        let view = try await wallet.reverse(id, reason: body.reason, by: op, idempotencyKey: key)
        return try JSONResponse.make(TransactionDTO(view), status: .created)
    }

    @Sendable func resolve(_ request: Request, _ context: LucidContext, _ action: PendingAction) async throws -> Response {
        let op = try context.requireOperator()
        guard let id = context.parameters.get("id").flatMap(TransferID.init(parsing:)) else { throw LucidError(.transactionNotFound) }
        return try JSONResponse.make(TransactionDTO(try await wallet.resolve(id, action, by: op)))
    }
}

/// `?limit=` and `?cursor=` of a list route; the limit is checked by the service against `pageSizeMax`.
struct PageQuery {
    let limit: Int?
    let cursor: String?

    init(_ request: Request) throws(LucidError) {
        if let text = request.uri.queryParameters["limit"] {
            guard let value = Int(text) else { throw LucidError.invalidField("limit", "must be an integer") }
            limit = value
        } else {
            limit = nil
        }
        cursor = request.uri.queryParameters["cursor"].map { String($0.prefix(100)) }
    }
}
