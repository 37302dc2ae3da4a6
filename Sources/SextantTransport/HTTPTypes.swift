import Foundation

public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Response headers; names compare case-insensitively, as HTTP requires.
public struct HTTPHeaders: Sendable, Hashable {
    public private(set) var entries: [HTTPHeader] = []

    public init(_ entries: [HTTPHeader] = []) { self.entries = entries }

    public subscript(name: String) -> String? {
        let lower = name.lowercased()
        return entries.last(where: { $0.name.lowercased() == lower })?.value
    }

    public mutating func append(_ header: HTTPHeader) { entries.append(header) }
}

/// TLS settings, taken from a kubeconfig cluster/user or given directly.
public struct TLSOptions: Sendable, Hashable {
    public var caFile: String?
    public var caData: Data?
    public var clientCertificateFile: String?
    public var clientCertificateData: Data?
    public var clientKeyFile: String?
    public var clientKeyData: Data?
    /// Verify the server certificate against this name instead of the URL's host.
    public var serverName: String?
    /// Skips certificate verification. Only ever set from an explicit user setting.
    public var insecureSkipVerify: Bool = false

    public init() {}
}

public struct HTTPTimeouts: Sendable, Hashable {
    public var connect: Duration = .seconds(10)
    /// Abort when fewer than `lowSpeedBytes` arrive per second for this long (an idle connection).
    public var idle: Duration? = .seconds(60)
    public var lowSpeedBytes: Int = 1
    /// A limit on the whole exchange; never set for streams.
    public var total: Duration? = nil

    public init(connect: Duration = .seconds(10), idle: Duration? = .seconds(60), total: Duration? = nil) {
        self.connect = connect
        self.idle = idle
        self.total = total
    }
}

/// AWS Signature Version 4, computed by libcurl (`CURLOPT_AWS_SIGV4`), for S3 and compatible stores.
public struct AWSSigV4: Sendable, Hashable {
    public var region: String
    public var service: String
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(region: String, service: String = "s3", accessKeyID: String, secretAccessKey: String,
                sessionToken: String? = nil) {
        self.region = region
        self.service = service
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [HTTPHeader]
    public var body: Data?
    public var tls: TLSOptions
    public var timeouts: HTTPTimeouts
    public var awsSigV4: AWSSigV4?
    public var basicAuth: (user: String, password: String)?
    public var proxy: String?
    /// Refuse response bodies larger than this (bytes) for buffered requests.
    public var maxResponseBytes: Int?

    public init(method: String = "GET", url: String, headers: [HTTPHeader] = [], body: Data? = nil,
                tls: TLSOptions = TLSOptions(), timeouts: HTTPTimeouts = HTTPTimeouts(), awsSigV4: AWSSigV4? = nil,
                basicAuth: (user: String, password: String)? = nil, proxy: String? = nil,
                maxResponseBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
        self.timeouts = timeouts
        self.awsSigV4 = awsSigV4
        self.basicAuth = basicAuth
        self.proxy = proxy
        self.maxResponseBytes = maxResponseBytes
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders, body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A transport failure: the server gave no HTTP answer we could use.
public struct TransportError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case invalidRequest, couldNotConnect, timedOut, tls, connectionDropped, responseTooLarge, other
    }
    public var kind: Kind
    public var message: String
    public var url: String

    public init(kind: Kind, message: String, url: String) {
        self.kind = kind
        self.message = message
        self.url = url
    }

    public var description: String { "\(message) (\(url))" }

    /// Whether sending the same idempotent request again may succeed.
    public var isRetryable: Bool {
        switch kind {
        case .couldNotConnect, .timedOut, .connectionDropped: return true
        case .invalidRequest, .tls, .responseTooLarge, .other: return false
        }
    }
}
