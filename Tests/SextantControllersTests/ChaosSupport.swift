import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Synchronization

/// What a chaos run does, from the environment (hack/chaos.sh sets these for the long version).
struct ChaosParameters: CustomStringConvertible {
    var seed: UInt64
    /// Namespaces with one CanaryRollout each; their rollouts run in parallel.
    var lanes: Int
    /// Rollouts in all, spread over the lanes (each lane rolls its candidates out one after another).
    var rollouts: Int
    var failingShare: Double
    /// `sextant-controller` processes, each `--shard-index i --shard-count shards`.
    var shards: Int
    /// Seconds between SIGKILLs of a controller (uniform).
    var killEvery: ClosedRange<Double>
    /// Share of the controller's API requests answered 500, 503 or 429.
    var apiFailRate: Double
    /// The time a rollout may take from its candidate being set to its outcome (generous: CI is slow).
    var rolloutDeadline: Duration

    static func fromEnvironment(rollouts defaultRollouts: Int = 12) -> ChaosParameters {
        let env = ProcessInfo.processInfo.environment
        func int(_ key: String, _ fallback: Int) -> Int { env[key].flatMap(Int.init) ?? fallback }
        func double(_ key: String, _ fallback: Double) -> Double { env[key].flatMap(Double.init) ?? fallback }
        let seed = env["SEXTANT_CHAOS_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...999_999)
        let lanes = max(1, int("SEXTANT_CHAOS_LANES", 4))
        return ChaosParameters(seed: seed, lanes: lanes, rollouts: max(lanes, int("SEXTANT_CHAOS_ROLLOUTS", defaultRollouts)),
                               failingShare: double("SEXTANT_CHAOS_FAILING_SHARE", 0.4),
                               shards: max(1, int("SEXTANT_CHAOS_SHARDS", 1)),
                               killEvery: double("SEXTANT_CHAOS_KILL_MIN", 2)...double("SEXTANT_CHAOS_KILL_MAX", 6),
                               apiFailRate: double("SEXTANT_CHAOS_API_FAIL_RATE", 0.05),
                               rolloutDeadline: .seconds(int("SEXTANT_CHAOS_DEADLINE_SECONDS", 90)))
    }

    var description: String {
        "seed=\(seed) lanes=\(lanes) rollouts=\(rollouts) failingShare=\(failingShare) shards=\(shards) "
            + "killEvery=\(killEvery.lowerBound)-\(killEvery.upperBound)s apiFailRate=\(apiFailRate) deadline=\(rolloutDeadline)"
    }
}

// SeededGenerator (SextantTestSupport): a failing run can be replayed with SEXTANT_CHAOS_SEED.

/// `hack/testservers/fleet_exporter.py`: one process exporting every version's sextant-server
/// metrics with their `namespace` label.
final class FleetExporter: @unchecked Sendable {
    let process: TestProcess
    let port: Int
    var target: String { "127.0.0.1:\(port)" }

    init() async throws {
        process = try TestProcess("python3", [Repo.root + "/hack/testservers/fleet_exporter.py", "--port", "0"])
        let line = try await process.waitForLine(prefix: "listening on 127.0.0.1:")
        guard let port = Int(line) else { throw TestSetupError("fleet exporter printed no port: \(process.text)") }
        self.port = port
    }

    func add(namespace: String, model: String, version: String, healthy: Bool) async throws {
        let series: JSONValue = [["namespace": .string(namespace), "model": .string(model), "version": .string(version),
                                  "successRate": .double(healthy ? 0.999 : 0.6), "latencySeconds": .double(healthy ? 0.05 : 0.9)]]
        let answer = try await LocalHTTP.requestAsync("POST", port: port, path: "/series", body: Data(series.serialized()))
        guard answer.status == 200 else { throw TestSetupError("fleet exporter /series answered \(answer.status): \(answer.text)") }
    }

    func stop() { process.stop() }
    func stopAsync() async { await process.stopAsync() }
}

/// Prometheus that can be stopped and started again on the same port and storage (the chaos
/// suite restarts it), scraping the fleet exporter with `honor_labels` so its namespaces stay.
final class RestartablePrometheus: @unchecked Sendable {
    let directory: TemporaryDirectory
    let port: Int
    let binary: String
    private let current = Mutex<TestProcess?>(nil)
    var address: String { "http://127.0.0.1:\(port)" }

