import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import LucidCore
import LucidGateway
import HTTPTypes
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

/// Real time, for the one test that runs over a real connection.
struct RealClock: WallClock {
    func now() -> Timestamp { Timestamp(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) }
}

/// What the callback endpoint saw: accepted callbacks, and refusals by code.
final class CallbackInbox: Sendable {
    private let state = Mutex<(accepted: [RailCallback], refused: [String])>(([], []))
    func accept(_ callback: RailCallback) { state.withLock { $0.accepted.append(callback) } }
    func refuse(_ code: String) { state.withLock { $0.refused.append(code) } }
    var accepted: [RailCallback] { state.withLock { $0.accepted } }
    var refused: [String] { state.withLock { $0.refused } }
}

@Suite("Sandbox bank over HTTP", .serialized)
struct HTTPLoopbackTests {
    let secret = "loopback-secret"

    /// Waits (in real time, up to `seconds`) until `condition` holds. Never asserts on time.
    func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test("HTTPRail against the sandbox server on a loopback port: submit, replay, signed callbacks, faults at run time, report, reconcile")
    func loopback() async throws {
        let clock = RealClock()
        let inbox = CallbackInbox()
        let authenticator = CallbackAuthenticator(verifier: CallbackVerifier(secrets: [secret]),
                                                  replayGuard: InMemoryCallbackReplayGuard(), clock: clock)
        // The wallet's side: a callback endpoint that authenticates and records.
        let receiverRouter = Router()
        receiverRouter.post("callbacks") { request, _ -> Response in
            let body = try await request.body.collect(upTo: GatewayLimits.callbackBodyBytesMax)
            do {
                let callback = try await authenticator.authenticate(
                    signatureHeader: request.headers[HTTPField.Name(CallbackSigner.headerName)!], body: Array(buffer: body))
                inbox.accept(callback)
                return Response(status: .ok)
            } catch let error as LucidError {
                inbox.refuse(error.code.rawValue)
                return Response(status: .init(code: error.status))
            }
        }
        let receiverPort = AsyncStream.makeStream(of: Int.self)
        let receiver = Application(router: receiverRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                   onServerRunning: { receiverPort.continuation.yield($0.localAddress?.port ?? 0) },
                                   logger: quietLogger)
        let receiverTask = Task { try await ServiceGroup(services: [receiver], logger: quietLogger).run() }
        var ports = receiverPort.stream.makeAsyncIterator()
        let callbackPort = try #require(await ports.next())

        // The bank: two rails, settling at once, a duplicate of every callback.
        let bank = SandboxBank(rails: [
            SandboxRailConfiguration(id: "bank-a", settlementDelaySeconds: 0, faults: RailFaults(duplicateCallbackRate: 1)),
            SandboxRailConfiguration(id: "bank-b", settlementDelaySeconds: 0),
        ], seed: 3, clock: clock)
        var configuration = SandboxServerConfiguration()
        configuration.port = 0
        configuration.callbackURL = "http://127.0.0.1:\(callbackPort)/callbacks"
        configuration.callbackSecret = secret
        configuration.settleInterval = .milliseconds(20)
        configuration.logLevel = .critical
        let bankPort = AsyncStream.makeStream(of: Int.self)
        let server = await SandboxBankServer.buildApplication(bank: bank, configuration: configuration, clock: clock) {
            bankPort.continuation.yield($0)
        }
        let serverGroup = ServiceGroup(services: [server], logger: quietLogger)
        let serverTask = Task { try await serverGroup.run() }
        var bankPorts = bankPort.stream.makeAsyncIterator()
        let port = try #require(await bankPorts.next())
        let base = "http://127.0.0.1:\(port)"
        defer {
            serverTask.cancel()
            receiverTask.cancel()
        }

        let rail = HTTPRail(id: "bank-a", baseURL: base)
        let first = try await rail.submit(request("http-1", 12_345, .withdrawal), timeout: .seconds(5))
        #expect(first.rail == "bank-a" && !first.isReplay && first.status.stateName == "pending")
        let again = try await rail.submit(request("http-1", 12_345, .withdrawal), timeout: .seconds(5))
        #expect(again.isReplay && again.bankID == first.bankID)
        await #expect(throws: RailCallError.referenceConflict("http-1")) {
            try await rail.submit(request("http-1", 1, .withdrawal), timeout: .seconds(5))
        }
        #expect(try await rail.status(of: "never-sent", timeout: .seconds(5)) == nil)

