import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// Divergences from kube-apiserver found by driving the server as kubectl and the Python client do
/// (issue 15's own conformance tests); each failed before its fix.
struct ClientConventionTests {
    static let ns = "/api/v1/namespaces/default"

    func names(_ h: DevAPIHandler, _ target: String) async -> [String] {
        await call(h, "GET", target).json?["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } ?? []
    }

    func selector(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "."))) ?? text
    }

    /// Field labels are per resource (`pkg/apis/core/v1/conversion.go`): Pods select on
    /// `spec.restartPolicy`, `spec.hostNetwork` (unset is "false"), Services on `spec.type`,
    /// Jobs on `status.successful` (unset is "0"); a label another kind has is a 400 here.
    @Test func fieldSelectorsAreThoseOfEachResource() async throws {
        let h = newHandler()
        let pod: (String, String) -> JSONValue = { name, policy in
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)],
             "spec": ["restartPolicy": .string(policy), "containers": [["name": "c", "image": "x"]]]]
        }
        #expect(await call(h, "POST", Self.ns + "/pods", pod("once", "Never")).status == 201)
        #expect(await call(h, "POST", Self.ns + "/pods", pod("always", "Always")).status == 201)
        #expect(await names(h, Self.ns + "/pods?fieldSelector=" + selector("spec.restartPolicy=Never")) == ["once"])
        #expect(await names(h, Self.ns + "/pods?fieldSelector=" + selector("spec.hostNetwork=false")) == ["always", "once"])
        #expect(await names(h, Self.ns + "/pods?fieldSelector=" + selector("status.phase=Pending,metadata.name!=once")) == ["always"])
        #expect(await call(h, "POST", Self.ns + "/services", ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "s"],
                                                              "spec": ["ports": [["port": 80]]]]).status == 201)
        #expect(await names(h, Self.ns + "/services?fieldSelector=" + selector("spec.type=ClusterIP")) == ["s"])
        #expect(await call(h, "POST", "/apis/batch/v1/namespaces/default/jobs", ["apiVersion": "batch/v1", "kind": "Job",
                                                                                 "metadata": ["name": "j"], "spec": [:]]).status == 201)
        #expect(await names(h, "/apis/batch/v1/namespaces/default/jobs?fieldSelector=" + selector("status.successful=0")) == ["j"])
        #expect(await names(h, "/api/v1/namespaces?fieldSelector=" + selector("status.phase=Active")).contains("default"))
        for (target, label) in [(Self.ns + "/configmaps", "status.phase=Running"), (Self.ns + "/secrets", "spec.nodeName=n"),
                                (Self.ns + "/pods", "type=Opaque"), ("/api/v1/namespaces", "metadata.namespace=x")] {
            let refused = await call(h, "GET", target + "?fieldSelector=" + selector(label))
            #expect(refused.status == 400, "\(target) \(label): \(refused.status)")
            let name = String(label.prefix { $0 != "=" && $0 != "!" })
            #expect(refused.json?["message"]?.stringValue == "field label not supported: \(name)")
        }
    }

    /// A CRD version's `selectableFields` are field labels of its custom resources (Kubernetes 1.32).
    @Test func customResourcesSelectOnTheirSelectableFields() async throws {
        let h = newHandler()
        var crd = widgetCRD
        crd.set(path: ["spec", "versions"], to: .array((widgetCRD[path: ["spec", "versions"]]?.arrayValue ?? []).map { version in
            var version = version
            version["selectableFields"] = [["jsonPath": ".spec.color"]]
            return version
        }))
        #expect(await call(h, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201)
        #expect(await call(h, "POST", widgets, widget("r", spec: ["size": 1, "color": "red"])).status == 201)
        #expect(await call(h, "POST", widgets, widget("b", spec: ["size": 1, "color": "blue"])).status == 201)
        #expect(await names(h, widgets + "?fieldSelector=" + selector("spec.color=blue")) == ["b"])
        #expect(await call(h, "GET", widgets + "?fieldSelector=" + selector("spec.size=1")).status == 400)
    }

    /// `stringData` of a Secret is write-only: written into `data` as base64 (over the same key),
    /// on create and on update, and never stored.
    @Test func secretStringDataIsWrittenIntoData() async throws {
        let h = newHandler()
        let created = try #require(await call(h, "POST", Self.ns + "/secrets", [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"],
            "data": ["pw": "cGFzcw==", "user": "b2xk"], "stringData": ["user": "admin"]]).json)
        #expect(created["stringData"] == nil)
        #expect(created["data"] == ["pw": "cGFzcw==", "user": "YWRtaW4="])
        #expect(created["type"] == "Opaque")
        let patched = try #require(await call(h, "PATCH", Self.ns + "/secrets/s", ["stringData": ["token": "t"]],
                                              contentType: "application/merge-patch+json").json)
        #expect(patched["stringData"] == nil)
        #expect(patched[path: ["data", "token"]] == "dA==")
        let stored = try #require(await call(h, "GET", Self.ns + "/secrets/s").json)
        #expect(stored["stringData"] == nil && stored[path: ["data", "user"]] == "YWRtaW4=")
    }

    /// An update of a Service that leaves out the allocated cluster IP keeps it (the registry's
    /// `patchAllocatedValues`): `kubectl replace -f` of the original manifest, or a PUT from a
    /// client that never read the object, does not lose the address.
    @Test func serviceUpdatesKeepTheAllocatedClusterIP() async throws {
        let h = newHandler()
        let manifest: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"],
                                   "spec": ["type": "NodePort", "ports": [["port": 80, "nodePort": 30080]]]]
        let created = try #require(await call(h, "POST", Self.ns + "/services", manifest).json)
        let ip = try #require(created[path: ["spec", "clusterIP"]]?.stringValue)
        var replacement = manifest
        replacement.set(path: ["spec", "ports"], to: [["port": 80], ["port": 81, "name": "b"]])
        let updated = try #require(await call(h, "PUT", Self.ns + "/services/web", replacement).json)
        #expect(updated[path: ["spec", "clusterIP"]]?.stringValue == ip)
        #expect(updated[path: ["spec", "clusterIPs"]] == [.string(ip)])
        #expect(updated[path: ["spec", "ports"]]?[0]?["nodePort"] == 30080, "the node port of port 80 is kept")
        #expect(updated[path: ["spec", "ports"]]?[1]?["protocol"] == "TCP", "defaults apply on update too")
        #expect(updated[path: ["status", "loadBalancer"]] == [:])
    }

    /// Watch-list (`sendInitialEvents=true`, what client-go's informers send with the
    /// WatchListClient feature): the current state as ADDED events, then a BOOKMARK annotated
    /// `k8s.io/initial-events-end: "true"` at the state's resourceVersion, then live events;
    /// `sendInitialEvents=false` starts from the resourceVersion with no synthetic events; the
    /// option without `resourceVersionMatch=NotOlderThan` and `allowWatchBookmarks=true` is a 422.
    @Test func watchListSendsTheStateThenAnInitialEventsEndBookmark() async throws {
        let h = newHandler()
        _ = await call(h, "POST", cmPath, configMap("a"))
        let last = try #require(await call(h, "POST", cmPath, configMap("b")).json?[path: ["metadata", "resourceVersion"]])
        let query = "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        for rv in ["", "&resourceVersion=0", "&resourceVersion=1"] {
            let watch = await call(h, "GET", cmPath + query + rv)
            #expect(watch.status == 200)
            let seen = await events(watch, count: 3)
            #expect(summary(seen) == ["ADDED a", "ADDED b", "BOOKMARK -"], "\(rv)")
            #expect(seen.last?[path: ["object", "metadata", "annotations", "k8s.io/initial-events-end"]] == "true")
            #expect(seen.last?[path: ["object", "metadata", "resourceVersion"]] == last)
        }
        let live = await call(h, "GET", cmPath + "?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan"
                              + "&allowWatchBookmarks=true&resourceVersion=\(last.stringValue ?? "")")
        _ = await call(h, "POST", cmPath, configMap("c"))
        #expect(summary(await events(live, count: 1)) == ["ADDED c"])
        let noMatch = await call(h, "GET", cmPath + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true")
        #expect(noMatch.status == 422)
        #expect(noMatch.json?["message"]?.stringValue?.contains("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan") == true)
        let noBookmarks = await call(h, "GET", cmPath + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
        #expect(noBookmarks.status == 422)
    }

    /// `apiregistration.k8s.io/v1` APIServices are served (stored, nothing aggregated): the
    /// official Python client's e2e suite (`test_create_apiservice_from_yaml_with_conflict`)
    /// creates one and expects the second create to fail with exactly this Status body.
    @Test func apiServicesAreStoredAndConflictLikeKubeApiserver() async throws {
        let h = newHandler()
        let path = "/apis/apiregistration.k8s.io/v1/apiservices"
        let service: JSONValue = ["apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                                  "metadata": ["name": "v1alpha1.wardle.k8s.io"],
                                  "spec": ["group": "wardle.k8s.io", "version": "v1alpha1", "groupPriorityMinimum": 1000,
                                           "versionPriority": 15, "service": ["name": "api", "namespace": "wardle"]]]
        #expect(await call(h, "POST", path, service).status == 201)
        let read = try #require(await call(h, "GET", path + "/v1alpha1.wardle.k8s.io").json)
        #expect(read[path: ["spec", "group"]] == "wardle.k8s.io")
        let again = await call(h, "POST", path, service)
        #expect(again.status == 409)
        guard case .bytes(let body) = again.body else { Issue.record("no body"); return }
        #expect(String(decoding: body, as: UTF8.self) == #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","#
            + #""message":"apiservices.apiregistration.k8s.io \"v1alpha1.wardle.k8s.io\" already exists","reason":"AlreadyExists","#
            + #""details":{"name":"v1alpha1.wardle.k8s.io","group":"apiregistration.k8s.io","kind":"apiservices"},"code":409}"# + "\n")
        let discovery = try #require(await call(h, "GET", "/apis/apiregistration.k8s.io/v1").json)
        #expect(discovery["resources"]?.arrayValue?.contains { $0["name"] == "apiservices" && $0["namespaced"] == false } == true)
    }
}
