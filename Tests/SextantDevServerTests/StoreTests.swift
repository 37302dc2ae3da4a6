import Foundation
import SextantDevServer
import SextantJSON
import Testing

func configMap(_ name: String, labels: [String: JSONValue] = [:], data: [String: JSONValue] = [:]) -> JSONValue {
    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "labels": .object(labels)],
     "data": .object(data)]
}

let cmPath = "/api/v1/namespaces/default/configmaps"

@Suite struct CRUDTests {
    @Test func createGetAndAlreadyExists() async throws {
        let h = newHandler()
        let created = await call(h, "POST", cmPath, configMap("a", data: ["k": "v"]))
        #expect(created.status == 201)
        let object = try #require(created.json)
        #expect(object[path: ["metadata", "uid"]]?.stringValue?.isEmpty == false)
        #expect(object[path: ["metadata", "creationTimestamp"]]?.stringValue?.hasSuffix("Z") == true)
        #expect(object[path: ["metadata", "namespace"]] == "default")
        let got = await call(h, "GET", cmPath + "/a")
        #expect(got.status == 200)
        #expect(got.json?["data"] == ["k": "v"])
        let again = await call(h, "POST", cmPath, configMap("a"))
        #expect(again.status == 409)
        #expect(again.json?["reason"] == "AlreadyExists")
        let missing = await call(h, "GET", cmPath + "/nope")
        #expect(missing.status == 404)
        #expect(missing.json?["reason"] == "NotFound")
        #expect(missing.json?["message"] == "configmaps \"nope\" not found")
    }

    @Test func resourceVersionsIncreaseGlobally() async throws {
        let h = newHandler()
        var last: Int64 = 0
        for i in 0..<5 {
            let path = i % 2 == 0 ? cmPath : "/api/v1/namespaces/default/secrets"
            var body = configMap("o\(i)")
            body["kind"] = i % 2 == 0 ? "ConfigMap" : "Secret"
            let rv = try #require(await call(h, "POST", path, body).json?[path: ["metadata", "resourceVersion"]]?.stringValue)
            let n = try #require(Int64(rv))
            #expect(n > last)
            last = n
        }
    }

    @Test func generateNameAndNameValidation() async throws {
        let h = newHandler()
        let generated = await call(h, "POST", cmPath, ["metadata": ["generateName": "run-"]])
        #expect(generated.status == 201)
        let name = try #require(generated.json?[path: ["metadata", "name"]]?.stringValue)
        #expect(name.hasPrefix("run-") && name.count == 9)
        let bad = await call(h, "POST", cmPath, configMap("Not_Valid"))
        #expect(bad.status == 422)
        #expect(bad.json?[path: ["details", "causes"]]?[0]?["field"] == "metadata.name")
        let noNamespace = await call(h, "POST", "/api/v1/namespaces/nowhere/configmaps", configMap("x"))
        #expect(noNamespace.status == 404)
        #expect(noNamespace.json?["message"]?.stringValue?.contains("nowhere") == true)
        let wrongKind = await call(h, "POST", cmPath, ["kind": "Secret", "metadata": ["name": "s"]])
        #expect(wrongKind.status == 400)
        let notJSON = await call(h, "POST", cmPath, text: "{nope", contentType: "application/json")
        #expect(notJSON.status == 400)
    }

    @Test func updateWithStaleResourceVersionConflicts() async throws {
        let h = newHandler()
        var object = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        object["data"] = ["k": "1"]
        let first = await call(h, "PUT", cmPath + "/a", object)
        #expect(first.status == 200)
        object["data"] = ["k": "2"]
        let stale = await call(h, "PUT", cmPath + "/a", object)
        #expect(stale.status == 409)
        #expect(stale.json?["reason"] == "Conflict")
        #expect(await call(h, "GET", cmPath + "/a").json?["data"] == ["k": "1"])
    }

    @Test func noOpUpdateKeepsResourceVersion() async throws {
        let h = newHandler()
        let object = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        let same = try #require(await call(h, "PUT", cmPath + "/a", object).json)
        #expect(same[path: ["metadata", "resourceVersion"]] == object[path: ["metadata", "resourceVersion"]])
    }
}

