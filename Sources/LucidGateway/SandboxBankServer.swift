import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LucidCore
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// How `lucid sandbox-bank` serves a `SandboxBank` over HTTP.
public struct SandboxServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (reported to `onServerRunning`).
    public var port = 9090
    /// Where signed callbacks go (`nil`: callbacks are dropped). `{rail}` in it is replaced by the
    /// callback's rail, e.g. `http://127.0.0.1:8080/v1/gateway/callbacks/{rail}`.
    public var callbackURL: String?
    /// The HMAC secret callbacks are signed with.
    public var callbackSecret = "sandbox-callback-secret"
    /// How often due movements are made final.
    public var settleInterval: Duration = .milliseconds(200)
    /// Attempts per callback before it is given up (the first included).
    public var callbackAttemptsMax = 8
    /// First wait between callback attempts; doubles per attempt up to 10 s.
    public var callbackRetryBase: Duration = .milliseconds(250)
    /// Callbacks waiting for delivery; more are dropped (and logged), as a real bank would.
    public var callbackQueueDepthMax = 10_000
    public var logLevel: Logger.Level = .info

    public init() {}
}

/// The sandbox bank's HTTP API (JSON, see docs/GATEWAY.md):
///
/// | route | what |
/// |---|---|
/// | `POST /rails/{rail}/items` | submit (`X-Rail-Timeout-Ms` tells the bank the caller's timeout): 201 new, 200 replay |
/// | `GET /rails/{rail}/items?reference=R` | status: 200, or 404 `unknown_reference` |
/// | `GET /rails/{rail}/reports/{YYYY-MM-DD}` | the day's settlement report, `text/csv`, streamed |
/// | `GET /admin/rails` | every rail's configuration |
/// | `GET`/`PUT /admin/rails/{rail}/faults` | read / replace a rail's faults (JSON `RailFaults`; missing keys are off) |
/// | `PUT /admin/rails/{rail}/settlement-delay` | `{"seconds": n}` |
/// | `GET /admin/rails/{rail}/book` | what the bank booked |
/// | `POST /admin/settle` | make due movements final now |
/// | `GET /healthz` | `{"status":"ok"}` |
///
/// Errors are `{"error": code, "detail": text}` with 400, 404, 409, 503 or 504.
public enum SandboxBankServer {
    public static let timeoutHeader = "X-Rail-Timeout-Ms"
    /// Caller timeouts the bank honours (a missing header means 30 s).
    static let timeoutRangeMilliseconds: ClosedRange<Int64> = 1...120_000

