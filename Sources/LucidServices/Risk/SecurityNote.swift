import LucidCore
import LucidRisk
import LucidStore

/// What a customer is told about a transaction that security monitoring held: that it is
/// (or was) under review, the broad reason, and the outcome — never a rule, a score or a value.
public struct SecurityNote: Sendable, Hashable {
    /// `review` (held, waiting), `approved`, `rejected` or `expired` (nobody decided in time).
    public var status: String
    /// The customer-safe reason category (`RiskReason`).
    public var reason: String
    public var decisionID: String
    public var summaryEN: String
    public var summaryZH: String

    public func summary(_ language: Language) -> String { language == .en ? summaryEN : summaryZH }

    /// The `reason` a held transaction shows while it waits for review.
    public static let heldReason = "security_review"

    /// The note for a review in its current state.
    static func make(_ review: RiskReviewRecord) -> SecurityNote {
        let reason = RiskReason.named(review.reason)
        let kind = RiskEvent.Kind(rawValue: review.kind) ?? .transfer
        let text: Localized
        let status: String
        switch review.state {
        case .open, .claimed:
            status = "review"
            text = CustomerSummary.text(for: .review, reason: reason, kind: kind)
        case .approved:
            status = "approved"
            text = Localized("Our security team checked this payment and released it.", "安全团队已审核本笔交易并放行。")
        case .rejected:
            status = "rejected"
            text = Localized("Our security team stopped this payment; the money is back in your wallet. If you made it, contact support.",
                             "安全团队拦截了本笔交易，资金已退回钱包。如确为本人操作，请联系客服。")
        case .expired:
            status = "expired"
            text = Localized("This payment was not released in time; the money is back in your wallet and you can send it again.",
                             "本笔交易未能及时完成审核，资金已退回钱包，您可以重新发起。")
        }
        return SecurityNote(status: status, reason: reason.rawValue, decisionID: review.decisionID, summaryEN: text.en,
                            summaryZH: text.zh)
    }

    /// What the transaction's `reason` becomes once the review is over (the journal keeps the original).
    static func reason(after state: RiskReviewState) -> String? {
        switch state {
        case .open, .claimed: heldReason
        case .approved: nil
        case .rejected: "security_review_rejected"
        case .expired: "security_review_expired"
        }
    }
}
