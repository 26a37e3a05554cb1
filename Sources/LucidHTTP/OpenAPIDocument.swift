import Foundation
import LucidCore

/// The OpenAPI 3.1 description served at `/openapi.json`.
///
/// Written as data next to the routes (one `operation` per route) rather than
/// generated from annotations: a test compares it with the router's table, so
/// a route without a description, or a description without a route, fails CI.
/// Every operation lists the error codes it can answer with.
enum OpenAPIDocument {
    /// Serialized once; the document does not change while the process runs.
    static let json: Data = {
        let document: [String: Any] = [
            "openapi": "3.1.0",
            "info": [
                "title": "Lucid Wallet API",
                "version": "1.0.0",
                "description": """
                    A digital wallet: customers top up, pay merchants, transfer to each other and withdraw. \
                    Amounts are integer minor units (1250 = ¥12.50). Every money-moving request carries an \
                    Idempotency-Key. Errors are RFC 9457 problem+json with a stable `code`, the numbers involved in \
                    `params`, and `detail` and `next_steps` in the language of Accept-Language (en or zh-CN).
                    """,
            ],
            "servers": [["url": "/"]],
            "tags": [
                ["name": "identity", "description": "Registration and sessions"],
                ["name": "money", "description": "Wallets and money movement"],
                ["name": "history", "description": "Transaction history"],
                ["name": "operations", "description": "Operator routes (operator bearer token)"],
                ["name": "rails", "description": "Payment rails: signed callbacks, rail health, alerts, reconciliation"],
                ["name": "risk", "description": "Risk monitoring: decisions, review queue, rules, lists (operator bearer token)"],
                ["name": "service", "description": "Health, metrics and this document"],
            ],
            "paths": paths().merging(gatewayPaths()) { $1 }.merging(riskPaths()) { $1 },
            "components": [
                "schemas": schemas().merging(gatewaySchemas()) { $1 }.merging(riskSchemas()) { $1 },
                "securitySchemes": [
                    "customer": ["type": "http", "scheme": "bearer", "description": "Token from POST /v1/sessions (lcs_…)."],
                    "operator": ["type": "http", "scheme": "bearer", "description": "Token from `lucid operator create` (lop_…)."],
                ],
                "parameters": [
                    "IdempotencyKey": [
                        "name": "Idempotency-Key", "in": "header", "required": true,
                        "description": "1–128 printable ASCII characters. The same key with the same body replays the first result; with another body it is idempotency_key_reused.",
                        "schema": ["type": "string", "minLength": 1, "maxLength": InputLimits.idempotencyKeyLengthMax],
                    ],
                    "AcceptLanguage": [
                        "name": "Accept-Language", "in": "header", "required": false,
                        "description": "zh-CN or en (default) for detail and next_steps.",
                        "schema": ["type": "string"],
                    ],
                    "ClientVersion": [
                        "name": "X-Client-Version", "in": "header", "required": false,
                        "description": "The app's version; below the configured minimum the answer is 426 client_outdated.",
                        "schema": ["type": "string"],
                    ],
                    "TransactionID": [
                        "name": "id", "in": "path", "required": true, "schema": ["type": "string", "format": "uuid"],
                        "description": "The id of the resource the path names",
                    ],
                ],
            ],
        ]
        return try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }()

    // MARK: Operations

    enum Security { case none, customer, `operator` }

