import Foundation
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

struct SessionBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["login", "password", "device_id"]).union(secondFactorFields)
    var login: String
    var password: String
    var deviceId: String?
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

struct TopupBody: Decodable {
    static let fields: Set<String> = ["amount", "currency", "rail", "bank_account"]
    var amount: Int64
    var currency: Currency
    /// A payment rail by name (`bank-a`); without it the best working rail for the currency.
    var rail: String?
    var bankAccount: BankAccountBody?
}

struct PayeeBody: Decodable {
    static let fields: Set<String> = ["phone", "email", "user_id"]
    var phone: String?
    var email: String?
    var userId: String?
}

struct TransferBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["to", "amount", "currency", "memo"]).union(secondFactorFields)
    var to: PayeeBody
    var amount: Int64
    var currency: Currency
    var memo: String?
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

struct PaymentBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["merchant_id", "amount", "currency", "memo"]).union(secondFactorFields)
    var merchantId: String
    var amount: Int64
    var currency: Currency
    var memo: String?
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

/// A withdrawal account to save: `bank` and `last4` (the body of `BankAccountBody`) with a second factor.
struct AddBankAccountBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = BankAccountBody.fields.union(secondFactorFields)
    var bank: String
    var last4: String
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

struct BankAccountDTO: Encodable {
    var id: String
    var bank: String
    var last4: String
    var holder: String
    var createdAt: String

    init(_ account: BankAccountRecord) {
        id = account.id
        bank = account.bank
        last4 = account.last4
        holder = account.holder
        createdAt = account.createdAt.rfc3339
    }
}

struct WithdrawalBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["amount", "currency", "bank_account_id", "rail", "bank_account"]).union(secondFactorFields)
    var amount: Int64
    var currency: Currency
    var bankAccountId: String?
    var rail: String?
    var bankAccount: BankAccountBody?
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
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
    var sessionId: String
    var expiresAt: String
    /// What the owner should know now (e.g. a lock their second factor just lifted).
    var securityNotice: JSONObject?
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
    var rail: String?
    /// Held by security monitoring: what the customer is told, in their language.
    var security: SecurityNoteDTO?

    init(_ view: TransactionView) { self.init(view, language: .en) }

    init(_ view: TransactionView, language: Language) {
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
        rail = view.rail
        security = view.security.map { SecurityNoteDTO($0, language: language) }
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

// MARK: Account protection (issue 4)

/// The second factor any sensitive request may carry.
protocol CarriesSecondFactor {
    var totpCode: String? { get }
    var recoveryCode: String? { get }
    var verificationCode: String? { get }
}

extension CarriesSecondFactor {
    var proof: SecondFactorProof {
        SecondFactorProof(totpCode: totpCode, recoveryCode: recoveryCode, verificationCode: verificationCode)
    }
}

/// Fields every body with a second factor accepts.
let secondFactorFields: Set<String> = ["totp_code", "recovery_code", "verification_code"]

struct PasswordChangeBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["current_password", "new_password"]).union(secondFactorFields)
    var currentPassword: String
    var newPassword: String
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

struct CodeBody: Decodable {
    static let fields: Set<String> = ["code"]
    var code: String
}

struct PasswordAndFactorBody: Decodable, CarriesSecondFactor {
    static let fields: Set<String> = Set(["password"]).union(secondFactorFields)
    var password: String
    var totpCode: String?
    var recoveryCode: String?
    var verificationCode: String?
}

struct FreezeBody: Decodable {
    static let fields: Set<String> = ["reason"]
    var reason: String?
}

struct FreezeWithPasswordBody: Decodable {
    static let fields: Set<String> = ["login", "password", "reason"]
    var login: String
    var password: String
    var reason: String?
}

struct ResetRequestBody: Decodable {
    static let fields: Set<String> = ["login"]
    var login: String
}

struct ResetConfirmBody: Decodable {
    static let fields: Set<String> = ["token", "new_password"]
    var token: String
    var newPassword: String
}

struct VerificationCodeBody: Decodable {
    static let fields: Set<String> = ["purpose"]
    var purpose: String
}

