/// Why the risk engine stopped or held something, in words safe to show the customer.
///
/// It names a broad category, never a rule, a threshold or a feature value: telling a
/// fraudster which check fired teaches them to avoid it. Operators see the full
/// explanation (rules, scores, values) in the decision the store keeps; customers see
/// this. It lives in the core because the error catalogue (`risk_blocked`, `risk_review`)
/// renders it from the `risk_reason` param.
public enum RiskReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// How the account is being accessed changed recently (device, place, credentials, failed sign-ins).
    case accountSecurity = "account_security"
    /// The activity is unlike the customer's own habits (amounts, pace, hours, a long silence).
    case unusualActivity = "unusual_activity"
    /// The receiving account shows signs of fraud (many new senders, money passing straight through).
    case payeeRisk = "payee_risk"
    /// The money came in moments ago from a source not seen before.
    case fundingSource = "funding_source"
    /// An operator's restriction on this account, device, payee or region.
    case restriction = "restriction"

    /// The clause that completes "…because …" in customer messages.
    public var explanation: Localized {
        switch self {
        case .accountSecurity:
            Localized("the way your account is being accessed changed recently",
                      "您的账户近期的登录方式或安全设置发生了变化")
        case .unusualActivity:
            Localized("this is unusual for your account", "这与您账户平时的使用习惯不同")
        case .payeeRisk:
            Localized("the receiving account shows signs of fraud risk; if someone you do not know asked you to pay, stop",
                      "收款账户存在欺诈风险迹象；如果是陌生人要求您付款，请立即停止")
        case .fundingSource:
            Localized("the money arrived only moments ago from a new source", "这笔资金刚刚从新的来源转入")
        case .restriction:
            Localized("of a restriction on this account, device, payee or region", "该账户、设备、收款方或地区受到限制")
        }
    }

    /// Parses the `risk_reason` param; anything unknown reads as unusual activity.
    public static func named(_ text: String) -> RiskReason { RiskReason(rawValue: text) ?? .unusualActivity }
}
