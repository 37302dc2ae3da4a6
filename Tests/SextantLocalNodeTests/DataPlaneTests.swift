import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import SextantTransport
import Testing
@testable import SextantLocalNode

/// The data plane end to end: the local node runs two real `sextant-server` Deployments (stable
/// and canary), the VirtualService a CanaryRollout names is routed by a real HAProxy, and real
/// requests through the host's local address land on each version in the proportions of the weights.
@Suite(.serialized) struct DataPlaneTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let requestsPerStep = 10_000

    static func install(_ h: NodeHarness) async throws {
        for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
            // The project's own Istio CRDs: a clone needs nothing beside it.
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
            _ = try await h.client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                        body: yaml, contentType: "application/yaml")
        }
        let crd = try Data(contentsOf: URL(fileURLWithPath: repoRoot + "/crds/canaryrollouts.yaml"))
        _ = try await h.client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                    body: crd, contentType: "application/yaml")
    }

    static func deployment(_ name: String, version: String, model: String) -> JSONValue {
        let labels: JSONValue = ["app": "fraud", "mlops.sextant.dev/model-version": .string(version)]
        var server = serverContainer(model: model)
        server["args"] = ["--model-uri", .string(model), "--model-name", "demo", "--model-version", .string(version),
                          "--listen", "0.0.0.0:8080"]
        return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name), "namespace": "default"],
                "spec": ["replicas": 1, "selector": ["matchLabels": labels],
                         "template": ["metadata": ["labels": labels], "spec": ["containers": [server]]]]]
    }

    static let virtualServices = ResourceDescriptor(group: "networking.istio.io", version: "v1beta1",
                                                    plural: "virtualservices", kind: "VirtualService", namespaced: true)
    static let destinationRules = ResourceDescriptor(group: "networking.istio.io", version: "v1beta1",
                                                     plural: "destinationrules", kind: "DestinationRule", namespaced: true)
    static let rollouts = ResourceDescriptor(group: "mlops.sextant.dev", version: "v1alpha1", plural: "canaryrollouts",
                                             kind: "CanaryRollout", namespaced: true)

    /// Counts of answers by model version, and everything that was not a 2xx.
    struct Tally: Sendable {
        var byVersion: [String: Int] = [:]
        var failures: [String] = []
        var total: Int { byVersion.values.reduce(0, +) + failures.count }
    }

    /// `count` V2 inference requests through `address`, 16 at a time.
    static func send(_ count: Int, to address: String) async -> Tally {
        let body = Data(#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[[0.2,-0.4,0.5]]}]}"#.utf8)
        let workers = 16
        return await withTaskGroup(of: Tally.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var tally = Tally()
                    var i = w
                    while i < count {
                        let request = HTTPRequest(method: "POST", url: "http://\(address)/v2/models/demo/infer",
                                                  headers: [HTTPHeader("content-type", "application/json")], body: body,
                                                  timeouts: HTTPTimeouts(total: .seconds(10)))
                        do {
                            let response = try await HTTPClient.shared.send(request)
                            let status = response.status, data = response.body
                            if (200..<300).contains(status),
                               let json = try? JSONValue.parse(data), let version = json["model_version"]?.stringValue {
                                tally.byVersion[version, default: 0] += 1
                            } else {
                                tally.failures.append("\(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
                            }
                        } catch {
                            tally.failures.append("\(error)")
                        }
                        i += workers
                    }
                    return tally
                }
            }
            var all = Tally()
            for await part in group {
                all.byVersion.merge(part.byVersion, uniquingKeysWith: +)
                all.failures += part.failures
            }
            return all
        }
    }

    func setWeights(_ h: NodeHarness, canary: Int64) async throws {
        let patch: JSONValue = ["spec": ["http": [["name": "primary", "route": [
            ["destination": ["host": "fraud", "subset": "stable"], "weight": .int(100 - canary)],
            ["destination": ["host": "fraud", "subset": "canary"], "weight": .int(canary)]]]]]]
        _ = try await h.client.patch(Self.virtualServices, name: "fraud", .merge(patch), namespace: "default",
                                     as: DynamicObject.self)
    }

    /// Runs `body` on a fresh harness and always waits for the node (and its HAProxy and server
    /// processes) to stop, also when the body throws: a stop left to a detached task may not run
    /// before the test process exits, leaving processes behind.
    static func withHarness(_ body: (NodeHarness) async throws -> Void) async throws {
        guard try Tooling.available("haproxy (Debian package haproxy)", LocalNodeOptions.installedHAProxy != nil),
              let h = try await NodeHarness.start() else { return }
        do {
            try await body(h)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    @Test func requestsThroughTheHostAddressFollowTheWeights() async throws {
        try await Self.withHarness { h in try await weightsScenario(h) }
    }

    func weightsScenario(_ h: NodeHarness) async throws {
        try await Self.install(h)
        let model = try trainModel(in: h.work)
        _ = try await h.create(NodeHarness.deployments, Self.deployment("fraud-v1", version: "fraud-v1", model: model))
        _ = try await h.create(NodeHarness.deployments, Self.deployment("fraud-v2", version: "fraud-v2", model: model))
        _ = try await h.create(Self.destinationRules, [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["host": "fraud", "subsets": [
                ["name": "stable", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v1"]],
                ["name": "canary", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v2"]]]]])
        _ = try await h.create(Self.virtualServices, [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["hosts": ["fraud"], "http": [["name": "primary", "route": [
                ["destination": ["host": "fraud", "subset": "stable"], "weight": 100],
                ["destination": ["host": "fraud", "subset": "canary"], "weight": 0]]]]]])
        _ = try await h.create(Self.rollouts, [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["modelName": "fraud",
                     "serving": ["managed": ["image": "sextant-server:dev", "template": ["metadata": ["labels": ["app": "fraud"]]]]],
                     "routing": ["virtualService": ["name": "fraud", "routes": ["primary"]],
                                 "destinationRule": ["name": "fraud", "host": "fraud"]],
                     "strategy": ["canary": ["stepWeight": 10, "maxWeight": 50]]]])

        // Both versions ready behind the frontend: a request with weight 100 reaches fraud-v1.
        let address: String = try await h.wait("the data plane's address and both versions behind it", timeout: .seconds(60)) {
            guard let address = await h.node.meshAddress(namespace: "default", virtualService: "fraud") else { return nil }
            let plan = try? HAProxyRuntimeAPI.send("show servers state vs:default:fraud:0",
                                                   socket: h.options.workDirectory + "/mesh/haproxy.sock")
            return plan?.contains("d1-fraud-v2") == true && plan?.contains("d0-fraud-v1") == true ? address : nil
        }
        let addressFile = try String(contentsOfFile: h.options.workDirectory + "/mesh/default/fraud.address", encoding: .utf8)
        #expect(addressFile.trimmingCharacters(in: .whitespacesAndNewlines) == address)

        // Background traffic during every weight change: not one request may fail.
        // Stopped by a flag, not by cancellation (which would cancel requests in flight).
        let stop = Flag()
        let background = Task { () -> Tally in
            var all = Tally()
            while !stop.isSet {
                let part = await Self.send(64, to: address)
                all.byVersion.merge(part.byVersion, uniquingKeysWith: +)
                all.failures += part.failures
            }
            return all
        }
        var applyLatencies: [Duration] = []
        for canary in [0, 10, 50, 90, 100] as [Int64] {
            let canaryServer = "vs:default:fraud:0/d1-" + (try await Self.podName(h, "fraud-v2"))
            try await setWeights(h, canary: canary)
            // Applied when HAProxy's weight of the canary server is the step's (runtime API), polled
            // every 2 ms from the moment the API server acknowledged the update.
            let updated = ContinuousClock.now
            while ContinuousClock.now - updated < .seconds(5) {
                let answer = try? HAProxyRuntimeAPI.send("get weight " + canaryServer,
                                                         socket: h.options.workDirectory + "/mesh/haproxy.sock")
                if answer?.hasPrefix("\(canary) ") == true { break }
                try await Task.sleep(for: .milliseconds(2))
            }
            applyLatencies.append(ContinuousClock.now - updated)
            // 100 ms is the aim; the bound leaves room for a loaded 2-core CI machine.
            #expect(applyLatencies.last! < .milliseconds(500), "step \(canary) applied after \(applyLatencies.last!)")
            let tally = await Self.send(Self.requestsPerStep, to: address)
            #expect(tally.failures.isEmpty, "step \(canary): \(tally.failures.prefix(5))")
            let n = Double(tally.total)
            let share = Double(tally.byVersion["fraud-v2", default: 0]) / n
            let p = Double(canary) / 100
            // Binomial: 4 standard deviations of a share of n draws (plus one request of rounding).
            let bound = 4 * (p * (1 - p) / n).squareRoot() + 1 / n
            #expect(abs(share - p) <= bound, "step \(canary): canary share \(share), weight \(p), bound ±\(bound)")
            print("data plane step \(canary)%: canary share \(share) of \(Int(n)) requests (bound ±\(bound)), applied in \(applyLatencies.last!)")
        }
        // Promotion as Sextant does it (subset-level): the stable subset points at fraud-v2 and takes
        // all traffic (a new server set: HAProxy reloads), then fraud-v1 is deleted; meanwhile the
        // background traffic goes on.
        let subsets: JSONValue = [
            ["name": "stable", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v2"]],
            ["name": "canary", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v2"]]]
        _ = try await h.client.patch(Self.destinationRules, name: "fraud", .merge(["spec": ["subsets": subsets]]),
                                     namespace: "default", as: DynamicObject.self)
        try await setWeights(h, canary: 0)
        let v2 = try await Self.podName(h, "fraud-v2")
        _ = try await h.wait("haproxy serving only fraud-v2", timeout: .seconds(10)) { () -> Bool? in
            let state = try? HAProxyRuntimeAPI.send("show servers state vs:default:fraud:0",
                                                    socket: h.options.workDirectory + "/mesh/haproxy.sock")
            return state?.contains("d0-\(v2) ") == true && state?.contains("fraud-v1") == false ? true : nil
        }
        try await h.client.delete(NodeHarness.deployments, name: "fraud-v1", namespace: "default")
        let promoted = await Self.send(Self.requestsPerStep, to: address)
        #expect(promoted.failures.isEmpty && promoted.byVersion == ["fraud-v2": Self.requestsPerStep],
                "after promotion: \(promoted.byVersion), failures \(promoted.failures.prefix(5))")
        print("data plane after promotion: \(promoted.byVersion)")
        stop.set()
        let during = await background.value
        #expect(during.failures.isEmpty, "requests failed during weight changes and the promotion: \(during.failures.prefix(5))")
        #expect(during.total > 0)
        print("data plane: \(during.total) requests during the weight changes, \(during.failures.count) failed; apply latencies \(applyLatencies)")
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.withLock { value } }
        func set() { lock.withLock { value = true } }
    }

    static func podName(_ h: NodeHarness, _ deployment: String) async throws -> String {
        let pods = try await h.client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.map(\.raw)
        let pod = pods.first { $0[path: ["metadata", "labels", "mlops.sextant.dev/model-version"]]?.stringValue == deployment }
        return pod?[path: ["metadata", "name"]]?.stringValue ?? ""
    }

    /// A VirtualService the translator cannot express: an Event on the rollout names the field, and
    /// traffic keeps the configuration it had.
    @Test func untranslatableVirtualServiceKeepsTraffic() async throws {
        try await Self.withHarness { h in try await untranslatableScenario(h) }
    }

    func untranslatableScenario(_ h: NodeHarness) async throws {
        try await Self.install(h)
        let model = try trainModel(in: h.work)
        _ = try await h.create(NodeHarness.deployments, Self.deployment("fraud-v1", version: "fraud-v1", model: model))
        _ = try await h.create(Self.destinationRules, [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["host": "fraud", "subsets": [
                ["name": "stable", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v1"]]]]])
        _ = try await h.create(Self.virtualServices, [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["hosts": ["fraud"], "http": [["name": "primary", "route": [
                ["destination": ["host": "fraud", "subset": "stable"], "weight": 100]]]]]])
        _ = try await h.create(Self.rollouts, [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["modelName": "fraud",
                     "serving": ["managed": ["image": "sextant-server:dev", "template": ["metadata": ["labels": ["app": "fraud"]]]]],
                     "routing": ["virtualService": ["name": "fraud", "routes": ["primary"]],
                                 "destinationRule": ["name": "fraud", "host": "fraud"]],
                     "strategy": ["canary": ["stepWeight": 10, "maxWeight": 50]]]])
        let address: String = try await h.wait("the data plane routes to fraud-v1", timeout: .seconds(60)) {
            guard let address = await h.node.meshAddress(namespace: "default", virtualService: "fraud") else { return nil }
            return await Self.send(1, to: address).byVersion["fraud-v1"] == 1 ? address : nil
        }
        @Sendable func dataPlaneCondition() async throws -> JSONValue? {
            try await h.get(Self.rollouts, "fraud")?[path: ["status", "conditions"]]?.arrayValue?.first {
                $0["type"]?.stringValue == "DataPlaneReady"
            }
        }
        let routed = try await h.wait("condition DataPlaneReady=True on the rollout") {
            let c = try await dataPlaneCondition()
            return c?["status"]?.stringValue == "True" ? c : nil
        }
        #expect(routed["reason"] == "Routed", "\(routed)")
        // Besides the rewrite, the new version only matches a header these requests do not send: had
        // the translator applied it without the rewrite, they would get 404.
        _ = try await h.client.patch(Self.virtualServices, name: "fraud",
                                     .merge(["spec": ["http": [["name": "primary", "rewrite": ["uri": "/v1"],
                                                                "match": [["headers": ["x-canary": ["exact": "yes"]]]],
                                                                "route": [["destination": ["host": "fraud", "subset": "stable"],
                                                                           "weight": 100]]]]]]),
                                     namespace: "default", as: DynamicObject.self)
        let events = ResourceDescriptor(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
        // An earlier DataPlaneUnsupported Event may exist (the VirtualService can be seen before its
        // DestinationRule), so wait for the one about the rewrite.
        let event = try await h.wait("a DataPlaneUnsupported Event on the rollout naming spec.http[0].rewrite") {
            try await h.client.list(events, namespace: "default", as: DynamicObject.self).items.map(\.raw).first {
                $0["reason"]?.stringValue == "DataPlaneUnsupported"
                    && $0["message"]?.stringValue?.contains("spec.http[0].rewrite") == true
            }
        }
        #expect(event[path: ["involvedObject", "kind"]] == "CanaryRollout")
        let refused = try await h.wait("condition DataPlaneReady=False naming spec.http[0].rewrite") {
            let c = try await dataPlaneCondition()
            return c?["status"]?.stringValue == "False" && c?["message"]?.stringValue?.contains("spec.http[0].rewrite") == true ? c : nil
        }
        #expect(refused["reason"] == "DataPlaneUnsupported", "\(refused)")
        let tally = await Self.send(200, to: address)
        #expect(tally.byVersion["fraud-v1"] == 200, "\(tally)")
    }
}
