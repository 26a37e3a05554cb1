import Foundation
import LucidCore

/// The risk routes (issue 6) in the OpenAPI document: `/v1/ops/risk/…`.
extension OpenAPIDocument {
    static func riskPaths() -> [String: Any] {
        let pageQuery: [[String: Any]] = [
            ["name": "limit", "in": "query", "required": false,
             "schema": ["type": "integer", "minimum": 1, "maximum": InputLimits.pageSizeMax, "default": InputLimits.pageSizeDefault]],
            ["name": "cursor", "in": "query", "required": false, "schema": ["type": "string"],
             "description": "next_cursor of the previous page"],
        ]
        let read = " (admin, risk, auditor)"
        let change = " (admin, risk)"
        let reviewErrors: [ErrorCode] = [.riskReviewNotFound, .riskReviewClosed, .riskReviewClaimed, .transactionNotFound, .stringTooLong]
        let rulesBody: [String: Any] = [
            "required": true,
            "content": [
                "application/yaml": ["schema": ["type": "string", "description": "The rules file (docs/RISK.md)"]],
                "text/plain": ["schema": ["type": "string"]],
                "application/json": ["schema": ref("RulesRequest")],
            ],
        ]
        func putRules(_ summary: String) -> [String: Any] {
            var operation = op(summary + change, "risk", .operator, success: (200, "RuleSet", "In force in every process within seconds"),
                               errors: [.riskRulesInvalid, .malformedJSON, .unknownField, .invalidField, .bodyTooLarge, .unsupportedMediaType])
            operation["requestBody"] = rulesBody
            return operation
        }
        return [
            "/v1/ops/risk/decisions": ["get": op("Risk decisions, newest first, optionally of one customer (?user_id=)" + read, "risk",
                                                 .operator,
                                                 query: pageQuery + [["name": "user_id", "in": "query", "required": false,
                                                                      "schema": ["type": "string", "format": "uuid"]]],
                                                 success: (200, "RiskDecisionPage", "A page of decisions (headline fields)"),
                                                 errors: [.invalidCursor, .invalidField, .userNotFound])],
            "/v1/ops/risk/decisions/{id}": ["get": op("One decision with everything: rule-set version, every fired rule with its contribution and the values it saw, the event and context, and the shadow decision" + read,
                                                      "risk", .operator, pathID: true, success: (200, "RiskDecision", "The decision"),
                                                      errors: [.riskDecisionNotFound])],
            "/v1/ops/risk/reviews": ["get": op("The review queue: held transfers, newest first (?state=open|claimed|approved|rejected|expired)" + read,
                                               "risk", .operator,
                                               query: pageQuery + [["name": "state", "in": "query", "required": false,
                                                                    "schema": ["type": "string", "enum": ["open", "claimed", "approved", "rejected", "expired"]]]],
                                               success: (200, "RiskReviewPage", "A page of reviews"), errors: [.invalidCursor, .invalidField])],
            "/v1/ops/risk/reviews/{id}": ["get": op("One review with the decision that held the money and the held transaction" + read,
                                                    "risk", .operator, pathID: true, success: (200, "RiskReview", "The review"),
                                                    errors: [.riskReviewNotFound])],
            "/v1/ops/risk/reviews/{id}/claim": ["post": op("Take a review (others cannot decide it; admins still can)" + change, "risk",
                                                           .operator, body: "ReviewClaimRequest", optionalBody: true, pathID: true,
                                                           success: (200, "RiskReview", "Claimed"), errors: reviewErrors)],
            "/v1/ops/risk/reviews/{id}/approve": ["post": op("Release the held money: the pending transfer is posted and the customer told" + change,
                                                             "risk", .operator, body: "ReviewApproveRequest", pathID: true,
                                                             success: (200, "RiskReview", "Approved"), errors: reviewErrors)],
            "/v1/ops/risk/reviews/{id}/reject": ["post": op("Refuse the held money: the pending transfer is voided (money back), the customer told, the account optionally frozen" + change,
                                                            "risk", .operator, body: "ReviewRejectRequest", pathID: true,
                                                            success: (200, "RiskReview", "Rejected"), errors: reviewErrors)],
            "/v1/ops/risk/rules": ["get": op("The live rule set and the shadow one (null when shadow mode is off)" + read, "risk", .operator,
                                             success: (200, "RuleSets", "The rules in force"))],
            "/v1/ops/risk/rules/live": ["put": putRules("Put a new live rule set in force (refused with the line of the first problem; the old set stays)")],
            "/v1/ops/risk/rules/shadow": [
                "put": putRules("Run a draft rule set in shadow beside the live one (decisions recorded, never enforced)"),
                "delete": op("Switch shadow mode off" + change, "risk", .operator, success: (204, nil, "Off")),
            ],
            "/v1/ops/risk/lists": [
                "get": op("Allow and deny list entries (payee, device, country)" + read, "risk", .operator,
                          success: (200, "RiskListEntryList", "Every entry")),
                "post": op("Add an allow or deny entry, for everyone or one customer, with an optional expiry" + change, "risk", .operator,
                           body: "RiskListEntryRequest", success: (201, "RiskListEntry", "Added"),
                           errors: [.userNotFound, .stringTooLong]),
            ],
            "/v1/ops/risk/lists/{id}": ["delete": op("Remove a list entry" + change, "risk", .operator, pathID: true,
                                                     success: (204, nil, "Removed"), errors: [.riskEntryNotFound])],
            "/v1/ops/risk/suppressions": [
                "get": op("Per-customer rule suppressions" + read, "risk", .operator, success: (200, "RiskSuppressionList", "Every suppression")),
                "post": op("Switch one rule off for one customer until a time (the travelling customer)" + change, "risk", .operator,
                           body: "RiskSuppressionRequest", success: (201, "RiskSuppression", "Added"),
                           errors: [.userNotFound, .stringTooLong]),
            ],
            "/v1/ops/risk/suppressions/{id}": ["delete": op("Remove a suppression" + change, "risk", .operator, pathID: true,
                                                            success: (204, nil, "Removed"), errors: [.riskEntryNotFound])],
        ]
    }

