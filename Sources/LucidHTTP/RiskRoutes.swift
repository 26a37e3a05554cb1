import Foundation
import Hummingbird
import LucidCore
import LucidServices
import LucidStore

/// Operators' risk routes under `/v1/ops/risk/` (issue 6): decisions with their full
/// explanation, the review queue, the rules in force, allow/deny lists and suppressions.
/// Thin handlers over `RiskOperations`, which checks roles (read: admin, risk, auditor;
/// change: admin, risk) and audits every change.
extension Routes {
    func registerRisk(on group: RouterGroup<LucidContext>) {
        group.get("decisions", use: riskDecisions)
        group.get("decisions/:id", use: riskDecision)
        group.get("reviews", use: riskReviews)
        group.get("reviews/:id", use: riskReview)
        group.post("reviews/:id/claim", use: claimRiskReview)
        group.post("reviews/:id/approve", use: approveRiskReview)
        group.post("reviews/:id/reject", use: rejectRiskReview)
        group.get("rules", use: riskRules)
        group.put("rules/live") { request, context in try await putRiskRules(request, context, slot: .live) }
        group.put("rules/shadow") { request, context in try await putRiskRules(request, context, slot: .shadow) }
        group.delete("rules/shadow", use: switchOffShadowRules)
        group.get("lists", use: riskListEntries)
        group.post("lists", use: addRiskListEntry)
        group.delete("lists/:id", use: removeRiskListEntry)
        group.get("suppressions", use: riskSuppressions)
        group.post("suppressions", use: addRiskSuppression)
        group.delete("suppressions/:id", use: removeRiskSuppression)
    }

    private func idParameter(_ context: LucidContext, orElse code: ErrorCode) throws(LucidError) -> String {
        guard let id = context.parameters.get("id"), id.utf8.count <= 64 else { throw LucidError(code) }
        return id
    }

    // MARK: Decisions

    @Sendable func riskDecisions(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let query = try PageQuery(request)
        var user: UserID?
        if let text = request.uri.queryParameters["user_id"] {
            guard let id = UserID(parsing: String(text)) else { throw LucidError(.userNotFound) }
            user = id
        }
        let page = try await risk.decisions(of: user, limit: query.limit, cursor: query.cursor, by: op)
        return try JSONResponse.make(PageDTO(items: page.items.map { RiskDecisionDTO($0, full: false) }, nextCursor: page.nextCursor))
    }

    @Sendable func riskDecision(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let decision = try await risk.decision(try idParameter(context, orElse: .riskDecisionNotFound), by: op)
        return try JSONResponse.make(RiskDecisionDTO(decision, full: true))
    }

    // MARK: Review queue

    @Sendable func riskReviews(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let query = try PageQuery(request)
        var state: RiskReviewState?
        if let text = request.uri.queryParameters["state"] {
            guard let value = RiskReviewState(rawValue: String(text)) else {
                throw LucidError.invalidField("state", "open, claimed, approved, rejected or expired")
            }
            state = value
        }
        let page = try await risk.reviews(state: state, limit: query.limit, cursor: query.cursor, by: op)
        return try JSONResponse.make(PageDTO(items: page.items.map { RiskReviewDTO($0) }, nextCursor: page.nextCursor))
    }

    @Sendable func riskReview(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let detail = try await risk.review(try idParameter(context, orElse: .riskReviewNotFound), by: op)
        return try JSONResponse.make(RiskReviewDTO(detail.review, decision: detail.decision, transaction: detail.transaction))
    }

    @Sendable func claimRiskReview(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let id = try idParameter(context, orElse: .riskReviewNotFound)
        let body = try await JSONBody.decodeOptional(ReviewClaimBody.self, from: request, allowedFields: ReviewClaimBody.fields)
        return try JSONResponse.make(RiskReviewDTO(try await risk.claim(id, note: body?.note, by: op)))
    }

    @Sendable func approveRiskReview(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let id = try idParameter(context, orElse: .riskReviewNotFound)
        let body = try await JSONBody.decode(ReviewApproveBody.self, from: request, allowedFields: ReviewApproveBody.fields)
        return try JSONResponse.make(RiskReviewDTO(try await risk.approve(id, note: body.note, by: op)))
    }

    @Sendable func rejectRiskReview(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let id = try idParameter(context, orElse: .riskReviewNotFound)
        let body = try await JSONBody.decode(ReviewRejectBody.self, from: request, allowedFields: ReviewRejectBody.fields)
        return try JSONResponse.make(RiskReviewDTO(try await risk.reject(id, note: body.note, freeze: body.freeze ?? false, by: op)))
    }

    // MARK: Rules

