import Foundation
import LucidCore
import LucidStore

/// Where a request came from, as the edge saw it.
public struct RequestOrigin: Sendable, Hashable {
    public var sourceAddress: String?
    /// ISO 3166-1 alpha-2 from the operator's edge proxy (`X-Geo-Country`); nil when unknown.
    public var country: String?
    public var userAgent: String?

    public init(sourceAddress: String? = nil, country: String? = nil, userAgent: String? = nil) {
        self.sourceAddress = sourceAddress
        self.country = country
        self.userAgent = userAgent
    }

    public static let unknown = RequestOrigin()
}

/// Builds the audit events and notifications a change writes with it.
struct SecurityEvents: Sendable {
    let ids: any IDGenerator
    let clock: any WallClock

    func audit(_ action: String, actor: String, target: UserID?, origin: RequestOrigin = .unknown,
               _ details: [String: ErrorParam] = [:]) -> AuditEntry {
        var values = details
        if let country = origin.country { values["country"] = .text(country) }
        return AuditEntry(id: ids.next(), at: clock.now(), actor: actor, action: action, targetUserID: target,
                          sourceAddress: origin.sourceAddress, details: Self.json(values))
    }

    func notify(_ kind: NotificationKind, _ user: UserID, _ params: [String: ErrorParam] = [:],
                sealedSecret: [UInt8]? = nil) -> OutboxMessage {
        OutboxMessage(id: ids.next(), userID: user, category: OutboxMessage.Category(rawValue: kind.category.rawValue) ?? .security,
                      type: kind.rawValue, payload: Self.json(params), createdAt: clock.now(), sealedSecret: sealedSecret)
    }

    /// Params as a JSON object: numbers stay numbers, so a client can format them itself.
    /// Written by hand (keys sorted, strings escaped per RFC 8259): every money movement writes
    /// two of these, and JSONSerialization was a tenth of the request's CPU.
    static func json(_ values: [String: ErrorParam]) -> String {
        var out = "{"
        for (index, key) in values.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            appendQuoted(key, to: &out)
            out += ":"
            switch values[key]! {
            case .int(let number): out += String(number)
            case .text(let text): appendQuoted(text, to: &out)
            }
        }
        return out + "}"
    }

    private static func appendQuoted(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    static func params(_ json: String) -> [String: ErrorParam] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else { return [:] }
        var params: [String: ErrorParam] = [:]
        for (key, value) in object {
            if let number = value as? Int64 { params[key] = .int(number) }
            else if let number = value as? Int { params[key] = .int(Int64(number)) }
            else if let text = value as? String { params[key] = .text(text) }
        }
        return params
    }
}

/// A notification as its owner reads it, rendered in their language.
public struct NotificationView: Sendable, Hashable {
    public var id: String
    public var category: String
    public var type: String
    public var title: String
    public var body: String
    public var actions: [String]
    public var params: [String: ErrorParam]
    public var createdAt: Timestamp
    public var readAt: Timestamp?

    init(_ record: NotificationRecord, language: Language) {
        let params = SecurityEvents.params(record.payload)
        let kind = NotificationKind(rawValue: record.type)
        let text = kind.map { NotificationCatalogue.render($0, params, in: language) }
            ?? NotificationText(title: record.type, body: "")
        self.init(id: record.id, category: record.category.rawValue, type: record.type, title: text.title, body: text.body,
                  actions: kind?.actions ?? [], params: params, createdAt: record.createdAt, readAt: record.readAt)
    }

    init(id: String, category: String, type: String, title: String, body: String, actions: [String],
         params: [String: ErrorParam], createdAt: Timestamp, readAt: Timestamp?) {
        self.id = id
        self.category = category
        self.type = type
        self.title = title
        self.body = body
        self.actions = actions
        self.params = params
        self.createdAt = createdAt
        self.readAt = readAt
    }
}
