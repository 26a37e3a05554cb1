import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LucidCore
import LucidServices

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let clientVersion = Self("X-Client-Version")!
    static let requestID = Self("X-Request-ID")!
    static let geoCountry = Self("X-Geo-Country")!
    static let forwardedFor = Self("X-Forwarded-For")!
}

/// Outermost middleware: gives every request an id and a language, and turns
/// every error into problem+json. Unknown errors become a generic 500 whose
/// details go only to the log, under the same request id.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = LucidContext
    let ids: any IDGenerator
    /// Whether `X-Forwarded-For` comes from a proxy of ours (otherwise a client could forge its address).
    let trustForwardedFor: Bool

    func handle(_ request: Request, context: LucidContext, next: (Request, LucidContext) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = ids.next()
        context.language = Language.negotiate(request.headers[.acceptLanguage])
        context.origin = origin(of: request, context)
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = context.requestID
            response.headers[.contentLanguage] = context.language.rawValue
            return response
        } catch {
            let lucidError = Self.lucidError(for: error, request: request)
            if lucidError.code == .internalError || lucidError.code == .storageUnavailable {
                context.logger.error("request failed", metadata: [
                    "request_id": "\(context.requestID)", "path": "\(request.uri.path)", "error": "\(String(reflecting: error))",
                ])
            }
            return Problem.response(lucidError, language: context.language, requestID: context.requestID)
        }
    }

    /// Where the request came from. `X-Geo-Country` is set by the operator's edge proxy, which
    /// strips any a client sent (API.md); anything but two letters counts as unknown.
    func origin(of request: Request, _ context: LucidContext) -> RequestOrigin {
        var address = context.remoteAddress
        if trustForwardedFor, let forwarded = request.headers[.forwardedFor]?.split(separator: ",").first {
            address = String(forwarded.trimmingCharacters(in: .whitespaces).prefix(64))
        }
        let country = request.headers[.geoCountry].flatMap { value -> String? in
            let upper = value.uppercased()
            return upper.count == 2 && upper.allSatisfy({ $0.isASCII && $0.isLetter }) ? upper : nil
        }
        return RequestOrigin(sourceAddress: address, country: country,
                             userAgent: request.headers[.userAgent].map { String($0.prefix(200)) })
    }

    static func lucidError(for error: any Error, request: Request) -> LucidError {
        switch error {
        case let error as LucidError:
            return error
        case let error as any HTTPResponseError:
            switch error.status {
            case .notFound: return LucidError(.routeNotFound, ["path": .text(String(request.uri.path.prefix(200)))])
            case .methodNotAllowed: return LucidError(.methodNotAllowed, ["method": .text(request.method.rawValue)])
            case .contentTooLarge: return LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(InputLimits.requestBodyBytesMax))])
            default: return LucidError(.internalError, cause: "\(error)")
            }
        default:
            return LucidError(.internalError, cause: "\(error)")
        }
    }
}

/// Answers clients older than the configured minimum with `client_outdated` (426).
struct ClientVersionMiddleware: RouterMiddleware {
    typealias Context = LucidContext
    let minimum: String

    func handle(_ request: Request, context: LucidContext, next: (Request, LucidContext) async throws -> Response) async throws -> Response {
        if let version = request.headers[.clientVersion], SemanticVersion.compare(version, minimum) == .orderedAscending {
            throw LucidError(.clientOutdated, ["client_version": .text(String(version.prefix(32))), "minimum_version": .text(minimum)])
        }
        return try await next(request, context)
    }
}

/// Numeric dotted versions (`3.2.0`); anything unparsable counts as 0.
enum SemanticVersion {
    static func compare(_ a: String, _ b: String) -> ComparisonResult {
        let left = a.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        let right = b.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? left[index] : 0
            let r = index < right.count ? right[index] : 0
            if l != r { return l < r ? .orderedAscending : .orderedDescending }
        }
        return .orderedSame
    }
}

/// Signs the customer in from `Authorization: Bearer …`; routes behind it always have a customer.
struct CustomerAuthMiddleware: RouterMiddleware {
    typealias Context = LucidContext
    let identity: IdentityService

    func handle(_ request: Request, context: LucidContext, next: (Request, LucidContext) async throws -> Response) async throws -> Response {
        var context = context
        context.customer = try await identity.authenticateCustomer(token: try bearerToken(request))
        // Region policy applies to every signed-in action, not only to sign-in.
        try identity.configuration.policy.requireServed(country: context.origin.country)
        return try await next(request, context)
    }
}

/// Signs an operator in from `Authorization: Bearer lop_…`.
struct OperatorAuthMiddleware: RouterMiddleware {
    typealias Context = LucidContext
    let identity: IdentityService

    func handle(_ request: Request, context: LucidContext, next: (Request, LucidContext) async throws -> Response) async throws -> Response {
        var context = context
        context.operatorIdentity = try await identity.authenticateOperator(token: try bearerToken(request))
        return try await next(request, context)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, spaces around the token ignored).
/// Works on UTF-8 bytes: it runs on every authenticated request.
func bearerToken(_ request: Request) throws(LucidError) -> String {
    guard let header = request.headers[.authorization] else { throw LucidError(.unauthenticated) }
    let bytes = Array(header.utf8)
    let scheme = Array("bearer ".utf8)
    guard bytes.count > scheme.count,
          zip(bytes, scheme).allSatisfy({ ($0 | 0x20) == $1 || ($0 == $1) }) else { throw LucidError(.unauthenticated) }
    var start = scheme.count, end = bytes.count
    while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
    while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
    return String(decoding: bytes[start..<end], as: UTF8.self)
}
