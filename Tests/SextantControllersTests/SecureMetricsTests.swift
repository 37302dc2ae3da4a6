import Foundation
import SextantDevServer
import SextantTestSupport
import Testing

/// The real `sextant-controller` serving `/metrics` over HTTPS (docs/monitoring.md, "Secure
/// metrics"), against the development API server with `--authorization-mode RBAC` and the
/// chart's RBAC rendered by Helm's engine: the controller runs with its own ServiceAccount's
/// token, so its TokenReviews and SubjectAccessReviews pass only if the chart grants them.
/// Clients are curl and a real Prometheus.
@Suite(.serialized) struct SecureMetricsTests {
    static let namespace = "sextant-system"

    /// A development API server in RBAC mode with the CRDs, the chart's RBAC (scraper
    /// `monitoring/prometheus` bound to the metrics reader by `metrics.readerSubjects`) and a
    /// second ServiceAccount `monitoring/stranger` bound to nothing.
    struct Cluster {
        let server: DevServer
        let directory: TemporaryDirectory
        let kubectl: String

        static func start() async throws -> Cluster {
            guard let kubectl = Tooling.find("kubectl") else { throw TestSetupError("kubectl is not installed (hack/install-deps.sh)") }
            _ = try Tooling.available("curl", Tooling.find("curl") != nil)
            _ = try Tooling.available("python3 with helm_python and yaml (hack/requirements-test.txt)",
                                      Tooling.pythonHas(["helm_python", "yaml"]))
            let directory = try TemporaryDirectory()
            let server = try await DevServer.start(DevServerConfiguration(tlsDirectory: directory.file("tls"), authorization: .rbac))
            let cluster = Cluster(server: server, directory: directory, kubectl: kubectl)
            do {
                try server.writeKubeconfig(to: directory.file("admin.kubeconfig"))
                try await cluster.renderChart(values: #"{"metrics": {"readerSubjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]}}"#,
                                              into: directory.file("chart.yaml"))
                try """
                    apiVersion: v1
                    kind: Namespace
                    metadata: {name: monitoring}
                    ---
                    apiVersion: v1
                    kind: ServiceAccount
                    metadata: {name: prometheus, namespace: monitoring}
                    ---
                    apiVersion: v1
                    kind: ServiceAccount
                    metadata: {name: stranger, namespace: monitoring}
                    """.write(toFile: directory.file("scrapers.yaml"), atomically: true, encoding: .utf8)
                for args in [["apply", "-f", Repo.root + "/crds"], ["apply", "-f", Repo.localCRDs],
                             ["create", "namespace", namespace], ["apply", "-f", directory.file("chart.yaml")],
                             ["apply", "-f", directory.file("scrapers.yaml")]] {
                    try await cluster.admin(args)
                }
            } catch {
                await server.stop()
                throw error
            }
            return cluster
        }

        @discardableResult
        func admin(_ args: [String]) async throws -> String {
            let result = try await runCommandAsync(kubectl, ["--kubeconfig", directory.file("admin.kubeconfig"),
                                                             "--cache-dir", directory.file("kube-cache")] + args)
            guard result.code == 0 else { throw TestSetupError("kubectl \(args.joined(separator: " ")): \(result.output)") }
            return result.output
        }

        /// The chart's RBAC objects (and the ServiceAccount) as `helm template` renders them.
        func renderChart(values: String, into file: String) async throws {
            let script = """
                import json, sys, yaml
                import helm_python as helm
                with helm.Chart.load(sys.argv[1]) as c:
                    files = c.render(json.loads(sys.argv[3]), name="sextant", namespace="sextant-system", is_install=True)
                kinds = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
                objs = [o for p, t in sorted(files.items()) if p.endswith(".yaml") for o in yaml.safe_load_all(t) if o and o.get("kind") in kinds]
                yaml.safe_dump_all(objs, open(sys.argv[2], "w"))
                """
            let result = try await runCommandAsync("python3", ["-c", script, Repo.root + "/charts/sextant", file, values])
            guard result.code == 0 else { throw TestSetupError("rendering the chart: \(result.output)") }
        }

        /// A token of a ServiceAccount (`kubectl create token`).
        func token(_ namespace: String, _ name: String) async throws -> String {
            let token = try await admin(["-n", namespace, "create", "token", name]).trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.split(separator: ".").count == 3 else { throw TestSetupError("no token for \(namespace)/\(name): \(token)") }
            return token
        }

