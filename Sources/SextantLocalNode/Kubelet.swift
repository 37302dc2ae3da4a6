import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes

/// How a container ended.
struct Termination: Sendable {
    var exitCode: Int32
    var reason: String
    var message: String?
    var startedAt: Date
    var finishedAt: Date
    var containerID: String
}

enum ContainerState: Sendable {
    case waiting(reason: String, message: String?)
    case running(startedAt: Date)
    case terminated(Termination)
}

/// The node's view of one container of a Pod it runs. Lives inside the `LocalNode` actor.
final class RunningContainer {
    let plan: ContainerPlan
    var launch: LaunchSpec?
    var state: ContainerState = .waiting(reason: "ContainerCreating", message: nil)
    var lastTermination: Termination?
    var restartCount = 0
    var process: RunningProcess?
    /// Incremented per start, so a late exit report of an earlier run is ignored.
    var run = 0
    var restartAt: Date?
    var started = false
    var ready = false
    var port: Int?
    var monitor: Task<Void, Never>?
    /// Where each run's output starts in the log file (`kubectl logs` and `--previous`).
    var runOffsets: [UInt64] = []

    init(plan: ContainerPlan) { self.plan = plan }

    var isTerminated: Bool {
        if case .terminated = state { return true }
        return false
    }
}

/// A Pod this node process started.
final class RunningPod {
    let uid: String
    let plan: PodPlan
    let containers: [RunningContainer]
    let startTime = Date()
    var prepared = false
    var configError: String?
    /// Set when the node stops the pod (deletion, deadline).
    var terminating = false
    /// `status.reason` / `status.message` of a pod the node failed itself.
    var failure: (reason: String, message: String)?
    var lastPrepareAttempt: Date?
    /// Failed image checks in a row (ErrImagePull, then ImagePullBackOff).
    var pullFailures = 0

    init(plan: PodPlan) {
        uid = plan.uid
        self.plan = plan
        containers = plan.containers.map(RunningContainer.init)
    }

    var hasProcesses: Bool { containers.contains { $0.process?.isRunning == true } }

    func cancelMonitors() {
        for c in containers {
            c.monitor?.cancel()
            c.monitor = nil
        }
    }
}

extension LocalNode {
    // MARK: Pod sync

    func syncPod(_ pod: JSONValue) async {
        let uid = pod.uid
        if pod.isDeleting {
            if let runtime = runtimes[uid] { stop(runtime) }
            return
        }
        let nodeName = pod[path: ["spec", "nodeName"]]?.stringValue ?? ""
        if !nodeName.isEmpty && nodeName != options.nodeName { return }
        if let runtime = runtimes[uid] {
            advance(runtime, pod: pod)
            await publish(runtime, pod: pod)
            return
        }
        let phase = pod[path: ["status", "phase"]]?.stringValue ?? "Pending"
        if phase == "Succeeded" || phase == "Failed" { return }
        if nodeName == options.nodeName && wasStarted(pod) {
            await markNodeRestarted(pod)
            return
        }
        let plan: PodPlan
        do {
            plan = try PodPlan.make(pod: pod, runtime: podRuntime, workDirectory: options.workDirectory)
        } catch {
            await writeUnschedulable(pod, message: error.message)
            return
        }
        var bound = pod
        if nodeName.isEmpty {
            // Binding: a real scheduler writes spec.nodeName through the binding subresource.
            guard let answer = await mergePatch(.pod, pod, ["spec": ["nodeName": .string(options.nodeName)]]) else { return }
            bound = answer
        }
        let runtime = RunningPod(plan: plan)
        runtimes[uid] = runtime
        // A pod recreated under the same name gets a clean directory.
        try? FileManager.default.removeItem(atPath: plan.directory)
        try? FileManager.default.createDirectory(atPath: plan.directory, withIntermediateDirectories: true)
        try? Data(uid.utf8).write(to: URL(fileURLWithPath: plan.directory + "/uid"))
        logger.info("running pod", metadata: ["pod": "\(LocalNode.key(pod))"])
        await prepare(runtime, pod: bound)
        advance(runtime, pod: bound)
        await publish(runtime, pod: bound)
    }

