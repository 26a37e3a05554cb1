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
            // The reason decides the text: a customer told only "too weak" cannot fix it.
            return e(422, Localized("Password not accepted", "密码不符合要求"), { p in
                switch p.text("reason") {
                case "too_short":
                    return Localized("The password is too short: it needs at least \(p.text("min_length")) characters.",
                                     "密码太短：至少需要 \(p.text("min_length")) 个字符。")
                case "too_long":
                    return Localized("The password is too long: it may have at most \(p.text("max_length")) characters.",
                                     "密码太长：最多 \(p.text("max_length")) 个字符。")
                case "common":
                    return Localized("This is one of the most commonly used passwords, which attackers try first.",
                                     "该密码属于最常用的密码之一，攻击者会最先尝试。")
                case "contains_personal_data":
                    return Localized("The password contains your e-mail name, phone number or display name, which others can guess.",
                                     "密码中包含您的邮箱名、手机号或昵称，容易被他人猜到。")
                default:
                    return Localized("The password must have \(p.text("min_length")) to \(p.text("max_length")) characters.",
                                     "密码长度必须为 \(p.text("min_length")) 到 \(p.text("max_length")) 个字符。")
                }
            }, { p in
                let choose: Localized
                switch p.text("reason") {
                case "too_long":
                    choose = Localized("Choose a passphrase of at most \(p.text("max_length")) characters.",
                                       "请选择不超过 \(p.text("max_length")) 个字符的密码短语。")
                case "common", "contains_personal_data":
                    choose = Localized("Choose a passphrase that is not a common password and does not contain your name, e-mail or phone number; a few unrelated words work well.",
                                       "请选择一个不常见、且不包含您的姓名、邮箱或手机号的密码短语；几个互不相关的词语组合效果很好。")
                default:
                    choose = Localized("Choose a longer passphrase (at least \(p.text("min_length")) characters) that you do not use elsewhere.",
                                       "请选择一个更长（至少 \(p.text("min_length")) 个字符）、且未在其他地方使用过的密码短语。")
                }
                return [choose,
                        Localized("Any characters are allowed, including spaces and Chinese characters; there are no rules about digits or symbols.",
                                  "可以使用任意字符，包括空格和中文；对数字和符号没有要求。")]
            })
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
                let who = ActorWords.who(p.text("frozen_by"))
                return Localized("This account was frozen by \(who.en) at \(p.text("frozen_at")) (\(p.text("reason"))); money cannot leave it.",
                                 "该账户已于 \(p.text("frozen_at")) 被\(who.zh)冻结（\(p.text("reason"))），资金无法转出。")
            }, { p in
                if p.text("frozen_by") == "customer" {
                    return [Localized("Incoming money still arrives. To unfreeze, sign in and call POST /v1/me/unfreeze with your password and a second factor.",
                                      "转入资金仍可到账。如需解冻，请登录后通过 POST /v1/me/unfreeze 提交密码和二次验证。")]
                }
                return [Localized("Incoming money still arrives. Contact support to unfreeze the account.",
                                  "转入资金仍可到账。如需解冻请联系客服。")]
            })
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
        // Account protection (issue 4)
        case .accountLocked:
            // Only the owner sees this (after a second factor or a reset); a stranger gets invalid_credentials.
            return e(423, Localized("Account temporarily locked", "账户暂时锁定"), { p in
                Localized("After several failed sign-in attempts this account is locked until \(p.text("locked_until")).",
                          "由于多次登录失败，该账户已被锁定至 \(p.text("locked_until"))。")
            }, { _ in [Localized("Wait until then and sign in again, or reset your password now to unlock the account.",
                                 "请等到该时间后再登录，或立即重置密码以解锁账户。"),
                       Localized("If these attempts were not yours, change your password and turn on two-factor authentication.",
                                 "如果这些登录尝试不是您本人所为，请修改密码并开启两步验证。")] })
        case .secondFactorRequired:
            return e(401, Localized("Second factor required", "需要第二重验证"), { p in
                let action = secondFactorAction(p.text("reason"))
                return Localized("\(action.en) needs a second factor (\(p.text("methods"))).",
                                 "\(action.zh)需要第二重验证（\(p.text("methods"))）。")
            }, { p in
                if p.text("methods") == "verification_code" {
                    // Customers without two-factor authentication prove themselves with a one-time code.
                    return [Localized("Use the 6-digit code we sent to your phone or e-mail (signed in, ask for one with POST /v1/me/verification-codes, purpose step_up), and send the request again with verification_code set to it.",
                                      "请使用我们发送到您手机或邮箱的 6 位验证码（已登录时可通过 POST /v1/me/verification-codes 申请，purpose 为 step_up），并在 verification_code 中填写后重新提交请求。")]
                }
                return [Localized("Send the request again with totp_code set to the 6-digit code from your authenticator app, or with recovery_code set to one of your unused recovery codes.",
                                  "请重新提交请求，并在 totp_code 中填写身份验证器应用显示的 6 位验证码，或在 recovery_code 中填写一个未使用过的恢复码。")]
            })
        case .secondFactorInvalid:
            return e(401, Localized("Code not accepted", "验证码无效"), { _ in
                Localized("The two-factor code is not correct, has expired or was already used.",
                          "两步验证码不正确、已过期或已被使用。")
            }, { _ in [Localized("Enter the code your authenticator app shows now (codes change every 30 seconds and each works once); make sure the phone sets its clock automatically.",
                                 "请输入身份验证器应用当前显示的验证码（每 30 秒更新一次，每个只能使用一次）；并确认手机时间为自动同步。"),
                       Localized("If you lost your authenticator, use one of your recovery codes instead.",
                                 "如果身份验证器已丢失，请改用恢复码。")] })
        case .rateLimited:
            return e(429, Localized("Too many attempts", "尝试次数过多"), { p in
                Localized("Too many requests came from your network in a short time; try again in \(p.text("retry_after_seconds")) seconds.",
                          "短时间内来自您网络的请求过多，请在 \(p.text("retry_after_seconds")) 秒后重试。")
            }, { p in [Localized("Wait \(p.text("retry_after_seconds")) seconds before trying again; the Retry-After header says the same.",
                                 "请等待 \(p.text("retry_after_seconds")) 秒后再试；响应头 Retry-After 给出相同的时间。")] })
        case .resetTokenInvalid:
            // One answer for forged, expired and used links: the difference would only help an attacker.
            return e(400, Localized("Reset link not valid", "重置链接无效"), { _ in
                Localized("This password reset link is not valid: it is wrong, has expired or was already used.",
                          "该密码重置链接无效：链接有误、已过期或已被使用。")
            }, { _ in [Localized("Request a new password reset link; each link works once and only for a short time.",
                                 "请重新申请密码重置链接；每个链接只能使用一次，且有效期很短。")] })
        case .totpAlreadyEnabled:
            return e(409, Localized("Two-factor already on", "两步验证已开启"), { _ in
                Localized("Two-factor authentication is already turned on for this account.", "该账户已开启两步验证。")
            }, { _ in [Localized("To move it to a new phone, turn it off with your password and a code, then set it up again.",
                                 "如需更换手机，请先使用密码和验证码关闭两步验证，再重新设置。")] })
        case .totpNotEnabled:
            return e(409, Localized("Two-factor not on", "未开启两步验证"), { _ in
                Localized("Two-factor authentication is not turned on for this account, or its set-up was not confirmed.",
                          "该账户未开启两步验证，或设置尚未确认。")
            }, { _ in [Localized("Turn it on with POST /v1/me/totp, then confirm it with a code at POST /v1/me/totp/confirm.",
                                 "请通过 POST /v1/me/totp 开启，再通过 POST /v1/me/totp/confirm 提交验证码确认。")] })
        case .accountDormant:
            return e(403, Localized("Account dormant", "账户处于休眠状态"), { _ in
                Localized("This account was inactive for a long time and is now dormant; money cannot leave it until you confirm it is still yours.",
                          "该账户长时间未使用，已进入休眠状态；在您确认账户仍归您所有之前，资金无法转出。")
            }, { _ in [Localized("Verify your identity again (password and second factor) to reactivate the account; incoming money still arrives.",
                                 "请重新验证身份（密码及第二重验证）以重新激活账户；转入资金仍可正常到账。"),
                       contactSupport] })
        case .regionNotSupported:
            return e(403, Localized("Not available in your region", "所在地区暂不支持"), { p in
                Localized("This service is not available in the country or region \(p.text("country")).",
                          "本服务暂不支持国家或地区 \(p.text("country"))。")
            }, { _ in [Localized("If you think this is a mistake (for example you are travelling), contact support.",
                                 "如果您认为这是误判（例如您正在出行），请联系客服。")] })
        case .sessionNotFound:
            return e(404, Localized("Session not found", "会话不存在"), { _ in
                Localized("None of your active sessions has this id.", "您的有效会话中没有该编号。")
            }, { _ in [Localized("List your sessions with GET /v1/me/sessions.", "请通过 GET /v1/me/sessions 查看您的会话。")] })
        case .unfreezeCoolingOff:
            return e(409, Localized("Too soon to unfreeze", "暂时无法解冻"), { p in
                Localized("The account was frozen recently; for your protection it can be unfrozen from \(p.text("available_at")).",
                          "账户刚被冻结；为保护您的资金安全，可在 \(p.text("available_at")) 之后解冻。")
            }, { p in [Localized("Try again after \(p.text("available_at")). If you did not freeze the account yourself, contact support.",
                                 "请在 \(p.text("available_at")) 之后重试。如果账户不是您本人冻结的，请联系客服。")] })
        case .riskBlocked:
            return e(403, Localized("Stopped for your security", "已拦截以保护您的账户"), { p in
                let because = RiskReason.named(p.text("risk_reason")).explanation
                return Localized("This request was stopped to protect you because \(because.en). Nothing was taken from your balance.",
                                 "为保护您的资金安全，由于\(because.zh)，本次请求已被拦截，余额未被扣除。")
            }, { _ in [Localized("If you made this request, contact support and quote the request id; retrying will not help.",
                                 "如确为本人操作，请联系客服并提供请求编号；重复尝试不会成功。"),
                       Localized("If you did not, change your password and freeze your account at once.",
                                 "如非本人操作，请立即修改密码并冻结账户。")] })
        case .riskReview:
            return e(423, Localized("Under security review", "安全审核中"), { p in
                let because = RiskReason.named(p.text("risk_reason")).explanation
                return Localized("This is being checked by our security team because \(because.en); it will be decided by \(p.text("review_until")).",
                                 "由于\(because.zh)，该请求正在接受安全审核，将在 \(p.text("review_until")) 前完成。")
            }, { _ in [Localized("You do not need to do anything: you will be told the result either way.",
                                 "您无需任何操作，审核结果都会通知您。"),
                       contactSupport] })
        case .riskRulesInvalid:
            return e(422, Localized("Risk rules refused", "风控规则未通过校验"), { p in
                Localized("The rules file was refused at line \(p.text("line")): \(p.text("reason")). The rules in force did not change.",
                          "规则文件第 \(p.text("line")) 行未通过校验：\(p.text("reason"))。当前生效的规则保持不变。")
            }, { _ in [Localized("Correct the file and load it again; see docs/RISK.md for the rule language.",
                                 "请修正文件后重新加载；规则语言说明见 docs/RISK.md。")] })
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
        case .alertNotFound:
            return e(404, Localized("Alert not found", "告警不存在"), { p in
                Localized("There is no operator alert \(p.text("alert_id")).", "不存在编号为 \(p.text("alert_id")) 的运营告警。")
            }, { _ in [Localized("List the alerts with GET /v1/ops/alerts and use one of their ids.",
                                 "请通过 GET /v1/ops/alerts 查看告警列表，并使用其中的编号。")] })
        case .alertAlreadyResolved:
            return e(409, Localized("Alert already resolved", "告警已处理"), { p in
                Localized("The alert \(p.text("alert_id")) was already resolved by \(p.text("resolved_by")) at \(p.text("resolved_at")); nothing was changed.",
                          "告警 \(p.text("alert_id")) 已由 \(p.text("resolved_by")) 于 \(p.text("resolved_at")) 处理，本次未做任何更改。")
            }, { _ in [Localized("Read the alert's note to see what was done.", "请查看该告警的处理说明，了解已采取的措施。")] })
        case .reconciliationNotFound:
            return e(404, Localized("Reconciliation not found", "对账记录不存在"), { p in
                Localized("There is no reconciliation run \(p.text("reconciliation_id")).",
                          "不存在编号为 \(p.text("reconciliation_id")) 的对账记录。")
            }, { _ in [Localized("Start one with POST /v1/ops/reconciliations and use the id it returns.",
                                 "请通过 POST /v1/ops/reconciliations 发起对账，并使用返回的编号。")] })
        case .bankAccountNotFound:
            return e(404, Localized("Bank account not found", "银行账户不存在"), { p in
                Localized("You have no saved bank account \(p.text("bank_account_id")); it may have been removed.",
                          "您没有编号为 \(p.text("bank_account_id")) 的已保存银行账户，该账户可能已被删除。")
            }, { _ in [Localized("List your bank accounts with GET /v1/bank-accounts, or add one with POST /v1/bank-accounts.",
                                 "请通过 GET /v1/bank-accounts 查看已保存的银行账户，或通过 POST /v1/bank-accounts 添加。")] })
        case .bankAccountLimitReached:
            return e(422, Localized("Too many bank accounts", "银行账户数量已达上限"), { p in
                Localized("You already have \(p.text("limit")) saved bank accounts, the most one wallet may hold.",
                          "您已保存 \(p.text("limit")) 个银行账户，已达每个钱包的上限。")
            }, { _ in [Localized("Remove one you no longer use (DELETE /v1/bank-accounts/{id}), then add the new one.",
                                 "请先删除不再使用的银行账户（DELETE /v1/bank-accounts/{id}），再添加新账户。")] })
        case .riskReviewNotFound:
            return e(404, Localized("Review not found", "审核项不存在"), { _ in
                Localized("No item in the risk review queue has this id.", "风控审核队列中没有该编号的审核项。")
            }, { _ in [Localized("List the queue with GET /v1/ops/risk/reviews.", "请通过 GET /v1/ops/risk/reviews 查看审核队列。")] })
        case .riskReviewClosed:
            return e(409, Localized("Review already decided", "审核已完成"), { p in
                Localized("This review is already \(p.text("state")); the held money was settled and cannot be decided again.",
                          "该审核项已处于 \(p.text("state")) 状态；冻结资金已处理，不能再次审核。")
            }, { _ in [Localized("Read the item to see who decided it and when.", "请查看该审核项，了解处理人和处理时间。")] })
        case .riskReviewClaimed:
            return e(409, Localized("Review taken by someone else", "审核项已被他人认领"), { p in
                Localized("Another operator (\(p.text("claimed_by"))) claimed this review.", "其他操作员（\(p.text("claimed_by"))）已认领该审核项。")
            }, { _ in [Localized("Leave it to them, or ask an admin to decide it.", "请交由其处理，或请管理员处理。")] })
        case .riskDecisionNotFound:
            return e(404, Localized("Risk decision not found", "风控决策不存在"), { _ in
                Localized("No risk decision has this id.", "没有该编号的风控决策。")
            }, { _ in [Localized("Use the decision_id from the error or the review item.", "请使用错误信息或审核项中的 decision_id。")] })
        case .riskEntryNotFound:
            return e(404, Localized("Entry not found", "条目不存在"), { _ in
                Localized("No list entry or rule suppression has this id.", "没有该编号的名单条目或规则豁免。")
            }, { _ in [Localized("List them with GET /v1/ops/risk/lists or GET /v1/ops/risk/suppressions.",
                                 "请通过 GET /v1/ops/risk/lists 或 GET /v1/ops/risk/suppressions 查看。")] })
        }
    }

    /// What a step-up was asked for, in words; an unknown reason is shown as it is.
    private static func secondFactorAction(_ reason: String) -> Localized {
        switch reason {
        case "login": Localized("Signing in", "登录")
        case "transfer_amount": Localized("A transfer of this size", "该金额的转账")
        case "new_payee": Localized("A first transfer to this payee", "首次向该收款人转账")
        case "change_password": Localized("Changing the password", "修改密码")
        case "disable_totp": Localized("Turning off two-factor authentication", "关闭两步验证")
        case "unfreeze": Localized("Unfreezing the account", "解冻账户")
        case "add_bank_account": Localized("Adding a withdrawal bank account", "添加提现银行账户")
        case "risk_check": Localized("This request looks unusual for your account, so it", "该请求与您平时的使用习惯不同，因此")
        default: Localized("This action (\(reason))", "此操作（\(reason)）")
        }
    }
}
