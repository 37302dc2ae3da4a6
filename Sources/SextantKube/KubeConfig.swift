import Foundation
import SextantTransport
import Yams

/// A kubeconfig file as written by kubectl (`clientcmd/api/v1`).
public struct Kubeconfig: Codable, Sendable, Equatable {
    public struct NamedCluster: Codable, Sendable, Equatable {
        public var name: String
        public var cluster: Cluster
    }

    public struct Cluster: Codable, Sendable, Equatable {
        public var server: String?
        public var certificateAuthority: String?
        public var certificateAuthorityData: String?
        public var insecureSkipTLSVerify: Bool?
        public var tlsServerName: String?
        public var proxyURL: String?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
            case proxyURL = "proxy-url"
        }
    }

    public struct NamedUser: Codable, Sendable, Equatable {
        public var name: String
        public var user: User
    }

    public struct User: Codable, Sendable, Equatable {
        public var clientCertificate: String?
        public var clientCertificateData: String?
        public var clientKey: String?
        public var clientKeyData: String?
        public var token: String?
        public var tokenFile: String?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?

        enum CodingKeys: String, CodingKey {
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
            case token, tokenFile, username, password, exec
        }
    }

    /// An exec credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`).
    public struct ExecConfig: Codable, Sendable, Equatable {
        public struct EnvVar: Codable, Sendable, Equatable {
            public var name: String
            public var value: String
        }
        public var apiVersion: String?
        public var command: String
        public var args: [String]?
        public var env: [EnvVar]?
        public var interactiveMode: String?
        public var provideClusterInfo: Bool?

        public init(apiVersion: String? = "client.authentication.k8s.io/v1", command: String, args: [String]? = nil,
                    env: [EnvVar]? = nil) {
            self.apiVersion = apiVersion
            self.command = command
            self.args = args
            self.env = env
        }
    }

    public struct NamedContext: Codable, Sendable, Equatable {
        public var name: String
        public var context: Context
    }

    public struct Context: Codable, Sendable, Equatable {
        public var cluster: String
        public var user: String?
        public var namespace: String?
    }

    public var apiVersion: String?
    public var kind: String?
    public var clusters: [NamedCluster]?
    public var users: [NamedUser]?
    public var contexts: [NamedContext]?
    public var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, clusters, users, contexts
        case currentContext = "current-context"
    }

    public init() {}

    /// Parses kubeconfig YAML; relative file paths inside it are resolved against `directory`.
    public static func parse(_ yaml: String, directory: String? = nil, source: String = "kubeconfig") throws
        -> Kubeconfig
    {
        var config: Kubeconfig
        do {
            config = try YAMLDecoder().decode(Kubeconfig.self, from: yaml)
        } catch {
            throw KubeConfigError("cannot parse \(source): \(describe(error))")
        }
        if let directory { config.resolvePaths(relativeTo: directory) }
        return config
    }

    public static func load(path: String) throws -> Kubeconfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeConfigError("cannot read kubeconfig \(path)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(String(decoding: data, as: UTF8.self), directory: directory, source: path)
    }

    /// Merges files like kubectl does with `KUBECONFIG=a:b`: the first file to define a cluster, user
    /// or context name wins, and so does the first `current-context`.
    public static func merge(_ configs: [Kubeconfig]) -> Kubeconfig {
        var merged = Kubeconfig()
        var clusters: [NamedCluster] = []
        var users: [NamedUser] = []
        var contexts: [NamedContext] = []
        for config in configs {
            for c in config.clusters ?? [] where !clusters.contains(where: { $0.name == c.name }) { clusters.append(c) }
            for u in config.users ?? [] where !users.contains(where: { $0.name == u.name }) { users.append(u) }
            for c in config.contexts ?? [] where !contexts.contains(where: { $0.name == c.name }) { contexts.append(c) }
            if merged.currentContext == nil || merged.currentContext == "" { merged.currentContext = config.currentContext }
        }
        merged.clusters = clusters
        merged.users = users
        merged.contexts = contexts
        return merged
    }

    private mutating func resolvePaths(relativeTo directory: String) {
        func resolve(_ path: String?) -> String? {
            guard let path, !path.isEmpty, !path.hasPrefix("/") else { return path }
            return URL(fileURLWithPath: directory).appendingPathComponent(path).standardized.path
        }
        clusters = clusters?.map { named in
            var named = named
            named.cluster.certificateAuthority = resolve(named.cluster.certificateAuthority)
            return named
        }
        users = users?.map { named in
            var named = named
            named.user.clientCertificate = resolve(named.user.clientCertificate)
            named.user.clientKey = resolve(named.user.clientKey)
            named.user.tokenFile = resolve(named.user.tokenFile)
            if let command = named.user.exec?.command, command.contains("/"), !command.hasPrefix("/") {
                named.user.exec?.command = URL(fileURLWithPath: directory).appendingPathComponent(command)
                    .standardized.path
            }
            return named
        }
    }
}

public struct KubeConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

