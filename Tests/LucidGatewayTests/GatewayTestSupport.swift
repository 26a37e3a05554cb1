import Foundation
import Logging
import LucidCore
import LucidGateway
import Synchronization

/// A fixed start: 2026-11-18T11:06:40Z, far from a day boundary.
let start = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000)

let account = MaskedBankAccount(bank: "ICBC", last4: "6789", holder: "*三丰")

func request(_ reference: String, _ amount: Int64 = 10_000, _ direction: RailDirection = .topUp,
             account: MaskedBankAccount = account, currency: Currency = .cny) -> RailRequest {
    RailRequest(reference: RailReference(reference), direction: direction, amount: Money(amount, currency), account: account)
}

/// Collects callbacks in the order the bank delivers them.
final class CallbackRecorder: Sendable {
    private let received = Mutex<[RailCallback]>([])

    var sink: RailCallbackSink { { [self] callback in received.withLock { $0.append(callback) } } }
    var all: [RailCallback] { received.withLock { $0 } }
    func of(_ reference: String) -> [RailCallback] { all.filter { $0.reference.rawValue == reference } }
    func clear() { received.withLock { $0.removeAll() } }
}

/// A bank with rails `bank-a` and `bank-b` (CNY and USD, 5 s to settle), a manual clock and
/// a virtual sleeper, so nothing waits for real.
struct Fixture {
    let clock = ManualClock(start)
    let sleeper: VirtualSleeper
    let recorder = CallbackRecorder()
    let bank: SandboxBank

    init(seed: UInt64 = 7, faultsA: RailFaults = .none, faultsB: RailFaults = .none, settlementDelaySeconds: Int64 = 5) {
        sleeper = VirtualSleeper(clock: clock)
        bank = SandboxBank(
            rails: [
                SandboxRailConfiguration(id: "bank-a", currencies: [.cny, .usd], settlementDelaySeconds: settlementDelaySeconds,
                                         faults: faultsA),
                SandboxRailConfiguration(id: "bank-b", currencies: [.cny], settlementDelaySeconds: settlementDelaySeconds,
                                         faults: faultsB),
            ],
            seed: seed, clock: clock, sleeper: sleeper, callbackSink: recorder.sink)
    }

    var railA: SandboxRail { bank.rail("bank-a") }
    var railB: SandboxRail { bank.rail("bank-b") }

    /// Moves time past every settlement and settles.
    func settleAll(afterSeconds seconds: Int64 = 60) async {
        clock.advance(seconds: seconds)
        await bank.settleDue()
    }

    func resilient(_ rail: any PaymentRail, policy: ResiliencePolicy = testPolicy, seed: UInt64 = 1) -> ResilientRail {
        ResilientRail(rail, policy: policy, clock: clock, sleeper: sleeper, random: SeededRandom(seed: seed), logger: quietLogger)
    }
}

/// Generous virtual timeouts: the real-time backstop (timeout + grace) can never fire in a unit test.
let testPolicy = ResiliencePolicy(callTimeout: .seconds(30), reportTimeout: .seconds(60), attemptsMax: 4,
                                  backoffBase: .milliseconds(200), backoffMax: .seconds(2), deadlineGrace: .seconds(5),
                                  breaker: .init(failureThreshold: 3, windowSeconds: 60, openSeconds: 30))

/// A fresh folder under the temporary directory, removed by `cleanUp`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "lucid-gateway-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws -> String {
        let file = file(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Folds callbacks into the status a receiver would hold, the way the service will.
func fold(_ callbacks: [RailCallback]) -> [RailReference: RailItemStatus] {
    var state: [RailReference: RailItemStatus] = [:]
    for callback in callbacks { state[callback.reference] = RailItemStatus.merged(state[callback.reference], callback.status) }
    return state
}

/// Tests provoke failures on purpose; their warnings would only be noise.
let quietLogger = Logger(label: "lucid.gateway.test") { _ in SwiftLogNoOpLogHandler() }
