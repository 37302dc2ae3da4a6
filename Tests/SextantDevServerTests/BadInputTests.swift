import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// Issue 15's bad input: a malformed protobuf body, a wrong magic, an unknown kind in
/// `runtime.Unknown`, a token for another namespace. Each is a 4xx `Status` naming what was wrong,
/// the server keeps answering, and nothing stored changes: the store's revision is the same and
/// its snapshot is not even dirty (every write marks it).
struct BadInputTests {
    static let adminToken = "admin-secret"

    func request(_ handler: DevAPIHandler, _ method: String, _ target: String, body: [UInt8] = [],
                 contentType: String = "application/json", token: String? = adminToken) async -> APIResponse {
        var headers = ["content-type": contentType]
        if let token { headers["authorization"] = "Bearer " + token }
        return await handler.handle(APIRequest(method: method, target: target, headers: headers, body: body))
    }

    func json(_ value: JSONValue) -> [UInt8] { value.serialized() }

    /// Runs `bad`, then checks the store did not change at all.
    func expectNothingStored(_ store: ObjectStore, _ what: String, _ bad: () async -> Void) async {
        _ = await store.snapshotIfDirty()  // clears the dirty mark
        let revision = await store.currentRevision()
        await bad()
        #expect(await store.currentRevision() == revision, "\(what) changed the resourceVersion counter")
        #expect(await store.snapshotIfDirty() == nil, "\(what) changed a stored object")
    }

    /// A Unknown envelope with the given typeMeta and raw bytes.
    static func envelope(apiVersion: String, kind: String, raw: [UInt8]) -> [UInt8] {
        var typeMeta = WireWriter()
        typeMeta.lengthDelimited(1, Array(apiVersion.utf8))
        typeMeta.lengthDelimited(2, Array(kind.utf8))
        var unknown = WireWriter()
        unknown.lengthDelimited(1, typeMeta.bytes)
        unknown.lengthDelimited(2, raw)
        return KubeProtobuf.magic + unknown.bytes
    }

