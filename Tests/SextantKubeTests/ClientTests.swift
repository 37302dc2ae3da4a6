import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

@Suite("Kubernetes client against a scripted server")
struct ClientTests {
    func client(_ server: FakeAPIServer, auth: ClusterConfig.Authentication = .none) -> KubeClient {
        var options = KubeClient.Options()
        options.retryBaseDelay = .milliseconds(20)
        return KubeClient(config: ClusterConfig(server: server.url, namespace: "default", auth: auth), options: options)
    }

    @Test func typedGetCreateUpdateAndPagination() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        let cm = try await kube.get(ConfigMap.self, name: "settings")
        #expect(cm.metadata.name == "settings")
        #expect(cm.data?["key"] == "value-settings")

        let created = try await kube.create(ConfigMap(metadata: ObjectMeta(name: "new", namespace: "default"),
                                                      data: ["a": "b"]))
        #expect(created.metadata.resourceVersion == "101")
        #expect(created.data == ["a": "b"])

        let all = try await kube.listAll(ResourceDescriptor(ConfigMap.self), namespace: "default", pageSize: 2,
                                         as: ConfigMap.self)
        #expect(all.items.map { $0.metadata.name ?? "" } == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"])
        let limits = try server.requests().filter { ($0["path"] as? String)?.hasSuffix("/configmaps") == true
            && ($0["method"] as? String) == "GET" }
        #expect(limits.count == 3)
    }

    @Test func errorsAreTypedAndCarryTheServerMessage() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        do {
            _ = try await kube.get(ConfigMap.self, name: "missing-one")
            Issue.record("expected NotFound")
        } catch let error as KubeError {
            #expect(error.reason == .notFound)
            #expect("\(error)".contains(#"configmaps "missing-one" not found"#))
        }
        do {
            _ = try await kube.create(ConfigMap(metadata: ObjectMeta(name: "exists", namespace: "default")))
            Issue.record("expected AlreadyExists")
        } catch {
            #expect(error.isKube(.alreadyExists))
        }
        do {
            _ = try await kube.create(ConfigMap(metadata: ObjectMeta(name: "invalid", namespace: "default")))
            Issue.record("expected Invalid")
        } catch let error as KubeError {
            #expect(error.reason == .invalid)
            #expect(error.causes.first?.field == "data.key")
            #expect("\(error)".contains("data.key"))
        }
        var stale = ConfigMap(metadata: ObjectMeta(name: "conflict", namespace: "default"))
        stale.metadata.resourceVersion = "1"
        do {
            _ = try await kube.update(stale)
            Issue.record("expected Conflict")
        } catch {
            #expect(error.isKube(.conflict))
        }
        // A non-Status error body still gives a readable error.
        do {
            _ = try await kube.send(method: "POST", path: "/notstatus")
            Issue.record("expected an error")
        } catch let error as KubeError {
            #expect(error.code == 502)
            #expect("\(error)".contains("bad gateway"))
        }
    }

    @Test func retriesIdempotentRequestsOn5xxAnd429ButNotPosts() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        let body = try await kube.send(method: "GET", path: "/flaky/get")
        #expect(try JSONValue.decode(body)["attempts"]?.intValue == 3)

        await #expect(throws: KubeError.self) { try await kube.send(method: "POST", path: "/flaky/post") }

        let start = ContinuousClock.now
        let limited = try await kube.send(method: "POST", path: "/ratelimited/post")
        #expect(try JSONValue.decode(limited)["attempts"]?.intValue == 2)
        #expect(ContinuousClock.now - start >= .milliseconds(900))  // honoured Retry-After: 1

        var options = KubeClient.Options()
        options.maxAttempts = 3
        options.retryBaseDelay = .milliseconds(10)
        let limitedClient = KubeClient(config: ClusterConfig(server: server.url), options: options)
        await #expect(throws: KubeError.self) { try await limitedClient.send(method: "GET", path: "/always500/x") }
        let attempts = try server.requests().filter { ($0["path"] as? String) == "/always500/x" }.count
        #expect(attempts == 3)
    }

    @Test func patchesSendTheirContentTypeAndFieldManager() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        let merged = try await kube.patch(ConfigMap.self, name: "p", .merge(["data": ["k": "v"]]))
        #expect(merged.metadata.annotations?["patch-type"] == "application/merge-patch+json")
        #expect(merged.metadata.annotations?["patch-body"] == #"{"data":{"k":"v"}}"#)

        let json = try await kube.patch(ConfigMap.self, name: "p", .json([
            ["op": "test", "path": "/metadata/resourceVersion", "value": "7"],
            ["op": "replace", "path": "/data/k", "value": "w"],
        ]))
        #expect(json.metadata.annotations?["patch-type"] == "application/json-patch+json")

        let applied = try await kube.patch(ConfigMap.self, name: "p", .apply(["data": ["k": "v"]],
                                                                          fieldManager: "sextant", force: true))
        #expect(applied.metadata.annotations?["patch-type"] == "application/apply-patch+yaml")
        let query = try JSONValue.decode(Data((applied.metadata.annotations?["query"] ?? "{}").utf8))
        #expect(query["fieldManager"]?.stringValue == "sextant")
        #expect(query["force"]?.stringValue == "true")

        let status = try await kube.patch(ConfigMap.self, name: "p", .merge(["status": ["x": 1]]),
                                          subresource: "status")
        #expect(status.metadata.name == "p")
        let paths = try server.requests().compactMap { $0["path"] as? String }
        #expect(paths.contains("/api/v1/namespaces/default/configmaps/p/status"))
    }

    @Test func deleteSendsPropagationAndPreconditions() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        try await kube.delete(ResourceDescriptor(ConfigMap.self), name: "d", propagationPolicy: .foreground,
                              preconditionUID: "uid-d", preconditionResourceVersion: "9")
        let request = try #require(try server.requests().last { ($0["method"] as? String) == "DELETE" })
        let options = try JSONValue.decode(Data((request["body"] as? String ?? "").utf8))
        #expect(options["propagationPolicy"]?.stringValue == "Foreground")
        #expect(options[path: ["preconditions", "uid"]]?.stringValue == "uid-d")
        #expect(options[path: ["preconditions", "resourceVersion"]]?.stringValue == "9")
    }

    @Test func watchDecodesEventsAndBookmarks() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        var seen: [String] = []
        for try await change in try await kube.watch(ConfigMap.self, namespace: "default") {
            switch change {
            case .added(let cm): seen.append("added \(cm.metadata.resourceVersion ?? "")")
            case .modified(let cm): seen.append("modified \(cm.data?["key"] ?? "")")
            case .deleted(let cm): seen.append("deleted \(cm.metadata.name ?? "")")
            case .bookmark(let rv): seen.append("bookmark \(rv)")
            }
        }
        #expect(seen == ["added 51", "modified changed", "bookmark 60", "deleted a"])
        let watchRequest = try server.requests().last { ($0["path"] as? String)?.hasSuffix("/configmaps") == true }
        let query = try #require(watchRequest?["query"] as? [String: String])
        #expect(query["watch"] == "1")
        #expect(query["allowWatchBookmarks"] == "true")
        #expect(query["timeoutSeconds"] == "300")
    }

    @Test func watchErrorEventWithGoneSurfacesAsExpired() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        let stream = try await kube.watch(ConfigMap.self, namespace: "default",
                                          options: WatchOptions(resourceVersion: "expired"))
        do {
            for try await _ in stream {}
            Issue.record("expected an expired error")
        } catch let error as KubeError {
            #expect(error.reason == .expired)
            #expect(error.code == 410)
        }
    }

    @Test func largeBatchesAreDecodedInOrderAndABadLineStopsTheStreamInPlace() async throws {
        let server = try await FakeAPIServer()
        // All lines arrive at once, so they are decoded in batches shared with the helper thread.
        let stream = try await client(server).watch(ConfigMap.self, namespace: "default",
                                                    options: WatchOptions(fieldSelector: "events=700,broken=530"))
        var versions: [String] = []
        do {
            for try await change in stream {
                if case .modified(let cm) = change { versions.append(cm.metadata.resourceVersion ?? "") }
            }
            Issue.record("expected the line that is not JSON to end the stream with an error")
        } catch let error as KubeConfigError {
            #expect(error.description.contains("undecodable event"))
        }
        #expect(versions == (0..<530).map { String(1000 + $0) })
    }

    @Test func aWholeLargeStreamArrivesInOrder() async throws {
        let server = try await FakeAPIServer()
        let stream = try await client(server).watch(ConfigMap.self, namespace: "default",
                                                    options: WatchOptions(fieldSelector: "events=1500"))
        var names: [String] = []
        for try await change in stream {
            if case .modified(let cm) = change { names.append(cm.metadata.name ?? "") }
        }
        #expect(names == (0..<1500).map { "cm-\($0)" })
    }

    @Test func dynamicObjectsKeepUnknownFields() async throws {
        let server = try await FakeAPIServer()
        let kube = client(server)
        let object = try await kube.get(ResourceDescriptor(ConfigMap.self), name: "dyn", as: DynamicObject.self)
        #expect(object.name == "dyn")
        #expect(object.raw[path: ["data", "key"]]?.stringValue == "value-dyn")
    }

    @Test func discoveryResolvesNamesLikeKubectl() async throws {
        let server = try await FakeAPIServer()
        let discovery = try await client(server).discover()
        #expect(try discovery.resolve("cm").plural == "configmaps")
        #expect(try discovery.resolve("ConfigMap").plural == "configmaps")
        let cro = try discovery.resolve("cro")
        #expect(cro.group == "mlops.sextant.dev")
        #expect(cro.version == "v1alpha1")
        #expect(try discovery.resolve("canaryrollouts.mlops.sextant.dev").kind == "CanaryRollout")
        #expect(try discovery.resolve("ns").namespaced == false)
        #expect(throws: KubeConfigError.self) { try discovery.resolve("widgets") }
    }
}

