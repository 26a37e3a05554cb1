import LucidCore
import Synchronization
@testable import LucidRisk

/// A fixed instant (2026-11-19T00:00:00Z, a UTC midnight) every test counts from.
let t0: Int64 = 1_795_046_400_000
let alice = UserID("alice")
let bob = UserID("bob")

func at(_ seconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: t0 + seconds * 1000) }
func minutes(_ m: Int64) -> Int64 { m * 60 }
func hours(_ h: Int64) -> Int64 { h * 3_600 }
func days(_ d: Int64) -> Int64 { d * 86_400 }

func cny(_ yuan: Double) -> Money { Money(Int64((yuan * 100).rounded()), .cny) }

/// A long-standing customer: account opened a year ago, phone and country known.
func oldContext(passwordChanged: Timestamp? = nil) -> CustomerContext {
    CustomerContext(accountCreatedAt: at(-days(365)), passwordChangedAt: passwordChanged, knownDevices: ["phone"], knownCountries: ["CN"])
}

let eventCounter = Atomic<Int>(0)
func nextID() -> String { "e\(eventCounter.wrappingAdd(1, ordering: .relaxed).newValue)" }

func transfer(_ yuan: Double, to payee: String = "user:bob", at time: Timestamp, device: String = "phone",
              country: String = "CN", balance: Double? = 10_000, customer: UserID = alice,
              kind: RiskEvent.Kind = .transfer, secondFactor: Bool = false) -> RiskEvent {
    RiskEvent.money(id: nextID(), customer: customer, kind: kind, time: time, amount: cny(yuan), payee: payee, device: device,
                    country: country, balanceBefore: balance.map(cny), secondFactorVerified: secondFactor)
}

func login(at time: Timestamp, succeeded: Bool = true, device: String = "phone", source: String = "ip-1",
           country: String = "CN", customer: UserID = alice) -> RiskEvent {
    RiskEvent.login(id: nextID(), customer: customer, time: time, succeeded: succeeded, device: device, sourceAddress: source,
                    country: country)
}

func topup(_ yuan: Double, rail: String, at time: Timestamp, customer: UserID = alice) -> RiskEvent {
    RiskEvent.money(id: nextID(), customer: customer, kind: .topup, time: time, amount: cny(yuan), rail: rail, device: "phone",
                    country: "CN")
}

/// The bundled rules, loaded once.
let defaultRules = RuleSet.bundledDefault()

/// Drives events through state and engine like the store will: evaluate, then record what was enforced.
struct Harness {
    var state = RiskState()
    var contexts: [UserID: CustomerContext] = [alice: oldContext(), bob: oldContext()]
    var rules = defaultRules
    var lists = RiskLists.empty
    var suppressions: [RuleSuppression] = []

    @discardableResult
    mutating func run(_ event: RiskEvent) -> RiskDecision {
        let payeeContext = event.payee.flatMap(RiskState.payeeCustomer).flatMap { contexts[$0] }
        let inputs = state.take(for: event, context: contexts[event.customer] ?? oldContext(), payeeContext: payeeContext)
        let decision = RiskEngine.evaluate(event, inputs: inputs, lists: lists, suppressions: suppressions, ruleSet: rules).decision
        state.put(inputs, after: event, action: decision.action)
        return decision
    }

    /// The feature vector the next event would see (without recording it).
    func features(_ event: RiskEvent) -> FeatureVector {
        var copy = state
        let inputs = copy.take(for: event, context: contexts[event.customer] ?? oldContext())
        return FeatureVector(event: event, inputs: inputs)
    }

    /// A settled history: `count` ordinary transfers of about `typical` yuan to known payees over past weeks.
    mutating func history(count: Int = 20, typical: Double = 100, customer: UserID = alice) {
        for i in 0..<count {
            let amount = typical * [0.8, 1.0, 1.25, 0.9, 1.1][i % 5]
            run(transfer(amount, to: "user:friend\(i % 4)", at: at(-days(40) + Int64(i) * hours(30) + hours(10)), customer: customer))
        }
    }
}

extension RiskDecision {
    func fired(_ rule: String) -> Bool { fired.contains { $0.ruleID == rule } }
    var firedIDs: [String] { fired.map(\.ruleID) }
}