    @Test func badProtobufOnCreateUpdateAndDeleteIsA400AndStoresNothing() async throws {
        let handler = DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration()), token: Self.adminToken)
        let store = handler.store
        let original: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "kept"], "data": ["a": "b"]]
        #expect(await request(handler, "POST", "/api/v1/namespaces/default/configmaps", body: json(original)).status == 201)
        var changed = original
        changed["data"] = ["a": "changed"]
        let good = try #require(try KubeProtobuf.encode(changed))
        var truncated = good
        truncated.removeLast(3)
        // ConfigMap.data (field 2, a map entry message) written as a fixed64.
        var wrongWire = WireWriter()
        wrongWire.key(2, .fixed64)
        wrongWire.bytes += Array(repeating: 0, count: 8)
        let cases: [(String, [UInt8], String)] = [
            ("wrong magic", Array("k8s\u{1}".utf8) + good.dropFirst(4), "magic"),
            ("no magic at all (JSON)", json(changed), "magic"),
            ("malformed: truncated", truncated, "malformed"),
            ("malformed: a length past the end", KubeProtobuf.magic + [0x12, 0xFF, 0xFF, 0x03, 0x0A], "runs past the end"),
            ("malformed: a wire type that does not fit", Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: wrongWire.bytes),
             "wire type 1"),
            ("unknown kind", Self.envelope(apiVersion: "v1", kind: "Gadget", raw: []), #"no kind "Gadget" is registered for version "v1""#),
            ("unknown group version", Self.envelope(apiVersion: "gadgets.example.com/v9", kind: "ConfigMap", raw: []),
             #"no kind "ConfigMap" is registered for version "gadgets.example.com/v9""#),
            ("invalid UTF-8 in a string", Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: [0x0A, 0x04, 0x0A, 0x02, 0xC3, 0x28]),
             "UTF-8"),
        ]
        for (method, target) in [("POST", "/api/v1/namespaces/default/configmaps"),
                                 ("PUT", "/api/v1/namespaces/default/configmaps/kept"),
                                 ("DELETE", "/api/v1/namespaces/default/configmaps/kept")] {
            for (name, body, expected) in cases {
                await expectNothingStored(store, "\(method) with \(name)") {
                    let response = await request(handler, method, target, body: body, contentType: KubeProtobuf.mediaType)
                    #expect(response.status == 400, "\(method) \(name): \(response.status) \(response.json ?? .null)")
                    #expect(response.json?["kind"] == "Status" && response.json?["reason"] == "BadRequest", "\(method) \(name)")
                    let message = response.json?["message"]?.stringValue ?? ""
                    #expect(message.contains(expected), "\(method) \(name): \(message)")
                }
            }
        }
        // The server keeps answering, and the stored object is the original.
        let read = await request(handler, "GET", "/api/v1/namespaces/default/configmaps/kept")
        #expect(read.status == 200 && read.json?["data"] == ["a": "b"])
        // The good protobuf body is accepted afterwards.
        let updated = await request(handler, "PUT", "/api/v1/namespaces/default/configmaps/kept", body: good,
                                    contentType: KubeProtobuf.mediaType)
        #expect(updated.status == 200 && updated.json?["data"] == ["a": "changed"], "\(updated.json ?? .null)")
    }

    /// A ServiceAccount bound in namespace `team-a` can write there; its token in namespace
    /// `team-b` (create, update, delete, a token for b's account), or a token whose namespace was
    /// edited, changes nothing: 403 naming user, verb, resource and namespace, or 401.
    @Test func aTokenForAnotherNamespaceIsRefusedAndStoresNothing() async throws {
        let handler = DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration()), token: Self.adminToken, authorization: .rbac)
        let store = handler.store
        for namespace in ["team-a", "team-b"] {
            #expect(await request(handler, "POST", "/api/v1/namespaces",
                                  body: json(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])).status == 201)
            #expect(await request(handler, "POST", "/api/v1/namespaces/\(namespace)/serviceaccounts",
                                  body: json(["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "ctl"]])).status == 201)
            #expect(await request(handler, "POST", "/api/v1/namespaces/\(namespace)/configmaps",
                                  body: json(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "cfg"], "data": ["a": "b"]])).status == 201)
        }
        let role: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "writer"],
                               "rules": [["apiGroups": [""], "resources": ["configmaps", "serviceaccounts/token"],
                                          "verbs": ["get", "create", "update", "delete"]]]]
        let binding: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "writer"],
                                  "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "writer"],
                                  "subjects": [["kind": "ServiceAccount", "name": "ctl", "namespace": "team-a"]]]
        #expect(await request(handler, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles", body: json(role)).status == 201)
        #expect(await request(handler, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings",
                              body: json(binding)).status == 201)
        let issued = await request(handler, "POST", "/api/v1/namespaces/team-a/serviceaccounts/ctl/token",
                                   body: json(["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": [:]]))
        let token = try #require(issued.json?[path: ["status", "token"]]?.stringValue)

        // In its own namespace the token works (so the refusals below are about the namespace).
        #expect(await request(handler, "GET", "/api/v1/namespaces/team-a/configmaps/cfg", token: token).status == 200)

        let user = "system:serviceaccount:team-a:ctl"
        let changed = json(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "cfg"], "data": ["a": "changed"]])
        let refused: [(String, String, [UInt8], String)] = [
            ("POST", "/api/v1/namespaces/team-b/configmaps",
             json(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "new"]]), "create"),
            ("PUT", "/api/v1/namespaces/team-b/configmaps/cfg", changed, "update"),
            ("DELETE", "/api/v1/namespaces/team-b/configmaps/cfg", [], "delete"),
            ("POST", "/api/v1/namespaces/team-b/serviceaccounts/ctl/token",
             json(["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": [:]]), "create"),
        ]
        for (method, target, body, verb) in refused {
            await expectNothingStored(store, "\(method) \(target) with team-a's token") {
                let response = await request(handler, method, target, body: body, token: token)
                #expect(response.status == 403, "\(method) \(target): \(response.status)")
                #expect(response.json?["reason"] == "Forbidden")
                let message = response.json?["message"]?.stringValue ?? ""
                #expect(message.contains(#"User "\#(user)" cannot \#(verb) resource"#) && message.contains(#"in the namespace "team-b""#),
                        "\(method) \(target): \(message)")
            }
        }

        // The token with its namespace claim edited to team-b: the signature no longer matches, 401.
        let parts = token.split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let claims = String(decoding: try #require(Data(base64Encoded: payload)), as: UTF8.self)
        #expect(claims.contains("team-a"))
        let edited = Data(claims.replacingOccurrences(of: "team-a", with: "team-b").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let forged = [parts[0], edited, parts[2]].joined(separator: ".")
        await expectNothingStored(store, "a token whose namespace was edited") {
            let response = await request(handler, "PUT", "/api/v1/namespaces/team-b/configmaps/cfg", body: changed, token: forged)
            #expect(response.status == 401 && response.json?["reason"] == "Unauthorized", "\(response.status)")
        }

        // Nothing in team-b changed, and the server keeps answering both users.
        let kept = await request(handler, "GET", "/api/v1/namespaces/team-b/configmaps/cfg")
        #expect(kept.status == 200 && kept.json?["data"] == ["a": "b"])
        #expect(await request(handler, "GET", "/api/v1/namespaces/team-b/configmaps/new").status == 404)
        #expect(await request(handler, "GET", "/api/v1/namespaces/team-a/configmaps/cfg", token: token).status == 200)
        // The authorizer's log names each refusal.
        let denied = handler.authorizationDecisions().map(\.decision).filter { !$0.allowed && $0.user == user }
        #expect(Set(denied.map { "\($0.verb) \($0.ruleResource) \($0.namespace)" })
            == ["create configmaps team-b", "update configmaps team-b", "delete configmaps team-b",
                "create serviceaccounts/token team-b"], "\(denied)")
        // The same through the admin endpoint; the ServiceAccount may not read it.
        let endpoint = await request(handler, "GET", "/sextant-dev/authorizations")
        let listed = endpoint.json?["decisions"]?.arrayValue ?? []
        #expect(listed.contains { $0["user"]?.stringValue == user && $0["allowed"] == false && $0["verb"] == "delete"
                    && $0["resource"] == "configmaps" && $0["namespace"] == "team-b" && $0["count"] == 1 }, "\(listed)")
        #expect(listed.contains { $0["user"]?.stringValue == user && $0["allowed"] == true && $0["verb"] == "get" })
        #expect(await request(handler, "GET", "/sextant-dev/authorizations", token: token).status == 403)
    }
}
