import LucidCore
import Testing

/// The catalogue is data: every code must be complete in both languages.
@Suite("Error catalogue")
struct ErrorCatalogueTests {
    /// Every parameter name any message may mention, with a plausible value.
    static let sampleParams: [String: ErrorParam] = [
        "amount": .int(10_050), "available": .int(8_000), "required": .int(10_050), "fee": .int(50),
        "shortfall": .int(2_050), "limit": .int(200_000), "used": .int(150_000), "remaining": .int(50_000),
        "currency": .text("CNY"), "expected_currency": .text("CNY"), "field": .text("amount"), "reason": .text("too long"),
        "max": .int(1_000), "max_length": .int(140), "min_length": .int(8), "limit_bytes": .int(16_384),
        "content_type": .text("text/plain"), "client_version": .text("1.0.0"), "minimum_version": .text("2.0.0"),
        "expired_at": .text("2026-11-25T08:00:00.000Z"), "method": .text("PATCH"), "path": .text("/v1/nothing"),
        "required_role": .text("admin"), "resets_at": .text("2026-11-26T00:00:00.000Z"), "state": .text("pending"),
        "tier": .int(0), "frozen_by": .text("customer"), "frozen_at": .text("2026-11-25T08:00:00.000Z"),
        // Account protection (issue 4)
        "locked_until": .text("2026-11-25T08:15:00.000Z"), "methods": .text("totp, recovery_code"),
        "retry_after_seconds": .int(15), "country": .text("KP"), "available_at": .text("2026-11-26T08:00:00.000Z"),
        "risk_reason": .text("unusual_activity"), "decision_id": .text("sim-e42"),
        "review_until": .text("2026-11-26T08:00:00.000Z"), "line": .int(12),
        // Payment rails (issue 5)
        "rail": .text("bank-a"), "alternative_rail": .text("bank-b"),
        "bank_reason": .text("R02_account_closed"), "event_id": .text("evt_bank-a_000042"), "line_number": .int(17),
        "alert_id": .text("0193a0de-0000-7000-8000-000000000001"), "resolved_by": .text("operator:alice"),
        "resolved_at": .text("2026-11-25T09:00:00.000Z"), "reconciliation_id": .text("0193a0de-0000-7000-8000-000000000002"),
        // Saved bank accounts
        "bank_account_id": .text("0193a0de-0000-7000-8000-000000000003"),
        // Risk monitoring wiring (issue 6)
        "claimed_by": .text("operator:risk-1"),
    ]

    @Test("every code has a status, both languages, a detail without placeholders and a next step", arguments: ErrorCode.allCases)
    func complete(code: ErrorCode) {
        let error = LucidError(code, Self.sampleParams)
        let en = ErrorCatalogue.describe(error, in: .en)
        let zh = ErrorCatalogue.describe(error, in: .zhCN)
        #expect((400...599).contains(en.status))
        #expect(en.status == zh.status)
        for text in [en.title, en.detail, zh.title, zh.detail] + en.nextSteps + zh.nextSteps {
            #expect(!text.isEmpty)
            #expect(!text.contains("?"), "a message mentions a parameter no catalogue sample provides: \(text)")
        }
        #expect(!en.nextSteps.isEmpty && en.nextSteps.count == zh.nextSteps.count)
        #expect(zh.detail.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) }, "zh-CN text is Chinese")
        #expect(!en.detail.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) }, "English text is English")
        #expect(code.rawValue.allSatisfy { $0.isLowercase || $0 == "_" }, "codes are snake_case")
    }

