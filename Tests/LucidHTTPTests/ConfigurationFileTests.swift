import Foundation
import LucidCore
import LucidServices
import Testing

@Suite("Configuration file")
struct ConfigurationFileTests {
    @Test("fees, limits and timings are read over the defaults")
    func reads() throws {
        let configuration = try WalletConfiguration.load(json: Data("""
            {"fees": {"transfer": {"CNY": {"fixed": 100, "basis_points": 25, "maximum": 500}}},
             "limits": {"basic": {"USD": {"per_transfer_max": 1000, "daily_max": 5000}}},
             "withdrawal_hold_seconds": 3600, "minimum_client_version": "2.0.0"}
            """.utf8))
        #expect(try configuration.fees.fee(.transfer, amount: Money(10_000, .cny)) == 125)
        #expect(try configuration.fees.fee(.transfer, amount: Money(10_000, .usd)) == 0, "the transfer table replaced the defaults")
        #expect(try configuration.fees.fee(.payment, amount: Money(10_000, .cny)) == 60, "other operations keep the defaults")
        #expect(configuration.limits.rule(.basic, .usd) == LimitRule(perTransferMax: 1_000, dailyMax: 5_000))
        #expect(configuration.limits.rule(.basic, .cny).perTransferMax == 0, "a tier table replaces the tier: unlisted currencies fail closed")
        #expect(configuration.limits.rule(.unverified, .cny) == LimitPolicy.standard.rule(.unverified, .cny))
        #expect(configuration.withdrawalHoldSeconds == 3_600 && configuration.minimumClientVersion == "2.0.0")
    }

    @Test("mistakes are refused with their place", arguments: [
        (#"{"fees": {"gift": {}}}"#, "fees.gift"),
        (#"{"fees": {"payment": {"XYZ": {}}}}"#, "fees.payment.XYZ"),
        (#"{"fees": {"payment": {"CNY": {"fixed": -1}}}}"#, "fees.payment.CNY"),
        (#"{"limits": {"gold": {}}}"#, "limits.gold"),
        (#"{"limits": {"basic": {"CNY": {"per_transfer_max": 10, "daily_max": 5}}}}"#, "limits.basic.CNY"),
        (#"{"session_lifetime_seconds": 0}"#, "session_lifetime_seconds"),
        (#"{"fees": "#, "(file)"),
    ])
    func refuses(json: String, path: String) {
        do {
            _ = try WalletConfiguration.load(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch let error as ConfigurationFileError {
            #expect(error.path == path)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