    @Sendable func riskRules(_ request: Request, context: LucidContext) async throws -> Response {
        let (live, shadow) = try await risk.ruleSets(by: try context.requireOperator())
        return try JSONResponse.make(RuleSetsDTO(live: RuleSetDTO(live), shadow: shadow.map(RuleSetDTO.init)))
    }

    /// The body is the rules file itself (`Content-Type: application/yaml`, `text/yaml` or
    /// `text/plain`) or JSON `{"yaml": "…"}`; up to the rule language's own size limit.
    func putRiskRules(_ request: Request, _ context: LucidContext, slot: RiskRuleSetRecord.Slot) async throws -> Response {
        let op = try context.requireOperator()
        let contentType = request.headers[.contentType]?.lowercased() ?? "application/json"
        let yaml: String
        if contentType.hasPrefix("application/json") {
            var request = request
            let limit = Self.rulesBodyBytesMax
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: limit) } catch {
                throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(limit))])
            }
            let data = Data(buffer.readableBytesView)
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw LucidError(.malformedJSON, ["reason": .text("the body must be a JSON object")])
            }
            if let unknown = object.keys.sorted().first(where: { !RulesBody.fields.contains($0) }) {
                throw LucidError(.unknownField, ["field": .text(String(unknown.prefix(64)))])
            }
            guard let text = object["yaml"] as? String else { throw LucidError.invalidField("yaml", "the rules file as a string") }
            yaml = text
        } else if ["application/yaml", "application/x-yaml", "text/yaml", "text/plain"].contains(where: { contentType.hasPrefix($0) }) {
            var request = request
            let limit = Self.rulesBodyBytesMax
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: limit) } catch {
                throw LucidError(.bodyTooLarge, ["limit_bytes": .int(Int64(limit))])
            }
            guard let text = String(data: Data(buffer.readableBytesView), encoding: .utf8) else {
                throw LucidError.invalidField("yaml", "the rules file must be UTF-8")
            }
            yaml = text
        } else {
            throw LucidError(.unsupportedMediaType, ["content_type": .text(String(contentType.prefix(100)))])
        }
        let info = try await risk.putRules(yaml, slot: slot, by: op)
        return try JSONResponse.make(RuleSetDTO(info))
    }

    /// A rules file may be larger than ordinary bodies (the rule language's own limit, plus JSON quoting).
    static let rulesBodyBytesMax = 2 << 20

    @Sendable func switchOffShadowRules(_ request: Request, context: LucidContext) async throws -> Response {
        try await risk.switchOffShadow(by: try context.requireOperator())
        return Response(status: .noContent)
    }

    // MARK: Lists and suppressions

    @Sendable func riskListEntries(_ request: Request, context: LucidContext) async throws -> Response {
        let entries = try await risk.listEntries(by: try context.requireOperator())
        return try JSONResponse.make(ItemsDTO(items: entries.map(RiskListEntryDTO.init)))
    }

    @Sendable func addRiskListEntry(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(ListEntryBody.self, from: request, allowedFields: ListEntryBody.fields)
        var user: UserID?
        if let text = body.userId {
            guard let id = UserID(parsing: text) else { throw LucidError(.userNotFound) }
            user = id
        }
        let expiresAt = try body.expiresAt.map { text throws(LucidError) in try RequestTime.parse(text, field: "expires_at") }
        let entry = try await risk.addListEntry(.init(kind: body.kind, value: body.value, verdict: body.verdict, userID: user,
                                                      expiresAt: expiresAt, note: body.note ?? ""), by: op)
        return try JSONResponse.make(RiskListEntryDTO(entry), status: .created)
    }

    @Sendable func removeRiskListEntry(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        try await risk.removeListEntry(try idParameter(context, orElse: .riskEntryNotFound), by: op)
        return Response(status: .noContent)
    }

    @Sendable func riskSuppressions(_ request: Request, context: LucidContext) async throws -> Response {
        let items = try await risk.suppressions(by: try context.requireOperator())
        return try JSONResponse.make(ItemsDTO(items: items.map(RiskSuppressionDTO.init)))
    }

    @Sendable func addRiskSuppression(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        let body = try await JSONBody.decode(SuppressionBody.self, from: request, allowedFields: SuppressionBody.fields)
        guard let user = UserID(parsing: body.userId) else { throw LucidError(.userNotFound) }
        let suppression = try await risk.addSuppression(user: user, ruleID: body.ruleId, until: try RequestTime.parse(body.until, field: "until"),
                                                        note: body.note ?? "", by: op)
        return try JSONResponse.make(RiskSuppressionDTO(suppression), status: .created)
    }

    @Sendable func removeRiskSuppression(_ request: Request, context: LucidContext) async throws -> Response {
        let op = try context.requireOperator()
        try await risk.removeSuppression(try idParameter(context, orElse: .riskEntryNotFound), by: op)
        return Response(status: .noContent)
    }
}