    init(scraping target: String) async throws {
        guard let binary = Tooling.find("prometheus") else { throw TestSetupError("prometheus is not installed") }
        self.binary = binary
        directory = try TemporaryDirectory()
        port = try LocalHTTP.freePort()
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: fleet
                honor_labels: true
                static_configs:
                  - targets: ['\(target)']
            """.write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
        try await start()
    }

    func start() async throws {
        let process = try TestProcess(binary, ["--config.file=\(directory.file("prometheus.yml"))",
                                               "--storage.tsdb.path=\(directory.file("data"))",
                                               "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"])
        current.withLock { $0 = process }
        let ready = try await poll(timeout: .seconds(60), every: .milliseconds(100)) {
            guard process.process.isRunning else { throw TestSetupError("prometheus exited: \(process.text)") }
            return try await LocalHTTP.requestAsync("GET", port: self.port, path: "/-/ready").status == 200
        }
        guard ready else { throw TestSetupError("prometheus not ready within 60 s: \(process.text)") }
    }

    /// Waits until the fleet target was scraped (so queries have data).
    func waitForScrapes() async throws {
        let up = try await poll(timeout: .seconds(30), every: .milliseconds(200)) {
            let answer = try await LocalHTTP.requestAsync("GET", port: self.port, path: "/api/v1/query?query=up")
            let result = try JSONValue.decode(answer.body)["data"]?["result"]?.arrayValue ?? []
            return result.contains { $0["value"]?.arrayValue?.last?.stringValue == "1" }
        }
        guard up else { throw TestSetupError("prometheus never scraped the fleet exporter") }
    }

    func stop() { current.withLock { $0 }?.stop() }
    func stopAsync() async { await current.withLock { $0 }?.stopAsync() }
}

/// One namespace's rollout and the candidates it rolls out, healthy or failing as the seed says.
struct ChaosLane: Sendable {
    static let model = "fraud"
    static let rollout = "fraud"
    var namespace: String
    var first: String
    var candidates: [(name: String, healthy: Bool)]
}

/// The Deployment controller the development server lacks, for every namespace: marks Sextant's
/// Deployments available with their replicas.
func clusterKubelet(_ client: KubeClient) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled {
            if let list = try? JSONValue.decode(try await client.send(
                method: "GET", path: "/apis/apps/v1/deployments",
                query: [URLQueryItem(name: "labelSelector", value: SextantLabel.canaryRollout)])) {
                for item in list["items"]?.arrayValue ?? [] {
                    let replicas = item["spec"]?["replicas"]?.intValue ?? 1
                    let generation = item["metadata"]?["generation"]?.intValue ?? 1
                    let status = item["status"]
                    if status?["observedGeneration"]?.intValue == generation, status?["availableReplicas"]?.intValue ?? 0 == replicas {
                        continue
                    }
                    guard let name = item["metadata"]?["name"]?.stringValue,
                          let namespace = item["metadata"]?["namespace"]?.stringValue else { continue }
                    let patch: JSONValue = ["status": [
                        "observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                        "readyReplicas": .int(replicas), "availableReplicas": .int(replicas)]]
                    _ = try? await client.send(method: "PATCH",
                                               path: RolloutServing.deployments.path(namespace: namespace, name: name, subresource: "status"),
                                               body: Data(patch.serialized()), contentType: "application/merge-patch+json")
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// The CanaryRollout of a lane: two canary steps (25 %, 50 %), analysis every 2 s with the two
/// built-in metrics. No data counts as an error (it holds) rather than a failed check, and the
/// error limit is high, so that a Prometheus restart holds rollouts instead of deciding them;
/// the progress deadline is far beyond the test's own, so the test's deadline is what is checked.
func chaosRollout(namespace: String, candidate: String) -> CanaryRollout {
    var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
    routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
    var managed = ManagedServing()
    managed.replicas = 1
    var spec = CanaryRolloutSpec(modelName: ChaosLane.model, serving: ServingSpec(managed: managed), routing: routing,
                                 strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
    spec.modelVersion = candidate
    var analysis = AnalysisSpec()
    analysis.interval = "2s"
    analysis.failureLimit = 2
    analysis.consecutiveErrorLimit = 30
    var success = AnalysisMetric(name: "success-rate", template: .successRate, thresholdRange: ThresholdRange(min: 0.95))
    success.interval = "5s"
    success.noDataPolicy = .error
    var latency = AnalysisMetric(name: "latency-p99", template: .latencyP99, thresholdRange: ThresholdRange(max: 0.5))
    latency.interval = "5s"
    latency.noDataPolicy = .error
    analysis.metrics = [success, latency]
    spec.analysis = analysis
    spec.progressDeadlineSeconds = 600
    spec.scaleDownDelaySeconds = 1
    spec.abortScaleDownDelaySeconds = 1
    return CanaryRollout(metadata: ObjectMeta(name: ChaosLane.rollout, namespace: namespace), spec: spec)
}

/// The harness's own client: a User-Agent the injected faults do not aim at, so that what the
/// test observes is never itself faulted, and quick retries.
func harnessClient(_ server: DevServer) -> KubeClient {
    var options = KubeClient.Options()
    options.retryBaseDelay = .milliseconds(20)
    options.retryMaxDelay = .milliseconds(200)
    options.qps = 5000
    options.burst = 5000
    options.userAgent = "sextant-chaos-harness/1"
    return KubeClient(config: ClusterConfig(server: server.baseURL, namespace: "default"), options: options)
}

/// Counts of what the chaos did, for the summary line.
final class ChaosCounters: Sendable {
    let values = Mutex<[String: Int]>([:])
    func bump(_ key: String, by n: Int = 1) { values.withLock { $0[key, default: 0] += n } }
    subscript(_ key: String) -> Int { values.withLock { $0[key] ?? 0 } }
    var summary: String { values.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
}

/// Progress lines written at once (the test's stdout is a pipe to `swift test`, block-buffered).
enum ChaosOutput {
    static func line(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
}

/// This process's CPU time from /proc/self/stat (user + system), to tell the harness's own load
/// (the development API server runs in it) from the machine's.
struct ProcessCPU {
    var seconds: Double
    var at: ContinuousClock.Instant

    static func sample() -> ProcessCPU {
        let stat = (try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)) ?? ""
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        let ticks = fields.count > 12 ? (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) : 0
        return ProcessCPU(seconds: ticks / Double(sysconf(Int32(_SC_CLK_TCK))), at: .now)
    }

    func cores(since earlier: ProcessCPU) -> Double {
        let wall = at - earlier.at
        let elapsed = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        return elapsed > 0 ? (seconds - earlier.seconds) / elapsed : 0
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "-").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
