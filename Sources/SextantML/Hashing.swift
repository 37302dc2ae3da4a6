// SHA-256 through OpenSSL's EVP interface (libcrypto), the data and artifact fingerprint.
import CCrypto
import Foundation

public enum SHA256 {
    /// Hex SHA-256 of `bytes`.
    public static func hex(_ bytes: UnsafeRawBufferPointer) throws -> String {
        guard let ctx = EVP_MD_CTX_new() else { throw TrainerError.io("sha256: EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { throw TrainerError.io("sha256: init failed") }
        if let base = bytes.baseAddress, bytes.count > 0 {
            guard EVP_DigestUpdate(ctx, base, bytes.count) == 1 else { throw TrainerError.io("sha256: update failed") }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &digest, &length) == 1 else { throw TrainerError.io("sha256: final failed") }
        return digest.prefix(Int(length)).map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }

    public static func hex(_ data: Data) throws -> String {
        try data.withUnsafeBytes { try hex($0) }
    }
}