        // Signed callbacks arrive; the duplicate of each is refused as a replay.
        #expect(await eventually { inbox.accepted.count >= 2 && inbox.refused.count >= 2 })
        #expect(inbox.accepted.map(\.status.stateName) == ["pending", "settled"])
        #expect(Set(inbox.refused) == ["callback_replayed"])
        #expect(try await rail.status(of: "http-1", timeout: .seconds(5))?.status.isFinal == true)

        // Faults change at run time through the admin route.
        let client = HTTPClient.shared
        var put = HTTPClientRequest(url: "\(base)/admin/rails/bank-a/faults")
        put.method = .PUT
        put.body = .bytes(ByteBuffer(string: #"{"outage": true}"#))
        #expect(try await client.execute(put, timeout: .seconds(5)).status.code == 200)
        await #expect(throws: RailCallError.self) { try await rail.submit(request("http-2"), timeout: .seconds(5)) }
        let resilient = ResilientRail(rail, policy: ResiliencePolicy(callTimeout: .seconds(5), attemptsMax: 2,
                                                                     backoffBase: .milliseconds(1), backoffMax: .milliseconds(5)),
                                      clock: clock, logger: quietLogger)
        do {
            _ = try await resilient.submit(request("http-2"))
            Issue.record("expected gateway_unavailable")
        } catch let error as LucidError {
            #expect(error.code == .gatewayUnavailable)
        }
        var bad = HTTPClientRequest(url: "\(base)/admin/rails/bank-a/faults")
        bad.method = .PUT
        bad.body = .bytes(ByteBuffer(string: #"{"timeout_rate": 7}"#))
        #expect(try await client.execute(bad, timeout: .seconds(5)).status.code == 400)
        put.body = .bytes(ByteBuffer(string: "{}"))
        #expect(try await client.execute(put, timeout: .seconds(5)).status.code == 200)
        _ = try await rail.submit(request("http-2", 500), timeout: .seconds(5))

        // The day's report over HTTP, reconciled against a ledger that agrees.
        #expect(await eventually { (try? await rail.status(of: "http-2", timeout: .seconds(5)))?.status.isFinal == true })
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let day = SettlementDay(containing: clock.now())
        let download = try await rail.downloadSettlementReport(for: day, to: folder.file("a.csv"), timeout: .seconds(10))
        #expect(download.bytes > 0 && !FileManager.default.fileExists(atPath: folder.file("a.csv.part")))
        let book = try await bank.book(of: "bank-a")
        let ledger = InMemoryReconciliationLedger(book.map { entry in
            (LedgerRailRecord(reference: entry.request.reference, rail: "bank-a", direction: entry.request.direction,
                              amount: entry.request.amount, state: entry.status.stateName == "settled" ? .posted : .voided), day)
        })
        let report = try await Reconciler(ledger: ledger).reconcile(reportAt: download.path, rail: "bank-a", day: day)
        #expect(report.isClean && report.count(.matched) == 2)

        await serverGroup.triggerGracefulShutdown()
        try? await serverTask.value
    }

    @Test("a connection refused is `unavailable` (nothing was sent), not a timeout")
    func refused() async throws {
        let client = HTTPRail.makeClient()
        let rail = HTTPRail(id: "bank-a", baseURL: "http://127.0.0.1:1", client: client)
        do {
            _ = try await rail.submit(request("x-1"), timeout: .seconds(3))
            Issue.record("expected a failure")
        } catch let error as RailCallError {
            print("refused connection classified as: \(error)")
            if case .unavailable = error {} else { Issue.record("got \(error)") }
        }
        try await client.shutdown()
    }
}
