import Hummingbird
import LucidCore
import LucidServices
import LucidStore

/// Account protection routes (issue 4): thin handlers over `IdentityService`.
extension Routes {
    // MARK: Without a session

    @Sendable func requestPasswordReset(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(ResetRequestBody.self, from: request, allowedFields: ResetRequestBody.fields)
        try await identity.requestPasswordReset(login: body.login, origin: context.origin)
        // The same answer whether the login exists or not.
        return try JSONResponse.make(StatusDTO(status: "accepted", detail: "If the account exists, a reset link is on its way."),
                                     status: .accepted)
    }

    @Sendable func confirmPasswordReset(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(ResetConfirmBody.self, from: request, allowedFields: ResetConfirmBody.fields)
        try await identity.resetPassword(token: body.token, newPassword: body.newPassword, origin: context.origin)
        return Response(status: .noContent)
    }

    /// 挂失 for a stolen phone: the password alone freezes the account.
    @Sendable func freezeWithPassword(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(FreezeWithPasswordBody.self, from: request, allowedFields: FreezeWithPasswordBody.fields)
        try await identity.freeze(login: body.login, password: body.password, reason: body.reason, origin: context.origin)
        return try JSONResponse.make(StatusDTO(status: "frozen", detail: nil))
    }

    // MARK: The signed-in customer

    @Sendable func me(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        return try JSONResponse.make(AccountDTO(try await identity.securityOverview(of: customer.user.id)))
    }

    @Sendable func changePassword(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(PasswordChangeBody.self, from: request, allowedFields: PasswordChangeBody.fields)
        try await identity.changePassword(try context.requireCustomer(), current: body.currentPassword, new: body.newPassword,
                                          proof: body.proof, origin: context.origin)
        return Response(status: .noContent)
    }

    @Sendable func startTOTP(_ request: Request, context: LucidContext) async throws -> Response {
        let enrolment = try await identity.startTOTP(try context.requireCustomer(), origin: context.origin)
        return try JSONResponse.make(TOTPEnrolmentDTO(secret: enrolment.secret, otpauthUri: enrolment.uri), status: .created)
    }

    @Sendable func confirmTOTP(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(CodeBody.self, from: request, allowedFields: CodeBody.fields)
        let codes = try await identity.confirmTOTP(try context.requireCustomer(), code: body.code, origin: context.origin)
        return try JSONResponse.make(RecoveryCodesDTO(recoveryCodes: codes))
    }

    @Sendable func disableTOTP(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(PasswordAndFactorBody.self, from: request, allowedFields: PasswordAndFactorBody.fields)
        try await identity.disableTOTP(try context.requireCustomer(), password: body.password, proof: body.proof, origin: context.origin)
        return Response(status: .noContent)
    }

    @Sendable func listSessions(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let sessions = try await identity.sessions(of: customer)
        return try JSONResponse.make(ItemsDTO(items: sessions.map { SessionInfoDTO($0, current: customer.session.id) }))
    }

    @Sendable func revokeSession(_ request: Request, context: LucidContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(SessionID.init(parsing:)) else { throw LucidError(.sessionNotFound) }
        try await identity.revokeSession(id, of: try context.requireCustomer(), origin: context.origin)
        return Response(status: .noContent)
    }

    @Sendable func revokeOtherSessions(_ request: Request, context: LucidContext) async throws -> Response {
        let count = try await identity.revokeOtherSessions(of: try context.requireCustomer(), origin: context.origin)
        return try JSONResponse.make(["revoked": count])
    }

    @Sendable func freeze(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decodeOptional(FreezeBody.self, from: request, allowedFields: FreezeBody.fields)
        try await identity.freeze(try context.requireCustomer(), reason: body?.reason, origin: context.origin)
        return try JSONResponse.make(StatusDTO(status: "frozen", detail: nil))
    }

    @Sendable func unfreeze(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(PasswordAndFactorBody.self, from: request, allowedFields: PasswordAndFactorBody.fields)
        try await identity.unfreeze(try context.requireCustomer(), password: body.password, proof: body.proof, origin: context.origin)
        return try JSONResponse.make(StatusDTO(status: "active", detail: nil))
    }

