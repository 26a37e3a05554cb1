import LucidCore
import LucidGateway
import LucidStore

/// What seeding a `SettlementWorkload` wrote.
public struct SeededWorkload: Sendable, Hashable {
    /// Customers created, each with one opening top-up settled the day before.
    public var customers: Int
    /// The day's movements: transfers with their rail items, resolved as the rail finished them.
    public var movements: Int
    /// Ledger batches written (creations and resolutions).
    public var batches: Int
}

extension PaymentGateway {
    /// Most movements per ledger batch when seeding a workload (twice as many commands: creations, then
    /// resolutions).
    public static let seedBatchMax = 20_000

    /// Seeds the store with `workload`'s day as the wallet and the rail would have left it, so that
    /// reconciliation runs against a real ledger (benchmarks and tests; never on a live database).
    ///
    /// - `customers` customers (users), each funded by one top-up through the rail that settled the day
    ///   before (so the day's withdrawals are covered and the day's report does not mention it);
    /// - then every movement of the day as a pending top-up or withdrawal transfer written together with
    ///   its rail item (`GatewayEffect.insertItem`), as `WalletService` writes them, the rail's id and
    ///   pending answer already noted;
    /// - each resolved as the rail finished it: posted (settled) or voided (failed, `R99_rejected`), with the
    ///   bank reference, the rail's time, the audit entry and the customer's notification the rail's answer
    ///   carries (`resolution(…)`, the same as a callback's).
    ///
    /// Everything goes through the ledger's commands (`applyBatch`, `batchSize` movements at a time:
    /// one batch of creations, then one of resolutions), so the ledger's rules hold and `verify` passes.
    /// Top-ups and withdrawals carry no idempotency key, fee, limit check or risk screening (the customers'
    /// requests are not what is measured). `progress` is called with the movements seeded so far.
    public func seed(_ workload: SettlementWorkload, customers customerCount: Int, batchSize: Int = 5_000,
                     progress: (Int) -> Void = { _ in }) async throws -> SeededWorkload {
        precondition(customerCount > 0 && (1...Self.seedBatchMax).contains(batchSize))
        _ = try directory.descriptor(workload.rail)
        let openingDay = workload.day.adding(days: -1)
        let account = MaskedBankAccount(bank: Self.linkedAccountBank, last4: "0000", holder: "*")

        // What each customer withdraws that day, so the opening top-up covers it.
        var withdrawn = [Int64](repeating: 0, count: customerCount)
        for index in 0..<workload.movements {
            let movement = workload.movement(index)
            if movement.direction == .withdrawal { withdrawn[index % customerCount] += movement.amount.minorUnits }
        }
        var customers: [UserID] = []
        customers.reserveCapacity(customerCount)
        for number in 0..<customerCount {
            let user = UserRecord(id: ids.make(), email: "workload-\(workload.day)-\(number)@example.invalid", phone: nil,
                                  passwordHash: "!", displayName: "Customer \(number)", country: "CN", tier: .full,
                                  createdAt: openingDay.start)
            try await store.createUser(user)
            customers.append(user.id)
        }

        var batches = 0
        var opening: [SeedMovement] = []
        for (number, user) in customers.enumerated() {
            opening.append(SeedMovement(
                id: ids.make(), user: user, direction: .topUp, amount: Money(withdrawn[number] + 100_000, .cny), settled: true,
                createdAt: openingDay.start.adding(seconds: 3_600), finishedAt: openingDay.start.adding(seconds: 3_660),
                bankID: "OPENING-\(number)"))
            if opening.count == batchSize || number == customers.count - 1 {
                batches += try await seed(opening, rail: workload.rail, account: account)
                opening.removeAll(keepingCapacity: true)
            }
        }

        var batch: [SeedMovement] = []
        batch.reserveCapacity(batchSize)
        for index in 0..<workload.movements {
            let movement = workload.movement(index)
            let finishedAt = workload.finishedAt(index)
            batch.append(SeedMovement(
                id: TransferID(movement.reference.rawValue), user: customers[index % customerCount], direction: movement.direction,
                amount: movement.amount, settled: movement.state == .posted, createdAt: finishedAt.adding(seconds: -5),
                finishedAt: finishedAt, bankID: workload.bankID(index)))
            if batch.count == batchSize || index == workload.movements - 1 {
                batches += try await seed(batch, rail: workload.rail, account: account)
                batch.removeAll(keepingCapacity: true)
                progress(index + 1)
            }
        }
        return SeededWorkload(customers: customerCount, movements: workload.movements, batches: batches)
    }

    /// Writes `movements` pending with their items in one batch, then resolves them in a second; returns 2.
    private func seed(_ movements: [SeedMovement], rail: RailID, account: MaskedBankAccount) async throws -> Int {
        var creations: [LedgerCommand] = []
        var resolutions: [LedgerCommand] = []
        creations.reserveCapacity(movements.count)
        resolutions.reserveCapacity(movements.count)
        let actor = "rail:\(rail)"
        for movement in movements {
            var item = newItem(movement.id, rail: rail, direction: movement.direction, user: movement.user, amount: movement.amount,
                               account: account, now: movement.createdAt)
            // The rail took it and answered "pending" with its own id (`send`, then `apply`).
            item.submittedAt = movement.createdAt
            item.bankReference = movement.bankID
            item.railState = "pending"
            let clearing = AccountRef.system(.clearing(rail: rail.rawValue), movement.amount.currency)
            let customer = AccountRef.customer(movement.user, movement.amount.currency)
            let topUp = movement.direction == .topUp
            creations.append(.create(NewTransaction(
                id: movement.id, kind: topUp ? .topup : .withdrawal, debit: topUp ? clearing : customer, credit: topUp ? customer : clearing,
                amount: movement.amount, pending: true, reason: "waiting_for_bank", initiator: "user:\(movement.user)",
                statusCode: topUp ? 202 : 201, effects: SideEffects(gateway: [.insertItem(item)]))))
            let failure = movement.settled ? nil : SettlementWorkload.failureReason.rawValue
            let (_, effects) = resolution(item, movement.settled ? .post : .void, railState: movement.settled ? "settled" : "failed",
                                          railReason: failure, reason: failure, finalAt: movement.finishedAt,
                                          bankID: movement.bankID, actor: actor, notify: true)
            resolutions.append(.resolve(movement.id, movement.settled ? .post : .void, initiator: actor, effects: effects))
        }
        for commands in [creations, resolutions] {
            for (movement, result) in zip(movements, try await store.applyBatch(commands)) {
                if case .failure(let error) = result {
                    throw LucidError(.internalError, cause: "the ledger refused seeded movement \(movement.id): \(error.code.rawValue)")
                }
            }
        }
        return 2
    }
}

/// One movement to seed: created pending, then resolved as the rail finished it.
private struct SeedMovement {
    let id: TransferID
    let user: UserID
    let direction: RailDirection
    let amount: Money
    /// Settled (posted); otherwise failed (voided).
    let settled: Bool
    let createdAt: Timestamp
    let finishedAt: Timestamp
    let bankID: String
}
