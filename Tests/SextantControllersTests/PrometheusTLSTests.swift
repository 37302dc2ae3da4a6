import Foundation
import SextantAPI
import SextantControllers
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 21 item 5: outbound TLS to Prometheus verifies certificates, with the CA and the
/// credentials from a Secret the resource names (or the controller's flags), and never falls back
/// to an unverified or unauthenticated request. The peer is Debian's real Prometheus serving HTTPS
/// with basic auth (`--web.config.file`).
@Suite(.serialized) struct PrometheusTLSTests {
    final class SecurePrometheus: @unchecked Sendable {
        let process: TestProcess
        let certificates: TestCertificates
        let directory: TemporaryDirectory
        let address: String

        static func start() async throws -> SecurePrometheus {
            guard let binary = Tooling.find("prometheus") else {
                throw TestSetupError("prometheus is not installed (apt-get install prometheus)")
            }
            let directory = try TemporaryDirectory()
            let certificates = try TestCertificates(directory: directory.path)
            // Prometheus keeps bcrypt hashes of its basic-auth passwords; libxcrypt makes one.
            let hash = try await runCommandAsync("python3", ["-W", "ignore", "-c",
                "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
            guard hash.code == 0, hash.output.hasPrefix("$2") else {
                throw TestSetupError("python3 could not make a bcrypt hash (crypt module, libxcrypt): \(hash.output)")
            }
            try """
            tls_server_config:
              cert_file: \(certificates.serverCert)
              key_file: \(certificates.serverKey)
            basic_auth_users:
              sextant: '\(hash.output.trimmingCharacters(in: .whitespacesAndNewlines))'
            """.write(toFile: directory.file("web.yml"), atomically: true, encoding: .utf8)
            try "global: {}\n".write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
            let port = try LocalHTTP.freePort()
            let process = try TestProcess(binary, [
                "--config.file=\(directory.file("prometheus.yml"))", "--storage.tsdb.path=\(directory.file("data"))",
                "--web.listen-address=127.0.0.1:\(port)", "--web.config.file=\(directory.file("web.yml"))", "--log.level=warn",
            ])
            let server = SecurePrometheus(process: process, certificates: certificates, directory: directory,
                                          address: "https://127.0.0.1:\(port)")
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let probe = try await runCommandAsync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                                                               certificates.caCert, "-u", "sextant:s3cret", server.address + "/-/ready"])
                if probe.output == "200" { return server }
                guard process.process.isRunning else { throw TestSetupError("prometheus exited: \(process.text)") }
                try await Task.sleep(for: .milliseconds(200))
            }
            process.stop()
            throw TestSetupError("HTTPS prometheus did not become ready: \(process.text)")
        }

