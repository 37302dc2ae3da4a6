import CCrypto
import Foundation
import SextantJSON

/// ServiceAccount tokens issued by the TokenRequest subresource: JWTs (`alg: HS256`, signed with
/// a key of this server) carrying kube-apiserver's claims (`sub: system:serviceaccount:NS:NAME`,
/// `kubernetes.io.serviceaccount.{name,uid}`, `exp`). A token is valid while it has not expired
/// and its ServiceAccount still exists with the same uid (deleting the account revokes it).
/// Clients treat tokens as opaque, so the HMAC signature (instead of the real server's RSA) is
/// invisible to them.
struct ServiceAccountTokens: Sendable {
    let key: [UInt8]
    static let issuer = "https://kubernetes.default.svc.cluster.local"

    init(key: [UInt8]) { self.key = key }

    /// A key kept in `directory` (so tokens survive a restart with the same `--data-dir`), else a new one.
    static func load(directory: String?) -> ServiceAccountTokens {
        var fresh = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for i in fresh.indices { fresh[i] = UInt8.random(in: 0...255, using: &generator) }
        guard let directory else { return ServiceAccountTokens(key: fresh) }
        let file = URL(fileURLWithPath: directory).appendingPathComponent("serviceaccount-signing.key")
        if let data = FileManager.default.contents(atPath: file.path), data.count == 32 { return ServiceAccountTokens(key: Array(data)) }
        try? Data(fresh).write(to: file, options: .atomic)
        return ServiceAccountTokens(key: fresh)
    }

    struct Claims: Equatable {
        var namespace: String
        var name: String
        var uid: String
        var expires: Int64
        var audiences: [String]
    }

    func issue(_ claims: Claims, now: Int64) -> String {
        let header: JSONValue = ["alg": "HS256", "typ": "JWT"]
        let payload: JSONValue = [
            "aud": .array(claims.audiences.map(JSONValue.string)), "exp": .int(claims.expires), "iat": .int(now), "nbf": .int(now),
            "iss": .string(Self.issuer), "sub": .string("system:serviceaccount:\(claims.namespace):\(claims.name)"),
            "kubernetes.io": ["namespace": .string(claims.namespace),
                              "serviceaccount": ["name": .string(claims.name), "uid": .string(claims.uid)]],
        ]
        let signed = Self.base64URL(header.serialized(sortedKeys: true)) + "." + Self.base64URL(payload.serialized(sortedKeys: true))
        return signed + "." + Self.base64URL(hmac(Array(signed.utf8)))
    }

    /// The claims of a token this server signed, or nil (another issuer, a bad signature, expired).
    func verify(_ token: String, now: Int64) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = Self.decodeBase64URL(parts[2]),
              Self.constantTimeEqual(signature, hmac(Array("\(parts[0]).\(parts[1])".utf8))),
              let payloadBytes = Self.decodeBase64URL(parts[1]), let payload = try? JSONValue.parse(payloadBytes),
              payload["iss"]?.stringValue == Self.issuer,
              let expires = payload["exp"]?.intValue, expires > now,
              let namespace = payload[path: ["kubernetes.io", "namespace"]]?.stringValue,
              let name = payload[path: ["kubernetes.io", "serviceaccount", "name"]]?.stringValue,
              let uid = payload[path: ["kubernetes.io", "serviceaccount", "uid"]]?.stringValue else { return nil }
        return Claims(namespace: namespace, name: name, uid: uid, expires: expires,
                      audiences: payload["aud"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    func hmac(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, o.baseAddress, &length)
                }
            }
        }
        return Array(out.prefix(Int(length)))
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }
}