    /// Builds the server: the routes, the settlement ticker and, when a callback URL is
    /// configured, the signed callback sender (wired as the bank's sink).
    public static func buildApplication(
        bank: SandboxBank, configuration: SandboxServerConfiguration, clock: any WallClock,
        httpClient: HTTPClient = .shared,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async -> Application<RouterResponder<BasicRequestContext>> {
        var logger = Logger(label: "lucid.sandbox-bank")
        logger.logLevel = configuration.logLevel
        var services: [any Service] = [SettlementTicker(bank: bank, interval: configuration.settleInterval, logger: logger)]
        if let url = configuration.callbackURL {
            let sender = HTTPCallbackSender(url: url, signer: CallbackSigner(secret: configuration.callbackSecret),
                                            client: httpClient, clock: clock, attemptsMax: configuration.callbackAttemptsMax,
                                            retryBase: configuration.callbackRetryBase,
                                            queueDepthMax: configuration.callbackQueueDepthMax, logger: logger)
            await bank.setCallbackSink(sender.sink)
            services.append(sender)
        }
        let router = Router(context: BasicRequestContext.self)
        register(bank: bank, on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lucid-sandbox-bank"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static func register(bank: SandboxBank, on router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in json(.ok, ["status": "ok"]) }

        router.post("rails/:rail/items") { request, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: GatewayLimits.callbackBodyBytesMax)
            } catch {
                return problem(.contentTooLarge, "body_too_large", "at most \(GatewayLimits.callbackBodyBytesMax) bytes")
            }
            let railRequest: RailRequest
            do {
                railRequest = try RailWire.decodeRequest(Array(buffer: body))
            } catch let error as RailWire.Malformed {
                return problem(.badRequest, "invalid_request", error.reason)
            }
            do {
                let receipt = try await bank.submit(railRequest, on: rail, timeout: callerTimeout(request))
                return raw(receipt.isReplay ? .ok : .created, RailWire.encode(receipt))
            } catch let error as RailCallError {
                return failure(error)
            }
        }

        router.get("rails/:rail/items") { request, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            guard let text = request.uri.queryParameters.get("reference"), let reference = RailReference(parsing: text) else {
                return problem(.badRequest, "invalid_request", "give ?reference= with a valid reference")
            }
            do {
                guard let receipt = try await bank.status(of: reference, on: rail, timeout: callerTimeout(request)) else {
                    return problem(.notFound, "unknown_reference", "the bank never received \(reference)")
                }
                return raw(.ok, RailWire.encode(receipt))
            } catch let error as RailCallError {
                return failure(error)
            }
        }

        router.get("rails/:rail/reports/:day") { request, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            guard let text = context.parameters.get("day"), let day = SettlementDay(parsing: text) else {
                return problem(.badRequest, "invalid_request", "the day must be YYYY-MM-DD")
            }
            let configuration: SandboxRailConfiguration
            do { configuration = try await bank.configuration(of: rail) } catch { return problem(.notFound, "unknown_rail", "no such rail") }
            if configuration.faults.outage { return problem(.serviceUnavailable, "unavailable", "\(rail) is down") }
            await bank.settleDue()
            let lines = try await bank.settlementReport(for: day, on: rail).lines
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8"
            // Streamed in chunks so a big day never sits in one buffer.
            let body = ResponseBody { writer in
                var chunk = ByteBuffer()
                chunk.writeString(SettlementReportFormat.header + "\n")
                for line in lines {
                    chunk.writeString(SettlementReportFormat.render(line) + "\n")
                    if chunk.readableBytes >= 64 * 1024 {
                        try await writer.write(chunk)
                        chunk.clear()
                    }
                }
                if chunk.readableBytes > 0 { try await writer.write(chunk) }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        }

        router.get("admin/rails") { _, _ in
            var out: [[String: Any]] = []
            for id in bank.railIDs {
                let configuration = try await bank.configuration(of: id)
                out.append(describe(configuration))
            }
            return json(.ok, ["rails": out])
        }

        router.get("admin/rails/:rail/faults") { _, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            return raw(.ok, RailWire.encodeJSON(try await bank.configuration(of: rail).faults))
        }

        router.put("admin/rails/:rail/faults") { request, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            let body = try await request.body.collect(upTo: GatewayLimits.callbackBodyBytesMax)
            let faults: RailFaults
            do {
                faults = try JSONDecoder().decode(RailFaults.self, from: Data(body.readableBytesView))
                try await bank.configure(rail, faults: faults)
            } catch let error as LucidError {
                return problem(.badRequest, "invalid_request", ErrorCatalogue.describe(error, in: .en).detail)
            } catch {
                return problem(.badRequest, "invalid_request", "the body is not a faults document")
            }
            return raw(.ok, RailWire.encodeJSON(try await bank.configuration(of: rail).faults))
        }

        router.put("admin/rails/:rail/settlement-delay") { request, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            let body = try await request.body.collect(upTo: 1024)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
                  let seconds = object["seconds"] as? Int, seconds >= 0, seconds <= 86_400 else {
                return problem(.badRequest, "invalid_request", "send {\"seconds\": 0…86400}")
            }
            try await bank.configure(rail, settlementDelaySeconds: Int64(seconds))
            return json(.ok, ["seconds": seconds])
        }

        router.get("admin/rails/:rail/book") { _, context in
            guard let rail = try railID(context, bank) else { return problem(.notFound, "unknown_rail", "no such rail") }
            let book = try await bank.book(of: rail)
            let items: [[String: Any]] = book.map { entry in
                [
                    "reference": entry.request.reference.rawValue, "bank_id": entry.bankID,
                    "direction": entry.request.direction.rawValue, "amount_minor": entry.request.amount.minorUnits,
                    "currency": entry.request.amount.currency.code, "state": entry.status.stateName,
                    "accepted_at": entry.acceptedAt.rfc3339,
                ]
            }
            return json(.ok, ["count": items.count, "items": items])
        }

        router.post("admin/settle") { _, _ in
            json(.ok, ["settled": await bank.settleDue()])
        }
    }

    // MARK: Helpers

    private static func railID(_ context: BasicRequestContext, _ bank: SandboxBank) throws -> RailID? {
        guard let text = context.parameters.get("rail"), let rail = RailID(parsing: text), bank.railIDs.contains(rail) else {
            return nil
        }
        return rail
    }

    private static func callerTimeout(_ request: Request) -> Duration {
        let header = request.headers[HTTPField.Name(timeoutHeader)!].flatMap { Int64($0) } ?? 30_000
        return .milliseconds(min(max(header, timeoutRangeMilliseconds.lowerBound), timeoutRangeMilliseconds.upperBound))
    }

    private static func failure(_ error: RailCallError) -> Response {
        switch error {
        case .timedOut: return problem(.gatewayTimeout, "timed_out", "the bank did not answer in time")
        case .unavailable(let detail): return problem(.serviceUnavailable, "unavailable", detail)
        case .referenceConflict(let reference):
            return problem(.conflict, "reference_conflict", "\(reference) is booked for another movement")
        case .invalidRequest(let detail): return problem(.badRequest, "invalid_request", detail)
        case .connectionLost(let detail), .protocolViolation(let detail):
            return problem(.internalServerError, "bank_error", detail)
        }
    }

    static func describe(_ configuration: SandboxRailConfiguration) -> [String: Any] {
        let faults = (try? JSONSerialization.jsonObject(with: Data(RailWire.encodeJSON(configuration.faults)))) ?? [:]
        return [
            "rail": configuration.id.rawValue, "currencies": configuration.currencies.map(\.code).sorted(),
            "settlement_delay_seconds": configuration.settlementDelaySeconds, "faults": faults,
            "confirm_at_once": configuration.confirmsAtOnce.map(\.rawValue).sorted(),
        ]
    }

    static func problem(_ status: HTTPResponse.Status, _ code: String, _ detail: String) -> Response {
        json(status, ["error": code, "detail": detail])
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return raw(status, Array(data))
    }

    static func raw(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Makes due movements final every `interval` until the server shuts down (the sandbox-bank
/// server runs one; so does Lucid for its in-process sandbox).
public struct SettlementTicker: Service {
    let bank: SandboxBank
    let interval: Duration
    let logger: Logger

    public init(bank: SandboxBank, interval: Duration, logger: Logger) {
        self.bank = bank
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                let settled = await bank.settleDue()
                if settled > 0 { logger.debug("settled due movements", metadata: ["count": "\(settled)"]) }
            }
        }
    }
}

/// Delivers callbacks as signed HTTP POSTs, one at a time in order, retrying with
/// backoff; 2xx and 409 (`callback_replayed`: already received) count as delivered.
/// Each attempt is signed anew, so its timestamp is fresh.
public final class HTTPCallbackSender: Service, Sendable {
    private let url: String
    private let signer: CallbackSigner
    private let client: HTTPClient
    private let clock: any WallClock
    private let attemptsMax: Int
    private let retryBase: Duration
    private let logger: Logger
    private let stream: AsyncStream<RailCallback>
    private let continuation: AsyncStream<RailCallback>.Continuation
    private let counters = Mutex<(delivered: Int, abandoned: Int, dropped: Int)>((0, 0, 0))

    public init(url: String, signer: CallbackSigner, client: HTTPClient, clock: any WallClock, attemptsMax: Int = 8,
                retryBase: Duration = .milliseconds(250), queueDepthMax: Int = 10_000, logger: Logger) {
        precondition(attemptsMax >= 1 && queueDepthMax >= 1, "attempts and queue depth must be positive")
        self.url = url
        self.signer = signer
        self.client = client
        self.clock = clock
        self.attemptsMax = attemptsMax
        self.retryBase = retryBase
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: RailCallback.self, bufferingPolicy: .bufferingOldest(queueDepthMax))
    }

    /// The bank's sink: queues the callback and returns at once.
    public var sink: RailCallbackSink {
        { [self] callback in
            if case .dropped = continuation.yield(callback) {
                counters.withLock { $0.dropped += 1 }
                logger.error("callback queue full; callback dropped", metadata: ["event_id": "\(callback.eventID)"])
            }
        }
    }

    /// Delivered, given up after every attempt, and dropped because the queue was full.
    public var statistics: (delivered: Int, abandoned: Int, dropped: Int) { counters.withLock { $0 } }

    public func run() async throws {
        for await callback in stream.cancelOnGracefulShutdown() {
            await deliver(callback)
        }
    }

    private func deliver(_ callback: RailCallback) async {
        let body = RailWire.encode(callback)
        var wait = retryBase
        for attempt in 1...attemptsMax {
            var request = HTTPClientRequest(url: url.replacingOccurrences(of: "{rail}", with: callback.rail.rawValue))
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: CallbackSigner.headerName, value: signer.signature(for: body, at: clock.now()))
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                let status = Int(response.status.code)
                if (200..<300).contains(status) || status == 409 {
                    counters.withLock { $0.delivered += 1 }
                    return
                }
                logger.warning("callback refused", metadata: [
                    "event_id": "\(callback.eventID)", "status": "\(status)", "attempt": "\(attempt)",
                ])
            } catch {
                logger.warning("callback not delivered", metadata: [
                    "event_id": "\(callback.eventID)", "error": "\(error)", "attempt": "\(attempt)",
                ])
            }
            if attempt < attemptsMax {
                do { try await Task.sleep(for: wait) } catch { break }
                wait = min(wait * 2, .seconds(10))
            }
        }
        counters.withLock { $0.abandoned += 1 }
        logger.error("callback abandoned", metadata: ["event_id": "\(callback.eventID)"])
    }
}
