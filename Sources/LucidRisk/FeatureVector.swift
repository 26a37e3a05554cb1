import LucidCore

/// A value a rule sees or an explanation records.
public enum RiskValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .number(let n):
            if n.isNaN { return "absent" }
            if n == n.rounded(), abs(n) < 1e15 { return String(Int64(n)) }
            return String((n * 1000).rounded() / 1000)
        case .bool(let b): return String(b)
        case .string(let s): return "\"\(s)\""
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .number(.nan) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): if n.isFinite { try c.encode(n) } else { try c.encodeNil() } // JSON has no NaN: absent is null
        case .bool(let b): try c.encode(b)
        case .string(let s): try c.encode(s)
        }
    }
}

/// The types of the rule language.
public enum RiskType: String, Sendable, Hashable, CustomStringConvertible {
    case number, bool, string
    public var description: String { rawValue }
}

/// Every value rules can read for one event, computed once per evaluation from the event,
/// the customer context and the remembered state (O(window buckets), no history scan).
///
/// Counts and sums of outgoing money include the event being decided (a sixth transfer in
/// ten minutes sees `out_count_10m == 6`); novelty flags and ages describe the state
/// before it. Absent numbers are NaN (every comparison with them is false); "never
/// happened" is `riskNever` for the since-features.
public struct FeatureVector: Sendable {
    // event.*
    public var kind = ""
    public var currency = ""
    public var country = ""
    public var payeeKind = ""
    public var isLogin = false
    public var isMoneyOut = false
    public var loginFailed = false
    public var loginSucceeded = false
    public var amount = Double.nan
    public var balanceFraction = Double.nan
    public var hour = 0.0
    public var newDevice = false
    public var deviceAgeHours = Double.nan
    public var newCountry = false
    public var countryAgeHours = Double.nan
    public var newPayee = false
    public var toOwnAccount = false
    public var isSmall = false
    public var newRail = false
    public var secondFactor = false
    // features.*
    public var outCount10m = 0.0, outCount1h = 0.0, outCount24h = 0.0
    public var outSum10m = 0.0, outSum1h = 0.0, outSum24h = 0.0
    public var smallOutCount10m = 0.0, smallOutCount1h = 0.0
    public var newPayees1h = 0.0, newPayees24h = 0.0
    public var inCount1h = 0.0, inCount24h = 0.0, inSum1h = 0.0, inSum24h = 0.0, inNewSenders24h = 0.0
    public var passthroughRatio24h = 0.0
    public var minutesSinceLastIn = riskNever
    public var minutesSinceTopup = riskNever
    public var topupFraction = Double.nan
    public var lastTopupNewRail = false
    public var failedLogins1h = 0.0, failedLogins24h = 0.0
    public var refused1h = 0.0, refused24h = 0.0
    public var accountAgeDays = 0.0
    public var hoursSincePasswordChange = riskNever
    public var hoursSince2FAChange = riskNever
    public var hoursSinceCredentialChange = riskNever
    public var daysSinceLastActivity = 0.0
    public var daysSinceLastOut = 0.0
    public var devicesKnown = 0.0, countriesKnown = 0.0
    public var drainedFraction24h = Double.nan
    public var payeeAgeDays = Double.nan
    public var payeePayments = Double.nan
    // baseline.*
    public var baselineSamples = 0.0
    public var baselineMedian = 0.0
    public var amountZ = 0.0
    public var amountRatio = Double.nan
    public var hourShare = 0.0
    // payee.*
    public var payeeNewSenders1h = Double.nan, payeeNewSenders24h = Double.nan
    public var payeeInCount24h = Double.nan, payeeInSum24h = Double.nan
    public var payeeAccountAgeDays = Double.nan
    // source.*
    public var sourceFailedLogins1h = 0.0, sourceFailedLogins24h = 0.0, sourceFailedAccounts1h = 0.0

    public init() {}