    /// One operation. `errors` are the codes this route can answer with besides the
    /// ones every route shares (bad JSON, client outdated, unavailable, internal).
    static func op(
        _ summary: String, _ tag: String, _ security: Security, idempotent: Bool = false, body: String? = nil,
        optionalBody: Bool = false, query: [[String: Any]] = [], pathID: Bool = false,
        success: (status: Int, schema: String?, description: String), also: [Int: String] = [:], errors: [ErrorCode] = []
    ) -> [String: Any] {
        var parameters: [[String: Any]] = [["$ref": "#/components/parameters/AcceptLanguage"],
                                           ["$ref": "#/components/parameters/ClientVersion"]]
        if idempotent { parameters.append(["$ref": "#/components/parameters/IdempotencyKey"]) }
        if pathID { parameters.append(["$ref": "#/components/parameters/TransactionID"]) }
        parameters += query
        var codes = errors
        if body != nil { codes += [.malformedJSON, .unknownField, .invalidField, .bodyTooLarge, .unsupportedMediaType] }
        if idempotent { codes += [.idempotencyKeyMissing, .idempotencyKeyInvalid, .idempotencyKeyReused] }
        switch security {
        case .none: break
        case .customer: codes.append(.unauthenticated)
        case .operator: codes += [.unauthenticated, .forbidden]
        }
        codes += [.clientOutdated, .serviceOverloaded, .storageUnavailable, .internalError]
        var responses: [String: Any] = [:]
        for (status, description) in also.merging([success.status: success.description], uniquingKeysWith: { $1 }) {
            var response: [String: Any] = ["description": description]
            if let schema = success.schema { response["content"] = ["application/json": ["schema": ref(schema)]] }
            responses[String(status)] = response
        }
        var byStatus: [Int: [String]] = [:]
        for code in codes { byStatus[LucidError(code).status, default: []].append(code.rawValue) }
        for (status, names) in byStatus {
            let unique = Array(Set(names)).sorted()
            responses[String(status)] = [
                "description": "Problem with code " + unique.joined(separator: ", "),
                "content": ["application/problem+json": ["schema": [
                    "allOf": [["$ref": "#/components/schemas/Problem"],
                              ["properties": ["code": ["enum": unique]]]],
                ]]],
            ]
        }
        var operation: [String: Any] = ["summary": summary, "tags": [tag], "parameters": parameters, "responses": responses,
                                        "x-error-codes": Array(Set(codes.map(\.rawValue))).sorted()]
        switch security {
        case .none: operation["security"] = [[String: Any]]()
        case .customer: operation["security"] = [["customer": [String]()]]
        case .operator: operation["security"] = [["operator": [String]()]]
        }
        if let body {
            operation["requestBody"] = ["required": !optionalBody, "content": ["application/json": ["schema": ref(body)]]]
        }
        return operation
    }

