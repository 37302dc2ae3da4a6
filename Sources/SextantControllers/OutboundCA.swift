import Foundation

/// The CA bundles of outbound HTTPS (Prometheus, MLflow, webhooks, notifications): one check of
/// what a Secret's `ca.crt` or a `--*-ca-file` flag holds, made before anything is sent, so every
/// client words the same failure the same way.
enum OutboundCA {
    /// Whether `data` holds a PEM certificate.
    static func isPEM(_ data: Data) -> Bool {
        String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----")
    }

    /// Why the CA file given by `flag` cannot be used; nil when it can.
    static func fileProblem(_ path: String, flag: String) -> String? {
        guard let pem = FileManager.default.contents(atPath: path) else { return "\(flag) \(path) cannot be read" }
        return isPEM(pem) ? nil : "\(flag) \(path) is not a PEM certificate"
    }
}
