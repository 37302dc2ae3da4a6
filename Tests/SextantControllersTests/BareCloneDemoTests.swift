import Foundation
import SextantAPI
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// The repository stands on its own (docs/architecture.md): its files, copied to a temporary
/// directory with nothing beside it, run the whole demo with `hack/run-local.sh --exit`, canary and
/// served model included. Watched from outside, the rollout of fraud-v2 shows at least two weight
/// steps of at least 10 s each before promotion, and the servers' own request counters
/// (`sextant_requests_total` on each Pod's /metrics) show traffic on the candidate during each.
///
/// The script reuses the binaries built next to this test bundle (SEXTANT_BIN_DIR) instead of a
/// fresh `swift build` in the copy (minutes): they are built from the same sources, and what the
/// copy proves — that the script, the manifests, the CRDs and the helper scripts it runs need no
/// file outside the repository — does not depend on where the compiler ran.
@Suite(.serialized) struct BareCloneDemoTests {
    static let namespace = "sextant-demo"
    static let stepSeconds = 15

    /// One observation of the rollout and the servers.
    struct Sample {
        var time: ContinuousClock.Instant
        var phase: String
        var stable: String
        var canary: String
        var weight: Int
        /// Model version → predictions answered 200, summed over its Pods' counters.
        var answered: [String: Double]
    }

    @Test(.timeLimit(.minutes(12))) func demoRunsFromABareCopyWithVisibleSteps() async throws {
        guard try Tooling.available("sextant, sextant-controller, sextant-trainer and sextant-server next to the test bundle (swift build --build-tests)",
                                    Self.binDirectory != nil),
              try Tooling.available("git", Tooling.find("git") != nil),
              try Tooling.available("kubectl", Tooling.find("kubectl") != nil),
              try Tooling.available("prometheus", Tooling.find("prometheus") != nil),
              let binDirectory = Self.binDirectory else { return }
        let scratch = try TemporaryDirectory()
        let copy = scratch.file("sextant")
        try Self.copyRepository(to: copy)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["sextant"], "nothing beside the copy")
        #expect(!FileManager.default.fileExists(atPath: copy + "/.build"), "no build folder in the copy")

        // Started through python3 to clear the signal mask this test thread would pass on (signals
        // blocked there stay blocked in the child): the script's SIGTERM must reach what it starts.
        let unblocked = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
            + "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGTERM, signal.SIGINT)]; os.execv('/bin/bash', ['bash'] + sys.argv[1:])"
        let script = try TestProcess("python3", ["-c", unblocked, copy + "/hack/run-local.sh", "--exit"], environment: [
            "SEXTANT_BIN_DIR": binDirectory,
            "SEXTANT_DEMO_STEP_SECONDS": String(Self.stepSeconds),
            "SEXTANT_PORT": "0",
            "SEXTANT_CONTROLLER_PORT": "0",
            "SEXTANT_PROMETHEUS_PORT": String(try LocalHTTP.freePort()),
            "KUBECONFIG": "",
        ], directory: copy)
        defer { script.stop() }

        // Watch from outside while the script runs: the rollout's status and the servers' counters.
        var samples: [Sample] = []
        var client: KubeClient?
        let deadline = ContinuousClock.now + .seconds(480)
        while script.process.isRunning, ContinuousClock.now < deadline {
            if client == nil, FileManager.default.fileExists(atPath: copy + "/.tmp/kubeconfig"),
               let config = try? ClusterConfig(kubeconfig: Kubeconfig.load(path: copy + "/.tmp/kubeconfig")) {
                client = KubeClient(config: config)
            }
            if let client, let sample = await Self.observe(client) { samples.append(sample) }
            try await Task.sleep(for: .milliseconds(500))
        }
        if script.process.isRunning {
            script.stop()
            Issue.record("hack/run-local.sh --exit still running after 480 s (stopped):\n\(script.text)")
            return
        }
        let output = script.text
        #expect(script.process.terminationStatus == 0, "hack/run-local.sh --exit failed:\n\(output)")
        #expect(output.contains("fraud-v2 answered: {"), "the promoted model answered a prediction:\n\(output)")
        #expect(!output.contains("No resources found"), "\(output)")

