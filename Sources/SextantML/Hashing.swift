// SHA-256 through OpenSSL's EVP interface (libcrypto), the data and artifact fingerprint; MD5,
// the hash DVC addresses its objects by.
import CCrypto
import Foundation

public enum SHA256 {
    /// Hex SHA-256 of `bytes`.
    public static func hex(_ bytes: UnsafeRawBufferPointer) throws -> String {
        try digestHex(bytes, EVP_sha256(), name: "sha256")
    }

    static func digestHex(_ bytes: UnsafeRawBufferPointer, _ md: OpaquePointer?, name: String) throws -> String {
        guard let ctx = EVP_MD_CTX_new() else { throw TrainerError.io("\(name): EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestInit_ex(ctx, md, nil) == 1 else { throw TrainerError.io("\(name): init failed") }
        if let base = bytes.baseAddress, bytes.count > 0 {
            guard EVP_DigestUpdate(ctx, base, bytes.count) == 1 else { throw TrainerError.io("\(name): update failed") }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &digest, &length) == 1 else { throw TrainerError.io("\(name): final failed") }
        return digest.prefix(Int(length)).map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }

    public static func hex(_ data: Data) throws -> String {
        try data.withUnsafeBytes { try hex($0) }
    }
}

public enum MD5 {
    /// Hex MD5 of `bytes` (DVC's object address; not used as a security check).
    public static func hex(_ bytes: UnsafeRawBufferPointer) throws -> String {
        try SHA256.digestHex(bytes, EVP_md5(), name: "md5")
    }
}
