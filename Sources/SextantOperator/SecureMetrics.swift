import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import Synchronization
import X509

/// controller-runtime's secure metrics serving: `/metrics` over HTTPS, each request
/// authenticated with a TokenReview and authorized with a SubjectAccessReview
/// (non-resource URL `/metrics`, verb `get`). The health endpoints stay plain HTTP.
public struct SecureMetricsOptions: Sendable {
    /// `--metrics-cert-dir`: a directory holding the certificate chain and key (e.g. a mounted
    /// `kubernetes.io/tls` Secret); changed files are picked up for new connections. nil: a
    /// self-signed certificate made at start (what controller-runtime does without one).
    public var certDirectory: String?
    public var certName = "tls.crt"
    public var keyName = "tls.key"
    /// Who may read `/metrics`. nil: TokenReview and SubjectAccessReview through the manager's
    /// API server, answers cached (`CachingAccessReviewer`).
    public var reviewer: (any AccessReviewer)?

    public init(certDirectory: String? = nil, reviewer: (any AccessReviewer)? = nil) {
        self.certDirectory = certDirectory
        self.reviewer = reviewer
    }
}

/// The serving certificate: from files (reloaded when they change) or self-signed.
final class ServingCertificate: Sendable {
    struct Loaded {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var stamp: String
    }
    private let files: (certificate: String, key: String)?
    private let current: Mutex<Loaded>
    private let lastCheck = Mutex(ContinuousClock.now)
    let description: String

    /// Loads `certificate` and `key`; throws naming the file that is missing or unreadable.
    init(certificateFile: String, keyFile: String) throws {
        files = (certificateFile, keyFile)
        current = Mutex(try Self.load(certificateFile, keyFile))
        description = certificateFile
    }

