import LucidCore
import LucidServices
import LucidStore

// Request and response bodies. Field names become snake_case on the wire.

struct RegisterBody: Decodable {
    static let fields: Set<String> = ["email", "phone", "password", "display_name", "country"]
    var email: String?
    var phone: String?
    var password: String
    var displayName: String
    var country: String
}

struct SessionBody: Decodable {
    static let fields: Set<String> = ["login", "password", "device_id", "totp_code"]
    var login: String
    var password: String
    var deviceId: String?
    var totpCode: String?
}

struct TopupBody: Decodable {
    static let fields: Set<String> = ["amount", "currency"]
    var amount: Int64
    var currency: Currency
}

struct PayeeBody: Decodable {
    static let fields: Set<String> = ["phone", "email", "user_id"]
    var phone: String?
    var email: String?
    var userId: String?
}

struct TransferBody: Decodable {
    static let fields: Set<String> = ["to", "amount", "currency", "memo"]
    var to: PayeeBody
    var amount: Int64
    var currency: Currency
    var memo: String?
}

struct PaymentBody: Decodable {
    static let fields: Set<String> = ["merchant_id", "amount", "currency", "memo"]
    var merchantId: String
    var amount: Int64
    var currency: Currency
    var memo: String?
}

struct WithdrawalBody: Decodable {
    static let fields: Set<String> = ["amount", "currency", "bank_account_id"]
    var amount: Int64
    var currency: Currency
    var bankAccountId: String?
}

struct MerchantBody: Decodable {
    static let fields: Set<String> = ["name", "country"]
    var name: String
    var country: String
}

struct ReverseBody: Decodable {
    static let fields: Set<String> = ["reason"]
    var reason: String
}

struct UserDTO: Encodable {
    var id: String
    var email: String?
    var phone: String?
    var displayName: String
    var country: String
    var tier: Int
    var status: String
    var createdAt: String

    init(_ user: UserRecord) {
        id = user.id.rawValue
        email = user.email
        phone = user.phone
        displayName = user.displayName
        country = user.country
        tier = user.tier.rawValue
        status = user.status.rawValue
        createdAt = user.createdAt.rfc3339
    }
}

struct SessionDTO: Encodable {
    var token: String
    var userId: String
    var expiresAt: String
}

struct WalletDTO: Encodable {
    var currency: String
    var posted: Int64
    var pendingOut: Int64
    var pendingIn: Int64
    var available: Int64
}

struct ItemsDTO<Item: Encodable>: Encodable {
    var items: [Item]
}

/// A page; `next_cursor` is always present, `null` on the last page.
struct PageDTO<Item: Encodable>: Encodable {
    var items: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey { case items, nextCursor }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        if let nextCursor { try container.encode(nextCursor, forKey: .nextCursor) } else { try container.encodeNil(forKey: .nextCursor) }
    }
}

struct CounterpartyDTO: Encodable {
    var type: String
    var name: String
    var login: String?
    var merchantId: String?
}

struct TransactionDTO: Encodable {
    var id: String
    var kind: String
    var state: String
    var amount: Int64
    var currency: String
    var fee: Int64
    var direction: String?
    var counterparty: CounterpartyDTO
    var memo: String?
    var reason: String?
    var expectedBy: String?
    var resolvedAt: String?
    var createdAt: String
    var reversesId: String?
    var reversedById: String?

    init(_ view: TransactionView) {
        id = view.id.rawValue
        kind = view.kind.rawValue
        state = view.state.rawValue
        amount = view.amount
        currency = view.currency.code
        fee = view.fee
        direction = view.direction
        counterparty = CounterpartyDTO(type: view.counterparty.type, name: view.counterparty.name,
                                       login: view.counterparty.login, merchantId: view.counterparty.merchantID)
        memo = view.memo
        reason = view.reason
        expectedBy = view.expectedBy?.rfc3339
        resolvedAt = view.resolvedAt?.rfc3339
        createdAt = view.createdAt.rfc3339
        reversesId = view.reversesID?.rawValue
        reversedById = view.reversedByID?.rawValue
    }
}

struct MerchantDTO: Encodable {
    var id: String
    var name: String
    var country: String
    var createdAt: String
}

struct VerificationDTO: Encodable {
    struct MismatchDTO: Encodable {
        var kind: String
        var accountId: Int64?
        var currency: String?
        var expected: Int64?
        var actual: Int64?
        var detail: String
    }

    var ok: Bool
    var accountsChecked: Int
    var transfersChecked: Int
    var mismatches: [MismatchDTO]

    init(_ report: VerificationReport) {
        ok = report.ok
        accountsChecked = report.accountsChecked
        transfersChecked = report.transfersChecked
        mismatches = report.mismatches.map {
            MismatchDTO(kind: $0.kind.rawValue, accountId: $0.accountID?.rawValue, currency: $0.currency,
                        expected: $0.expected, actual: $0.actual, detail: $0.detail)
        }
    }
}
