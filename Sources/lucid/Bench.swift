import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import LucidCore
import LucidHTTP
import LucidServices
import LucidStore
import NIOCore
import NIOHTTP1

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure throughput and latency (figures, never pass/fail).",
                                                    subcommands: [LedgerBench.self, HTTPBench.self, RiskBench.self, ReconcileBench.self])
}

/// One measured configuration, as printed by `--json`.
struct BenchResult: Codable {
    var batchSize: Int?
    var connections: Int?
    var transfersPerSecond: Double
    var p50Ms: Double
    var p90Ms: Double?
    var p99Ms: Double
    var count: Int
    var errors: [String: Int]?
    var groupCommitBatchSizes: [String: Int64]?

    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size", connections, transfersPerSecond = "transfers_per_second", p50Ms = "p50_ms",
             p90Ms = "p90_ms", p99Ms = "p99_ms", count, errors, groupCommitBatchSizes = "group_commit_batch_sizes"
    }
}

struct BenchReport: Codable {
    var results: [BenchResult]
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
    return sorted[index]
}

func log(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func printReport(_ report: BenchReport, json: Bool) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
        for result in report.results {
            let label = result.batchSize.map { "batch \($0)" } ?? "\(result.connections ?? 0) connections"
            print(String(format: "%@: %.0f transfers/s, p50 %.2f ms, p99 %.2f ms (%d transfers)", label,
                         result.transfersPerSecond, result.p50Ms, result.p99Ms, result.count))
            if let errors = result.errors, !errors.isEmpty { print("  errors: \(errors)") }
            if let sizes = result.groupCommitBatchSizes { print("  group-commit batch sizes (bucket ≤ n: batches): \(sizes)") }
        }
    }
}

/// In-process posting into a fresh SQLite file with durable commits.
struct LedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ledger",
                                                    abstract: "Post transfers in batches straight into the store.")
    @Option(help: "Number of customer accounts.") var accounts = 10_000
    @Option(help: "Batch sizes to measure, comma-separated.") var batchSizes = "1,100,8000"
    @Option(help: "Transfers per batch size (at least one batch).") var transfers = 80_000
    @Option(help: "Most batches measured for one size (keeps batch 1 short).") var batchesMax = 2_000
    @Option(help: "Database file (default: a fresh temporary file).") var db: String?
    @Option(help: "PostgreSQL URL: benchmark in a fresh schema of that database (dropped afterwards) instead of SQLite.")
    var databaseURL: String?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let clock = SystemClock()
        let ids = UUIDv7Generator(clock: clock)
        if let databaseURL {
            let base = try PostgresLocation(url: databaseURL)
            let schema = "lucid_bench_\(ProcessInfo.processInfo.processIdentifier)"
            try await PostgresAdmin.withScratchStore(base, named: schema, ids: ids, clock: clock) { store in
                log("Benchmarking \(base) in schema \(schema)…")
                try await measure(store, ids: ids)
            }
        } else {
            let path = db ?? NSTemporaryDirectory() + "lucid-bench-\(ProcessInfo.processInfo.processIdentifier).sqlite"
            defer { if db == nil { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } } }
            log("Benchmarking SQLite file \(path)…")
            try await measure(try SQLiteStore(path: path, ids: ids, clock: clock), ids: ids)
        }
    }

    private func measure(_ store: SQLStore, ids: any IDGenerator) async throws {
        let users: [UserID] = (0..<accounts).map { _ in ids.make() }
        log("Funding \(accounts) accounts…")
        for chunk in stride(from: 0, to: users.count, by: 8_000) {
            let commands = users[chunk..<min(chunk + 8_000, users.count)].map { user in
                LedgerCommand.create(NewTransaction(id: ids.make(), kind: .topup, debit: .system(.gatewayClearing, .cny),
                                                    credit: .customer(user, .cny), amount: Money(1_000_000_000, .cny)))
            }
            _ = try await store.applyBatch(commands)
        }
        var rng = SeededRandom(seed: seed)
        var results: [BenchResult] = []
        for size in batchSizes.split(separator: ",").compactMap({ Int($0) }) where size > 0 {
            let batches = max(1, min(batchesMax, transfers / size))
            log("Batch size \(size): \(batches) batches of \(size) transfers…")
            var latencies: [Double] = []
            var failures = 0
            let started = ContinuousClock.now
            for _ in 0..<batches {
                let commands = (0..<size).map { _ -> LedgerCommand in
                    let from = Int(rng.next() % UInt64(users.count))
                    var to = Int(rng.next() % UInt64(users.count - 1))
                    if to >= from { to += 1 }
                    return .create(NewTransaction(id: ids.make(), kind: .transfer, debit: .customer(users[from], .cny),
                                                  credit: .customer(users[to], .cny),
                                                  amount: Money(Int64(1 + rng.next() % 10_000), .cny)))
                }
                let batchStart = ContinuousClock.now
                let outcome = try await store.applyBatch(commands)
                latencies.append((ContinuousClock.now - batchStart).milliseconds)
                failures += outcome.filter { if case .failure = $0 { return true } else { return false } }.count
            }
            let elapsed = (ContinuousClock.now - started).milliseconds / 1000
            latencies.sort()
            results.append(BenchResult(batchSize: size, transfersPerSecond: Double(batches * size) / elapsed,
                                       p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99),
                                       count: batches * size, errors: failures > 0 ? ["failed": failures] : nil))
        }
        let report = try await store.verify()
        log("verify: \(report.ok ? "OK" : "FAILED \(report.mismatches.count) mismatches") over \(report.transfersChecked) journal rows")
        try printReport(BenchReport(results: results), json: json)
        if !report.ok { throw ExitCode(1) }
    }
}

