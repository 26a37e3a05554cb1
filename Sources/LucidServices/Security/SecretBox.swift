import Crypto
import Foundation

/// Seals secrets the service must read back (TOTP secrets, one-time codes
/// waiting in the outbox) with AES-256-GCM, so a copy of the database alone
/// does not reveal them. Hashes are used instead wherever the value never
/// needs to be read back (passwords, tokens, recovery codes).
///
/// The key comes from `LUCID_SECRET_KEY` (base64 of 32 bytes) or a key file
/// (created with mode 0600 on first start). Every process serving one
/// database must use the same key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey
    public static let keyByteCount = 32

    public init(key bytes: [UInt8]) {
        precondition(bytes.count == Self.keyByteCount, "a SecretBox key is 32 bytes")
        key = SymmetricKey(data: bytes)
    }

    public struct KeyError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The key from `LUCID_SECRET_KEY`, else from `path` (made when missing).
    public static func load(environment: [String: String], path: String) throws -> SecretBox {
        if let text = environment["LUCID_SECRET_KEY"], !text.isEmpty {
            guard let data = Data(base64Encoded: text), data.count == keyByteCount else {
                throw KeyError(description: "LUCID_SECRET_KEY must be the base64 of \(keyByteCount) random bytes")
            }
            return SecretBox(key: [UInt8](data))
        }
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == keyByteCount else {
                throw KeyError(description: "\(path) must hold exactly \(keyByteCount) bytes")
            }
            return SecretBox(key: [UInt8](data))
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { [UInt8]($0) }
        guard FileManager.default.createFile(atPath: path, contents: Data(fresh), attributes: [.posixPermissions: 0o600]) else {
            throw KeyError(description: "cannot create the secret key file \(path)")
        }
        return SecretBox(key: fresh)
    }

    public func seal(_ plaintext: [UInt8]) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw KeyError(description: "sealing failed")
        }
        return [UInt8](combined)
    }

    public func open(_ sealed: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key))
    }
}