    /// True when a previous node process had started the pod's containers.
    private func wasStarted(_ pod: JSONValue) -> Bool {
        if pod[path: ["status", "phase"]]?.stringValue == "Running" { return true }
        return (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).contains { status in
            status[path: ["state", "running"]] != nil || status[path: ["state", "terminated"]] != nil
                || (status["restartCount"]?.intValue ?? 0) > 0
        }
    }

    /// Reads ConfigMaps and Secrets and writes volumes; on missing inputs the containers wait.
    private func prepare(_ runtime: RunningPod, pod: JSONValue) async {
        runtime.lastPrepareAttempt = Date()
        var preparer = PodPreparer(client: client, options: options, pod: pod, plan: runtime.plan, runtime: podRuntime)
        do {
            let launches = try await preparer.prepare()
            for c in runtime.containers { c.launch = launches[c.plan.name] }
            var problems: [(RunningContainer, String)] = []
            for c in runtime.containers where !c.started {
                if let problem = await podRuntime.imageProblem(c.plan) { problems.append((c, problem)) }
            }
            if !problems.isEmpty {
                // As the kubelet: ErrImagePull after a failed pull, ImagePullBackOff while waiting to retry.
                runtime.pullFailures += 1
                runtime.configError = nil
                for (c, problem) in problems {
                    c.state = runtime.pullFailures == 1
                        ? .waiting(reason: "ErrImagePull", message: problem)
                        : .waiting(reason: "ImagePullBackOff", message: "Back-off pulling image \"\(c.plan.image)\": \(problem)")
                }
                return
            }
            runtime.pullFailures = 0
            runtime.prepared = true
            runtime.configError = nil
        } catch let error as ContainerConfigError {
            runtime.configError = error.message
        } catch let error as Unschedulable {
            runtime.failure = (reason: "Unschedulable", message: error.message)
        } catch {
            runtime.configError = "\(error)"
        }
        for c in runtime.containers where !c.started {
            c.state = .waiting(reason: runtime.configError == nil ? "ContainerCreating" : "CreateContainerConfigError",
                               message: runtime.configError)
        }
    }

    /// Starts containers that are due, enforces the pod's activeDeadlineSeconds.
    private func advance(_ runtime: RunningPod, pod: JSONValue) {
        guard !runtime.terminating, runtime.failure == nil else { return }
        if !runtime.prepared {
            let wait = runtime.pullFailures > 0 ? backoff(failures: runtime.pullFailures).seconds : 1
            let due = runtime.lastPrepareAttempt.map { Date().timeIntervalSince($0) >= wait } ?? true
            if due {
                // Retried from the sync loop: the missing ConfigMap or Secret may exist now.
                Task { await self.retryPrepare(runtime.uid) }
            }
            return
        }
        if let deadline = runtime.plan.spec.activeDeadlineSeconds,
           Date().timeIntervalSince(runtime.startTime) >= Double(deadline) {
            runtime.failure = (reason: "DeadlineExceeded",
                               message: "Pod was active on the node longer than the specified deadline")
            stop(runtime)
            return
        }
        let now = Date()
        for c in runtime.containers {
            guard case .waiting = c.state, let launch = c.launch else { continue }
            if let at = c.restartAt, at > now { continue }
            start(c, runtime: runtime, launch: launch)
        }
    }

    private func retryPrepare(_ uid: String) async {
        guard let runtime = runtimes[uid], !runtime.prepared, !runtime.terminating,
              let pod = objects(.pod).first(where: { $0.uid == uid }) else { return }
        let wait = runtime.pullFailures > 0 ? backoff(failures: runtime.pullFailures).seconds : 1
        if let last = runtime.lastPrepareAttempt, Date().timeIntervalSince(last) < wait { return }
        await prepare(runtime, pod: pod)
        poke()
    }

