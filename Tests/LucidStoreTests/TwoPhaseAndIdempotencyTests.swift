import GRDB
import LucidCore
@testable import LucidStore
import Testing

@Suite("Two-phase transfers")
struct TwoPhaseStoreTests {
    @Test("a hold lowers available, then posting moves the money and its fee", arguments: Backend.available)
    func holdThenPost(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 10_000)
            let hold = try await store.submit(transfer(alice, bob, 4_000, fee: 10, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            #expect(hold.state == .pending)
            #expect(try await store.balance(alice) == AccountBalance(posted: 10_000, pendingOut: 4_010))
            #expect(try await store.balance(bob) == AccountBalance(posted: 0, pendingOut: 0, pendingIn: 4_000))
            let posted = try await store.submit(.resolve(hold.transactionID, .post, initiator: "test"))
            #expect(posted.state == .posted)
            #expect(try await store.balance(alice) == AccountBalance(posted: 5_990))
            #expect(try await store.balance(bob) == AccountBalance(posted: 4_000))
            #expect(try await store.transaction(hold.transactionID)?.state == .posted)
            #expect(try await store.verify().ok)
        }
    }

    @Test("voiding releases the hold and its fee; nothing moves", arguments: Backend.available)
    func void(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 10_000)
            let hold = try await store.submit(transfer(alice, bob, 4_000, fee: 10, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            _ = try await store.submit(.resolve(hold.transactionID, .void, initiator: "test"))
            #expect(try await store.balance(alice) == AccountBalance(posted: 10_000))
            #expect(try await store.balance(bob) == AccountBalance())
            #expect(try await store.transaction(hold.transactionID)?.state == .voided)
            #expect(try await store.verify().ok)
        }
    }

    @Test("posting twice, voiding a posted hold and posting a voided one are clear errors", arguments: Backend.available)
    func wrongMoves(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 10_000)
            let a = try await store.submit(transfer(alice, bob, 100, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            _ = try await store.submit(.resolve(a.transactionID, .post, initiator: nil))
            #expect(await lucidError { try await store.submit(.resolve(a.transactionID, .post, initiator: nil)) }?.code == .transferAlreadyPosted)
            #expect(await lucidError { try await store.submit(.resolve(a.transactionID, .void, initiator: nil)) }?.code == .transferAlreadyPosted)
            let b = try await store.submit(transfer(alice, bob, 100, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            _ = try await store.submit(.resolve(b.transactionID, .void, initiator: nil))
            #expect(await lucidError { try await store.submit(.resolve(b.transactionID, .post, initiator: nil)) }?.code == .transferAlreadyVoided)
            #expect(await lucidError { try await store.submit(.resolve(TestID.transfer(), .post, initiator: nil)) }?.code == .transactionNotFound)
            #expect(try await store.verify().ok)
        }
    }

    @Test("a hold expires after its timeout: it is listed, released, and can no longer be posted", arguments: Backend.available)
    func expiry(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 10_000)
            let hold = try await store.submit(transfer(alice, bob, 700, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            #expect(try await store.expiredHolds(now: clock.now(), limit: 10).isEmpty)
            let early = await lucidError { try await store.submit(.resolve(hold.transactionID, .expire, initiator: nil)) }
            #expect(early?.code == .invalidField, "a hold cannot expire before its timeout")
            clock.advance(seconds: 61)
            // Past the timeout, posting is refused even before the sweeper ran.
            let late = await lucidError { try await store.submit(.resolve(hold.transactionID, .post, initiator: nil)) }
            #expect(late?.code == .transferExpired)
            #expect(try await store.expiredHolds(now: clock.now(), limit: 10) == [hold.transactionID])
            _ = try await store.submit(.resolve(hold.transactionID, .expire, initiator: "sweeper"))
            #expect(try await store.expiredHolds(now: clock.now(), limit: 10).isEmpty)
            #expect(try await store.balance(alice) == AccountBalance(posted: 10_000))
            #expect(try await store.transaction(hold.transactionID)?.state == .expired)
            let error = await lucidError { try await store.submit(.resolve(hold.transactionID, .post, initiator: nil)) }
            #expect(error?.code == .transferExpired && error?.params["expired_at"] != nil)
            #expect(try await store.verify().ok)
        }
    }
}

@Suite("Idempotency")
struct IdempotencyStoreTests {
    func claim(_ key: String, _ hash: String) -> IdempotencyClaim { IdempotencyClaim(scope: "user:a", key: key, requestHash: hash) }

    @Test("the same key and body replays the first result; the money moves once", arguments: Backend.available)
    func replay(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            let first = try await store.submit(transfer(alice, bob, 300, claim: claim("k1", "h1")))
            let again = try await store.submit(transfer(alice, bob, 300, claim: claim("k1", "h1")))
            #expect(again.transactionID == first.transactionID && again.replayed && again.statusCode == first.statusCode)
            #expect(try await store.balance(bob).posted == 300)
        }
    }

    @Test("the same key with another body is idempotency_key_reused and changes nothing", arguments: Backend.available)
    func reused(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            _ = try await store.submit(transfer(alice, bob, 300, claim: claim("k1", "h1")))
            #expect(await lucidError { try await store.submit(transfer(alice, bob, 400, claim: claim("k1", "h2"))) }?.code == .idempotencyKeyReused)
            #expect(try await store.balance(bob).posted == 300)
        }
    }