@usableFromInline
func describe(_ error: any Error) -> String {
    if let decoding = error as? DecodingError {
        switch decoding {
        case .keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(let type, let context):
            return "field \(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "field \(path(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
    return "\(error)"
}

private func path(_ keys: [any CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(
        in: CharacterSet(charactersIn: "."))
}

/// Everything needed to talk to one API server: the result of picking a context.
public struct ClusterConfig: Sendable {
    public var server: String
    public var namespace: String
    public var tls: TLSOptions
    public var proxy: String?
    public var auth: Authentication
    /// The name of the kubeconfig user entry the context uses (`contexts[].context.user`): who
    /// the person at the keyboard says they are, for records such as `requestedBy`. Not an
    /// identity the API server verified; nil in-cluster and without a user entry.
    public var userName: String?

    public enum Authentication: Sendable, Equatable {
        case none
        case token(String)
        /// Re-read when the file changes: bound service-account tokens rotate.
        case tokenFile(String)
        case basic(user: String, password: String)
        case exec(Kubeconfig.ExecConfig)
    }

    public init(server: String, namespace: String = "default", tls: TLSOptions = TLSOptions(), proxy: String? = nil,
                auth: Authentication = .none) {
        self.server = server
        self.namespace = namespace
        self.tls = tls
        self.proxy = proxy
        self.auth = auth
    }

    /// The connection for `context` (or the current context) of a kubeconfig.
    public init(kubeconfig: Kubeconfig, context name: String? = nil) throws {
        guard let contextName = name ?? kubeconfig.currentContext, !contextName.isEmpty else {
            throw KubeConfigError("kubeconfig has no current-context; pass a context name")
        }
        guard let context = kubeconfig.contexts?.first(where: { $0.name == contextName })?.context else {
            throw KubeConfigError("context \"\(contextName)\" not found in kubeconfig")
        }
        guard let cluster = kubeconfig.clusters?.first(where: { $0.name == context.cluster })?.cluster else {
            throw KubeConfigError("cluster \"\(context.cluster)\" of context \"\(contextName)\" not found")
        }
        guard let server = cluster.server, !server.isEmpty else {
            throw KubeConfigError("cluster \"\(context.cluster)\" has no server")
        }
        let user = context.user.flatMap { name in kubeconfig.users?.first(where: { $0.name == name })?.user }
        let userName = context.user.flatMap { $0.isEmpty ? nil : $0 }
        if let userName = context.user, !userName.isEmpty, user == nil {
            throw KubeConfigError("user \"\(userName)\" of context \"\(contextName)\" not found")
        }

        var tls = TLSOptions()
        tls.caFile = cluster.certificateAuthority
        tls.caData = try cluster.certificateAuthorityData.map { try decodeBase64($0, "certificate-authority-data") }
        tls.insecureSkipVerify = cluster.insecureSkipTLSVerify ?? false
        tls.serverName = cluster.tlsServerName
        tls.clientCertificateFile = user?.clientCertificate
        tls.clientCertificateData = try user?.clientCertificateData.map {
            try decodeBase64($0, "client-certificate-data")
        }
        tls.clientKeyFile = user?.clientKey
        tls.clientKeyData = try user?.clientKeyData.map { try decodeBase64($0, "client-key-data") }

        let auth: Authentication
        if let token = user?.token, !token.isEmpty {
            auth = .token(token)
        } else if let file = user?.tokenFile, !file.isEmpty {
            auth = .tokenFile(file)
        } else if let exec = user?.exec {
            auth = .exec(exec)
        } else if let username = user?.username, let password = user?.password {
            auth = .basic(user: username, password: password)
        } else {
            auth = .none
        }
        self.init(server: server, namespace: context.namespace ?? "default", tls: tls, proxy: cluster.proxyURL,
                  auth: auth)
        self.userName = userName
    }

    /// Configuration from inside a Pod: service-account token, CA and namespace files.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> ClusterConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"],
              !host.isEmpty, !port.isEmpty else {
            throw KubeConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var tls = TLSOptions()
        tls.caFile = serviceAccountDirectory + "/ca.crt"
        let namespaceFile = serviceAccountDirectory + "/namespace"
        let namespace = (try? String(contentsOfFile: namespaceFile, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return ClusterConfig(server: "https://\(hostPart):\(port)", namespace: namespace ?? "default", tls: tls,
                             auth: .tokenFile(serviceAccountDirectory + "/token"))
    }

    /// kubectl's search order: an explicit path, then `$KUBECONFIG` (colon-separated, merged), then
    /// `~/.kube/config`, then the in-cluster service account.
    public static func load(
        kubeconfigPath: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ClusterConfig {
        if let path = kubeconfigPath, !path.isEmpty {
            return try ClusterConfig(kubeconfig: Kubeconfig.load(path: path), context: context)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let paths = list.split(separator: ":").map(String.init).filter { FileManager.default.fileExists(atPath: $0) }
            guard !paths.isEmpty else { throw KubeConfigError("no file of KUBECONFIG=\(list) exists") }
            return try ClusterConfig(kubeconfig: Kubeconfig.merge(paths.map(Kubeconfig.load(path:))), context: context)
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let defaultPath = home + "/.kube/config"
        if FileManager.default.fileExists(atPath: defaultPath) {
            return try ClusterConfig(kubeconfig: Kubeconfig.load(path: defaultPath), context: context)
        }
        return try inCluster(environment: environment)
    }
}

private func decodeBase64(_ value: String, _ field: String) throws -> Data {
    let cleaned = value.filter { !$0.isWhitespace }
    guard let data = Data(base64Encoded: cleaned) else {
        throw KubeConfigError("\(field) is not valid base64")
    }
    return data
}