    private func start(_ c: RunningContainer, runtime: RunningPod, launch: LaunchSpec) {
        c.run += 1
        let run = c.run
        let uid = runtime.uid
        let name = c.plan.name
        c.restartAt = nil
        c.ready = false
        c.port = nil
        // A fresh termination message per run, writable by a container's non-root user.
        _ = FileManager.default.createFile(atPath: c.plan.terminationMessageFile, contents: nil,
                                           attributes: [.posixPermissions: 0o666])
        try? FileManager.default.removeItem(atPath: PodmanRuntime.cidFile(podDirectory: runtime.plan.directory, container: name))
        let podRuntime = self.podRuntime
        let plan = c.plan
        do {
            let process = try RunningProcess(launch, logPath: c.plan.logPath) { [weak self] code in
                guard let self else { return }
                Task {
                    let exit = await podRuntime.exited(plan, launch: launch, processExitCode: code)
                    await self.containerExited(uid: uid, container: name, run: run, exit: exit)
                }
            }
            c.process = process
            c.runOffsets.append(process.logOffset)
            c.started = true
            c.state = .running(startedAt: process.startedAt)
            try? Data("\(process.pid)\n".utf8).write(to: URL(fileURLWithPath: "\(runtime.plan.directory)/\(name).pid"))
            startMonitor(c, runtime: runtime, process: process, run: run)
            logger.info("started container", metadata: [
                "pod": "\(runtime.plan.namespace)/\(runtime.plan.name)", "container": "\(name)",
                "pid": "\(process.pid)", "command": "\(([launch.executable] + launch.arguments).joined(separator: " "))"])
        } catch {
            let now = Date()
            c.started = true
            let termination = Termination(exitCode: 128, reason: "StartError", message: "cannot start \(launch.executable): \(error)",
                                          startedAt: now, finishedAt: now, containerID: "")
            finish(c, runtime: runtime, termination: termination)
        }
    }

    /// Called from a process's termination handler.
    func containerExited(uid: String, container name: String, run: Int, exit: ContainerExit) {
        let exitCode = exit.exitCode
        guard let runtime = runtimes[uid], let c = runtime.containers.first(where: { $0.plan.name == name }),
              c.run == run, let process = c.process else { return }
        var message = LocalFiles.head(c.plan.terminationMessageFile, limit: 4096)
        if message.isEmpty, exitCode != 0, c.plan.fallbackToLogsOnError {
            message = LocalFiles.tail(c.plan.logPath, from: process.logOffset, lines: 80, bytes: 2048)
        }
        let termination = Termination(
            exitCode: exitCode, reason: exit.reason ?? (exitCode == 0 ? "Completed" : "Error"),
            message: message.isEmpty ? nil : message, startedAt: process.startedAt, finishedAt: Date(),
            containerID: exit.containerID ?? "sextant-local://\(process.pid)")
        logger.info("container exited", metadata: [
            "pod": "\(runtime.plan.namespace)/\(runtime.plan.name)", "container": "\(name)", "exitCode": "\(exitCode)",
            "reason": "\(termination.reason)"])
        finish(c, runtime: runtime, termination: termination)
        poke()
    }

    /// Records a termination and decides on a restart by the pod's restartPolicy.
    private func finish(_ c: RunningContainer, runtime: RunningPod, termination: Termination) {
        c.process = nil
        c.ready = false
        c.port = nil
        c.monitor?.cancel()
        c.monitor = nil
        let policy = runtime.plan.restartPolicy
        let restart = !runtime.terminating && runtime.failure == nil
            && (policy == "Always" || (policy == "OnFailure" && termination.exitCode != 0))
        if restart {
            c.lastTermination = termination
            c.restartCount += 1
            let delay = backoff(failures: c.restartCount)
            c.restartAt = Date().addingTimeInterval(delay.seconds)
            c.state = .waiting(reason: "CrashLoopBackOff",
                               message: "back-off \(Int(delay.seconds.rounded(.up)))s restarting failed container=\(c.plan.name) "
                                   + "pod=\(runtime.plan.name)_\(runtime.plan.namespace)(\(runtime.plan.uid))")
        } else {
            c.state = .terminated(termination)
        }
    }

    /// Stops every process of the pod (SIGTERM, grace, SIGKILL) without blocking the sync loop.
    func stop(_ runtime: RunningPod) {
        guard !runtime.terminating else { return }
        runtime.terminating = true
        runtime.cancelMonitors()
        let requested = runtime.plan.spec.terminationGracePeriodSeconds ?? 30
        let grace = min(Duration.seconds(max(requested, 0)), options.maximumGracePeriod)
        let podRuntime = self.podRuntime
        for c in runtime.containers {
            if let process = c.process, let launch = c.launch {
                Task { await podRuntime.terminate(process, launch: launch, grace: grace) }
            } else if c.started, case .waiting = c.state, let last = c.lastTermination {
                // Waiting for a restart: the last run is the final state.
                c.state = .terminated(last)
            }
        }
    }

