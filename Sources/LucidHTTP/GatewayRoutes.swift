import Foundation
import HTTPTypes
import Hummingbird
import LucidCore
import LucidGateway
import LucidServices
import LucidStore

/// Payment rail routes (issue 5): the rails' signed callbacks, and the operators' view of rails,
/// alerts and reconciliations. Thin handlers over `PaymentGateway`.
extension Routes {
    var gateway: PaymentGateway {
        get throws(LucidError) {
            guard let gateway = wallet.gateway else { throw LucidError(.railNotFound, ["rail": .text("none")]) }
            return gateway
        }
    }

    func registerGateway(v1: RouterGroup<LucidContext>, ops: RouterGroup<LucidContext>) {
        // Signed by the rail, not by a session: the HMAC signature and timestamp authenticate it.
        v1.post("gateway/callbacks/:rail", use: railCallback)
        ops.get("rails", use: rails)
        ops.get("rails/:rail/items", use: railItems)
        ops.post("reconciliations", use: startReconciliation)
        ops.get("reconciliations/:id", use: reconciliation)
        ops.get("alerts", use: alerts)
        ops.post("alerts/:id/resolve", use: resolveAlert)
    }

    @Sendable func railCallback(_ request: Request, context: LucidContext) async throws -> Response {
        let rail = context.parameters.get("rail") ?? ""
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: GatewayLimits.callbackBodyBytesMax)
        } catch {
            throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(GatewayLimits.callbackBodyBytesMax))])
        }
        let (outcome, eventID) = try await gateway.receiveCallback(
            rail: rail, signature: request.headers[HTTPField.Name(CallbackSigner.headerName)!], body: Array(buffer: body))
        return try JSONResponse.make(CallbackAnswerDTO(status: outcome.rawValue, eventId: eventID))
    }

    @Sendable func rails(_ request: Request, context: LucidContext) async throws -> Response {
        try context.requireOperator().require(.admin, .support, .risk, .auditor)
        let rails = try await gateway.railsOverview()
        return try JSONResponse.make(ItemsDTO(items: rails.map(RailDTO.init)))
    }

    @Sendable func railItems(_ request: Request, context: LucidContext) async throws -> Response {
        let query = try PageQuery(request)
        let page = try await gateway.items(rail: context.parameters.get("rail") ?? "", state: request.uri.queryParameters["state"].map(String.init),
                                           by: try context.requireOperator(), limit: query.limit, cursor: query.cursor)
        return try JSONResponse.make(PageDTO(items: page.items.map(RailItemDTO.init), nextCursor: page.nextCursor))
    }

    @Sendable func startReconciliation(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(ReconciliationBody.self, from: request, allowedFields: ReconciliationBody.fields)
        let outcome = try await gateway.reconcile(rail: body.rail, date: body.date, by: op)
        let page = Page(items: Array(outcome.exceptions.prefix(InputLimits.pageSizeDefault)),
                        nextCursor: outcome.exceptions.count > InputLimits.pageSizeDefault
                            ? String(outcome.exceptions[InputLimits.pageSizeDefault - 1].position) : nil)
        return try ReconciliationDTO.response(outcome.run, exceptions: page, status: .created)
    }

    @Sendable func reconciliation(_ request: Request, context: LucidContext) async throws -> Response {
        let query = try PageQuery(request)
        let (run, page) = try await gateway.reconciliation(context.parameters.get("id") ?? "", by: try context.requireOperator(),
                                                           limit: query.limit, cursor: query.cursor)
        return try ReconciliationDTO.response(run, exceptions: page)
    }

    @Sendable func alerts(_ request: Request, context: LucidContext) async throws -> Response {
        let query = try PageQuery(request)
        let page = try await gateway.alerts(state: request.uri.queryParameters["state"].map(String.init),
                                            rail: request.uri.queryParameters["rail"].map(String.init),
                                            by: try context.requireOperator(), limit: query.limit, cursor: query.cursor)
        return try JSONResponse.make(PageDTO(items: page.items.map(AlertDTO.init), nextCursor: page.nextCursor))
    }

    @Sendable func resolveAlert(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(AlertResolutionBody.self, from: request, allowedFields: AlertResolutionBody.fields)
        let action = try body.action.map { text throws(LucidError) -> AlertAction in
            guard let action = AlertAction(rawValue: text) else {
                throw LucidError.invalidField("action", "one of \(AlertAction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return action
        } ?? AlertAction.none
        let user = try body.userId.map { text throws(LucidError) -> UserID in
            guard let id = UserID(parsing: text) else { throw LucidError(.userNotFound) }
            return id
        }
        let alert = try await gateway.resolveAlert(context.parameters.get("id") ?? "", note: body.note, action: action,
                                                   amount: body.amount, user: user, by: op)
        return try JSONResponse.make(AlertDTO(alert))
    }
}

// MARK: Bodies and answers

/// A bank account in a top-up or withdrawal: the bank's short code and the account's last four digits.
struct BankAccountBody: Decodable {
    static let fields: Set<String> = ["bank", "last4"]
    var bank: String
    var last4: String

    var input: BankAccountInput { BankAccountInput(bank: bank, last4: last4) }
}

struct ReconciliationBody: Decodable {
    static let fields: Set<String> = ["rail", "date"]
    var rail: String
    /// The UTC day of the settlement report, `YYYY-MM-DD`.
    var date: String
}

struct AlertResolutionBody: Decodable {
    static let fields: Set<String> = ["note", "action", "amount", "user_id"]
    var note: String
    var action: String?
    var amount: Int64?
    var userId: String?
}

struct CallbackAnswerDTO: Encodable {
    var status: String
    var eventId: String
}

struct RailDTO: Encodable {
    var rail: String
    var health: String
    var breaker: String
    var openUntil: String?
    var currencies: [String]
    var directions: [String]
    var items: [String: Int]

    init(_ view: RailStatusView) {
        rail = view.rail.rawValue
        health = view.health.rawValue
        breaker = view.breaker
        openUntil = view.openUntil?.rfc3339
        currencies = view.currencies
        directions = view.directions
        items = view.items
    }
}

struct RailItemDTO: Encodable {
    var reference: String
    var rail: String
    var direction: String
    var userId: String
    var amount: Int64
    var currency: String
    var bankAccount: String
    var state: String
    var reason: String?
    var expectedBy: String
    var attempts: Int
    var nextCheckAt: String?
    var lastCheckedAt: String?
    var escalatedAt: String?
    var bankReference: String?
    var railState: String?
    var finalAt: String?
    var resolvedAt: String?
    var createdAt: String

    init(_ item: RailItemRecord) {
        reference = item.reference.rawValue
        rail = item.rail
        direction = item.direction
        userId = item.userID.rawValue
        amount = item.amount
        currency = item.currency.code
        bankAccount = "\(item.accountBank) ****\(item.accountLast4)"
        state = item.state.rawValue
        reason = item.reason
        expectedBy = item.expectedBy.rfc3339
        attempts = item.attempts
        nextCheckAt = item.state == .pending ? item.nextCheckAt.rfc3339 : nil
        lastCheckedAt = item.lastCheckedAt?.rfc3339
        escalatedAt = item.escalatedAt?.rfc3339
        bankReference = item.bankReference
        railState = item.railState
        finalAt = item.finalAt?.rfc3339
        resolvedAt = item.resolvedAt?.rfc3339
        createdAt = item.createdAt.rfc3339
    }
}

struct AlertDTO: Encodable {
    var id: String
    var kind: String
    var rail: String?
    var reference: String?
    var userId: String?
    var amount: Int64?
    var currency: String?
    var details: JSONObject
    var state: String
    var createdAt: String
    var resolvedBy: String?
    var resolvedAt: String?
    var note: String?
    var correctionId: String?
    var reconciliationId: String?

    init(_ alert: OperatorAlertRecord) {
        id = alert.id
        kind = alert.kind
        rail = alert.rail
        reference = alert.reference
        userId = alert.userID?.rawValue
        amount = alert.amount
        currency = alert.currency
        details = JSONObject(json: alert.details)
        state = alert.state.rawValue
        createdAt = alert.createdAt.rfc3339
        resolvedBy = alert.resolvedBy
        resolvedAt = alert.resolvedAt?.rfc3339
        note = alert.note
        correctionId = alert.correctionID?.rawValue
        reconciliationId = alert.runID
    }
}

/// A reconciliation run with a page of its exceptions. Built with `JSONSerialization` rather than the
/// snake-casing encoder: the stored summary is keyed by currency codes (`CNY`), which must stay as they are.
enum ReconciliationDTO {
    static func response(_ run: ReconciliationRunRecord, exceptions page: Page<ReconciliationExceptionRecord>,
                         status: HTTPResponse.Status = .ok) throws -> Response {
        func optional(_ value: Any?) -> Any { value ?? NSNull() }
        let exceptions: [[String: Any]] = page.items.map {
            [
                "position": $0.position, "class": $0.kind, "reference": $0.reference, "direction": $0.direction,
                "line_number": optional($0.lineNumber), "rail_amount_minor": optional($0.railAmount),
                "ledger_amount_minor": optional($0.ledgerAmount), "currency": $0.currency, "rail_state": optional($0.railState),
                "ledger_state": optional($0.ledgerState), "bank_id": optional($0.bankID), "detail": $0.detail,
                "alert_id": optional($0.alertID),
            ]
        }
        let summary = run.summary.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        let object: [String: Any] = [
            "id": run.id, "rail": run.rail, "date": run.day, "triggered_by": run.triggeredBy, "scheduled": run.scheduled,
            "state": run.state.rawValue, "started_at": run.startedAt.rfc3339, "finished_at": optional(run.finishedAt?.rfc3339),
            "lines_read": run.linesRead, "matched": run.matched, "exception_count": run.exceptionCount,
            "malformed_count": run.malformedCount, "in_flight": run.inFlight, "clean": run.clean, "summary": optional(summary),
            "error": optional(run.error),
            "exceptions": ["items": exceptions, "next_cursor": optional(page.nextCursor)],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
