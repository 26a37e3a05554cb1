import LucidCore
import LucidServices
import PropertyBased
import Testing

/// The shared secret of the RFC 4226 and RFC 6238 test vectors.
let rfcSecret = Array("12345678901234567890".utf8)

func at(seconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: seconds * 1000) }

@Suite("HOTP and TOTP")
struct TOTPTests {
    @Test("RFC 4226 appendix D: HOTP for counters 0–9", arguments: zip(0..<10, [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
    ]))
    func hotpVectors(counter: Int, code: String) {
        #expect(HOTP.code(secret: rfcSecret, counter: UInt64(counter)) == code)
    }

    @Test("RFC 6238 appendix B: SHA-1, 8 digits", arguments: [
        (Int64(59), "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
    ])
    func totpVectors(seconds: Int64, code: String) {
        #expect(TOTP.generate(secret: rfcSecret, at: at(seconds: seconds), digits: 8) == code)
        #expect(TOTP.verify(code: code, secret: rfcSecret, at: at(seconds: seconds), lastUsedStep: nil, digits: 8)
                == seconds / 30)
    }

    @Test("six digits are the last six of the eight-digit value; time steps are 30 s, floored")
    func sixDigits() {
        #expect(TOTP.generate(secret: rfcSecret, at: at(seconds: 59)) == "287082")
        #expect(TOTP.timeStep(at: Timestamp(millisecondsSinceEpoch: 29_999)) == 0)
        #expect(TOTP.timeStep(at: at(seconds: 30)) == 1)
        #expect(TOTP.timeStep(at: Timestamp(millisecondsSinceEpoch: -1)) == -1)
    }

    @Test("one step either side is accepted, two are not")
    func drift() {
        let now = at(seconds: 1_795_000_005)
        let step = TOTP.timeStep(at: now)
        for offset: Int64 in [-1, 0, 1] {
            let code = TOTP.generate(secret: rfcSecret, at: at(seconds: (step + offset) * 30))
            #expect(TOTP.verify(code: code, secret: rfcSecret, at: now, lastUsedStep: nil) == step + offset)
        }
        for offset: Int64 in [-2, 2] {
            let code = TOTP.generate(secret: rfcSecret, at: at(seconds: (step + offset) * 30))
            #expect(TOTP.verify(code: code, secret: rfcSecret, at: now, lastUsedStep: nil) == nil)
        }
    }

    @Test("a code is accepted once: replay in its window, and codes of earlier steps, are refused")
    func replay() {
        let clock = ManualClock(at(seconds: 1_795_000_005))
        let code = TOTP.generate(secret: rfcSecret, at: clock.now())
        guard let used = TOTP.verify(code: code, secret: rfcSecret, at: clock.now(), lastUsedStep: nil) else {
            Issue.record("the current code was refused"); return
        }
        #expect(TOTP.verify(code: code, secret: rfcSecret, at: clock.now(), lastUsedStep: used) == nil)
        clock.advance(seconds: 30) // the code is still inside ±1 step, but used
        #expect(TOTP.verify(code: code, secret: rfcSecret, at: clock.now(), lastUsedStep: used) == nil)
        // Once a later code was used, the earlier step's code no longer works either.
        let earlier = TOTP.generate(secret: rfcSecret, at: clock.now().adding(seconds: -30))
        let later = TOTP.generate(secret: rfcSecret, at: clock.now())
        let laterStep = TOTP.verify(code: later, secret: rfcSecret, at: clock.now(), lastUsedStep: used)
        #expect(laterStep == used + 1)
        #expect(TOTP.verify(code: earlier, secret: rfcSecret, at: clock.now(), lastUsedStep: laterStep) == nil)
        // The next step's code is still good.
        let next = TOTP.generate(secret: rfcSecret, at: clock.now().adding(seconds: 30))
        #expect(TOTP.verify(code: next, secret: rfcSecret, at: clock.now(), lastUsedStep: laterStep) == used + 2)
    }

    @Test("anything but exactly six ASCII digits is refused", arguments: [
        "", "28708", "2870822", "28708a", " 287082", "287082 ", "287 082", "+87082", "-87082",
        "２８７０８２", "٢٨٧٠٨٢", "287082\n", "0x1234", "28708²",
    ])
    func malformed(code: String) {
        #expect(TOTP.verify(code: code, secret: rfcSecret, at: at(seconds: 59), lastUsedStep: nil) == nil)
    }

    @Test("secrets are 20 bytes from the injected generator")
    func secrets() {
        var first = SeededRandom(seed: 1)
        var again = SeededRandom(seed: 1)
        var other = SeededRandom(seed: 2)
        let secret = TOTP.makeSecret(using: &first)
        #expect(secret.count == 20)
        #expect(secret == TOTP.makeSecret(using: &again))
        #expect(secret != TOTP.makeSecret(using: &other))
        #expect(secret != TOTP.makeSecret(using: &first))
    }

    @Test("the provisioning URI is what authenticator apps expect, percent-encoded")
    func provisioningURI() {
        #expect(TOTP.provisioningURI(secret: rfcSecret, accountName: "alice@example.com")
                == "otpauth://totp/Lucid%20Wallet:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                + "&issuer=Lucid%20Wallet&algorithm=SHA1&digits=6&period=30")
        let odd = TOTP.provisioningURI(secret: rfcSecret, accountName: "王 a:b&c=d?#/", issuer: "Lucid+Test")
        #expect(odd.hasPrefix("otpauth://totp/Lucid%2BTest:%E7%8E%8B%20a%3Ab%26c%3Dd%3F%23%2F?secret="))
        #expect(odd.hasSuffix("&issuer=Lucid%2BTest&algorithm=SHA1&digits=6&period=30"))
    }
}

@Suite("Base32 (RFC 4648)")
struct Base32Tests {
    @Test("RFC 4648 §10 vectors, with and without padding", arguments: [
        ("", "", ""), ("f", "MY======", "MY"), ("fo", "MZXQ====", "MZXQ"), ("foo", "MZXW6===", "MZXW6"),
        ("foob", "MZXW6YQ=", "MZXW6YQ"), ("fooba", "MZXW6YTB", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======", "MZXW6YTBOI"),
    ])
    func vectors(plain: String, padded: String, bare: String) {
        let bytes = Array(plain.utf8)
        #expect(Base32.encode(bytes, padding: true) == padded)
        #expect(Base32.encode(bytes) == bare)
        #expect(Base32.decode(padded) == bytes)
        #expect(Base32.decode(bare) == bytes)
        #expect(Base32.decode(bare.lowercased()) == bytes)
    }

    @Test("non-canonical or foreign text is refused", arguments: [
        "M", "MZX", "MZXW6Y", "MZ", "MY=", "MY======MY", "MZXW6YQ==", "========", "MZ XW", "MZ1W", "MZ8W", "MZXW6YQ=\n", "ＭＹ",
    ])
    func invalid(text: String) {
        #expect(Base32.decode(text) == nil)
    }

    @Test("any bytes round-trip, padded or not, in either case")
    func roundTrip() async {
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...64)) { bytes in
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
            #expect(Base32.decode(Base32.encode(bytes, padding: true)) == bytes)
            #expect(Base32.decode(Base32.encode(bytes).lowercased()) == bytes)
            #expect(Base32.encode(bytes, padding: true).count % 8 == 0)
        }
    }
}
