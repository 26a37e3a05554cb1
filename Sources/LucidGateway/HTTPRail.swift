#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AsyncHTTPClient
import Foundation
import Logging
import LucidCore
import NIOCore
import NIOHTTP1

/// A `PaymentRail` spoken to over HTTP: the sandbox bank's API (see `SandboxBankServer`),
/// and the shape a real bank adapter takes. Failures are classified into `RailCallError`
/// by what they mean for the money: refused before sending (`unavailable`), lost after
/// sending (`timedOut`, `connectionLost`: the outcome is unknown), or refused by the rail.
public struct HTTPRail: PaymentRail {
    public let id: RailID
    /// `http://127.0.0.1:9090`, without a trailing slash.
    public let baseURL: String
    private let client: HTTPClient
    private let logger: Logger

    public init(id: RailID, baseURL: String, client: HTTPClient = .shared, logger: Logger = Logger(label: "lucid.gateway.http")) {
        self.id = id
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.logger = logger
    }

    public func submit(_ request: RailRequest, timeout: Duration) async throws -> RailReceipt {
        var http = HTTPClientRequest(url: "\(baseURL)/rails/\(id)/items")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: SandboxBankServer.timeoutHeader, value: String(timeout.wholeMilliseconds))
        http.body = .bytes(ByteBuffer(bytes: RailWire.encode(request)))
        let (status, body) = try await call(http, timeout: timeout)
        switch status {
        case 200, 201: return try receipt(body)
        default: throw failure(status, body, reference: request.reference)
        }
    }

    public func status(of reference: RailReference, timeout: Duration) async throws -> RailReceipt? {
        var http = HTTPClientRequest(url: "\(baseURL)/rails/\(id)/items?reference=\(HTTPRail.percentEncode(reference.rawValue))")
        http.method = .GET
        http.headers.add(name: SandboxBankServer.timeoutHeader, value: String(timeout.wholeMilliseconds))
        let (status, body) = try await call(http, timeout: timeout)
        switch status {
        case 200: return try receipt(body)
        case 404 where HTTPRail.errorCode(body) == "unknown_reference": return nil
        default: throw failure(status, body, reference: reference)
        }
    }

    /// Streams the report into a temporary file beside `path` and renames it into place
    /// when complete, so a half-downloaded report is never mistaken for a whole one.
    public func downloadSettlementReport(for day: SettlementDay, to path: String, timeout: Duration) async throws
        -> SettlementReportDownload {
        let url = "\(baseURL)/rails/\(id)/reports/\(day)"
        let client = self.client
        let id = self.id
        return try await Deadline.run(limit: timeout) {
            var http = HTTPClientRequest(url: url)
            http.method = .GET
            http.headers.add(name: SandboxBankServer.timeoutHeader, value: String(timeout.wholeMilliseconds))
            let response: HTTPClientResponse
            do {
                response = try await client.execute(http, timeout: .milliseconds(timeout.wholeMilliseconds))
            } catch {
                throw HTTPRail.classify(error)
            }
            guard response.status.code == 200 else {
                let body = (try? await response.body.collect(upTo: GatewayLimits.responseBodyBytesMax)).map { Array(buffer: $0) } ?? []
                throw HTTPRail.failureStatic(Int(response.status.code), body, reference: nil)
            }
            let temporary = path + ".part"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard descriptor >= 0 else { throw FileError.cannotOpen(temporary, errno) }
            var bytes: Int64 = 0
            do {
                for try await chunk in response.body {
                    bytes += Int64(chunk.readableBytes)
                    guard bytes <= GatewayLimits.reportBytesMax else {
                        throw RailCallError.protocolViolation("report larger than \(GatewayLimits.reportBytesMax) bytes")
                    }
                    try chunk.withUnsafeReadableBytes { raw in
                        var offset = 0
                        while offset < raw.count {
                            let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                            if written < 0 {
                                if errno == EINTR { continue }
                                throw FileError.cannotWrite(errno)
                            }
                            offset += written
                        }
                    }
                }
            } catch let error as RailCallError {
                _ = close(descriptor)
                _ = unlink(temporary)
                throw error
            } catch let error as FileError {
                _ = close(descriptor)
                _ = unlink(temporary)
                throw error
            } catch {
                _ = close(descriptor)
                _ = unlink(temporary)
                throw RailCallError.connectionLost("report download broke off: \(error)")
            }
            guard close(descriptor) == 0, rename(temporary, path) == 0 else {
                _ = unlink(temporary)
                throw FileError.cannotWrite(errno)
            }
            return SettlementReportDownload(rail: id, day: day, path: path, bytes: bytes)
        }
    }

    /// A client suited to rails: a 2 s connect timeout and no silent retries of a refused
    /// connection, so a bank that is down fails fast as `unavailable` (and opens the breaker)
    /// instead of costing every call its whole timeout. The caller shuts it down.
    public static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    // MARK: Plumbing

    private func call(_ request: HTTPClientRequest, timeout: Duration) async throws -> (Int, [UInt8]) {
        let client = self.client
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.wholeMilliseconds), logger: logger)
            let body: ByteBuffer
            do {
                body = try await response.body.collect(upTo: GatewayLimits.responseBodyBytesMax)
            } catch {
                throw RailCallError.protocolViolation("answer larger than \(GatewayLimits.responseBodyBytesMax) bytes or cut off")
            }
            return (Int(response.status.code), Array(buffer: body))
        } catch let error as RailCallError {
            throw error
        } catch {
            throw HTTPRail.classify(error)
        }
    }

    private func receipt(_ body: [UInt8]) throws -> RailReceipt {
        do {
            let receipt = try RailWire.decodeReceipt(body)
            guard receipt.rail == id else { throw RailCallError.protocolViolation("receipt for another rail") }
            return receipt
        } catch let error as RailWire.Malformed {
            throw RailCallError.protocolViolation(error.reason)
        }
    }

    private func failure(_ status: Int, _ body: [UInt8], reference: RailReference?) -> RailCallError {
        HTTPRail.failureStatic(status, body, reference: reference)
    }

    static func failureStatic(_ status: Int, _ body: [UInt8], reference: RailReference?) -> RailCallError {
        let code = errorCode(body) ?? ""
        switch (status, code) {
        case (409, "reference_conflict") where reference != nil: return .referenceConflict(reference!)
        case (503, _), (429, _): return .unavailable("HTTP \(status) \(code)")
        case (504, _): return .timedOut
        case (400, _), (404, _), (413, _), (422, _): return .invalidRequest("HTTP \(status) \(code)")
        default: return .protocolViolation("HTTP \(status) \(code)")
        }
    }

    static func errorCode(_ body: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["error"] as? String
    }

    /// What a transport error means for the money.
    static func classify(_ error: any Error) -> RailCallError {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return .timedOut
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout, .alreadyShutdown:
                return .unavailable("\(error)")
            case .remoteConnectionClosed, .cancelled:
                return .connectionLost("\(error)")
            default:
                return .connectionLost("\(error)")
            }
        }
        if error is CancellationError { return .connectionLost("cancelled") }
        // Connecting failed (refused, unreachable): nothing was sent.
        if let error = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) {
            return .unavailable("\(error)")
        }
        // NIOPosix wraps failed connection attempts to every address of a host in NIOConnectionError.
        if String(describing: type(of: error)) == "NIOConnectionError" { return .unavailable("\(error)") }
        return .connectionLost(String(describing: error))
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986).
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, 0x2d, 0x2e, 0x5f, 0x7e:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
