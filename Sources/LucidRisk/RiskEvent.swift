import LucidCore

/// What happened: a login attempt or a movement of money, as the risk engine sees it.
///
/// One flat value rather than an enum with payloads, because rules address its
/// fields uniformly (`event.amount`, `event.country`) and the store persists it
/// as one row for backtests. Fields that do not apply to a kind are `nil`.
public struct RiskEvent: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A login attempt; `loginSucceeded` says how it ended.
        case login
        /// Money to another customer.
        case transfer
        /// Money to a merchant.
        case payment
        /// Money out to a bank account.
        case withdrawal
        /// Money in from a bank or card (the "rail"); only recorded, never refused by these rules'
        /// defaults, but its rail and time feed the top-up-then-transfer pattern.
        case topup

        /// Transfers, payments and withdrawals: the events that move money out of the customer's wallet.
        public var isMoneyOut: Bool {
            switch self {
            case .transfer, .payment, .withdrawal: true
            case .login, .topup: false
            }
        }
    }

    /// Identifies the event in explanations and backtests (the transfer id or a login attempt id).
    public var id: String
    public var customer: UserID
    public var kind: Kind
    public var time: Timestamp
    /// For logins: whether the password (and second factor when asked) was right.
    public var loginSucceeded: Bool?
    /// For money events: the amount in the wallet's currency.
    public var amount: Money?
    /// Who receives the money: a stable key such as `user:<id>`, `merchant:<id>` or `bank:<hash>`.
    public var payee: String?
    /// For top-ups: the bank or card account the money came from (a stable, non-secret key).
    public var rail: String?
    /// The client's device identifier (installation id), when known.
    public var device: String?
    /// The client's network address (or a prefix of it), used for per-source login failures.
    public var sourceAddress: String?
    /// ISO 3166 alpha-2 country the request came from, when known.
    public var country: String?
    /// The wallet's available balance before this event, in the same currency as `amount`.
    public var balanceBefore: Money?
    /// The request carried a fresh second factor (the retry after a `second_factor_required`
    /// challenge): a decision of `challenge` is then satisfied and becomes `allow`.
    public var secondFactorVerified: Bool

    public init(id: String, customer: UserID, kind: Kind, time: Timestamp, loginSucceeded: Bool? = nil,
                amount: Money? = nil, payee: String? = nil, rail: String? = nil, device: String? = nil,
                sourceAddress: String? = nil, country: String? = nil, balanceBefore: Money? = nil,
                secondFactorVerified: Bool = false) {
        self.id = id
        self.customer = customer
        self.kind = kind
        self.time = time
        self.loginSucceeded = loginSucceeded
        self.amount = amount
        self.payee = payee
        self.rail = rail
        self.device = device
        self.sourceAddress = sourceAddress
        self.country = country
        self.balanceBefore = balanceBefore
        self.secondFactorVerified = secondFactorVerified
    }

    /// A login attempt.
    public static func login(id: String, customer: UserID, time: Timestamp, succeeded: Bool, device: String?,
                             sourceAddress: String?, country: String?, secondFactorVerified: Bool = false) -> RiskEvent {
        RiskEvent(id: id, customer: customer, kind: .login, time: time, loginSucceeded: succeeded, device: device,
                  sourceAddress: sourceAddress, country: country, secondFactorVerified: secondFactorVerified)
    }

    /// A movement of money (transfer, payment, withdrawal or top-up).
    public static func money(id: String, customer: UserID, kind: Kind, time: Timestamp, amount: Money,
                             payee: String? = nil, rail: String? = nil, device: String?, sourceAddress: String? = nil,
                             country: String?, balanceBefore: Money? = nil,
                             secondFactorVerified: Bool = false) -> RiskEvent {
        precondition(kind != .login, "money events need a money kind")
        return RiskEvent(id: id, customer: customer, kind: kind, time: time, amount: amount, payee: payee, rail: rail,
                         device: device, sourceAddress: sourceAddress, country: country, balanceBefore: balanceBefore,
                         secondFactorVerified: secondFactorVerified)
    }
}

/// What the store knows about the customer that is not history: when the account was
/// opened and when credentials last changed, plus devices and countries it trusts
/// from elsewhere (devices confirmed with a second factor, the registration country).
///
/// Devices and countries seen in traffic are tracked by `CustomerFeatures` itself;
/// these sets only add to them.
public struct CustomerContext: Sendable, Hashable, Codable {
    public var accountCreatedAt: Timestamp
    public var passwordChangedAt: Timestamp?
    public var secondFactorChangedAt: Timestamp?
    public var knownDevices: Set<String>
    public var knownCountries: Set<String>

