import Foundation
import SextantJSON
import SextantTestSupport
import Testing
@testable import SextantLocalNode

/// The data plane's translation: VirtualService + DestinationRule + Pods → HAProxy plan and
/// configuration, checked by HAProxy itself (`haproxy -c`).
@Suite struct MeshTranslationTests {
    static let annotation = LocalNode.endpointAnnotation

    static func pod(_ name: String, labels: [String: String], port: Int, ready: Bool = true,
                    namespace: String = "ml", deleting: Bool = false) -> JSONValue {
        var metadata: [String: JSONValue] = [
            "name": .string(name), "namespace": .string(namespace),
            "labels": .object(labels.mapValues { .string($0) }),
            "annotations": [annotation: .string("127.0.0.1:\(port)")],
        ]
        if deleting { metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z" }
        return ["metadata": .object(metadata),
                "status": ["phase": "Running", "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]]
    }

    static let rule: JSONValue = [
        "metadata": ["name": "fraud", "namespace": "ml"],
        "spec": ["host": "fraud.ml.svc.cluster.local",
                 "subsets": [["name": "stable", "labels": ["app": "fraud", "v": "1"]],
                             ["name": "canary", "labels": ["app": "fraud", "v": "2"]]]],
    ]

    static func virtualService(canary: Int64, extraRoutes: [JSONValue] = [], primary: [String: JSONValue] = [:]) -> JSONValue {
        var route: [String: JSONValue] = [
            "name": "primary",
            "route": [["destination": ["host": "fraud", "subset": "stable"], "weight": .int(100 - canary)],
                      ["destination": ["host": "fraud", "subset": "canary"], "weight": .int(canary)]],
        ]
        for (k, v) in primary { route[k] = v }
        return ["metadata": ["name": "fraud", "namespace": "ml"],
                "spec": ["hosts": ["fraud"], "http": .array(extraRoutes + [.object(route)])]]
    }

    static var pods: [JSONValue] {
        [pod("stable-a", labels: ["app": "fraud", "v": "1"], port: 1001),
         pod("canary-a", labels: ["app": "fraud", "v": "2"], port: 2001),
         pod("canary-unready", labels: ["app": "fraud", "v": "2"], port: 2002, ready: false),
         pod("canary-leaving", labels: ["app": "fraud", "v": "2"], port: 2003, deleting: true),
         pod("other-ns", labels: ["app": "fraud", "v": "2"], port: 3001, namespace: "elsewhere")]
    }

    static func plan(_ vs: JSONValue, pods: [JSONValue] = pods) throws -> MeshPlan {
        try MeshTranslator.plan(virtualService: vs, destinationRules: [rule], services: [], pods: pods,
                                endpointAnnotation: annotation)
    }

    @Test func subsetsResolveThroughTheDestinationRuleToReadyPods() throws {
        let plan = try Self.plan(Self.virtualService(canary: 10))
        #expect(plan.routes.count == 1)
        let route = try #require(plan.routes.first)
        #expect(route.backend == "vs:ml:fraud:0")
        #expect(route.matchBlocks.isEmpty)
        #expect(route.servers == [MeshServer(name: "d0-stable-a", address: "127.0.0.1:1001", weight: 90, destination: 0),
                                  MeshServer(name: "d1-canary-a", address: "127.0.0.1:2001", weight: 10, destination: 1)])
        #expect(plan.gaps.isEmpty)
    }

    @Test func weightsAreSplitOverEachDestinationsPods() {
        // 50 over 3 Pods and 50 over 2: each destination keeps half of the traffic.
        let w = MeshTranslator.serverWeights([(50, 3), (50, 2)])
        #expect(w == [100, 150])
        #expect(3 * w[0] == 2 * w[1])
        // Too large for HAProxy's 256: scaled, shares within 1 %.
        let s = MeshTranslator.serverWeights([(97, 7), (3, 11)])
        #expect(s.allSatisfy { (0...256).contains($0) })
        let share = Double(11 * s[1]) / Double(7 * s[0] + 11 * s[1])
        #expect(abs(share - 0.03) < 0.01)
        // No Pods or weight 0: the server weight is 0 (kept, so a runtime change can raise it).
        #expect(MeshTranslator.serverWeights([(100, 1), (0, 1)]) == [100, 0])
        #expect(MeshTranslator.serverWeights([(60, 0), (40, 2)]) == [0, 40])
    }

