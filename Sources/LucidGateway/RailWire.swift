import Foundation
import LucidCore

/// The JSON shapes rails and Lucid exchange over HTTP (the sandbox bank's API,
/// `HTTPRail`, and signed callbacks). Field names are snake_case; times are RFC 3339 UTC;
/// amounts are integer minor units.
public enum RailWire {
    struct Account: Codable {
        var bank: String
        var last4: String
        var holder: String
    }

    struct Request: Codable {
        var reference: String
        var direction: String
        var amountMinor: Int64
        var currency: String
        var account: Account

        enum CodingKeys: String, CodingKey {
            case reference, direction, amountMinor = "amount_minor", currency, account
        }
    }

    struct Status: Codable {
        var state: String
        var expectedBy: String?
        var settledAt: String?
        var reason: String?
        var message: String?

        enum CodingKeys: String, CodingKey {
            case state, expectedBy = "expected_by", settledAt = "settled_at", reason, message
        }
    }

    struct Receipt: Codable {
        var rail: String
        var reference: String
        var bankID: String
        var status: Status
        var acceptedAt: String
        var replay: Bool

        enum CodingKeys: String, CodingKey {
            case rail, reference, bankID = "bank_id", status, acceptedAt = "accepted_at", replay
        }
    }

    struct Callback: Codable {
        var eventID: String
        var rail: String
        var reference: String
        var bankID: String
        var status: Status
        var occurredAt: String

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id", rail, reference, bankID = "bank_id", status, occurredAt = "occurred_at"
        }
    }

    /// Why a wire document was refused.
    public struct Malformed: Error, Hashable, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    // MARK: Requests

    public static func encode(_ request: RailRequest) -> [UInt8] {
        let body = Request(reference: request.reference.rawValue, direction: request.direction.rawValue,
                           amountMinor: request.amount.minorUnits, currency: request.amount.currency.code,
                           account: Account(bank: request.account.bank, last4: request.account.last4,
                                            holder: request.account.holder))
        return encodeJSON(body)
    }

    public static func decodeRequest(_ bytes: [UInt8]) throws(Malformed) -> RailRequest {
        let body: Request = try decodeJSON(bytes)
        guard let reference = RailReference(parsing: body.reference) else { throw Malformed(reason: "reference is invalid") }
        guard let direction = RailDirection(rawValue: body.direction) else { throw Malformed(reason: "direction is invalid") }
        guard let currency = Currency.named(body.currency) else { throw Malformed(reason: "currency is not supported") }
        guard body.amountMinor > 0, body.amountMinor <= InputLimits.amountMax else {
            throw Malformed(reason: "amount_minor must be between 1 and \(InputLimits.amountMax)")
        }
        let account: MaskedBankAccount
        do {
            account = try MaskedBankAccount(bank: body.account.bank, last4: body.account.last4, holder: body.account.holder)
                .validated()
        } catch {
            throw Malformed(reason: "account is invalid: \(error.params["field"].map { "\($0)" } ?? "")")
        }
        return RailRequest(reference: reference, direction: direction, amount: Money(body.amountMinor, currency),
                           account: account)
    }

    // MARK: Receipts

    public static func encode(_ receipt: RailReceipt) -> [UInt8] {
        encodeJSON(Receipt(rail: receipt.rail.rawValue, reference: receipt.reference.rawValue, bankID: receipt.bankID,
                           status: wire(receipt.status), acceptedAt: receipt.acceptedAt.rfc3339, replay: receipt.isReplay))
    }

    public static func decodeReceipt(_ bytes: [UInt8]) throws(Malformed) -> RailReceipt {
        let body: Receipt = try decodeJSON(bytes)
        guard let rail = RailID(parsing: body.rail) else { throw Malformed(reason: "rail is invalid") }
        guard let reference = RailReference(parsing: body.reference) else { throw Malformed(reason: "reference is invalid") }
        guard let acceptedAt = RFC3339.parse(body.acceptedAt) else { throw Malformed(reason: "accepted_at is invalid") }
        return RailReceipt(rail: rail, reference: reference, bankID: try bankID(body.bankID), status: try status(body.status),
                           acceptedAt: acceptedAt, isReplay: body.replay)
    }

    // MARK: Callbacks

    public static func encode(_ callback: RailCallback) -> [UInt8] {
        encodeJSON(Callback(eventID: callback.eventID, rail: callback.rail.rawValue, reference: callback.reference.rawValue,
                            bankID: callback.bankID, status: wire(callback.status), occurredAt: callback.occurredAt.rfc3339))
    }

    public static func decodeCallback(_ bytes: [UInt8]) throws(Malformed) -> RailCallback {
        let body: Callback = try decodeJSON(bytes)
        guard !body.eventID.isEmpty, body.eventID.utf8.count <= 128,
              body.eventID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw Malformed(reason: "event_id is invalid") }
        guard let rail = RailID(parsing: body.rail) else { throw Malformed(reason: "rail is invalid") }
        guard let reference = RailReference(parsing: body.reference) else { throw Malformed(reason: "reference is invalid") }
        guard let occurredAt = RFC3339.parse(body.occurredAt) else { throw Malformed(reason: "occurred_at is invalid") }
        return RailCallback(eventID: body.eventID, rail: rail, reference: reference, bankID: try bankID(body.bankID),
                            status: try status(body.status), occurredAt: occurredAt)
    }

    // MARK: Helpers

    static func wire(_ status: RailItemStatus) -> Status {
        switch status {
        case .pending(let expectedBy):
            return Status(state: "pending", expectedBy: expectedBy.rfc3339)
        case .settled(let at):
            return Status(state: "settled", settledAt: at.rfc3339)
        case .failed(let reason, let message):
            return Status(state: "failed", reason: reason.rawValue, message: message)
        }
    }

    static func status(_ body: Status) throws(Malformed) -> RailItemStatus {
        switch body.state {
        case "pending":
            guard let text = body.expectedBy, let expectedBy = RFC3339.parse(text) else {
                throw Malformed(reason: "expected_by is missing or invalid")
            }
            return .pending(expectedBy: expectedBy)
        case "settled":
            guard let text = body.settledAt, let at = RFC3339.parse(text) else {
                throw Malformed(reason: "settled_at is missing or invalid")
            }
            return .settled(at: at)
        case "failed":
            guard let code = body.reason, let reason = RailFailureReason(rawValue: code) else {
                throw Malformed(reason: "reason is missing or unknown")
            }
            let message = String((body.message ?? reason.defaultMessage).prefix(GatewayLimits.messageLengthMax))
            return .failed(reason: reason, message: message)
        default:
            throw Malformed(reason: "state must be pending, settled or failed")
        }
    }

    static func bankID(_ text: String) throws(Malformed) -> String {
        guard !text.isEmpty, text.utf8.count <= GatewayLimits.bankIDLengthMax,
              text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x2c && $0 != 0x22 }) else {
            throw Malformed(reason: "bank_id is invalid")
        }
        return text
    }

    static func encodeJSON(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail.
        guard let data = try? encoder.encode(value) else { preconditionFailure("wire encoding failed") }
        return Array(data)
    }

    static func decodeJSON<T: Decodable>(_ bytes: [UInt8]) throws(Malformed) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            switch error {
            case .keyNotFound(let key, _): throw Malformed(reason: "\(key.stringValue) is missing")
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                throw Malformed(reason: "\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
            case .dataCorrupted: throw Malformed(reason: "not valid JSON")
            @unknown default: throw Malformed(reason: "not valid JSON")
            }
        } catch {
            throw Malformed(reason: "not valid JSON")
        }
    }
}
