import SextantDevServer
import SextantKube

extension KubeClient {
    /// A client of a test's development API server: quick retries and no client-side rate limit
    /// to speak of, so that timing in the tests is the controllers' own.
    static func forTests(_ server: DevServer, namespace: String) -> KubeClient {
        forTests(ClusterConfig(server: server.baseURL, namespace: namespace))
    }

    /// The same for a configuration loaded from a kubeconfig (TLS, a token).
    static func forTests(_ config: ClusterConfig) -> KubeClient {
        var options = KubeClient.Options()
        options.retryBaseDelay = .milliseconds(20)
        options.retryMaxDelay = .milliseconds(200)
        options.qps = 5000
        options.burst = 5000
        return KubeClient(config: config, options: options)
    }
}
