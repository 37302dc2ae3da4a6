import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Keeps `hack/local-crds/` (the project's own Istio and Gateway API CRDs, which the demo and every
/// other test use) honest against the upstream CRDs: two development API servers, one with ours and
/// one with Istio's and the Gateway API's (v1.6.1 standard channel) from `../shared/fixtures`, get
/// the same writes and must agree on every accept and reject. An object upstream rejects and ours
/// accepts is the failure that matters most (a test passing here would fail on a cluster).
///
/// The upstream files are not part of the repository: where they are absent (a user's clone) this
/// suite is skipped and says why. It is the only test allowed to skip.
@Suite(.serialized, .enabled(if: CrossCheck.upstreamPresent,
                             "the upstream CRDs are not beside the repository (\(Repo.upstreamFixtures)): nothing to cross-check hack/local-crds against"))
struct LocalCRDCrossCheckTests {
    /// Sextant's own writes: the routing fixtures of the tests (RoutingFixtures, the canary and
    /// loop environments' objects, the demo's), routed by the real TrafficRouter through every kind
    /// of split the tests use. Each write must have the same outcome on both servers and leave the
    /// same spec behind.
    @Test func sextantsWritesAgree() async throws {
        let pair = try await CrossCheck.start()
        var outcomes = 0

        // Subset-level (DestinationRule subsets), the owned route between two unowned ones.
        try await pair.createOnBoth(TrafficRouter.destinationRules(), RoutingFixtures.destinationRule)
        try await pair.createOnBoth(TrafficRouter.virtualServices(), RoutingFixtures.subsetVirtualService)
        let subset = RoutingFixtures.subsetRollout()
        let ab = [ABMatch(header: HeaderMatch(name: "x-canary", exact: "yes")), ABMatch(header: HeaderMatch(name: "user-agent", regex: ".*Beta.*")),
                  ABMatch(cookie: CookieMatch(name: "canary", value: "always"))]
        for split in [TrafficSplit(canaryWeight: 0), TrafficSplit(canaryWeight: 10), TrafficSplit(canaryWeight: 55),
                      TrafficSplit(canaryWeight: 100), TrafficSplit(canaryWeight: 0, mirrorPercent: 50),
                      TrafficSplit(canaryWeight: 0, mirrorPercent: 100), TrafficSplit(canaryWeight: 0, abMatch: ab),
                      TrafficSplit(canaryWeight: 0)] {
            try await pair.route(subset, stable: "fraud-detector-v2", canary: "fraud-detector-v3", split: split)
            try await pair.expectSameSpec(TrafficRouter.virtualServices(), "fraud-detector", after: split.description)
            try await pair.expectSameSpec(TrafficRouter.destinationRules(), "fraud-detector", after: split.description)
            outcomes += 1
        }

        // Host-level (two Services, their selectors), an unnamed route.
        for name in ["churn-stable", "churn-canary"] {
            try await pair.createOnBoth(TrafficRouter.services, RoutingFixtures.service(name))
        }
        try await pair.createOnBoth(TrafficRouter.virtualServices(), RoutingFixtures.hostVirtualService)
        for weight in [0, 20, 40, 100, 0] {
            try await pair.route(RoutingFixtures.hostRollout(), stable: "churn-v4", canary: "churn-v5",
                                 split: TrafficSplit(canaryWeight: weight))
            try await pair.expectSameSpec(TrafficRouter.virtualServices(), "churn", after: "\(weight)")
            outcomes += 1
        }

        // The canary and loop environments' objects (`fraud`), then the demo's (another namespace).
        for client in [pair.local, pair.upstream] {
            try await CanaryEnvironment.createRouting(client, namespace: RoutingCluster.namespace)
        }
        var fraud = RoutingFixtures.subsetRollout()
        fraud.metadata.name = "fraud"
        fraud.spec.routing.virtualService?.name = "fraud"
        fraud.spec.routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        for weight in [25, 50, 100, 0] {
            try await pair.route(fraud, stable: "fraud-v1", canary: "fraud-v2", split: TrafficSplit(canaryWeight: weight))
            try await pair.expectSameSpec(TrafficRouter.virtualServices(), "fraud", after: "\(weight)")
            outcomes += 1
        }
        let demo = try String(contentsOfFile: Repo.root + "/manifests/examples/local/rollout.yaml", encoding: .utf8)
        for document in demo.components(separatedBy: "\n---\n") where document.contains("networking.istio.io") {
            let plural = document.contains("kind: VirtualService") ? "virtualservices" : "destinationrules"
            let (local, upstream) = try await pair.postToBoth(path: "/apis/networking.istio.io/v1beta1/namespaces/sextant-demo/\(plural)",
                                                              body: Data(document.utf8), contentType: "application/yaml")
            #expect(local == upstream && local == 201, "the demo's \(plural): ours \(local), upstream \(upstream)")
            outcomes += 1
        }
        #expect(outcomes == 19)
        await pair.stop()
    }

    /// Valid and invalid VirtualServices, DestinationRules, HTTPRoutes and GRPCRoutes, generated
    /// from a valid base of each by changing one field Sextant reads or writes at a time (types,
    /// bounds, enums, required fields, patterns, list sizes). Both servers must agree on each.
    @Test func generatedRoutesAgree() async throws {
        let pair = try await CrossCheck.start()
        var disagreements: [String] = []
        var acceptedByBoth = 0, rejectedByBoth = 0
        for (index, testCase) in CrossCheck.generatedCases().enumerated() {
            var object = testCase.object
            object.set(path: ["metadata", "name"], to: .string("case-\(index)"))
            let (local, upstream) = try await pair.postToBoth(object)
            let ours = local == 201, theirs = upstream == 201
            if ours == theirs {
                if ours { acceptedByBoth += 1 } else { rejectedByBoth += 1 }
                continue
            }
            let what = theirs ? "upstream accepts, ours rejects" : "UPSTREAM REJECTS, OURS ACCEPTS"
            disagreements.append("\(testCase.name): \(what) (ours \(local), upstream \(upstream))")
        }
        #expect(disagreements.isEmpty, "hack/local-crds disagrees with the upstream CRDs:\n\(disagreements.joined(separator: "\n"))")
        // The generated set has both kinds in numbers (a generator that made only valid objects
        // would prove nothing).
        #expect(acceptedByBoth >= 30, "\(acceptedByBoth) accepted by both")
        #expect(rejectedByBoth >= 60, "\(rejectedByBoth) rejected by both")
        print("cross-check: \(acceptedByBoth) accepted and \(rejectedByBoth) rejected by both, \(disagreements.count) disagreements")
        await pair.stop()
    }
}

extension LocalCRDCrossCheckTests {
    /// `hack/local-crds/mpijobs.kubeflow.org.yaml` (what hack/run-local.sh applies) is the MPI
    /// Operator's own CRD unchanged, apart from its header comment.
    @Test func mpiJobCRDIsTheOperators() throws {
        func parsed(_ path: String) throws -> JSONValue { try JSONValue.parseYAML(try String(contentsOfFile: path, encoding: .utf8)) }
        let ours = try parsed(Repo.localCRDs + "/mpijobs.kubeflow.org.yaml")
        #expect(ours[path: ["spec", "group"]]?.stringValue == "kubeflow.org")
        #expect(ours == (try parsed(Repo.upstreamFixtures + "/mpi-operator/mpijobs.kubeflow.org.yaml")),
                "hack/local-crds/mpijobs.kubeflow.org.yaml is no longer the MPI Operator's CRD")
    }
}

