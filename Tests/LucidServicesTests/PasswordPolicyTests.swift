import LucidCore
import LucidServices
import Testing

@Suite("Password policy")
struct PasswordPolicyTests {
    let policy = PasswordPolicy()
    let carol = PasswordPolicy.Context(email: "carol.wang@example.com", phone: "+86 138-0013-8000", displayName: "Carol Wang")

    func reason(_ password: String, _ context: PasswordPolicy.Context = .init()) -> String? {
        do {
            _ = try policy.check(password, context: context)
            return nil
        } catch {
            #expect(error.code == .passwordTooWeak)
            #expect(error.params["min_length"] == .int(8) && error.params["max_length"] == .int(256))
            guard case .text(let reason) = error.params["reason"] else { return "no reason" }
            return reason
        }
    }

    @Test("the bundled list has at least 10,000 entries and the usual suspects")
    func bundledList() {
        let list = CommonPasswords.bundled
        #expect(list.count >= 10_000)
        for common in ["password", "123456", "qwerty", "iloveyou", "PassWord"] {
            #expect(list.contains(common), "\(common)")
        }
        #expect(!list.contains("correct horse battery staple purple"))
        #expect(!list.contains("# the 30,000 most common passwords, most common first, lower-cased, one per line."),
                "the header is not a password")
    }

    @Test("good passphrases pass, in any script, and come back normalized")
    func accepted() throws {
        #expect(try policy.check("correct horse battery", context: carol) == "correct horse battery")
        #expect(try policy.check("我的钱包密码很长很安全") == "我的钱包密码很长很安全")
        #expect(try policy.check("ｍｙ　ｓｅｃｒｅｔ　ｐｈｒａｓｅ") == "my secret phrase")
        #expect(try policy.check("no rules: only lower case") == "no rules: only lower case")
        #expect(try policy.check("8 chars!") == "8 chars!")
    }

    @Test("too short: fewer than 8 code points after NFKC (a decomposed é counts once)")
    func tooShort() {
        #expect(reason("") == "too_short")
        #expect(reason("7 chars") == "too_short")
        #expect(reason(String(repeating: "e\u{301}", count: 4) + "abc") == "too_short", "14 scalars typed, 7 after NFKC")
        #expect(reason(String(repeating: "e\u{301}", count: 4) + "abcd") == nil)
    }

    @Test("too long: more than 256 code points, or absurd input before any work")
    func tooLong() {
        let words = "river stone cloud lamp "
        let exactly256 = String(String(repeating: words, count: 12).prefix(256))
        #expect(exactly256.unicodeScalars.count == 256 && reason(exactly256) == nil)
        #expect(reason(exactly256 + "x") == "too_long")
        #expect(reason(String(repeating: "长", count: 257)) == "too_long")
        #expect(reason(String(repeating: "a😀", count: 5_000)) == "too_long")
        // NFKC can expand: one "ﷺ" becomes 18 code points; 15 of them exceed the cap.
        #expect(reason(String(repeating: "\u{FDFA}", count: 15)) == "too_long")
    }

    @Test("common passwords are refused whatever the case or width", arguments: [
        "password", "Password", "PASSWORD", "ｐａｓｓｗｏｒｄ", "12345678", "qwertyuiop", "iloveyou", "aaaaaaaaaa", "........",
    ])
    func common(password: String) {
        #expect(reason(password) == "common")
    }

    @Test("passwords containing the e-mail name, phone or display name are refused", arguments: [
        "carolwang rules!", "Carol.Wang-1990", "my name is carol ok", "wang family 2024", "call 13800138000 now",
        "+8613800138000x", "ｃａｒｏｌ ｗａｎｇ forever",
    ])
    func personal(password: String) {
        #expect(reason(password, carol) == "contains_personal_data")
    }

    @Test("Chinese names count whole; short words are ignored")
    func chineseAndShortNames() {
        let context = PasswordPolicy.Context(email: "li@example.com", displayName: "王小明")
        #expect(reason("王小明的钱包密码", context) == "contains_personal_data")
        #expect(reason("小明的钱包很安全", context) == nil, "a two-character part alone is not refused")
        #expect(reason("lizards sing loudly", context) == nil, "\"li\" is too short to refuse")
    }

    @Test("a small injected list works the same way (case-insensitive)")
    func injectedList() {
        let small = PasswordPolicy(commonPasswords: CommonPasswords(["Lucid Wallet 2026"]))
        #expect(throws: LucidError.self) { try small.check("lucid wallet 2026") }
        #expect(throws: Never.self) { try small.check("password") }
    }
}