@Suite struct ListTests {
    func seeded() async -> DevAPIHandler {
        let h = newHandler()
        let labels: [(String, [String: JSONValue])] = [
            ("a", ["app": "web", "tier": "front"]), ("b", ["app": "web", "tier": "back"]),
            ("c", ["app": "db"]), ("d", [:]), ("e", ["app": "web", "canary": "true"]),
        ]
        for (name, l) in labels { _ = await call(h, "POST", cmPath, configMap(name, labels: l)) }
        _ = await call(h, "POST", "/api/v1/namespaces", ["metadata": ["name": "other"]])
        _ = await call(h, "POST", "/api/v1/namespaces/other/configmaps", configMap("z", labels: ["app": "web"]))
        return h
    }

    func names(_ h: DevAPIHandler, _ target: String) async -> [String] {
        let response = await call(h, "GET", target)
        return response.json?["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } ?? ["status \(response.status)"]
    }

    @Test(arguments: [
        ("app=web", ["a", "b", "e"]), ("app==web", ["a", "b", "e"]), ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c", "e"]), ("app notin (web)", ["c", "d"]), ("canary", ["e"]),
        ("!app", ["d"]), ("app=web,tier!=back", ["a", "e"]), ("app=web,!canary", ["a", "b"]),
    ])
    func labelSelectors(selector: String, expected: [String]) async {
        let h = await seeded()
        let query = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? selector
        #expect(await names(h, cmPath + "?labelSelector=" + query) == expected)
    }

    @Test func fieldSelectorsAndAllNamespaces() async {
        let h = await seeded()
        #expect(await names(h, cmPath + "?fieldSelector=metadata.name%3Db") == ["b"])
        #expect(await names(h, "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dother") == ["z"])
        #expect(await names(h, "/api/v1/configmaps?labelSelector=app%3Dweb") == ["a", "b", "e", "z"])
        let unsupported = await call(h, "GET", cmPath + "?fieldSelector=data.k%3Dv")
        #expect(unsupported.status == 400)
        let badLabel = await call(h, "GET", cmPath + "?labelSelector=a%20in%20web")
        #expect(badLabel.status == 400)
    }

    @Test func limitAndContinue() async throws {
        let h = await seeded()
        var collected: [String] = []
        var target = cmPath + "?limit=2"
        var pages = 0
        while true {
            let page = try #require(await call(h, "GET", target).json)
            collected += page["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } ?? []
            pages += 1
            guard let token = page[path: ["metadata", "continue"]]?.stringValue else { break }
            #expect(page[path: ["metadata", "remainingItemCount"]]?.intValue ?? 0 > 0)
            target = cmPath + "?limit=2&continue=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)
        }
        #expect(collected == ["a", "b", "c", "d", "e"])
        #expect(pages == 3)
    }
}

@Suite struct PatchTests {
    @Test func mergeJSONAndStrategicPatches() async throws {
        let h = newHandler()
        _ = await call(h, "POST", cmPath, configMap("a", data: ["x": "1", "y": "2"]))
        let merged = await call(h, "PATCH", cmPath + "/a", ["data": ["x": nil, "z": "3"]], contentType: "application/merge-patch+json")
        #expect(merged.json?["data"] == ["y": "2", "z": "3"])
        let jsonPatched = await call(h, "PATCH", cmPath + "/a",
                                     [["op": "test", "path": "/data/y", "value": "2"], ["op": "replace", "path": "/data/y", "value": "9"]],
                                     contentType: "application/json-patch+json")
        #expect(jsonPatched.json?["data"] == ["y": "9", "z": "3"])
        let failedTest = await call(h, "PATCH", cmPath + "/a", [["op": "test", "path": "/data/y", "value": "2"]],
                                    contentType: "application/json-patch+json")
        #expect(failedTest.status == 422)
        let unknownType = await call(h, "PATCH", cmPath + "/a", ["data": [:]], contentType: "text/plain")
        #expect(unknownType.status == 415)
    }

    @Test func strategicMergeMergesContainersByName() async throws {
        let h = newHandler()
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
            "spec": ["template": ["spec": ["containers": [["name": "app", "image": "a:1"], ["name": "sidecar", "image": "s:1"]]]]],
        ]
        _ = await call(h, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment)
        let patched = await call(h, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
                                 ["spec": ["template": ["spec": ["containers": [["name": "app", "image": "a:2"]],
                                                                 "$setElementOrder/containers": [["name": "app"], ["name": "sidecar"]]]]]],
                                 contentType: "application/strategic-merge-patch+json")
        let containers = patched.json?[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        #expect(containers.map { [$0["name"], $0["image"]] } == [["app", "a:2"], ["sidecar", "s:1"]])
        #expect(patched.json?[path: ["metadata", "generation"]] == 2)
    }

    @Test func serverSideApplyCreatesThenMerges() async throws {
        let h = newHandler()
        let yaml = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: applied
        data:
          a: "1"
        """
        let created = await call(h, "PATCH", cmPath + "/applied?fieldManager=test", text: yaml, contentType: "application/apply-patch+yaml")
        #expect(created.status == 201)
        // Another manager's configuration merges into the object.
        let updated = await call(h, "PATCH", cmPath + "/applied?fieldManager=other",
                                 text: yaml.replacingOccurrences(of: "a: \"1\"", with: "b: \"2\""), contentType: "application/apply-patch+yaml")
        #expect(updated.status == 200)
        #expect(updated.json?["data"] == ["a": "1", "b": "2"])
        // The same manager leaving `a` out removes it (no one else owns it), as kube-apiserver does.
        let dropped = await call(h, "PATCH", cmPath + "/applied?fieldManager=test",
                                 text: yaml.replacingOccurrences(of: "a: \"1\"", with: "b: \"2\""), contentType: "application/apply-patch+yaml")
        #expect(dropped.status == 200)
        #expect(dropped.json?["data"] == ["b": "2"])
        let noManager = await call(h, "PATCH", cmPath + "/applied", text: yaml, contentType: "application/apply-patch+yaml")
        #expect(noManager.status == 400)
    }
}

@Suite struct LifecycleTests {
    func job(_ name: String, status: JSONValue? = nil) -> JSONValue {
        var job: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name)],
                              "spec": ["parallelism": 1]]
        if let status { job["status"] = status }
        return job
    }

    @Test func statusSubresourceAndGeneration() async throws {
        let h = newHandler()
        let path = "/apis/batch/v1/namespaces/default/jobs"
        let created = try #require(await call(h, "POST", path, job("j", status: ["succeeded": 5])).json)
        #expect(created["status"] == [:], "the status sent with a create is dropped (a new Job's status is empty)")
        #expect(created[path: ["metadata", "generation"]] == 1)
        // Status written through /status; generation unchanged.
        var withStatus = created
        withStatus["status"] = ["succeeded": 1]
        withStatus["spec"] = ["parallelism": 99]
        let statusWrite = try #require(await call(h, "PUT", path + "/j/status", withStatus).json)
        #expect(statusWrite["status"] == ["succeeded": 1])
        #expect(statusWrite[path: ["spec", "parallelism"]] == 1, "a /status write ignores spec")
        #expect(statusWrite[path: ["metadata", "generation"]] == 1)
        // Main resource: status changes are ignored, spec changes bump generation, labels don't.
        var main = statusWrite
        main["status"] = ["succeeded": 7]
        main.set(path: ["metadata", "labels"], to: ["a": "b"])
        let labelsOnly = try #require(await call(h, "PUT", path + "/j", main).json)
        #expect(labelsOnly["status"] == ["succeeded": 1])
        #expect(labelsOnly[path: ["metadata", "generation"]] == 1)
        var specChange = labelsOnly
        specChange["spec"] = ["parallelism": 2]
        let bumped = try #require(await call(h, "PUT", path + "/j", specChange).json)
        #expect(bumped[path: ["metadata", "generation"]] == 2)
        let mergedStatus = await call(h, "PATCH", path + "/j/status", ["status": ["failed": 1]],
                                      contentType: "application/merge-patch+json")
        #expect(mergedStatus.json?["status"] == ["succeeded": 1, "failed": 1])
    }

    @Test func finalizersDelayDeletion() async throws {
        let h = newHandler()
        var body = configMap("f")
        body.set(path: ["metadata", "finalizers"], to: ["mlops.sextant.dev/cleanup"])
        _ = await call(h, "POST", cmPath, body)
        let pending = await call(h, "DELETE", cmPath + "/f")
        #expect(pending.status == 200)
        #expect(pending.json?[path: ["metadata", "deletionTimestamp"]] != nil)
        #expect(await call(h, "GET", cmPath + "/f").status == 200)
        let removed = await call(h, "PATCH", cmPath + "/f", ["metadata": ["finalizers": nil]], contentType: "application/merge-patch+json")
        #expect(removed.status == 200)
        #expect(await call(h, "GET", cmPath + "/f").status == 404)
    }

    @Test func garbageCollectionFollowsOwnerReferences() async throws {
        let h = newHandler()
        let owner = try #require(await call(h, "POST", cmPath, configMap("owner")).json)
        let uid = try #require(owner[path: ["metadata", "uid"]]?.stringValue)
        for name in ["dep1", "dep2"] {
            var dep = configMap(name)
            dep.set(path: ["metadata", "ownerReferences"], to: [["apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": .string(uid)]])
            _ = await call(h, "POST", cmPath, dep)
        }
        var orphanOwner = configMap("owner2")
        orphanOwner = try #require(await call(h, "POST", cmPath, orphanOwner).json)
        var kept = configMap("kept")
        kept.set(path: ["metadata", "ownerReferences"], to: [["apiVersion": "v1", "kind": "ConfigMap", "name": "owner2",
                                                               "uid": orphanOwner[path: ["metadata", "uid"]] ?? ""]])
        _ = await call(h, "POST", cmPath, kept)

        #expect(await call(h, "DELETE", cmPath + "/owner").status == 200)
        #expect(await call(h, "GET", cmPath + "/dep1").status == 404)
        #expect(await call(h, "GET", cmPath + "/dep2").status == 404)
        #expect(await call(h, "DELETE", cmPath + "/owner2?propagationPolicy=Orphan").status == 200)
        let orphan = await call(h, "GET", cmPath + "/kept")
        #expect(orphan.status == 200)
        #expect(orphan.json?[path: ["metadata", "ownerReferences"]] == nil)
    }

    @Test func deletePreconditions() async throws {
        let h = newHandler()
        _ = await call(h, "POST", cmPath, configMap("p"))
        let wrong = await call(h, "DELETE", cmPath + "/p", ["preconditions": ["resourceVersion": "1"]])
        #expect(wrong.status == 409)
        let badPolicy = await call(h, "DELETE", cmPath + "/p?propagationPolicy=Sometimes")
        #expect(badPolicy.status == 400)
    }
}

@Suite struct CollectionTests {
    @Test func deleteCollectionWithSelector() async throws {
        let h = newHandler()
        for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
            _ = await call(h, "POST", cmPath, configMap(name, labels: ["app": .string(app)]))
        }
        let deleted = await call(h, "DELETE", cmPath + "?labelSelector=app%3Dx")
        #expect(deleted.status == 200)
        #expect(deleted.json?["items"]?.arrayValue?.count == 2)
        let left = await call(h, "GET", cmPath).json?["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        #expect(left == ["c"])
    }

    @Test func deletingANamespaceDeletesItsObjects() async throws {
        let h = newHandler()
        _ = await call(h, "POST", "/api/v1/namespaces", ["metadata": ["name": "team"]])
        _ = await call(h, "POST", "/api/v1/namespaces/team/configmaps", configMap("inside"))
        _ = await call(h, "POST", cmPath, configMap("outside"))
        #expect(await call(h, "DELETE", "/api/v1/namespaces/team").status == 200)
        #expect(await call(h, "GET", "/api/v1/namespaces/team/configmaps/inside").status == 404)
        #expect(await call(h, "GET", cmPath + "/outside").status == 200)
    }

    @Test func unsupportedRequestsAreNamed() async throws {
        let h = newHandler()
        let unknownResource = await call(h, "GET", "/api/v1/namespaces/default/widgets")
        #expect(unknownResource.status == 404)
        // pods/log is served now (PodLogs.swift); exec is not, and the 404 names it.
        let subresource = await call(h, "GET", "/api/v1/namespaces/default/pods/p/exec")
        #expect(subresource.status == 404)
        #expect(subresource.json?["message"]?.stringValue?.contains("exec") == true)
        let method = await call(h, "POST", cmPath + "/x")
        #expect(method.status == 405)
        // Protobuf is read (ProtobufTests); an envelope without a kind is a 400 naming it, CBOR a 415.
        let protobuf = await call(h, "POST", cmPath, text: "k8s\0", contentType: "application/vnd.kubernetes.protobuf")
        #expect(protobuf.status == 400)
        #expect(protobuf.json?["message"]?.stringValue?.contains("typeMeta.kind") == true)
        #expect(await call(h, "POST", cmPath, text: "\u{a1}", contentType: "application/cbor").status == 415)
    }
}