    /// Pods that left the API: stop their processes, then forget them and their directory.
    func collectGonePods() async {
        let live = Set(objects(.pod).map(\.uid))
        for (uid, runtime) in runtimes where !live.contains(uid) {
            stop(runtime)
            if !runtime.hasProcesses {
                runtimes[uid] = nil
                // Only if the directory still belongs to this pod (a new pod may reuse the name).
                let owner = LocalFiles.head(runtime.plan.directory + "/uid", limit: 64)
                if owner == uid { try? FileManager.default.removeItem(atPath: runtime.plan.directory) }
            }
        }
    }

    // MARK: sextant-server endpoint and readiness

    private func startMonitor(_ c: RunningContainer, runtime: RunningPod, process: RunningProcess, run: Int) {
        let probe = c.plan.spec.readinessProbe
        let liveness = c.plan.spec.livenessProbe
        guard c.plan.isServer || probe != nil || liveness != nil else {
            c.ready = true
            return
        }
        if probe == nil && !c.plan.isServer { c.ready = true }
        let uid = runtime.uid
        let name = c.plan.name
        let logPath = c.plan.logPath
        let isServer = c.plan.isServer
        let readinessPort = probePort(probe, container: c.plan)
        let livenessPort = probePort(liveness, container: c.plan)
        let periodOverride = options.probePeriod
        c.monitor = Task { [weak self] in
            let node = self
            var serverPort: Int?
            if isServer {
                // sextant-server prints "listening on HOST:PORT" once bound.
                while !Task.isCancelled && process.isRunning {
                    let text = LocalFiles.read(logPath, from: process.logOffset)
                    if let found = LocalNode.listeningPort(in: text) {
                        serverPort = found
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                guard !Task.isCancelled, let serverPort else { return }
                await node?.setPort(uid: uid, container: name, run: run, port: serverPort, readyWithoutProbe: probe == nil)
            }
            let found = serverPort
            await withTaskGroup(of: Void.self) { group in
                if let probe {
                    group.addTask {
                        await LocalNode.probeLoop(probe, port: found ?? readinessPort, periodOverride: periodOverride,
                                                  delayCappedAtPeriod: true) { ready in
                            await node?.setReady(uid: uid, container: name, run: run, ready: ready)
                        }
                    }
                }
                if let liveness {
                    group.addTask {
                        // Alive until failureThreshold failures in a row; then the container is killed
                        // and restarted by the Pod's restartPolicy, as the kubelet does.
                        await LocalNode.probeLoop(liveness, port: found ?? livenessPort, periodOverride: periodOverride,
                                                  delayCappedAtPeriod: false, initiallyPassing: true) { alive in
                            if !alive { await node?.livenessFailed(uid: uid, container: name, run: run) }
                        }
                    }
                }
            }
        }
    }

    /// Runs an httpGet probe until cancelled, reporting its verdict after each try: passing after
    /// successThreshold successes, failing after failureThreshold failures.
    static func probeLoop(_ probe: ProbeModel, port: Int?, periodOverride: Duration?, delayCappedAtPeriod: Bool,
                          initiallyPassing: Bool = false, report: @Sendable (Bool) async -> Void) async {
        guard let httpGet = probe.httpGet else { return }
        var period = Duration.seconds(max(probe.periodSeconds ?? 10, 1))
        if let periodOverride, periodOverride < period { period = periodOverride }
        let timeout = Double(max(probe.timeoutSeconds ?? 1, 1))
        let successNeeded = max(probe.successThreshold ?? 1, 1)
        let failuresAllowed = max(probe.failureThreshold ?? 3, 1)
        let initialDelay = Duration.seconds(max(probe.initialDelaySeconds ?? 0, 0))
        if initialDelay > .zero { try? await Task.sleep(for: delayCappedAtPeriod ? min(initialDelay, period) : initialDelay) }
        var successes = 0
        var failures = 0
        var passing = initiallyPassing
        while !Task.isCancelled {
            let ok = await HTTPProbe.check(port: port ?? 80, path: httpGet.path ?? "/", timeout: timeout)
            if ok { successes += 1; failures = 0 } else { failures += 1; successes = 0 }
            if !passing && successes >= successNeeded { passing = true }
            if passing && failures >= failuresAllowed { passing = false }
            if Task.isCancelled { return }
            await report(passing)
            try? await Task.sleep(for: period)
        }
    }

    private func livenessFailed(uid: String, container name: String, run: Int) {
        guard let runtime = runtimes[uid], !runtime.terminating,
              let c = container(uid: uid, name: name, run: run), let process = c.process, let launch = c.launch else { return }
        logger.info("liveness probe failed; killing the container", metadata: [
            "pod": "\(runtime.plan.namespace)/\(runtime.plan.name)", "container": "\(name)"])
        c.monitor?.cancel()
        c.monitor = nil
        c.ready = false
        let requested = runtime.plan.spec.terminationGracePeriodSeconds ?? 30
        let grace = min(Duration.seconds(max(requested, 0)), options.maximumGracePeriod)
        let podRuntime = self.podRuntime
        Task { await podRuntime.terminate(process, launch: launch, grace: grace) }
        poke()
    }

    private func probePort(_ probe: ProbeModel?, container: ContainerPlan) -> Int? {
        guard let port = probe?.httpGet?.port else { return nil }
        if let number = port.intValue { return Int(number) }
        if let name = port.stringValue {
            return container.spec.ports?.first(where: { $0.name == name })?.containerPort ?? Int(name)
        }
        return nil
    }

    static func listeningPort(in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("listening on ") {
            if let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) { return port }
        }
        return nil
    }

    private func container(uid: String, name: String, run: Int) -> RunningContainer? {
        guard let c = runtimes[uid]?.containers.first(where: { $0.plan.name == name }), c.run == run,
              c.process != nil else { return nil }
        return c
    }

    private func setPort(uid: String, container name: String, run: Int, port: Int, readyWithoutProbe: Bool) {
        guard let c = container(uid: uid, name: name, run: run) else { return }
        c.port = port
        if readyWithoutProbe { c.ready = true }
        poke()
    }

    private func setReady(uid: String, container name: String, run: Int, ready: Bool) {
        guard let c = container(uid: uid, name: name, run: run), c.ready != ready else { return }
        c.ready = ready
        poke()
    }

    /// A pod a previous node process ran: its processes are gone, so it failed (exit code 137
    /// like a container whose state the kubelet lost); leftover processes are killed.
    private func markNodeRestarted(_ pod: JSONValue) async {
        let directory = PodPlan.directory(workDirectory: options.workDirectory, namespace: pod.namespace, name: pod.name)
        if LocalFiles.head(directory + "/uid", limit: 64) == pod.uid {
            for status in pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
                guard let name = status["name"]?.stringValue else { continue }
                // Whichever runtime the previous node process used.
                for leftover in [podRuntime, ProcessRuntime(resolver: resolver) as any PodRuntime] {
                    leftover.removeLeftover(podDirectory: directory, container: name, executables: resolver.executables)
                }
            }
        }
        let now = LocalNode.now()
        let message = "the local node \(options.nodeName) restarted while the pod was running; its processes are gone"
        let statuses: [JSONValue] = (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).map { old in
            var s = old
            let startedAt = old[path: ["state", "running", "startedAt"]]?.stringValue ?? now
            s["state"] = ["terminated": ["exitCode": 137, "reason": "ContainerStatusUnknown",
                                         "message": .string("The container could not be located when the pod was terminated (\(LocalNode.nodeRestartedReason))"),
                                         "startedAt": .string(startedAt), "finishedAt": .string(now)]]
            s["ready"] = false
            s["started"] = false
            return s
        }
        var status = pod["status"] ?? .object([:])
        status["phase"] = "Failed"
        status["reason"] = .string(LocalNode.nodeRestartedReason)
        status["message"] = .string(message)
        status["containerStatuses"] = .array(statuses)
        status["conditions"] = mergeConditions(old: pod[path: ["status", "conditions"]], new: [
            condition("PodScheduled", true, now: now, extra: ["lastProbeTime": .null]),
            condition("Initialized", true, now: now, extra: ["lastProbeTime": .null]),
            condition("ContainersReady", false, reason: "PodFailed", now: now, extra: ["lastProbeTime": .null]),
            condition("Ready", false, reason: "PodFailed", now: now, extra: ["lastProbeTime": .null]),
        ])
        logger.info("pod lost in a node restart", metadata: ["pod": "\(LocalNode.key(pod))"])
        await writeStatus(.pod, pod, status)
    }
}