@Suite("credentials")
struct CredentialTests {
    @Test func execPluginTokenIsCachedUntilExpiryAndRefreshedOn401() async throws {
        let dir = try TemporaryDirectory()
        let counter = dir.file("calls")
        let plugin = dir.file("plugin.sh")
        // Prints a valid token from the second call on, so a 401 forces a refresh.
        try """
            #!/bin/sh
            echo x >> "\(counter)"
            n=$(wc -l < "\(counter)")
            token=wrong; [ "$n" -ge 2 ] && token=secret-token
            [ -n "$KUBERNETES_EXEC_INFO" ] || exit 3
            cat <<JSON
            {"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
             "status":{"token":"$token","expirationTimestamp":"2999-01-01T00:00:00Z"}}
            JSON
            """.write(toFile: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin)
        let server = try await FakeAPIServer(token: "secret-token")
        let exec = Kubeconfig.ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: plugin)
        let kube = KubeClient(config: ClusterConfig(server: server.url, auth: .exec(exec)))
        _ = try await kube.get(ConfigMap.self, name: "a")
        _ = try await kube.get(ConfigMap.self, name: "b")
        let calls = try String(contentsOfFile: counter, encoding: .utf8).split(separator: "\n").count
        #expect(calls == 2)  // once wrong, re-run after the 401, then cached
    }

    @Test func failingExecPluginNamesTheCommand() async throws {
        let server = try await FakeAPIServer(token: "t")
        let exec = Kubeconfig.ExecConfig(command: "/bin/false")
        let kube = KubeClient(config: ClusterConfig(server: server.url, auth: .exec(exec)))
        do {
            _ = try await kube.get(ConfigMap.self, name: "a")
            Issue.record("expected an exec error")
        } catch {
            #expect("\(error)".contains("/bin/false"))
        }
    }

    @Test func tokenFileIsReadAgainWhenItChanges() async throws {
        let dir = try TemporaryDirectory()
        let tokenFile = dir.file("token")
        try "first\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let server = try await FakeAPIServer()
        let kube = KubeClient(config: ClusterConfig(server: server.url, auth: .tokenFile(tokenFile)))
        _ = try await kube.get(ConfigMap.self, name: "a")
        try "second\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)],
                                              ofItemAtPath: tokenFile)
        _ = try await kube.get(ConfigMap.self, name: "b")
        let auths = try server.requests().compactMap { $0["authorization"] as? String }
        #expect(auths == ["Bearer first", "Bearer second"])
    }

    @Test func clientCertificateFromKubeconfigDataReachesAMutualTLSServer() async throws {
        guard try Tooling.available("openssl", Tooling.find("openssl") != nil) else { return }
        let dir = try TemporaryDirectory()
        let certs = try TestCertificates(directory: dir.path)
        let server = try await FakeAPIServer(certificates: certs, requireClientCertificate: true)
        func b64(_ path: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString() }
        let yaml = """
            current-context: t
            clusters: [{name: c, cluster: {server: "\(server.url)", certificate-authority-data: "\(try b64(certs.caCert))"}}]
            users: [{name: u, user: {client-certificate-data: "\(try b64(certs.clientCert))", client-key-data: "\(try b64(certs.clientKey))"}}]
            contexts: [{name: t, context: {cluster: c, user: u, namespace: default}}]
            """
        let kube = KubeClient(config: try ClusterConfig(kubeconfig: try Kubeconfig.parse(yaml)))
        let cm = try await kube.get(ConfigMap.self, name: "tls")
        #expect(cm.metadata.name == "tls")
    }
}