    /// A self-signed ECDSA P-256 certificate for `localhost` and `hostName`, valid for a year
    /// (controller-runtime makes one for localhost and 127.0.0.1; scrapers of a self-signed
    /// certificate skip verification anyway).
    init(selfSignedFor hostName: String) throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("sextant-controller-metrics") }
        var alternativeNames: [GeneralName] = [.dnsName("localhost")]
        if !hostName.isEmpty, hostName != "localhost" { alternativeNames.append(.dnsName(hostName)) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 365 * 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternativeNames)
            },
            issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        current = Mutex(Loaded(chain: try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)),
                               key: try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem),
                               stamp: ""))
        files = nil
        description = "self-signed"
    }

    /// The server configuration (TLS 1.2 and later, HTTP/1.1 only). With files, every handshake
    /// uses the newest certificate: they are checked at most every 5 seconds.
    func tlsConfiguration(logger: Logger) -> TLSConfiguration {
        let loaded = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: loaded.chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(loaded.key))
        configuration.minimumTLSVersion = .tlsv12
        if files != nil {
            configuration.sslContextCallback = { [self] _, promise in
                let loaded = refreshed(logger: logger)
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = loaded.chain.map { .certificate($0) }
                override.privateKey = .privateKey(loaded.key)
                promise.succeed(override)
            }
        }
        return configuration
    }

    /// The current pair, reloaded first when the files changed; a broken new pair keeps the old one.
    func refreshed(logger: Logger, now: ContinuousClock.Instant = .now) -> Loaded {
        guard let files else { return current.withLock { $0 } }
        let due = lastCheck.withLock { last -> Bool in
            guard now - last >= .seconds(5) else { return false }
            last = now
            return true
        }
        let loaded = current.withLock { $0 }
        guard due, Self.stamp(files: files.certificate, files.key) != loaded.stamp else { return loaded }
        do {
            let fresh = try Self.load(files.certificate, files.key)
            current.withLock { $0 = fresh }
            logger.info("metrics serving certificate reloaded", metadata: ["file": "\(files.certificate)"])
            return fresh
        } catch {
            logger.warning("metrics serving certificate not reloaded, keeping the previous one",
                           metadata: ["error": "\(error)"])
            return loaded
        }
    }

    static func load(_ certificateFile: String, _ keyFile: String) throws -> Loaded {
        let certificateBytes: Data, keyBytes: Data
        do {
            certificateBytes = try Data(contentsOf: URL(fileURLWithPath: certificateFile))
        } catch {
            throw AccessReviewError("cannot read the metrics certificate \(certificateFile): \(error.localizedDescription)")
        }
        do {
            keyBytes = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        } catch {
            throw AccessReviewError("cannot read the metrics key \(keyFile): \(error.localizedDescription)")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateBytes))
        } catch {
            throw AccessReviewError("no PEM certificate in \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw AccessReviewError("no PEM certificate in \(certificateFile)") }
        do {
            let key = try NIOSSLPrivateKey(bytes: Array(keyBytes), format: .pem)
            return Loaded(chain: chain, key: key, stamp: stamp(certificateBytes, keyBytes))
        } catch {
            throw AccessReviewError("no PEM private key in \(keyFile): \(error)")
        }
    }

    /// A digest of the files' contents: a mounted Secret's update swaps a symlink behind
    /// unchanged file names, so names and modification times cannot tell.
    static func stamp(_ contents: Data...) -> String {
        var hash = SHA256()
        for data in contents { hash.update(data: data) }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func stamp(files certificateFile: String, _ keyFile: String) -> String {
        guard let certificate = try? Data(contentsOf: URL(fileURLWithPath: certificateFile)),
              let key = try? Data(contentsOf: URL(fileURLWithPath: keyFile)) else { return "unreadable" }
        return stamp(certificate, key)
    }
}

/// The outcome of checking one request to `/metrics`: nil lets it through.
struct MetricsRefusal: Sendable, Equatable {
    var status: HTTPResponse.Status
    var message: String
}

/// Authenticates and authorizes requests as controller-runtime's filter does: no or a bad
/// bearer token 401, a user the SubjectAccessReview does not allow 403, a review that fails 500.
struct MetricsAccessGate: Sendable {
    let reviewer: any AccessReviewer
    let logger: Logger

    func check(authorization: String?, method: String, path: String) async -> MetricsRefusal? {
        guard let token = Self.bearerToken(authorization) else {
            return MetricsRefusal(status: .unauthorized, message: "Unauthorized")
        }
        let user: ReviewedUser
        do {
            guard let reviewed = try await reviewer.authenticate(token: token) else {
                logger.debug("metrics request not authenticated")
                return MetricsRefusal(status: .unauthorized, message: "Unauthorized")
            }
            user = reviewed
        } catch is AccessReviewOverloaded {
            return MetricsRefusal(status: .tooManyRequests, message: "Too many authentication requests")
        } catch {
            logger.error("metrics request: the TokenReview failed", metadata: ["error": "\(error)"])
            return MetricsRefusal(status: .internalServerError, message: "Authentication failed")
        }
        do {
            switch try await reviewer.authorize(user, verb: method.lowercased(), path: path) {
            case .allowed:
                return nil
            case .denied(let reason):
                logger.debug("metrics request denied", metadata: ["user": "\(user.username)", "reason": "\(reason)"])
                return MetricsRefusal(status: .forbidden, message: "Authorization denied for user \(user.username)")
            }
        } catch is AccessReviewOverloaded {
            return MetricsRefusal(status: .tooManyRequests, message: "Too many authorization requests")
        } catch {
            logger.error("metrics request: the SubjectAccessReview failed",
                         metadata: ["user": "\(user.username)", "error": "\(error)"])
            return MetricsRefusal(status: .internalServerError, message: "Authorization for user \(user.username) failed")
        }
    }

    /// The token of `Authorization: Bearer <token>` (scheme case-insensitive); nil otherwise.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// The metrics server's responder when `/metrics` is protected: the gate first, then the probe responder.
struct GatedResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let inner: ProbeResponder
    let gate: MetricsAccessGate

    func respond(to request: Request, context: Context) async throws -> Response {
        if request.uri.path == "/metrics",
           let refusal = await gate.check(authorization: request.headers[.authorization], method: request.method.rawValue,
                                          path: request.uri.path) {
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            if refusal.status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="sextant-controller""# }
            return Response(status: refusal.status, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string: refusal.message + "\n")))
        }
        return try await inner.respond(to: request, context: context)
    }
}