    /// Computes the vector for `event` from `inputs`.
    public init(event: RiskEvent, inputs: RiskInputs, configuration: FeatureConfiguration = .default) {
        let now = event.time
        let ms = now.millisecondsSinceEpoch
        let f = inputs.customer
        let context = inputs.context
        func hours(since time: Int64?) -> Double {
            guard let time else { return riskNever }
            return max(0, Double(ms - time) / 3_600_000)
        }
        func major(_ minor: Int64) -> Double {
            var value = Double(minor)
            for _ in 0..<(event.amount?.currency.exponent ?? 2) { value /= 10 }
            return value
        }

        kind = event.kind.rawValue
        isLogin = event.kind == .login
        isMoneyOut = event.kind.isMoneyOut
        loginSucceeded = isLogin && event.loginSucceeded == true
        loginFailed = isLogin && event.loginSucceeded != true
        secondFactor = event.secondFactorVerified
        country = event.country ?? ""
        hour = Double(CustomerFeatures.utcHour(now))
        if let payee = event.payee {
            payeeKind = payee.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        }

        // Novelty against what the customer's traffic and context say.
        if let device = event.device {
            if context.knownDevices.contains(device) {
                deviceAgeHours = riskNever
            } else if let seen = f.devices.entry(device) {
                deviceAgeHours = hours(since: seen.firstSeen)
            } else {
                newDevice = true
                deviceAgeHours = 0
            }
        }
        if let place = event.country {
            if context.knownCountries.contains(place) {
                countryAgeHours = riskNever
            } else if let seen = f.countries.entry(place) {
                countryAgeHours = hours(since: seen.firstSeen)
            } else {
                newCountry = true
                countryAgeHours = 0
            }
        }
        devicesKnown = Double(f.devices.count + context.knownDevices.count)
        countriesKnown = Double(f.countries.count + context.knownCountries.count)

        // Windows, including this event when it moves money out.
        let thisOut = isMoneyOut ? 1.0 : 0.0
        let thisMinor = isMoneyOut ? (event.amount?.minorUnits ?? 0) : 0
        if let amount = event.amount {
            currency = amount.currency.code
            self.amount = amount.majorUnits
            isSmall = isMoneyOut && self.amount <= configuration.smallAmountMajorUnits
            if let balance = event.balanceBefore, balance.currency == amount.currency {
                balanceFraction = balance.minorUnits > 0 ? Double(amount.minorUnits) / Double(balance.minorUnits) : riskNever
            }
        }
        if isMoneyOut, let payee = event.payee {
            // Money going back to a bank or card account the customer has funded the wallet from
            // (for more than a day) is going home, not to a stranger.
            if let rail = f.rails.entry(payee), ms - rail.firstSeen >= 86_400_000 { toOwnAccount = true }
            if let seen = f.payees.entry(payee) {
                payeeAgeDays = max(0, Double(ms - seen.firstSeen) / 86_400_000)
                payeePayments = Double(seen.count)
            } else if toOwnAccount {
                payeeAgeDays = max(0, Double(ms - (f.rails.entry(payee)?.firstSeen ?? ms)) / 86_400_000)
                payeePayments = 0
            } else {
                newPayee = true
                payeeAgeDays = 0
                payeePayments = 0
            }
        }
        if event.kind == .topup, let rail = event.rail {
            newRail = f.rails.entry(rail).map { ms - $0.firstSeen < 86_400_000 } ?? true
        }
        let thisSmall = isSmall ? 1.0 : 0.0
        let thisNewPayee = newPayee ? 1.0 : 0.0
        typealias C = CustomerFeatures.Channel
        outCount10m = Double(f.total(.outCount, .tenMinutes, at: now)) + thisOut
        outCount1h = Double(f.total(.outCount, .oneHour, at: now)) + thisOut
        outCount24h = Double(f.total(.outCount, .oneDay, at: now)) + thisOut
        let priorOut24h = f.total(.outSum, .oneDay, at: now)
        outSum10m = major(f.total(.outSum, .tenMinutes, at: now) + thisMinor)
        outSum1h = major(f.total(.outSum, .oneHour, at: now) + thisMinor)
        outSum24h = major(priorOut24h + thisMinor)
        smallOutCount10m = Double(f.total(.outSmall, .tenMinutes, at: now)) + thisSmall
        smallOutCount1h = Double(f.total(.outSmall, .oneHour, at: now)) + thisSmall
        newPayees1h = Double(f.total(.outNewPayee, .oneHour, at: now)) + thisNewPayee
        newPayees24h = Double(f.total(.outNewPayee, .oneDay, at: now)) + thisNewPayee
        inCount1h = Double(f.total(.inCount, .oneHour, at: now))
        inCount24h = Double(f.total(.inCount, .oneDay, at: now))
        let in24Minor = f.total(.inSum, .oneDay, at: now)
        inSum1h = major(f.total(.inSum, .oneHour, at: now))
        inSum24h = major(in24Minor)
        inNewSenders24h = Double(f.total(.inNewSender, .oneDay, at: now))
        passthroughRatio24h = in24Minor > 0 ? Double(priorOut24h + thisMinor) / Double(in24Minor) : 0
        minutesSinceLastIn = f.lastIncoming.map { max(0, Double(ms - $0) / 60_000) } ?? riskNever
        if let topup = f.lastTopup {
            minutesSinceTopup = max(0, Double(ms - topup.time) / 60_000)
            lastTopupNewRail = topup.fromNewRail
            if isMoneyOut, topup.minorUnits > 0 { topupFraction = Double(thisMinor) / Double(topup.minorUnits) }
        }
        failedLogins1h = Double(f.total(.failedLogin, .oneHour, at: now)) + (loginFailed ? 1 : 0)
        failedLogins24h = Double(f.total(.failedLogin, .oneDay, at: now)) + (loginFailed ? 1 : 0)
        refused1h = Double(f.total(.refused, .oneHour, at: now))
        refused24h = Double(f.total(.refused, .oneDay, at: now))
        if isMoneyOut, let balance = event.balanceBefore, balance.currency.code == currency {
            let start = Double(balance.minorUnits) + Double(priorOut24h)
            drainedFraction24h = start > 0 ? Double(priorOut24h + thisMinor) / start : riskNever
        }

        // Account and credentials.
        accountAgeDays = max(0, Double(ms - context.accountCreatedAt.millisecondsSinceEpoch) / 86_400_000)
        hoursSincePasswordChange = hours(since: context.passwordChangedAt?.millisecondsSinceEpoch)
        hoursSince2FAChange = hours(since: context.secondFactorChangedAt?.millisecondsSinceEpoch)
        hoursSinceCredentialChange = min(hoursSincePasswordChange, hoursSince2FAChange)
        daysSinceLastActivity = f.lastActivity.map { max(0, Double(ms - $0) / 86_400_000) } ?? accountAgeDays
        daysSinceLastOut = f.lastOutgoing.map { max(0, Double(ms - $0) / 86_400_000) } ?? accountAgeDays

        // The customer's own baseline.
        baselineSamples = Double(f.baseline.sampleCount)
        baselineMedian = f.baseline.medianAmount
        hourShare = f.baseline.hourShare(Int(hour))
        if isMoneyOut, !amount.isNaN {
            amountZ = f.baseline.robustZ(majorUnits: amount)
            if baselineMedian > 0 { amountRatio = amount / baselineMedian }
        }

        // Fan-in to the payee, counting this sender when it is new to the payee.
        if let payee = inputs.payee, isMoneyOut {
            payeeNewSenders1h = Double(payee.total(.newSender, .oneHour, at: now)) + thisNewPayee
            payeeNewSenders24h = Double(payee.total(.newSender, .oneDay, at: now)) + thisNewPayee
            payeeInCount24h = Double(payee.total(.inCount, .oneDay, at: now))
            payeeInSum24h = major(payee.total(.inSum, .oneDay, at: now))
        } else if isMoneyOut, event.payee != nil {
            payeeNewSenders1h = thisNewPayee
            payeeNewSenders24h = thisNewPayee
            payeeInCount24h = 0
            payeeInSum24h = 0
        }
        if let payeeContext = inputs.payeeContext {
            payeeAccountAgeDays = max(0, Double(ms - payeeContext.accountCreatedAt.millisecondsSinceEpoch) / 86_400_000)
        }

        // The source address (credential stuffing).
        if let source = inputs.source {
            sourceFailedLogins1h = Double(source.windows.total(0, over: .oneHour, at: now)) + (loginFailed ? 1 : 0)
            sourceFailedLogins24h = Double(source.windows.total(0, over: .oneDay, at: now)) + (loginFailed ? 1 : 0)
            var accounts = source.failingAccounts.countSeen(within: 3_600_000, of: now)
            if loginFailed, source.failingAccounts.entry(event.customer.rawValue).map({ ms - $0.lastSeen >= 3_600_000 }) ?? true {
                accounts += 1
            }
            sourceFailedAccounts1h = Double(accounts)
        } else if loginFailed {
            sourceFailedLogins1h = 1
            sourceFailedLogins24h = 1
            sourceFailedAccounts1h = 1
        }
    }
}