struct ReadUpToBody: Decodable {
    static let fields: Set<String> = ["up_to"]
    var upTo: String?
}

struct ReasonBody: Decodable {
    static let fields: Set<String> = ["reason"]
    var reason: String
}

struct TOTPEnrolmentDTO: Encodable {
    var secret: String
    var otpauthUri: String
}

struct RecoveryCodesDTO: Encodable {
    var recoveryCodes: [String]
}

struct SessionInfoDTO: Encodable {
    var id: String
    var current: Bool
    var deviceId: String?
    var userAgent: String?
    var ipAddress: String?
    var country: String?
    var firstSeenAt: String
    var lastSeenAt: String?
    var expiresAt: String

    init(_ session: SessionRecord, current: SessionID) {
        id = session.id.rawValue
        self.current = session.id == current
        deviceId = session.deviceID
        userAgent = session.userAgent
        ipAddress = session.sourceAddress
        country = session.country
        firstSeenAt = session.createdAt.rfc3339
        lastSeenAt = session.lastSeenAt?.rfc3339
        expiresAt = session.expiresAt.rfc3339
    }
}

struct NotificationDTO: Encodable {
    var id: String
    var category: String
    var type: String
    var title: String
    var body: String
    var actions: [String]
    var params: JSONObject
    var createdAt: String
    var readAt: String?

    init(_ view: NotificationView) {
        id = view.id
        category = view.category
        type = view.type
        title = view.title
        body = view.body
        actions = view.actions
        params = JSONObject(view.params)
        createdAt = view.createdAt.rfc3339
        readAt = view.readAt?.rfc3339
    }
}

struct AuditDTO: Encodable {
    var id: String
    var at: String
    var actor: String
    var action: String
    var userId: String?
    var sourceAddress: String?
    var details: JSONObject

    init(_ entry: AuditEntry) {
        id = entry.id
        at = entry.at.rfc3339
        actor = entry.actor
        action = entry.action
        userId = entry.targetUserID?.rawValue
        sourceAddress = entry.sourceAddress
        details = JSONObject(json: entry.details)
    }
}

/// The owner's view of their account: status, who froze it and why, 2FA, lock, dormancy.
struct AccountDTO: Encodable {
    var user: UserDTO
    var status: String
    var frozenBy: String?
    var frozenReason: String?
    var frozenAt: String?
    var unfreezeAvailableAt: String?
    var twoFactorEnabled: Bool
    var recoveryCodesLeft: Int
    var lockedUntil: String?
    var failedSignInAttempts: Int
    var dormant: Bool
    var lastActivityAt: String?

    init(_ overview: IdentityService.SecurityOverview) {
        user = UserDTO(overview.user)
        status = overview.user.status.rawValue
        frozenBy = overview.user.frozenBy
        frozenReason = overview.user.frozenReason
        frozenAt = overview.user.frozenAt?.rfc3339
        unfreezeAvailableAt = overview.user.unfreezeAvailableAt?.rfc3339
        twoFactorEnabled = overview.totpEnabled
        recoveryCodesLeft = overview.recoveryCodesLeft
        lockedUntil = overview.lockedUntil?.rfc3339
        failedSignInAttempts = overview.failedAttempts
        dormant = overview.dormant
        lastActivityAt = overview.user.lastActivityAt?.rfc3339
    }
}

struct StatusDTO: Encodable {
    var status: String
    var detail: String?
}

/// Values of a message or audit event, as a JSON object.
struct JSONObject: Encodable {
    private let values: [String: ErrorParam]

    init(_ values: [String: ErrorParam]) { self.values = values }

    init(json: String) {
        var values: [String: ErrorParam] = [:]
        if let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] {
            for (key, value) in object {
                if let number = value as? Int { values[key] = .int(Int64(number)) }
                else if let text = value as? String { values[key] = .text(text) }
            }
        }
        self.values = values
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (key, value) in values {
            // Keys are written as they are (not re-cased): they are data, not field names.
            switch value {
            case .int(let number): try container.encode(number, forKey: Key(stringValue: key))
            case .text(let text): try container.encode(text, forKey: Key(stringValue: key))
            }
        }
    }
}