/// Two development API servers, one with `hack/local-crds`, one with the upstream CRDs.
struct CrossCheck {
    static let upstreamFiles = [
        "istio/virtualservices.networking.istio.io.yaml", "istio/destinationrules.networking.istio.io.yaml",
        "gateway-api/httproutes.gateway.networking.k8s.io.yaml", "gateway-api/grpcroutes.gateway.networking.k8s.io.yaml",
        "mpi-operator/mpijobs.kubeflow.org.yaml",
    ]
    static var upstreamPresent: Bool {
        upstreamFiles.allSatisfy { FileManager.default.fileExists(atPath: Repo.upstreamFixtures + "/" + $0) }
    }

    let localServer: DevServer
    let upstreamServer: DevServer
    let local: KubeClient
    let upstream: KubeClient

    static func start() async throws -> CrossCheck {
        let localServer = try await DevServer.start(DevServerConfiguration(port: 0))
        let upstreamServer = try await DevServer.start(DevServerConfiguration(port: 0))
        let pair = CrossCheck(localServer: localServer, upstreamServer: upstreamServer,
                              local: KubeClient.forTests(localServer, namespace: RoutingCluster.namespace),
                              upstream: KubeClient.forTests(upstreamServer, namespace: RoutingCluster.namespace))
        do {
            let ours = try FileManager.default.contentsOfDirectory(atPath: Repo.localCRDs).filter { $0.hasSuffix(".yaml") }.sorted()
            #expect(ours.count == 5, "hack/local-crds: \(ours)")
            for file in ours { try await postCRD(pair.local, Repo.localCRDs + "/" + file) }
            for file in upstreamFiles { try await postCRD(pair.upstream, Repo.upstreamFixtures + "/" + file) }
            for client in [pair.local, pair.upstream] {
                for namespace in [RoutingCluster.namespace, "sextant-demo"] {
                    _ = try await client.send(method: "POST", path: "/api/v1/namespaces", body: try ([
                        "apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)],
                    ] as JSONValue).encoded(), contentType: "application/json")
                }
            }
        } catch {
            await pair.stop()
            throw error
        }
        return pair
    }