    @Test func weightOnlyChangesBecomeRuntimeCommands() throws {
        let before = try Self.plan(Self.virtualService(canary: 10))
        let after = try Self.plan(Self.virtualService(canary: 40))
        #expect(after.sameShape(as: before))
        #expect(after.weightCommands(from: before) == ["set weight vs:ml:fraud:0/d0-stable-a 60",
                                                      "set weight vs:ml:fraud:0/d1-canary-a 40"])
        // A new ready Pod changes the shape: a reload, not a weight command.
        let more = try Self.plan(Self.virtualService(canary: 40),
                                 pods: Self.pods + [Self.pod("canary-b", labels: ["app": "fraud", "v": "2"], port: 2004)])
        #expect(!more.sameShape(as: after))
    }

    @Test func headerAndCookieMatchesBecomeACLs() throws {
        let ab: JSONValue = [
            "name": "sextant-ab-fraud",
            "match": [["uri": ["prefix": "/v2"], "headers": ["x-user-group": ["exact": "internal"]]],
                      ["uri": ["prefix": "/v2"],
                       "headers": ["cookie": ["regex": "^(.*?;\\s*)?(exp=it's)(;.*)?$"]]]],
            "route": [["destination": ["host": "fraud", "subset": "canary"], "weight": 100]],
        ]
        let plan = try Self.plan(Self.virtualService(canary: 0, extraRoutes: [ab]))
        #expect(plan.routes.count == 2)
        #expect(plan.routes[0].matchBlocks == [
            ["{ path -m beg '/v2' }", "{ req.fhdr(x-user-group) -m str 'internal' }"],
            ["{ path -m beg '/v2' }", "{ req.fhdr(cookie) -m reg '^(?:^(.*?;\\s*)?(exp=it'\\''s)(;.*)?$)$' }"],
        ])
        #expect(plan.routes[0].servers.map(\.weight) == [100])
        #expect(plan.routes[1].matchBlocks.isEmpty)
    }

    @Test func unsupportedFieldsNameTheFieldAndMirrorsAreGaps() throws {
        #expect(throws: MeshTranslationError(field: "spec.http[0].rewrite", message: "not supported by the local data plane")) {
            try Self.plan(Self.virtualService(canary: 10, primary: ["rewrite": ["uri": "/"]]))
        }
        let sourceLabels: JSONValue = [["sourceLabels": ["app": "x"]]]
        #expect(throws: MeshTranslationError(field: "spec.http[0].match[0].sourceLabels",
                                             message: "not supported by the local data plane")) {
            try Self.plan(Self.virtualService(canary: 10, primary: ["match": sourceLabels]))
        }
        var missingSubset = Self.virtualService(canary: 10)
        missingSubset["spec"]?["http"] = [["route": [["destination": ["host": "fraud", "subset": "blue"]]]]]
        #expect(throws: MeshTranslationError(field: "spec.http[0].route[0].destination.subset",
                                             message: "DestinationRule fraud has no subset blue")) {
            try Self.plan(missingSubset)
        }
        let shadow = try Self.plan(Self.virtualService(canary: 0, primary: [
            "mirror": ["host": "fraud", "subset": "canary"], "mirrorPercentage": ["value": 20]]))
        #expect(shadow.gaps == ["spec.http[0].mirror", "spec.http[0].mirrorPercentage"])
        #expect(shadow.routes[0].servers.map(\.weight) == [100, 0])
    }

    /// A destination's `headers.response` (session affinity's Set-Cookie) applies to its servers;
    /// what HAProxy cannot express names the field instead of being dropped.
    @Test func destinationResponseHeadersApplyToThatDestination() throws {
        func withHeaders(_ headers: JSONValue) throws -> JSONValue {
            try Self.virtualService(canary: 20).applyingJSONPatch([["op": "add", "path": "/spec/http/0/route/1/headers", "value": headers]])
        }
        let plan = try Self.plan(try withHeaders([
            "response": ["add": ["Set-Cookie": "fraud-canary=sextant_fraud_v2; Max-Age=600"]],
            "request": ["set": ["x-a": "1"]],
        ]))
        #expect(plan.routes[0].responseHeaders == [
            MeshResponseHeader(destination: 1, action: .add, name: "Set-Cookie", value: "fraud-canary=sextant_fraud_v2; Max-Age=600"),
        ])
        #expect(plan.gaps == ["spec.http[0].route[1].headers.request"])
        let without = try Self.plan(Self.virtualService(canary: 20))
        #expect(!plan.sameShape(as: without), "a header change must reload HAProxy, not only set weights")
        let badValue = try withHeaders(["response": ["add": ["Set-Cookie": 1]]])
        #expect(throws: MeshTranslationError(field: "spec.http[0].route[1].headers.response.add.Set-Cookie", message: "expected a string")) {
            try Self.plan(badValue)
        }
        let unknown = try withHeaders(["response": ["append": ["a": "b"]]])
        #expect(throws: MeshTranslationError.self) { try Self.plan(unknown) }
    }

    @Test func hostLevelDestinationsUseTheServiceSelector() throws {
        let vs: JSONValue = ["metadata": ["name": "churn", "namespace": "ml"],
                             "spec": ["http": [["route": [["destination": ["host": "churn-stable"], "weight": 70],
                                                          ["destination": ["host": "churn-canary.ml.svc"], "weight": 30]]]]]]
        let services: [JSONValue] = [
            ["metadata": ["name": "churn-stable", "namespace": "ml"], "spec": ["selector": ["app": "churn", "v": "1"]]],
            ["metadata": ["name": "churn-canary", "namespace": "ml"], "spec": ["selector": ["app": "churn", "v": "2"]]],
        ]
        let pods = [Self.pod("s", labels: ["app": "churn", "v": "1"], port: 1), Self.pod("c", labels: ["app": "churn", "v": "2"], port: 2)]
        let plan = try MeshTranslator.plan(virtualService: vs, destinationRules: [], services: services, pods: pods,
                                           endpointAnnotation: Self.annotation)
        #expect(plan.routes[0].servers.map(\.address) == ["127.0.0.1:1", "127.0.0.1:2"])
        #expect(plan.routes[0].servers.map(\.weight) == [70, 30])
        #expect(throws: MeshTranslationError.self) {
            try MeshTranslator.plan(virtualService: vs, destinationRules: [], services: [], pods: pods,
                                    endpointAnnotation: Self.annotation)
        }
    }

    /// The rendered configuration, A/B regex with a quote included, is what HAProxy 2.6 accepts.
    @Test func haproxyAcceptsTheRenderedConfiguration() throws {
        guard let haproxy = LocalNodeOptions.installedHAProxy ?? Tooling.find("haproxy") else {
            throw TestSetupError("haproxy is required (Debian package haproxy, hack/apt-packages.txt)")
        }
        let ab: JSONValue = [
            "match": [["headers": ["cookie": ["regex": "^(.*?;\\s*)?(exp=it's)(;.*)?$"]], "method": ["exact": "POST"]],
                      ["queryParams": ["group": ["prefix": "in"]], "uri": ["regex": "/v2/.*"], "ignoreUriCase": true]],
            "route": [["destination": ["host": "fraud", "subset": "canary"]]],
        ]
        var plan = try Self.plan(Self.virtualService(canary: 25, extraRoutes: [ab]))
        // Session affinity's cookie on the canary destination (docs/routing.md#session-affinity).
        plan.routes[1].responseHeaders = [
            MeshResponseHeader(destination: 1, action: .add, name: "Set-Cookie", value: "fraud-canary=sextant_fraud_v2; Max-Age=600"),
            MeshResponseHeader(destination: 0, action: .remove, name: "x-debug", value: ""),
        ]
        let work = try TemporaryDirectory()
        let text = HAProxyConfig.render(plans: [plan], listen: ["ml/fraud": "127.0.0.1:18080"], socket: work.file("s.sock"))
        #expect(text.contains("use_backend vs:ml:fraud:0 if { method -m str 'POST' } { req.fhdr(cookie) -m reg"))
        #expect(text.contains(" || { path -i -m reg '^(?:/v2/.*)$' } { url_param(group) -m beg 'in' }"))
        #expect(text.contains("use_backend vs:ml:fraud:1\n"))
        #expect(text.contains("server d1-canary-a 127.0.0.1:2001 weight 25"))
        #expect(text.contains("    http-response add-header Set-Cookie 'fraud-canary=sextant_fraud_v2; Max-Age=600' if { srv_name -m beg d1- }\n"))
        #expect(text.contains("    http-response del-header x-debug if { srv_name -m beg d0- }\n"))
        try Data(text.utf8).write(to: URL(fileURLWithPath: work.file("h.cfg")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: haproxy)
        p.arguments = ["-c", "-f", work.file("h.cfg")]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "haproxy -c: \(output)\n\(text)")
    }
}
