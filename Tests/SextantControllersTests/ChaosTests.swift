import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import Synchronization
import Testing

/// Issue 21 (#16) item 2: rollouts of random healthy and failing candidates in several namespaces
/// at once while the real `sextant-controller` is SIGKILLed at random moments, the development
/// API server fails, throttles and delays the controller's requests, drops its watches and
/// compacts its history (410 Gone on re-watch), and Prometheus is restarted once. After every
/// rollout: the outcome matches the candidate, it ended in time, status and routing agree, steps
/// were neither skipped nor repeated, ModelVersion phases and records are right; at the end, every
/// important Event exists exactly once. The seed is printed; SEXTANT_CHAOS_SEED replays a run and
/// hack/chaos.sh runs the long version (ChaosParameters).
@Suite(.serialized) struct ChaosTests {
    @Test func rolloutsHoldTheirInvariantsUnderKillsAndFaults() async throws {
        try await Self.chaos(ChaosParameters.fromEnvironment())
    }

    /// Two `--shard-count 2` controllers split the rollouts; each is SIGKILLed at least once.
    /// (hack/chaos.sh runs the long version of either with SEXTANT_CHAOS_SHARDS.)
    @Test func twoShardsSplitTheRolloutsUnderKillsAndFaults() async throws {
        var parameters = ChaosParameters.fromEnvironment(rollouts: 8)
        parameters.shards = 2
        try await Self.chaos(parameters)
    }

    static func chaos(_ parameters: ChaosParameters) async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent() else { return }
        guard try Tooling.available("sextant-controller next to the test bundle (swift build --build-tests)",
                                    CanaryEnvironment.controllerBinary != nil),
              let binary = CanaryEnvironment.controllerBinary else { return }
        print("chaos: \(parameters) (replay with SEXTANT_CHAOS_SEED=\(parameters.seed))")
        let run = try await ChaosRun.start(parameters, binary: binary)
        defer { run.stopProcesses(); Task { await run.server.stop() } }
        let violations = await run.run()
        print(run.summary)
        for violation in violations { Issue.record("seed \(parameters.seed): \(violation)") }
        #expect(run.counters["rollouts.completed"] == parameters.rollouts, "every rollout ended (seed \(parameters.seed))")
        #expect(run.counters["controller.kills"] >= 2, "the controller was killed")
        #expect(run.counters["prometheus.restarts"] == 1, "Prometheus was restarted once")
        if parameters.shards > 1 {
            for shard in 0..<parameters.shards {
                #expect(run.counters["controller.kills.shard\(shard)"] >= 1, "shard \(shard) was killed (seed \(parameters.seed))")
            }
        }
    }
}

/// One chaos run: the environment, the lanes, the chaos, the invariants.
final class ChaosRun: @unchecked Sendable {
    let parameters: ChaosParameters
    let server: DevServer
    let client: KubeClient
    let exporter: FleetExporter
    let prometheus: RestartablePrometheus
    let kubeconfig: TemporaryDirectory
    let binary: String
    let lanes: [ChaosLane]
    let failing: Set<String>
    let counters = ChaosCounters()
    private let controllers = Mutex<[TestProcess?]>([])
    private let durations = Mutex<[Double]>([])
    /// What each lane and the chaos loop last started to wait for, printed when the run stalls.
    private let activity = Mutex<[String: String]>([:])
    private let kubelet: Task<Void, Never>
    private let startedAt = ContinuousClock.now

