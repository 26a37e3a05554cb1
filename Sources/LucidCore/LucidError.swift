/// A value mentioned by an error message, also returned to clients in `params`.
public enum ErrorParam: Sendable, Hashable {
    case int(Int64)
    case text(String)
}

/// The one error type of the service.
///
/// `code` is stable and documented; `params` holds every number the message
/// mentions; `cause` is for logs only and never reaches a response.
public struct LucidError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: ErrorCode
    public let params: [String: ErrorParam]
    /// Internal detail for operators' logs (never shown to customers).
    public let cause: String?

    public init(_ code: ErrorCode, _ params: [String: ErrorParam] = [:], cause: String? = nil) {
        self.code = code
        self.params = params
        self.cause = cause
    }

    public var status: Int { ErrorCatalogue.entry(code).status }

    public var description: String {
        "LucidError(\(code.rawValue), \(params)\(cause.map { ", cause: \($0)" } ?? ""))"
    }

    /// Convenience for the most common validation failure.
    public static func invalidField(_ field: String, _ reason: String) -> LucidError {
        LucidError(.invalidField, ["field": .text(field), "reason": .text(reason)])
    }
}

/// Stable snake_case error codes. Adding one means adding its catalogue entry;
/// a test walks every case and checks status, both languages and next steps.
public enum ErrorCode: String, CaseIterable, Sendable, Hashable {
    // Malformed or invalid input
    case malformedJSON = "malformed_json"
    case invalidField = "invalid_field"
    case unknownField = "unknown_field"
    case bodyTooLarge = "body_too_large"
    case stringTooLong = "string_too_long"
    case invalidAmount = "invalid_amount"
    case unsupportedCurrency = "unsupported_currency"
    case amountOverflow = "amount_overflow"
    case currencyMismatch = "currency_mismatch"
    case invalidCursor = "invalid_cursor"
    case unsupportedMediaType = "unsupported_media_type"
    // Idempotency
    case idempotencyKeyMissing = "idempotency_key_missing"
    case idempotencyKeyInvalid = "idempotency_key_invalid"
    case idempotencyKeyReused = "idempotency_key_reused"
    // Identity
    case unauthenticated = "unauthenticated"
    case invalidCredentials = "invalid_credentials"
    case forbidden = "forbidden"
    case loginAlreadyRegistered = "login_already_registered"
    case passwordTooWeak = "password_too_weak"
    case userNotFound = "user_not_found"
    // Money movement
    case insufficientFunds = "insufficient_funds"
    case perTransferLimitExceeded = "per_transfer_limit_exceeded"
    case dailyLimitExceeded = "daily_limit_exceeded"
    case payeeNotFound = "payee_not_found"
    case selfTransferNotAllowed = "self_transfer_not_allowed"
    case merchantNotFound = "merchant_not_found"
    case accountFrozen = "account_frozen"
    case transactionNotFound = "transaction_not_found"
    case transferAlreadyPosted = "transfer_already_posted"
    case transferAlreadyVoided = "transfer_already_voided"
    case transferExpired = "transfer_expired"
    case transferNotReversible = "transfer_not_reversible"
    // Protocol and service
    case routeNotFound = "route_not_found"
    case methodNotAllowed = "method_not_allowed"
    case clientOutdated = "client_outdated"
    case serviceOverloaded = "service_overloaded"
    case storageUnavailable = "storage_unavailable"
    case internalError = "internal_error"
    // Account protection (issue 4)
    case accountLocked = "account_locked"
    case secondFactorRequired = "second_factor_required"
    case secondFactorInvalid = "second_factor_invalid"
    case rateLimited = "rate_limited"
    case resetTokenInvalid = "reset_token_invalid"
    case totpAlreadyEnabled = "totp_already_enabled"
    case totpNotEnabled = "totp_not_enabled"
    case accountDormant = "account_dormant"
    case regionNotSupported = "region_not_supported"
    case unfreezeCoolingOff = "unfreeze_cooling_off"
    case sessionNotFound = "session_not_found"
    // Risk (issue 6). A challenge is answered with `second_factor_required` (identity's code), not one of these.
    case riskBlocked = "risk_blocked"
    case riskReview = "risk_review"
    case riskRulesInvalid = "risk_rules_invalid"
    // Payment rails (issue 5)
    case gatewayUnavailable = "gateway_unavailable"
    case gatewayTimeout = "gateway_timeout"
    case bankDeclined = "bank_declined"
    case railNotFound = "rail_not_found"
    case callbackSignatureInvalid = "callback_signature_invalid"
    case callbackReplayed = "callback_replayed"
    case settlementReportInvalid = "settlement_report_invalid"
    // Payment rails in the wallet: operator alerts and reconciliation runs (issue 5)
    case alertNotFound = "alert_not_found"
    case alertAlreadyResolved = "alert_already_resolved"
    case reconciliationNotFound = "reconciliation_not_found"
    // Saved withdrawal bank accounts (issue 4's step-up on adding one; API `bank_account_id`)
    case bankAccountNotFound = "bank_account_not_found"
    case bankAccountLimitReached = "bank_account_limit_reached"
    // Risk monitoring wiring (issue 6): the review queue and operators' risk settings
    case riskReviewNotFound = "risk_review_not_found"
    case riskReviewClosed = "risk_review_closed"
    case riskReviewClaimed = "risk_review_claimed"
    case riskDecisionNotFound = "risk_decision_not_found"
    case riskEntryNotFound = "risk_entry_not_found"
}

/// Languages Lucid answers in.
public enum Language: String, Sendable, CaseIterable {
    case en = "en"
    case zhCN = "zh-CN"

    /// Picks a language from an `Accept-Language` header, honouring q-values;
    /// any Chinese tag (zh, zh-CN, zh-Hans…) selects zh-CN; the default is English.
    public static func negotiate(_ header: String?) -> Language {
        guard let header, !header.isEmpty else { return .en }
        var best: (Language, Double)? = nil
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingSpaces }
            guard let tag = pieces.first?.lowercased(), !tag.isEmpty else { continue }
            var quality = 1.0
            for piece in pieces.dropFirst() where piece.hasPrefix("q=") {
                quality = Double(piece.dropFirst(2)) ?? 0
            }
            let language: Language?
            if tag == "zh" || tag.hasPrefix("zh-") { language = .zhCN }
            else if tag == "en" || tag.hasPrefix("en-") { language = .en }
            else { language = nil }
            if let language, quality > 0, quality > (best?.1 ?? 0) { best = (language, quality) }
        }
        return best?.0 ?? .en
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// An error rendered for one reader.
public struct ErrorDescription: Sendable, Equatable {
    public let status: Int
    public let title: String
    public let detail: String
    public let nextSteps: [String]
}

/// Text in both languages.
public struct Localized: Sendable {
    public let en: String
    public let zh: String
    public init(_ en: String, _ zh: String) { self.en = en; self.zh = zh }
    public func text(_ language: Language) -> String { language == .en ? en : zh }
}
