// The gRPC listener of sextant-server (`--grpc-port`, 8081 like KServe's): a ServiceLifecycle
// service beside the HTTP application, over the same `ServingState`.
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SextantServing
import ServiceLifecycle

public struct InferenceGRPCServer: Service {
    let state: ServingState
    let host: String
    let port: Int
    let logger: Logger
    let onRunning: @Sendable (String, Int) async -> Void

    /// `onRunning` gets the bound address (useful with port 0).
    public init(state: ServingState, host: String, port: Int, logger: Logger,
                onRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) {
        self.state = state
        self.host = host
        self.port = port
        self.logger = logger
        self.onRunning = onRunning
    }

    public func run() async throws {
        let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        // The same request size limit as HTTP's --max-body-bytes.
        let transport = HTTP2ServerTransport.Posix(
            address: address, transportSecurity: .plaintext,
            config: .defaults { $0.rpc.maxRequestPayloadSize = state.maxBodyBytes })
        let server = GRPCServer(transport: transport, services: [InferenceGRPCService(state: state)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                let bound = try await transport.listeningAddress
                let (h, p) = bound.ipv4.map { ($0.host, $0.port) } ?? bound.ipv6.map { ($0.host, $0.port) } ?? (host, port)
                logger.info("gRPC listening", metadata: ["address": "\(h):\(p)"])
                await onRunning(h, p)
                // A shutdown asked for before `serve()` was running (a model that fails to load at
                // once) is lost on the server, which would then serve forever: wait for it here and
                // pass it on, whenever it came.
                try? await gracefulShutdown()
                server.beginGracefulShutdown()
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
