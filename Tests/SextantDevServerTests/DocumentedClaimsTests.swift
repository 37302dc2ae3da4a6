import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// Claims of docs/dev-apiserver.md that no other test checked (issue 15: "nothing it claims is
/// untested"), each in the words of the doc.
struct DocumentedClaimsTests {
    static let admin = "admin-secret"

    func send(_ h: DevAPIHandler, _ method: String, _ target: String, _ body: JSONValue? = nil,
              contentType: String = "application/json", token: String? = admin) async -> APIResponse {
        var headers = ["content-type": contentType]
        if let token { headers["authorization"] = "Bearer " + token }
        return await h.handle(APIRequest(method: method, target: target, headers: headers, body: body.map { $0.serialized() } ?? []))
    }

    /// "authentication.k8s.io/v1 TokenReview (of ServiceAccount tokens) ...; authorization.k8s.io/v1
    /// SubjectAccessReview, SelfSubjectAccessReview and LocalSubjectAccessReview, answered by the same evaluator".
    @Test func reviewsAnswerWithTheAuthorizersDecision() async throws {
        let h = DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration()), token: Self.admin, authorization: .rbac)
        #expect(await send(h, "POST", "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "ml"]]).status == 201)
        #expect(await send(h, "POST", "/api/v1/namespaces/ml/serviceaccounts",
                           ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "bot"]]).status == 201)
        #expect(await send(h, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ml/roles", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "r"],
            "rules": [["apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]]]]).status == 201)
        #expect(await send(h, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ml/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "r"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"],
            "subjects": [["kind": "ServiceAccount", "name": "bot", "namespace": "ml"]]]).status == 201)
        let token = try #require(await send(h, "POST", "/api/v1/namespaces/ml/serviceaccounts/bot/token",
                                            ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"])
            .json?[path: ["status", "token"]]?.stringValue)
        let user = "system:serviceaccount:ml:bot"

        let review = await send(h, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": ["token": .string(token)]])
        #expect(review.status == 201 && review.json?[path: ["status", "authenticated"]] == true)
        #expect(review.json?[path: ["status", "user", "username"]]?.stringValue == user)
        #expect(review.json?[path: ["status", "user", "groups"]]?.arrayValue?.contains("system:serviceaccounts:ml") == true)
        let bad = await send(h, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                             ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": ["token": "nope"]])
        #expect(bad.json?[path: ["status", "authenticated"]] == false)

        func access(_ verb: String, _ namespace: String) -> JSONValue {
            ["verb": .string(verb), "group": "batch", "resource": "jobs", "namespace": .string(namespace)]
        }
        for (verb, namespace, expected) in [("list", "ml", true), ("delete", "ml", false), ("list", "other", false)] {
            let sar = await send(h, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", [
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": ["user": .string(user), "groups": ["system:serviceaccounts", "system:serviceaccounts:ml", "system:authenticated"],
                         "resourceAttributes": access(verb, namespace)]])
            #expect(sar.status == 201 && sar.json?[path: ["status", "allowed"]] == .bool(expected), "SAR \(verb) \(namespace)")
            let own = await send(h, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", [
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": ["resourceAttributes": access(verb, namespace)]], token: token)
            #expect(own.status == 201 && own.json?[path: ["status", "allowed"]] == .bool(expected), "self \(verb) \(namespace)")
        }
        let local = await send(h, "POST", "/apis/authorization.k8s.io/v1/namespaces/ml/localsubjectaccessreviews", [
            "apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
            "spec": ["user": .string(user), "resourceAttributes": access("list", "ml")]])
        #expect(local.status == 201 && local.json?[path: ["status", "allowed"]] == true)
        let mismatched = await send(h, "POST", "/apis/authorization.k8s.io/v1/namespaces/ml/localsubjectaccessreviews", [
            "apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
            "spec": ["user": .string(user), "resourceAttributes": access("list", "other")]])
        #expect(mismatched.status == 400)
    }

    /// "Built-in kinds: ... Endpoints, ... ReplicationController ... stored as given"; a Service
    /// gets a cluster IP "unless `None` or ExternalName"; "scale (... ReplicationControllers: an
    /// autoscaling/v1 Scale)".
    @Test func builtInKindsAreStoredAsGivenAndServicesAllocateOnlyWhereUpstreamDoes() async throws {
        let h = newHandler()
        let endpoints: JSONValue = ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": "web"],
                                    "subsets": [["addresses": [["ip": "10.0.0.7"]], "ports": [["port": 8080]]]]]
        #expect(await call(h, "POST", "/api/v1/namespaces/default/endpoints", endpoints).status == 201)
        #expect(await call(h, "GET", "/api/v1/namespaces/default/endpoints/web").json?["subsets"] == endpoints["subsets"])
        let rc: JSONValue = ["apiVersion": "v1", "kind": "ReplicationController", "metadata": ["name": "rc"],
                             "spec": ["replicas": 2, "selector": ["app": "x"],
                                      "template": ["metadata": ["labels": ["app": "x"]], "spec": ["containers": [["name": "c", "image": "i"]]]]]]
        #expect(await call(h, "POST", "/api/v1/namespaces/default/replicationcontrollers", rc).status == 201)
        let scale = await call(h, "GET", "/api/v1/namespaces/default/replicationcontrollers/rc/scale")
        #expect(scale.json?["kind"] == "Scale" && scale.json?["apiVersion"] == "autoscaling/v1" && scale.json?[path: ["spec", "replicas"]] == 2)
        #expect(await call(h, "GET", "/api/v1/namespaces/default/pods").json?["items"]?.arrayValue?.isEmpty == true,
                "no controller makes Pods")

        let external = await call(h, "POST", "/api/v1/namespaces/default/services", [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "ext"], "spec": ["type": "ExternalName", "externalName": "example.com"]])
        #expect(external.status == 201 && external.json?[path: ["spec", "clusterIP"]] == nil, "\(external.json ?? .null)")
        let headless = await call(h, "POST", "/api/v1/namespaces/default/services", [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "hl"], "spec": ["clusterIP": "None", "ports": [["port": 80]]]])
        #expect(headless.json?[path: ["spec", "clusterIP"]] == "None")
    }

    /// "`propagationPolicy` ... `Foreground` delete dependents whose last ownerReference pointed at
    /// the deleted object (synchronously, at once)".
    @Test func foregroundDeletionRemovesDependentsAtOnce() async throws {
        let h = newHandler()
        let path = "/api/v1/namespaces/default/configmaps"
        let owner = try #require(await call(h, "POST", path, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "owner"]]).json)
        let reference: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner[path: ["metadata", "uid"]] ?? ""]
        #expect(await call(h, "POST", path, ["apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": ["name": "child", "ownerReferences": [reference]]]).status == 201)
        #expect(await call(h, "DELETE", path + "/owner?propagationPolicy=Foreground").status == 200)
        #expect(await call(h, "GET", path + "/owner").status == 404)
        #expect(await call(h, "GET", path + "/child").status == 404)
    }

    /// Strategic merge: "`$patch: replace|delete`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`
    /// and `$retainKeys` are honoured or dropped; `finalizers` merge".
    @Test func strategicMergeDirectivesNeverReachStorage() async throws {
        let h = newHandler()
        let path = "/api/v1/namespaces/default/configmaps"
        #expect(await call(h, "POST", path, ["apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": ["name": "c", "finalizers": ["a/x", "b/y"]], "data": ["k": "v", "drop": "me"]]).status == 201)
        let removed = await call(h, "PATCH", path + "/c", ["metadata": ["$deleteFromPrimitiveList/finalizers": ["a/x"]]],
                                 contentType: "application/strategic-merge-patch+json")
        #expect(removed.status == 200)
        #expect(removed.json?[path: ["metadata", "finalizers"]] == ["b/y"])
        let merged = await call(h, "PATCH", path + "/c", ["metadata": ["finalizers": ["c/z"]]], contentType: "application/strategic-merge-patch+json")
        #expect(Set(merged.json?[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []) == ["b/y", "c/z"],
                "finalizers merge")
        let replaced = await call(h, "PATCH", path + "/c", ["data": ["$patch": "replace", "only": "this"]],
                                  contentType: "application/strategic-merge-patch+json")
        #expect(replaced.status == 200)
        #expect(replaced.json?["data"] == ["only": "this"], "\(replaced.json ?? .null)")
        let directives = await call(h, "PATCH", path + "/c", ["data": ["$retainKeys": ["only"], "only": "that"], "$setElementOrder/x": []],
                                    contentType: "application/strategic-merge-patch+json")
        #expect(directives.status == 200 && directives.json?[path: ["data", "only"]] == "that", "\(directives.json ?? .null)")
        let stored = try #require(await call(h, "GET", path + "/c").json)
        #expect(!String(decoding: stored.serialized(), as: UTF8.self).contains("$"), "a directive was stored: \(stored)")
    }

    /// "`includeObject` `None|Metadata|Object` is honoured" on Tables.
    @Test func tablesIncludeTheObjectAsAsked() async throws {
        let h = newHandler()
        #expect(await call(h, "POST", "/api/v1/namespaces/default/configmaps",
                           ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "t"], "data": ["k": "v"]]).status == 201)
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
        func row(_ include: String) async -> JSONValue? {
            await call(h, "GET", "/api/v1/namespaces/default/configmaps?includeObject=\(include)", accept: accept).json?["rows"]?[0]
        }
        #expect(await row("None")?["object"] == nil)
        let metadata = await row("Metadata")?["object"]
        #expect(metadata?["kind"] == "PartialObjectMetadata" && metadata?["data"] == nil && metadata?[path: ["metadata", "name"]] == "t")
        #expect(await row("Object")?[path: ["object", "data"]] == ["k": "v"])
    }

    /// "a missing type and `application/x-www-form-urlencoded`, the default of curl, URLSession
    /// and libcurl, are read as JSON".
    @Test func formEncodedAndMissingContentTypesAreReadAsJSON() async throws {
        let h = newHandler()
        for (name, type) in [("form", "application/x-www-form-urlencoded"), ("none", "")] {
            var headers: [String: String] = [:]
            if !type.isEmpty { headers["content-type"] = type }
            let body: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name)]]
            let response = await h.handle(APIRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps", headers: headers,
                                                     body: body.serialized()))
            #expect(response.status == 201, "\(type): \(response.status)")
        }
    }

    /// "each group version document has one PATCH operation per kind that declares the
    /// `fieldValidation` query parameter"; "`/openapi/v2` is a document without definitions".
    @Test func openAPIDocumentsAreWhatKubectlLooksFor() async throws {
        let h = newHandler()
        let index = try #require(await call(h, "GET", "/openapi/v3").json)
        let apps = try #require(index[path: ["paths", "apis/apps/v1", "serverRelativeURL"]]?.stringValue)
        let document = try #require(await call(h, "GET", apps).json)
        let paths = document["paths"]?.objectValue ?? [:]
        let deployment = try #require(paths.first { $0.key.hasSuffix("/deployments/{name}") }?.value)
        #expect(deployment["patch"]?["parameters"]?.arrayValue?.contains { $0["name"] == "fieldValidation" } == true)
        #expect(deployment["get"] == nil, "PATCH operations only")
        let v2 = try #require(await call(h, "GET", "/openapi/v2").json)
        #expect(v2["definitions"] == nil || v2["definitions"] == [:])
    }

    /// Schema validation keywords the doc lists beyond the widget CRD's (CRDTests): `exclusive…`,
    /// `minLength`, `minItems`, `uniqueItems`, `maxProperties`, `format: int32` range,
    /// `allOf`/`anyOf`/`oneOf`/`not`, and `x-kubernetes-embedded-resource` keeping `apiVersion`,
    /// `kind`, `metadata` while pruning the rest.
    @Test(arguments: [
        (["ratio": 0] as JSONValue, "spec.ratio"),
        (["ratio": 1] as JSONValue, "spec.ratio"),
        (["code": ""] as JSONValue, "spec.code"),
        (["list": []] as JSONValue, "spec.list"),
        (["list": ["a", "a"]] as JSONValue, "spec.list"),
        (["labels": ["a": "1", "b": "2", "c": "3"]] as JSONValue, "spec.labels"),
        (["port": 3_000_000_000] as JSONValue, "spec.port"),
        (["all": 20] as JSONValue, "spec.all"),
        (["any": "neither"] as JSONValue, "spec.any"),
        (["one": ["a": "x", "b": "y"]] as JSONValue, "spec.one"),
        (["notFive": 5] as JSONValue, "spec.notFive"),
    ])
    func schemaKeywordsRefuseWithTheFieldPath(spec: JSONValue, field: String) async throws {
        let h = try await Self.handlerWithGadgets()
        let response = await call(h, "POST", "/apis/example.dev/v1/namespaces/default/gadgets", Self.gadget("g", spec: spec))
        #expect(response.status == 422, "\(spec): \(response.status)")
        let causes = response.json?[path: ["details", "causes"]]?.arrayValue ?? []
        #expect(causes.contains { $0["field"]?.stringValue?.hasPrefix(field) == true }, "\(spec): \(causes)")
    }

    @Test func schemaKeywordsAcceptValidObjectsAndEmbeddedResourcesKeepTheirTypeMeta() async throws {
        let h = try await Self.handlerWithGadgets()
        let spec: JSONValue = ["ratio": 0.5, "code": "x", "list": ["a", "b"], "labels": ["a": "1"], "port": 8080, "all": 5,
                               "any": 3, "one": ["a": "x"], "notFive": 6,
                               "template": ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "inner"], "junk": true]]
        let created = await call(h, "POST", "/apis/example.dev/v1/namespaces/default/gadgets", Self.gadget("ok", spec: spec))
        #expect(created.status == 201, "\(created.json ?? .null)")
        let template = created.json?[path: ["spec", "template"]]
        #expect(template?["apiVersion"] == "v1" && template?["kind"] == "ConfigMap" && template?[path: ["metadata", "name"]] == "inner", "\(template ?? .null)")
        #expect(template?["junk"] == nil, "pruned inside the embedded resource: \(template ?? .null)")
    }

    static func gadget(_ name: String, spec: JSONValue) -> JSONValue {
        ["apiVersion": "example.dev/v1", "kind": "Gadget", "metadata": ["name": .string(name)], "spec": spec]
    }

    static func handlerWithGadgets() async throws -> DevAPIHandler {
        let h = newHandler()
        let crd: JSONValue = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "gadgets.example.dev"],
            "spec": ["group": "example.dev", "scope": "Namespaced",
                     "names": ["plural": "gadgets", "singular": "gadget", "kind": "Gadget"],
                     "versions": [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": [
                        "type": "object", "properties": ["spec": ["type": "object", "properties": [
                            "ratio": ["type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true],
                            "code": ["type": "string", "minLength": 1],
                            "list": ["type": "array", "minItems": 1, "uniqueItems": true, "items": ["type": "string"]],
                            "labels": ["type": "object", "maxProperties": 2, "additionalProperties": ["type": "string"]],
                            "port": ["type": "integer", "format": "int32"],
                            "all": ["type": "integer", "allOf": [["minimum": 1], ["maximum": 10]]],
                            "any": ["x-kubernetes-int-or-string": true, "anyOf": [["type": "integer"], ["type": "string", "pattern": "^[0-9]+$"]]],
                            "one": ["type": "object", "properties": ["a": ["type": "string"], "b": ["type": "string"]],
                                    "oneOf": [["required": ["a"]], ["required": ["b"]]]],
                            "notFive": ["type": "integer", "not": ["enum": [5]]],
                            "template": ["type": "object", "x-kubernetes-embedded-resource": true,
                                         "properties": ["metadata": ["type": "object"]]],
                        ]]]]]]]],
        ]
        let created = await call(h, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        #expect(created.status == 201, "\(created.json ?? .null)")
        return h
    }
}
