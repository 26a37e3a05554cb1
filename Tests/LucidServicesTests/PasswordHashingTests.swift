import HummingbirdBcrypt
import LucidCore
@testable import LucidServices
import Testing

@Suite("Password hashing")
struct PasswordHashingTests {
    /// Low cost through a parameter; the production default is never changed for tests.
    let hasher = ScryptPasswordHasher(parameters: .lowCostForTests)

    @Test("the production default is scrypt N = 2^16, r = 8, p = 1 (issue 4: N ≥ 2^15, r = 8)")
    func productionDefault() {
        #expect(ScryptPasswordHasher().parameters == .production)
        #expect(ScryptPasswordHasher.Parameters.production.log2Cost >= 15)
        #expect(ScryptPasswordHasher.Parameters.production.blockSize == 8)
    }

    @Test("RFC 7914 §12 vector: the KDF is called with the right parameters")
    func rfc7914() {
        let key = ScryptPasswordHasher.derive(password: "password", salt: Array("NaCl".utf8),
                                              parameters: .init(log2Cost: 10, blockSize: 8, parallelism: 16), byteCount: 64)
        #expect(key.map { SecretBytes.hex($0) } == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                + "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }

    @Test("hashes are PHC strings with their parameters, a 16-byte salt and a 32-byte key")
    func format() throws {
        let hash = hasher.hash("correct horse battery")
        #expect(hash.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        let parts = hash.split(separator: "$")
        #expect(parts.count == 4 && parts[2].count == 22 && parts[3].count == 43, "unpadded base64 of 16 and 32 bytes")
        let stored = try #require(ScryptPasswordHasher.parse(hash))
        #expect(stored.salt.count == 16 && stored.key.count == 32)
        #expect(hasher.hash("correct horse battery") != hash, "a fresh salt every time")
    }

    @Test("verify accepts the password and nothing else")
    func verify() {
        let hash = hasher.hash("correct horse battery")
        #expect(hasher.verify("correct horse battery", against: hash))
        for wrong in ["correct horse batter", "Correct horse battery", "correct horse battery ", ""] {
            #expect(!hasher.verify(wrong, against: hash))
        }
        #expect(ScryptPasswordHasher().verify("correct horse battery", against: hash),
                "parameters come from the hash, not from the hasher")
    }

    @Test("NFKC: the same password typed full-width or decomposed verifies")
    func normalization() {
        let hash = hasher.hash("café passphrase 123")
        #expect(hasher.verify("cafe\u{301} passphrase 123", against: hash))
        #expect(hasher.verify("ｃａｆé　ｐａｓｓｐｈｒａｓｅ　１２３", against: hash))
    }

    @Test("needsRehash: weaker parameters and other algorithms yes; equal or stronger no")
    func needsRehash() {
        let hash = hasher.hash("correct horse battery")
        #expect(!hasher.needsRehash(hash))
        let stronger = ScryptPasswordHasher(parameters: .init(log2Cost: 5, blockSize: 8, parallelism: 1))
        #expect(stronger.needsRehash(hash))
        #expect(!hasher.needsRehash(stronger.hash("correct horse battery")), "never downgrade")
        #expect(ScryptPasswordHasher(parameters: .init(log2Cost: 4, blockSize: 8, parallelism: 2)).needsRehash(hash))
        #expect(hasher.needsRehash(Bcrypt.hash("correct horse battery", cost: 4)))
        #expect(hasher.needsRehash("garbage"))
        // A shorter salt or key than new hashes get.
        let salt8 = "$scrypt$ln=4,r=8,p=1$\(ScryptPasswordHasher.phcBase64(Array(repeating: 1, count: 8)))$"
            + ScryptPasswordHasher.phcBase64(Array(repeating: 2, count: 32))
        #expect(ScryptPasswordHasher.parse(salt8) != nil && hasher.needsRehash(salt8))
    }

    @Test("existing bcrypt hashes ($2a$, $2b$, $2y$) still verify, so old customers can sign in")
    func bcrypt() {
        let hash = Bcrypt.hash("correct horse battery", cost: 4)
        #expect(hash.hasPrefix("$2b$04$"))
        for variant in ["$2a$", "$2b$", "$2y$"] {
            let legacy = variant + hash.dropFirst(4)
            #expect(hasher.verify("correct horse battery", against: legacy), "\(variant)")
            #expect(!hasher.verify("wrong horse battery", against: legacy), "\(variant)")
        }
        // The existing hasher keeps working and knows its own cost.
        let bcrypt = BcryptPasswordHasher(cost: 4)
        #expect(bcrypt.verify("correct horse battery", against: hash))
        #expect(!bcrypt.needsRehash(hash))
        #expect(BcryptPasswordHasher(cost: 5).needsRehash(hash))
        #expect(bcrypt.needsRehash(hasher.hash("correct horse battery")))
        #expect(!bcrypt.verify("correct horse battery", against: hasher.hash("correct horse battery")))
    }

    @Test("malformed or hostile hash strings never verify and never allocate wildly", arguments: [
        "", "$scrypt$", "$scrypt$ln=4,r=8,p=1$", "$scrypt$ln=4,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=24,r=64,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=-4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$!!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "$2b$04$short", "$2x$04$" + String(repeating: "a", count: 53),
    ])
    func malformed(hash: String) {
        #expect(!hasher.verify("correct horse battery", against: hash))
        #expect(hasher.needsRehash(hash))
    }
}
