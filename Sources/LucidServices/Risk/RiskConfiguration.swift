import Foundation
import LucidCore
import LucidRisk

/// Settings of risk monitoring. Defaults are production values.
public struct RiskConfiguration: Sendable {
    /// Every login and every movement of money is checked. Off only for measurements
    /// (`lucid bench http --no-risk`) and for tests of other parts.
    public var enabled = true
    /// How long money held for review waits for an operator; then the hold expires and the
    /// money goes back to the customer (who is told).
    public var reviewHoldSeconds: Int64 = 24 * 3_600
    /// How often a process checks whether another one changed rules, lists or suppressions.
    public var reloadInterval: Duration = .seconds(2)
    /// A device the customer signed in with longer ago than this counts as their own (trusted)
    /// device; newer ones are judged by their age in the features.
    public var establishedDeviceSeconds: Int64 = 7 * 86_400
    /// Decided events written per database transaction at most (they are group-committed).
    public var recordBatchMax = 256
    /// Decoded feature states kept in memory per process (skips decoding unchanged rows).
    public var stateCacheMax = 20_000
    /// Tunables of the features themselves.
    public var features = FeatureConfiguration.default

    public init() {}

    /// Bounds on the configuration file's values.
    public static let reviewHoldSecondsRange: ClosedRange<Int64> = 60...(30 * 86_400)
}

extension RiskConfiguration {
    private struct File: Decodable {
        struct Risk: Decodable {
            var enabled: Bool?
            var reviewHoldSeconds: Int64?
            var reloadIntervalSeconds: Int?
            var establishedDeviceSeconds: Int64?
        }
        var risk: Risk?
    }

    /// Reads the optional `risk` section of the configuration file:
    ///
    /// ```json
    /// {"risk": {"enabled": true, "review_hold_seconds": 86400, "reload_interval_seconds": 2,
    ///           "established_device_seconds": 604800}}
    /// ```
    public static func load(json: Data) throws -> RiskConfiguration {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let file: File
        do {
            file = try decoder.decode(File.self, from: json)
        } catch {
            throw ConfigurationFileError(path: "risk", reason: "\(error)")
        }
        var configuration = RiskConfiguration()
        guard let risk = file.risk else { return configuration }
        if let enabled = risk.enabled { configuration.enabled = enabled }
        if let seconds = risk.reviewHoldSeconds {
            guard reviewHoldSecondsRange.contains(seconds) else {
                throw ConfigurationFileError(path: "risk.review_hold_seconds",
                                             reason: "must be between \(reviewHoldSecondsRange.lowerBound) and \(reviewHoldSecondsRange.upperBound)")
            }
            configuration.reviewHoldSeconds = seconds
        }
        if let seconds = risk.reloadIntervalSeconds {
            guard (1...300).contains(seconds) else {
                throw ConfigurationFileError(path: "risk.reload_interval_seconds", reason: "must be between 1 and 300")
            }
            configuration.reloadInterval = .seconds(seconds)
        }
        if let seconds = risk.establishedDeviceSeconds {
            guard seconds >= 0 else { throw ConfigurationFileError(path: "risk.established_device_seconds", reason: "must not be negative") }
            configuration.establishedDeviceSeconds = seconds
        }
        return configuration
    }
}
