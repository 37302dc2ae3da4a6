import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// `application/vnd.kubernetes.protobuf` bodies. The peers are real: kubectl sends built-in kinds
/// as protobuf and reads the protobuf answers; Google's Python protobuf runtime decodes the
/// server's answers with the same descriptors; bad bodies are refused without changing anything.
@Suite(.serialized) struct ProtobufTests {
    func kubectl(_ tool: String, _ env: RunningServer, _ args: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
        try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args,
                      environment: environment)
    }

    func object(_ tool: String, _ env: RunningServer, _ args: String...) async throws -> JSONValue {
        let result = try await kubectl(tool, env, ["get", "-o", "json"] + args)
        #expect(result.status == 0, "kubectl get \(args): \(result.stderr)")
        return (try? JSONValue.parse(Array(result.stdout.utf8))) ?? .null
    }

    @Test func kubectlCreatesAndChangesBuiltInKindsThroughProtobufOverTLS() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-pb-\(UUID().uuidString)").path
        let env = try await RunningServer.start(DevServerConfiguration(tlsDirectory: directory))
        defer { Task { await env.stop(); try? FileManager.default.removeItem(atPath: directory) } }
        #expect(env.server.baseURL.hasPrefix("https://"))

        let commands: [[String]] = [
            ["create", "namespace", "demo"],
            ["-n", "demo", "create", "configmap", "x", "--from-literal=a=b"],
            ["-n", "demo", "create", "secret", "generic", "s", "--from-literal=k=v"],
            ["-n", "demo", "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"],
            ["-n", "demo", "create", "job", "once", "--image=busybox", "--", "echo", "hi"],
            ["-n", "demo", "run", "p", "--image=busybox", "--restart=Never", "--labels=app=p", "--", "sleep", "1"],
            ["-n", "demo", "run", "q", "--image=busybox", "--restart=Never", "--dry-run=server"],
            ["-n", "demo", "scale", "deployment", "web", "--replicas=3"],
            ["-n", "demo", "label", "configmap", "x", "tier=db"],
            ["-n", "demo", "annotate", "configmap", "x", "note=hello"],
        ]
        for command in commands {
            // -v=8 logs the headers: the create commands must really have sent protobuf.
            let result = try await kubectl(tool, env, ["-v=8"] + command)
            #expect(result.status == 0, "kubectl \(command.joined(separator: " ")): \(result.stderr.suffix(3000))")
            if command.contains("create") && command.contains("configmap") {
                #expect(result.stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"),
                        "kubectl did not send protobuf: \(result.stderr.suffix(3000))")
            }
        }
        // kubectl edit, non-interactive: the editor rewrites the annotation.
        let edited = try await kubectl(tool, env, ["-n", "demo", "edit", "configmap", "x"],
                                       environment: ["EDITOR": "sed -i -e s/note:\\ hello/note:\\ edited/", "KUBE_EDITOR": ""])
        #expect(edited.status == 0, "kubectl edit: \(edited.stderr)")

        // Read back through JSON: what kubectl meant, and nothing the protobuf zero values add.
        let namespace = try await object(tool, env, "namespace", "demo")
        #expect(namespace[path: ["metadata", "name"]] == "demo")
        let configMap = try await object(tool, env, "-n", "demo", "configmap", "x")
        #expect(configMap["data"] == ["a": "b"])
        #expect(configMap[path: ["metadata", "labels"]] == ["tier": "db"])
        #expect(configMap[path: ["metadata", "annotations", "note"]] == "edited", "\(configMap)")
        let metadataKeys = Set(configMap["metadata"]?.objectValue?.keys.map { $0 } ?? [])
        #expect(metadataKeys.isSubset(of: ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations", "managedFields"]),
                "unexpected metadata \(metadataKeys)")
        let secret = try await object(tool, env, "-n", "demo", "secret", "s")
        #expect(secret["data"] == ["k": "dg=="])
        #expect(secret["type"] == "Opaque")
        let deployment = try await object(tool, env, "-n", "demo", "deployment", "web")
        #expect(deployment[path: ["spec", "replicas"]] == 3)
        #expect(deployment[path: ["spec", "selector", "matchLabels"]] == ["app": "web"])
        let container = deployment[path: ["spec", "template", "spec", "containers"]]?[0]
        #expect(container?["image"] == "nginx:1.27")
        #expect(container?["ports"]?[0]?["containerPort"] == 80)
        let job = try await object(tool, env, "-n", "demo", "job", "once")
        #expect(job[path: ["spec", "template", "spec", "containers"]]?[0]?["command"] == ["echo", "hi"])
        #expect(job[path: ["spec", "template", "spec", "restartPolicy"]] == "Never")
        let pod = try await object(tool, env, "-n", "demo", "pod", "p")
        #expect(pod[path: ["spec", "containers"]]?[0]?["args"] == ["sleep", "1"])
        #expect(pod[path: ["metadata", "labels"]] == ["app": "p"])
        let dryRun = try await kubectl(tool, env, ["-n", "demo", "get", "pod", "q"])
        #expect(dryRun.status != 0 && dryRun.stderr.contains("not found"), "a --dry-run=server pod was stored: \(dryRun.stdout)")
    }

    /// Google's protobuf runtime (Python) reads the server's protobuf answers with the
    /// descriptors the server uses: the envelope, a ConfigMap, a Deployment (IntOrString, Time,
    /// nested messages, maps) and an error Status.
    @Test func googleProtobufDecodesTheServersAnswers() async throws {
        guard let python = requireTool("python3") else { return }
        let handler = newHandler()
        #expect(await call(handler, "POST", "/api/v1/namespaces/default/configmaps",
                           ["metadata": ["name": "cm", "labels": ["l": ""]], "data": ["k": "v"]]).status == 201)
        let deployment: JSONValue = ["metadata": ["name": "web"], "spec": [
            "replicas": 0, "selector": ["matchLabels": ["app": "web"]],
            "strategy": ["rollingUpdate": ["maxSurge": "25%", "maxUnavailable": 1]],
            "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [[
                "name": "c", "image": "nginx", "resources": ["limits": ["cpu": "500m", "memory": "1Gi"]]]]]]]]
        #expect(await call(handler, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment).status == 201)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-pb-py-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let descriptors = try #require(Data(base64Encoded: KubeProtoDescriptors.base64, options: .ignoreUnknownCharacters))
        try descriptors.write(to: directory.appendingPathComponent("set.pb"))
        let accept = "application/vnd.kubernetes.protobuf"
        for (name, path) in [("cm", "/api/v1/namespaces/default/configmaps/cm"), ("deploy", "/apis/apps/v1/namespaces/default/deployments/web"),
                             ("missing", "/api/v1/namespaces/default/configmaps/nope"), ("list", "/api/v1/namespaces/default/configmaps")] {
            let response = await call(handler, "GET", path, accept: accept)
            #expect(response.headers.contains { $0.0 == "Content-Type" && $0.1 == accept }, "\(path)")
            try Data(response.bytes).write(to: directory.appendingPathComponent(name + ".bin"))
        }
        let script = #"""
        import json, sys
        from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
        d = sys.argv[1]
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(d + "/set.pb", "rb").read())
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file: pool.Add(f)
        def cls(name): return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        out = {}
        for name in ["cm", "deploy", "missing", "list"]:
            data = open(d + "/" + name + ".bin", "rb").read()
            assert data[:4] == b"k8s\x00", data[:4]
            env = cls("k8s.io.apimachinery.pkg.runtime.Unknown").FromString(data[4:])
            kind = env.typeMeta.kind
            full = {"ConfigMap": "k8s.io.api.core.v1.ConfigMap", "ConfigMapList": "k8s.io.api.core.v1.ConfigMapList",
                    "Deployment": "k8s.io.api.apps.v1.Deployment", "Status": "k8s.io.apimachinery.pkg.apis.meta.v1.Status"}[kind]
            obj = cls(full).FromString(env.raw)
            out[name] = {"apiVersion": env.typeMeta.apiVersion, "kind": kind, "object": json_format.MessageToDict(obj, preserving_proto_field_name=True)}
        print(json.dumps(out))
        """#
        let result = try await run(python, ["-c", script, directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let decoded = try JSONValue.parse(Array(result.stdout.utf8))
        #expect(decoded[path: ["cm", "kind"]] == "ConfigMap")
        #expect(decoded[path: ["cm", "object", "data"]] == ["k": "v"])
        #expect(decoded[path: ["cm", "object", "metadata", "labels"]] == ["l": ""])
        #expect(decoded[path: ["cm", "object", "metadata", "creationTimestamp", "seconds"]]?.stringValue?.isEmpty == false)
        #expect(decoded[path: ["deploy", "apiVersion"]] == "apps/v1")
        let spec = decoded[path: ["deploy", "object", "spec"]]
        #expect(spec?["replicas"] == 0, "a replicas of 0 must be written: \(spec ?? .null)")
        #expect(spec?[path: ["strategy", "rollingUpdate", "maxSurge"]] == ["type": "1", "strVal": "25%", "intVal": 0])
        #expect(spec?[path: ["strategy", "rollingUpdate", "maxUnavailable", "intVal"]] == 1)
        #expect(spec?[path: ["template", "spec", "containers"]]?[0]?[path: ["resources", "limits", "memory", "string"]] == "1Gi")
        #expect(decoded[path: ["missing", "kind"]] == "Status")
        #expect(decoded[path: ["missing", "object", "code"]] == 404)
        #expect(decoded[path: ["missing", "object", "reason"]] == "NotFound")
        #expect(decoded[path: ["list", "object", "items"]]?[0]?[path: ["metadata", "name"]] == "cm")
    }

    /// Bad bodies: each a 4xx Status naming the problem; the server keeps answering and nothing
    /// stored changes.
    @Test func badProtobufBodiesAreRefusedAndChangeNothing() async throws {
        let handler = newHandler()
        let good = try #require(try KubeProtobuf.encode(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "ok"], "data": ["a": "b"]]))
        var unknownKind = KubeProtobuf.magic
        var typeMeta = WireWriter()
        typeMeta.lengthDelimited(1, Array("v1".utf8))
        typeMeta.lengthDelimited(2, Array("Gadget".utf8))
        var envelope = WireWriter()
        envelope.lengthDelimited(1, typeMeta.bytes)
        envelope.lengthDelimited(2, [])
        unknownKind += envelope.bytes
        var truncated = good
        truncated.removeLast(3)
        var lyingLength = KubeProtobuf.magic
        lyingLength += [0x12, 0xFF, 0xFF, 0x03, 0x0A]  // raw: a length of 65535 with one byte behind it
        var wrongWire = KubeProtobuf.magic
        var raw = WireWriter()
        raw.key(1, .varint)  // ConfigMap.metadata (a message) as a varint
        raw.varint(7)
        var wrapped = WireWriter()
        wrapped.lengthDelimited(1, Array(typeMeta.bytes.prefix(4)) + Array("\u{12}\u{09}ConfigMap".utf8))
        wrapped.lengthDelimited(2, raw.bytes)
        wrongWire += wrapped.bytes
        let cases: [(String, [UInt8], String)] = [
            ("wrong magic", Array("k9s\u{0}".utf8) + good.dropFirst(4), "magic"),
            ("JSON sent as protobuf", Array(#"{"kind":"ConfigMap"}"#.utf8), "magic"),
            ("truncated", truncated, "malformed"),
            ("length past the end", lyingLength, "runs past the end"),
            ("unknown kind", unknownKind, #"no kind "Gadget" is registered for version "v1""#),
            ("metadata as a varint", wrongWire, "metadata: wire type 0"),
            ("a single byte", [0x6B], "magic"),
        ]
        for (name, body, expected) in cases {
            let response = await handler.handle(APIRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                           headers: ["content-type": KubeProtobuf.mediaType], body: body))
            #expect(response.status == 400, "\(name): \(response.status)")
            let message = response.json?["message"]?.stringValue ?? ""
            #expect(message.contains(expected), "\(name): \(message)")
        }
        let listed = await call(handler, "GET", "/api/v1/namespaces/default/configmaps")
        #expect(listed.json?["items"]?.arrayValue?.isEmpty == true, "a refused body stored something")
        // The good body is accepted afterwards: the server kept running.
        let created = await handler.handle(APIRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                      headers: ["content-type": KubeProtobuf.mediaType], body: good))
        #expect(created.status == 201)
        #expect(created.json?["data"] == ["a": "b"])
    }

    @Test func unknownAndUnreadableContentTypesAre415() async throws {
        let handler = newHandler()
        for contentType in ["text/plain", "application/cbor", "application/xml"] {
            let response = await call(handler, "POST", "/api/v1/namespaces/default/configmaps", text: #"{"metadata":{"name":"a"}}"#,
                                      contentType: contentType)
            #expect(response.status == 415, "\(contentType): \(response.status)")
            #expect(response.json?["reason"] == "UnsupportedMediaType")
        }
        // A protobuf PATCH is not a patch type (as upstream).
        let patched = await handler.handle(APIRequest(method: "PATCH", target: "/api/v1/namespaces/default/configmaps/a",
                                                      headers: ["content-type": KubeProtobuf.mediaType], body: KubeProtobuf.magic))
        #expect(patched.status == 415)
        // Only protobuf acceptable and an answer without a protobuf message (/version has no kind): 406.
        #expect(await call(handler, "GET", "/version", accept: KubeProtobuf.mediaType).status == 406)
        // Protobuf first with a JSON fallback: JSON.
        let fallback = await call(handler, "GET", "/version", accept: KubeProtobuf.mediaType + ", application/json")
        #expect(fallback.status == 200 && fallback.json?["major"] == "1")
        // Discovery has a message (meta.k8s.io APIResourceList) and is answered as protobuf.
        let discovery = await call(handler, "GET", "/api/v1", accept: KubeProtobuf.mediaType)
        #expect(discovery.status == 200 && Array(discovery.bytes.prefix(4)) == KubeProtobuf.magic)
        let decoded = try KubeProtobuf.decode(discovery.bytes)
        #expect(decoded["groupVersion"] == "v1")
        #expect(decoded["resources"]?.arrayValue?.contains { $0["name"] == "configmaps" && $0["verbs"]?.arrayValue?.contains("create") == true } == true)
    }
}
