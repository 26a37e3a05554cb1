/// The catalogue of every error code: HTTP status, title, detail and next steps
/// in English and Simplified Chinese. It is data: `ErrorCatalogueTests` walks
/// every code and checks that nothing is missing.
public enum ErrorCatalogue {
    public struct Entry: Sendable {
        public let status: Int
        public let title: Localized
        let detail: @Sendable (Params) -> Localized
        let nextSteps: @Sendable (Params) -> [Localized]
    }

    /// Read access to an error's params with money formatting.
    public struct Params: Sendable {
        let values: [String: ErrorParam]

        func text(_ key: String) -> String {
            switch values[key] {
            case .text(let s): return s
            case .int(let i): return String(i)
            case nil: return "?"
            }
        }

        func int(_ key: String) -> Int64? {
            if case .int(let i) = values[key] { return i }
            return nil
        }

        /// Formats `key` as money in the currency named by `currency`.
        func money(_ key: String) -> String {
            guard let amount = int(key) else { return "?" }
            guard case .text(let code) = values["currency"], let currency = Currency.named(code) else {
                return String(amount)
            }
            return Money.format(amount, currency)
        }
    }

    public static func describe(_ error: LucidError, in language: Language) -> ErrorDescription {
        let entry = entry(error.code)
        let params = Params(values: error.params)
        return ErrorDescription(
            status: entry.status,
            title: entry.title.text(language),
            detail: entry.detail(params).text(language),
            nextSteps: entry.nextSteps(params).map { $0.text(language) }
        )
    }

    private static func e(
        _ status: Int, _ title: Localized,
        _ detail: @escaping @Sendable (Params) -> Localized,
        _ next: @escaping @Sendable (Params) -> [Localized]
    ) -> Entry {
        Entry(status: status, title: title, detail: detail, nextSteps: next)
    }

