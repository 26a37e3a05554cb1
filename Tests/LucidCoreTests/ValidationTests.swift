import LucidCore
import Testing

@Suite("Validation of customer input")
struct ValidationTests {
    @Test("amounts must be positive and at most the named maximum", arguments: [Int64(0), -1, .min, InputLimits.amountMax + 1, .max])
    func badAmounts(amount: Int64) {
        #expect(throws: LucidError.self) { try Validate.amount(amount) }
        do { _ = try Validate.amount(amount) } catch { #expect(error.code == .invalidAmount) }
    }

    @Test("good amounts pass unchanged", arguments: [Int64(1), 1250, InputLimits.amountMax])
    func goodAmounts(amount: Int64) throws {
        #expect(try Validate.amount(amount) == amount)
    }

    @Test("text longer than its limit is string_too_long; blank and control characters are invalid")
    func text() throws {
        #expect(try Validate.text("lunch", field: "memo", max: 140) == "lunch")
        do { _ = try Validate.text(String(repeating: "好", count: 141), field: "memo", max: 140); Issue.record("too long passed") }
        catch { #expect(error.code == .stringTooLong && error.params["max_length"] == .int(140)) }
        do { _ = try Validate.text("   ", field: "display_name", max: 64); Issue.record("blank passed") }
        catch { #expect(error.code == .invalidField) }
        do { _ = try Validate.text("a\u{0}b", field: "memo", max: 140); Issue.record("NUL passed") }
        catch { #expect(error.code == .invalidField) }
        #expect(try Validate.text("", field: "memo", max: 140, allowEmpty: true) == "")
    }

    @Test("e-mail addresses are checked and lower-cased", arguments: [
        ("Carol@Example.COM", "carol@example.com"), ("a.b+c@mail.example.cn", "a.b+c@mail.example.cn"),
    ])
    func goodEmail(input: String, normalized: String) throws {
        #expect(try Validate.email(input) == normalized)
    }

    @Test("malformed e-mail addresses are refused", arguments: ["", "carol", "carol@", "@example.com", "carol@example", "ca rol@example.com", "a@b@c.com", "carol@.com"])
    func badEmail(input: String) {
        #expect(throws: LucidError.self) { try Validate.email(input) }
    }

    @Test("phones: optional +, 6–15 digits, spaces and dashes removed")
    func phone() throws {
        #expect(try Validate.phone("+86 138-0013-8000") == "+8613800138000")
        #expect(throws: LucidError.self) { try Validate.phone("12345") }
        #expect(throws: LucidError.self) { try Validate.phone("+86 138 abc 8000") }
        #expect(throws: LucidError.self) { try Validate.phone("١٢٣٤٥٦٧٨") } // non-ASCII digits
    }

    @Test("countries are two ASCII letters, upper-cased")
    func country() throws {
        #expect(try Validate.country("cn") == "CN")
        #expect(throws: LucidError.self) { try Validate.country("CHN") }
        #expect(throws: LucidError.self) { try Validate.country("C1") }
    }

    @Test("idempotency keys: present, 1–128 printable ASCII, no surrounding spaces")
    func idempotencyKey() throws {
        #expect(try Validate.idempotencyKey("lunch-1") == "lunch-1")
        #expect(try Validate.idempotencyKey(String(repeating: "k", count: 128)).count == 128)
        do { _ = try Validate.idempotencyKey(nil); Issue.record("missing key passed") }
        catch { #expect(error.code == .idempotencyKeyMissing) }
        for bad in ["", String(repeating: "k", count: 129), "ключ", "tab\tkey", " lead", "trail "] {
            do { _ = try Validate.idempotencyKey(bad); Issue.record("bad key \(bad) passed") }
            catch { #expect(error.code == .idempotencyKeyInvalid) }
        }
    }

    @Test("page sizes default to 20 and are capped at the named maximum")
    func pageSize() throws {
        #expect(try Validate.pageSize(nil) == InputLimits.pageSizeDefault)
        #expect(try Validate.pageSize(InputLimits.pageSizeMax) == InputLimits.pageSizeMax)
        #expect(throws: LucidError.self) { try Validate.pageSize(0) }
        #expect(throws: LucidError.self) { try Validate.pageSize(InputLimits.pageSizeMax + 1) }
    }

    @Test("masking keeps enough to recognise, not enough to harvest")
    func masking() {
        #expect(Mask.name("张三丰") == "*三丰")
        #expect(Mask.name("Alice Zhang") == "A**** Z****")
        #expect(Mask.email("alice@example.com") == "a***@example.com")
        #expect(Mask.phone("+8613800138000") == "+86*******8000")
        #expect(Mask.phone("12345") == "****")
    }
}

@Suite("Password length at the edge")
struct PasswordLengthTests {
    @Test("Validate.password names the reason and keeps the length params")
    func reasons() throws {
        #expect(try Validate.password("12345678") == "12345678")
        do { _ = try Validate.password("short"); Issue.record("short passed") } catch {
            #expect(error.params["reason"] == .text("too_short") && error.params["min_length"] == .int(8))
        }
        do { _ = try Validate.password(String(repeating: "x", count: InputLimits.passwordLengthMax + 1)); Issue.record("long passed") } catch {
            #expect(error.params["reason"] == .text("too_long") && error.params["max_length"] == .int(256))
        }
        #expect(InputLimits.passwordLengthMax >= 64, "NIST SP 800-63B: allow at least 64 characters")
    }
}
