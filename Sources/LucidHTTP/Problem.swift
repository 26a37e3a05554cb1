import Foundation
import HTTPTypes
import Hummingbird
import LucidCore

/// RFC 9457 problem details, as API.md describes them.
enum Problem {
    static let typeBase = "https://lucid.example/errors/"

    static func body(_ error: LucidError, language: Language, requestID: String) -> [String: Any] {
        let description = ErrorCatalogue.describe(error, in: language)
        var params: [String: Any] = [:]
        for (key, value) in error.params {
            switch value {
            case .int(let number): params[key] = number
            case .text(let text): params[key] = text
            }
        }
        return [
            "type": typeBase + error.code.rawValue,
            "title": description.title,
            "status": description.status,
            "code": error.code.rawValue,
            "detail": description.detail,
            "params": params,
            "next_steps": description.nextSteps,
            "request_id": requestID,
        ]
    }

    static func response(_ error: LucidError, language: Language, requestID: String) -> Response {
        let object = body(error, language: language, requestID: requestID)
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json; charset=utf-8"
        headers[.contentLanguage] = language.rawValue
        headers[.requestID] = requestID
        if error.code == .serviceOverloaded || error.code == .storageUnavailable { headers[.retryAfter] = "1" }
        if error.code == .rateLimited, case .int(let seconds)? = error.params["retry_after_seconds"] {
            headers[.retryAfter] = String(max(1, seconds))
        }
        return Response(status: HTTPResponse.Status(code: error.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Reads a JSON body within the size limit, refuses unknown fields, and maps
/// decoding failures to specific error codes (never a raw decoder message).
enum JSONBody {
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, allowedFields: Set<String>,
                                     nested: [String: Set<String>] = [:]) async throws -> T {
        if let contentType = request.headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw LucidError(.unsupportedMediaType, ["content_type": .text(String(contentType.prefix(100)))])
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: InputLimits.requestBodyBytesMax)
        } catch {
            throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(InputLimits.requestBodyBytesMax))])
        }
        let data = Data(buffer.readableBytesView)
        guard String(data: data, encoding: .utf8) != nil else {
            throw LucidError(.malformedJSON, ["reason": .text("the body is not valid UTF-8")])
        }
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw LucidError(.malformedJSON, ["reason": .text(data.isEmpty ? "the body is empty" : "syntax error")])
        }
        guard let fields = object as? [String: Any] else {
            throw LucidError(.malformedJSON, ["reason": .text("the body must be a JSON object")])
        }
        try checkFields(fields, allowed: allowedFields, prefix: "")
        for (key, allowed) in nested {
            if let inner = fields[key] as? [String: Any] { try checkFields(inner, allowed: allowed, prefix: key + ".") }
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as LucidError {
            throw error
        } catch let error as DecodingError {
            throw map(error)
        }
    }

    /// Like `decode`, for routes whose body is optional: no body (or `{}`-less empty) is nil.
    static func decodeOptional<T: Decodable>(_ type: T.Type, from request: Request, allowedFields: Set<String>) async throws -> T? {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: InputLimits.requestBodyBytesMax)
        } catch {
            throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(InputLimits.requestBodyBytesMax))])
        }
        guard buffer.readableBytes > 0 else { return nil }
        request.body = .init(buffer: buffer)
        return try await decode(type, from: request, allowedFields: allowedFields)
    }

    private static func checkFields(_ fields: [String: Any], allowed: Set<String>, prefix: String) throws(LucidError) {
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw LucidError(.unknownField, ["field": .text(prefix + String(key.prefix(64)))])
        }
    }

    static func map(_ error: DecodingError) -> LucidError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map(String.init) ?? snake(key.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return LucidError.invalidField(path(context.codingPath + [key]), "is required")
        case .valueNotFound(_, let context):
            return LucidError.invalidField(path(context.codingPath), "must not be null")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.hasSuffix("amount") { return LucidError.invalidField(field, "must be an integer number of minor units") }
            return LucidError.invalidField(field, "must be \(typeName(type))")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.hasSuffix("amount") {
                return LucidError.invalidField(field, "must be an integer number of minor units within range")
            }
            return LucidError.invalidField(field.isEmpty ? "body" : field, "has an invalid value")
        @unknown default:
            return LucidError(.malformedJSON, ["reason": .text("unreadable body")])
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int64.Type, is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        default: return "an object of the documented shape"
        }
    }

    private static func snake(_ camel: String) -> String {
        var out = ""
        for character in camel {
            if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
        }
        return out
    }
}

/// Encodes response bodies as snake_case JSON.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
