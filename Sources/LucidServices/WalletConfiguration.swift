import LucidCore

/// Business settings of one deployment. Defaults are production values.
public struct WalletConfiguration: Sendable {
    public var fees: FeeSchedule = .standard
    public var limits: LimitPolicy = .standard
    /// Absolute lifetime of a customer session.
    public var sessionLifetimeSeconds: Int64 = 30 * 86_400
    /// How long a withdrawal hold waits for the bank before it expires and the money returns.
    public var withdrawalHoldSeconds: Int64 = 24 * 3_600
    /// When a customer is told a withdrawal should arrive.
    public var withdrawalExpectedSeconds: Int64 = 2 * 3_600
    /// Clients older than this get `client_outdated`.
    public var minimumClientVersion: String = "1.0.0"
    /// Tier given to newly registered customers (identity verification raises it).
    public var newCustomerTier: VerificationTier = .unverified
    public init() {}
}
