import Foundation
import LucidCore
import LucidGateway

/// The payment rail routes and schemas of the OpenAPI document (issue 5).
extension OpenAPIDocument {
    /// Codes a top-up or withdrawal can answer with because of its rail.
    static let railErrors: [ErrorCode] = [.gatewayUnavailable, .bankDeclined, .railNotFound]

    static var railName: [String: Any] { [
        "type": "string", "pattern": "^[a-z0-9-]{1,\(GatewayLimits.railIDLengthMax)}$",
        "description": "A payment rail (GET /v1/ops/rails lists them); without it the best working rail for the currency",
    ] }

    static func gatewayPaths() -> [String: Any] {
        let pageQuery: [[String: Any]] = [
            ["name": "limit", "in": "query", "required": false,
             "schema": ["type": "integer", "minimum": 1, "maximum": InputLimits.pageSizeMax, "default": InputLimits.pageSizeDefault]],
            ["name": "cursor", "in": "query", "required": false, "schema": ["type": "string"],
             "description": "next_cursor of the previous page"],
        ]
        let railPath: [String: Any] = ["name": "rail", "in": "path", "required": true, "schema": railName]
        return [
            "/v1/gateway/callbacks/{rail}": ["post": op(
                "A rail's signed callback (X-Rail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"t.body\")>). "
                    + "Duplicates change nothing; order does not matter; replays are refused",
                "rails", .none, body: "RailCallback", query: [railPath],
                success: (200, "CallbackAnswer", "Received: applied, duplicate, stale, conflict, already_resolved or unknown_reference"),
                errors: [.callbackSignatureInvalid, .callbackReplayed, .railNotFound])],
            "/v1/ops/rails": ["get": op("Every payment rail with its health, breaker and items (all roles)", "rails", .operator,
                                        success: (200, "RailList", "One entry per configured rail"))],
            "/v1/ops/rails/{rail}/items": ["get": op(
                "A rail's top-ups and withdrawals, newest first (?state=pending|escalated|posted|voided; all roles)", "rails",
                .operator, query: [railPath, ["name": "state", "in": "query", "required": false,
                                              "schema": ["type": "string", "enum": ["pending", "escalated", "posted", "voided"]]]]
                    + pageQuery,
                success: (200, "RailItemPage", "A page of items"), errors: [.railNotFound, .invalidCursor, .invalidField])],
            "/v1/ops/reconciliations": ["post": op(
                "Reconcile a rail's settlement report for a day against the ledger (downloads the report; admin, risk, support)",
                "rails", .operator, body: "ReconciliationRequest",
                success: (201, "Reconciliation", "The run with its totals, clearing check and first exceptions; each exception is an alert"),
                errors: [.railNotFound, .gatewayUnavailable, .gatewayTimeout, .settlementReportInvalid])],
            "/v1/ops/reconciliations/{id}": ["get": op("A reconciliation run and a page of its exceptions (all roles)", "rails",
                                                       .operator, query: pageQuery, pathID: true,
                                                       success: (200, "Reconciliation", "The run"),
                                                       errors: [.reconciliationNotFound, .invalidCursor, .invalidField])],
            "/v1/ops/alerts": ["get": op(
                "Operator alerts, newest first (?state=open|resolved, ?rail=): stuck items, conflicts, reconciliation exceptions",
                "rails", .operator,
                query: [["name": "state", "in": "query", "required": false, "schema": ["type": "string", "enum": ["open", "resolved"]]],
                        ["name": "rail", "in": "query", "required": false, "schema": railName]] + pageQuery,
                success: (200, "AlertPage", "A page of alerts"), errors: [.invalidCursor, .invalidField, .railNotFound])],
            "/v1/ops/alerts/{id}/resolve": ["post": op(
                "Resolve an alert with a note; post/void its pending transfer or make a correcting transfer (admin, risk; audited)",
                "rails", .operator, body: "AlertResolution", pathID: true, success: (200, "Alert", "The resolved alert"),
                errors: [.alertNotFound, .alertAlreadyResolved, .invalidAmount, .insufficientFunds, .userNotFound,
                         .transferAlreadyPosted, .transferAlreadyVoided, .idempotencyKeyReused, .stringTooLong])],
        ]
    }

