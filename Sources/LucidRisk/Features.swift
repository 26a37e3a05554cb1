import LucidCore

/// Tunables of feature maintenance (not of rules: rules have their own file).
public struct FeatureConfiguration: Sendable, Hashable, Codable {
    /// A money-out event of at most this many major units counts as "small" (probing).
    public var smallAmountMajorUnits: Double = 10
    /// Bounded memories per customer.
    public var devicesMax = 16
    public var countriesMax = 16
    public var payeesMax = 128
    public var railsMax = 16
    public var sendersMax = 128
    /// Distinct failing accounts remembered per source address.
    public var sourceAccountsMax = 64
    public var baselineSamplesMax = AmountBaseline.defaultCapacity

    public init() {}
    public static let `default` = FeatureConfiguration()
}

/// "Never" for the hours/minutes-since features: large enough that every `<` test is false
/// and every `>=` test true, finite so arithmetic on it stays well-defined.
public let riskNever: Double = 1_000_000_000

/// Everything the engine remembers about one customer, updated incrementally after each
/// decided event (`record`) and never rebuilt from history. The store persists it per
/// customer in its compact binary form (`binary()`, BinaryState.swift; it is `Codable` too);
/// a restart loads it and carries on.
public struct CustomerFeatures: Sendable, Hashable, Codable {
    /// Channels of `windows`.
    enum Channel: Int, CaseIterable {
        case outCount, outSum, outSmall, outNewPayee, inCount, inSum, inNewSender, failedLogin, refused
    }

    /// Bumped when the shape changes; the store discards state of another version (features rebuild as traffic flows).
    public static let schemaVersion = 1
    public var schemaVersion = CustomerFeatures.schemaVersion
    /// Outgoing and incoming money (in minor units), probes, new payees, failed logins and refusals.
    public var windows = StandardWindows(channels: Channel.allCases.count)
    public var devices: RecentSet
    public var countries: RecentSet
    public var payees: RecentSet
    public var rails: RecentSet
    public var senders: RecentSet
    public var baseline: AmountBaseline
    /// Unix milliseconds of the last recorded event of any kind that went through.
    public var lastActivity: Int64?
    public var lastOutgoing: Int64?
    public var lastIncoming: Int64?
    public var lastTopup: TopupMemory?

    /// The most recent top-up, for "money in, straight out".
    public struct TopupMemory: Sendable, Hashable, Codable {
        public var time: Int64
        public var minorUnits: Int64
        /// The rail had not been seen within a day before this top-up.
        public var fromNewRail: Bool
    }

    public init(configuration: FeatureConfiguration = .default) {
        devices = RecentSet(capacity: configuration.devicesMax)
        countries = RecentSet(capacity: configuration.countriesMax)
        payees = RecentSet(capacity: configuration.payeesMax)
        rails = RecentSet(capacity: configuration.railsMax)
        senders = RecentSet(capacity: configuration.sendersMax)
        baseline = AmountBaseline(capacity: configuration.baselineSamplesMax)
    }

    func total(_ channel: Channel, _ span: StandardWindows.Span, at now: Timestamp) -> Int64 {
        windows.total(channel.rawValue, over: span, at: now)
    }

