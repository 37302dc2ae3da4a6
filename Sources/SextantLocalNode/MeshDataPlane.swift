import Foundation
import Logging
import SextantJSON
import SextantKube
import SextantKubeTypes

/// The local node's data plane: for every VirtualService a CanaryRollout names, an HAProxy
/// frontend on 127.0.0.1 (the host's local address) that routes like Istio would
/// (MeshTranslation.swift) to the ready Pods the node runs. A development stand-in, like the
/// node itself: docs/local-node.md ("Data plane").
actor MeshDataPlane {
    static let canaryRollouts = ResourceDescriptor(group: "mlops.sextant.dev", version: "v1alpha1",
                                                   plural: "canaryrollouts", kind: "CanaryRollout", namespaced: true)
    static let virtualServices = ResourceDescriptor(group: "networking.istio.io", version: "v1beta1",
                                                    plural: "virtualservices", kind: "VirtualService", namespaced: true)
    static let destinationRules = ResourceDescriptor(group: "networking.istio.io", version: "v1beta1",
                                                     plural: "destinationrules", kind: "DestinationRule", namespaced: true)
    static let services = ResourceDescriptor(group: "", version: "v1", plural: "services", kind: "Service", namespaced: true)
    static let events = ResourceDescriptor(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)

    enum Kind: CaseIterable, Sendable { case rollout, virtualService, destinationRule, service, pod }

    let client: KubeClient
    let namespace: String?
    let logger: Logger
    let proxy: MeshProxy
    let directory: String
    private var caches: [Kind: [String: JSONValue]] = [:]
    /// The last plan that translated, by `namespace/name` of the VirtualService: kept while a newer
    /// version cannot be translated (traffic stays where it was).
    private var plans: [String: MeshPlan] = [:]
    private var listen: [String: String] = [:]
    /// Messages already reported as Events, by rollout uid (an Event per distinct message).
    private var reported: [String: Set<String>] = [:]
    private var dirty = false
    private var running = false

    init(client: KubeClient, namespace: String?, haproxy: String, directory: String, logger: Logger) {
        self.client = client
        self.namespace = namespace
        self.directory = directory
        self.logger = logger
        proxy = MeshProxy(executable: haproxy, directory: directory, logger: logger)
    }

    /// The local address of a VirtualService's host, once its frontend exists.
    func address(namespace: String, name: String) -> String? { listen["\(namespace)/\(name)"] }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for kind in Kind.allCases { group.addTask { await self.inform(kind) } }
            await group.waitForAll()
        }
        await proxy.stop()
    }

    static func descriptor(_ kind: Kind) -> ResourceDescriptor {
        switch kind {
        case .rollout: return canaryRollouts
        case .virtualService: return virtualServices
        case .destinationRule: return destinationRules
        case .service: return services
        case .pod: return LocalNode.pods
        }
    }

    // MARK: Reconcile

    /// Recomputes every plan and applies them; a change arriving meanwhile runs it once more.
    private func changed() async {
        dirty = true
        guard !running else { return }
        running = true
        while dirty, !Task.isCancelled {
            dirty = false
            await reconcile()
        }
        running = false
    }

    private func reconcile() async {
        let rollouts = Array((caches[.rollout] ?? [:]).values)
        var managed: [String: [JSONValue]] = [:]  // VirtualService key → rollouts naming it
        for rollout in rollouts {
            guard let vs = rollout[path: ["spec", "routing", "virtualService", "name"]]?.stringValue else { continue }
            managed["\(rollout.namespace)/\(vs)", default: []].append(rollout)
        }
        let rules = Array((caches[.destinationRule] ?? [:]).values)
        let services = Array((caches[.service] ?? [:]).values)
        let pods = Array((caches[.pod] ?? [:]).values)
        var next: [String: MeshPlan] = [:]
        for (key, owners) in managed.sorted(by: { $0.key < $1.key }) {
            guard let vs = caches[.virtualService]?[key] else { continue }
            do {
                let plan = try MeshTranslator.plan(virtualService: vs, destinationRules: rules, services: services,
                                                   pods: pods, endpointAnnotation: LocalNode.endpointAnnotation)
                next[key] = plan
                await setCondition(owners, status: "True", reason: "Routed",
                                   message: "local data plane routes VirtualService \(key) as it is written")
                for gap in plan.gaps {
                    await report(owners, reason: "DataPlaneGap", type: "Normal",
                                 message: "local data plane: VirtualService \(key) \(gap) is not applied (docs/local-node.md)")
                }
            } catch {
                // Traffic stays on the last configuration that translated.
                if let previous = plans[key] { next[key] = previous }
                logger.warning("cannot translate VirtualService", metadata: ["virtualService": "\(key)", "error": "\(error)"])
                let message = "local data plane cannot route VirtualService \(key): \(error.field): \(error.message); traffic stays as it was"
                await report(owners, reason: "DataPlaneUnsupported", type: "Warning", message: message)
                await setCondition(owners, status: "False", reason: "DataPlaneUnsupported", message: message)
            }
        }
        for key in next.keys where listen[key] == nil {
            listen[key] = "127.0.0.1:\(MeshDataPlane.freePort())"
        }
        do {
            try await proxy.apply(Array(next.values), listen: listen.filter { next[$0.key] != nil })
            for (key, plan) in next where plans[key] == nil {
                let address = listen[key] ?? ""
                logger.info("mesh ingress", metadata: ["virtualService": "\(key)", "address": "\(address)"])
                writeAddressFile(key, address)
                await report(managed[key] ?? [], reason: "DataPlaneReady", type: "Normal",
                             message: "local data plane: VirtualService \(key) is routed at http://\(address) (HAProxy)")
                _ = plan
            }
            plans = next
        } catch {
            logger.warning("haproxy did not take the configuration", metadata: ["error": "\(error)"])
        }
    }

    private func writeAddressFile(_ key: String, _ address: String) {
        let path = directory + "/" + key + ".address"
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try? Data((address + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    /// An Event on each rollout, once per distinct message.
    private func report(_ rollouts: [JSONValue], reason: String, type: String, message: String) async {
        for rollout in rollouts {
            guard reported[rollout.uid, default: []].insert(message).inserted else { continue }
            let now = KubeTime.format(Date())
            let event: JSONValue = [
                "apiVersion": "v1", "kind": "Event",
                "metadata": ["name": .string("\(rollout.name).\(LocalNode.randomSuffix())\(LocalNode.randomSuffix())"),
                             "namespace": .string(rollout.namespace)],
                "involvedObject": ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
                                   "name": .string(rollout.name), "namespace": .string(rollout.namespace),
                                   "uid": .string(rollout.uid)],
                "reason": .string(reason), "message": .string(message), "type": .string(type),
                "source": ["component": "sextant-local-node"], "reportingComponent": "sextant-local-node",
                "firstTimestamp": .string(now), "lastTimestamp": .string(now), "count": 1,
            ]
            do {
                _ = try await client.create(MeshDataPlane.events, DynamicObject(event), namespace: rollout.namespace)
            } catch {
                logger.debug("cannot write Event", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The condition type the node sets on the CanaryRollouts naming a VirtualService it routes
    /// (the controller keeps conditions of other types as they are).
    static let conditionType = "DataPlaneReady"

    /// Sets `DataPlaneReady` on each rollout whose cached copy says otherwise: a JSON patch of the
    /// status subresource guarded by the resourceVersion, read again and retried on a conflict with
    /// the controller's own status writes.
    private func setCondition(_ rollouts: [JSONValue], status: String, reason: String, message: String) async {
        func current(_ rollout: JSONValue) -> JSONValue? {
            rollout[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == Self.conditionType }
        }
        func same(_ c: JSONValue?) -> Bool {
            c?["status"]?.stringValue == status && c?["reason"]?.stringValue == reason && c?["message"]?.stringValue == message
        }
        for cached in rollouts where !same(current(cached)) {
            var rollout = cached
            for attempt in 0..<5 {
                if attempt > 0 {
                    try? await Task.sleep(for: .milliseconds(Int64.random(in: 20...200)))
                    guard let fresh = try? await client.get(Self.canaryRollouts, name: cached.name, namespace: cached.namespace,
                                                            as: DynamicObject.self).raw,
                          fresh.uid == cached.uid else { return }
                    rollout = fresh
                }
                if same(current(rollout)) { break }
                var conditions = (rollout[path: ["status", "conditions"]]?.arrayValue ?? []).filter {
                    $0["type"]?.stringValue != Self.conditionType
                }
                let transition = current(rollout)?["status"]?.stringValue == status
                    ? current(rollout)?["lastTransitionTime"] ?? .string(KubeTime.format(Date())) : .string(KubeTime.format(Date()))
                conditions.append(["type": .string(Self.conditionType), "status": .string(status), "reason": .string(reason),
                                   "message": .string(message), "lastTransitionTime": transition])
                var ops: [JSONValue] = [["op": "test", "path": "/metadata/resourceVersion",
                                         "value": rollout[path: ["metadata", "resourceVersion"]] ?? ""]]
                if rollout["status"] == nil { ops.append(["op": "add", "path": "/status", "value": [:]]) }
                ops.append(["op": "add", "path": "/status/conditions", "value": .array(conditions)])
                do {
                    let stored: DynamicObject = try await client.patch(Self.canaryRollouts, name: rollout.name, .json(ops),
                                                                       namespace: rollout.namespace, subresource: "status")
                    caches[.rollout]?["\(rollout.namespace)/\(rollout.name)"] = stored.raw
                    break
                } catch {
                    logger.debug("cannot set the DataPlaneReady condition", metadata: ["rollout": "\(rollout.name)", "error": "\(error)"])
                }
            }
        }
    }

    /// A port the kernel says is free now (HAProxy binds it right after).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: Caches

    private func replace(_ kind: Kind, _ objects: [JSONValue]) async {
        caches[kind] = Dictionary(objects.map { ("\($0.namespace)/\($0.name)", $0) }, uniquingKeysWith: { _, b in b })
        await changed()
    }

    private func apply(_ kind: Kind, _ change: WatchChange<DynamicObject>) async {
        switch change {
        case .added(let o), .modified(let o): caches[kind, default: [:]]["\(o.raw.namespace)/\(o.raw.name)"] = o.raw
        case .deleted(let o): caches[kind]?["\(o.raw.namespace)/\(o.raw.name)"] = nil
        case .bookmark: return
        }
        await changed()
    }

    /// The kind's cache, fed by an `Informer`; Istio's CRDs may be applied after the node started,
    /// so an unserved resource is tried again every few seconds.
    private nonisolated func inform(_ kind: Kind) async {
        let informer = Informer(client: client, resource: MeshDataPlane.descriptor(kind), namespace: namespace,
                                logger: logger, maximumBackoff: .seconds(5))
        await informer.run(replace: { await self.replace(kind, $0) }, apply: { await self.apply(kind, $0) })
    }
}
