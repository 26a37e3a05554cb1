import Foundation
import LucidCore
import LucidServices
import Testing

@Suite("Recovery codes")
struct RecoveryCodeTests {
    @Test("ten distinct codes in groups like ab3d-9kfz-2q, at least 50 bits each, from the injected generator")
    func generate() {
        var generator = SeededRandom(seed: 42)
        let codes = RecoveryCodes.generate(using: &generator)
        #expect(codes.count == 10 && Set(codes).count == 10)
        let allowed = Set("0123456789abcdefghjkmnpqrstvwxyz")
        for code in codes {
            let groups = code.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.map(\.count) == [4, 4, 2], "\(code)")
            #expect(groups.joined().allSatisfy { allowed.contains($0) }, "\(code)")
        }
        #expect(Double(RecoveryCodes.characterCount) * log2(Double(allowed.count)) >= 50)
        var again = SeededRandom(seed: 42)
        #expect(RecoveryCodes.generate(using: &again) == codes)
    }

    @Test("input is forgiving about case, spaces, dashes and look-alikes", arguments: [
        "ab3d-9kfz-2q", "AB3D-9KFZ-2Q", "ab3d9kfz2q", " ab3d 9kfz 2q ", "ab-3d-9k-fz-2q", "AB3D\t9KFZ\t2Q",
    ])
    func normalize(input: String) {
        #expect(RecoveryCodes.normalize(input) == "ab3d9kfz2q")
    }

    @Test("o reads as 0, i and l as 1")
    func lookAlikes() {
        #expect(RecoveryCodes.normalize("0o1i-l000-11") == "0011100011")
    }

    @Test("what cannot be a code is refused", arguments: [
        "", "ab3d-9kfz-2", "ab3d-9kfz-2qq", "ab3d-9kfz-2u", "ab3d-9kfz-2!", "ａｂ３ｄ９ｋｆｚ２ｑ", String(repeating: "-", count: 70) + "ab3d9kfz2q",
    ])
    func invalid(input: String) {
        #expect(RecoveryCodes.normalize(input) == nil)
    }

    @Test("only salted SHA-256 hex is stored; match finds the index to burn, once")
    func match() throws {
        var generator = SeededRandom(seed: 7)
        let codes = RecoveryCodes.generate(using: &generator)
        let user = "0190f0e0-0000-7000-8000-000000000001"
        var hashes = try codes.map { try #require(RecoveryCodes.hash($0, salt: user)) }
        #expect(hashes.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
        #expect(!hashes.contains { hash in codes.contains { hash.contains($0) } })
        let typed = codes[3].uppercased().replacingOccurrences(of: "-", with: " ")
        #expect(RecoveryCodes.match(typed, against: hashes, salt: user) == 3)
        hashes[3] = "" // burned
        #expect(RecoveryCodes.match(typed, against: hashes, salt: user) == nil)
        #expect(RecoveryCodes.match(codes[4], against: hashes, salt: user) == 4)
        #expect(RecoveryCodes.match(codes[4], against: hashes, salt: "another user") == nil, "the salt binds codes to a user")
        #expect(RecoveryCodes.match("not a code", against: hashes, salt: user) == nil)
        #expect(RecoveryCodes.match(codes[0], against: [], salt: user) == nil)
    }
}

@Suite("One-time tokens")
struct OneTimeTokenTests {
    @Test("a reset token is prefixed, URL-safe, 256 random bits, stored only as SHA-256, and lives 15 minutes")
    func issue() throws {
        let clock = ManualClock()
        var generator = SeededRandom(seed: 3)
        let issued = OneTimeToken.issue(at: clock.now(), using: &generator)
        #expect(issued.token.hasPrefix("lrt_") && issued.token.count == 4 + 43)
        #expect(issued.token.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        #expect(issued.hash.count == 64 && !issued.hash.contains(issued.token))
        #expect(try OneTimeToken.lookupHash(for: issued.token) == issued.hash)
        #expect(OneTimeToken.lifetimeSecondsDefault == 900)
        #expect(issued.expiresAt == clock.now().adding(seconds: 900))
        var other = SeededRandom(seed: 4)
        #expect(OneTimeToken.issue(at: clock.now(), using: &other).token != issued.token)
    }

    @Test("usable until it expires or is used, then reset_token_invalid")
    func expiry() throws {
        let clock = ManualClock()
        var generator = SeededRandom(seed: 5)
        let issued = OneTimeToken.issue(at: clock.now(), lifetimeSeconds: 60, using: &generator)
        clock.advance(seconds: 59)
        #expect(OneTimeToken.isUsable(expiresAt: issued.expiresAt, usedAt: nil, now: clock.now()))
        #expect(!OneTimeToken.isUsable(expiresAt: issued.expiresAt, usedAt: clock.now(), now: clock.now()), "single use")
        clock.advance(seconds: 1)
        #expect(!OneTimeToken.isUsable(expiresAt: issued.expiresAt, usedAt: nil, now: clock.now()))
        do {
            try OneTimeToken.checkUsable(expiresAt: issued.expiresAt, usedAt: nil, now: clock.now())
            Issue.record("an expired token was usable")
        } catch {
            #expect(error.code == .resetTokenInvalid)
        }
    }

    @Test("forged shapes are refused before any lookup, with the same error", arguments: [
        "", "lrt_", "lcs_abcdef", "abcdef", "lrt_abc def", "lrt_abc+def", "lrt_abc=", "lrt_" + String(repeating: "a", count: 125), "lrt_ü",
    ])
    func forged(token: String) {
        #expect(throws: LucidError(.resetTokenInvalid)) { try OneTimeToken.lookupHash(for: token) }
    }
}