    @Sendable func sendVerificationCode(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(VerificationCodeBody.self, from: request, allowedFields: VerificationCodeBody.fields)
        try await identity.sendVerificationCode(try context.requireCustomer(), purpose: body.purpose, origin: context.origin)
        return try JSONResponse.make(StatusDTO(status: "sent", detail: "The code was sent to your e-mail or phone."), status: .accepted)
    }

    @Sendable func reactivate(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decode(PasswordAndFactorBody.self, from: request, allowedFields: PasswordAndFactorBody.fields)
        try await identity.reactivate(try context.requireCustomer(), password: body.password, proof: body.proof, origin: context.origin)
        return try JSONResponse.make(StatusDTO(status: "active", detail: nil))
    }

    @Sendable func ownAudit(_ request: Request, context: LucidContext) async throws -> Response {
        let customer = try context.requireCustomer()
        let query = try PageQuery(request)
        let page = try await identity.auditTrail(of: customer.user.id, limit: query.limit, cursor: query.cursor)
        return try JSONResponse.make(PageDTO(items: page.items.map(AuditDTO.init), nextCursor: page.nextCursor))
    }

    @Sendable func notifications(_ request: Request, context: LucidContext) async throws -> Response {
        let query = try PageQuery(request)
        let page = try await identity.notifications(of: try context.requireCustomer(), limit: query.limit, cursor: query.cursor,
                                                    language: context.language)
        return try JSONResponse.make(PageDTO(items: page.items.map(NotificationDTO.init), nextCursor: page.nextCursor))
    }

    @Sendable func markNotificationsRead(_ request: Request, context: LucidContext) async throws -> Response {
        let body = try await JSONBody.decodeOptional(ReadUpToBody.self, from: request, allowedFields: ReadUpToBody.fields)
        let count = try await identity.markNotificationsRead(of: try context.requireCustomer(), upTo: body?.upTo)
        return try JSONResponse.make(["marked_read": count])
    }

    // MARK: Operators

    private func userParameter(_ context: LucidContext) throws(LucidError) -> UserID {
        guard let id = context.parameters.get("id").flatMap(UserID.init(parsing:)) else { throw LucidError(.userNotFound) }
        return id
    }

    @Sendable func operatorUser(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin, .support, .risk, .auditor)
        return try JSONResponse.make(AccountDTO(try await identity.securityOverview(of: try userParameter(context))))
    }

    @Sendable func operatorFreeze(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(ReasonBody.self, from: request, allowedFields: ReasonBody.fields)
        try await identity.operatorFreeze(try userParameter(context), reason: body.reason, by: op)
        return try JSONResponse.make(StatusDTO(status: "frozen", detail: nil))
    }

    @Sendable func operatorUnfreeze(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(ReasonBody.self, from: request, allowedFields: ReasonBody.fields)
        try await identity.operatorUnfreeze(try userParameter(context), reason: body.reason, by: op)
        return try JSONResponse.make(StatusDTO(status: "active", detail: nil))
    }

    @Sendable func operatorUnlock(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(ReasonBody.self, from: request, allowedFields: ReasonBody.fields)
        try await identity.operatorUnlock(try userParameter(context), reason: body.reason, by: op)
        return try JSONResponse.make(StatusDTO(status: "unlocked", detail: nil))
    }

    @Sendable func operatorAudit(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin, .support, .risk, .auditor)
        let query = try PageQuery(request)
        var user: UserID?
        if let text = request.uri.queryParameters["user_id"] {
            guard let id = UserID(parsing: String(text)) else { throw LucidError(.userNotFound) }
            user = id
        }
        let page = try await identity.auditTrail(of: user, limit: query.limit, cursor: query.cursor)
        return try JSONResponse.make(PageDTO(items: page.items.map(AuditDTO.init), nextCursor: page.nextCursor))
    }
}
