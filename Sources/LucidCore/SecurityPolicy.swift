/// The account-protection rules that are pure decisions over values: when a
/// second factor is needed, when a session has expired, when an account is
/// dormant, where the wallet may be used. The services apply them; these
/// functions only decide.
public struct SecurityPolicy: Sendable {
    /// Transfers, payments and withdrawals above this amount (per currency, minor
    /// units) need a fresh second factor when two-factor authentication is on.
    public var stepUpAmountThreshold: [String: Int64]
    /// A transfer to someone the customer never paid before needs a second factor.
    public var stepUpForNewPayee: Bool
    /// A session unused this long is over.
    public var sessionIdleSeconds: Int64
    /// A session older than this is over, however busy.
    public var sessionLifetimeSeconds: Int64
    /// No movement of money for this long makes an account dormant.
    public var dormantAfterSeconds: Int64
    /// A customer's own freeze cannot be undone sooner than this (a thief who
    /// took the phone cannot undo the freeze at once).
    public var selfFreezeCoolingOffSeconds: Int64
    /// Countries (ISO 3166-1 alpha-2) the operator does not serve.
    public var disallowedCountries: Set<String>
    /// How long a session's last-seen time may lag (fewer writes on the hot path).
    public var sessionTouchIntervalSeconds: Int64

    public init(stepUpAmountThreshold: [String: Int64] = SecurityPolicy.standardStepUpThreshold,
                stepUpForNewPayee: Bool = true, sessionIdleSeconds: Int64 = 7 * 86_400,
                sessionLifetimeSeconds: Int64 = 30 * 86_400, dormantAfterSeconds: Int64 = 365 * 86_400,
                selfFreezeCoolingOffSeconds: Int64 = 30 * 60, disallowedCountries: Set<String> = [],
                sessionTouchIntervalSeconds: Int64 = 60) {
        self.stepUpAmountThreshold = stepUpAmountThreshold
        self.stepUpForNewPayee = stepUpForNewPayee
        self.sessionIdleSeconds = sessionIdleSeconds
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.dormantAfterSeconds = dormantAfterSeconds
        self.selfFreezeCoolingOffSeconds = selfFreezeCoolingOffSeconds
        self.disallowedCountries = disallowedCountries
        self.sessionTouchIntervalSeconds = sessionTouchIntervalSeconds
    }

    /// ¥/$/€/HK$ 1,000 and ¥20,000: above this a second factor is asked for.
    public static let standardStepUpThreshold: [String: Int64] = [
        "CNY": 100_000, "USD": 100_000, "EUR": 100_000, "HKD": 100_000, "JPY": 20_000,
    ]

    /// Why a sensitive action needs a fresh second factor, or nil when it does not.
    public enum StepUpReason: String, Sendable { case transferAmount = "transfer_amount", newPayee = "new_payee" }

    /// Whether moving `amount` out needs a second factor (only ever when 2FA is on).
    public func stepUp(amount: Money, newPayee: Bool, twoFactorOn: Bool) -> StepUpReason? {
        guard twoFactorOn else { return nil }
        if let threshold = stepUpAmountThreshold[amount.currency.code], amount.minorUnits > threshold { return .transferAmount }
        if stepUpForNewPayee && newPayee { return .newPayee }
        return nil
    }

    /// Whether a session may still be used at `now`.
    public func sessionIsLive(createdAt: Timestamp, lastSeenAt: Timestamp?, expiresAt: Timestamp, now: Timestamp) -> Bool {
        let lastUse = lastSeenAt ?? createdAt
        return now < expiresAt && now < createdAt.adding(seconds: sessionLifetimeSeconds)
            && now < lastUse.adding(seconds: sessionIdleSeconds)
    }

    /// Whether the session's last-seen time is stale enough to write again.
    public func shouldTouch(lastSeenAt: Timestamp?, now: Timestamp) -> Bool {
        guard let lastSeenAt else { return true }
        return now >= lastSeenAt.adding(seconds: sessionTouchIntervalSeconds)
    }

    /// Whether an account last active at `lastActivity` (or created then) is dormant at `now`.
    public func isDormant(lastActivity: Timestamp, now: Timestamp) -> Bool {
        now >= lastActivity.adding(seconds: dormantAfterSeconds)
    }

    /// Refuses a country the operator does not serve; an unknown country (no header) is allowed.
    public func requireServed(country: String?) throws(LucidError) {
        if let country, disallowedCountries.contains(country.uppercased()) {
            throw LucidError(.regionNotSupported, ["country": .text(country.uppercased())])
        }
    }
}
