import Foundation
import LucidCore

/// A configuration file the operator edits: fees, limits and timings, each
/// optional (missing parts keep the production defaults).
///
/// ```json
/// {
///   "fees": {"payment": {"CNY": {"fixed": 0, "basis_points": 60, "minimum": 1, "maximum": null}}},
///   "limits": {"unverified": {"CNY": {"per_transfer_max": 200000, "daily_max": 500000}}},
///   "session_lifetime_seconds": 2592000,
///   "withdrawal_hold_seconds": 86400,
///   "minimum_client_version": "1.0.0"
/// }
/// ```
/// A fee or limit table given for an operation or tier replaces that
/// operation's or tier's defaults entirely, so what is written is what applies.
public struct ConfigurationFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

extension WalletConfiguration {
    private struct File: Decodable {
        struct Fee: Decodable {
            var fixed: Int64?
            var basisPoints: Int64?
            var minimum: Int64?
            var maximum: Int64?
        }
        struct Limit: Decodable {
            var perTransferMax: Int64
            var dailyMax: Int64
        }
        var fees: [String: [String: Fee]]?
        var limits: [String: [String: Limit]]?
        var sessionLifetimeSeconds: Int64?
        var withdrawalHoldSeconds: Int64?
        var withdrawalExpectedSeconds: Int64?
        var minimumClientVersion: String?
    }

    /// Reads a configuration file over the defaults; every mistake names its place.
    public static func load(json data: Data) throws -> WalletConfiguration {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let file: File
        do { file = try decoder.decode(File.self, from: data) } catch {
            throw ConfigurationFileError(path: "(file)", reason: "not a valid configuration: \(error)")
        }
        var configuration = WalletConfiguration()
        var fees = configuration.fees
        for (operationName, byCurrency) in file.fees ?? [:] {
            guard let operation = Operation(rawValue: operationName) else {
                throw ConfigurationFileError(path: "fees.\(operationName)", reason: "unknown operation; use \(Operation.allCases.map(\.rawValue))")
            }
            for currency in Currency.supported { fees.rules.removeValue(forKey: "\(operation.rawValue):\(currency.code)") }
            for (code, fee) in byCurrency {
                let path = "fees.\(operationName).\(code)"
                guard Currency.named(code) != nil else { throw ConfigurationFileError(path: path, reason: "unsupported currency") }
                let fixed = fee.fixed ?? 0, bps = fee.basisPoints ?? 0, minimum = fee.minimum ?? 0
                guard fixed >= 0, bps >= 0, bps <= 10_000, minimum >= 0, (fee.maximum ?? minimum) >= minimum else {
                    throw ConfigurationFileError(path: path, reason: "fees are never negative, basis_points ≤ 10000, maximum ≥ minimum")
                }
                fees.rules["\(operation.rawValue):\(code)"] = FeeRule(fixed: fixed, basisPoints: bps, minimum: minimum, maximum: fee.maximum)
            }
        }
        configuration.fees = fees
        var limits = configuration.limits
        for (tierName, byCurrency) in file.limits ?? [:] {
            let tier: VerificationTier
            switch tierName {
            case "unverified": tier = .unverified
            case "basic": tier = .basic
            case "full": tier = .full
            default: throw ConfigurationFileError(path: "limits.\(tierName)", reason: "unknown tier; use unverified, basic or full")
            }
            for currency in Currency.supported { limits.rules.removeValue(forKey: "\(tier.rawValue):\(currency.code)") }
            for (code, limit) in byCurrency {
                let path = "limits.\(tierName).\(code)"
                guard Currency.named(code) != nil else { throw ConfigurationFileError(path: path, reason: "unsupported currency") }
                guard limit.perTransferMax > 0, limit.dailyMax >= limit.perTransferMax, limit.dailyMax <= InputLimits.amountMax else {
                    throw ConfigurationFileError(path: path, reason: "need 0 < per_transfer_max ≤ daily_max ≤ \(InputLimits.amountMax)")
                }
                limits.rules["\(tier.rawValue):\(code)"] = LimitRule(perTransferMax: limit.perTransferMax, dailyMax: limit.dailyMax)
            }
        }
        configuration.limits = limits
        func positive(_ value: Int64?, _ name: String) throws -> Int64? {
            guard let value else { return nil }
            guard value > 0 else { throw ConfigurationFileError(path: name, reason: "must be positive") }
            return value
        }
        if let value = try positive(file.sessionLifetimeSeconds, "session_lifetime_seconds") { configuration.sessionLifetimeSeconds = value }
        if let value = try positive(file.withdrawalHoldSeconds, "withdrawal_hold_seconds") { configuration.withdrawalHoldSeconds = value }
        if let value = try positive(file.withdrawalExpectedSeconds, "withdrawal_expected_seconds") { configuration.withdrawalExpectedSeconds = value }
        if let version = file.minimumClientVersion { configuration.minimumClientVersion = version }
        return configuration
    }
}
