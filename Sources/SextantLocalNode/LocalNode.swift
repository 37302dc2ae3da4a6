import Foundation
import Logging
import SextantJSON
import SextantKube
import SextantKubeTypes

/// A development-only node: kubelet, Job controller, Deployment controller and an MPIJob
/// stand-in (MPIJobController.swift) for Sextant's own images (`sextant-trainer`,
/// `sextant-server`), which it runs as local processes. It talks to
/// the API server only through `KubeClient`, like a real kubelet. See docs/local-node.md.
///
/// ```swift
/// let node = LocalNode(client: client, options: LocalNodeOptions(binDirectory: bin))
/// let task = Task { try await node.run() }   // until cancelled; stops every process it started
/// ```
public actor LocalNode {
    /// The annotation with the address a `sextant-server` container really listens on.
    public static let endpointAnnotation = "mlops.sextant.dev/local-endpoint"
    /// `status.reason` of Pods that were running when a previous node process stopped.
    public static let nodeRestartedReason = "NodeRestarted"

    static let pods = ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    static let jobs = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    static let deployments = ResourceDescriptor(group: "apps", version: "v1", plural: "deployments",
                                                kind: "Deployment", namespaced: true)

    enum Kind: Sendable, CaseIterable { case pod, job, deployment, mpiJob }
    /// The kinds a sync pass waits for; MPIJobs are served only where the MPI Operator's CRD is
    /// applied, so their absence never stops the node.
    static let required: Set<Kind> = [.pod, .job, .deployment]

    let client: KubeClient
    let options: LocalNodeOptions
    let resolver: ImageResolver
    let logger: Logger
    /// Processes, or podman containers when asked for and podman answers (`chosenRuntime()`,
    /// before `run()` starts anything).
    var podRuntime: any PodRuntime
    /// The one check whether podman answers, shared by `run()` and `runtimeName`.
    private var runtimeChoice: Task<any PodRuntime, Never>?

    /// Caches by `namespace/name`, fed by list+watch and by the answers to our own writes.
    var caches: [Kind: [String: JSONValue]] = [.pod: [:], .job: [:], .deployment: [:], .mpiJob: [:]]
    var synced: Set<Kind> = []
    /// Pods this node process started, by uid.
    var runtimes: [String: RunningPod] = [:]
    /// When a failed Job's next Pod is due (a wake-up is scheduled for it), by Job uid.
    var jobRetryAfter: [String: Date] = [:]
    var deploymentProgress: [String: DeploymentProgress] = [:]
    /// The data plane (HAProxy), when `options.haproxy` is set.
    let mesh: MeshDataPlane?
    private var wakePending = false
    private var waiter: CheckedContinuation<Void, Never>?

    public init(client: KubeClient, options: LocalNodeOptions = LocalNodeOptions(),
                logger: Logger = Logger(label: "sextant.local-node")) {
        self.client = client
        self.options = options
        self.resolver = ImageResolver(options: options)
        self.logger = logger
        podRuntime = ProcessRuntime(resolver: resolver)
        mesh = options.haproxy.map {
            MeshDataPlane(client: client, namespace: options.namespace, haproxy: $0,
                          directory: options.workDirectory + "/mesh", logger: logger)
        }
    }

    /// The local address (`127.0.0.1:PORT`) where the data plane routes a VirtualService's host,
    /// nil before its frontend exists or without a data plane.
    public func meshAddress(namespace: String, virtualService: String) async -> String? {
        await mesh?.address(namespace: namespace, name: virtualService)
    }

    /// `process` or `podman`: the runtime the node runs (or will run) Pods with. With `--runtime
    /// podman` this waits for the check whether podman answers, so that it never reports the
    /// initial `process` while the check is still under way.
    public var runtimeName: String {
        get async { await chosenRuntime().name }
    }

    /// The runtime for `options.runtime`, decided once: podman when asked for and `podman info`
    /// answers, else processes (logged as an error).
    func chosenRuntime() async -> any PodRuntime {
        if let runtimeChoice { return await runtimeChoice.value }
        let choice = Task { [options, logger, podRuntime] () -> any PodRuntime in
            guard case .podman(let executable, let environment) = options.runtime else { return podRuntime }
            if let problem = await PodmanRuntime.unavailable(executable: executable, environment: environment) {
                logger.error("--runtime podman: podman cannot run here; running Pods as processes instead",
                             metadata: ["reason": "\(problem)"])
                return podRuntime
            }
            return PodmanRuntime(executable: executable, environment: environment, nodeName: options.nodeName)
        }
        runtimeChoice = choice
        let runtime = await choice.value
        podRuntime = runtime
        return runtime
    }

    /// The executables the node found for Sextant's images (entrypoint → path).
    public nonisolated var executables: [String: String] { resolver.executables }

    /// Runs until the task is cancelled, then stops every process it started (SIGTERM, then
    /// SIGKILL after `shutdownGracePeriod`).
    public func run() async throws {
        try FileManager.default.createDirectory(atPath: options.workDirectory, withIntermediateDirectories: true)
        podRuntime = await chosenRuntime()
        logger.info("local node started", metadata: [
            "node": "\(options.nodeName)", "workDirectory": "\(options.workDirectory)", "runtime": "\(podRuntime.name)",
            "executables": "\(resolver.executables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"])
        await withTaskGroup(of: Void.self) { group in
            for kind in Kind.allCases {
                group.addTask { await self.inform(kind) }
            }
            group.addTask { await self.syncLoop() }
            if let mesh { group.addTask { await mesh.run() } }
            await group.waitForAll()
        }
        // The run task is cancelled here; the shutdown runs in a task of its own so that its
        // sleeps between SIGTERM and SIGKILL are not cut short.
        let all = runtimes.values.flatMap { pod in
            pod.containers.compactMap { c in c.process.flatMap { p in c.launch.map { (p, $0) } } }
        }
        let grace = options.shutdownGracePeriod
        let podRuntime = self.podRuntime
        await Task {
            await withTaskGroup(of: Void.self) { group in
                for (process, launch) in all {
                    group.addTask { await podRuntime.terminate(process, launch: launch, grace: grace) }
                }
            }
        }.value
        for runtime in runtimes.values { runtime.cancelMonitors() }
        logger.info("local node stopped", metadata: ["processes": "\(all.count)"])
    }

    // MARK: Wake-ups

    /// Asks the sync loop for a pass now.
    func poke() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        } else {
            wakePending = true
        }
    }

    private func waitForWork() async {
        if wakePending {
            wakePending = false
            return
        }
        let interval = options.resyncInterval
        let timer = Task { [weak self] in
            try? await Task.sleep(for: interval)
            await self?.poke()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if wakePending || Task.isCancelled {
                    wakePending = false
                    continuation.resume()
                } else {
                    waiter = continuation
                }
            }
        } onCancel: {
            Task { await self.poke() }
        }
        timer.cancel()
        wakePending = false
    }

    private func syncLoop() async {
        while !Task.isCancelled {
            await syncOnce()
            await waitForWork()
        }
    }

    private func syncOnce() async {
        guard synced.isSuperset(of: LocalNode.required) else { return }
        for mpiJob in (caches[.mpiJob] ?? [:]).values.sorted(by: { $0.name < $1.name }) {
            if Task.isCancelled { return }
            await syncMPIJob(mpiJob)
        }
        for job in (caches[.job] ?? [:]).values.sorted(by: { $0.name < $1.name }) {
            if Task.isCancelled { return }
            await syncJob(job)
        }
        for deployment in (caches[.deployment] ?? [:]).values.sorted(by: { $0.name < $1.name }) {
            if Task.isCancelled { return }
            await syncDeployment(deployment)
        }
        for pod in (caches[.pod] ?? [:]).values.sorted(by: { $0.name < $1.name }) {
            if Task.isCancelled { return }
            // The object may have changed while earlier objects were synced.
            guard let current = cached(.pod, pod) else { continue }
            await syncPod(current)
        }
        await collectGonePods()
        // Forget per-object memory of Jobs and Deployments that are gone.
        let jobUIDs = Set(objects(.job).map(\.uid))
        jobRetryAfter = jobRetryAfter.filter { jobUIDs.contains($0.key) }
        let deploymentUIDs = Set(objects(.deployment).map(\.uid))
        deploymentProgress = deploymentProgress.filter { deploymentUIDs.contains($0.key) }
    }

    // MARK: Caches

    static func key(_ object: JSONValue) -> String { "\(object.namespace)/\(object.name)" }

    func cached(_ kind: Kind, _ object: JSONValue) -> JSONValue? { caches[kind]?[LocalNode.key(object)] }

    func objects(_ kind: Kind) -> [JSONValue] { Array((caches[kind] ?? [:]).values) }

    /// Stores an object unless the cache already holds a newer version of it.
    func remember(_ kind: Kind, _ object: JSONValue) {
        let key = LocalNode.key(object)
        if let old = caches[kind]?[key], old.uid == object.uid,
           let oldVersion = Int(old.resourceVersion), let newVersion = Int(object.resourceVersion),
           oldVersion > newVersion {
            return
        }
        caches[kind, default: [:]][key] = object
    }

    func forget(_ kind: Kind, _ object: JSONValue) {
        let key = LocalNode.key(object)
        guard let old = caches[kind]?[key], old.uid == object.uid else { return }
        caches[kind]?[key] = nil
    }

    private func replace(_ kind: Kind, _ objects: [JSONValue]) {
        caches[kind] = Dictionary(objects.map { (LocalNode.key($0), $0) }, uniquingKeysWith: { _, last in last })
        synced.insert(kind)
        poke()
    }

    private func apply(_ kind: Kind, _ change: WatchChange<DynamicObject>) {
        switch change {
        case .added(let object), .modified(let object): remember(kind, object.raw)
        case .deleted(let object): forget(kind, object.raw)
        case .bookmark: return
        }
        poke()
    }

    static func descriptor(_ kind: Kind) -> ResourceDescriptor {
        switch kind {
        case .pod: return pods
        case .job: return jobs
        case .deployment: return deployments
        case .mpiJob: return mpiJobs
        }
    }

    /// The kind's cache, fed by an `Informer`.
    private nonisolated func inform(_ kind: Kind) async {
        let informer = Informer(client: client, resource: LocalNode.descriptor(kind), namespace: options.namespace,
                                logger: logger)
        await informer.run(replace: { await self.replace(kind, $0) }, apply: { await self.apply(kind, $0) })
    }

    // MARK: Writes (each answer goes into the cache at once, so the next pass sees it)

    /// Replaces `status` through the status subresource, guarded by the object's resourceVersion.
    /// A conflict is not an error: the next pass works from the newer object.
    @discardableResult
    func writeStatus(_ kind: Kind, _ object: JSONValue, _ status: JSONValue) async -> Bool {
        var updated = object
        updated["status"] = status
        do {
            let answer = try await client.update(LocalNode.descriptor(kind), name: object.name,
                                                 DynamicObject(updated), namespace: object.namespace,
                                                 subresource: "status")
            remember(kind, answer.raw)
            return true
        } catch {
            if !error.isKube(.conflict) && !error.isKube(.notFound) {
                logger.warning("status update failed", metadata: [
                    "object": "\(LocalNode.descriptor(kind)) \(LocalNode.key(object))", "error": "\(error)"])
            }
            if error.isKube(.conflict) { poke() }
            return false
        }
    }

    @discardableResult
    func mergePatch(_ kind: Kind, _ object: JSONValue, _ patch: JSONValue) async -> JSONValue? {
        do {
            let answer = try await client.patch(LocalNode.descriptor(kind), name: object.name, .merge(patch),
                                                namespace: object.namespace, as: DynamicObject.self)
            remember(kind, answer.raw)
            return answer.raw
        } catch {
            if !error.isKube(.notFound) {
                logger.warning("patch failed", metadata: [
                    "object": "\(LocalNode.descriptor(kind)) \(LocalNode.key(object))", "error": "\(error)"])
            }
            return nil
        }
    }

    func createPod(_ pod: JSONValue) async -> JSONValue? {
        do {
            let answer = try await client.create(LocalNode.pods, DynamicObject(pod), namespace: pod.namespace)
            remember(.pod, answer.raw)
            poke()
            return answer.raw
        } catch {
            logger.warning("cannot create pod", metadata: ["pod": "\(LocalNode.key(pod))", "error": "\(error)"])
            return nil
        }
    }

    /// Deletes an object (preconditioned on its uid) and drops it from the cache.
    func delete(_ kind: Kind, _ object: JSONValue) async {
        do {
            try await client.delete(LocalNode.descriptor(kind), name: object.name, namespace: object.namespace,
                                    propagationPolicy: .background, preconditionUID: object.uid)
        } catch {
            if !error.isKube(.notFound) && !error.isKube(.conflict) {
                logger.warning("delete failed", metadata: [
                    "object": "\(LocalNode.descriptor(kind)) \(LocalNode.key(object))", "error": "\(error)"])
                return
            }
        }
        forget(kind, object)
        poke()
    }

    // MARK: Helpers

    static func now() -> String { KubeTime.format(Date()) }

    /// Five characters like the API server's `generateName` suffixes.
    static func randomSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// Exponential delay for the n-th failure (n >= 1).
    func backoff(failures: Int) -> Duration {
        Backoff(initial: options.initialBackoff, maximum: options.maximumBackoff, jitter: 0)
            .delay(afterFailures: max(failures, 1))
    }
}

