/// Every kind of notification Lucid sends, with its text in English and
/// Chinese. Like the error catalogue it is data: a test walks every kind.
///
/// A notification is stored as its kind and the values it mentions; the text
/// is rendered when it is read, in the reader's language.
public enum NotificationKind: String, CaseIterable, Sendable, Codable {
    // Security
    case newDeviceSignIn = "new_device_sign_in"
    case newCountrySignIn = "new_country_sign_in"
    case accountLocked = "account_locked"
    case accountUnlocked = "account_unlocked"
    case passwordChanged = "password_changed"
    case passwordResetRequested = "password_reset_requested"
    case passwordResetCompleted = "password_reset_completed"
    case twoFactorEnabled = "two_factor_enabled"
    case twoFactorDisabled = "two_factor_disabled"
    case recoveryCodeUsed = "recovery_code_used"
    case accountFrozen = "account_frozen"
    case accountUnfrozen = "account_unfrozen"
    case sessionsRevoked = "sessions_revoked"
    case verificationCode = "verification_code"
    case accountReactivated = "account_reactivated"
    case bankAccountAdded = "bank_account_added"
    case bankAccountRemoved = "bank_account_removed"
    // Money
    case moneyReceived = "money_received"
    case moneySent = "money_sent"
    case withdrawalSettled = "withdrawal_settled"
    case withdrawalReturned = "withdrawal_returned"
    case transactionReversed = "transaction_reversed"
    // Money crossing the wallet's edge (issue 5)
    case topUpCredited = "top_up_credited"
    case topUpFailed = "top_up_failed"
    case bankTransferDelayed = "bank_transfer_delayed"
    case balanceCorrected = "balance_corrected"
    // Risk monitoring (issue 6)
    case riskReviewHeld = "risk_review_held"
    case riskReviewApproved = "risk_review_approved"
    case riskReviewRejected = "risk_review_rejected"
    case riskReviewExpired = "risk_review_expired"
    case riskPaymentBlocked = "risk_payment_blocked"
    case riskSignInBlocked = "risk_sign_in_blocked"

    public enum Category: String, Sendable { case security, transaction, support }

    public var category: Category {
        switch self {
        case .moneyReceived, .moneySent, .withdrawalSettled, .withdrawalReturned, .transactionReversed, .topUpCredited,
             .topUpFailed, .bankTransferDelayed, .balanceCorrected, .riskReviewHeld, .riskReviewApproved, .riskReviewRejected,
             .riskReviewExpired: .transaction
        case .riskPaymentBlocked, .riskSignInBlocked: .security
        case .newDeviceSignIn, .newCountrySignIn, .accountLocked, .accountUnlocked, .passwordChanged, .passwordResetRequested,
             .passwordResetCompleted, .twoFactorEnabled, .twoFactorDisabled, .recoveryCodeUsed, .accountFrozen, .accountUnfrozen,
             .sessionsRevoked, .verificationCode, .accountReactivated, .bankAccountAdded, .bankAccountRemoved: .security
        }
    }

    /// What the customer can do about it, as stable action codes the app turns into buttons.
    public var actions: [String] {
        switch self {
        case .newDeviceSignIn, .newCountrySignIn: ["this_was_me", "secure_my_account"]
        case .accountLocked, .passwordChanged, .passwordResetCompleted, .twoFactorDisabled, .recoveryCodeUsed,
             .sessionsRevoked, .passwordResetRequested, .bankAccountAdded, .bankAccountRemoved: ["secure_my_account"]
        case .accountFrozen: ["unfreeze", "contact_support"]
        case .topUpFailed, .bankTransferDelayed, .balanceCorrected: ["contact_support"]
        case .topUpCredited: []
        case .riskPaymentBlocked, .riskSignInBlocked: ["secure_my_account", "contact_support"]
        case .riskReviewHeld, .riskReviewRejected: ["contact_support"]
        case .riskReviewApproved, .riskReviewExpired: []
        case .accountUnlocked, .twoFactorEnabled, .accountUnfrozen, .verificationCode, .accountReactivated, .moneyReceived,
             .moneySent, .withdrawalSettled, .withdrawalReturned, .transactionReversed: []
        }
    }
}

/// A notification rendered for one reader.
public struct NotificationText: Sendable, Hashable {
    public let title: String
    public let body: String
    public init(title: String, body: String) {
        self.title = title
        self.body = body
    }
}

public enum NotificationCatalogue {
    /// The values a notification mentions (strings and integers, like error params).
    public typealias Params = [String: ErrorParam]

