import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Responses compared with what kube-apiserver answers (its registry strategies, its encoder and
/// the API conventions), each for a divergence a real client tripped on.
@Suite struct ConformanceTests {
    let ns = "/api/v1/namespaces/default"

    @Test func deleteAnswersTheObjectForPodServiceAndServiceAccount() async throws {
        let h = newHandler()
        let objects: [(String, JSONValue)] = [
            ("pods", ["kind": "Pod", "metadata": ["name": "p"], "spec": ["containers": [["name": "c", "image": "busybox"]]]]),
            ("services", ["kind": "Service", "metadata": ["name": "s"], "spec": ["ports": [["port": 80]]]]),
            ("serviceaccounts", ["kind": "ServiceAccount", "metadata": ["name": "a"]]),
        ]
        for (plural, body) in objects {
            #expect(await call(h, "POST", "\(ns)/\(plural)", body).status == 201)
            let deleted = await call(h, "DELETE", "\(ns)/\(plural)/\(body[path: ["metadata", "name"]]?.stringValue ?? "")")
            #expect(deleted.status == 200)
            #expect(deleted.json?["kind"] == body["kind"], "DELETE of \(plural) answered \(deleted.json?["kind"] ?? .null)")
            #expect(deleted.json?[path: ["metadata", "name"]] == body[path: ["metadata", "name"]])
        }
        // Other kinds answer a Success Status naming the resource, without a group for core.
        #expect(await call(h, "POST", "\(ns)/configmaps", configMap("c")).status == 201)
        let status = await call(h, "DELETE", "\(ns)/configmaps/c")
        #expect(status.status == 200)
        let text = String(decoding: status.bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"c","kind":"configmaps","uid":""#), "\(text)")
        #expect(text.hasSuffix("\"}}\n"))
        let deployments = "/apis/apps/v1/namespaces/default/deployments"
        #expect(await call(h, "POST", deployments, ["kind": "Deployment", "metadata": ["name": "d"], "spec": [:]]).status == 201)
        #expect(await call(h, "DELETE", deployments + "/d").json?["details"]?["group"] == "apps")
    }

    @Test func createdServiceCarriesAnEmptyLoadBalancerStatusAndAClusterIP() async throws {
        let h = newHandler()
        let created = try #require(await call(h, "POST", "\(ns)/services",
                                              ["kind": "Service", "metadata": ["name": "web"],
                                               "spec": ["ports": [["port": 80]], "selector": ["app": "web"]]]).json)
        #expect(created["status"] == ["loadBalancer": [:]])
        #expect(created[path: ["spec", "type"]] == "ClusterIP")
        let ip = try #require(created[path: ["spec", "clusterIP"]]?.stringValue)
        #expect(ip.hasPrefix("10.96."))
        #expect(created[path: ["spec", "clusterIPs"]] == [.string(ip)])
        #expect(created[path: ["spec", "ports"]]?[0] == ["port": 80, "protocol": "TCP", "targetPort": 80])
        #expect(created[path: ["spec", "sessionAffinity"]] == "None")
        let headless = try #require(await call(h, "POST", "\(ns)/services",
                                               ["kind": "Service", "metadata": ["name": "h"], "spec": ["clusterIP": "None"]]).json)
        #expect(headless[path: ["spec", "clusterIP"]] == "None")
        #expect(headless["status"] == ["loadBalancer": [:]])
        // A status written through the main resource is ignored; the empty one stays.
        var update = created
        update["status"] = ["loadBalancer": ["ingress": [["ip": "1.2.3.4"]]]]
        #expect(await call(h, "PUT", "\(ns)/services/web", update).json?["status"] == ["loadBalancer": [:]])
    }

    @Test func errorStatusBodiesHaveTheServersKeyOrderAndANewline() async throws {
        let h = newHandler()
        for _ in 0..<5 {
            let missing = await call(h, "GET", "\(ns)/configmaps/nope")
            #expect(String(decoding: missing.bytes, as: UTF8.self) ==
                #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"configmaps"},"code":404}"# + "\n")
        }
        let apps = await call(h, "GET", "/apis/apps/v1/namespaces/default/deployments/nope")
        #expect(String(decoding: apps.bytes, as: UTF8.self) ==
            #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}"# + "\n")
        let invalid = await call(h, "POST", "\(ns)/configmaps", configMap("Bad_Name"))
        let text = String(decoding: invalid.bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ConfigMap \"Bad_Name\" is invalid: metadata.name: "#), "\(text)")
        #expect(text.hasSuffix(#""field":"metadata.name"}]},"code":422}"# + "\n"), "\(text)")
        #expect(text.contains(#""details":{"name":"Bad_Name","kind":"ConfigMap","causes":[{"reason":"FieldValueInvalid","message":"#))
        // Successful bodies end with a newline too (Go's json.Encoder).
        #expect(await call(h, "GET", "\(ns)/configmaps").bytes.last == UInt8(ascii: "\n"))
    }

    @Test func partialObjectMetadataIsServedOrRefusedWith406() async throws {
        let h = newHandler()
        #expect(await call(h, "POST", "\(ns)/configmaps", configMap("a", labels: ["x": "y"], data: ["k": "v"])).status == 201)
        let list = await call(h, "GET", "\(ns)/configmaps",
                              accept: "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
        #expect(list.status == 200)
        #expect(list.json?["kind"] == "PartialObjectMetadataList")
        #expect(list.json?["apiVersion"] == "meta.k8s.io/v1")
        #expect(list.json?[path: ["metadata", "resourceVersion"]]?.stringValue?.isEmpty == false)
        let item = try #require(list.json?["items"]?[0])
        #expect(item["kind"] == "PartialObjectMetadata")
        #expect(item[path: ["metadata", "labels"]] == ["x": "y"])
        #expect(item["data"] == nil)
        let one = await call(h, "GET", "\(ns)/configmaps/a",
                             accept: "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io")
        #expect(one.json?["kind"] == "PartialObjectMetadata")
        #expect(one.json?[path: ["metadata", "name"]] == "a")
        #expect(one.json?["data"] == nil)
        // A list asked for as a single object, an unknown conversion, or protobuf only: 406.
        for accept in ["application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
                       "application/json;as=Nonsense;v=v1;g=meta.k8s.io",
                       "application/vnd.kubernetes.protobuf", "text/html"] {
            let refused = await call(h, "GET", "\(ns)/configmaps", accept: accept)
            #expect(refused.status == 406, "\(accept)")
            #expect(refused.json?["reason"] == "NotAcceptable")
        }
        // The metadata client's header: protobuf first, then JSON as PartialObjectMetadataList.
        let fallback = await call(h, "GET", "\(ns)/configmaps", accept:
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")
        #expect(fallback.json?["kind"] == "PartialObjectMetadataList")
        let plain = await call(h, "GET", "\(ns)/configmaps", accept: "application/vnd.kubernetes.protobuf, application/json")
        #expect(plain.json?["kind"] == "ConfigMapList")
    }

    @Test func everyNamespaceHasADefaultServiceAccount() async throws {
        let h = newHandler()
        #expect(await call(h, "GET", "\(ns)/serviceaccounts/default").status == 200)
        #expect(await call(h, "POST", "/api/v1/namespaces", ["kind": "Namespace", "metadata": ["name": "team"]]).status == 201)
        let account = await call(h, "GET", "/api/v1/namespaces/team/serviceaccounts/default")
        #expect(account.status == 200)
        #expect(account.json?[path: ["metadata", "uid"]]?.stringValue?.isEmpty == false)
        // A watch of service accounts sees it arrive.
        #expect(await call(h, "GET", "/api/v1/namespaces/team/serviceaccounts").json?["items"]?.arrayValue?.count == 1)
    }

    @Test func discoveryCarriesTheStorageVersionHashOfKubeApiserver() async throws {
        let h = newHandler()
        let core = try #require(await call(h, "GET", "/api/v1").json?["resources"]?.arrayValue)
        func hash(_ list: [JSONValue], _ name: String) -> JSONValue? {
            list.first { $0["name"]?.stringValue == name }?["storageVersionHash"]
        }
        // Values read from a real kube-apiserver's discovery.
        #expect(hash(core, "configmaps") == "qFsyl6wFWjQ=")
        #expect(hash(core, "pods") == "xPOwRZ+Yhw8=")
        let apps = try #require(await call(h, "GET", "/apis/apps/v1").json?["resources"]?.arrayValue)
        #expect(hash(apps, "deployments") == "8aSe+NMegvE=")
        for resource in core + apps where !(resource["name"]?.stringValue?.contains("/") ?? true) {
            #expect(resource["storageVersionHash"]?.stringValue?.isEmpty == false, "\(resource["name"] ?? .null)")
        }
    }

    @Test func onlyKindsWithADesiredStateGetAGeneration() async throws {
        let h = newHandler()
        let cm = try #require(await call(h, "POST", "\(ns)/configmaps", configMap("a", data: ["k": "v"])).json)
        #expect(cm[path: ["metadata", "generation"]] == nil)
        let patched = await call(h, "PATCH", "\(ns)/configmaps/a", ["data": ["k": "w"]], contentType: "application/merge-patch+json")
        #expect(patched.json?[path: ["metadata", "generation"]] == nil)
        let bodies: [(String, JSONValue)] = [("\(ns)/secrets", ["kind": "Secret", "metadata": ["name": "s"]]),
                             ("\(ns)/services", ["kind": "Service", "metadata": ["name": "s"], "spec": [:]]),
                             ("\(ns)/serviceaccounts", ["kind": "ServiceAccount", "metadata": ["name": "s"]])]
        for (path, body) in bodies {
            #expect(await call(h, "POST", path, body).json?[path: ["metadata", "generation"]] == nil, "\(path)")
        }
        let deployment = await call(h, "POST", "/apis/apps/v1/namespaces/default/deployments",
                                    ["kind": "Deployment", "metadata": ["name": "d"], "spec": ["replicas": 1]])
        #expect(deployment.json?[path: ["metadata", "generation"]] == 1)
    }
}
