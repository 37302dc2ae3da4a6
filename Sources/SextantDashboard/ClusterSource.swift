import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantPrometheus

/// What the dashboard reads from the cluster, with the user's kubeconfig: the API server
/// authorizes every read and write as that user, so a page the user may not read shows the
/// API's 403.
public struct ClusterSource: Sendable {
    public let client: KubeClient
    /// Items per list page (the API's `limit`; the next page through its `continue` token).
    public var pageSize = 500

    public init(client: KubeClient) { self.client = client }

    public static let canaryRollouts = ResourceDescriptor(CanaryRollout.self)
    public static let modelVersions = ResourceDescriptor(ModelVersion.self)
    public static let trainingJobs = ResourceDescriptor(TrainingJob.self)
    public static let deployments = ResourceDescriptor(group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true)
    public static let events = ResourceDescriptor(Event.self)

    /// One page of typed objects; an object that does not decode is named in `problems`, not fatal.
    public func page<T: KubernetesResource>(_ type: T.Type, namespace: String?, selector: String?, continue token: String?)
        async throws -> (items: [T], next: String?, problems: [String]) {
        let list = try await client.list(ResourceDescriptor(T.self), namespace: namespace,
                                         options: ListOptions(labelSelector: selector, limit: pageSize, continue: token),
                                         as: DynamicObject.self)
        var items: [T] = []
        var problems: [String] = []
        for item in list.items {
            do {
                items.append(try JSONValueDecoder().decode(T.self, from: item.raw))
            } catch {
                problems.append("\(T.kind) \(item.namespace ?? "")/\(item.name ?? ""): \(FieldError.decoding(error))")
            }
        }
        return (items, list.metadata.continue, problems)
    }

    /// The CanaryRollouts a version's Traffic section needs: those of the version's model that
    /// the version names (`status.servedBy`, `status.rolledBack.canaryRollout`, its TrainingJob's
    /// `release.canaryRollout`) or that are named like the model (the usual convention), each read
    /// by name. Only when none of them is a rollout of this model is every rollout of the namespace
    /// read: with thousands of rollouts in a namespace that list costs seconds (docs/dashboard.md).
    public func rollouts(for mv: ModelVersion) async -> (items: Result<[CanaryRollout], TrafficUnavailable>, problems: [String]) {
        let namespace = mv.metadata.namespace ?? ""
        var names: [String] = []
        func add(_ name: String?) { if let name, !name.isEmpty, !names.contains(name) { names.append(name) } }
        add(mv.status?.servedBy)
        add(mv.status?.rolledBack?.canaryRollout)
        if let job = mv.spec.lineage?.trainingJob,
           let tj = try? await client.get(TrainingJob.self, name: job, namespace: namespace) {
            add(tj.spec.release?.canaryRollout)
        }
        add(mv.spec.modelName)
        var found: [CanaryRollout] = []
        for name in names {
            // A name that is missing, unreadable or another model's rollout is no candidate; the
            // namespace list below then decides, with the API's message if that is refused too.
            if let rollout = try? await client.get(CanaryRollout.self, name: name, namespace: namespace),
               rollout.spec.modelName == mv.spec.modelName {
                found.append(rollout)
            }
        }
        if !found.isEmpty { return (.success(found), []) }
        return await rollouts(namespace: namespace)
    }

    /// Every CanaryRollout of the namespace (for a version's Traffic section). One that does not
    /// decode is named in `problems`; a list the user may not read is the API's message.
    public func rollouts(namespace: String) async -> (items: Result<[CanaryRollout], TrafficUnavailable>, problems: [String]) {
        do {
            let list = try await client.listAll(Self.canaryRollouts, namespace: namespace, pageSize: pageSize, as: DynamicObject.self)
            var items: [CanaryRollout] = []
            var problems: [String] = []
            for item in list.items {
                do {
                    items.append(try JSONValueDecoder().decode(CanaryRollout.self, from: item.raw))
                } catch {
                    problems.append("CanaryRollout \(item.namespace ?? "")/\(item.name ?? ""): \(FieldError.decoding(error))")
                }
            }
            return (.success(items), problems)
        } catch let error as KubeError {
            return (.failure(TrafficUnavailable("CanaryRollouts: Error from server (\(error.status.reason ?? "\(error.code)")): "
                                                + (error.status.message ?? error.description))), [])
        } catch {
            return (.failure(TrafficUnavailable("CanaryRollouts: \(error)")), [])
        }
    }

