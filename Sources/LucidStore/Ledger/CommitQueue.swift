import LucidCore
import Synchronization

/// The hand-off between request handlers and the single ledger writer.
///
/// Handlers enqueue a command and suspend; the writer takes everything queued
/// so far (up to `batchMax`) as one batch, commits it in one transaction with
/// one fsync, and resumes each handler with its own result. While a batch is
/// being committed the next one accumulates: that is group commit.
final class CommitQueue: Sendable {
    struct Item: Sendable {
        let command: LedgerCommand
        let continuation: CheckedContinuation<LedgerReceipt, any Error>
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let state = Mutex(State())
    let depthMax: Int

    init(depthMax: Int) { self.depthMax = depthMax }

    /// Queues a command and waits for the writer's answer.
    func submit(_ command: LedgerCommand) async throws -> LedgerReceipt {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<CheckedContinuation<Void, Never>?, LucidError> = state.withLock { state in
                if state.closed { return .failure(LucidError(.storageUnavailable, cause: "ledger writer stopped")) }
                if state.items.count >= depthMax { return .failure(LucidError(.serviceOverloaded, cause: "commit queue full")) }
                state.items.append(Item(command: command, continuation: continuation))
                let waiter = state.waiter
                state.waiter = nil
                return .success(waiter)
            }
            switch result {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(let waiter): waiter?.resume()
            }
        }
    }

    /// Waits until something is queued, then takes up to `max` items. Empty once closed and drained.
    func take(max: Int) async -> [Item] {
        while true {
            let batch: [Item]? = state.withLock { state in
                if !state.items.isEmpty {
                    let count = Swift.min(max, state.items.count)
                    let batch = Array(state.items.prefix(count))
                    state.items.removeFirst(count)
                    return batch
                }
                return state.closed ? [] : nil
            }
            if let batch { return batch }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if !state.items.isEmpty || state.closed { return true }
                    state.waiter = waiter
                    return false
                }
                if resumeNow { waiter.resume() }
            }
        }
    }

    /// Stops accepting new commands; queued ones are still processed.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    var depth: Int { state.withLock { $0.items.count } }
}