    public init(accountCreatedAt: Timestamp, passwordChangedAt: Timestamp? = nil, secondFactorChangedAt: Timestamp? = nil,
                knownDevices: Set<String> = [], knownCountries: Set<String> = []) {
        self.accountCreatedAt = accountCreatedAt
        self.passwordChangedAt = passwordChangedAt
        self.secondFactorChangedAt = secondFactorChangedAt
        self.knownDevices = knownDevices
        self.knownCountries = knownCountries
    }
}

extension Money {
    /// The amount in major units (yuan, dollars) as a `Double`: only for scoring and
    /// display in explanations, never for booking.
    var majorUnits: Double {
        var value = Double(minorUnits)
        for _ in 0..<currency.exponent { value /= 10 }
        return value
    }
}

extension RiskEvent {
    // Money is not Codable in LucidCore (the ledger never serialises it generically), so the
    // event spells its amounts out as minor units plus one currency code.
    private enum CodingKeys: String, CodingKey {
        case id, customer, kind, time, loginSucceeded = "login_succeeded", amountMinorUnits = "amount_minor_units",
             currency, payee, rail, device, sourceAddress = "source_address", country,
             balanceBeforeMinorUnits = "balance_before_minor_units", secondFactorVerified = "second_factor_verified"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let currency = try c.decodeIfPresent(Currency.self, forKey: .currency)
        func money(_ key: CodingKeys) throws -> Money? {
            guard let minor = try c.decodeIfPresent(Int64.self, forKey: key) else { return nil }
            guard let currency else { throw DecodingError.dataCorruptedError(forKey: .currency, in: c, debugDescription: "amount without currency") }
            return Money(minor, currency)
        }
        self.init(id: try c.decode(String.self, forKey: .id), customer: try c.decode(UserID.self, forKey: .customer),
                  kind: try c.decode(Kind.self, forKey: .kind),
                  time: Timestamp(millisecondsSinceEpoch: try c.decode(Int64.self, forKey: .time)),
                  loginSucceeded: try c.decodeIfPresent(Bool.self, forKey: .loginSucceeded),
                  amount: try money(.amountMinorUnits), payee: try c.decodeIfPresent(String.self, forKey: .payee),
                  rail: try c.decodeIfPresent(String.self, forKey: .rail), device: try c.decodeIfPresent(String.self, forKey: .device),
                  sourceAddress: try c.decodeIfPresent(String.self, forKey: .sourceAddress),
                  country: try c.decodeIfPresent(String.self, forKey: .country),
                  balanceBefore: try money(.balanceBeforeMinorUnits),
                  secondFactorVerified: try c.decodeIfPresent(Bool.self, forKey: .secondFactorVerified) ?? false)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(customer, forKey: .customer)
        try c.encode(kind, forKey: .kind)
        try c.encode(time.millisecondsSinceEpoch, forKey: .time)
        try c.encodeIfPresent(loginSucceeded, forKey: .loginSucceeded)
        try c.encodeIfPresent(amount?.minorUnits, forKey: .amountMinorUnits)
        try c.encodeIfPresent((amount ?? balanceBefore)?.currency, forKey: .currency)
        try c.encodeIfPresent(payee, forKey: .payee)
        try c.encodeIfPresent(rail, forKey: .rail)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encodeIfPresent(sourceAddress, forKey: .sourceAddress)
        try c.encodeIfPresent(country, forKey: .country)
        try c.encodeIfPresent(balanceBefore?.minorUnits, forKey: .balanceBeforeMinorUnits)
        if secondFactorVerified { try c.encode(true, forKey: .secondFactorVerified) }
    }
}

extension CustomerContext {
    private enum CodingKeys: String, CodingKey {
        case accountCreatedAt = "account_created_at", passwordChangedAt = "password_changed_at",
             secondFactorChangedAt = "second_factor_changed_at", knownDevices = "known_devices", knownCountries = "known_countries"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func time(_ key: CodingKeys) throws -> Timestamp? {
            try c.decodeIfPresent(Int64.self, forKey: key).map { Timestamp(millisecondsSinceEpoch: $0) }
        }
        self.init(accountCreatedAt: Timestamp(millisecondsSinceEpoch: try c.decode(Int64.self, forKey: .accountCreatedAt)),
                  passwordChangedAt: try time(.passwordChangedAt), secondFactorChangedAt: try time(.secondFactorChangedAt),
                  knownDevices: try c.decodeIfPresent(Set<String>.self, forKey: .knownDevices) ?? [],
                  knownCountries: try c.decodeIfPresent(Set<String>.self, forKey: .knownCountries) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(accountCreatedAt.millisecondsSinceEpoch, forKey: .accountCreatedAt)
        try c.encodeIfPresent(passwordChangedAt?.millisecondsSinceEpoch, forKey: .passwordChangedAt)
        try c.encodeIfPresent(secondFactorChangedAt?.millisecondsSinceEpoch, forKey: .secondFactorChangedAt)
        try c.encode(knownDevices.sorted(), forKey: .knownDevices)
        try c.encode(knownCountries.sorted(), forKey: .knownCountries)
    }
}