    /// Refuses stored state of another shape rather than trapping on it later: the store then
    /// starts the customer afresh (features rebuild as traffic flows).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        windows = try c.decode(StandardWindows.self, forKey: .windows)
        devices = try c.decode(RecentSet.self, forKey: .devices)
        countries = try c.decode(RecentSet.self, forKey: .countries)
        payees = try c.decode(RecentSet.self, forKey: .payees)
        rails = try c.decode(RecentSet.self, forKey: .rails)
        senders = try c.decode(RecentSet.self, forKey: .senders)
        baseline = try c.decode(AmountBaseline.self, forKey: .baseline)
        lastActivity = try c.decodeIfPresent(Int64.self, forKey: .lastActivity)
        lastOutgoing = try c.decodeIfPresent(Int64.self, forKey: .lastOutgoing)
        lastIncoming = try c.decodeIfPresent(Int64.self, forKey: .lastIncoming)
        lastTopup = try c.decodeIfPresent(TopupMemory.self, forKey: .lastTopup)
        guard schemaVersion == Self.schemaVersion, windows.channels == Channel.allCases.count else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c,
                                                   debugDescription: "customer features of another schema version")
        }
    }

    /// Updates the state with an event and the action taken on it. Call once per evaluated
    /// event, after the decision, with the action that was enforced.
    ///
    /// Only events that went through (`allow`, or `review`: the money is held, not refused)
    /// teach the features new devices, countries and payees; refused ones (`challenge`
    /// unanswered, `block`, `freeze`) only count as refusals, so an attacker's blocked
    /// attempt never makes their device "known".
    public mutating func record(_ event: RiskEvent, action: RiskAction, configuration: FeatureConfiguration = .default) {
        let time = event.time
        let ms = time.millisecondsSinceEpoch
        if event.kind == .login, event.loginSucceeded != true {
            windows.add(1, to: Channel.failedLogin.rawValue, at: time)
            return
        }
        guard action.isAccepted else {
            windows.add(1, to: Channel.refused.rawValue, at: time)
            return
        }
        lastActivity = max(lastActivity ?? ms, ms)
        if let device = event.device { devices.note(device, at: time) }
        if let country = event.country { countries.note(country, at: time) }
        switch event.kind {
        case .login:
            break
        case .transfer, .payment, .withdrawal:
            guard let amount = event.amount else { return }
            let major = amount.majorUnits
            windows.add(1, to: Channel.outCount.rawValue, at: time)
            windows.add(amount.minorUnits, to: Channel.outSum.rawValue, at: time)
            if major <= configuration.smallAmountMajorUnits { windows.add(1, to: Channel.outSmall.rawValue, at: time) }
            if let payee = event.payee, payees.note(payee, at: time), !isOwnAccount(payee, at: ms) {
                windows.add(1, to: Channel.outNewPayee.rawValue, at: time)
            }
            baseline.add(majorUnits: major, hour: Self.utcHour(time))
            lastOutgoing = max(lastOutgoing ?? ms, ms)
        case .topup:
            guard let amount = event.amount else { return }
            windows.add(1, to: Channel.inCount.rawValue, at: time)
            windows.add(amount.minorUnits, to: Channel.inSum.rawValue, at: time)
            var fromNewRail = false
            if let rail = event.rail {
                let seenBefore = rails.entry(rail).map { ms - $0.firstSeen >= 86_400_000 } ?? false
                fromNewRail = !seenBefore
                rails.note(rail, at: time)
            }
            lastTopup = TopupMemory(time: ms, minorUnits: amount.minorUnits, fromNewRail: fromNewRail)
            lastIncoming = max(lastIncoming ?? ms, ms)
        }
    }

    /// The payee is a bank or card account the customer funded the wallet from more than a day before.
    func isOwnAccount(_ payee: String, at ms: Int64) -> Bool {
        rails.entry(payee).map { ms - $0.firstSeen >= 86_400_000 } ?? false
    }

    /// Money from another customer arrived (the store calls this on the payee's features
    /// when a transfer to them posts): feeds pass-through (mule) features.
    public mutating func recordIncoming(_ amount: Money, from sender: String, at time: Timestamp) {
        let ms = time.millisecondsSinceEpoch
        windows.add(1, to: Channel.inCount.rawValue, at: time)
        windows.add(amount.minorUnits, to: Channel.inSum.rawValue, at: time)
        if senders.note(sender, at: time) { windows.add(1, to: Channel.inNewSender.rawValue, at: time) }
        lastIncoming = max(lastIncoming ?? ms, ms)
    }

    static func utcHour(_ time: Timestamp) -> Int {
        let ms = time.millisecondsSinceEpoch
        let ofDay = ((ms % 86_400_000) + 86_400_000) % 86_400_000
        return Int(ofDay / 3_600_000)
    }
}

/// What is known about one payee (any payee key: a customer, a merchant, a bank account)
/// across all senders: fan-in of new senders. Persisted per payee key.
public struct PayeeFeatures: Sendable, Hashable, Codable {
    enum Channel: Int, CaseIterable { case newSender, inCount, inSum }