        init(process: TestProcess, certificates: TestCertificates, directory: TemporaryDirectory, address: String) {
            self.process = process
            self.certificates = certificates
            self.directory = directory
            self.address = address
        }
    }

    func secret(_ name: String, _ values: [String: String]) -> Secret {
        var secret = Secret(metadata: ObjectMeta(name: name, namespace: "ml"))
        secret.data = values.mapValues { Data($0.utf8).base64EncodedString() }
        return secret
    }

    /// One analysis run with the metric `vector(1) >= 1` against `endpoint`: its measurement.
    func measure(_ endpoint: PrometheusEndpoint?, secrets: [String: Secret], settings: ControllerSettings = ControllerSettings())
        async -> SextantAPI.Measurement?
    {
        let spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
        var rollout = CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec)
        var analysis = AnalysisSpec()
        analysis.prometheus = endpoint
        analysis.metrics = [AnalysisMetric(name: "one", query: "vector(1)", thresholdRange: ThresholdRange(min: 1))]
        rollout.spec.analysis = analysis
        let run = RolloutAnalysis(settings: settings, readSecret: { namespace, name in
            namespace == "ml" ? secrets[name] : nil
        })
        return await run.run(rollout, stable: "fraud-v1", canary: "fraud-v2", now: Date()).first
    }

    @Test func httpsPrometheusWithBasicAuthIsVerifiedAndNeverFallsBack() async throws {
        guard try Tooling.available("prometheus", Tooling.find("prometheus") != nil),
              try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let prometheus = try await SecurePrometheus.start()
        defer { prometheus.process.stop() }
        let ca = try String(contentsOfFile: prometheus.certificates.caCert, encoding: .utf8)
        let secrets = [
            "prom": secret("prom", ["username": "sextant", "password": "s3cret", "ca.crt": ca]),
            "prom-wrong": secret("prom-wrong", ["username": "sextant", "password": "nope", "ca.crt": ca]),
            "prom-no-ca": secret("prom-no-ca", ["username": "sextant", "password": "s3cret"]),
            "prom-half": secret("prom-half", ["username": "sextant", "ca.crt": ca]),
            "prom-bad-ca": secret("prom-bad-ca", ["username": "sextant", "password": "s3cret", "ca.crt": "not a certificate"]),
        ]
        func endpoint(_ secret: String?, insecure: Bool? = nil) -> PrometheusEndpoint {
            var endpoint = PrometheusEndpoint(address: prometheus.address, secretRef: secret.map { SecretReference(name: $0) })
            endpoint.insecureSkipVerify = insecure
            return endpoint
        }

        // The CA and the credentials from the Secret: verified, authenticated, answered.
        let good = await measure(endpoint("prom"), secrets: secrets)
        #expect(good?.outcome == .pass && good?.value == 1, "\(good?.message ?? "-")")

        // No CA for a private certificate: a TLS error, not an unverified retry.
        let unverified = await measure(endpoint("prom-no-ca"), secrets: secrets)
        #expect(unverified?.outcome == .error)
        #expect(unverified?.message?.lowercased().contains("certificate") == true, "\(unverified?.message ?? "-")")

        // Only an explicit insecureSkipVerify skips verification (the credentials still count).
        let insecure = await measure(endpoint("prom-no-ca", insecure: true), secrets: secrets)
        #expect(insecure?.outcome == .pass, "\(insecure?.message ?? "-")")

        // Wrong password: Prometheus' 401, named.
        let refused = await measure(endpoint("prom-wrong"), secrets: secrets)
        #expect(refused?.outcome == .error && refused?.message?.contains("401") == true, "\(refused?.message ?? "-")")

        // Bad Secrets are errors naming the field and the Secret, and no request is sent.
        let missing = await measure(endpoint("absent"), secrets: secrets)
        #expect(missing?.message == "spec.analysis.prometheus.secretRef: Secret ml/absent not found")
        let half = await measure(endpoint("prom-half"), secrets: secrets)
        #expect(half?.message?.hasPrefix("spec.analysis.prometheus.secretRef (Secret ml/prom-half): basic auth needs both") == true,
                "\(half?.message ?? "-")")
        let badCA = await measure(endpoint("prom-bad-ca"), secrets: secrets)
        #expect(badCA?.message?.contains("ca.crt is not a PEM certificate") == true, "\(badCA?.message ?? "-")")

        // The controller's own Prometheus (--prometheus-url) with --prometheus-ca-file: TLS is
        // verified with the file's CA, and without credentials Prometheus refuses (401), so the CA
        // file was used and nothing was sent unauthenticated as if it had succeeded.
        var settings = ControllerSettings(prometheusAddress: prometheus.address)
        settings.prometheusCAFile = prometheus.certificates.caCert
        let byFlags = await measure(nil, secrets: [:], settings: settings)
        #expect(byFlags?.outcome == .error && byFlags?.message?.contains("401") == true, "\(byFlags?.message ?? "-")")
        settings.prometheusCAFile = nil
        let byFlagsNoCA = await measure(nil, secrets: [:], settings: settings)
        #expect(byFlagsNoCA?.message?.lowercased().contains("certificate") == true, "\(byFlagsNoCA?.message ?? "-")")
    }

    @Test func bearerTokenFromTheSecretOrTheTokenFile() async throws {
        let token = secret("tok", ["token": "abc123\n"])
        let targets = PrometheusTargets(settings: ControllerSettings(), readSecret: { _, name in name == "tok" ? token : nil })
        let resolved = await targets.resolve(PrometheusEndpoint(address: "https://p.example", secretRef: SecretReference(name: "tok")),
                                             namespace: "ml", field: "spec.retrainOn.prometheus")
        #expect((try? resolved.get())?.bearerToken == "abc123")
        let both = secret("both", ["token": "t", "username": "u", "password": "p"])
        let refused = await PrometheusTargets(settings: ControllerSettings(), readSecret: { _, _ in both })
            .resolve(PrometheusEndpoint(address: "https://p.example", secretRef: SecretReference(name: "both")),
                     namespace: "ml", field: "spec.retrainOn.prometheus")
        #expect(refused.problem.contains("set token or username/password, not both"), "\(refused.problem)")

        let directory = try TemporaryDirectory()
        try "rotated-1\n".write(toFile: directory.file("token"), atomically: true, encoding: .utf8)
        var settings = ControllerSettings(prometheusAddress: "https://p.example")
        settings.prometheusBearerTokenFile = directory.file("token")
        let flagTargets = PrometheusTargets(settings: settings, readSecret: { _, _ in nil })
        #expect((try? await flagTargets.resolve(nil, namespace: "ml", field: "spec.analysis.prometheus").get())?.bearerToken == "rotated-1")
        try "rotated-2\n".write(toFile: directory.file("token"), atomically: true, encoding: .utf8)
        #expect((try? await flagTargets.resolve(nil, namespace: "ml", field: "spec.analysis.prometheus").get())?.bearerToken == "rotated-2",
                "the token file is read again for each query")
        settings.prometheusBearerTokenFile = directory.file("absent")
        let unreadable = await PrometheusTargets(settings: settings, readSecret: { _, _ in nil })
            .resolve(nil, namespace: "ml", field: "spec.analysis.prometheus")
        #expect(unreadable.problem.contains("--prometheus-bearer-token-file"), "\(unreadable.problem)")
    }
}
