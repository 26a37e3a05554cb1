import LucidCore
@testable import LucidStore
import Testing

/// The reads every request makes (session, payee, wallets, idempotency key) run as
/// prepared statements on PostgreSQL: parsed and planned once per connection.
@Suite("Prepared reads")
struct PreparedReadTests {
    @Test("a prepared read answers afresh every time it runs, on both stores", arguments: Backend.available)
    func freshAnswers(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let id = TestID.user()
            var user = AccountProtectionStoreTests.user(id, clock)
            user.phone = "+8613800138000"
            user.lastActivityAt = clock.now()
            try await store.createUser(user)
            let hash = [UInt8](repeating: 3, count: 32)
            try await store.createSession(SessionRecord(id: SessionID("s-\(id.rawValue)"), userID: id, tokenHash: hash, deviceID: "d1",
                                                        sourceAddress: nil, createdAt: clock.now(),
                                                        expiresAt: clock.now().adding(seconds: 3_600)))
            // More runs than PostgreSQL's five custom plans before it settles on a generic one.
            for _ in 0..<8 {
                let (session, owner) = try #require(try await store.signedIn(tokenHash: hash))
                #expect(session.revokedAt == nil && owner.id == id)
                #expect(try await store.user(login: user.email!)?.id == id)
                #expect(try await store.user(login: "+8613800138000")?.id == id)
            }
            #expect(try await store.user(id)?.lastActivityAt == clock.now(), "registration stores the first activity")
            #expect(try await store.user(login: "nobody@example.com") == nil)
            #expect(try await store.signedIn(tokenHash: [UInt8](repeating: 4, count: 32)) == nil)

            clock.advance(seconds: 5)
            try await store.revokeSession(SessionID("s-\(id.rawValue)"), at: clock.now())
            #expect(try await store.signedIn(tokenHash: hash)?.session.revokedAt == clock.now(), "a revocation is seen at once")
            try await store.fund(id, 500)
            #expect(try await store.wallets(of: id).map(\.balance.posted) == [500])
            try await store.fund(id, 250)
            #expect(try await store.wallets(of: id).map(\.balance.posted) == [750])
        }
    }

    @Test("a read whose preparation failed works again once the cause is gone", arguments: [Backend.postgres].filter(Backend.available.contains))
    func failedPreparationHeals(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let id = TestID.user()
            try await store.createUser(AccountProtectionStoreTests.user(id, clock))
            // The first preparation on this pool's connections fails: a column it names is missing.
            try await store.tamper("ALTER TABLE users RENAME COLUMN display_name TO display_name_gone")
            for _ in 0..<3 {
                await #expect(throws: (any Error).self) { try await store.user(id) }
            }
            try await store.tamper("ALTER TABLE users RENAME COLUMN display_name_gone TO display_name")
            // PostgresNIO keeps a failed preparation for the connection's lifetime; the store closes
            // such a connection, so every later read prepares afresh and succeeds.
            for _ in 0..<5 {
                #expect(try await store.user(id)?.displayName == "Test")
            }
        }
    }
}
