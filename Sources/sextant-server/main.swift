// sextant-server: serves one model version over KServe V1 and Open Inference Protocol V2.
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SextantServing
import SextantServingGRPC
import SextantRevision
import SextantVersion
import ServiceLifecycle

// Call the async entry point explicitly: a top-level `await SextantServer.main()` picks the
// synchronous overload of ParsableCommand.
func runAsync<Command: AsyncParsableCommand>(_ command: Command.Type) async { await command.main() }
await runAsync(SextantServer.self)


struct SextantServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sextant-server",
        abstract: "Serve one model version (Sextant artifact or XGBoost JSON) with KServe V1 / Open Inference V2.",
        version: SextantVersion.description)

    @Option(help: "Model location: a path, file://, http(s):// or s3:// URI.")
    var modelUri: String
    @Option(help: "Model name used in the protocol paths (/v1/models/NAME, /v2/models/NAME).")
    var modelName: String
    @Option(help: "Model version reported in responses and metrics labels.")
    var modelVersion: String = "1"
    @Option(help: "Expected sha256 of the model file; loading fails on a mismatch.")
    var modelSha256: String?
    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen: String = "0.0.0.0:8080"
    @Option(help: "Port of the Open Inference Protocol gRPC service on the --listen host: default 8081 (KServe's), or a free port when --listen has port 0; 0 picks a free port, -1 turns gRPC off.")
    var grpcPort: Int?
    @Option(help: "Largest accepted request body in bytes; larger requests get 413 (gRPC: RESOURCE_EXHAUSTED).")
    var maxBodyBytes: Int = 8 << 20
    @Option(help: "Rows in the sliding window for feature drift (PSI, KS).")
    var driftWindow: Int = 1000
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard !modelName.isEmpty, !modelName.contains("/"), !modelName.contains(":") else {
            throw ValidationError("--model-name must be non-empty and contain neither '/' nor ':'")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        guard driftWindow > 0 else { throw ValidationError("--drift-window must be positive") }
        guard grpcPort.map({ (-1...65535).contains($0) }) ?? true else { throw ValidationError("--grpc-port must be a port from 0 to 65535, or -1 to turn gRPC off") }
        _ = try parseListen()
    }

    func parseListen() throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw ValidationError("--listen '\(listen)': expected HOST:PORT with a port from 0 to 65535")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    func run() async throws {
        var logger = Logger(label: "sextant-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let (host, port) = try parseListen()
        let state = ServingState(name: modelName, version: modelVersion, maxBodyBytes: maxBodyBytes)
        let app = InferenceServer.application(state: state, host: host, port: port, logger: logger) { host, port in
            // A machine-readable line for scripts and tests that start the server on port 0.
            FileHandle.standardOutput.write(Data("listening on \(host):\(port)\n".utf8))
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
        let grpcPort = self.grpcPort ?? (port == 0 ? 0 : 8081)
        if grpcPort >= 0 {
            let grpc = InferenceGRPCServer(state: state, host: host, port: grpcPort, logger: logger) { host, port in
                FileHandle.standardOutput.write(Data("grpc listening on \(host):\(port)\n".utf8))
            }
            services.append(.init(service: grpc))
        }
        let loader = ModelLoader(state: state, uri: modelUri, sha256: modelSha256, driftWindow: driftWindow, logger: logger)
        // The server starts first so liveness answers while a large model downloads; readiness
        // turns true once the loader installs the model. A load failure stops the process.
        let group = ServiceGroup(configuration: .init(
            services: services + [
                .init(service: loader, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

struct ModelLoader: Service {
    let state: ServingState
    let uri: String
    let sha256: String?
    let driftWindow: Int
    let logger: Logger

    func run() async throws {
        do {
            try await state.load(uri: uri, sha256: sha256, driftWindow: driftWindow, logger: logger)
        } catch {
            logger.critical("cannot load model: \(error)")
            // Exit at once: nothing was served, so there is nothing to drain, and a graceful stop
            // can race the gRPC server's start and leave the process serving forever (seen as a
            // Pod that never restarts). The kubelet sees exit code 1 and restarts the container.
            exit(1)
        }
    }
}