        /// A kubeconfig that authenticates as the controller's ServiceAccount.
        func controllerKubeconfig() async throws -> String {
            let token = try await token(SecureMetricsTests.namespace, "sextant-controller")
            let ca = try server.certificates?.caData() ?? ""
            let file = directory.file("controller.kubeconfig")
            try """
                apiVersion: v1
                kind: Config
                clusters: [{name: dev, cluster: {server: "\(server.baseURL)", certificate-authority-data: "\(ca)"}}]
                users: [{name: controller, user: {token: "\(token)"}}]
                contexts: [{name: controller, context: {cluster: dev, user: controller, namespace: \(SecureMetricsTests.namespace)}}]
                current-context: controller
                """.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    /// The controller binary with its metrics on a free loopback port.
    struct Controller {
        let process: TestProcess
        let metricsPort: Int
        let healthPort: Int

        static func start(kubeconfig: String, _ extra: [String] = []) throws -> Controller {
            guard let binary = CanaryEnvironment.controllerBinary else {
                throw TestSetupError("sextant-controller is not built (swift build --build-tests)")
            }
            let metricsPort = try LocalHTTP.freePort(), healthPort = try LocalHTTP.freePort()
            let process = try TestProcess(binary, ["--kubeconfig", kubeconfig, "--leader-elect=true",
                                                   "--metrics-bind-address", "127.0.0.1:\(metricsPort)",
                                                   "--health-probe-bind-address", "127.0.0.1:\(healthPort)"] + extra)
            return Controller(process: process, metricsPort: metricsPort, healthPort: healthPort)
        }

        var url: String { "https://127.0.0.1:\(metricsPort)/metrics" }
    }

    /// curl's status code (0: no HTTP answer) and body.
    static func curl(_ url: String, token: String? = nil, _ options: [String] = ["-k"]) async throws -> (code: Int, body: String) {
        let body = try TemporaryDirectory()
        var args = ["-s", "--max-time", "20", "-o", body.file("body"), "-w", "%{http_code}"] + options
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        let result = try await runCommandAsync("curl", args + [url])
        let text = (try? String(contentsOfFile: body.file("body"), encoding: .utf8)) ?? ""
        return (Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(3)) ?? 0, text)
    }

