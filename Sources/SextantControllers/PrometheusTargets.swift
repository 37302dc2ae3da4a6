import Foundation
import SextantAPI
import SextantKube
import SextantKubeTypes
import SextantPrometheus
import SextantTransport

/// One Prometheus to query and how to reach it: address, timeout, credentials, TLS. Resolved per
/// resource from its `prometheus` endpoint, the Secret it names and the controller's flags.
public struct PrometheusTarget: Sendable, Hashable {
    public var address: String
    public var timeout: Duration
    public var bearerToken: String?
    /// `Authorization: Basic …` for `username`/`password` Secrets.
    public var headers: [String: String] = [:]
    public var tls = TLSOptions()

    public init(address: String, timeout: Duration) {
        self.address = address
        self.timeout = timeout
    }

    public func client() throws(PrometheusError) -> PrometheusClient {
        try PrometheusClient(address: address, timeout: timeout, bearerToken: bearerToken, tls: tls, headers: headers)
    }
}

/// Builds `PrometheusTarget`s. Certificates are always verified unless the resource says
/// `insecureSkipVerify: true`: a missing or unreadable CA is an error, never a fallback.
public struct PrometheusTargets: Sendable {
    /// Reads a Secret; nil when it does not exist.
    public typealias SecretReader = @Sendable (_ namespace: String, _ name: String) async throws -> Secret?

    let settings: ControllerSettings
    let readSecret: SecretReader

    public init(settings: ControllerSettings, readSecret: @escaping SecretReader) {
        self.settings = settings
        self.readSecret = readSecret
    }

    public init(settings: ControllerSettings, client: KubeClient) {
        self.init(settings: settings, readSecret: Self.reader(client))
    }

    /// Reads Secrets through `client`; a missing Secret is nil, other errors are thrown.
    public static func reader(_ client: KubeClient) -> SecretReader {
        { namespace, name in
            do {
                return try await client.get(Secret.self, name: name, namespace: namespace)
            } catch let error as KubeError where error.reason == .notFound {
                return nil
            }
        }
    }

    /// The target of `endpoint` for a resource in `namespace`; `field` is the endpoint's path in the
    /// spec (`spec.analysis.prometheus`), which every error names.
    public func resolve(_ endpoint: PrometheusEndpoint?, namespace: String, field: String,
                        defaultTimeout: Duration? = nil) async -> Result<PrometheusTarget, PrometheusTargetError> {
        guard let address = endpoint?.address ?? settings.prometheusAddress else {
            return .failure(.init("no Prometheus address: set \(field).address or the controller's --prometheus-url"))
        }
        let timeout = endpoint?.timeout.flatMap { try? GoDuration.parse($0) } ?? defaultTimeout ?? settings.prometheusTimeout
        var target = PrometheusTarget(address: address, timeout: timeout)
        target.tls.insecureSkipVerify = endpoint?.insecureSkipVerify ?? false
        if let ref = endpoint?.secretRef {
            let secret: Secret?
            do {
                secret = try await readSecret(namespace, ref.name)
            } catch {
                return .failure(.init("\(field).secretRef: reading Secret \(namespace)/\(ref.name): \(error)"))
            }
            guard let secret else {
                return .failure(.init("\(field).secretRef: Secret \(namespace)/\(ref.name) not found"))
            }
            switch Self.credentials(secret, ref: "\(field).secretRef (Secret \(namespace)/\(ref.name))") {
            case .failure(let error): return .failure(error)
            case .success(let credentials):
                target.bearerToken = credentials.token
                if let basic = credentials.basic { target.headers["Authorization"] = "Basic " + basic }
                target.tls.caData = credentials.ca
            }
        } else if endpoint?.address == nil {
            // The controller's own Prometheus: its flags' CA and token (the token file is read each
            // time, so a rotated projected token is picked up).
            target.tls.caFile = settings.prometheusCAFile
            if let file = settings.prometheusBearerTokenFile {
                guard let data = FileManager.default.contents(atPath: file) else {
                    return .failure(.init("--prometheus-bearer-token-file \(file) cannot be read"))
                }
                target.bearerToken = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        if target.tls.caData == nil, target.tls.caFile == nil { target.tls.caFile = settings.prometheusCAFile }
        return .success(target)
    }

    struct Credentials {
        var token: String?
        var basic: String?
        var ca: Data?
    }

    /// `token`, or `username` with `password`, and `ca.crt`; the keys are Flagger's for its metric
    /// providers' Secrets. Anything else in the Secret is ignored.
    static func credentials(_ secret: Secret, ref: String) -> Result<Credentials, PrometheusTargetError> {
        var values: [String: Data] = [:]
        for (key, encoded) in secret.data ?? [:] {
            guard let data = Data(base64Encoded: encoded) else { return .failure(.init("\(ref): key \(key) is not base64")) }
            values[key] = data
        }
        for (key, text) in secret.stringData ?? [:] { values[key] = Data(text.utf8) }
        func text(_ key: String) -> String? {
            values[key].map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        var credentials = Credentials()
        credentials.token = text("token")
        switch (text("username"), text("password")) {
        case (let user?, let password?): credentials.basic = Data("\(user):\(password)".utf8).base64EncodedString()
        case (nil, nil): break
        default: return .failure(.init("\(ref): basic auth needs both username and password"))
        }
        if credentials.token != nil, credentials.basic != nil {
            return .failure(.init("\(ref): set token or username/password, not both"))
        }
        if let ca = values["ca.crt"] {
            guard OutboundCA.isPEM(ca) else {
                return .failure(.init("\(ref): ca.crt is not a PEM certificate"))
            }
            credentials.ca = ca
        }
        if credentials.token == nil, credentials.basic == nil, credentials.ca == nil {
            return .failure(.init("\(ref): none of the keys token, username/password, ca.crt"))
        }
        return .success(credentials)
    }
}

extension Result where Success == PrometheusTarget, Failure == PrometheusTargetError {
    /// Why there is no target (empty for a target).
    public var problem: String {
        if case .failure(let error) = self { return error.description }
        return ""
    }
}

public struct PrometheusTargetError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