    static func paths() -> [String: Any] {
        let pageQuery: [[String: Any]] = [
            ["name": "limit", "in": "query", "required": false,
             "schema": ["type": "integer", "minimum": 1, "maximum": InputLimits.pageSizeMax, "default": InputLimits.pageSizeDefault]],
            ["name": "cursor", "in": "query", "required": false, "schema": ["type": "string"],
             "description": "next_cursor of the previous page"],
        ]
        let moneyErrors: [ErrorCode] = [.invalidAmount, .unsupportedCurrency, .amountOverflow, .stringTooLong,
                                         .insufficientFunds, .perTransferLimitExceeded, .dailyLimitExceeded, .accountFrozen,
                                         .accountDormant, .secondFactorRequired, .secondFactorInvalid, .rateLimited,
                                         .regionNotSupported, .riskBlocked]
        return [
            "/healthz": ["get": op("Liveness", "service", .none, success: (200, "Health", "The process is up"))],
            "/metrics": ["get": op("Prometheus metrics (text format)", "service", .none, success: (200, nil, "Prometheus text exposition"))],
            "/openapi.json": ["get": op("This document", "service", .none, success: (200, nil, "OpenAPI 3.1 document"))],
            "/v1/users": ["post": op("Register a customer", "identity", .none, body: "RegisterRequest",
                                     success: (201, "User", "Registered"),
                                     errors: [.loginAlreadyRegistered, .passwordTooWeak, .stringTooLong, .regionNotSupported])],
            "/v1/sessions": ["post": op("Log in", "identity", .none, body: "SessionRequest",
                                        success: (201, "Session", "A bearer token for the customer routes"),
                                        errors: [.invalidCredentials, .stringTooLong, .secondFactorRequired, .secondFactorInvalid,
                                                 .rateLimited, .regionNotSupported, .riskBlocked])],
            "/v1/sessions/current": ["delete": op("Log out (revoke this token)", "identity", .customer,
                                                  success: (204, nil, "Logged out"))],
            "/v1/wallets": ["get": op("Own wallets with posted, pending and available balances", "money", .customer,
                                      success: (200, "WalletList", "One wallet per currency"))],
            "/v1/topups": ["post": op("Top up from the bank", "money", .customer, idempotent: true, body: "TopupRequest",
                                      success: (201, "Transaction", "Credited (state posted)"),
                                      also: [202: "Accepted: waiting for the bank (state pending, with reason and expected_by)"],
                                      errors: moneyErrors + railErrors)],
            "/v1/transfers": ["post": op("Transfer to another customer", "money", .customer, idempotent: true, body: "TransferRequest",
                                         success: (201, "Transaction", "Transferred"), also: [202: "Held for security review: state pending, reason security_review, expected_by, security.summary"],
                                         errors: moneyErrors + [.payeeNotFound, .selfTransferNotAllowed])],
            "/v1/payments": ["post": op("Pay a merchant", "money", .customer, idempotent: true, body: "PaymentRequest",
                                        success: (201, "Transaction", "Paid; the fee is in `fee`"), also: [202: "Held for security review: state pending, reason security_review, expected_by, security.summary"],
                                        errors: moneyErrors + [.merchantNotFound])],
            "/v1/withdrawals": ["post": op("Withdraw to the bank: a saved account (bank_account_id), an account by its details "
                                               + "(saved first if new: a second factor with 2FA on), or the newest saved one",
                                           "money", .customer, idempotent: true, body: "WithdrawalRequest",
                                           success: (201, "Transaction", "Held (state pending) until the bank settles"),
                                           also: [202: "Held for security review: state pending, reason security_review, expected_by, security.summary"],
                                           errors: moneyErrors + railErrors + [.bankAccountNotFound, .bankAccountLimitReached,
                                                                               .secondFactorRequired, .secondFactorInvalid])],
            "/v1/bank-accounts": [
                "get": op("Own saved withdrawal bank accounts, newest first", "money", .customer,
                          success: (200, "BankAccountList", "The saved accounts")),
                "post": op("Save a withdrawal bank account (second factor when 2FA is on; the customer is notified)", "money",
                           .customer, body: "BankAccountRequest", success: (201, "SavedBankAccount", "Saved"),
                           also: [200: "Already saved: the existing account, nothing changed"],
                           errors: [.bankAccountLimitReached, .secondFactorRequired, .secondFactorInvalid, .rateLimited,
                                    .accountFrozen, .stringTooLong]),
            ],
            "/v1/bank-accounts/{id}": ["delete": op("Remove a saved withdrawal bank account (the customer is notified)", "money",
                                                    .customer, pathID: true, success: (204, nil, "Removed"),
                                                    errors: [.bankAccountNotFound])],
            "/v1/transactions": ["get": op("Own transactions, newest first", "history", .customer, query: pageQuery,
                                           success: (200, "TransactionPage", "A page of transactions"),
                                           errors: [.invalidCursor, .invalidField])],
            "/v1/transactions/{id}": ["get": op("One of own transactions", "history", .customer, pathID: true,
                                                success: (200, "Transaction", "The transaction"),
                                                errors: [.transactionNotFound])],
            "/v1/ops/ledger/verify": ["get": op("Rebuild every balance from the journal", "operations", .operator,
                                                success: (200, "Verification", "ok is false when any mismatch was found"))],
            "/v1/ops/merchants": ["post": op("Register a merchant (admin)", "operations", .operator, body: "MerchantRequest",
                                             success: (201, "Merchant", "The merchant, with the id customers pay"),
                                             errors: [.stringTooLong])],
            "/v1/ops/transactions/{id}": ["get": op("Any transaction", "operations", .operator, pathID: true,
                                                    success: (200, "Transaction", "The transaction"),
                                                    errors: [.transactionNotFound])],
            "/v1/ops/transactions/{id}/reverse": ["post": op("Reverse a posted transaction with a compensating one (admin)",
                                                             "operations", .operator, idempotent: true, body: "ReverseRequest",
                                                             pathID: true, success: (201, "Transaction", "The reversal"),
                                                             errors: [.transactionNotFound, .transferNotReversible, .insufficientFunds, .stringTooLong])],
            "/v1/ops/transactions/{id}/post": ["post": op("Settle a pending transaction (admin)", "operations", .operator,
                                                          pathID: true, success: (200, "Transaction", "Posted"),
                                                          errors: [.transactionNotFound, .transferAlreadyPosted, .transferAlreadyVoided, .transferExpired])],
            "/v1/password-resets": ["post": op("Ask for a password reset link (sent through the outbox; same answer for unknown logins)",
                                               "identity", .none, body: "ResetRequest", success: (202, "Status", "Accepted"),
                                               errors: [.rateLimited, .stringTooLong])],
            "/v1/password-resets/confirm": ["post": op("Set a new password with a reset token (single-use, short-lived)", "identity",
                                                       .none, body: "ResetConfirm", success: (204, nil, "Password reset; every session ended"),
                                                       errors: [.resetTokenInvalid, .passwordTooWeak])],
            "/v1/freeze": ["post": op("Freeze an account with the password alone (stolen phone, 挂失)", "identity", .none,
                                      body: "FreezeWithPassword", success: (200, "Status", "Frozen; every session ended"),
                                      errors: [.invalidCredentials, .rateLimited, .stringTooLong])],
            "/v1/me": ["get": op("Own account: status, who froze it and why, 2FA, lock, dormancy", "identity", .customer,
                                 success: (200, "Account", "The account"))],
            "/v1/me/password": ["post": op("Change the password (second factor when 2FA is on); other sessions end", "identity",
                                           .customer, body: "PasswordChange", success: (204, nil, "Changed"),
                                           errors: [.invalidCredentials, .passwordTooWeak, .secondFactorRequired, .secondFactorInvalid,
                                                    .rateLimited])],
            "/v1/me/totp": ["post": op("Start two-factor enrolment", "identity", .customer,
                                       success: (201, "TOTPEnrolment", "Secret and otpauth:// URI"), errors: [.totpAlreadyEnabled])],
            "/v1/me/totp/confirm": ["post": op("Confirm enrolment with a code; returns 10 single-use recovery codes", "identity",
                                               .customer, body: "Code", success: (200, "RecoveryCodes", "Recovery codes, shown once"),
                                               errors: [.secondFactorInvalid, .totpAlreadyEnabled, .totpNotEnabled, .rateLimited])],
            "/v1/me/totp/disable": ["post": op("Switch two-factor off (password and a code)", "identity", .customer,
                                               body: "PasswordAndFactor", success: (204, nil, "Off"),
                                               errors: [.invalidCredentials, .secondFactorRequired, .secondFactorInvalid,
                                                        .totpNotEnabled, .rateLimited])],
            "/v1/me/sessions": ["get": op("Own sessions with device, first/last seen, IP and country", "identity", .customer,
                                          success: (200, "SessionList", "Live sessions"))],
            "/v1/me/sessions/{id}": ["delete": op("Revoke one of own sessions", "identity", .customer, pathID: true,
                                                  success: (204, nil, "Revoked"), errors: [.sessionNotFound])],
            "/v1/me/sessions/revoke-others": ["post": op("Sign out every other session", "identity", .customer,
                                                         success: (200, "Count", "How many were revoked"))],
            "/v1/me/freeze": ["post": op("Freeze own account now (挂失): outgoing money refused, every session ended", "identity",
                                         .customer, body: "Freeze", optionalBody: true, success: (200, "Status", "Frozen"),
                                         errors: [.stringTooLong])],
            "/v1/me/unfreeze": ["post": op("Unfreeze a self-frozen account (password and second factor, after a cooling-off)",
                                           "identity", .customer, body: "PasswordAndFactor", success: (200, "Status", "Active again"),
                                           errors: [.invalidCredentials, .secondFactorRequired, .secondFactorInvalid,
                                                    .unfreezeCoolingOff, .accountFrozen, .rateLimited])],
            "/v1/me/verification-codes": ["post": op("Send a one-time code through the outbox (for customers without 2FA)",
                                                     "identity", .customer, body: "VerificationCodeRequest",
                                                     success: (202, "Status", "Sent"), errors: [.rateLimited])],
            "/v1/me/reactivate": ["post": op("Re-verify a dormant account (password and second factor)", "identity", .customer,
                                             body: "PasswordAndFactor", success: (200, "Status", "Active again"),
                                             errors: [.invalidCredentials, .secondFactorRequired, .secondFactorInvalid, .rateLimited])],
            "/v1/me/audit": ["get": op("Own security events, newest first", "identity", .customer, query: pageQuery,
                                       success: (200, "AuditPage", "A page of events"), errors: [.invalidCursor, .invalidField])],
            "/v1/notifications": ["get": op("Own notifications, newest first, in the requested language", "identity", .customer,
                                            query: pageQuery, success: (200, "NotificationPage", "A page of notifications"),
                                            errors: [.invalidCursor, .invalidField])],
            "/v1/notifications/read": ["post": op("Mark notifications read (all, or up to an id)", "identity", .customer,
                                                  body: "ReadUpTo", optionalBody: true, success: (200, "Count", "How many"))],
            "/v1/ops/users/{id}": ["get": op("A customer's account and protection state (admin, support, risk, auditor)",
                                             "operations", .operator, pathID: true, success: (200, "Account", "The account"),
                                             errors: [.userNotFound])],
            "/v1/ops/users/{id}/freeze": ["post": op("Freeze an account with a reason (admin, support, risk)", "operations",
                                                     .operator, body: "Reason", pathID: true, success: (200, "Status", "Frozen"),
                                                     errors: [.userNotFound, .stringTooLong])],
            "/v1/ops/users/{id}/unfreeze": ["post": op("Unfreeze an account with a reason (admin, risk)", "operations", .operator,
                                                       body: "Reason", pathID: true, success: (200, "Status", "Active"),
                                                       errors: [.userNotFound, .stringTooLong])],
            "/v1/ops/users/{id}/unlock": ["post": op("Lift a sign-in lock with a reason (admin, support)", "operations", .operator,
                                                     body: "Reason", pathID: true, success: (200, "Status", "Unlocked"),
                                                     errors: [.userNotFound, .stringTooLong])],
            "/v1/ops/audit": ["get": op("The audit log, optionally for one user (?user_id=)", "operations", .operator,
                                        query: pageQuery + [["name": "user_id", "in": "query", "required": false,
                                                             "schema": ["type": "string", "format": "uuid"]]],
                                        success: (200, "AuditPage", "A page of events"),
                                        errors: [.invalidCursor, .invalidField, .userNotFound])],
            "/v1/ops/transactions/{id}/void": ["post": op("Cancel a pending transaction (admin)", "operations", .operator,
                                                          pathID: true, success: (200, "Transaction", "Voided"),
                                                          errors: [.transactionNotFound, .transferAlreadyPosted, .transferAlreadyVoided, .transferExpired])],
        ]
    }

    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }

    // MARK: Schemas

    static func schemas() -> [String: Any] {
        let money: [String: Any] = ["type": "integer", "format": "int64", "minimum": 1, "maximum": InputLimits.amountMax,
                                    "description": "Integer minor units (1250 = 12.50; JPY has none)."]
        let currency: [String: Any] = ["type": "string", "enum": Currency.supported.map(\.code)]
        let time: [String: Any] = ["type": "string", "format": "date-time"]
        let nullableTime: [String: Any] = ["type": ["string", "null"], "format": "date-time"]
        let nullableString: [String: Any] = ["type": ["string", "null"]]
        let factor: [String: Any] = [
            "totp_code": ["type": "string", "description": "Second factor for a step-up (2FA on)"],
            "recovery_code": ["type": "string"], "verification_code": ["type": "string"],
        ]
        func object(_ properties: [String: Any], required: [String], closed: Bool = true) -> [String: Any] {
            var schema: [String: Any] = ["type": "object", "properties": properties, "required": required]
            if closed { schema["additionalProperties"] = false }
            return schema
        }
        return [
            "Problem": object([
                "type": ["type": "string", "format": "uri"], "title": ["type": "string"], "status": ["type": "integer"],
                "code": ["type": "string", "enum": ErrorCode.allCases.map(\.rawValue)],
                "detail": ["type": "string", "description": "In the requested language"],
                "params": ["type": "object", "description": "Every number and value the detail mentions",
                           "additionalProperties": ["type": ["string", "integer"]]],
                "next_steps": ["type": "array", "items": ["type": "string"], "minItems": 1],
                "request_id": ["type": "string"],
            ], required: ["type", "title", "status", "code", "detail", "params", "next_steps", "request_id"]),
            "Health": object(["status": ["type": "string", "enum": ["ok"]]], required: ["status"]),
            "RegisterRequest": object([
                "email": ["type": "string", "maxLength": InputLimits.emailLengthMax],
                "phone": ["type": "string", "maxLength": InputLimits.phoneLengthMax],
                "password": ["type": "string", "minLength": InputLimits.passwordLengthMin, "maxLength": InputLimits.passwordLengthMax],
                "display_name": ["type": "string", "minLength": 1, "maxLength": InputLimits.displayNameLengthMax],
                "country": ["type": "string", "pattern": "^[A-Za-z]{2}$"],
            ], required: ["password", "display_name", "country"]),
            "User": object([
                "id": ["type": "string", "format": "uuid"], "email": nullableString, "phone": nullableString,
                "display_name": ["type": "string"], "country": ["type": "string"], "tier": ["type": "integer"],
                "status": ["type": "string", "enum": ["active", "frozen", "closed"]], "created_at": time,
            ], required: ["id", "display_name", "country", "tier", "status", "created_at"], closed: false),
            "SessionRequest": ["allOf": [ref("SecondFactor"), object([
                "login": ["type": "string", "description": "E-mail or phone", "maxLength": InputLimits.emailLengthMax],
                "password": ["type": "string", "maxLength": InputLimits.passwordLengthMax],
                "device_id": ["type": "string", "maxLength": InputLimits.deviceIDLengthMax],
            ], required: ["login", "password"], closed: false)]],
            "Session": object(["token": ["type": "string"], "user_id": ["type": "string"], "session_id": ["type": "string"],
                               "expires_at": time, "security_notice": ["type": ["object", "null"]]],
                              required: ["token", "user_id", "session_id", "expires_at"], closed: false),
            "Wallet": object([
                "currency": currency, "posted": ["type": "integer"], "pending_out": ["type": "integer"],
                "pending_in": ["type": "integer"],
                "available": ["type": "integer", "description": "posted − pending_out: what can be spent now"],
            ], required: ["currency", "posted", "pending_out", "pending_in", "available"], closed: false),
            "WalletList": object(["items": ["type": "array", "items": ref("Wallet")]], required: ["items"], closed: false),
            "TopupRequest": object(["amount": money, "currency": currency, "rail": railName, "bank_account": ref("BankAccount")],
                                   required: ["amount", "currency"]),
            "Payee": object([
                "phone": ["type": "string"], "email": ["type": "string"], "user_id": ["type": "string", "format": "uuid"],
            ], required: []),
            "TransferRequest": object([
                "to": ref("Payee"), "amount": money, "currency": currency,
                "memo": ["type": "string", "maxLength": InputLimits.memoLengthMax],
            ].merging(factor) { $1 }, required: ["to", "amount", "currency"]),
            "PaymentRequest": object([
                "merchant_id": ["type": "string", "format": "uuid"], "amount": money, "currency": currency,
                "memo": ["type": "string", "maxLength": InputLimits.memoLengthMax],
            ].merging(factor) { $1 }, required: ["merchant_id", "amount", "currency"]),
            "BankAccountRequest": object([
                "bank": ["type": "string", "minLength": 1, "maxLength": 16, "description": "The bank's short code, e.g. ICBC"],
                "last4": ["type": "string", "pattern": "^[0-9]{4}$", "description": "The account's last four digits"],
            ].merging(factor) { $1 }, required: ["bank", "last4"]),
            "SavedBankAccount": object([
                "id": ["type": "string", "format": "uuid"], "bank": ["type": "string"], "last4": ["type": "string"],
                "holder": ["type": "string", "description": "The holder's name, masked"], "created_at": time,
            ], required: ["id", "bank", "last4", "holder", "created_at"], closed: false),
            "BankAccountList": object(["items": ["type": "array", "items": ref("SavedBankAccount")]], required: ["items"], closed: false),
            "WithdrawalRequest": object(["amount": money, "currency": currency,
                                         "bank_account_id": ["type": "string", "maxLength": 64,
                                                             "description": "A saved account (GET /v1/bank-accounts); not with bank_account"],
                                         "rail": railName, "bank_account": ref("BankAccount")]
                                            .merging(factor) { $1 }, required: ["amount", "currency"]),
            "Counterparty": object([
                "type": ["type": "string", "enum": ["customer", "merchant", "bank", "operator"]],
                "name": ["type": "string", "description": "Masked for people"], "login": nullableString,
                "merchant_id": nullableString,
            ], required: ["type", "name"], closed: false),
            "Transaction": object([
                "id": ["type": "string", "format": "uuid"],
                "kind": ["type": "string", "enum": TransferKind.allCases.filter { !$0.isResolution }.map(\.rawValue)],
                "state": ["type": "string", "enum": TransferState.allCases.map(\.rawValue)],
                "amount": ["type": "integer"], "currency": currency, "fee": ["type": "integer", "minimum": 0],
                "direction": ["type": ["string", "null"], "enum": ["in", "out", NSNull()]],
                "counterparty": ref("Counterparty"), "memo": nullableString,
                "reason": ["type": ["string", "null"], "description": "Why a non-final transaction is where it is"],
                "expected_by": nullableTime, "resolved_at": nullableTime, "created_at": time,
                "reverses_id": nullableString, "reversed_by_id": nullableString,
                "rail": ["type": ["string", "null"], "description": "The payment rail of a top-up or withdrawal"],
                "security": ["oneOf": [ref("SecurityNote"), ["type": "null"]], "description": "Held by security monitoring"],
            ], required: ["id", "kind", "state", "amount", "currency", "fee", "counterparty", "created_at"], closed: false),
            "TransactionPage": object([
                "items": ["type": "array", "items": ref("Transaction")], "next_cursor": nullableString,
            ], required: ["items", "next_cursor"], closed: false),
            "MerchantRequest": object([
                "name": ["type": "string", "minLength": 1, "maxLength": InputLimits.merchantNameLengthMax],
                "country": ["type": "string", "pattern": "^[A-Za-z]{2}$"],
            ], required: ["name", "country"]),
            "Merchant": object(["id": ["type": "string"], "name": ["type": "string"], "country": ["type": "string"],
                                "created_at": time], required: ["id", "name", "country", "created_at"], closed: false),
            "ReverseRequest": object(["reason": ["type": "string", "minLength": 1, "maxLength": InputLimits.memoLengthMax]],
                                     required: ["reason"]),
            "SecondFactor": object([
                "totp_code": ["type": "string", "pattern": "^[0-9]{6}$"], "recovery_code": ["type": "string", "maxLength": 64],
                "verification_code": ["type": "string", "pattern": "^[0-9]{6}$"],
            ], required: []),
            "ResetRequest": object(["login": ["type": "string", "maxLength": InputLimits.emailLengthMax]], required: ["login"]),
            "ResetConfirm": object(["token": ["type": "string", "maxLength": 128], "new_password": ["type": "string"]],
                                   required: ["token", "new_password"]),
            "FreezeWithPassword": object(["login": ["type": "string"], "password": ["type": "string"],
                                          "reason": ["type": "string", "maxLength": InputLimits.memoLengthMax]],
                                         required: ["login", "password"]),
            "Freeze": object(["reason": ["type": "string", "maxLength": InputLimits.memoLengthMax]], required: []),
            "Reason": object(["reason": ["type": "string", "minLength": 1, "maxLength": InputLimits.memoLengthMax]], required: ["reason"]),
            "PasswordChange": ["allOf": [ref("SecondFactor"), object([
                "current_password": ["type": "string"], "new_password": ["type": "string"],
            ], required: ["current_password", "new_password"], closed: false)]],
            "PasswordAndFactor": ["allOf": [ref("SecondFactor"), object(["password": ["type": "string"]], required: ["password"],
                                                                        closed: false)]],
            "Code": object(["code": ["type": "string", "pattern": "^[0-9]{6}$"]], required: ["code"]),
            "VerificationCodeRequest": object(["purpose": ["type": "string", "enum": ["unfreeze", "reactivate", "step_up"]]],
                                              required: ["purpose"]),
            "ReadUpTo": object(["up_to": ["type": "string"]], required: []),
            "Status": object(["status": ["type": "string"], "detail": nullableString], required: ["status"], closed: false),
            "Count": ["type": "object", "additionalProperties": ["type": "integer"]],
            "TOTPEnrolment": object(["secret": ["type": "string"], "otpauth_uri": ["type": "string"]], required: ["secret", "otpauth_uri"]),
            "RecoveryCodes": object(["recovery_codes": ["type": "array", "items": ["type": "string"], "minItems": 10, "maxItems": 10]],
                                    required: ["recovery_codes"]),
            "SessionInfo": object([
                "id": ["type": "string"], "current": ["type": "boolean"], "device_id": nullableString, "user_agent": nullableString,
                "ip_address": nullableString, "country": nullableString, "first_seen_at": time, "last_seen_at": nullableTime,
                "expires_at": time,
            ], required: ["id", "current", "first_seen_at", "expires_at"], closed: false),
            "SessionList": object(["items": ["type": "array", "items": ref("SessionInfo")]], required: ["items"], closed: false),
            "Account": object([
                "user": ref("User"), "status": ["type": "string", "enum": ["active", "frozen", "closed"]],
                "frozen_by": nullableString, "frozen_reason": nullableString, "frozen_at": nullableTime,
                "unfreeze_available_at": nullableTime, "two_factor_enabled": ["type": "boolean"],
                "recovery_codes_left": ["type": "integer"], "locked_until": nullableTime,
                "failed_sign_in_attempts": ["type": "integer"], "dormant": ["type": "boolean"], "last_activity_at": nullableTime,
            ], required: ["user", "status", "two_factor_enabled", "dormant"], closed: false),
            "Notification": object([
                "id": ["type": "string"], "category": ["type": "string", "enum": ["security", "transaction", "support"]],
                "type": ["type": "string", "enum": NotificationKind.allCases.map(\.rawValue)], "title": ["type": "string"],
                "body": ["type": "string"], "actions": ["type": "array", "items": ["type": "string"]],
                "params": ["type": "object"], "created_at": time, "read_at": nullableTime,
            ], required: ["id", "category", "type", "title", "body", "actions", "created_at"], closed: false),
            "NotificationPage": object(["items": ["type": "array", "items": ref("Notification")], "next_cursor": nullableString],
                                       required: ["items", "next_cursor"], closed: false),
            "AuditEntry": object([
                "id": ["type": "string"], "at": time, "actor": ["type": "string"], "action": ["type": "string"],
                "user_id": nullableString, "source_address": nullableString, "details": ["type": "object"],
            ], required: ["id", "at", "actor", "action", "details"], closed: false),
            "AuditPage": object(["items": ["type": "array", "items": ref("AuditEntry")], "next_cursor": nullableString],
                                required: ["items", "next_cursor"], closed: false),
            "Verification": object([
                "ok": ["type": "boolean"], "accounts_checked": ["type": "integer"], "transfers_checked": ["type": "integer"],
                "mismatches": ["type": "array", "items": object([
                    "kind": ["type": "string"], "account_id": ["type": ["integer", "null"]], "currency": nullableString,
                    "expected": ["type": ["integer", "null"]], "actual": ["type": ["integer", "null"]], "detail": ["type": "string"],
                ], required: ["kind", "detail"], closed: false)],
            ], required: ["ok", "accounts_checked", "transfers_checked", "mismatches"], closed: false),
        ]
    }
}