    /// Pins code → status so a change is a deliberate, reviewed one.
    @Test("statuses are stable")
    func statuses() {
        let expected: [ErrorCode: Int] = [
            .malformedJSON: 400, .unknownField: 400, .invalidField: 422, .bodyTooLarge: 413, .invalidAmount: 422,
            .unsupportedCurrency: 422, .idempotencyKeyMissing: 400, .idempotencyKeyInvalid: 400,
            .idempotencyKeyReused: 409, .unauthenticated: 401, .invalidCredentials: 401, .forbidden: 403,
            .loginAlreadyRegistered: 409, .insufficientFunds: 422, .perTransferLimitExceeded: 422,
            .dailyLimitExceeded: 422, .payeeNotFound: 404, .accountFrozen: 403, .transactionNotFound: 404,
            .transferAlreadyPosted: 409, .transferAlreadyVoided: 409, .transferExpired: 409, .routeNotFound: 404,
            .clientOutdated: 426, .serviceOverloaded: 503, .storageUnavailable: 503, .internalError: 500,
            .passwordTooWeak: 422,
            // Account protection (issue 4)
            .accountLocked: 423, .secondFactorRequired: 401, .secondFactorInvalid: 401, .rateLimited: 429,
            .resetTokenInvalid: 400, .totpAlreadyEnabled: 409, .totpNotEnabled: 409, .accountDormant: 403,
            .regionNotSupported: 403, .unfreezeCoolingOff: 409,
            .riskBlocked: 403, .riskReview: 423, .riskRulesInvalid: 422,
            // Payment rails (issue 5)
            .gatewayUnavailable: 503, .gatewayTimeout: 504, .bankDeclined: 422, .railNotFound: 404,
            .callbackSignatureInvalid: 401, .callbackReplayed: 409, .settlementReportInvalid: 422,
            .alertNotFound: 404, .alertAlreadyResolved: 409, .reconciliationNotFound: 404,
            .bankAccountNotFound: 404, .bankAccountLimitReached: 422,
            .riskReviewNotFound: 404, .riskReviewClosed: 409, .riskReviewClaimed: 409, .riskDecisionNotFound: 404,
            .riskEntryNotFound: 404,
        ]
        for (code, status) in expected {
            #expect(LucidError(code).status == status, "\(code.rawValue)")
        }
    }

    @Test("insufficient funds names every number, formatted in the currency")
    func insufficientFundsText() {
        let error = LucidError(.insufficientFunds, [
            "available": .int(8_000), "required": .int(10_050), "fee": .int(50), "shortfall": .int(2_050), "currency": .text("CNY"),
        ])
        let en = ErrorCatalogue.describe(error, in: .en)
        #expect(en.detail == "Available balance is ¥80.00 but this needs ¥100.50 including a ¥0.50 fee.")
        #expect(en.nextSteps.first == "Top up at least ¥20.50, or send a smaller amount.")
        let zh = ErrorCatalogue.describe(error, in: .zhCN)
        #expect(zh.detail == "可用余额为 ¥80.00，但本次需要 ¥100.50（含手续费 ¥0.50）。")
    }

    @Test("password_too_weak explains each reason in both languages and keeps the length params",
          arguments: ["too_short", "too_long", "common", "contains_personal_data"])
    func passwordReasons(reason: String) {
        let params: [String: ErrorParam] = ["reason": .text(reason), "min_length": .int(8), "max_length": .int(256)]
        let texts = Set(["too_short", "too_long", "common", "contains_personal_data"].map { other in
            ErrorCatalogue.describe(LucidError(.passwordTooWeak, params.merging(["reason": .text(other)]) { $1 }), in: .en).detail
        })
        #expect(texts.count == 4, "every reason has its own text")
        for language in Language.allCases {
            let description = ErrorCatalogue.describe(LucidError(.passwordTooWeak, params), in: language)
            #expect(!description.detail.contains("?") && !description.nextSteps.isEmpty)
        }
        let short = ErrorCatalogue.describe(LucidError(.passwordTooWeak, params.merging(["reason": .text("too_short")]) { $1 }), in: .zhCN)
        #expect(short.detail == "密码太短：至少需要 8 个字符。")
    }

    @Test("a step-up names the action in words and says how to supply the factor")
    func secondFactorText() {
        let error = LucidError(.secondFactorRequired, ["reason": .text("unfreeze"), "methods": .text("totp, recovery_code")])
        let en = ErrorCatalogue.describe(error, in: .en)
        #expect(en.detail == "Unfreezing the account needs a second factor (totp, recovery_code).")
        #expect(en.nextSteps.first?.contains("totp_code") == true)
        #expect(ErrorCatalogue.describe(error, in: .zhCN).detail == "解冻账户需要第二重验证（totp, recovery_code）。")
    }

    @Test("Accept-Language picks zh-CN for any Chinese tag and honours q-values", arguments: [
        (nil, Language.en), ("", .en), ("zh-CN", .zhCN), ("zh", .zhCN), ("zh-Hans-CN", .zhCN), ("en-US", .en),
        ("fr-FR", .en), ("en;q=0.5, zh-CN;q=0.9", .zhCN), ("zh-CN;q=0.1, en", .en), ("zh;q=0", .en), ("de, zh-TW;q=0.8", .zhCN),
    ] as [(String?, Language)])
    func negotiate(header: String?, language: Language) {
        #expect(Language.negotiate(header) == language)
    }
}