    static func riskSchemas() -> [String: Any] {
        let time: [String: Any] = ["type": "string", "format": "date-time"]
        let nullableTime: [String: Any] = ["type": ["string", "null"], "format": "date-time"]
        let nullableString: [String: Any] = ["type": ["string", "null"]]
        let action: [String: Any] = ["type": "string", "enum": ["allow", "challenge", "review", "block", "freeze"]]
        func object(_ properties: [String: Any], required: [String], closed: Bool = true) -> [String: Any] {
            var schema: [String: Any] = ["type": "object", "properties": properties, "required": required]
            if closed { schema["additionalProperties"] = false }
            return schema
        }
        let decision: [String: Any] = [
            "id": ["type": "string"], "user_id": ["type": "string"],
            "event_kind": ["type": "string", "enum": ["login", "transfer", "payment", "withdrawal", "topup"]],
            "action": action, "rules_action": action, "score": ["type": "integer"], "rule_set_version": ["type": "string"],
            "shadow_action": ["type": ["string", "null"]], "shadow_rule_set_version": nullableString,
            "transaction_id": nullableString, "recorded": ["type": "boolean"], "created_at": time,
            "fired_rules": ["type": "array", "items": object([
                "rule_id": ["type": "string"], "contribution": ["type": "integer"], "forced_decision": nullableString,
                "suppressed": ["type": "boolean"], "shadow": ["type": "boolean"],
            ], required: ["rule_id", "contribution", "suppressed", "shadow"], closed: false)],
            "event": ["type": "object", "description": "The event as the engine saw it"],
            "context": ["type": "object", "description": "Account age, credential changes and trusted devices at the time"],
            "explanation": ["type": "object", "description": "The decision: fired rules with contributions and observed values, list match, customer summary"],
            "shadow": ["type": ["object", "null"], "description": "The shadow rule set's decision (never enforced)"],
        ]
        let review: [String: Any] = [
            "id": ["type": "string"], "decision_id": ["type": "string"], "transaction_id": ["type": "string"], "user_id": ["type": "string"],
            "kind": ["type": "string", "enum": ["transfer", "payment", "withdrawal"]], "amount": ["type": "integer"],
            "currency": ["type": "string"], "reason": ["type": "string"],
            "state": ["type": "string", "enum": ["open", "claimed", "approved", "rejected", "expired"]],
            "created_at": time, "expires_at": time, "claimed_by": nullableString, "claimed_at": nullableTime,
            "resolved_by": nullableString, "resolved_at": nullableTime, "note": nullableString, "froze": ["type": "boolean"],
            "decision": ref("RiskDecision"), "transaction": ref("Transaction"),
        ]
        let ruleSet: [String: Any] = ["version": ["type": "string"], "rules": ["type": "integer"], "yaml": ["type": "string"],
                                      "loaded_by": nullableString, "loaded_at": nullableTime]
        let entry: [String: Any] = [
            "id": ["type": "string"], "kind": ["type": "string", "enum": ["payee", "device", "country"]], "value": ["type": "string"],
            "verdict": ["type": "string", "enum": ["allow", "deny"]], "user_id": nullableString, "expires_at": nullableTime,
            "note": ["type": "string"], "created_by": ["type": "string"], "created_at": time,
        ]
        let suppression: [String: Any] = [
            "id": ["type": "string"], "user_id": ["type": "string"], "rule_id": ["type": "string"], "until": time,
            "note": ["type": "string"], "created_by": ["type": "string"], "created_at": time,
        ]
        return [
            "SecurityNote": object([
                "status": ["type": "string", "enum": ["review", "approved", "rejected", "expired"]],
                "reason": ["type": "string", "enum": RiskReason.allCases.map(\.rawValue)],
                "summary": ["type": "string", "description": "What happened, in the requested language (never rules or values)"],
            ], required: ["status", "reason", "summary"]),
            "RiskDecision": object(decision, required: ["id", "user_id", "event_kind", "action", "score", "rule_set_version", "created_at"],
                                   closed: false),
            "RiskDecisionPage": object(["items": ["type": "array", "items": ref("RiskDecision")], "next_cursor": nullableString],
                                       required: ["items", "next_cursor"], closed: false),
            "RiskReview": object(review, required: ["id", "decision_id", "transaction_id", "user_id", "state", "amount", "currency",
                                                    "created_at", "expires_at"], closed: false),
            "RiskReviewPage": object(["items": ["type": "array", "items": ref("RiskReview")], "next_cursor": nullableString],
                                     required: ["items", "next_cursor"], closed: false),
            "ReviewClaimRequest": object(["note": ["type": "string", "maxLength": 500]], required: []),
            "ReviewApproveRequest": object(["note": ["type": "string", "minLength": 1, "maxLength": 500]], required: ["note"]),
            "ReviewRejectRequest": object(["note": ["type": "string", "minLength": 1, "maxLength": 500],
                                           "freeze": ["type": "boolean", "description": "Also freeze the customer's account"]],
                                          required: ["note"]),
            "RulesRequest": object(["yaml": ["type": "string", "description": "The rules file"]], required: ["yaml"]),
            "RuleSet": object(ruleSet, required: ["version", "rules", "yaml"], closed: false),
            "RuleSets": object(["live": ref("RuleSet"), "shadow": ["oneOf": [ref("RuleSet"), ["type": "null"]]]],
                               required: ["live", "shadow"], closed: false),
            "RiskListEntry": object(entry, required: ["id", "kind", "value", "verdict", "note", "created_by", "created_at"], closed: false),
            "RiskListEntryList": object(["items": ["type": "array", "items": ref("RiskListEntry")]], required: ["items"], closed: false),
            "RiskListEntryRequest": object([
                "kind": ["type": "string", "enum": ["payee", "device", "country"]],
                "value": ["type": "string", "minLength": 1, "maxLength": 200,
                          "description": "A payee key (user:<id>, merchant:<id>, bank:<ref>), a device id or a country code"],
                "verdict": ["type": "string", "enum": ["allow", "deny"]], "user_id": ["type": "string", "format": "uuid"],
                "expires_at": time, "note": ["type": "string", "maxLength": 500],
            ], required: ["kind", "value", "verdict"]),
            "RiskSuppression": object(suppression, required: ["id", "user_id", "rule_id", "until"], closed: false),
            "RiskSuppressionList": object(["items": ["type": "array", "items": ref("RiskSuppression")]], required: ["items"], closed: false),
            "RiskSuppressionRequest": object([
                "user_id": ["type": "string", "format": "uuid"], "rule_id": ["type": "string"], "until": time,
                "note": ["type": "string", "maxLength": 500],
            ], required: ["user_id", "rule_id", "until"]),
        ]
    }
}
