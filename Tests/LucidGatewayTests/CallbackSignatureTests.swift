import Foundation
import LucidCore
import LucidGateway
import Testing

@Suite("Callback signatures")
struct CallbackSignatureTests {
    let secret = "whsec_test_secret"
    let callback = RailCallback(eventID: "evt_bank-a_00000001", rail: "bank-a", reference: "ref-1", bankID: "BANKA-00000001",
                                status: .settled(at: start), occurredAt: start)

    func authenticator(_ clock: ManualClock, guard replayGuard: InMemoryCallbackReplayGuard = InMemoryCallbackReplayGuard())
        -> CallbackAuthenticator {
        CallbackAuthenticator(verifier: CallbackVerifier(secrets: [secret]), replayGuard: replayGuard, clock: clock)
    }

    func reason(_ error: LucidError) -> String? {
        if case .text(let text) = error.params["reason"] { return text }
        return nil
    }

    @Test("a valid signature passes and yields the callback")
    func valid() async throws {
        let clock = ManualClock(start)
        let body = RailWire.encode(callback)
        let header = CallbackSigner(secret: secret).signature(for: body, at: start)
        #expect(header.hasPrefix("t=\(start.millisecondsSinceEpoch / 1000),v1="))
        clock.advance(seconds: 299)
        let received = try await authenticator(clock).authenticate(signatureHeader: header, body: body)
        #expect(received == callback)
    }

    @Test("the wrong secret, a tampered body, a malformed or missing header are refused with the reason", arguments: [
        "wrong secret", "tampered body", "missing", "malformed", "no v1", "not hex",
    ])
    func refused(case name: String) async throws {
        let clock = ManualClock(start)
        var body = RailWire.encode(callback)
        var header: String? = CallbackSigner(secret: secret).signature(for: body, at: start)
        let expected: String
        switch name {
        case "wrong secret":
            header = CallbackSigner(secret: "another").signature(for: body, at: start)
            expected = "no signature matches"
        case "tampered body":
            body = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "settled", with: "failed").utf8)
            expected = "no signature matches"
        case "missing":
            header = nil
            expected = "the signature header is missing"
        case "malformed":
            header = "garbage"
            expected = "the signature header is malformed"
        case "no v1":
            header = "t=\(start.millisecondsSinceEpoch / 1000)"
            expected = "the signature header has no v1 signature"
        default:
            header = "t=\(start.millisecondsSinceEpoch / 1000),v1=zz"
            expected = "the signature header has no v1 signature"
        }
        do {
            _ = try await authenticator(clock).authenticate(signatureHeader: header, body: body)
            Issue.record("expected a refusal")
        } catch let error as LucidError {
            #expect(error.code == .callbackSignatureInvalid && error.status == 401)
            #expect(reason(error) == expected)
        }
    }

    @Test("a stale or future timestamp is refused even with a valid MAC")
    func staleTimestamp() async throws {
        let clock = ManualClock(start)
        let body = RailWire.encode(callback)
        let old = CallbackSigner(secret: secret).signature(for: body, at: start.adding(seconds: -301))
        let future = CallbackSigner(secret: secret).signature(for: body, at: start.adding(seconds: 301))
        for header in [old, future] {
            do {
                _ = try await authenticator(clock).authenticate(signatureHeader: header, body: body)
                Issue.record("expected a refusal")
            } catch let error as LucidError {
                #expect(reason(error) == "the timestamp is more than 300 seconds from now")
            }
        }
    }

    @Test("a replayed event is refused with callback_replayed; released after a failed apply, it is accepted again")
    func replay() async throws {
        let clock = ManualClock(start)
        let replayGuard = InMemoryCallbackReplayGuard()
        let auth = authenticator(clock, guard: replayGuard)
        let body = RailWire.encode(callback)
        let header = CallbackSigner(secret: secret).signature(for: body, at: start)
        _ = try await auth.authenticate(signatureHeader: header, body: body)
        await #expect(throws: LucidError(.callbackReplayed, ["event_id": .text("evt_bank-a_00000001")])) {
            try await auth.authenticate(signatureHeader: header, body: body)
        }
        // A redelivery is signed anew: still the same event.
        let later = CallbackSigner(secret: secret).signature(for: body, at: start.adding(seconds: 60))
        clock.advance(seconds: 60)
        await #expect(throws: LucidError.self) { try await auth.authenticate(signatureHeader: later, body: body) }
        try await replayGuard.release(eventID: callback.eventID)
        #expect(try await auth.authenticate(signatureHeader: later, body: body) == callback)
    }

    @Test("the guard forgets ids after its retention, by which time their signatures are stale anyway")
    func retention() async throws {
        let replayGuard = InMemoryCallbackReplayGuard(retentionSeconds: 600, entriesMax: 3)
        #expect(try await replayGuard.claim(eventID: "a", at: start))
        #expect(try await !replayGuard.claim(eventID: "a", at: start.adding(seconds: 599)))
        #expect(try await replayGuard.claim(eventID: "b", at: start.adding(seconds: 1)))
        #expect(try await replayGuard.claim(eventID: "c", at: start.adding(seconds: 2)))
        await #expect(throws: LucidError.self, "full: refuses rather than forgetting too early") {
            try await replayGuard.claim(eventID: "d", at: start.adding(seconds: 3))
        }
        #expect(try await replayGuard.claim(eventID: "a", at: start.adding(seconds: 601)), "forgotten after the retention")
        #expect(replayGuard.count == 2, "b left with a; c and the new a remain")
    }

    @Test("a rotated secret: signatures with either current secret pass")
    func rotation() throws {
        let verifier = CallbackVerifier(secrets: ["old", "new"])
        let body = Array("{}".utf8)
        for secret in ["old", "new"] {
            let header = CallbackSigner(secret: secret).signature(for: body, at: start)
            #expect(try verifier.verify(header: header, body: body, now: start) == Timestamp(millisecondsSinceEpoch: 1_795_000_000_000))
        }
        // Several v1 values (the sender signs with both during rotation): one match suffices.
        let both = CallbackSigner(secret: "other").signature(for: body, at: start) + ","
            + CallbackSigner(secret: "new").signature(for: body, at: start).split(separator: ",")[1]
        #expect(throws: Never.self) { try verifier.verify(header: both, body: body, now: start) }
    }

    @Test("callbacks survive the wire: every status shape round-trips")
    func wire() throws {
        for status in [RailItemStatus.pending(expectedBy: start), .settled(at: start),
                       .failed(reason: .bankMaintenance, message: "down for the night")] {
            let callback = RailCallback(eventID: "evt_1", rail: "bank-b", reference: "r-1", bankID: "B-1", status: status,
                                        occurredAt: start)
            #expect(try RailWire.decodeCallback(RailWire.encode(callback)) == callback)
        }
        #expect(throws: RailWire.Malformed.self) { try RailWire.decodeCallback(Array("{\"event_id\":\"x\"}".utf8)) }
        let request = request("ref-9", 4_200, .withdrawal)
        #expect(try RailWire.decodeRequest(RailWire.encode(request)) == request)
    }
}