    /// The value of one sample in Prometheus text, e.g. `name{review="TokenReview"}`.
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func onlyAServiceAccountBoundToTheMetricsReaderScrapes() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.server.stop() } }
        let reader = try await cluster.token("monitoring", "prometheus")
        let stranger = try await cluster.token("monitoring", "stranger")
        let controller = try Controller.start(kubeconfig: try await cluster.controllerKubeconfig())
        defer { controller.process.stop() }

        // Started (self-signed certificate): the bound reader gets the metrics.
        var answer = (code: 0, body: "")
        let served = try await poll(timeout: .seconds(60), every: .milliseconds(200)) {
            answer = try await Self.curl(controller.url, token: reader)
            return answer.code == 200 || !controller.process.process.isRunning
        }
        #expect(served && answer.code == 200, "\(answer) \(controller.process.text.suffix(3000))")
        #expect(answer.body.contains("sextant_build_info{"), "\(answer.body.prefix(500))")

        // Not bound: 403; no token, a made-up or a tampered token: 401.
        let refused = try await Self.curl(controller.url, token: stranger)
        #expect(refused.code == 403, "\(refused)")
        #expect(refused.body.contains("Authorization denied for user system:serviceaccount:monitoring:stranger"), "\(refused.body)")
        #expect(try await Self.curl(controller.url).code == 401)
        #expect(try await Self.curl(controller.url, token: "not-a-token").code == 401)
        #expect(try await Self.curl(controller.url, token: reader + "x").code == 401)
        // Plain HTTP on the HTTPS port gets no metrics.
        #expect(try await Self.curl("http://127.0.0.1:\(controller.metricsPort)/metrics", token: reader, []).code != 200)

        // The answers are cached: five more scrapes ask the API server nothing.
        let before = try await Self.curl(controller.url, token: reader).body
        for _ in 0..<5 { #expect(try await Self.curl(controller.url, token: reader).code == 200) }
        let after = try await Self.curl(controller.url, token: reader).body
        for review in ["TokenReview", "SubjectAccessReview"] {
            let series = #"sextant_metrics_access_reviews_total{review="\#(review)"}"#
            let counted = Self.sample(before, series)
            #expect(counted != nil && counted == Self.sample(after, series), "\(series): \(String(describing: counted)) then \(String(describing: Self.sample(after, series)))")
            #expect((counted ?? 0) >= 2, "the reader's and the stranger's \(review)s were sent")
        }

        // A real Prometheus, configured like the chart's ServiceMonitor (https, its own token,
        // the self-signed certificate accepted): the reader's job is up, the stranger's is not.
        try reader.write(toFile: cluster.directory.file("reader.token"), atomically: true, encoding: .utf8)
        try stranger.write(toFile: cluster.directory.file("stranger.token"), atomically: true, encoding: .utf8)
        let jobs = [("reader", cluster.directory.file("reader.token")), ("stranger", cluster.directory.file("stranger.token"))]
        let prometheus = try await PrometheusServer.start(scrapeTargets: [], extraScrapeConfigs: jobs.map { job, file in """
              - job_name: \(job)
                scheme: https
                authorization: {credentials_file: \(file)}
                tls_config: {insecure_skip_verify: true}
                static_configs: [{targets: ['127.0.0.1:\(controller.metricsPort)']}]
            """ }.joined(separator: "\n"))
        defer { prometheus.stop() }
        var health: [String: (String, String)] = [:]
        let scraped = try await poll(timeout: .seconds(60), every: .milliseconds(300)) {
            let targets = try LocalHTTP.request("GET", port: prometheus.port, path: "/api/v1/targets?state=active")
            let root = try JSONSerialization.jsonObject(with: targets.body) as? [String: Any]
            for target in (root?["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]] ?? [] {
                let job = (target["labels"] as? [String: String])?["job"] ?? ""
                health[job] = (target["health"] as? String ?? "", target["lastError"] as? String ?? "")
            }
            // A scrape that timed out on a loaded machine is down too: wait for the refusal itself.
            return health["reader"]?.0 == "up" && health["stranger"]?.0 == "down" && health["stranger"]?.1.contains("403") == true
        }
        #expect(scraped, "the reader's target up, the stranger's down with 403: \(health)")
        let up = try LocalHTTP.request("GET", port: prometheus.port, path: "/api/v1/query?query=sextant_build_info")
        #expect(up.text.contains(#""job":"reader""#), "\(up.text.prefix(500))")

        // All of that left the controller running and healthy.
        #expect(controller.process.process.isRunning)
        #expect(try LocalHTTP.request("GET", port: controller.healthPort, path: "/healthz").status == 200)
    }

    @Test func servesAGivenCertificateReloadsItAndCanServePlainHTTP() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.server.stop() } }
        let reader = try await cluster.token("monitoring", "prometheus")
        let kubeconfig = try await cluster.controllerKubeconfig()

        // A certificate directory with a CA-signed pair (openssl), as a mounted tls Secret has.
        let first = try TemporaryDirectory(), second = try TemporaryDirectory(), mounted = try TemporaryDirectory()
        let firstCA = try TestCertificates(directory: first.path), secondCA = try TestCertificates(directory: second.path)
        try FileManager.default.copyItem(atPath: firstCA.serverCert, toPath: mounted.file("tls.crt"))
        try FileManager.default.copyItem(atPath: firstCA.serverKey, toPath: mounted.file("tls.key"))

        let controller = try Controller.start(kubeconfig: kubeconfig, ["--metrics-cert-dir", mounted.path])
        defer { controller.process.stop() }
        var answer = (code: 0, body: "")
        let verified = try await poll(timeout: .seconds(60), every: .milliseconds(200)) {
            answer = try await Self.curl(controller.url, token: reader, ["--cacert", firstCA.caCert])
            return answer.code == 200 || !controller.process.process.isRunning
        }
        #expect(verified && answer.code == 200, "curl verifying the given CA: \(answer) \(controller.process.text.suffix(2000))")
        #expect(try await Self.curl(controller.url, token: reader, ["--cacert", secondCA.caCert]).code == 0,
                "another CA does not verify it")

        // The Secret is updated (new files): new connections get the new certificate.
        for (from, to) in [(secondCA.serverCert, "tls.crt"), (secondCA.serverKey, "tls.key")] {
            try FileManager.default.removeItem(atPath: mounted.file(to))
            try FileManager.default.copyItem(atPath: from, toPath: mounted.file(to))
        }
        let reloaded = try await poll(timeout: .seconds(60), every: .milliseconds(500)) {
            try await Self.curl(controller.url, token: reader, ["--cacert", secondCA.caCert]).code == 200
        }
        #expect(reloaded, "\(controller.process.text.suffix(2000))")
        controller.process.stop()

        // A named directory without the files: exit 1 naming the file, never a silent fallback.
        let missing = try TemporaryDirectory()
        let broken = try await runCommandAsync(CanaryEnvironment.controllerBinary ?? "sextant-controller",
                                               ["--kubeconfig", kubeconfig, "--leader-elect=false", "--metrics-cert-dir", missing.path,
                                                "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "0"])
        #expect(broken.code != 0 && broken.output.contains(missing.file("tls.crt")), "\(broken)")

        // --metrics-secure=false: plain HTTP, no token needed (the opt-out).
        let plain = try Controller.start(kubeconfig: kubeconfig, ["--metrics-secure=false"])
        defer { plain.process.stop() }
        var plainAnswer = (code: 0, body: "")
        let open = try await poll(timeout: .seconds(60), every: .milliseconds(200)) {
            plainAnswer = try await Self.curl("http://127.0.0.1:\(plain.metricsPort)/metrics", token: nil, [])
            return plainAnswer.code == 200 || !plain.process.process.isRunning
        }
        #expect(open && plainAnswer.body.contains("sextant_build_info{"), "\(plainAnswer) \(plain.process.text.suffix(2000))")
    }
}
