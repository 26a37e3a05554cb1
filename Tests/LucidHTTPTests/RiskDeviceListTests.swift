import Foundation
import LucidCore
import LucidHTTP
import LucidRisk
@testable import LucidServices
@testable import LucidStore
import Testing

/// Risk monitoring keeps each customer's device list in memory for a while (a read less per
/// movement) without ever judging a device differently from a fresh read: devices are only added,
/// and one added after the list was read is not established before `established_device_seconds`.
@Suite("Risk: a customer's devices, read once in a while, judged exactly")
struct RiskDeviceListTests {
    @Test("a device counts as established exactly when its time comes, from the list in memory or read again")
    func establishedOnTime() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock, configure: { $0.risk.establishedDeviceSeconds = 3_600 }) { api, lucid in
            let alice = try await api.customer("Alice")
            let user = try #require(try await lucid.store.user(UserID(alice.id)))
            let monitor = lucid.risk.monitor
            let start = clock.now()
            func sighting(_ device: String, at time: Timestamp) async throws {
                try await lucid.store.run("""
                    INSERT INTO known_devices (user_id, kind, value, first_seen_at, last_seen_at)
                    VALUES ('\(alice.id)', 'device', '\(device)', \(time.millisecondsSinceEpoch), \(time.millisecondsSinceEpoch))
                    """)
            }
            func known(_ offset: Int64) async throws -> Set<String> {
                try await monitor.context(of: user, at: start.adding(seconds: offset), device: "phone-a").knownDevices
            }
            try await sighting("phone-a", at: start)

            #expect(try await known(3_599) == [], "one second short of an hour: not yet established (the list is now in memory)")
            try await sighting("phone-b", at: start.adding(seconds: 3_605))
            #expect(try await known(3_601) == ["phone-a"], "established on time from the list in memory")
            // Rows removed behind the list's back show it is the memory answering (devices are never removed in use).
            try await lucid.store.run("DELETE FROM known_devices WHERE user_id = '\(alice.id)' AND value = 'phone-a'")
            #expect(try await known(3_890) == ["phone-a"], "within five minutes of the read: from memory")
            #expect(try await known(3_900) == [], "five minutes after the read the list is read again")
            #expect(try await known(7_206) == ["phone-b"], "a device added after a read is established on time too")
        }
    }

    @Test("with devices established at once (a test or bench setting) nothing is kept in memory")
    func noMemoryWithoutAWait() async throws {
        let clock = ManualClock()
        try await withApp(clock: clock, configure: { $0.risk.establishedDeviceSeconds = 0 }) { api, lucid in
            let alice = try await api.customer("Alice")
            let user = try #require(try await lucid.store.user(UserID(alice.id)))
            let now = clock.now()
            #expect(try await lucid.risk.monitor.context(of: user, at: now, device: "phone-c").knownDevices == [])
            try await lucid.store.run("""
                INSERT INTO known_devices (user_id, kind, value, first_seen_at, last_seen_at)
                VALUES ('\(alice.id)', 'device', 'phone-c', \(now.millisecondsSinceEpoch - 1), \(now.millisecondsSinceEpoch))
                """)
            #expect(try await lucid.risk.monitor.context(of: user, at: now, device: "phone-c").knownDevices == ["phone-c"])
        }
    }
}

extension SQLStore {
    /// Runs raw SQL behind the services' back (test set-up only).
    fileprivate func run(_ sql: String) async throws {
        _ = try await database.write { try await $0.execute(SQLStatement(sql)) }
    }
}
