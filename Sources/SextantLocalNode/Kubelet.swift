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
final class ContainerRuntime {
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

    init(plan: ContainerPlan) { self.plan = plan }

    var isTerminated: Bool {
        if case .terminated = state { return true }
        return false
    }
}

/// A Pod this node process started.
final class PodRuntime {
    let uid: String
    let plan: PodPlan
    let containers: [ContainerRuntime]
    let startTime = Date()
    var prepared = false
    var configError: String?
    /// Set when the node stops the pod (deletion, deadline).
    var terminating = false
    /// `status.reason` / `status.message` of a pod the node failed itself.
    var failure: (reason: String, message: String)?
    var lastPrepareAttempt: Date?

    init(plan: PodPlan) {
        uid = plan.uid
        self.plan = plan
        containers = plan.containers.map(ContainerRuntime.init)
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
            plan = try PodPlan.make(pod: pod, resolver: resolver, workDirectory: options.workDirectory)
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
        let runtime = PodRuntime(plan: plan)
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
    private func prepare(_ runtime: PodRuntime, pod: JSONValue) async {
        runtime.lastPrepareAttempt = Date()
        var preparer = PodPreparer(client: client, options: options, pod: pod, plan: runtime.plan)
        do {
            let launches = try await preparer.prepare()
            for c in runtime.containers { c.launch = launches[c.plan.name] }
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
    private func advance(_ runtime: PodRuntime, pod: JSONValue) {
        guard !runtime.terminating, runtime.failure == nil else { return }
        if !runtime.prepared {
            let due = runtime.lastPrepareAttempt.map { Date().timeIntervalSince($0) >= 1 } ?? true
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
        if let last = runtime.lastPrepareAttempt, Date().timeIntervalSince(last) < 1 { return }
        await prepare(runtime, pod: pod)
        poke()
    }

    private func start(_ c: ContainerRuntime, runtime: PodRuntime, launch: LaunchSpec) {
        c.run += 1
        let run = c.run
        let uid = runtime.uid
        let name = c.plan.name
        c.restartAt = nil
        c.ready = false
        c.port = nil
        // A fresh termination message per run.
        _ = FileManager.default.createFile(atPath: c.plan.terminationMessageFile, contents: nil)
        do {
            let process = try RunningProcess(launch, logPath: c.plan.logPath) { [weak self] code in
                guard let self else { return }
                Task { await self.containerExited(uid: uid, container: name, run: run, exitCode: code) }
            }
            c.process = process
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
    func containerExited(uid: String, container name: String, run: Int, exitCode: Int32) {
        guard let runtime = runtimes[uid], let c = runtime.containers.first(where: { $0.plan.name == name }),
              c.run == run, let process = c.process else { return }
        var message = LocalFiles.head(c.plan.terminationMessageFile, limit: 4096)
        if message.isEmpty, exitCode != 0, c.plan.fallbackToLogsOnError {
            message = LocalFiles.tail(c.plan.logPath, from: process.logOffset, lines: 80, bytes: 2048)
        }
        let termination = Termination(
            exitCode: exitCode, reason: exitCode == 0 ? "Completed" : "Error", message: message.isEmpty ? nil : message,
            startedAt: process.startedAt, finishedAt: Date(), containerID: "sextant-local://\(process.pid)")
        logger.info("container exited", metadata: [
            "pod": "\(runtime.plan.namespace)/\(runtime.plan.name)", "container": "\(name)", "exitCode": "\(exitCode)"])
        finish(c, runtime: runtime, termination: termination)
        poke()
    }

    /// Records a termination and decides on a restart by the pod's restartPolicy.
    private func finish(_ c: ContainerRuntime, runtime: PodRuntime, termination: Termination) {
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
                               message: "back-off \(Int(delay.seconds.rounded(.up)))s restarting failed container=\(c.plan.name) pod=\(runtime.plan.name)")
        } else {
            c.state = .terminated(termination)
        }
    }

    /// Stops every process of the pod (SIGTERM, grace, SIGKILL) without blocking the sync loop.
    func stop(_ runtime: PodRuntime) {
        guard !runtime.terminating else { return }
        runtime.terminating = true
        runtime.cancelMonitors()
        let requested = runtime.plan.spec.terminationGracePeriodSeconds ?? 30
        let grace = min(Duration.seconds(max(requested, 0)), options.maximumGracePeriod)
        for c in runtime.containers {
            if let process = c.process {
                Task { await process.terminate(grace: grace) }
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

    private func startMonitor(_ c: ContainerRuntime, runtime: PodRuntime, process: RunningProcess, run: Int) {
        let probe = c.plan.spec.readinessProbe
        guard c.plan.isServer || probe != nil else {
            c.ready = true
            return
        }
        let uid = runtime.uid
        let name = c.plan.name
        let logPath = c.plan.logPath
        let isServer = c.plan.isServer
        let fixedPort = probePort(probe, container: c.plan)
        let periodOverride = options.probePeriod
        c.monitor = Task { [weak self] in
            var port = fixedPort
            if isServer {
                // sextant-server prints "listening on HOST:PORT" once bound.
                while !Task.isCancelled && process.isRunning {
                    let text = LocalFiles.read(logPath, from: process.logOffset)
                    if let found = LocalNode.listeningPort(in: text) {
                        port = found
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                guard !Task.isCancelled, let port else { return }
                await self?.setPort(uid: uid, container: name, run: run, port: port, readyWithoutProbe: probe == nil)
            }
            guard let probe, let httpGet = probe.httpGet else { return }
            var period = Duration.seconds(max(probe.periodSeconds ?? 10, 1))
            if let periodOverride, periodOverride < period { period = periodOverride }
            let timeout = Double(max(probe.timeoutSeconds ?? 1, 1))
            let successNeeded = max(probe.successThreshold ?? 1, 1)
            let failuresAllowed = max(probe.failureThreshold ?? 3, 1)
            let initialDelay = Duration.seconds(max(probe.initialDelaySeconds ?? 0, 0))
            if initialDelay > .zero { try? await Task.sleep(for: min(initialDelay, period)) }
            var successes = 0
            var failures = 0
            var ready = false
            while !Task.isCancelled {
                let ok = await HTTPProbe.check(port: port ?? 80, path: httpGet.path ?? "/", timeout: timeout)
                if ok { successes += 1; failures = 0 } else { failures += 1; successes = 0 }
                if !ready && successes >= successNeeded { ready = true }
                if ready && failures >= failuresAllowed { ready = false }
                await self?.setReady(uid: uid, container: name, run: run, ready: ready)
                try? await Task.sleep(for: period)
            }
        }
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

    private func container(uid: String, name: String, run: Int) -> ContainerRuntime? {
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

    // MARK: Status

    /// Writes the pod's status (and endpoint annotation) when they differ from the API's copy.
    private func publish(_ runtime: PodRuntime, pod: JSONValue) async {
        var pod = pod
        if let failure = runtime.failure, failure.reason == "Unschedulable" {
            // Found only while reading the pod's inputs: it cannot run here.
            await writeUnschedulable(pod, message: failure.message)
            return
        }
        if let port = runtime.containers.first(where: { $0.plan.isServer && $0.port != nil })?.port {
            let endpoint = "127.0.0.1:\(port)"
            if pod.annotations[LocalNode.endpointAnnotation] != endpoint {
                guard let answer = await mergePatch(.pod, pod, ["metadata": ["annotations": [LocalNode.endpointAnnotation: .string(endpoint)]]]) else { return }
                pod = answer
            }
        }
        let status = podStatus(runtime, old: pod["status"])
        if status != pod["status"] { await writeStatus(.pod, pod, status) }
    }

    func phase(of runtime: PodRuntime) -> String {
        if runtime.failure != nil && !runtime.hasProcesses && runtime.failure?.reason != "Unschedulable" { return "Failed" }
        if runtime.containers.contains(where: { !$0.started }) {
            return runtime.terminating && !runtime.hasProcesses ? "Failed" : "Pending"
        }
        if runtime.containers.allSatisfy(\.isTerminated) {
            let allZero = runtime.containers.allSatisfy {
                if case .terminated(let t) = $0.state { return t.exitCode == 0 }
                return false
            }
            return allZero ? "Succeeded" : "Failed"
        }
        return "Running"
    }

    private func podStatus(_ runtime: PodRuntime, old: JSONValue?) -> JSONValue {
        let phase = phase(of: runtime)
        let now = LocalNode.now()
        let ready = phase == "Running" && runtime.containers.allSatisfy(\.ready)
        let unready = runtime.containers.filter { !$0.ready }.map(\.plan.name)
        let unreadyMessage = "containers with unready status: [\(unready.joined(separator: " "))]"
        let finished = phase == "Succeeded" || phase == "Failed"
        var conditions: [JSONValue] = [
            condition("PodScheduled", true, now: now, extra: ["lastProbeTime": .null]),
            condition("Initialized", true, now: now, extra: ["lastProbeTime": .null]),
        ]
        if ready {
            conditions += [condition("ContainersReady", true, now: now, extra: ["lastProbeTime": .null]),
                           condition("Ready", true, now: now, extra: ["lastProbeTime": .null])]
        } else {
            let reason = finished ? "PodCompleted" : "ContainersNotReady"
            let message: String? = finished ? nil : unreadyMessage
            conditions += [condition("ContainersReady", false, reason: reason, message: message, now: now,
                                     extra: ["lastProbeTime": .null]),
                           condition("Ready", false, reason: reason, message: message, now: now,
                                     extra: ["lastProbeTime": .null])]
        }
        var status: [String: JSONValue] = [
            "phase": .string(phase),
            "conditions": mergeConditions(old: old?["conditions"], new: conditions),
            "hostIP": "127.0.0.1", "hostIPs": [["ip": "127.0.0.1"]],
            "podIP": "127.0.0.1", "podIPs": [["ip": "127.0.0.1"]],
            "startTime": .string(KubeTime.format(runtime.startTime)),
            "qosClass": "BestEffort",
            "containerStatuses": .array(runtime.containers.map(containerStatus)),
        ]
        if let failure = runtime.failure, failure.reason != "Unschedulable" {
            status["reason"] = .string(failure.reason)
            status["message"] = .string(failure.message)
        }
        return .object(status)
    }

    private func containerStatus(_ c: ContainerRuntime) -> JSONValue {
        var status: [String: JSONValue] = [
            "name": .string(c.plan.name), "image": .string(c.plan.image), "imageID": .string("sextant-local://\(c.plan.executable)"),
            "ready": .bool(c.ready), "restartCount": .int(Int64(c.restartCount)),
            "started": .bool({ if case .running = c.state { return true } else { return false } }()),
            "state": LocalNode.stateJSON(c.state), "lastState": .object([:]),
        ]
        if let process = c.process { status["containerID"] = .string("sextant-local://\(process.pid)") }
        if case .terminated(let t) = c.state, !t.containerID.isEmpty { status["containerID"] = .string(t.containerID) }
        if let last = c.lastTermination { status["lastState"] = LocalNode.stateJSON(.terminated(last)) }
        return .object(status)
    }

    static func stateJSON(_ state: ContainerState) -> JSONValue {
        switch state {
        case .waiting(let reason, let message):
            var w: [String: JSONValue] = ["reason": .string(reason)]
            if let message { w["message"] = .string(message) }
            return ["waiting": .object(w)]
        case .running(let startedAt):
            return ["running": ["startedAt": .string(KubeTime.format(startedAt))]]
        case .terminated(let t):
            var s: [String: JSONValue] = [
                "exitCode": .int(Int64(t.exitCode)), "reason": .string(t.reason),
                "startedAt": .string(KubeTime.format(t.startedAt)), "finishedAt": .string(KubeTime.format(t.finishedAt)),
            ]
            if let message = t.message { s["message"] = .string(message) }
            if !t.containerID.isEmpty { s["containerID"] = .string(t.containerID) }
            return ["terminated": .object(s)]
        }
    }

    /// Leaves the pod Pending with `PodScheduled=False/Unschedulable` and the reason.
    private func writeUnschedulable(_ pod: JSONValue, message: String) async {
        let old = pod["status"]
        let conditions = mergeConditions(old: old?["conditions"], new: [
            condition("PodScheduled", false, reason: "Unschedulable", message: message,
                      extra: ["lastProbeTime": .null]),
        ])
        let status: JSONValue = ["phase": "Pending", "conditions": conditions]
        if status != old { await writeStatus(.pod, pod, status) }
    }

    /// A pod a previous node process ran: its processes are gone, so it failed (exit code 137
    /// like a container whose state the kubelet lost); leftover processes are killed.
    private func markNodeRestarted(_ pod: JSONValue) async {
        let directory = PodPlan.directory(workDirectory: options.workDirectory, namespace: pod.namespace, name: pod.name)
        if LocalFiles.head(directory + "/uid", limit: 64) == pod.uid {
            for status in pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
                guard let name = status["name"]?.stringValue else { continue }
                killLeftover(pidFile: "\(directory)/\(name).pid")
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

    /// Kills a process a previous node started, if it is still running one of our executables.
    private func killLeftover(pidFile: String) {
        guard let pid = Int32(LocalFiles.head(pidFile, limit: 32).trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 1,
              let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return }
        let ours = Set(resolver.executables.values.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path })
        if ours.contains(exe) {
            kill(pid, SIGKILL)
            logger.info("killed a leftover process", metadata: ["pid": "\(pid)", "exe": "\(exe)"])
        }
    }
}
