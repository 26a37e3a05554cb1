import Foundation
import LucidCore

extension IdentityConfiguration {
    /// The account-protection part of the `--config` file (every key optional):
    ///
    /// ```json
    /// {
    ///   "disallowed_countries": ["KP"],
    ///   "step_up_threshold": {"CNY": 100000},
    ///   "step_up_for_new_payee": true,
    ///   "session_idle_seconds": 604800,
    ///   "dormant_after_days": 365,
    ///   "self_freeze_cooling_off_seconds": 1800,
    ///   "lockout": {"failures_before_lock": 5, "lock_durations_seconds": [60, 300, 900, 3600, 86400]},
    ///   "login_rate_limit": {"limit": 20, "window_seconds": 300},
    ///   "reset_link_base": "https://wallet.example/reset-password",
    ///   "webhooks": [{"url": "https://notify.example/lucid", "secret": "…"}]
    /// }
    /// ```
    public static func load(json data: Data) throws -> (IdentityConfiguration, [WebhookEndpoint]) {
        struct File: Decodable {
            struct Lockout: Decodable {
                var failuresBeforeLock: Int?
                var lockDurationsSeconds: [Int64]?
                var escalationResetSeconds: Int64?
            }
            struct Rate: Decodable {
                var limit: Int
                var windowSeconds: Int64
            }
            struct Webhook: Decodable {
                var url: String
                var secret: String
            }
            var disallowedCountries: [String]?
            var stepUpThreshold: [String: Int64]?
            var stepUpForNewPayee: Bool?
            var sessionIdleSeconds: Int64?
            var sessionLifetimeSeconds: Int64?
            var dormantAfterDays: Int64?
            var selfFreezeCoolingOffSeconds: Int64?
            var lockout: Lockout?
            var loginRateLimit: Rate?
            var resetLinkBase: String?
            var webhooks: [Webhook]?
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let file: File
        do { file = try decoder.decode(File.self, from: data) } catch {
            throw ConfigurationFileError(path: "(file)", reason: "not a valid configuration: \(error)")
        }
        var configuration = IdentityConfiguration()
        if let countries = file.disallowedCountries {
            var set = Set<String>()
            for country in countries {
                guard let code = try? Validate.country(country) else {
                    throw ConfigurationFileError(path: "disallowed_countries", reason: "\(country) is not a two-letter country code")
                }
                set.insert(code)
            }
            configuration.policy.disallowedCountries = set
        }
        if let thresholds = file.stepUpThreshold {
            for (code, amount) in thresholds {
                guard Currency.named(code) != nil, amount >= 0 else {
                    throw ConfigurationFileError(path: "step_up_threshold.\(code)", reason: "a supported currency and an amount ≥ 0")
                }
            }
            configuration.policy.stepUpAmountThreshold = thresholds
        }
        if let value = file.stepUpForNewPayee { configuration.policy.stepUpForNewPayee = value }
        func positive(_ value: Int64?, _ path: String) throws -> Int64? {
            guard let value else { return nil }
            guard value > 0 else { throw ConfigurationFileError(path: path, reason: "must be positive") }
            return value
        }
        if let value = try positive(file.sessionIdleSeconds, "session_idle_seconds") { configuration.policy.sessionIdleSeconds = value }
        if let value = try positive(file.sessionLifetimeSeconds, "session_lifetime_seconds") {
            configuration.policy.sessionLifetimeSeconds = value
        }
        if let value = try positive(file.dormantAfterDays, "dormant_after_days") { configuration.policy.dormantAfterSeconds = value * 86_400 }
        if let value = file.selfFreezeCoolingOffSeconds {
            guard value >= 0 else { throw ConfigurationFileError(path: "self_freeze_cooling_off_seconds", reason: "must be ≥ 0") }
            configuration.policy.selfFreezeCoolingOffSeconds = value
        }
        if let lockout = file.lockout {
            let failures = lockout.failuresBeforeLock ?? LockoutPolicy.failuresBeforeLockDefault
            let durations = lockout.lockDurationsSeconds ?? LockoutPolicy.lockDurationsSecondsDefault
            let reset = lockout.escalationResetSeconds ?? LockoutPolicy.escalationResetSecondsDefault
            guard failures > 0, !durations.isEmpty, durations.allSatisfy({ $0 > 0 }), zip(durations, durations.dropFirst()).allSatisfy({ $0 <= $1 }),
                  reset > 0 else {
                throw ConfigurationFileError(path: "lockout", reason: "failures_before_lock > 0 and positive, non-decreasing lock_durations_seconds")
            }
            configuration.lockout = LockoutPolicy(failuresBeforeLock: failures, lockDurationsSeconds: durations, escalationResetSeconds: reset)
        }
        if let rate = file.loginRateLimit {
            guard rate.limit > 0, rate.windowSeconds > 0 else {
                throw ConfigurationFileError(path: "login_rate_limit", reason: "limit and window_seconds must be positive")
            }
            configuration.loginRateLimit = RateLimitPolicy(limit: rate.limit, windowSeconds: rate.windowSeconds)
        }
        if let base = file.resetLinkBase { configuration.resetLinkBase = base }
        var webhooks: [WebhookEndpoint] = []
        for (index, hook) in (file.webhooks ?? []).enumerated() {
            guard let url = URL(string: hook.url), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationFileError(path: "webhooks[\(index)].url", reason: "an http(s) URL")
            }
            guard hook.secret.utf8.count >= 16 else {
                throw ConfigurationFileError(path: "webhooks[\(index)].secret", reason: "at least 16 characters")
            }
            webhooks.append(WebhookEndpoint(url: hook.url, secret: hook.secret))
        }
        return (configuration, webhooks)
    }
}