    static func gatewaySchemas() -> [String: Any] {
        let time: [String: Any] = ["type": "string", "format": "date-time"]
        let nullableTime: [String: Any] = ["type": ["string", "null"], "format": "date-time"]
        let nullableString: [String: Any] = ["type": ["string", "null"]]
        let nullableInteger: [String: Any] = ["type": ["integer", "null"]]
        func object(_ properties: [String: Any], required: [String], closed: Bool = true) -> [String: Any] {
            var schema: [String: Any] = ["type": "object", "properties": properties, "required": required]
            if closed { schema["additionalProperties"] = false }
            return schema
        }
        let status: [String: Any] = object([
            "state": ["type": "string", "enum": ["pending", "settled", "failed"]], "expected_by": time, "settled_at": time,
            "reason": ["type": "string", "enum": RailFailureReason.allCases.map(\.rawValue)], "message": ["type": "string"],
        ], required: ["state"])
        return [
            "BankAccount": object([
                "bank": ["type": "string", "minLength": 1, "maxLength": 16, "description": "The bank's short code, e.g. ICBC"],
                "last4": ["type": "string", "pattern": "^[0-9]{4}$", "description": "The account's last four digits"],
            ], required: ["bank", "last4"]),
            "RailCallback": object([
                "event_id": ["type": "string", "maxLength": 128, "description": "Unique per event; a redelivery keeps it"],
                "rail": railName, "reference": ["type": "string", "description": "The transaction id Lucid sent"],
                "bank_id": ["type": "string"], "status": status, "occurred_at": time,
            ], required: ["event_id", "rail", "reference", "bank_id", "status", "occurred_at"]),
            "CallbackAnswer": object([
                "status": ["type": "string", "enum": ["applied", "duplicate", "stale", "conflict", "already_resolved", "unknown_reference"]],
                "event_id": ["type": "string"],
            ], required: ["status", "event_id"], closed: false),
            "Rail": object([
                "rail": ["type": "string"], "health": ["type": "string", "enum": RailHealth.allCases.map(\.rawValue)],
                "breaker": ["type": "string", "enum": ["closed", "open", "half_open"]], "open_until": nullableTime,
                "currencies": ["type": "array", "items": ["type": "string"]],
                "directions": ["type": "array", "items": ["type": "string", "enum": ["topup", "withdrawal"]]],
                "items": ["type": "object", "additionalProperties": ["type": "integer"],
                          "description": "Items by state, and `overdue`: pending past their expected time"],
            ], required: ["rail", "health", "breaker", "currencies", "directions", "items"], closed: false),
            "RailList": object(["items": ["type": "array", "items": ref("Rail")]], required: ["items"], closed: false),
            "RailItem": object([
                "reference": ["type": "string"], "rail": ["type": "string"], "direction": ["type": "string"],
                "user_id": ["type": "string"], "amount": ["type": "integer"], "currency": ["type": "string"],
                "bank_account": ["type": "string"],
                "state": ["type": "string", "enum": ["pending", "escalated", "posted", "voided"]], "reason": nullableString,
                "expected_by": time, "attempts": ["type": "integer"], "next_check_at": nullableTime, "last_checked_at": nullableTime,
                "escalated_at": nullableTime, "bank_reference": nullableString, "rail_state": nullableString, "final_at": nullableTime,
                "resolved_at": nullableTime, "created_at": time,
            ], required: ["reference", "rail", "direction", "amount", "currency", "state", "expected_by", "attempts", "created_at"],
               closed: false),
            "RailItemPage": object(["items": ["type": "array", "items": ref("RailItem")], "next_cursor": nullableString],
                                   required: ["items", "next_cursor"], closed: false),
            "ReconciliationRequest": object([
                "rail": railName, "date": ["type": "string", "format": "date", "description": "The report's UTC day, YYYY-MM-DD"],
            ], required: ["rail", "date"]),
            "ReconciliationException": object([
                "position": ["type": "integer"],
                "class": ["type": "string", "enum": ["missing_in_ledger", "missing_at_rail", "amount_mismatch", "state_mismatch", "duplicate"]],
                "reference": ["type": "string"], "direction": ["type": "string"], "line_number": nullableInteger,
                "rail_amount_minor": nullableInteger, "ledger_amount_minor": nullableInteger, "currency": ["type": "string"],
                "rail_state": nullableString, "ledger_state": nullableString, "bank_id": nullableString, "detail": ["type": "string"],
                "alert_id": nullableString,
            ], required: ["position", "class", "reference", "direction", "currency", "detail"], closed: false),
            "Reconciliation": object([
                "id": ["type": "string"], "rail": ["type": "string"], "date": ["type": "string", "format": "date"],
                "triggered_by": ["type": "string"], "scheduled": ["type": "boolean"],
                "state": ["type": "string", "enum": ["running", "completed", "failed"]], "started_at": time, "finished_at": nullableTime,
                "lines_read": ["type": "integer"], "matched": ["type": "integer"], "exception_count": ["type": "integer"],
                "malformed_count": ["type": "integer"], "in_flight": ["type": "integer"], "clean": ["type": "boolean"],
                "summary": ["type": ["object", "null"], "description": """
                    Totals per class and direction, malformed lines, `clearing` (per currency: what the rail says it moved, \
                    rail_net_minor, against the ledger, ledger_net_minor, and the difference) and `clearing_accounts` (balances now)
                    """],
                "error": nullableString,
                "exceptions": object(["items": ["type": "array", "items": ref("ReconciliationException")], "next_cursor": nullableString],
                                     required: ["items", "next_cursor"], closed: false),
            ], required: ["id", "rail", "date", "state", "started_at", "clean", "exceptions"], closed: false),
            "Alert": object([
                "id": ["type": "string"], "kind": ["type": "string", "description": """
                    stuck_item, rail_conflict, rail_refused, unknown_callback, clearing_difference, or a reconciliation class
                    """],
                "rail": nullableString, "reference": nullableString, "user_id": nullableString, "amount": nullableInteger,
                "currency": nullableString, "details": ["type": "object"], "state": ["type": "string", "enum": ["open", "resolved"]],
                "created_at": time, "resolved_by": nullableString, "resolved_at": nullableTime, "note": nullableString,
                "correction_id": nullableString, "reconciliation_id": nullableString,
            ], required: ["id", "kind", "details", "state", "created_at"], closed: false),
            "AlertPage": object(["items": ["type": "array", "items": ref("Alert")], "next_cursor": nullableString],
                                required: ["items", "next_cursor"], closed: false),
            "AlertResolution": object([
                "note": ["type": "string", "minLength": 1, "maxLength": InputLimits.memoLengthMax],
                "action": ["type": "string", "enum": ["none", "post", "void", "credit", "debit"], "description": """
                    none (default): only the note; post / void: settle the alert's pending transfer; credit / debit: a \
                    correcting transfer between the rail's clearing account and the customer (at most one per alert)
                    """],
                "amount": ["type": "integer", "minimum": 1, "maximum": InputLimits.amountMax],
                "user_id": ["type": "string", "format": "uuid", "description": "The customer to correct, when the alert names none"],
            ], required: ["note"]),
        ]
    }
}