    private static let contactSupport = Localized(
        "If this keeps happening, contact support and quote the request id.",
        "如果问题持续出现，请联系客服并提供请求编号（request_id）。")
    private static let retryLater = Localized(
        "Wait a moment and try again; nothing was changed.",
        "请稍后重试；本次请求没有产生任何变更。")

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    public static func entry(_ code: ErrorCode) -> Entry {
        switch code {
        case .malformedJSON:
            return e(400, Localized("Malformed request body", "请求内容格式错误"), { p in
                Localized("The request body is not valid JSON: \(p.text("reason")).",
                          "请求内容不是有效的 JSON：\(p.text("reason"))。")
            }, { _ in [Localized("Send a UTF-8 JSON object as described in /openapi.json.",
                                 "请按 /openapi.json 的说明发送 UTF-8 编码的 JSON 对象。")] })
        case .invalidField:
            return e(422, Localized("Invalid field", "字段无效"), { p in
                Localized("The field \"\(p.text("field"))\" is invalid: \(p.text("reason")).",
                          "字段“\(p.text("field"))”无效：\(p.text("reason"))。")
            }, { p in [Localized("Correct \"\(p.text("field"))\" and send the request again.",
                                 "请修正“\(p.text("field"))”后重新提交。")] })
        case .unknownField:
            return e(400, Localized("Unknown field", "未知字段"), { p in
                Localized("The field \"\(p.text("field"))\" is not accepted here.",
                          "此处不接受字段“\(p.text("field"))”。")
            }, { p in [Localized("Remove \"\(p.text("field"))\"; check the spelling against /openapi.json.",
                                 "请删除“\(p.text("field"))”，并对照 /openapi.json 检查拼写。")] })
        case .bodyTooLarge:
            return e(413, Localized("Request body too large", "请求内容过大"), { p in
                Localized("The request body is larger than the limit of \(p.text("limit_bytes")) bytes.",
                          "请求内容超过了 \(p.text("limit_bytes")) 字节的上限。")
            }, { _ in [Localized("Send a smaller request.", "请缩小请求内容后重试。")] })
        case .stringTooLong:
            return e(422, Localized("Text too long", "文本过长"), { p in
                Localized("\"\(p.text("field"))\" is longer than \(p.text("max_length")) characters.",
                          "“\(p.text("field"))”超过了 \(p.text("max_length")) 个字符。")
            }, { p in [Localized("Shorten \"\(p.text("field"))\" to at most \(p.text("max_length")) characters.",
                                 "请将“\(p.text("field"))”缩短到 \(p.text("max_length")) 个字符以内。")] })
        case .invalidAmount:
            return e(422, Localized("Invalid amount", "金额无效"), { p in
                Localized("The amount must be a whole number of minor units between 1 and \(p.text("max")); got \(p.text("amount")).",
                          "金额必须是 1 到 \(p.text("max")) 之间的整数（最小货币单位），实际为 \(p.text("amount"))。")
            }, { _ in [Localized("Send a positive integer amount in minor units (1250 means 12.50).",
                                 "请以最小货币单位发送正整数金额（1250 表示 12.50）。")] })
        case .unsupportedCurrency:
            return e(422, Localized("Unsupported currency", "不支持的币种"), { p in
                Localized("The currency \"\(p.text("currency"))\" is not supported.",
                          "不支持币种“\(p.text("currency"))”。")
            }, { _ in [Localized("Use one of: \(Currency.supported.map(\.code).joined(separator: ", ")).",
                                 "请使用以下币种之一：\(Currency.supported.map(\.code).joined(separator: "、"))。")] })
        case .amountOverflow:
            return e(422, Localized("Amount too large", "金额过大"), { _ in
                Localized("The amount is too large to be processed.", "金额过大，无法处理。")
            }, { _ in [Localized("Use a smaller amount.", "请使用较小的金额。")] })
        case .currencyMismatch:
            return e(422, Localized("Currency mismatch", "币种不一致"), { p in
                Localized("Expected \(p.text("expected_currency")) but got \(p.text("currency")).",
                          "应为 \(p.text("expected_currency"))，实际为 \(p.text("currency"))。")
            }, { p in [Localized("Send the request in \(p.text("expected_currency")).",
                                 "请使用 \(p.text("expected_currency")) 提交。")] })
        case .invalidCursor:
            return e(400, Localized("Invalid cursor", "分页游标无效"), { _ in
                Localized("The paging cursor is not one this service issued.", "分页游标不是本服务签发的。")
            }, { _ in [Localized("Start again from the first page without a cursor.", "请去掉 cursor 参数，从第一页重新开始。")] })
        case .unsupportedMediaType:
            return e(415, Localized("Unsupported media type", "不支持的内容类型"), { p in
                Localized("The body must be application/json, not \(p.text("content_type")).",
                          "请求内容必须为 application/json，而不是 \(p.text("content_type"))。")
            }, { _ in [Localized("Send Content-Type: application/json.", "请设置 Content-Type: application/json。")] })
        case .idempotencyKeyMissing:
            return e(400, Localized("Idempotency-Key missing", "缺少幂等键"), { _ in
                Localized("Requests that move money must carry an Idempotency-Key header.",
                          "涉及资金变动的请求必须携带 Idempotency-Key 请求头。")
            }, { _ in [Localized("Generate a unique key (for example a UUID) per intended operation and send it as Idempotency-Key; reuse it only when retrying the same request.",
                                 "请为每一笔操作生成唯一的键（例如 UUID）放入 Idempotency-Key；仅在重试同一请求时复用。")] })
        case .idempotencyKeyInvalid:
            return e(400, Localized("Idempotency-Key invalid", "幂等键无效"), { p in
                Localized("The Idempotency-Key must be 1 to \(p.text("max_length")) printable ASCII characters.",
                          "Idempotency-Key 必须是 1 到 \(p.text("max_length")) 个可打印 ASCII 字符。")
            }, { _ in [Localized("Use a UUID as the key.", "请使用 UUID 作为幂等键。")] })
        case .idempotencyKeyReused:
            return e(409, Localized("Idempotency-Key reused", "幂等键被重复使用"), { _ in
                Localized("This Idempotency-Key was already used for a different request; nothing was changed.",
                          "该幂等键已用于另一笔不同的请求；本次未做任何变更。")
            }, { _ in [Localized("Use a new key for a new operation; reuse a key only to retry the identical request.",
                                 "新的操作请使用新的幂等键；只有重试完全相同的请求时才能复用。")] })
        case .unauthenticated:
            return e(401, Localized("Not signed in", "未登录"), { _ in
                Localized("This request needs a valid bearer token; it is missing, expired or revoked.",
                          "此请求需要有效的访问令牌；令牌缺失、已过期或已被撤销。")
            }, { _ in [Localized("Sign in again with POST /v1/sessions and send Authorization: Bearer <token>.",
                                 "请通过 POST /v1/sessions 重新登录，并携带 Authorization: Bearer <token>。")] })
        case .invalidCredentials:
            return e(401, Localized("Sign-in failed", "登录失败"), { _ in
                Localized("The login or password is not correct.", "账号或密码不正确。")
            }, { _ in [Localized("Check the phone number or e-mail and the password, then try again.",
                                 "请检查手机号或邮箱以及密码后重试。"),
                       Localized("If you forgot your password, reset it.", "如果忘记密码，请重置密码。")] })
        case .forbidden:
            return e(403, Localized("Not allowed", "无权操作"), { p in
                Localized("Your role does not allow this action (\(p.text("required_role")) required).",
                          "您的角色无权执行此操作（需要 \(p.text("required_role")) 权限）。")
            }, { _ in [Localized("Ask an administrator for the right role.", "请联系管理员授予相应角色。")] })
        case .loginAlreadyRegistered:
            return e(409, Localized("Already registered", "已注册"), { p in
                Localized("An account with this \(p.text("field")) already exists.", "该\(p.text("field") == "email" ? "邮箱" : "手机号")已注册。")
            }, { _ in [Localized("Sign in instead, or reset the password if you forgot it.",
                                 "请直接登录；如忘记密码请重置密码。")] })
        case .passwordTooWeak:
            return e(422, Localized("Password not accepted", "密码不符合要求"), { p in
                Localized("The password must have \(p.text("min_length")) to \(p.text("max_length")) characters.",
                          "密码长度必须为 \(p.text("min_length")) 到 \(p.text("max_length")) 个字符。")
            }, { _ in [Localized("Choose a longer passphrase that you do not use elsewhere.",
                                 "请选择一个更长、且未在其他地方使用过的密码短语。")] })
        case .userNotFound:
            return e(404, Localized("User not found", "用户不存在"), { _ in
                Localized("No user with this id exists.", "不存在该编号的用户。")
            }, { _ in [Localized("Check the user id.", "请检查用户编号。")] })
        case .insufficientFunds:
            return e(422, Localized("Insufficient funds", "余额不足"), { p in
                let fee = p.int("fee") ?? 0
                if fee > 0 {
                    return Localized(
                        "Available balance is \(p.money("available")) but this needs \(p.money("required")) including a \(p.money("fee")) fee.",
                        "可用余额为 \(p.money("available"))，但本次需要 \(p.money("required"))（含手续费 \(p.money("fee"))）。")
                }
                return Localized("Available balance is \(p.money("available")) but this needs \(p.money("required")).",
                                 "可用余额为 \(p.money("available"))，但本次需要 \(p.money("required"))。")
            }, { p in [Localized("Top up at least \(p.money("shortfall")), or send a smaller amount.",
                                 "请至少充值 \(p.money("shortfall"))，或减少金额。"),
                       Localized("Funds on hold (pending items) are not available until they settle; see GET /v1/wallets.",
                                 "冻结中（处理中）的资金在结算前不可用；详见 GET /v1/wallets。")] })
        case .perTransferLimitExceeded:
            return e(422, Localized("Over the per-transaction limit", "超过单笔限额"), { p in
                Localized("\(p.money("amount")) is over the per-transaction limit of \(p.money("limit")) for your verification level.",
                          "\(p.money("amount")) 超过了您当前认证等级的单笔限额 \(p.money("limit"))。")
            }, { p in [Localized("Send at most \(p.money("limit")) per transaction.", "单笔金额请不超过 \(p.money("limit"))。"),
                       Localized("Complete identity verification to raise your limits.", "完成实名认证可提高限额。")] })
        case .dailyLimitExceeded:
            return e(422, Localized("Over the daily limit", "超过每日限额"), { p in
                Localized("Today you have sent \(p.money("used")) of your \(p.money("limit")) daily limit; \(p.money("remaining")) remains, but this needs \(p.money("amount")).",
                          "今日已转出 \(p.money("used"))，每日限额为 \(p.money("limit"))，剩余 \(p.money("remaining"))，本次需要 \(p.money("amount"))。")
            }, { p in [Localized("Send at most \(p.money("remaining")) today, or wait until the limit resets at \(p.text("resets_at")).",
                                 "今日最多还可转出 \(p.money("remaining"))，或等待限额在 \(p.text("resets_at")) 重置。"),
                       Localized("Complete identity verification to raise your limits.", "完成实名认证可提高限额。")] })
        case .payeeNotFound:
            return e(404, Localized("Payee not found", "收款人不存在"), { _ in
                Localized("No wallet is registered for this payee.", "该收款人没有开通钱包。")
            }, { _ in [Localized("Check the phone number, e-mail or user id of the payee.", "请核对收款人的手机号、邮箱或用户编号。")] })
        case .selfTransferNotAllowed:
            return e(422, Localized("Cannot transfer to yourself", "不能转账给自己"), { _ in
                Localized("The payee is your own wallet.", "收款人是您自己的钱包。")
            }, { _ in [Localized("Choose another payee.", "请选择其他收款人。")] })
        case .merchantNotFound:
            return e(404, Localized("Merchant not found", "商户不存在"), { _ in
                Localized("No merchant with this id exists.", "不存在该编号的商户。")
            }, { _ in [Localized("Check the merchant id shown by the merchant.", "请核对商户提供的商户编号。")] })
        case .accountFrozen:
            return e(403, Localized("Account frozen", "账户已冻结"), { p in
                Localized("This account is frozen (\(p.text("reason"))); money cannot leave it.",
                          "该账户已冻结（\(p.text("reason"))），资金无法转出。")
            }, { _ in [Localized("Incoming money still arrives. Contact support to unfreeze the account.",
                                 "转入资金仍可到账。如需解冻请联系客服。")] })
        case .transactionNotFound:
            return e(404, Localized("Transaction not found", "交易不存在"), { _ in
                Localized("No transaction with this id exists in your history.", "您的交易记录中没有该编号的交易。")
            }, { _ in [Localized("Check the id, or list your transactions with GET /v1/transactions.",
                                 "请核对编号，或通过 GET /v1/transactions 查看交易记录。")] })
        case .transferAlreadyPosted:
            return e(409, Localized("Already completed", "交易已完成"), { _ in
                Localized("This transfer is already posted; it can no longer be posted or voided.",
                          "该笔交易已入账，无法再次入账或撤销。")
            }, { _ in [Localized("To undo a posted transfer, reverse it with a compensating transfer.",
                                 "如需撤回已入账的交易，请发起冲正交易。")] })
        case .transferAlreadyVoided:
            return e(409, Localized("Already voided", "交易已撤销"), { _ in
                Localized("This transfer was voided; the held funds were released.", "该笔交易已撤销，冻结的资金已释放。")
            }, { _ in [Localized("Create a new transfer if the money should still move.", "如仍需转账，请发起新的交易。")] })
        case .transferExpired:
            return e(409, Localized("Hold expired", "预授权已过期"), { p in
                Localized("This pending transfer expired at \(p.text("expired_at")); the held funds were released.",
                          "该笔待处理交易已于 \(p.text("expired_at")) 过期，冻结的资金已释放。")
            }, { _ in [Localized("Create a new transfer if the money should still move.", "如仍需转账，请发起新的交易。")] })
        case .transferNotReversible:
            return e(409, Localized("Cannot be reversed", "无法冲正"), { p in
                Localized("Only posted transfers that were not reversed before can be reversed (state: \(p.text("state"))).",
                          "只能冲正已入账且未被冲正过的交易（当前状态：\(p.text("state"))）。")
            }, { _ in [Localized("Check the transfer's state and reversals.", "请检查该交易的状态及冲正记录。")] })
        case .routeNotFound:
            return e(404, Localized("Not found", "未找到"), { p in
                Localized("There is no resource at \(p.text("path")).", "\(p.text("path")) 不存在。")
            }, { _ in [Localized("Check the path against /openapi.json.", "请对照 /openapi.json 检查路径。")] })
        case .methodNotAllowed:
            return e(405, Localized("Method not allowed", "不支持的请求方法"), { p in
                Localized("\(p.text("method")) is not supported here.", "此处不支持 \(p.text("method")) 方法。")
            }, { _ in [Localized("Check the method against /openapi.json.", "请对照 /openapi.json 检查请求方法。")] })
        case .clientOutdated:
            return e(426, Localized("Update required", "需要更新应用"), { p in
                Localized("App version \(p.text("client_version")) is no longer supported; the minimum is \(p.text("minimum_version")).",
                          "应用版本 \(p.text("client_version")) 已不再受支持，最低版本为 \(p.text("minimum_version"))。")
            }, { _ in [Localized("Update the app to the latest version and try again.", "请将应用更新到最新版本后重试。")] })
        case .serviceOverloaded:
            return e(503, Localized("Service busy", "服务繁忙"), { _ in
                Localized("The service is busy and did not accept this request.", "服务繁忙，未受理本次请求。")
            }, { _ in [retryLater] })
        case .storageUnavailable:
            return e(503, Localized("Temporarily unavailable", "服务暂时不可用"), { _ in
                Localized("The service cannot reach its database right now; nothing was changed.",
                          "服务暂时无法访问数据库；本次请求没有产生任何变更。")
            }, { _ in [retryLater, contactSupport] })
        case .internalError:
            return e(500, Localized("Something went wrong on our side", "服务内部错误"), { _ in
                Localized("The request could not be completed because of a fault in the service. It has been logged.",
                          "由于服务内部故障，请求未能完成。该问题已被记录。")
            }, { _ in [Localized("Check your transaction history before retrying; retry with the same Idempotency-Key so nothing is applied twice.",
                                 "重试前请先查看交易记录；重试时请使用相同的 Idempotency-Key，避免重复扣款。"),
                       contactSupport] })
        case .gatewayUnavailable:
            return e(503, Localized("Bank connection unavailable", "银行通道暂不可用"), { p in
                Localized("The payment rail \(p.text("rail")) is not available right now; nothing was sent to it and no money moved.",
                          "支付通道 \(p.text("rail")) 当前不可用；本次请求未发送到该通道，资金没有变动。")
            }, { p in
                var steps: [Localized] = []
                if p.values["alternative_rail"] != nil {
                    steps.append(Localized("Use the payment rail \(p.text("alternative_rail")) instead; it is working normally.",
                                           "可改用支付通道 \(p.text("alternative_rail"))，该通道运行正常。"))
                }
                if p.values["retry_after_seconds"] != nil {
                    steps.append(Localized("Or try again in about \(p.text("retry_after_seconds")) seconds.",
                                           "或在约 \(p.text("retry_after_seconds")) 秒后重试。"))
                } else {
                    steps.append(retryLater)
                }
                steps.append(Localized("The status page shows which bank connections are working.", "状态页面会显示各银行通道的运行情况。"))
                return steps
            })
        case .gatewayTimeout:
            return e(504, Localized("Bank did not answer in time", "银行响应超时"), { p in
                Localized("The payment rail \(p.text("rail")) did not answer in time. The request may still go through: Lucid checks it with the bank and completes or cancels it automatically.",
                          "支付通道 \(p.text("rail")) 未能及时响应。该请求仍可能成功：系统会向银行核实，并自动完成或撤销。")
            }, { _ in [Localized("Check the transaction's state in your history before doing anything else.",
                                 "请先在交易记录中查看该笔交易的状态。"),
                       Localized("If you retry, use the same Idempotency-Key: nothing will be paid twice.",
                                 "如需重试，请使用相同的 Idempotency-Key，资金不会被重复扣划。")] })
        case .bankDeclined:
            return e(422, Localized("Declined by the bank", "银行拒绝了该笔交易"), { p in
                let code = p.text("bank_reason")
                let why: Localized
                switch code {
                case "R01_insufficient_funds": why = Localized("the bank account does not have enough money", "银行账户余额不足")
                case "R02_account_closed": why = Localized("the bank account is closed", "银行账户已销户")
                case "R61_limit_exceeded": why = Localized("a limit at the bank is exceeded", "超过了银行的限额")
                case "R91_bank_maintenance": why = Localized("the bank is in maintenance", "银行系统正在维护")
                default: why = Localized("the bank gave no further reason", "银行未说明具体原因")
                }
                return Localized("The payment rail \(p.text("rail")) declined this: \(why.en) (\(code)). No money moved.",
                                 "支付通道 \(p.text("rail")) 拒绝了该笔交易：\(why.zh)（\(code)）。资金没有变动。")
            }, { p in
                switch p.text("bank_reason") {
                case "R01_insufficient_funds":
                    return [Localized("Add money to the bank account or use a smaller amount.", "请向银行账户存入资金，或减少金额。")]
                case "R02_account_closed":
                    return [Localized("Link another bank account.", "请绑定其他银行账户。")]
                case "R61_limit_exceeded":
                    return [Localized("Use a smaller amount, or ask your bank to raise its limit.", "请减少金额，或联系银行提高限额。")]
                case "R91_bank_maintenance":
                    return [retryLater, Localized("Or use another bank connection if one is offered.", "或改用其他可用的银行通道。")]
                default:
                    return [Localized("Contact your bank for the reason.", "请联系您的银行了解原因。"), contactSupport]
                }
            })
        case .railNotFound:
            return e(404, Localized("Payment rail not found", "支付通道不存在"), { p in
                Localized("No payment rail named \(p.text("rail")) is configured.", "没有配置名为 \(p.text("rail")) 的支付通道。")
            }, { _ in [Localized("List the configured rails and use one of their names.", "请查看已配置的支付通道，并使用其中之一的名称。")] })
        case .callbackSignatureInvalid:
            return e(401, Localized("Callback signature invalid", "回调签名无效"), { p in
                Localized("The callback's signature could not be verified (\(p.text("reason"))); it was not applied.",
                          "无法验证该回调的签名（\(p.text("reason"))），回调未被处理。")
            }, { _ in [Localized("Sign the exact body with the shared secret and the current time, in the header X-Rail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">.",
                                 "请使用共享密钥和当前时间对原始请求体签名，并放入请求头 X-Rail-Signature: t=<Unix 秒>,v1=<对 \"t.body\" 的 HMAC-SHA256 十六进制值>。")] })
        case .callbackReplayed:
            return e(409, Localized("Callback already received", "回调已接收"), { p in
                Localized("The event \(p.text("event_id")) was already received; it is not applied again.",
                          "事件 \(p.text("event_id")) 已经接收过，不会重复处理。")
            }, { _ in [Localized("Nothing to do: treat this answer as delivered.", "无需处理：可视为已送达。")] })
        case .settlementReportInvalid:
            return e(422, Localized("Not a settlement report", "结算对账文件无效"), { p in
                Localized("The file is not a settlement report: line \(p.text("line_number")): \(p.text("reason")).",
                          "该文件不是有效的结算对账文件：第 \(p.text("line_number")) 行：\(p.text("reason"))。")
            }, { _ in [Localized("Download the report from the rail again; check its format against docs/GATEWAY.md.",
                                 "请重新从支付通道下载对账文件，并对照 docs/GATEWAY.md 检查格式。")] })
        }
    }
}