    public var schemaVersion = CustomerFeatures.schemaVersion
    public var windows = StandardWindows(channels: Channel.allCases.count)
    public var firstPaid: Int64?

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        windows = try c.decode(StandardWindows.self, forKey: .windows)
        firstPaid = try c.decodeIfPresent(Int64.self, forKey: .firstPaid)
        guard schemaVersion == CustomerFeatures.schemaVersion, windows.channels == Channel.allCases.count else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c, debugDescription: "payee features of another schema version")
        }
    }

    func total(_ channel: Channel, _ span: StandardWindows.Span, at now: Timestamp) -> Int64 {
        windows.total(channel.rawValue, over: span, at: now)
    }

    /// A payment to this payee went through; `newSender` is whether the sender had never paid it before.
    public mutating func recordPayment(_ amount: Money, newSender: Bool, at time: Timestamp) {
        windows.add(1, to: Channel.inCount.rawValue, at: time)
        windows.add(amount.minorUnits, to: Channel.inSum.rawValue, at: time)
        if newSender { windows.add(1, to: Channel.newSender.rawValue, at: time) }
        let ms = time.millisecondsSinceEpoch
        firstPaid = min(firstPaid ?? ms, ms)
    }
}

/// Login failures from one source address across accounts (credential stuffing).
/// Persisted per source address (or prefix) by the store.
public struct SourceFeatures: Sendable, Hashable, Codable {
    public var schemaVersion = CustomerFeatures.schemaVersion
    public var windows = StandardWindows(channels: 1)
    public var failingAccounts: RecentSet

    public init(configuration: FeatureConfiguration = .default) {
        failingAccounts = RecentSet(capacity: configuration.sourceAccountsMax)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        windows = try c.decode(StandardWindows.self, forKey: .windows)
        failingAccounts = try c.decode(RecentSet.self, forKey: .failingAccounts)
        guard schemaVersion == CustomerFeatures.schemaVersion, windows.channels == 1 else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c, debugDescription: "source features of another schema version")
        }
    }

    /// A login from this source; only failures are counted.
    public mutating func record(_ event: RiskEvent) {
        guard event.kind == .login, event.loginSucceeded != true else { return }
        windows.add(1, to: 0, at: event.time)
        failingAccounts.note(event.customer.rawValue, at: event.time)
    }
}

/// Everything `RiskEngine.evaluate` needs besides the event and the rules: the customer's
/// context and the three kinds of remembered state. The store loads it, the engine reads
/// it, `record` updates it, the store saves it — in the same transaction as the money.
public struct RiskInputs: Sendable, Hashable {
    public var context: CustomerContext
    public var customer: CustomerFeatures
    /// State of the event's payee, when it has one (an empty value the first time a payee is seen).
    public var payee: PayeeFeatures?
    /// The payee's own context when the payee is a customer (for `payee.account_age_days`).
    public var payeeContext: CustomerContext?
    /// State of the event's source address, for logins.
    public var source: SourceFeatures?

    public init(context: CustomerContext, customer: CustomerFeatures = CustomerFeatures(), payee: PayeeFeatures? = nil,
                payeeContext: CustomerContext? = nil, source: SourceFeatures? = nil) {
        self.context = context
        self.customer = customer
        self.payee = payee
        self.payeeContext = payeeContext
        self.source = source
    }

    /// Records a decided event in the customer's, the payee's and the source's state.
    public mutating func record(_ event: RiskEvent, action: RiskAction, configuration: FeatureConfiguration = .default) {
        if event.kind.isMoneyOut, action.isAccepted, let amount = event.amount, let payeeKey = event.payee {
            let newSender = !customer.payees.contains(payeeKey)
            if payee == nil { payee = PayeeFeatures() }
            payee?.recordPayment(amount, newSender: newSender, at: event.time)
        }
        if event.kind == .login, event.sourceAddress != nil {
            if source == nil { source = SourceFeatures(configuration: configuration) }
            source?.record(event)
        }
        customer.record(event, action: action, configuration: configuration)
    }
}