    static func start(_ parameters: ChaosParameters, binary: String) async throws -> ChaosRun {
        var random = SeededGenerator(seed: parameters.seed)
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = harnessClient(server)
        try await TrainingEnvironment.installCRDs(client)
        for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
            _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                      body: yaml, contentType: "application/yaml")
        }
        let exporter = try await FleetExporter()
        var lanes: [ChaosLane] = []
        for index in 0..<parameters.lanes {
            let count = parameters.rollouts / parameters.lanes + (index < parameters.rollouts % parameters.lanes ? 1 : 0)
            let candidates = (1...max(1, count)).map { n in
                (name: "fraud-c\(n)", healthy: Double.random(in: 0..<1, using: &random) >= parameters.failingShare)
            }
            lanes.append(ChaosLane(namespace: "chaos-\(index)", first: "fraud-c0", candidates: count == 0 ? [] : candidates))
        }
        let prometheus = try await RestartablePrometheus(scraping: exporter.target)
        for lane in lanes {
            try await CanaryEnvironment.post(client, "/api/v1/namespaces",
                                             ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(lane.namespace)]])
            try await CanaryEnvironment.createRouting(client, namespace: lane.namespace)
            for (n, version) in ([(lane.first, true)] + lane.candidates.map { ($0.name, $0.healthy) }).enumerated() {
                var spec = ModelVersionSpec(modelName: ChaosLane.model, version: Int64(n + 1), artifact: ModelArtifact(
                    uri: "s3://models/fraud/\(version.0)/model.json", format: .sextantJSON))
                spec.approval = Approval(state: .approved, by: "chaos")
                _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: version.0, namespace: lane.namespace), spec: spec))
                try await exporter.add(namespace: lane.namespace, model: ChaosLane.model, version: version.0, healthy: version.1)
            }
            _ = try await client.create(chaosRollout(namespace: lane.namespace, candidate: lane.first))
        }
        try await prometheus.waitForScrapes()
        let kubeconfig = try TemporaryDirectory()
        try server.writeKubeconfig(to: kubeconfig.file("config"))
        let failing = Set(lanes.flatMap { lane in lane.candidates.filter { !$0.healthy }.map { "\(lane.namespace)/\($0.name)" } })
        return ChaosRun(parameters: parameters, server: server, client: client, exporter: exporter, prometheus: prometheus,
                        kubeconfig: kubeconfig, binary: binary, lanes: lanes, failing: failing, kubelet: clusterKubelet(client))
    }

    private init(parameters: ChaosParameters, server: DevServer, client: KubeClient, exporter: FleetExporter,
                 prometheus: RestartablePrometheus, kubeconfig: TemporaryDirectory, binary: String, lanes: [ChaosLane],
                 failing: Set<String>, kubelet: Task<Void, Never>) {
        self.parameters = parameters
        self.server = server
        self.client = client
        self.exporter = exporter
        self.prometheus = prometheus
        self.kubeconfig = kubeconfig
        self.binary = binary
        self.lanes = lanes
        self.failing = failing
        self.kubelet = kubelet
        controllers.withLock { $0 = Array(repeating: nil, count: parameters.shards) }
    }

    // MARK: Controllers

    func controllerArguments(shard: Int) throws -> [String] {
        var arguments = ["--kubeconfig", try kubeconfig.file("config"), "--leader-elect=false",
                         "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                         "--prometheus-url", prometheus.address, "--prometheus-timeout-seconds", "2", "--log-level", "warning"]
        if parameters.shards > 1 { arguments += ["--shard-index", "\(shard)", "--shard-count", "\(parameters.shards)"] }
        return arguments
    }

    func startController(_ shard: Int) throws {
        let process = try TestProcess(binary, try controllerArguments(shard: shard))
        controllers.withLock { $0[shard] = process }
    }

    /// SIGKILL, and wait until it is gone (polling: waitUntilExit can hang off the main thread).
    func killController(_ shard: Int) async {
        guard let process = controllers.withLock({ $0[shard] }) else { return }
        kill(process.process.processIdentifier, SIGKILL)
        _ = try? await poll(timeout: .seconds(10), every: .milliseconds(10)) { !process.process.isRunning }
        counters.bump("controller.kills")
        counters.bump("controller.kills.shard\(shard)")
    }

    func stopProcesses() {
        kubelet.cancel()
        for process in controllers.withLock({ $0 }) { process?.stop() }
        prometheus.stop()
        exporter.stop()
    }

    // MARK: Run

    /// Runs the lanes under chaos and returns the invariants that did not hold.
    func run() async -> [String] {
        var violations: [String] = []
        do {
            for shard in 0..<parameters.shards { try startController(shard) }
            for lane in lanes { try await waitForStable(lane, lane.first) }
        } catch {
            return ["setup: \(error)"]
        }
        var random = SeededGenerator(seed: parameters.seed &+ 1)
        let chaosSeed = random.next()
        let chaos = Task { await self.makeChaos(seed: chaosSeed) }
        let progress = Task { await self.reportProgress() }
        defer { progress.cancel() }
        violations += await withTaskGroup(of: [String].self) { group in
            for lane in lanes { group.addTask { await self.drive(lane) } }
            var all: [String] = []
            for await found in group { all += found }
            return all
        }
        // On a fast machine the lanes may end before the scheduled chaos (first kill after 1-2 s,
        // Prometheus restart after 2-4 s): let it reach its minimum instead of asserting on luck.
        _ = try? await poll(timeout: .seconds(30), every: .milliseconds(100)) {
            self.counters["prometheus.restarts"] >= 1 && self.counters["controller.kills"] >= max(2, self.parameters.shards)
        }
        chaos.cancel()
        _ = await chaos.value
        server.handler.setFaults(FaultConfiguration())
        // A controller must be running for the catching up below.
        for shard in 0..<parameters.shards where controllers.withLock({ $0[shard] })?.process.isRunning != true {
            try? startController(shard)
        }
        for lane in lanes { violations += await finalChecks(lane) }
        return violations
    }

    var summary: String {
        let sorted = durations.withLock { $0 }.sorted()
        func pct(_ p: Double) -> String {
            sorted.isEmpty ? "-" : String(format: "%.1f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        let elapsed = (ContinuousClock.now - startedAt).components.seconds
        return "chaos summary: seed=\(parameters.seed) \(counters.summary) rollout seconds p50=\(pct(0.5)) p90=\(pct(0.9)) "
            + "max=\(sorted.last.map { String(format: "%.1f", $0) } ?? "-") elapsed=\(elapsed)s"
    }

    /// Kills controllers, drops and expires watches, restarts Prometheus once, with the API faults on.
    private func makeChaos(seed: UInt64) async {
        var random = SeededGenerator(seed: seed)
        server.handler.setFaults(FaultConfiguration(failRate: parameters.apiFailRate, failCode: 500, delayMilliseconds: 2,
                                                    failCodes: [500, 503, 429], delayJitterMilliseconds: 40,
                                                    userAgentPrefix: "sextant/"))
        let prometheusRestartAt = ContinuousClock.now + .milliseconds(Int.random(in: 2000...4000, using: &random))
        var prometheusRestarted = false
        var nextKill = ContinuousClock.now + .milliseconds(Int.random(in: 1000...2000, using: &random))
        var nextWatchFault = ContinuousClock.now + .milliseconds(Int.random(in: 1500...4000, using: &random))
        while !Task.isCancelled {
            let now = ContinuousClock.now
            if !prometheusRestarted, now >= prometheusRestartAt {
                prometheusRestarted = true
                note("chaos", "restarting Prometheus")
                await prometheus.stopAsync()
                try? await Task.sleep(for: .milliseconds(Int.random(in: 1000...2500, using: &random)))
                do {
                    try await prometheus.start()
                    counters.bump("prometheus.restarts")
                } catch {
                    counters.bump("prometheus.restartFailures")
                }
            }
            if now >= nextKill {
                let shard = counters["controller.kills"] % parameters.shards  // each shard in turn
                note("chaos", "killing shard \(shard)")
                await killController(shard)
                note("chaos", "waiting to restart shard \(shard)")
                try? await Task.sleep(for: .milliseconds(Int.random(in: 100...1500, using: &random)))
                note("chaos", "starting shard \(shard)")
                do { try startController(shard) } catch { counters.bump("controller.restartFailures") }
                nextKill = ContinuousClock.now + .milliseconds(Int(Double.random(in: parameters.killEvery, using: &random) * 1000))
            }
            if now >= nextWatchFault {
                note("chaos", "dropping watches")
                if Bool.random(using: &random) {
                    // Watches resumed from a resourceVersion before this get 410 Gone and re-list.
                    await server.store.compactHistory()
                    counters.bump("api.compactions")
                }
                counters.bump("api.droppedWatches", by: await server.store.dropAllWatches())
                nextWatchFault = ContinuousClock.now + .milliseconds(Int.random(in: 1500...4000, using: &random))
            }
            note("chaos", "sleeping")
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private func note(_ who: String, _ what: String) {
        let at = (ContinuousClock.now - startedAt).components.seconds
        activity.withLock { $0[who] = "\(what) (since \(at)s)" }
    }

    /// The shard that owns a lane's rollout (and its ModelVersions: model and rollout share a name).
    func shard(of lane: ChaosLane) -> Int { Shard.index(of: "\(lane.namespace)/\(ChaosLane.rollout)", count: parameters.shards) }

    /// Every `SEXTANT_CHAOS_PROGRESS_SECONDS` (10): rollouts finished and kills, per shard, with the
    /// harness's own CPU and the machine's load; when nothing finished for 30 s, each unfinished
    /// lane's status and the controllers' last output, so a stall shows where it is.
    private func reportProgress() async {
        let every = Int(ProcessInfo.processInfo.environment["SEXTANT_CHAOS_PROGRESS_SECONDS"] ?? "") ?? 10
        var lastCompleted = -1
        var lastChange = ContinuousClock.now
        var lastDump = ContinuousClock.now
        var cpu = ProcessCPU.sample()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(max(1, every)))
            if Task.isCancelled { return }
            let now = ContinuousClock.now
            let sample = ProcessCPU.sample()
            let completed = counters["rollouts.completed"]
            var line = "chaos progress: \((now - startedAt).components.seconds)s \(completed)/\(parameters.rollouts) rollouts "
                + "(\(counters["rollouts.promoted"]) promoted, \(counters["rollouts.rolledBack"]) rolled back), "
                + "kills \(counters["controller.kills"])"
            if parameters.shards > 1 {
                line += "; per shard: " + (0..<parameters.shards).map {
                    "\($0): \(counters["rollouts.completed.shard\($0)"]) done, \(counters["controller.kills.shard\($0)"]) kills"
                }.joined(separator: ", ")
            }
            line += String(format: "; harness CPU %.2f cores, load %@", sample.cores(since: cpu), ProcessCPU.loadAverage())
            cpu = sample
            ChaosOutput.line(line)
            if completed != lastCompleted {
                lastCompleted = completed
                lastChange = now
            } else if now - lastChange >= .seconds(30), now - lastDump >= .seconds(30) {
                lastDump = now
                await dumpStall(since: now - lastChange)
            }
        }
    }

    private func dumpStall(since: Duration) async {
        ChaosOutput.line("chaos stall: no rollout finished for \(since.components.seconds)s")
        for lane in lanes {
            guard let rollout = try? await rollout(lane), let s = rollout.status else {
                ChaosOutput.line("  \(lane.namespace) (shard \(shard(of: lane))): status unreadable")
                continue
            }
            ChaosOutput.line("  \(lane.namespace) (shard \(shard(of: lane))): spec \(rollout.spec.modelVersion ?? "-") "
                + "phase \(s.phase?.rawValue ?? "-") held \(s.heldPhase?.rawValue ?? "-") step \(s.currentStepIndex ?? -1) "
                + "canary \(s.canaryVersion ?? "-") stable \(s.stableVersion ?? "-") gen \(rollout.metadata.generation ?? 0)/"
                + "\(s.observedGeneration ?? 0) reason \(s.reason ?? "-"): \(s.message ?? "")")
        }
        for (who, what) in activity.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            ChaosOutput.line("  harness \(who): \(what)")
        }
        for (shard, process) in controllers.withLock({ $0 }).enumerated() {
            let tail = process?.text.split(separator: "\n").suffix(5).joined(separator: "\n    ") ?? "-"
            ChaosOutput.line("  controller \(shard): running \(process?.process.isRunning ?? false), last output:\n    \(tail)")
        }
    }

    // MARK: One lane

    private func rollout(_ lane: ChaosLane) async throws -> CanaryRollout {
        try await client.get(CanaryRollout.self, name: ChaosLane.rollout, namespace: lane.namespace)
    }

    private func waitForStable(_ lane: ChaosLane, _ version: String) async throws {
        let ok = try await poll(timeout: .seconds(60), every: .milliseconds(50)) {
            let s = try await self.rollout(lane).status
            return s?.phase == .succeeded && s?.stableVersion == version
        }
        guard ok else { throw TestSetupError("\(lane.namespace): \(version) never became stable") }
    }

    /// Rolls out the lane's candidates one after another, checking each.
    private func drive(_ lane: ChaosLane) async -> [String] {
        var violations: [String] = []
        var stable = lane.first
        var history: [(String, Bool)] = [(lane.first, true)]
        for candidate in lane.candidates {
            let what = "\(lane.namespace)/\(candidate.name) (\(candidate.healthy ? "healthy" : "failing"))"
            note(lane.namespace, "setting candidate \(candidate.name)")
            do {
                let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: ChaosLane.rollout, namespace: lane.namespace,
                                                              .merge(["spec": ["modelVersion": .string(candidate.name)]]))
            } catch {
                violations.append("\(what): could not set the candidate: \(error)")
                return violations
            }
            let found = await watchRollout(lane, candidate: candidate.name, healthy: candidate.healthy, stable: stable)
            violations += found.violations.map { "\(what): \($0)" }
            guard let status = found.final else { return violations }  // stuck: the lane cannot go on
            note(lane.namespace, "checking \(candidate.name) settled")
            counters.bump("rollouts.completed")
            counters.bump("rollouts.completed.shard\(shard(of: lane))")
            let promoted = status.history?.last?.outcome == .promoted
            counters.bump(promoted ? "rollouts.promoted" : "rollouts.rolledBack")
            violations += await checkSettled(lane, stable: promoted ? candidate.name : stable,
                                             rolledBack: promoted ? nil : candidate.name, previous: stable).map { "\(what): \($0)" }
            history.append((candidate.name, candidate.healthy))
            if promoted { stable = candidate.name }
        }
        return violations
    }

    /// Watches one rollout from its candidate being set to its outcome, checking as it goes.
    private func watchRollout(_ lane: ChaosLane, candidate: String, healthy: Bool, stable: String)
        async -> (final: CanaryRolloutStatus?, violations: [String]) {
        var violations: [String] = []
        let start = ContinuousClock.now
        let deadline = start + parameters.rolloutDeadline
        var lastSeen = start
        var step: Int?
        var steps: [Int] = []
        var unjudged = 0
        var last: CanaryRolloutStatus?
        while ContinuousClock.now < deadline {
            note(lane.namespace, "reading the status of \(candidate)")
            guard let status = try? await rollout(lane).status else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            let now = ContinuousClock.now
            let gap = now - lastSeen
            lastSeen = now
            last = status
            if let s = status.stableVersion, failing.contains("\(lane.namespace)/\(s)") {
                violations.append("the failing candidate \(s) became stable (phase \(status.phase?.rawValue ?? "-"))")
                break
            }
            let held = status.phase == .waiting ? status.heldPhase : status.phase
            if status.canaryVersion == candidate, held == .progressing || held == .paused, let index = status.currentStepIndex {
                if index != step {
                    if let previous = step, index < previous {
                        violations.append("step \(index) repeated after step \(previous) (steps seen \(steps))")
                    } else if index > (step ?? -1) + 1 {
                        // Steps last at least one analysis interval (2 s): seen twice 1.5 s apart, none can hide.
                        if gap < .milliseconds(1500) {
                            violations.append("skipped from step \(step.map(String.init) ?? "start") to \(index) within \(gap)")
                        } else {
                            unjudged += 1
                        }
                    }
                    step = index
                    steps.append(index)
                }
            }
            if let record = status.history?.last, record.version == candidate, let outcome = record.outcome {
                durations.withLock { $0.append(Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18) }
                counters.bump("steps.unjudgedGaps", by: unjudged)
                let records = status.history?.filter { $0.version == candidate }.count ?? 0
                if records != 1 { violations.append("\(records) history records: the rollout was started again") }
                if healthy {
                    if outcome != .promoted || status.phase != .succeeded || status.stableVersion != candidate {
                        violations.append("healthy candidate ended \(outcome.rawValue), phase \(status.phase?.rawValue ?? "-"): "
                                          + "\(status.message ?? "") \(status.reason ?? "")")
                    }
                    // Index 2 is "past the last step" (its analysis passed), seen or not before promotion.
                    if unjudged == 0, steps != [0, 1], steps != [0, 1, 2] {
                        violations.append("promoted after steps \(steps), not [0, 1] (and 2, past the last)")
                    }
                } else if outcome != .rolledBack || record.reason != RolloutReason.analysisFailed || status.stableVersion != stable {
                    violations.append("failing candidate ended \(outcome.rawValue) (\(record.reason ?? "-")), stable "
                                      + "\(status.stableVersion ?? "-"): \(status.message ?? "")")
                }
                return (status, violations)
            }
            note(lane.namespace, "sleeping, watching \(candidate) (phase \(status.phase?.rawValue ?? "-"))")
            try? await Task.sleep(for: .milliseconds(100))
        }
        violations.append("stuck: no outcome within \(parameters.rolloutDeadline); phase \(last?.phase?.rawValue ?? "-") "
                          + "reason \(last?.reason ?? "-"), step \(last?.currentStepIndex ?? -1): \(last?.message ?? "")")
        return (nil, violations)
    }

    /// After an outcome: the routing and the ModelVersions catch up with the committed status
    /// (a controller killed right after the commit does the rest after its restart).
    private func checkSettled(_ lane: ChaosLane, stable: String, rolledBack: String?, previous: String) async -> [String] {
        var last = ""
        let settled = (try? await poll(timeout: .seconds(45), every: .milliseconds(100)) {
            self.note(lane.namespace, "settling: reading the status")
            let status = try await self.rollout(lane).status
            self.note(lane.namespace, "settling: reading the VirtualService")
            let traffic = try await IstioTraffic.read(self.client, namespace: lane.namespace)
            self.note(lane.namespace, "settling: reading ModelVersion \(stable)")
            let stableMV = try await self.client.get(ModelVersion.self, name: stable, namespace: lane.namespace).status
            var ok = status?.stableVersion == stable && (status?.canaryWeight ?? 0) == 0
                && traffic.stable == 100 && traffic.canary == 0 && traffic.stableVersion == stable
                && stableMV?.phase == .production && stableMV?.servedBy == ChaosLane.rollout
            last = "status stable \(status?.stableVersion ?? "-") weight \(status?.canaryWeight ?? -1); VirtualService "
                + "\(traffic.stable)/\(traffic.canary), stable subset \(traffic.stableVersion ?? "-"); \(stable) "
                + "\(stableMV?.phase?.rawValue ?? "-") servedBy \(stableMV?.servedBy ?? "-")"
            if let rolledBack {
                self.note(lane.namespace, "settling: reading ModelVersion \(rolledBack)")
                let mv = try await self.client.get(ModelVersion.self, name: rolledBack, namespace: lane.namespace).status
                ok = ok && mv?.phase == .rolledBack && mv?.rolledBack?.canaryRollout == ChaosLane.rollout
                    && mv?.rolledBack?.reason == RolloutReason.analysisFailed
                last += "; \(rolledBack) \(mv?.phase?.rawValue ?? "-") record \(mv?.rolledBack?.reason ?? "none")"
            } else if previous != stable {
                let old = try await self.client.get(ModelVersion.self, name: previous, namespace: lane.namespace).status
                ok = ok && old?.phase == .archived
                last += "; \(previous) \(old?.phase?.rawValue ?? "-")"
            }
            return ok
        }) ?? false
        return settled ? [] : ["status, routing and ModelVersions did not agree within 45 s: \(last)"]
    }

    /// At the end: every ModelVersion's phase, and each important Event of the history exactly once.
    private func finalChecks(_ lane: ChaosLane) async -> [String] {
        var last = ""
        let ok = (try? await poll(timeout: .seconds(45), every: .milliseconds(200)) {
            let rollout = try await self.rollout(lane)
            let expected = RolloutHistory.transitionEvents(status: rollout.status, rollout: ChaosLane.rollout,
                                                           uid: rollout.metadata.uid ?? "", records: RolloutRecord.limit)
            let events = try await self.client.list(Event.self, namespace: lane.namespace).items
                .filter { $0.regarding?.name == ChaosLane.rollout }
            var problems: [String] = []
            let names = Set(events.compactMap(\.metadata.name))
            for event in expected where !names.contains(event.name) { problems.append("missing \(event.reason) \(event.message)") }
            // status.history keeps the last RolloutRecord.limit records: beyond that (long runs with
            // more candidates per lane) the older transitions' Events exist but are not in it.
            let truncated = (rollout.status?.history?.count ?? 0) >= RolloutRecord.limit
            for reason in ["RolloutStarted", "Promoted", "RolledBack", "RolloutFailed"] {
                let written = events.filter { $0.reason == reason }.reduce(0) { $0 + ($1.series?.count ?? 1) }
                let wanted = expected.filter { $0.reason == reason }.count
                if truncated ? written < wanted : written != wanted {
                    problems.append("\(written) \(reason) Events for \(wanted) transitions")
                }
            }
            // Every version was rolled out exactly once: the first and each candidate.
            let started = events.filter { $0.reason == "RolloutStarted" }.reduce(0) { $0 + ($1.series?.count ?? 1) }
            if started != 1 + lane.candidates.count {
                problems.append("\(started) RolloutStarted Events for \(1 + lane.candidates.count) versions")
            }
            let stable = rollout.status?.stableVersion ?? ""
            for version in [lane.first] + lane.candidates.map(\.name) {
                let phase = try await self.client.get(ModelVersion.self, name: version, namespace: lane.namespace).status?.phase
                let failing = self.failing.contains("\(lane.namespace)/\(version)")
                let want: ModelVersionPhase = version == stable ? .production : failing ? .rolledBack : .archived
                if phase != want { problems.append("\(version) is \(phase?.rawValue ?? "-"), not \(want.rawValue)") }
            }
            last = problems.joined(separator: "; ")
            return problems.isEmpty
        }) ?? false
        return ok ? [] : ["\(lane.namespace) at the end: \(last)"]
    }
}