/// The names rules may use, their types and meanings: the single source of truth for
/// the rule compiler, validation and the documentation.
public enum FeatureCatalog {
    public struct Feature: Sendable {
        public let name: String
        public let type: RiskType
        public let summary: String
        let read: Read
    }

    enum Read: Sendable {
        case number(@Sendable (FeatureVector) -> Double)
        case bool(@Sendable (FeatureVector) -> Bool)
        case string(@Sendable (FeatureVector) -> String)
    }

    private static func n(_ name: String, _ summary: String, _ read: @escaping @Sendable (FeatureVector) -> Double) -> Feature {
        Feature(name: name, type: .number, summary: summary, read: .number(read))
    }
    private static func b(_ name: String, _ summary: String, _ read: @escaping @Sendable (FeatureVector) -> Bool) -> Feature {
        Feature(name: name, type: .bool, summary: summary, read: .bool(read))
    }
    private static func s(_ name: String, _ summary: String, _ read: @escaping @Sendable (FeatureVector) -> String) -> Feature {
        Feature(name: name, type: .string, summary: summary, read: .string(read))
    }

    public static let all: [Feature] = [
        s("event.kind", "login, transfer, payment, withdrawal or topup", { $0.kind }),
        s("event.currency", "ISO code of the amount's currency (empty without an amount)", { $0.currency }),
        s("event.country", "country the request came from (empty when unknown)", { $0.country }),
        s("event.payee_kind", "prefix of the payee key: user, merchant, bank (empty without payee)", { $0.payeeKind }),
        b("event.is_login", "the event is a login attempt", { $0.isLogin }),
        b("event.is_money_out", "transfer, payment or withdrawal", { $0.isMoneyOut }),
        b("event.login_failed", "a login attempt that failed", { $0.loginFailed }),
        b("event.login_succeeded", "a login attempt that succeeded", { $0.loginSucceeded }),
        n("event.amount", "amount in major units of its currency (absent for logins)", { $0.amount }),
        n("event.balance_fraction", "amount ÷ available balance before the event", { $0.balanceFraction }),
        n("event.hour", "UTC hour of day, 0–23", { $0.hour }),
        b("event.new_device", "the device was never seen for this customer", { $0.newDevice }),
        n("event.device_age_hours", "hours since the device was first seen (0 when new)", { $0.deviceAgeHours }),
        b("event.new_country", "the country was never seen for this customer", { $0.newCountry }),
        n("event.country_age_hours", "hours since the country was first seen (0 when new)", { $0.countryAgeHours }),
        b("event.new_payee", "money out to a payee this customer never paid (and not their own funding account)", { $0.newPayee }),
        b("event.to_own_account", "money out to a bank or card account the customer topped up from more than a day ago", { $0.toOwnAccount }),
        b("event.is_small", "money out of at most the configured small amount (10 major units)", { $0.isSmall }),
        b("event.new_rail", "a top-up from a bank or card account first seen less than a day ago", { $0.newRail }),
        b("event.second_factor", "the request carried a fresh second factor", { $0.secondFactor }),
        n("features.out_count_10m", "money-out events in the last 10 minutes, this one included", { $0.outCount10m }),
        n("features.out_count_1h", "money-out events in the last hour, this one included", { $0.outCount1h }),
        n("features.out_count_24h", "money-out events in the last 24 hours, this one included", { $0.outCount24h }),
        n("features.out_sum_10m", "money out in the last 10 minutes (major units), this one included", { $0.outSum10m }),
        n("features.out_sum_1h", "money out in the last hour (major units), this one included", { $0.outSum1h }),
        n("features.out_sum_24h", "money out in the last 24 hours (major units), this one included", { $0.outSum24h }),
        n("features.small_out_count_10m", "small money-out events in the last 10 minutes, this one included", { $0.smallOutCount10m }),
        n("features.small_out_count_1h", "small money-out events in the last hour, this one included", { $0.smallOutCount1h }),
        n("features.new_payees_1h", "distinct new payees paid in the last hour, this one included", { $0.newPayees1h }),
        n("features.new_payees_24h", "distinct new payees paid in the last 24 hours, this one included", { $0.newPayees24h }),
        n("features.in_count_1h", "money-in events (top-ups, received transfers) in the last hour", { $0.inCount1h }),
        n("features.in_count_24h", "money-in events in the last 24 hours", { $0.inCount24h }),
        n("features.in_sum_1h", "money in during the last hour (major units)", { $0.inSum1h }),
        n("features.in_sum_24h", "money in during the last 24 hours (major units)", { $0.inSum24h }),
        n("features.in_new_senders_24h", "distinct new senders of received transfers in the last 24 hours", { $0.inNewSenders24h }),
        n("features.passthrough_ratio_24h", "money out ÷ money in over 24 hours, this event included (0 without money in)", { $0.passthroughRatio24h }),
        n("features.minutes_since_last_in", "minutes since money last came in", { $0.minutesSinceLastIn }),
        n("features.minutes_since_topup", "minutes since the last top-up", { $0.minutesSinceTopup }),
        n("features.topup_fraction", "this amount ÷ the last top-up's amount", { $0.topupFraction }),
        b("features.last_topup_new_rail", "the last top-up came from a rail first seen less than a day before it", { $0.lastTopupNewRail }),
        n("features.failed_logins_1h", "failed logins on this account in the last hour, this one included", { $0.failedLogins1h }),
        n("features.failed_logins_24h", "failed logins on this account in the last 24 hours, this one included", { $0.failedLogins24h }),
        n("features.refused_1h", "this customer's events refused (challenged, blocked) in the last hour", { $0.refused1h }),
        n("features.refused_24h", "this customer's events refused in the last 24 hours", { $0.refused24h }),
        n("features.account_age_days", "days since the account was opened", { $0.accountAgeDays }),
        n("features.hours_since_password_change", "hours since the password was last changed (never: 1e9)", { $0.hoursSincePasswordChange }),
        n("features.hours_since_2fa_change", "hours since the second factor was last changed (never: 1e9)", { $0.hoursSince2FAChange }),
        n("features.hours_since_credential_change", "the smaller of the two above", { $0.hoursSinceCredentialChange }),
        n("features.days_since_last_activity", "days since the last event that went through (account age when none)", { $0.daysSinceLastActivity }),
        n("features.days_since_last_out", "days since money last went out (account age when never)", { $0.daysSinceLastOut }),
        n("features.devices_known", "devices remembered for this customer", { $0.devicesKnown }),
        n("features.countries_known", "countries remembered for this customer", { $0.countriesKnown }),
        n("features.drained_fraction_24h", "money out in 24 hours ÷ (balance before + earlier money out in 24 hours), this event included", { $0.drainedFraction24h }),
        n("features.payee_age_days", "days since this customer first paid the payee (0 when new)", { $0.payeeAgeDays }),
        n("features.payee_payments", "earlier payments from this customer to the payee", { $0.payeePayments }),
        n("baseline.samples", "outgoing amounts in the customer's baseline sample", { $0.baselineSamples }),
        n("baseline.amount_median", "median outgoing amount (major units; 0 without samples)", { $0.baselineMedian }),
        n("baseline.amount_z", "robust z-score of this amount on a log scale ((ln x − median) ÷ 1.4826·MAD, spread ≥ 0.25)", { $0.amountZ }),
        n("baseline.amount_ratio", "this amount ÷ the median amount", { $0.amountRatio }),
        n("baseline.hour_share", "share of the sample within ±1 hour of this event's hour", { $0.hourShare }),
        n("payee.new_senders_1h", "distinct new senders to this payee in the last hour, this one included", { $0.payeeNewSenders1h }),
        n("payee.new_senders_24h", "distinct new senders to this payee in the last 24 hours, this one included", { $0.payeeNewSenders24h }),
        n("payee.in_count_24h", "payments to this payee in the last 24 hours from anyone", { $0.payeeInCount24h }),
        n("payee.in_sum_24h", "money to this payee in the last 24 hours (major units)", { $0.payeeInSum24h }),
        n("payee.account_age_days", "days since the payee's account was opened (absent unless the payee is a customer)", { $0.payeeAccountAgeDays }),
        n("source.failed_logins_1h", "failed logins from this source address in the last hour, this one included", { $0.sourceFailedLogins1h }),
        n("source.failed_logins_24h", "failed logins from this source address in the last 24 hours", { $0.sourceFailedLogins24h }),
        n("source.failed_accounts_1h", "distinct accounts with failed logins from this source in the last hour", { $0.sourceFailedAccounts1h }),
    ]

    public static let byName: [String: Feature] = {
        var table: [String: Feature] = [:]
        for feature in all {
            precondition(table[feature.name] == nil, "feature \(feature.name) declared twice")
            table[feature.name] = feature
        }
        return table
    }()
}
