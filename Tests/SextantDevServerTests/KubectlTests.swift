import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// The real `kubectl` against the development API server: the "done when" scenario of issue 3.
@Suite(.serialized) struct KubectlTests {
    struct Kubectl {
        var tool: String
        var env: RunningServer

        var baseArguments: [String] {
            ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path]
        }

        @discardableResult
        func callAsFunction(_ args: String..., stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
            async throws -> ProcessResult
        {
            let result = try await run(tool, baseArguments + args, stdin: stdin)
            #expect(result.status == 0, "kubectl \(args.joined(separator: " ")) failed: \(result.stderr)",
                    sourceLocation: sourceLocation)
            return result
        }

        func failing(_ args: String..., stdin: String? = nil) async throws -> ProcessResult {
            try await run(tool, baseArguments + args, stdin: stdin)
        }
    }

    static func virtualService(weight: String, canary: String = "10") -> String {
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: default
        spec:
          hosts: ["reviews"]
          gateways: ["mesh"]
          http:
          - name: primary
            route:
            - destination: {host: reviews, subset: stable}
              weight: \(weight)
            - destination: {host: reviews, subset: canary}
              weight: \(canary)
        """
    }

    @Test func istioCRDsApplyGetPatchWatchAndValidation() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            // CRDs: Istio's kinds as the project defines them (hack/local-crds), and Sextant's own.
            for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
                let applied = try await kubectl("apply", "-f", localCRDs.appendingPathComponent(file).path)
                #expect(applied.stdout.contains("created"))
            }
            try await kubectl("apply", "-f", packageRoot.appendingPathComponent("crds").path)
            let crds = try await kubectl("get", "crd")
            #expect(crds.stdout.contains("virtualservices.networking.istio.io"))

            // apply (create, then configure) and get with the CRD's printer columns.
            #expect(try await kubectl("apply", "-f", "-", stdin: Self.virtualService(weight: "90")).stdout.contains("created"))
            #expect(try await kubectl("apply", "-f", "-", stdin: Self.virtualService(weight: "80", canary: "20")).stdout.contains("configured"))
            let table = try await kubectl("get", "virtualservices", "reviews")
            let header = table.stdout.split(separator: "\n").first.map(String.init) ?? ""
            #expect(header.contains("NAME") && header.contains("GATEWAYS") && header.contains("HOSTS") && header.contains("AGE"),
                    "header: \(header)")
            #expect(table.stdout.contains("[\"mesh\"]"))
            let weights = try await kubectl("get", "vs", "reviews", "-o", "jsonpath={.spec.http[0].route[*].weight}")
            #expect(weights.stdout == "80 20")

            // get -w sees a change made by someone else.
            let watcher = try BackgroundProcess(tool, kubectl.baseArguments + ["get", "vs", "reviews", "-w", "-o",
                                                                              "jsonpath={.spec.http[0].route[0].weight}{\"\\n\"}"])
            #expect(await watcher.waitFor { $0.contains("80") })
            // Default output: kubectl watches with Table rows.
            let tableWatcher = try BackgroundProcess(tool, kubectl.baseArguments + ["get", "vs", "-w"])
            #expect(await tableWatcher.waitFor { $0.contains("reviews") && $0.contains("HOSTS") }, "table watch: \(tableWatcher.text)")

            try await kubectl("patch", "vs", "reviews", "--type", "merge", "-p",
                        #"{"spec":{"http":[{"name":"primary","route":[{"destination":{"host":"reviews","subset":"stable"},"weight":70},{"destination":{"host":"reviews","subset":"canary"},"weight":30}]}]}}"#)
            #expect(await watcher.waitFor { $0.contains("70") }, "watch output: \(watcher.text)")
            try await kubectl("patch", "vs", "reviews", "--type", "json", "-p",
                        #"[{"op":"test","path":"/spec/http/0/route/0/weight","value":70},{"op":"replace","path":"/spec/http/0/route/0/weight","value":60},{"op":"replace","path":"/spec/http/0/route/1/weight","value":40}]"#)
            #expect(await watcher.waitFor { $0.contains("60") }, "watch output: \(watcher.text)")
            watcher.stop()
            #expect(await tableWatcher.waitFor { $0.components(separatedBy: "reviews").count >= 7 },
                    "one row per change: \(tableWatcher.text)")
            tableWatcher.stop()
            #expect(try await kubectl("get", "vs", "reviews", "-o", "jsonpath={.spec.http[0].route[*].weight}").stdout == "60 40")

            // A weight given as a string is rejected with 422 naming the field.
            let rejected = try await kubectl.failing("apply", "-f", "-", stdin: Self.virtualService(weight: "\"abc\""))
            #expect(rejected.status != 0)
            #expect(rejected.stderr.contains("spec.http[0].route[0].weight"), "stderr: \(rejected.stderr)")
            #expect(rejected.stderr.contains("Invalid value"), "stderr: \(rejected.stderr)")
            let rejectedPatch = try await kubectl.failing("patch", "vs", "reviews", "--type", "json", "-p",
                                                    #"[{"op":"replace","path":"/spec/http/0/route/0/weight","value":"abc"}]"#)
            #expect(rejectedPatch.status != 0)
            #expect(rejectedPatch.stderr.contains("spec.http[0].route[0].weight"), "stderr: \(rejectedPatch.stderr)")
        } catch {
            Issue.record(error)
        }
        await env.stop()
    }

    /// Sextant's own CRDs and the example manifests, validated by their schemas on this server.
    @Test func sextantCRDsAndExamples() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let crds = packageRoot.appendingPathComponent("crds")
        let examples = packageRoot.appendingPathComponent("manifests/examples")
        #expect(FileManager.default.fileExists(atPath: crds.path) && FileManager.default.fileExists(atPath: examples.path),
                "crds/ and manifests/examples/ are part of the repository")
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            try await kubectl("apply", "-f", crds.path)
            try await kubectl("apply", "-f", "-", stdin: """
            apiVersion: v1
            kind: Namespace
            metadata: {name: ml-production}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: ml-staging}
            """)
            let applied = try await kubectl("apply", "-f", examples.path)
            #expect(!applied.stdout.isEmpty)
            // The category lists all three kinds; short names and printer columns work.
            let all = try await kubectl("get", "sextant", "-A")
            #expect(all.stdout.contains("trainingjob.mlops.sextant.dev/") || all.stdout.contains("NAME"), "get sextant: \(all.stdout)")
            let rollouts = try await kubectl("get", "cro", "-n", "ml-production")
            #expect(rollouts.stdout.contains("PHASE") && rollouts.stdout.contains("fraud-detector"), "get cro: \(rollouts.stdout)")
            // A spec that breaks the schema is refused with the field named.
            let bad = try await kubectl.failing("apply", "-f", "-", stdin: """
            apiVersion: mlops.sextant.dev/v1alpha1
            kind: ModelVersion
            metadata: {name: broken, namespace: ml-production}
            spec: {modelName: 42}
            """)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("spec.modelName") || bad.stderr.contains("spec."), "stderr: \(bad.stderr)")
        } catch {
            Issue.record(error)
        }
        await env.stop()
    }

    @Test func finalizerDeleteAndServerSideApply() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            let configMap = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: guarded
              finalizers: ["mlops.sextant.dev/cleanup"]
            data:
              a: "1"
            """
            try await kubectl("apply", "-f", "-", stdin: configMap)
            try await kubectl("delete", "configmap", "guarded", "--wait=false")
            let pending = try await kubectl("get", "configmap", "guarded", "-o", "jsonpath={.metadata.deletionTimestamp}")
            #expect(!pending.stdout.isEmpty, "deletionTimestamp set while the finalizer is present")
            try await kubectl("patch", "configmap", "guarded", "--type", "json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#)
            let gone = try await kubectl.failing("get", "configmap", "guarded")
            #expect(gone.status != 0)
            #expect(gone.stderr.contains("NotFound") || gone.stderr.contains("not found"), "stderr: \(gone.stderr)")

            let applied = try await kubectl("apply", "--server-side", "--field-manager", "sextant-test", "-f", "-", stdin: """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: ssa
            data:
              k: v
            """)
            #expect(applied.stdout.contains("serverside-applied"), "stdout: \(applied.stdout)")
            try await kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin: """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: ssa
            data:
              k: w
            """)
            #expect(try await kubectl("get", "cm", "ssa", "-o", "jsonpath={.data.k}").stdout == "w")
            // Built-in apply (client side) goes through strategic merge patch.
            // (`kubectl create deployment` sends protobuf, which this server refuses with 415.)
            try await kubectl("apply", "-f", "-", stdin: """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              labels: {app: web}
            spec:
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - name: nginx
                    image: nginx:1
                  - name: sidecar
                    image: envoy:1
            """)
            try await kubectl("set", "image", "deployment/web", "nginx=nginx:2")
            #expect(try await kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}").stdout == "nginx:2 envoy:1")
            #expect(try await kubectl("get", "deploy", "web", "-o", "jsonpath={.metadata.generation}").stdout == "2")
            let all = try await kubectl("get", "deploy,cm", "-A")
            #expect(all.stdout.contains("web") && all.stdout.contains("ssa"))
            try await kubectl("delete", "deployment", "web")
        } catch {
            Issue.record(error)
        }
        await env.stop()
    }
}
