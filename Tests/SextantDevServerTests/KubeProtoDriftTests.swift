import Foundation
@testable import SextantDevServer
import Testing

/// The committed descriptor set (`KubeProtoDescriptors.swift`) covers every built-in kind the
/// server serves, and is what `hack/gen-kube-proto.sh` makes of the upstream .proto files.
struct KubeProtoSchemaTests {
    @Test func everyBuiltInKindHasAMessage() {
        let schema = ProtoSchema.kubernetes
        #expect(schema.messages.count > 300, "the embedded descriptor set did not load")
        for type in BuiltinResources.all where type.group != "apiextensions.k8s.io" {
            #expect(schema.message(apiVersion: type.groupVersion, kind: type.kind) != nil, "\(type.groupVersion) \(type.kind)")
            #expect(schema.message(apiVersion: type.groupVersion, kind: type.kind + "List") != nil, "\(type.groupVersion) \(type.kind)List")
        }
        for kind in ["Status", "DeleteOptions"] {
            #expect(schema.message(apiVersion: "v1", kind: kind) != nil)
            #expect(schema.message(apiVersion: "meta.k8s.io/v1", kind: kind) != nil)
        }
    }
}

/// Where the upstream .proto files are beside the repository (`../shared/fixtures`, in CI), the
/// committed set must equal what the script generates from them. Without them (a user's clone)
/// the suite is skipped and says why, like `LocalCRDCrossCheckTests`.
enum UpstreamProto {
    static let directory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/kubernetes-proto")
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: UpstreamProto.directory.path),
                "the upstream Kubernetes .proto files are not beside the repository: nothing to check KubeProtoDescriptors.swift against"))
struct KubeProtoDriftTests {
    @Test func committedDescriptorsMatchTheProtoFiles() async throws {
        guard requireTool("protoc") != nil, let bash = requireTool("bash") else { return }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kube-proto-\(UUID().uuidString).swift")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try await run(bash, [packageRoot.appendingPathComponent("hack/gen-kube-proto.sh").path, UpstreamProto.directory.path, output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let generated = try String(contentsOf: output, encoding: .utf8)
        let committed = try String(contentsOf: packageRoot.appendingPathComponent("Sources/SextantDevServer/Protobuf/KubeProtoDescriptors.swift"),
                                   encoding: .utf8)
        #expect(generated == committed, "Sources/SextantDevServer/Protobuf/KubeProtoDescriptors.swift is stale: run hack/gen-kube-proto.sh")
    }
}