    @Test("the same key twice inside one group-committed batch applies once", arguments: Backend.available)
    func sameBatch(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            let results = try await store.applyBatch([transfer(alice, bob, 300, claim: claim("k", "h")),
                                                      transfer(alice, bob, 300, claim: claim("k", "h")),
                                                      transfer(alice, bob, 300, claim: claim("k", "other"))])
            let first = try results[0].get(), second = try results[1].get()
            #expect(first.transactionID == second.transactionID && second.replayed)
            guard case .failure(let error) = results[2] else { Issue.record("a different body under the same key passed"); return }
            #expect(error.code == .idempotencyKeyReused)
            #expect(try await store.balance(bob).posted == 300)
        }
    }

    @Test("a refused request does not burn its key: after a top-up the same key goes through", arguments: Backend.available)
    func refusedKeyIsFree(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            #expect(await lucidError { try await store.submit(transfer(alice, bob, 300, claim: claim("k", "h"))) }?.code == .insufficientFunds)
            try await store.fund(alice, 1_000)
            let receipt = try await store.submit(transfer(alice, bob, 300, claim: claim("k", "h")))
            #expect(!receipt.replayed)
        }
    }

    @Test("keys are scoped: two customers may use the same key", arguments: Backend.available)
    func scoped(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            try await store.fund(bob, 1_000)
            let a = try await store.submit(transfer(alice, bob, 1, claim: IdempotencyClaim(scope: "user:alice", key: "same", requestHash: "h")))
            let b = try await store.submit(transfer(bob, alice, 1, claim: IdempotencyClaim(scope: "user:bob", key: "same", requestHash: "h")))
            #expect(a.transactionID != b.transactionID && !b.replayed)
        }
    }
}

@Suite("Reversals")
struct ReversalStoreTests {
    @Test("a reversal compensates the transfer and its fee with new rows; the original stays", arguments: Backend.available)
    func reverse(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            let original = try await store.submit(transfer(alice, bob, 500, fee: 5))
            let reversal = try await store.submit(.reverse(original.transactionID, reason: "sent by mistake", initiator: "operator:ops", idempotency: nil))
            #expect(reversal.transactionID != original.transactionID)
            #expect(try await store.balance(alice).posted == 1_000)
            #expect(try await store.balance(bob).posted == 0)
            let record = try #require(try await store.transaction(original.transactionID))
            #expect(record.state == .posted && record.reversedByID == reversal.transactionID)
            #expect(try await store.transaction(reversal.transactionID)?.reversesID == original.transactionID)
            #expect(await lucidError { try await store.submit(.reverse(original.transactionID, reason: "again", initiator: nil, idempotency: nil)) }?.code == .transferNotReversible)
            #expect(await lucidError { try await store.submit(.reverse(reversal.transactionID, reason: "undo", initiator: nil, idempotency: nil)) }?.code == .transferNotReversible)
            #expect(try await store.verify().ok)
        }
    }

    @Test("a reversal never takes the recipient below zero", arguments: Backend.available)
    func recipientSpent(backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = TestID.user(), bob = TestID.user(), carol = TestID.user()
            try await store.fund(alice, 1_000)
            let original = try await store.submit(transfer(alice, bob, 500))
            _ = try await store.submit(transfer(bob, carol, 400))
            let error = await lucidError { try await store.submit(.reverse(original.transactionID, reason: "mistake", initiator: nil, idempotency: nil)) }
            #expect(error?.code == .insufficientFunds)
            #expect(try await store.balance(bob).posted == 100)
        }
    }

    @Test("pending holds cannot be reversed, only voided", arguments: Backend.available)
    func pendingNotReversible(backend: Backend) async throws {
        try await withStore(backend) { store, clock in
            let alice = TestID.user(), bob = TestID.user()
            try await store.fund(alice, 1_000)
            let hold = try await store.submit(transfer(alice, bob, 500, pending: true, timeoutAt: clock.now().adding(seconds: 60)))
            #expect(await lucidError { try await store.submit(.reverse(hold.transactionID, reason: "x", initiator: nil, idempotency: nil)) }?.code == .transferNotReversible)
        }
    }
}
