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
        // A list asked for as a single object, an unknown conversion, protobuf as a Table: 406.
        for accept in ["application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
                       "application/json;as=Nonsense;v=v1;g=meta.k8s.io",
                       "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", "text/html"] {
            let refused = await call(h, "GET", "\(ns)/configmaps", accept: accept)
            #expect(refused.status == 406, "\(accept)")
            #expect(refused.json?["reason"] == "NotAcceptable")
        }
        // The metadata client's header: protobuf first, then JSON as PartialObjectMetadataList.
        let fallback = await call(h, "GET", "\(ns)/configmaps", accept:
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")
        #expect(fallback.json?["kind"] == "PartialObjectMetadataList")
        // Plain protobuf first (client-go's typed clients): the list in the protobuf envelope.
        let plain = await call(h, "GET", "\(ns)/configmaps", accept: "application/vnd.kubernetes.protobuf, application/json")
        #expect(plain.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/vnd.kubernetes.protobuf" })
        #expect(Array(plain.bytes.prefix(4)) == Array("k8s\u{0}".utf8))
        let json = await call(h, "GET", "\(ns)/configmaps", accept: "application/json, application/vnd.kubernetes.protobuf")
        #expect(json.json?["kind"] == "ConfigMapList")
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

    @Test func badInputIsAClear4xxAndChangesNothing() async throws {
        let h = newHandler()
        #expect(await call(h, "POST", "\(ns)/configmaps", configMap("keep", data: ["k": "v"])).status == 201)
        let before = try #require(await call(h, "GET", "/sextant-dev/stats").json?["revision"])
        let cases: [(String, String, String, String, Int)] = [
            ("POST", "\(ns)/configmaps", "{\"kind\":", "application/json", 400),
            ("POST", "\(ns)/configmaps", "k8s\u{0}\u{a}\u{2}v1", "application/vnd.kubernetes.protobuf", 400),
            ("POST", "\(ns)/configmaps", "\u{a1}", "application/cbor", 415),
            ("POST", "\(ns)/configmaps", "[1,2]", "application/json", 400),
            ("PUT", "\(ns)/configmaps/keep", #"{"kind":"Secret","metadata":{"name":"keep"}}"#, "application/json", 400),
            ("PUT", "\(ns)/configmaps/keep", #"{"metadata":{"name":"other"}}"#, "application/json", 400),
            ("PATCH", "\(ns)/configmaps/keep", #"[{"op":"nonsense","path":"/data"}]"#, "application/json-patch+json", 400),
            ("PATCH", "\(ns)/configmaps/keep", #"{"data":"#, "application/merge-patch+json", 400),
            ("PATCH", "\(ns)/configmaps/keep", #"{"data":{}}"#, "text/plain", 415),
            ("PATCH", "\(ns)/configmaps/keep?fieldManager=m", "apiVersion: apps/v1\nkind: ConfigMap\n", "application/apply-patch+yaml", 400),
            ("PUT", "\(ns)/configmaps", "{}", "application/json", 405),
            ("GET", "\(ns)/nothings", "", "application/json", 404),
        ]
        for (method, path, body, contentType, code) in cases {
            let response = await call(h, method, path, text: body, contentType: contentType)
            #expect(response.status == code, "\(method) \(path) \(contentType): \(String(decoding: response.bytes, as: UTF8.self))")
            #expect(response.json?["kind"] == "Status")
            #expect(response.json?["status"] == "Failure")
            #expect(response.json?["code"] == .int(Int64(code)))
            #expect(response.json?["message"]?.stringValue?.isEmpty == false)
        }
        #expect(await call(h, "GET", "/sextant-dev/stats").json?["revision"] == before)
        #expect(await call(h, "GET", "\(ns)/configmaps/keep").json?["data"] == ["k": "v"])
    }

    @Test func listsDeletesAndDryRunFollowTheConventions() async throws {
        let h = newHandler()
        for name in ["b", "a"] { #expect(await call(h, "POST", "\(ns)/configmaps", configMap(name, labels: ["l": "x"])).status == 201) }
        let list = try #require(await call(h, "GET", "\(ns)/configmaps").json)
        #expect(list["kind"] == "ConfigMapList")
        #expect(list["apiVersion"] == "v1")
        // resourceVersions are opaque strings, in lists too.
        #expect(list[path: ["metadata", "resourceVersion"]]?.stringValue != nil)
        #expect(list["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["a", "b"])
        // dryRun=All answers the object as it would be stored and stores nothing.
        let dry = await call(h, "POST", "\(ns)/configmaps?dryRun=All", configMap("dry"))
        #expect(dry.status == 201)
        #expect(dry.json?[path: ["metadata", "uid"]]?.stringValue?.isEmpty == false)
        #expect(await call(h, "GET", "\(ns)/configmaps/dry").status == 404)
        // deletecollection answers the list of what it deleted.
        let deleted = try #require(await call(h, "DELETE", "\(ns)/configmaps?labelSelector=l%3Dx").json)
        #expect(deleted["kind"] == "ConfigMapList")
        #expect(deleted["items"]?.arrayValue?.count == 2)
        // Deleting a namespace answers it as its finalizer leaves it: Terminating.
        #expect(await call(h, "POST", "/api/v1/namespaces", ["kind": "Namespace", "metadata": ["name": "gone"]]).status == 201)
        let namespace = await call(h, "DELETE", "/api/v1/namespaces/gone")
        #expect(namespace.json?["kind"] == "Namespace")
        #expect(namespace.json?[path: ["status", "phase"]] == "Terminating")
        #expect(namespace.json?[path: ["metadata", "deletionTimestamp"]] != nil)
    }

    @Test func serverSideApplyRecordsTheManagerOfTheAppliedFields() async throws {
        let h = newHandler()
        let yaml = """
        apiVersion: v1
        kind: Pod
        metadata: {name: p, labels: {app: a}}
        spec:
          containers: [{name: c, image: nginx, ports: [{containerPort: 80, protocol: TCP}]}]
        """
        let path = "\(ns)/pods/p?fieldManager=applier"
        let dry = await call(h, "PATCH", path + "&dryRun=All", text: yaml, contentType: "application/apply-patch+yaml")
        #expect(dry.status == 201)
        #expect(dry.json?[path: ["metadata", "managedFields"]]?[0]?["manager"] == "applier")
        #expect(await call(h, "GET", "\(ns)/pods/p").status == 404)
        let created = try #require(await call(h, "PATCH", path, text: yaml, contentType: "application/apply-patch+yaml").json)
        let entry = try #require(created[path: ["metadata", "managedFields"]]?[0])
        #expect(entry["operation"] == "Apply")
        #expect(entry["fieldsType"] == "FieldsV1")
        #expect(entry[path: ["fieldsV1", "f:metadata", "f:labels", "f:app"]] == [:])
        #expect(entry[path: ["fieldsV1", "f:spec", "f:containers", #"k:{"name":"c"}"#, "f:image"]] == [:])
        // The same configuration again changes nothing: same resourceVersion.
        let again = try #require(await call(h, "PATCH", path, text: yaml, contentType: "application/apply-patch+yaml").json)
        #expect(again[path: ["metadata", "resourceVersion"]] == created[path: ["metadata", "resourceVersion"]])
        // A patch of another version is refused as kube-apiserver refuses it.
        let wrong = await call(h, "PATCH", path, text: yaml.replacingOccurrences(of: "apiVersion: v1", with: "apiVersion: apps/v1"),
                               contentType: "application/apply-patch+yaml")
        #expect(wrong.status == 400)
        #expect(wrong.json?["message"]?.stringValue?.hasPrefix("Incorrect version specified in apply patch") == true)
    }

    @Test func builtInKindsOfTheChartAndCommonToolingAreServed() async throws {
        let h = newHandler()
        let kinds: [(String, JSONValue, Bool)] = [
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
             ["kind": "Role", "metadata": ["name": "r"], "rules": [["apiGroups": [""], "resources": ["pods"], "verbs": ["get"]]]], false),
            ("/apis/rbac.authorization.k8s.io/v1/clusterroles", ["kind": "ClusterRole", "metadata": ["name": "cr"], "rules": []], false),
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
             ["kind": "RoleBinding", "metadata": ["name": "rb"], "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"],
              "subjects": [["kind": "ServiceAccount", "name": "default", "namespace": "default"]]], false),
            ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
             ["kind": "ClusterRoleBinding", "metadata": ["name": "crb"], "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"]], false),
            ("/apis/policy/v1/namespaces/default/poddisruptionbudgets",
             ["kind": "PodDisruptionBudget", "metadata": ["name": "pdb"], "spec": ["minAvailable": 1]], true),
            ("/apis/apps/v1/namespaces/default/replicasets", ["kind": "ReplicaSet", "metadata": ["name": "rs"], "spec": ["replicas": 2]], true),
            ("/apis/apps/v1/namespaces/default/daemonsets", ["kind": "DaemonSet", "metadata": ["name": "ds"], "spec": [:]], true),
        ]
        for (path, body, generation) in kinds {
            let created = await call(h, "POST", path, body)
            #expect(created.status == 201, "\(path): \(String(decoding: created.bytes, as: UTF8.self))")
            #expect((created.json?[path: ["metadata", "generation"]] != nil) == generation, "\(path)")
            let name = body[path: ["metadata", "name"]]?.stringValue ?? ""
            #expect(await call(h, "GET", path + "/" + name).json?["kind"] == body["kind"])
            #expect(await call(h, "DELETE", path + "/" + name).json?["kind"] == "Status")
        }
        let groups = try #require(await call(h, "GET", "/apis").json?["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue })
        for group in ["rbac.authorization.k8s.io", "policy", "apps"] { #expect(groups.contains(group)) }
    }
}
