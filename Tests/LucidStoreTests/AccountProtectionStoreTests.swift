import Foundation
import LucidCore
@testable import LucidStore
import Testing

/// Counters that must hold across processes live in the database: two stores on one
/// database (two `lucid serve` processes) see each other's locks, steps, tokens and windows.
@Suite("Account protection store")
struct AccountProtectionStoreTests {
    static func user(_ id: UserID, _ clock: ManualClock) -> UserRecord {
        UserRecord(id: id, email: "\(id.rawValue.prefix(8))@example.com", phone: nil, passwordHash: "$scrypt$x", displayName: "Test",
                   country: "CN", tier: .unverified, createdAt: clock.now())
    }

    /// Two stores on one database: two PostgreSQL pools, or two SQLite stores on one file.
    func withTwoStores(_ backend: Backend, _ body: (SQLStore, SQLStore, ManualClock) async throws -> Void) async throws {
        switch backend {
        case .postgres:
            try await withPostgresStores(count: 2) { stores, clock in try await body(stores[0], stores[1], clock) }
        case .sqlite:
            try await withSQLiteStore { first, clock in
                let second = try SQLiteStore(path: first.path, ids: CountingIDGenerator(), clock: clock)
                try await body(first, second, clock)
            }
        }
    }

    @Test("a lock set through one store is seen by the other, and audited with it", arguments: Backend.available)
    func sharedLockout(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let id = TestID.user()
            try await a.createUser(Self.user(id, clock))
            let policy = LockoutPolicy()
            for _ in 0..<5 {
                // Alternate the stores, as a load balancer would.
                for store in [a, b] where try await (store.userSecurity(id)?.lockout.consecutiveFailures ?? 0) < 5 {
                    try await store.updateLockout(id) { state in
                        let (next, started) = policy.recordFailure(state, at: clock.now())
                        let audit = started.map { _ in [AuditEntry(id: UUID().uuidString.lowercased(), at: clock.now(), actor: "system:test",
                                                              action: "account_locked", targetUserID: id, sourceAddress: nil, details: "{}")] } ?? []
                        return (next, SideEffects(audit: audit))
                    }
                    break
                }
            }
            let seen = try #require(try await b.userSecurity(id))
            #expect(policy.lockedUntil(seen.lockout, now: clock.now()) == clock.now().adding(seconds: 60))
            let audit = try await a.auditEntries(of: id, limit: 10, cursor: nil)
            #expect(audit.items.map(\.action) == ["account_locked"])
        }
    }

    @Test("a TOTP step, a recovery code and a one-time token are each used once across stores", arguments: Backend.available)
    func singleUse(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let id = TestID.user()
            try await a.createUser(Self.user(id, clock))
            try await a.enableTOTP(id, sealedSecret: [1, 2, 3], step: 100, recoveryCodeHashes: ["h0", "h1"], at: clock.now(), effects: .none)
            #expect(try await a.claimTOTPStep(id, step: 101))
            #expect(try await !b.claimTOTPStep(id, step: 101), "replay through the other process")
            #expect(try await !b.claimTOTPStep(id, step: 100), "an earlier step")
            #expect(try await b.claimTOTPStep(id, step: 102))
            #expect(try await a.useRecoveryCode(id, position: 1, at: clock.now(), effects: .none))
            #expect(try await !b.useRecoveryCode(id, position: 1, at: clock.now(), effects: .none))
            let hash = [UInt8](repeating: 7, count: 32)
            try await a.createToken(hash: hash, purpose: "password_reset", user: id, at: clock.now(),
                                    expiresAt: clock.now().adding(seconds: 60), effects: .none)
            #expect(try await b.tokenOwner(hash: hash, purpose: "password_reset", at: clock.now()) == id)
            #expect(try await b.consumeToken(hash: hash, purpose: "verification_code", at: clock.now()) == nil, "another purpose")
            #expect(try await b.consumeToken(hash: hash, purpose: "password_reset", at: clock.now()) == id)
            #expect(try await a.consumeToken(hash: hash, purpose: "password_reset", at: clock.now()) == nil, "used")
            let late = [UInt8](repeating: 9, count: 32)
            try await a.createToken(hash: late, purpose: "password_reset", user: id, at: clock.now(),
                                    expiresAt: clock.now().adding(seconds: 60), effects: .none)
            #expect(try await a.consumeToken(hash: late, purpose: "password_reset", at: clock.now().adding(seconds: 61)) == nil, "expired")
        }
    }

    @Test("a rate window counts requests from both stores", arguments: Backend.available)
    func sharedRateWindow(backend: Backend) async throws {
        try await withTwoStores(backend) { a, b, clock in
            let policy = RateLimitPolicy(limit: 4, windowSeconds: 60)
            var allowed = 0
            for index in 0..<6 {
                if try await (index.isMultiple(of: 2) ? a : b).admit(key: "login:10.0.0.1", policy: policy, now: clock.now()).allowed {
                    allowed += 1
                }
            }
            #expect(allowed == 4)
            #expect(try await !a.peek(key: "login:10.0.0.1", policy: policy, now: clock.now()).allowed)
            #expect(try await a.peek(key: "login:10.0.0.2", policy: policy, now: clock.now()).allowed)
        }
    }

    @Test("a notification is written with its deliveries; delivered secrets are scrubbed", arguments: Backend.available)
    func outbox(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let id = TestID.user()
            try await store.createUser(Self.user(id, clock))
            store.setDeliveryEndpoints(["https://a.test/hook", "https://b.test/hook"])
            let message = OutboxMessage(id: UUID().uuidString.lowercased(), userID: id, category: .security, type: "verification_code",
                                        payload: "{}", createdAt: clock.now(), sealedSecret: [9, 9, 9])
            try await store.writeEffects(SideEffects(notifications: [message]))
            let due = try await store.dueDeliveries(at: clock.now(), limit: 10)
            #expect(due.count == 2 && due.allSatisfy { $0.sealedSecret == [9, 9, 9] })
            try await store.deliverySucceeded(due[0].id, at: clock.now())
            try await store.deliveryFailed(due[1].id, error: "HTTP 503", nextAttemptAt: clock.now().adding(seconds: 10))
            #expect(try await store.dueDeliveries(at: clock.now(), limit: 10).isEmpty)
            let retry = try await store.dueDeliveries(at: clock.now().adding(seconds: 10), limit: 10)
            #expect(retry.count == 1 && retry[0].attempts == 1)
            try await store.deliveryFailed(retry[0].id, error: "HTTP 503", nextAttemptAt: nil)
            #expect(try await store.deliveryCounts() == ["delivered": 1, "dead": 1])
            let secrets = try await store.integer(SQLStatement("SELECT COUNT(*) FROM notification_deliveries WHERE secret IS NOT NULL"))
            #expect(secrets == 0, "no delivered or dead delivery keeps its secret")
            let page = try await store.notifications(of: id, limit: 10, cursor: nil)
            #expect(page.items.count == 1 && !page.items[0].payload.contains("9"))
        }
    }

    @Test("the audit log is append-only", arguments: Backend.available)
    func auditAppendOnly(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            try await store.writeEffects(SideEffects(audit: [AuditEntry(id: "a1", at: clock.now(), actor: "system:test", action: "x",
                                                                         targetUserID: nil, sourceAddress: nil, details: "{}")]))
            await #expect(throws: SQLError.self) { try await store.tamper("UPDATE audit_log SET action = 'y'") }
            await #expect(throws: SQLError.self) { try await store.tamper("DELETE FROM audit_log") }
        }
    }
}