/// Authenticated, idempotent, individually requested transfers over HTTP.
struct HTTPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "http",
                                                    abstract: "Load a server with transfers (starts one unless --url is given).")
    @Option(help: "Base URL of a running server (repeat for several processes on one database; connections are spread over them). Without it a server is started on a temporary database.")
    var url: [String] = []
    @Option(help: "Concurrent connections.") var connections = 64
    @Option(help: "Seconds of load.") var duration = 10
    @Option(help: "Customers to create.") var customers = 200
    @Option(help: "Random seed.") var seed: UInt64 = 7
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Start the server with risk monitoring off (to measure what it costs).") var noRisk = false

    func run() async throws {
        guard (1...1024).contains(connections), (1...3600).contains(duration), (2...100_000).contains(customers) else {
            throw ValidationError("connections 1–1024, duration 1–3600 s, customers 2–100000")
        }
        var startedServer: LucidApplication?
        var serverTask: Task<Void, any Error>?
        var baseURLs = url
        let path = NSTemporaryDirectory() + "lucid-bench-http-\(ProcessInfo.processInfo.processIdentifier).sqlite"
        if url.isEmpty {
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.store = .sqlite(path: path)
            configuration.passwordHashing = .lowCostForTests  // only the set-up hashes passwords; transfers are measured
            // The set-up signs in every customer from one address: lift the per-source limit for this throw-away server.
            configuration.identity.loginRateLimit = RateLimitPolicy(limit: 100_000, windowSeconds: 60)
            configuration.secretKeyPath = path + ".key"
            configuration.logLevel = .warning
            configuration.risk.enabled = !noRisk
            let ready = AsyncStream.makeStream(of: Int.self)
            let lucid = try await buildApplication(configuration) { port in ready.continuation.yield(port) }
            startedServer = lucid
            serverTask = Task { try await lucid.application.runService() }
            var iterator = ready.stream.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ValidationError("server did not start") }
            baseURLs = ["http://127.0.0.1:\(port)"]
            log("Started a server at \(baseURLs[0]) on \(path)")
        }
        defer {
            serverTask?.cancel()
            for suffix in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }

        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        httpConfiguration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        do {
            try await load(client, baseURLs: baseURLs, server: startedServer)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func load(_ client: HTTPClient, baseURLs: [String], server startedServer: LucidApplication?) async throws {
        let baseURL = baseURLs[0]

        if let lucid = startedServer, lucid.wallet.risk != nil {
            // Machine-made traffic (a hundred transfers per customer in seconds) is a velocity burst to the rules:
            // the bench's device is on the allow list, so every transfer is still decided in full (features,
            // every rule, the decision stored) and then allowed.
            _ = try await lucid.risk.addListEntry(.init(kind: "device", value: Self.device, verdict: "allow", note: "lucid bench http"),
                                                  by: nil)
        } else if startedServer == nil {
            log("Note: with risk monitoring on, allow-list the device \(Self.device) (POST /v1/ops/risk/lists) or transfers will be challenged.")
        }
        log("Creating \(customers) customers and topping them up…")
        let run = UInt64(Date().timeIntervalSince1970 * 1000)
        var accounts: [(email: String, token: String)] = []
        for index in 0..<customers {
            let email = "bench-\(run)-\(index)@example.com"
            let registered = try await call(client, "POST", baseURL + "/v1/users", body: [
                "email": email, "password": "correct horse battery staple", "display_name": "Bench \(index)", "country": "CN"])
            guard registered.status == 201 else {
                throw ValidationError("registration failed: \(registered.status) \(registered.json["code"] as? String ?? "")")
            }
            let session = try await call(client, "POST", baseURL + "/v1/sessions",
                                         body: ["login": email, "password": "correct horse battery staple", "device_id": Self.device])
            guard let token = session.json["token"] as? String else {
                throw ValidationError("login failed: \(session.status) \(session.json["code"] as? String ?? "")")
            }
            _ = try await call(client, "POST", baseURL + "/v1/topups", token: token, key: "fund-\(run)-\(index)",
                               body: ["amount": 100_000, "currency": "CNY"])
            accounts.append((email, token))
        }
        let before = startedServer?.store.commitStatistics()
        log("Running \(connections) connections for \(duration) s…")
        let deadline = ContinuousClock.now + .seconds(duration)
        let snapshot = accounts
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: ([Double], [String: Int]).self) { group in
            for connection in 0..<connections {
                let seed = self.seed &+ UInt64(connection)
                group.addTask {
                    var rng = SeededRandom(seed: seed)
                    var latencies: [Double] = []
                    var outcomes: [String: Int] = [:]
                    var sequence = 0
                    while ContinuousClock.now < deadline {
                        sequence += 1
                        let from = Int(rng.next() % UInt64(snapshot.count))
                        var to = Int(rng.next() % UInt64(snapshot.count - 1))
                        if to >= from { to += 1 }
                        let start = ContinuousClock.now
                        do {
                            let target = baseURLs[connection % baseURLs.count]
                            let answer = try await call(client, "POST", target + "/v1/transfers", token: snapshot[from].token,
                                                        key: "bench-\(run)-\(connection)-\(sequence)",
                                                        body: ["to": ["email": snapshot[to].email], "amount": Int(1 + rng.next() % 100),
                                                               "currency": "CNY"])
                            latencies.append((ContinuousClock.now - start).milliseconds)
                            let code = answer.status == 201 ? "201" : "\(answer.status) \(answer.json["code"] as? String ?? "")"
                            outcomes[code, default: 0] += 1
                        } catch {
                            outcomes["transport error", default: 0] += 1
                        }
                    }
                    return (latencies, outcomes)
                }
            }
            var all: ([Double], [String: Int]) = ([], [:])
            for await (latencies, outcomes) in group {
                all.0 += latencies
                all.1.merge(outcomes) { $0 + $1 }
            }
            return all
        }
        let elapsed = (ContinuousClock.now - started).milliseconds / 1000
        let latencies = results.0.sorted()
        let succeeded = results.1["201"] ?? 0
        var buckets: [String: Int64]?
        if let before, let after = startedServer?.store.commitStatistics() {
            buckets = [:]
            for (bucket, count) in after.batchSizeBuckets {
                let delta = count - (before.batchSizeBuckets[bucket] ?? 0)
                if delta > 0 { buckets?[String(bucket)] = delta }
            }
        }
        var errors = results.1
        errors.removeValue(forKey: "201")
        try printReport(BenchReport(results: [BenchResult(
            connections: connections, transfersPerSecond: Double(succeeded) / elapsed,
            p50Ms: percentile(latencies, 0.5), p90Ms: percentile(latencies, 0.9), p99Ms: percentile(latencies, 0.99),
            count: succeeded, errors: errors, groupCommitBatchSizes: buckets)]), json: json)
        if let lucid = startedServer {
            let report = try await lucid.store.verify()
            log("verify: \(report.ok ? "OK" : "FAILED") over \(report.transfersChecked) journal rows")
        }
    }
}

extension HTTPBench {
    /// The device id the bench's customers sign in with.
    static let device = "lucid-bench-http"
}

struct HTTPAnswer: @unchecked Sendable {
    let status: Int
    let json: [String: Any]
}

func call(_ client: HTTPClient, _ method: String, _ url: String, token: String? = nil, key: String? = nil,
          body: [String: Any]) async throws -> HTTPAnswer {
    var request = HTTPClientRequest(url: url)
    request.method = HTTPMethod(rawValue: method)
    request.headers.add(name: "Content-Type", value: "application/json")
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let key { request.headers.add(name: "Idempotency-Key", value: key) }
    request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
    let response = try await client.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
    return HTTPAnswer(status: Int(response.status.code), json: json)
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