/// Keeps the `lastTransitionTime` (and, for Deployments, `lastUpdateTime`) of a condition whose
/// status did not change.
func mergeConditions(old: JSONValue?, new: [JSONValue]) -> JSONValue {
    let previous = old?.arrayValue ?? []
    let merged: [JSONValue] = new.map { condition in
        var c = condition
        if let before = previous.first(where: { $0["type"] == condition["type"] }),
           before["status"] == condition["status"] {
            if let time = before["lastTransitionTime"] { c["lastTransitionTime"] = time }
            if before["reason"] == condition["reason"], before["message"] == condition["message"],
               let time = before["lastUpdateTime"], c["lastUpdateTime"] != nil {
                c["lastUpdateTime"] = time
            }
        }
        return c
    }
    return .array(merged)
}

func condition(_ type: String, _ status: Bool, reason: String? = nil, message: String? = nil,
               now: String = LocalNode.now(), extra: [String: JSONValue] = [:]) -> JSONValue {
    var c: [String: JSONValue] = ["type": .string(type), "status": status ? "True" : "False",
                                  "lastTransitionTime": .string(now)]
    if let reason { c["reason"] = .string(reason) }
    if let message { c["message"] = .string(message) }
    for (k, v) in extra { c[k] = v }
    return .object(c)
}

extension LocalNode {
    /// A container's output for the API server's `pods/log`: the current (or last) run, or with
    /// `previous` the run before it; nil when the node never started the container.
    public func logs(namespace: String, pod: String, uid: String, container: String, previous: Bool) -> [UInt8]? {
        guard let runtime = runtimes[uid] ?? runtimes.values.first(where: { $0.plan.namespace == namespace && $0.plan.name == pod }),
              let c = runtime.containers.first(where: { $0.plan.name == container }) else { return nil }
        let offsets = c.runOffsets
        let index = offsets.count - (previous ? 2 : 1)
        guard index >= 0 else { return nil }
        let end: UInt64? = index + 1 < offsets.count ? offsets[index + 1] : nil
        return LocalFiles.bytes(c.plan.logPath, from: offsets[index], to: end)
    }
}