    public static func render(_ kind: NotificationKind, _ params: Params, in language: Language) -> NotificationText {
        // Codes for who and how become words of the reader's language before the text is built.
        var values = params
        for key in ["by"] { if case .text(let code)? = values[key] { values[key] = .text(ActorWords.who(code).text(language)) } }
        if case .text(let code)? = values["how"] { values["how"] = .text(ActorWords.how(code).text(language)) }
        // Bank reason codes (`R01_insufficient_funds`) and movement directions become words too.
        for key in ["reason", "bank_reason"] {
            if case .text(let code)? = values[key], let words = BankWords.reason(code) { values[key] = .text(words.text(language)) }
        }
        if case .text(let code)? = values["direction"], let words = BankWords.movement(code) {
            values["direction"] = .text(words.text(language))
        }
        let text = localized(kind, ErrorCatalogue.Params(values: values))
        return NotificationText(title: text.title.text(language), body: text.body.text(language))
    }

    private static func localized(_ kind: NotificationKind, _ p: ErrorCatalogue.Params) -> (title: Localized, body: Localized) {
        switch kind {
        case .newDeviceSignIn:
            return (Localized("New device signed in", "新设备登录"),
                    Localized("Your account was signed in from a new device (\(p.text("device"))) in \(p.text("country")) at \(p.text("at")). If this was not you, secure your account now.",
                              "您的账户于 \(p.text("at")) 在 \(p.text("country")) 的新设备（\(p.text("device"))）上登录。如非本人操作，请立即保护账户。"))
        case .newCountrySignIn:
            return (Localized("Sign-in from a new country", "异地登录提醒"),
                    Localized("Your account was signed in from \(p.text("country")), a country it was not used in before, at \(p.text("at")). If this was not you, secure your account now.",
                              "您的账户于 \(p.text("at")) 在此前未使用过的地区（\(p.text("country"))）登录。如非本人操作，请立即保护账户。"))
        case .accountLocked:
            return (Localized("Sign-in locked", "登录已锁定"),
                    Localized("After \(p.text("failures")) wrong sign-in attempts your account is locked until \(p.text("locked_until")). Sign in with your second factor or reset your password to unlock it now.",
                              "由于连续 \(p.text("failures")) 次登录失败，您的账户已锁定至 \(p.text("locked_until"))。使用二次验证登录或重置密码可立即解锁。"))
        case .accountUnlocked:
            return (Localized("Sign-in unlocked", "登录已解锁"),
                    Localized("Your account was unlocked (\(p.text("how"))).", "您的账户已解锁（\(p.text("how"))）。"))
        case .passwordChanged:
            return (Localized("Password changed", "密码已修改"),
                    Localized("Your password was changed at \(p.text("at")); other devices were signed out. If this was not you, reset your password now.",
                              "您的密码已于 \(p.text("at")) 修改，其他设备已退出登录。如非本人操作，请立即重置密码。"))
        case .passwordResetRequested:
            return (Localized("Password reset requested", "已申请重置密码"),
                    Localized("Use the reset link within \(p.text("valid_minutes")) minutes. If you did not ask for it, ignore this message; your password is unchanged.",
                              "请在 \(p.text("valid_minutes")) 分钟内使用重置链接。如非本人申请，请忽略此消息，您的密码不会改变。"))
        case .passwordResetCompleted:
            return (Localized("Password reset", "密码已重置"),
                    Localized("Your password was reset at \(p.text("at")) and every device was signed out.",
                              "您的密码已于 \(p.text("at")) 重置，所有设备均已退出登录。"))
        case .twoFactorEnabled:
            return (Localized("Two-factor authentication on", "已开启二次验证"),
                    Localized("Signing in and sensitive actions now need a code from your authenticator app. Keep your recovery codes safe.",
                              "登录及敏感操作现在需要验证器应用中的验证码。请妥善保管恢复码。"))
        case .twoFactorDisabled:
            return (Localized("Two-factor authentication off", "已关闭二次验证"),
                    Localized("Two-factor authentication was switched off at \(p.text("at")). If this was not you, secure your account now.",
                              "二次验证已于 \(p.text("at")) 关闭。如非本人操作，请立即保护账户。"))
        case .recoveryCodeUsed:
            return (Localized("Recovery code used", "已使用恢复码"),
                    Localized("A recovery code was used; \(p.text("remaining")) remain.", "已使用一个恢复码，剩余 \(p.text("remaining")) 个。"))
        case .accountFrozen:
            return (Localized("Account frozen", "账户已冻结"),
                    Localized("Your account was frozen by \(p.text("by")) (\(p.text("reason"))). Money cannot leave it; incoming money still arrives. Every device was signed out.",
                              "您的账户已被\(p.text("by"))冻结（\(p.text("reason"))）。资金无法转出，转入资金仍可到账。所有设备均已退出登录。"))
        case .accountUnfrozen:
            return (Localized("Account unfrozen", "账户已解冻"),
                    Localized("Your account was unfrozen by \(p.text("by")).", "您的账户已由\(p.text("by"))解冻。"))
        case .sessionsRevoked:
            return (Localized("Signed out elsewhere", "其他设备已退出"),
                    Localized("\(p.text("count")) other session(s) were signed out.", "已退出 \(p.text("count")) 个其他会话。"))
        case .verificationCode:
            return (Localized("Verification code", "验证码"),
                    Localized("Your verification code for \(p.text("purpose")) is valid for \(p.text("valid_minutes")) minutes. Never share it.",
                              "您用于\(p.text("purpose"))的验证码 \(p.text("valid_minutes")) 分钟内有效，请勿告诉他人。"))
        case .accountReactivated:
            return (Localized("Account active again", "账户已恢复活跃"),
                    Localized("You verified yourself and your dormant account can move money again.",
                              "您已完成身份验证，休眠账户已恢复，可以正常转出资金。"))
        case .bankAccountAdded:
            return (Localized("Bank account added", "已添加银行账户"),
                    Localized("The bank account \(p.text("bank")) ****\(p.text("last4")) was added for withdrawals. If this was not you, secure your account now.",
                              "已添加提现银行账户 \(p.text("bank")) ****\(p.text("last4"))。如非本人操作，请立即保护您的账户。"))
        case .bankAccountRemoved:
            return (Localized("Bank account removed", "已删除银行账户"),
                    Localized("The bank account \(p.text("bank")) ****\(p.text("last4")) was removed from your withdrawal accounts.",
                              "已从提现账户中删除银行账户 \(p.text("bank")) ****\(p.text("last4"))。"))
        case .moneyReceived:
            return (Localized("Money received", "收款到账"),
                    Localized("You received \(p.money("amount")) from \(p.text("counterparty")).", "您收到来自\(p.text("counterparty"))的 \(p.money("amount"))。"))
        case .moneySent:
            return (Localized("Money sent", "付款成功"),
                    Localized("You sent \(p.money("amount")) to \(p.text("counterparty")).", "您已向\(p.text("counterparty"))支付 \(p.money("amount"))。"))
        case .withdrawalSettled:
            return (Localized("Withdrawal completed", "提现已到账"),
                    Localized("Your withdrawal of \(p.money("amount")) reached your bank.", "您提现的 \(p.money("amount")) 已到达银行账户。"))
        case .withdrawalReturned:
            return (Localized("Withdrawal returned", "提现已退回"),
                    Localized("Your withdrawal of \(p.money("amount")) did not go through (\(p.text("reason"))); the money is back in your wallet.",
                              "您提现的 \(p.money("amount")) 未能完成（\(p.text("reason"))），资金已退回钱包。"))
        case .transactionReversed:
            return (Localized("Transaction reversed", "交易已冲正"),
                    Localized("A transaction of \(p.money("amount")) was reversed: \(p.text("reason")).",
                              "一笔 \(p.money("amount")) 的交易已冲正：\(p.text("reason"))。"))
        case .topUpCredited:
            return (Localized("Top-up arrived", "充值已到账"),
                    Localized("Your top-up of \(p.money("amount")) arrived from your bank and is in your wallet.",
                              "您充值的 \(p.money("amount")) 已从银行到账，已存入钱包。"))
        case .topUpFailed:
            return (Localized("Top-up did not go through", "充值未成功"),
                    Localized("Your top-up of \(p.money("amount")) did not go through (\(p.text("reason"))); nothing was credited and your bank should not have charged you.",
                              "您充值的 \(p.money("amount")) 未能完成（\(p.text("reason"))），钱包未入账，银行也不应扣款。"))
        case .bankTransferDelayed:
            return (Localized("Taking longer than expected", "到账时间延长"),
                    Localized("Your \(p.text("direction")) of \(p.money("amount")) is taking longer than the bank said. Our team is checking it with the bank and will tell you the result; you do not need to do anything.",
                              "您的\(p.text("direction")) \(p.money("amount")) 处理时间超出银行预计。我们的团队正在与银行核实，结果会通知您，您无需任何操作。"))
        case .balanceCorrected:
            return (Localized("Balance corrected", "余额已更正"),
                    Localized("After checking with the bank, \(p.money("amount")) was \(p.text("direction")) your wallet (\(p.text("note"))).",
                              "经与银行核对，已\(p.text("direction"))您钱包 \(p.money("amount"))（\(p.text("note"))）。"))
        case .riskReviewHeld:
            let because = RiskReason.named(p.text("risk_reason")).explanation
            return (Localized("Payment under security review", "交易安全审核中"),
                    Localized("Your \(p.money("amount")) to \(p.text("counterparty")) is being checked by our security team because \(because.en). The money is held safely, not lost; you will hear from us by \(p.text("expected_by")).",
                              "由于\(because.zh)，您向\(p.text("counterparty"))支付的 \(p.money("amount")) 正在接受安全审核。资金已被安全冻结，不会丢失；我们将在 \(p.text("expected_by")) 前通知您结果。"))
        case .riskReviewApproved:
            return (Localized("Payment released", "交易已放行"),
                    Localized("Our security team checked your \(p.money("amount")) to \(p.text("counterparty")) and released it.",
                              "安全团队已审核您向\(p.text("counterparty"))支付的 \(p.money("amount"))，交易已放行。"))
        case .riskReviewRejected:
            return (Localized("Payment stopped", "交易已被拦截"),
                    Localized("Our security team stopped your \(p.money("amount")) to \(p.text("counterparty")); the money is back in your wallet. If you made this payment, contact support.",
                              "安全团队拦截了您向\(p.text("counterparty"))支付的 \(p.money("amount"))，资金已退回钱包。如确为本人操作，请联系客服。"))
        case .riskReviewExpired:
            return (Localized("Held payment returned", "冻结资金已退回"),
                    Localized("Your held \(p.money("amount")) to \(p.text("counterparty")) was not released in time; the money is back in your wallet and you can send it again.",
                              "您向\(p.text("counterparty"))支付的 \(p.money("amount")) 未能及时完成审核，资金已退回钱包，您可以重新发起。"))
        case .riskPaymentBlocked:
            let because = RiskReason.named(p.text("risk_reason")).explanation
            return (Localized("Payment stopped to protect you", "为保护您已拦截一笔交易"),
                    Localized("A payment of \(p.money("amount")) from your wallet was stopped because \(because.en). Nothing was taken from your balance. If it was not you, change your password and freeze your account.",
                              "由于\(because.zh)，您钱包的一笔 \(p.money("amount")) 支付已被拦截，余额未被扣除。如非本人操作，请立即修改密码并冻结账户。"))
        case .riskSignInBlocked:
            let because = RiskReason.named(p.text("risk_reason")).explanation
            return (Localized("Sign-in stopped to protect you", "为保护您已拦截一次登录"),
                    Localized("A sign-in to your account was stopped at \(p.text("at")) because \(because.en). If it was not you, change your password now.",
                              "由于\(because.zh)，一次于 \(p.text("at")) 的账户登录已被拦截。如非本人操作，请立即修改密码。"))
        }
    }
}