    public func get<T: KubernetesResource>(_ type: T.Type, namespace: String, name: String) async throws -> T {
        try await client.get(T.self, name: name, namespace: namespace)
    }

    /// Whether the user may send the manual requests of `descriptor` (a merge patch of
    /// `<plural>/status`), asked as `kubectl auth can-i patch <plural>/status` asks: a
    /// SelfSubjectAccessReview, answered by the API server's own authorizer. A review that fails
    /// (an old server, no permission to create reviews) is `.unknown`: the buttons stay and the
    /// API's 403, if any, is shown when one is pressed.
    public func statusRequestAccess(_ descriptor: ResourceDescriptor, namespace: String, name: String) async -> ActionAccess {
        let review: JSONValue = [
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": ["resourceAttributes": ["namespace": .string(namespace), "verb": "patch", "group": .string(descriptor.group),
                                            "resource": .string(descriptor.plural), "subresource": "status", "name": .string(name)]],
        ]
        do {
            let answer = try JSONValue.decode(try await client.send(
                method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body: Data(review.serialized()), contentType: "application/json"))
            guard let allowed = answer[path: ["status", "allowed"]]?.boolValue else { return .unknown }
            return allowed ? .allowed : .denied("patch \(descriptor.plural)/status in namespace \(namespace)")
        } catch {
            return .unknown
        }
    }

    /// The Deployments serving the rollout (managed: those labelled with it; external: the two it
    /// names) and its latest Events.
    public func surroundings(of rollout: CanaryRollout) async throws -> (deployments: [ServingDeployment], events: [RolloutEvent]) {
        let namespace = rollout.metadata.namespace ?? ""
        let name = rollout.metadata.name ?? ""
        var deployments: [ServingDeployment] = []
        if let external = rollout.spec.serving.external {
            for deployment in [external.stableDeployment, external.canaryDeployment] {
                if let object: DynamicObject = try? await client.get(Self.deployments, name: deployment, namespace: namespace) {
                    deployments.append(ServingDeployment(object.raw))
                }
            }
        } else {
            let list = try await client.listAll(Self.deployments, namespace: namespace,
                                                options: ListOptions(labelSelector: "\(SextantLabel.canaryRollout)=\(name)"),
                                                as: DynamicObject.self)
            deployments = list.items.map { ServingDeployment($0.raw) }.sorted { $0.name < $1.name }
        }
        let events = try await client.listAll(Self.events, namespace: namespace, options: ListOptions(), as: Event.self)
        return (deployments, RolloutEvent.about(rollout: name, in: events.items))
    }

    /// Each metric's resolved query (from the last measurement) over the rollout so far, as a
    /// Prometheus subquery evaluated now: about 120 points from the rollout's start (at most 6 h).
    public static func series(for rollout: CanaryRollout, prometheus: PrometheusClient, now: Date) async -> RolloutPages.Series {
        let status = rollout.status
        let start = (status?.rolloutStartTime ?? status?.history?.last?.startTime).flatMap(KubeTime.parse) ?? now.addingTimeInterval(-600)
        let range = Int(min(6 * 3600, max(60, now.timeIntervalSince(start) + 10)))
        let step = max(1, range / 120)
        var series = RolloutPages.Series()
        for m in status?.measurements ?? [] {
            guard let query = m.query, !query.isEmpty else { continue }
            do {
                if case .matrix(let result) = try await prometheus.query("(\(query))[\(range)s:\(step)s]", at: now), let first = result.first {
                    series.points[m.metric] = first.points.map { MetricChart.Point(time: $0.timestamp, value: $0.value) }
                }
            } catch {
                series.errors[m.metric] = "\(error)"
            }
        }
        return series
    }
}

extension ClusterSource {
    /// The drift window the Drift page shows: the rollout's lifetime plus a minute, at least 5
    /// minutes and at most an hour (a young rollout's chart is not one point in an empty hour).
    public static func driftWindow(since created: Date?, now: Date) -> Int {
        let age = created.map { Int(now.timeIntervalSince($0)) + 60 } ?? 3600
        return min(3600, max(300, age))
    }