    static func postCRD(_ client: KubeClient, _ path: String) async throws {
        _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  body: try Data(contentsOf: URL(fileURLWithPath: path)), contentType: "application/yaml")
    }

    func stop() async {
        await localServer.stop()
        await upstreamServer.stop()
    }

    func createOnBoth(_ resource: ResourceDescriptor, _ object: JSONValue) async throws {
        for client in [local, upstream] {
            _ = try await client.send(method: "POST", path: resource.path(namespace: RoutingCluster.namespace),
                                      body: try object.encoded(), contentType: "application/json")
        }
    }

    /// POSTs `object` (namespace `ml-production`) to both; returns both HTTP statuses.
    func postToBoth(_ object: JSONValue) async throws -> (local: Int, upstream: Int) {
        let apiVersion = object["apiVersion"]?.stringValue ?? ""
        let plural = (object["kind"]?.stringValue ?? "").lowercased() + "s"
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? RoutingCluster.namespace
        return try await postToBoth(path: "/apis/\(apiVersion)/namespaces/\(namespace)/\(plural)", body: try object.encoded(),
                                    contentType: "application/json")
    }

    func postToBoth(path: String, body: Data, contentType: String) async throws -> (local: Int, upstream: Int) {
        var codes: [Int] = []
        for client in [local, upstream] {
            do {
                _ = try await client.send(method: "POST", path: path, body: body, contentType: contentType)
                codes.append(201)
            } catch let error as KubeError {
                codes.append(error.code)
            }
        }
        return (codes[0], codes[1])
    }

    /// Routes on both; the outcome (done, or the same error) must agree.
    func route(_ rollout: CanaryRollout, stable: String, canary: String?, split: TrafficSplit) async throws {
        var outcomes: [String] = []
        for client in [local, upstream] {
            do {
                let result = try await TrafficRouter(client: client).route(rollout, stableVersion: stable, canaryVersion: canary,
                                                                           split: split, manageSelectors: true)
                outcomes.append("routed \(result.observed.description)")
            } catch {
                outcomes.append("failed: \(error)")
            }
        }
        #expect(outcomes[0] == outcomes[1], "\(rollout.metadata.name ?? "") \(split): ours \(outcomes[0]); upstream \(outcomes[1])")
        #expect(outcomes[1].hasPrefix("routed"), "upstream: \(outcomes[1])")
    }

    func expectSameSpec(_ resource: ResourceDescriptor, _ name: String, after step: String) async throws {
        var specs: [JSONValue] = []
        for client in [local, upstream] {
            let object = try JSONValue.decode(try await client.send(
                method: "GET", path: resource.path(namespace: RoutingCluster.namespace, name: name)))
            specs.append(object["spec"] ?? .null)
        }
        let same = specs[0] == specs[1]
        #expect(same, "\(resource.kind) \(name) after \(step): ours \(specs[0].jsonString()); upstream \(specs[1].jsonString())")
    }

    // MARK: The generated set

    struct Case {
        var name: String
        var object: JSONValue
    }

    static let virtualService: JSONValue = [
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": ["name": "base", "namespace": "ml-production"],
        "spec": [
            "hosts": ["fraud"], "gateways": ["mesh"],
            "http": [[
                "name": "primary",
                "match": [["uri": ["prefix": "/v2"], "headers": ["x-canary": ["exact": "yes"]], "port": 8080]],
                "route": [
                    ["destination": ["host": "fraud", "subset": "stable", "port": ["number": 8080]], "weight": 90],
                    ["destination": ["host": "fraud", "subset": "canary"], "weight": 10],
                ],
                "mirror": ["host": "fraud", "subset": "canary"],
                "mirrorPercentage": ["value": 12.5],
            ]],
        ],
    ]

    static let destinationRule: JSONValue = [
        "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
        "metadata": ["name": "base", "namespace": "ml-production"],
        "spec": ["host": "fraud", "subsets": [
            ["name": "stable", "labels": ["app": "fraud", "mlops.sextant.dev/model-version": "fraud-v1"]],
            ["name": "canary", "labels": ["app": "fraud"]],
        ]],
    ]

    static let httpRoute: JSONValue = [
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": ["name": "base", "namespace": "ml-production"],
        "spec": [
            "parentRefs": [["name": "gateway", "namespace": "infra", "sectionName": "http", "port": 80]],
            "hostnames": ["fraud.example.com"],
            "rules": [[
                "name": "primary",
                "matches": [["path": ["type": "PathPrefix", "value": "/v2"],
                             "headers": [["name": "x-canary", "value": "yes"]], "method": "POST"]],
                "backendRefs": [["name": "fraud-stable", "port": 8080, "weight": 90],
                                ["name": "fraud-canary", "port": 8080, "weight": 10]],
                "filters": [["type": "RequestMirror",
                             "requestMirror": ["backendRef": ["name": "fraud-canary", "port": 8080], "percent": 20]]],
            ]],
        ],
    ]

    static let grpcRoute: JSONValue = [
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
        "metadata": ["name": "base", "namespace": "ml-production"],
        "spec": [
            "parentRefs": [["name": "gateway"]],
            "hostnames": ["fraud.example.com"],
            "rules": [[
                "matches": [["method": ["service": "inference.GRPCInferenceService", "method": "ModelInfer"],
                             "headers": [["name": "x-canary", "value": "yes"]]]],
                "backendRefs": [["name": "fraud-stable", "port": 8081, "weight": 90],
                                ["name": "fraud-canary", "port": 8081, "weight": 10]],
                "filters": [["type": "RequestMirror",
                             "requestMirror": ["backendRef": ["name": "fraud-canary", "port": 8081], "percent": 20]]],
            ]],
        ],
    ]

    /// One change to a base: set a value at a JSON pointer, or remove it (`remove`).
    typealias Change = (String, JSONValue)
    static let remove: JSONValue = ["(remove)": true]

    static func generatedCases() -> [Case] {
        var cases: [Case] = []
        func add(_ base: JSONValue, _ label: String, _ changes: [Change]) {
            for (pointer, value) in changes {
                let op: JSONValue = value == remove ? ["op": "remove", "path": .string(pointer)]
                    : ["op": "add", "path": .string(pointer), "value": value]
                guard let object = try? base.applyingJSONPatch([op]) else {
                    Issue.record("generator: \(label) \(pointer) does not apply")
                    continue
                }
                cases.append(Case(name: "\(label) \(pointer) = \(value == remove ? "(removed)" : value.jsonString())", object: object))
            }
        }
        let anyValues: [JSONValue] = ["text", 7, -1, 2.5, true, ["a"], ["k": "v"], .null]

        // VirtualService, as v1beta1 (what Sextant writes) and v1.
        for version in ["v1beta1", "v1"] {
            var vs = virtualService
            vs.set(path: ["apiVersion"], to: .string("networking.istio.io/\(version)"))
            let label = "VirtualService \(version)"
            cases.append(Case(name: "\(label) base", object: vs))
            let route = "/spec/http/0/route/0"
            var changes: [Change] = []
            for value: JSONValue in [0, 1, 100, 2_147_483_647, 2_147_483_648, -1, -2_147_483_649, "50", 50.5, true, .null, ["n": 1]] {
                changes.append(("\(route)/weight", value))
            }
            for pointer in ["/spec/hosts", "/spec/gateways", "/spec/exportTo"] {
                for value: JSONValue in [["a", "b"], "a", [1], ["k": "v"]] { changes.append((pointer, value)) }
            }
            for value in anyValues { changes.append(("/spec/http/0/name", value)) }
            for value in anyValues { changes.append(("\(route)/destination/host", value)) }
            for value in anyValues { changes.append(("\(route)/destination/subset", value)) }
            changes += [("\(route)/destination/host", remove), ("\(route)/destination", remove), (route + "/destination", "fraud"),
                        ("/spec/http/0/route", "fraud"), ("/spec/http/0/route", [["weight": 100]]), ("/spec/http", ["x": 1]),
                        ("/spec/http/0", "primary")] as [Change]
            for value: JSONValue in [0, 8080, 4_294_967_295, 4_294_967_296, -1, "8080", 80.5] {
                changes += [("\(route)/destination/port/number", value), ("/spec/http/0/match/0/port", value)] as [Change]
            }
            changes += [("\(route)/destination/port", 8080)] as [Change]
            for value: JSONValue in [0, 50, 100, 12.5, "50", -1, .null, true] {
                changes.append(("/spec/http/0/mirrorPercentage/value", value))
            }
            changes += [("/spec/http/0/mirrorPercentage", 50), ("/spec/http/0/mirror", "fraud"), ("/spec/http/0/mirror/host", remove),
                        ("/spec/http/0/mirror/host", 5), ("/spec/http/0/mirror/port", ["number": "x"]),
                        ("/spec/http/0/mirrors", [["destination": ["host": "shadow"], "percentage": ["value": 5]]]),
                        ("/spec/http/0/mirrors", [["percentage": ["value": 5]]]),
                        ("/spec/http/0/mirrors", [["destination": ["subset": "x"]]]),
                        ("/spec/http/0/mirrors", [["destination": ["host": "shadow"], "percentage": ["value": "5"]]])] as [Change]
            let match = "/spec/http/0/match/0"
            for matcher in ["\(match)/uri", "\(match)/headers/x-canary"] {
                let values: [JSONValue] = [["exact": "a"], ["prefix": "a"], ["regex": "^a"], [:], ["exact": "a", "prefix": "b"],
                                           ["exact": "a", "regex": "b", "prefix": "c"], ["exact": 5], "a", ["regex": ["x"]]]
                for value in values { changes.append((matcher, value)) }
            }
            changes += [("\(match)/headers", ["cookie": ["regex": "^(.*?;\\s*)?(canary=always)(;.*)?$"]]), ("\(match)/headers", "x"),
                        ("/spec/http/0/match", ["uri": ["prefix": "/"]]), ("/spec/http/0/match/-", "x")] as [Change]
            changes += [("/spec/tls", [["match": [["sniHosts": ["a"]]], "route": [["destination": ["host": "a"]]]]]), ("/spec/tls", "x"),
                        ("/spec/tcp", [["route": [["destination": ["host": "a"]]]]]), ("/spec/tcp", ["x": 1])] as [Change]
            changes += [("/spec", "x"), ("/spec", [:]), ("/spec", remove)] as [Change]
            add(vs, label, changes)
        }

        // DestinationRule.
        var changes: [Change] = []
        for value in anyValues { changes.append(("/spec/host", value)) }
        changes += [("/spec/host", remove), ("/spec/subsets/0/name", remove), ("/spec/subsets", "x"), ("/spec/subsets", [["labels": ["a": "b"]]]),
                    ("/spec/subsets/-", ["name": "shadow"]), ("/spec/subsets/0", "stable")] as [Change]
        for value in anyValues { changes.append(("/spec/subsets/0/name", value)) }
        for value: JSONValue in [["a": "b"], ["a": 1], ["a": true], ["a": ["b"]], "a=b", ["a", "b"], [:]] {
            changes.append(("/spec/subsets/0/labels", value))
        }
        for value: JSONValue in [["connectionPool": ["http": ["http2MaxRequests": 100]]], "x", ["loadBalancer": ["simple": "ROUND_ROBIN"]]] {
            changes += [("/spec/trafficPolicy", value), ("/spec/subsets/1/trafficPolicy", value)] as [Change]
        }
        changes += [("/spec/exportTo", ["."]), ("/spec/exportTo", "."), ("/spec/workloadSelector", ["matchLabels": ["app": "a"]]),
                    ("/spec/workloadSelector", ["matchLabels": ["app": 1]]), ("/spec", remove), ("/spec", "x")] as [Change]
        cases.append(Case(name: "DestinationRule base", object: destinationRule))
        add(destinationRule, "DestinationRule", changes)

        // HTTPRoute (v1 and v1beta1) and GRPCRoute: the fields a Gateway API router writes.
        for (base, label) in [(httpRoute, "HTTPRoute v1"), (httpRoute, "HTTPRoute v1beta1"), (grpcRoute, "GRPCRoute v1")] {
            var object = base
            if label.hasSuffix("v1beta1") { object.set(path: ["apiVersion"], to: "gateway.networking.k8s.io/v1beta1") }
            cases.append(Case(name: "\(label) base", object: object))
            let rule = "/spec/rules/0"
            var changes: [Change] = []
            for value: JSONValue in [0, 1, 50, 1_000_000, 1_000_001, -1, 2_147_483_648, "50", 2.5, true, .null] {
                changes.append(("\(rule)/backendRefs/0/weight", value))
            }
            changes += [("\(rule)/backendRefs/0/weight", remove), ("\(rule)/backendRefs/0/name", remove), ("\(rule)/backendRefs/0/name", ""),
                        ("\(rule)/backendRefs/0/name", String(repeating: "a", count: 254).asJSON),
                        ("\(rule)/backendRefs/0/name", 5), ("\(rule)/backendRefs", "x"),
                        ("\(rule)/backendRefs", .array(Array(repeating: ["name": "b", "port": 80], count: 16))),
                        ("\(rule)/backendRefs", .array(Array(repeating: ["name": "b", "port": 80], count: 17)))] as [Change]
            for value: JSONValue in [1, 65535, 0, 65536, "80", -1] {
                changes += [("\(rule)/backendRefs/0/port", value), ("/spec/parentRefs/0/port", value)] as [Change]
            }
            for value: JSONValue in ["", "Service", "service-import", "1Service", "Ser vice", 5] {
                changes += [("\(rule)/backendRefs/0/kind", value), ("/spec/parentRefs/0/kind", value)] as [Change]
            }
            for value: JSONValue in ["", "core", "networking.istio.io", "Bad_Group", "-a"] {
                changes += [("\(rule)/backendRefs/0/group", value), ("/spec/parentRefs/0/group", value)] as [Change]
            }
            for value: JSONValue in ["ml-production", "", "ML", "a.b", String(repeating: "a", count: 64).asJSON] {
                changes += [("\(rule)/backendRefs/0/namespace", value), ("/spec/parentRefs/0/namespace", value)] as [Change]
            }
            for value: JSONValue in ["http", "http.v2", "HTTP", "", "-http"] {
                changes += [("/spec/parentRefs/0/sectionName", value), ("\(rule)/name", value)] as [Change]
            }
            changes += [("/spec/parentRefs/0/name", remove), ("/spec/parentRefs", .array(Array(repeating: ["name": "g"], count: 33))),
                        ("/spec/parentRefs", "gateway")] as [Change]
            for value: JSONValue in ["a.example.com", "*.example.com", "Example.com", "", "a..b", "*", 5] {
                changes.append(("/spec/hostnames/0", value))
            }
            changes += [("/spec/hostnames", .array(Array(repeating: "a.example.com", count: 17))),
                        ("/spec/rules", .array(Array(repeating: ["backendRefs": [["name": "b", "port": 80]]], count: 17))),
                        ("/spec/rules", []), ("/spec/rules", "x"), ("/spec", remove)] as [Change]
            let header = "\(rule)/matches/0/headers/0"
            for value: JSONValue in ["x-canary", "X_Canary", "bad header", "", "x:y"] { changes.append(("\(header)/name", value)) }
            for value: JSONValue in ["Exact", "RegularExpression", "Prefix", "exact"] { changes.append(("\(header)/type", value)) }
            changes += [("\(header)/value", ""), ("\(header)/value", remove), ("\(header)/name", remove),
                        ("\(header)/value", String(repeating: "v", count: 4097).asJSON)] as [Change]
            changes += [("\(rule)/filters/0/type", "Unknown"), ("\(rule)/filters/0/type", remove),
                        ("\(rule)/filters/-", ["type": "RequestHeaderModifier", "requestHeaderModifier": ["set": [["name": "x", "value": "y"]]]]),
                        ("\(rule)/filters", .array(Array(repeating: ["type": "RequestMirror", "requestMirror": ["backendRef": ["name": "m"]]], count: 17)))] as [Change]
            let filter = "\(rule)/filters/0/requestMirror"
            for value: JSONValue in [0, 100, 101, -1, "50"] { changes.append(("\(filter)/percent", value)) }
            for value: JSONValue in [["numerator": 1], ["numerator": 1, "denominator": 1000], ["numerator": -1],
                                     ["denominator": 10], ["numerator": 1, "denominator": 0], ["numerator": "1"]] {
                changes.append(("\(filter)/fraction", value))
            }
            changes += [("\(filter)/backendRef", remove), ("\(filter)/backendRef/name", remove), ("\(filter)/backendRef/port", 0),
                        ("\(filter)/backendRef/kind", "bad kind"), ("\(filter)", remove), ("\(filter)", "fraud-canary")] as [Change]
            if label.hasPrefix("HTTPRoute") {
                let match = "\(rule)/matches/0"
                for value: JSONValue in ["Exact", "PathPrefix", "RegularExpression", "Prefix", 5] { changes.append(("\(match)/path/type", value)) }
                changes += [("\(match)/path/value", String(repeating: "a", count: 1025).asJSON), ("\(match)/path/value", 5),
                            ("\(match)/method", "GET"), ("\(match)/method", "get"), ("\(match)/method", "FETCH"),
                            ("\(match)/queryParams", [["name": "v", "value": "2"]]), ("\(match)/queryParams", [["name": "v"]]),
                            ("\(match)/queryParams", [["name": "v", "value": String(repeating: "q", count: 1025).asJSON]]),
                            ("\(rule)/timeouts", ["request": "10s", "backendRequest": "1m30s"]), ("\(rule)/timeouts", ["request": "10"]),
                            ("\(rule)/timeouts", ["request": "1.5s"]), ("\(rule)/matches", []), ("\(rule)/matches", remove)] as [Change]
            } else {
                let method = "\(rule)/matches/0/method"
                for value: JSONValue in ["Exact", "RegularExpression", "Prefix"] { changes.append(("\(method)/type", value)) }
                changes += [("\(method)/service", String(repeating: "s", count: 1025).asJSON), ("\(method)/method", 5),
                            ("\(rule)/filters/0/type", "URLRewrite"), ("\(rule)/filters/0/type", "CORS")] as [Change]
            }
            add(object, label, changes)
        }
        return cases
    }
}

private extension String {
    var asJSON: JSONValue { .string(self) }
}
