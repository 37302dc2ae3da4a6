// http(s):// and s3:// objects through the project's libcurl transport (SextantTransport).
// S3 requests are signed with AWS SigV4 by libcurl; the endpoint can be overridden for
// S3-compatible stores (MinIO, moto, Ceph), which then use path-style addressing.
import Foundation
import SextantTransport

/// S3 settings, read from the standard AWS environment variables.
public struct S3Settings: Sendable, Equatable {
    public var region: String
    public var accessKeyID: String?
    public var secretAccessKey: String?
    public var sessionToken: String?
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, e.g. `http://127.0.0.1:9000`.
    public var endpoint: String?
    /// `AWS_CA_BUNDLE` (the AWS CLI's and SDKs' name): a PEM CA bundle that verifies an HTTPS S3
    /// endpoint besides the system's CAs. Certificates are always verified.
    public var caBundle: String?

    public init(region: String = "us-east-1", accessKeyID: String? = nil, secretAccessKey: String? = nil,
                sessionToken: String? = nil, endpoint: String? = nil, caBundle: String? = nil) {
        self.region = region; self.accessKeyID = accessKeyID; self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken; self.endpoint = endpoint; self.caBundle = caBundle
    }

    public init(environment env: [String: String]) {
        self.init(region: env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1",
                  accessKeyID: env["AWS_ACCESS_KEY_ID"], secretAccessKey: env["AWS_SECRET_ACCESS_KEY"],
                  sessionToken: env["AWS_SESSION_TOKEN"], endpoint: env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"],
                  caBundle: env["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// TLS for requests to the S3 endpoint: `AWS_CA_BUNDLE` if set. A bundle that cannot be read
    /// is an error naming the variable and the path, never a request without it.
    public func tls() throws -> TLSOptions {
        var tls = TLSOptions()
        if let caBundle {
            guard FileManager.default.isReadableFile(atPath: caBundle) else {
                throw TrainerError.badInput("AWS_CA_BUNDLE \(caBundle) cannot be read")
            }
            tls.caFile = caBundle
        }
        return tls
    }

    /// HTTP URL of an object: path-style on a custom endpoint, virtual-hosted on AWS.
    public func url(bucket: String, key: String) -> String {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "+"))
        let path = key.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0) }.joined(separator: "/")
        if let endpoint {
            let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            return "\(base)/\(bucket)/\(path)"
        }
        return "https://\(bucket).s3.\(region).amazonaws.com/\(path)"
    }

    var signing: AWSSigV4? {
        guard let accessKeyID, let secretAccessKey else { return nil }  // anonymous access to public buckets
        return AWSSigV4(region: region, accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken)
    }
}

enum RemoteStore {
    static func request(_ method: String, uri: String, body: Data?, s3: S3Settings) throws -> HTTPRequest {
        var timeouts = HTTPTimeouts()
        timeouts.total = nil  // large objects: rely on the idle timeout only
        switch try DataLocation(uri: uri) {
        case .http(let url):
            return HTTPRequest(method: method, url: url, body: body, timeouts: timeouts)
        case .s3(let bucket, let key):
            var headers: [HTTPHeader] = []
            if method == "PUT" { headers.append(HTTPHeader("Content-Type", "application/json")) }
            return HTTPRequest(method: method, url: s3.url(bucket: bucket, key: key), headers: headers, body: body,
                               tls: try s3.tls(), timeouts: timeouts, awsSigV4: s3.signing)
        case .file:
            throw TrainerError.badInput("uri '\(uri)' is a local file")
        }
    }

    static func get(uri: String, s3: S3Settings) async throws -> Data {
        let response = try await send(try request("GET", uri: uri, body: nil, s3: s3), uri: uri)
        return response.body
    }

    static func put(_ data: Data, uri: String, s3: S3Settings) async throws {
        _ = try await send(try request("PUT", uri: uri, body: data, s3: s3), uri: uri)
    }

    private static func send(_ request: HTTPRequest, uri: String) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await HTTPClient.shared.send(request)
        } catch {
            throw TrainerError.io("\(request.method) \(uri): \(error)")
        }
        guard (200..<300).contains(response.status) else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            // 4xx: the uri or the credentials are wrong (input); 5xx: the store failed (I/O).
            let kind: TrainerFailureKind = (400..<500).contains(response.status) ? .badInput : .io
            throw TrainerError(kind, "\(request.method) \(uri): HTTP \(response.status) \(detail)")
        }
        return response
    }
}