        // The rollout of fraud-v2: its weight steps before promotion, from the samples.
        guard let promoted = samples.firstIndex(where: { $0.stable == "fraud-v2" && $0.phase == "Succeeded" }) else {
            Issue.record("never saw fraud `Succeeded` with fraud-v2 stable (\(samples.count) samples):\n\(output)")
            return
        }
        var steps: [(weight: Int, first: Sample, last: Sample)] = []
        for sample in samples[..<promoted] where sample.canary == "fraud-v2" && sample.phase == "Progressing" && sample.weight > 0 {
            if let last = steps.last, last.weight == sample.weight {
                steps[steps.count - 1].last = sample
            } else {
                steps.append((sample.weight, sample, sample))
            }
        }
        let described = steps.map { "\($0.weight) % for \($0.first.time.duration(to: $0.last.time))" }
        print("demo steps: \(described.joined(separator: ", "))")
        #expect(steps.map(\.weight) == [20, 50], "steps seen: \(described)")
        for step in steps {
            let held = step.first.time.duration(to: step.last.time)
            #expect(held >= .seconds(10), "the \(step.weight) % step lasted \(held)")
            let canaryServed = (step.last.answered["fraud-v2"] ?? 0) - (step.first.answered["fraud-v2"] ?? 0)
            let stableServed = (step.last.answered["fraud-v1"] ?? 0) - (step.first.answered["fraud-v1"] ?? 0)
            #expect(canaryServed > 0 && stableServed > 0,
                    "at \(step.weight) % the servers counted \(canaryServed) predictions on fraud-v2, \(stableServed) on fraud-v1")
        }
        // The promoted version keeps answering the demo traffic.
        let after = samples[promoted...].compactMap { $0.answered["fraud-v2"] }
        #expect((after.last ?? 0) > (samples[promoted].answered["fraud-v2"] ?? 0) || samples[promoted...].count < 3,
                "fraud-v2 answered no traffic after its promotion")
    }

    /// The built products, next to the test bundle after `swift build --build-tests`.
    static var binDirectory: String? {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let products = ["sextant", "sextant-controller", "sextant-trainer", "sextant-server"]
        return products.allSatisfy { FileManager.default.isExecutableFile(atPath: directory + "/" + $0) } ? directory : nil
    }

    /// The repository's files as a clone would have them: the tracked ones plus new files not yet
    /// committed (not the ignored ones: .build, .tmp), with their modes.
    static func copyRepository(to destination: String) throws {
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let listed = try runCommand("git", ["-C", Repo.root, "ls-files", "--cached", "--others", "--exclude-standard"])
        guard listed.code == 0 else { throw TestSetupError("git ls-files failed: \(listed.output)") }
        let files = listed.output.split(separator: "\n").map(String.init)
            .filter { FileManager.default.fileExists(atPath: Repo.root + "/" + $0) }  // not deleted in the worktree
        #expect(files.contains("hack/run-local.sh") && files.contains("hack/local-crds/virtualservices.networking.istio.io.yaml"))
        let list = destination + ".files"
        try files.joined(separator: "\n").write(toFile: list, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: list) }
        let copied = try runCommand("/bin/sh", ["-c", "tar -C \"$0\" -cf - -T \"$1\" | tar -C \"$2\" -xf -", Repo.root, list, destination])
        guard copied.code == 0 else { throw TestSetupError("copying the repository failed: \(copied.output)") }
    }

    static func observe(_ client: KubeClient) async -> Sample? {
        guard let rollout = try? await client.get(CanaryRollout.self, name: "fraud", namespace: namespace),
              let pods = try? await client.list(TrainingEnvironment.podResource,
                                                namespace: namespace, as: DynamicObject.self) else { return nil }
        var answered: [String: Double] = [:]
        for pod in pods.items.map(\.raw) {
            guard let version = pod[path: ["metadata", "labels", SextantLabel.modelVersion]]?.stringValue,
                  let endpoint = pod[path: ["metadata", "annotations", "mlops.sextant.dev/local-endpoint"]]?.stringValue,
                  let port = endpoint.split(separator: ":").last.flatMap({ Int($0) }),
                  let metrics = try? LocalHTTP.request("GET", port: port, path: "/metrics", timeoutSeconds: 1),
                  metrics.status == 200 else { continue }
            for line in metrics.text.split(separator: "\n") where line.hasPrefix("sextant_requests_total{")
                && line.contains("code=\"200\"") && line.contains("version=\"\(version)\"") {
                answered[version, default: 0] += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
            }
        }
        let status = rollout.status
        return Sample(time: .now, phase: status?.phase?.rawValue ?? "", stable: status?.stableVersion ?? "",
                      canary: status?.canaryVersion ?? "", weight: status?.canaryWeight ?? 0, answered: answered)
    }
}
