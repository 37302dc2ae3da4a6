import Foundation
import SextantDevServer
import SextantKube
import SextantTestSupport

/// A development API server with a bearer token and Sextant's three CRDs from `crds/`, and a
/// client through the kubeconfig it wrote (kept in `directory`).
func startServerWithSextantCRDs(token: String) async throws
    -> (server: DevServer, client: KubeClient, kubeconfig: String, directory: TemporaryDirectory) {
    let server = try await DevServer.start(DevServerConfiguration(token: token))
    let directory = try TemporaryDirectory()
    let kubeconfig = directory.file("kubeconfig")
    try server.writeKubeconfig(to: kubeconfig)
    let client = KubeClient(config: try ClusterConfig.load(kubeconfigPath: kubeconfig))
    for plural in ["trainingjobs", "modelversions", "canaryrollouts"] {
        let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.root + "/crds/\(plural).yaml"))
        _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  body: yaml, contentType: "application/yaml")
    }
    return (server, client, kubeconfig, directory)
}
