import ArgumentParser
import SextantKube

/// The connection flags every command that talks to a cluster shares, named as in kubectl.
public struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
    public var kubeconfig: String?

    @Option(name: .long, help: "The kubeconfig context to use (default: its current-context).")
    public var context: String?

    @Option(name: [.short, .long], help: "Namespace (default: the context's namespace).")
    public var namespace: String?

    public init() {}

    public func client() throws -> KubeClient {
        KubeClient(config: try ClusterConfig.load(kubeconfigPath: kubeconfig, context: context))
    }

    public func namespace(for client: KubeClient) -> String { namespace ?? client.defaultNamespace }
}