    /// Each drift gauge of the model over the window (a subquery, about 120 points), the series of
    /// `versions` only; one query per statistic. In a namespace-labelled Prometheus (the
    /// `namespace` target label of a Kubernetes scrape) series of other namespaces are left out.
    public static func drift(model: String, versions: [String], namespace: String, window: Int, prometheus: PrometheusClient, now: Date) async
        -> (series: [DriftPages.Series], errors: [String]) {
        let range = window, step = max(1, window / 120)
        var series: [DriftPages.Series] = []
        var errors: [String] = []
        for statistic in DriftPages.Statistic.allCases {
            let query = "\(statistic.rawValue){model=\"\(promQLString(model))\"}[\(range)s:\(step)s]"
            do {
                guard case .matrix(let result) = try await prometheus.query(query, at: now) else { continue }
                for s in result {
                    guard let version = s.labels["version"], versions.contains(version), let feature = s.labels["feature"],
                          s.labels["namespace"].map({ $0 == namespace }) ?? true else { continue }
                    series.append(DriftPages.Series(statistic: statistic, feature: feature, version: version,
                                                    points: s.points.map { MetricChart.Point(time: $0.timestamp, value: $0.value) }))
                }
            } catch {
                errors.append("\(query): \(error)")
            }
        }
        return (series, errors)
    }

    /// Each rollout's canary weight over its life (from its creation, at least a minute, at most
    /// 6 h; about 120 points), one query per rollout.
    public static func canaryWeights(_ rollouts: [CanaryRollout], prometheus: PrometheusClient, now: Date) async -> [ModelTraffic.WeightSeries] {
        var out: [ModelTraffic.WeightSeries] = []
        for rollout in rollouts {
            let name = rollout.metadata.name ?? ""
            let start = rollout.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? now.addingTimeInterval(-3600)
            let range = Int(min(6 * 3600, max(60, now.timeIntervalSince(start) + 10)))
            let query = ModelTraffic.weightQuery(namespace: rollout.metadata.namespace ?? "", rollout: name, range: range, step: max(1, range / 120))
            do {
                guard case .matrix(let result) = try await prometheus.query(query, at: now) else {
                    out.append(.init(rollout: name, points: [], error: "\(query): not a range vector"))
                    continue
                }
                out.append(.init(rollout: name, points: (result.first?.points ?? []).map { MetricChart.Point(time: $0.timestamp, value: $0.value) }))
            } catch {
                out.append(.init(rollout: name, points: [], error: "\(query): \(error)"))
            }
        }
        return out
    }

    /// A PromQL double-quoted string's content.
    static func promQLString(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Calls `signal` on every change of the objects a watch selects; lists again after 410 Gone and
/// starts a new watch when one ends (API servers close watches after a timeout).
public enum ChangeSignals {
    public static func watch(_ client: KubeClient, _ descriptor: ResourceDescriptor, namespace: String?, options: ListOptions,
                             signal: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        Task {
            var resourceVersion: String?
            while !Task.isCancelled {
                do {
                    if resourceVersion == nil {
                        let list = try await client.list(descriptor, namespace: namespace,
                                                         options: ListOptions(labelSelector: options.labelSelector,
                                                                              fieldSelector: options.fieldSelector, limit: 1),
                                                         as: DynamicObject.self)
                        resourceVersion = list.metadata.resourceVersion
                    }
                    let stream = try await client.watch(descriptor, namespace: namespace, options: WatchOptions(
                        resourceVersion: resourceVersion, labelSelector: options.labelSelector,
                        fieldSelector: options.fieldSelector), as: DynamicObject.self)
                    for try await change in stream {
                        switch change {
                        case .added(let o), .modified(let o), .deleted(let o):
                            resourceVersion = o.resourceVersion ?? resourceVersion
                            signal()
                        case .bookmark(let rv):
                            resourceVersion = rv
                        }
                    }
                } catch let error as KubeError where error.reason == .expired {
                    resourceVersion = nil
                    signal()
                } catch {
                    if Task.isCancelled { return }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}