/// Stable codes for who did something and how, put into words in both languages.
public enum ActorWords {
    /// `customer`, `support`, `security_monitoring` (who froze or unfroze an account).
    public static func who(_ code: String) -> Localized {
        switch code {
        case "customer": Localized("you", "您本人")
        case "security_monitoring": Localized("security monitoring", "安全监控")
        case "support": Localized("customer support", "客服")
        default: Localized(code, code)
        }
    }

    /// `second_factor`, `password_reset`, `support` (how a lock was lifted).
    public static func how(_ code: String) -> Localized {
        switch code {
        case "second_factor": Localized("you proved your second factor", "您已通过二次验证")
        case "password_reset": Localized("your password was reset", "您已重置密码")
        case "support": Localized("by customer support", "由客服解除")
        default: Localized(code, code)
        }
    }
}

/// Bank reason codes and movement words, in both languages, for notifications about money crossing the edge.
public enum BankWords {
    /// A rail's failure code (`R01_insufficient_funds`) or a Lucid resolution code, in words; nil for free text.
    public static func reason(_ code: String) -> Localized? {
        switch code {
        case "R01_insufficient_funds": Localized("the bank account does not have enough money", "银行账户余额不足")
        case "R02_account_closed": Localized("the bank account is closed", "银行账户已销户")
        case "R61_limit_exceeded": Localized("a limit at the bank is exceeded", "超过了银行的限额")
        case "R91_bank_maintenance": Localized("the bank is in maintenance", "银行系统正在维护")
        case "R99_rejected": Localized("the bank rejected it", "银行拒绝了该笔交易")
        case "gateway_unavailable": Localized("the bank connection was unavailable", "银行通道暂不可用")
        case "not_received_by_rail": Localized("the bank never received it", "银行未收到该笔请求")
        case "operator_decision": Localized("our team checked it with the bank", "我们的团队已与银行核实")
        case "cancelled": Localized("cancelled", "已取消")
        default: nil
        }
    }

    /// `topup` / `withdrawal` (a movement) and `credited` / `debited` (a correction), in words.
    public static func movement(_ code: String) -> Localized? {
        switch code {
        case "topup": Localized("top-up", "充值")
        case "withdrawal": Localized("withdrawal", "提现")
        case "credited": Localized("credited to", "存入")
        case "debited": Localized("debited from", "扣回")
        default: nil
        }
    }
}
