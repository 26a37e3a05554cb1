import LucidCore
import LucidStore
import Synchronization

/// Group commit for risk records: concurrent requests' feature updates and decisions share
/// one database transaction (and one fsync on SQLite), the way the ledger's writer batches.
///
/// No background task: the first caller becomes the leader and writes its own record plus
/// everything queued meanwhile; when done it hands leadership to the next waiter, whose
/// record is then written together with whatever queued behind it. Alone, a record is
/// written at once; under load, batches grow. Each caller gets its own batch's outcome.
final class RiskRecorder: Sendable {
    private enum Outcome: Sendable {
        case done(Result<[String: RiskStateRecord], any Error>)
        case lead
    }

    private struct Waiter: Sendable {
        let recording: RiskRecording
        let continuation: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var leading = false
    }

    private let store: any RiskStore
    private let clock: any WallClock
    private let batchMax: Int
    private let state = Mutex(State())

    init(store: any RiskStore, clock: any WallClock, batchMax: Int) {
        precondition(batchMax > 0)
        self.store = store
        self.clock = clock
        self.batchMax = batchMax
    }

    /// Writes `recording` (possibly with others) and returns the new states of the keys written.
    func record(_ recording: RiskRecording) async throws -> [String: RiskStateRecord] {
        let leadNow = state.withLock { state -> Bool in
            if state.leading { return false }
            state.leading = true
            return true
        }
        if leadNow { return try await lead(recording) }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let lead = state.withLock { state -> Bool in
                if !state.leading {
                    state.leading = true
                    return true
                }
                state.waiting.append(Waiter(recording: recording, continuation: continuation))
                return false
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch outcome {
        case .done(let result): return try result.get()
        case .lead: return try await lead(recording)
        }
    }

    private func lead(_ own: RiskRecording) async throws -> [String: RiskStateRecord] {
        let batch = state.withLock { state -> [Waiter] in
            let count = min(batchMax - 1, state.waiting.count)
            let batch = Array(state.waiting.prefix(count))
            state.waiting.removeFirst(count)
            return batch
        }
        let ownResult: Result<[String: RiskStateRecord], any Error>
        do {
            let written = try await store.recordRisk([own] + batch.map(\.recording), at: clock.now())
            ownResult = .success(written)
            for waiter in batch { waiter.continuation.resume(returning: .done(.success(written))) }
        } catch {
            // The batch failed as a whole: each record alone, so one bad record cannot fail its neighbours.
            ownResult = await Self.capture { try await self.store.recordRisk([own], at: self.clock.now()) }
            for waiter in batch {
                let result = await Self.capture { try await self.store.recordRisk([waiter.recording], at: self.clock.now()) }
                waiter.continuation.resume(returning: .done(result))
            }
        }
        let next = state.withLock { state -> Waiter? in
            if state.waiting.isEmpty {
                state.leading = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try ownResult.get()
    }

    private static func capture(_ body: () async throws -> [String: RiskStateRecord]) async -> Result<[String: RiskStateRecord], any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}
