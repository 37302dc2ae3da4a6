import Foundation
import Hummingbird
import ServiceLifecycle
import UnixSignals
import Logging
import SextantJSON

/// Settings of a running development API server.
public struct DevServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; the bound port is reported by `DevServer.port`.
    public var port: Int
    /// When set, objects and the resourceVersion counter survive restarts (a snapshot file).
    public var dataDirectory: String?
    /// When set, every request must carry `Authorization: Bearer <token>`.
    public var token: String?
    public var store: StoreConfiguration
    public var faults: FaultConfiguration
    /// How often watchers that allow bookmarks get one.
    public var bookmarkInterval: Duration
    /// Install SIGINT/SIGTERM handlers for graceful shutdown (the CLI; not in tests).
    public var handleSignals: Bool
    /// Serve HTTPS with a generated CA (kept in this directory; the kubeconfig carries the CA).
    /// nil serves plain HTTP.
    public var tlsDirectory: String?
    /// `.rbac` evaluates the stored RBAC objects for every request; the kubeconfig's admin then
    /// authenticates with a token (generated when `token` is nil), which is in `system:masters`.
    public var authorization: AuthorizationMode

    public init(host: String = "127.0.0.1", port: Int = 0, dataDirectory: String? = nil, token: String? = nil,
                store: StoreConfiguration = StoreConfiguration(), faults: FaultConfiguration = FaultConfiguration(),
                bookmarkInterval: Duration = .seconds(5), handleSignals: Bool = false, tlsDirectory: String? = nil,
                authorization: AuthorizationMode = .alwaysAllow) {
        self.tlsDirectory = tlsDirectory
        self.authorization = authorization
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.token = token
        self.store = store
        self.faults = faults
        self.bookmarkInterval = bookmarkInterval
        self.handleSignals = handleSignals
    }
}

/// Adapts Hummingbird requests to `DevAPIHandler` and streams watch responses chunk by chunk.
struct DevResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let handler: DevAPIHandler

    func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: DevAPIHandler.maxBodyBytes + 1)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let apiRequest = APIRequest(
            method: request.method.rawValue,
            path: request.uri.path.removingPercentEncoding ?? request.uri.path,
            query: request.uri.query.map(APIRequest.parseQuery) ?? [:],
            headers: headers, body: Array(buffer: body))
        let response = await handler.handle(apiRequest)
        var fields = HTTPFields()
        for (name, value) in response.headers where name.lowercased() != "transfer-encoding" {
            if let fieldName = HTTPFields.Element.Name(name) { fields.append(HTTPFields.Element(name: fieldName, value: value)) }
        }
        let status = HTTPResponse.Status(code: response.status)
        switch response.body {
        case .bytes(let bytes):
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .stream(let stream, let watchID, let timeout):
            let store = handler.store
            return Response(status: status, headers: fields, body: ResponseBody { writer in
                // The watch ends when the stream ends (store closed it), the timeout passes, or
                // the client goes away (write throws); in every case the watcher is removed.
                let timer = timeout.map { timeout in
                    Task {
                        try await Task.sleep(for: timeout)
                        await store.stopWatch(watchID)
                    }
                }
                defer { timer?.cancel() }
                do {
                    for await batch in stream {
                        try await writer.write(ByteBuffer(bytes: batch))
                    }
                } catch {
                    await store.stopWatch(watchID)
                    throw error
                }
                await store.stopWatch(watchID)
                try await writer.finish(nil)
            })
        }
    }
}

/// A running development API server: HTTP listener, bookmark ticker and snapshot writer.
public final class DevServer: Sendable {
    public let handler: DevAPIHandler
    public let configuration: DevServerConfiguration
    public let port: Int
    /// The certificates when serving HTTPS.
    public let certificates: DevCertificates?
    private let terminator: TLSTerminator?
    private let tasks: [Task<Void, Never>]
    private let serverTask: Task<Void, Error>

    public var store: ObjectStore { handler.store }
    public var baseURL: String { "\(certificates == nil ? "http" : "https")://\(configuration.host):\(port)" }

    private init(handler: DevAPIHandler, configuration: DevServerConfiguration, port: Int, certificates: DevCertificates?,
                 terminator: TLSTerminator?, serverTask: Task<Void, Error>, tasks: [Task<Void, Never>]) {
        self.handler = handler
        self.configuration = configuration
        self.port = port
        self.certificates = certificates
        self.terminator = terminator
        self.serverTask = serverTask
        self.tasks = tasks
    }

    static let snapshotFile = "sextant-dev-store.json"

    /// Starts listening; returns once the port is bound.
    public static func start(_ configuration: DevServerConfiguration, logger: Logger? = nil) async throws -> DevServer {
        let store = ObjectStore(configuration: configuration.store)
        if let directory = configuration.dataDirectory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let file = URL(fileURLWithPath: directory).appendingPathComponent(snapshotFile)
            if let data = FileManager.default.contents(atPath: file.path) {
                do {
                    try await store.restore(Array(data))
                } catch {
                    throw DevServerError("cannot restore \(file.path): \(error)")
                }
            }
        }
        var adjusted = configuration
        if adjusted.authorization == .rbac && adjusted.token == nil {
            // The admin needs a credential the server checks (client certificates are not verified).
            adjusted.token = UUID().uuidString.lowercased()
        }
        let configuration = adjusted
        let handler = DevAPIHandler(store: store, faults: configuration.faults, token: configuration.token,
                                    authorization: configuration.authorization, tokenKeyDirectory: configuration.dataDirectory)
        var log = logger ?? Logger(label: "sextant.dev.apiserver")
        if logger == nil { log.logLevel = .critical }
        let (ports, portContinuation) = AsyncStream<Result<Int, any Error>>.makeStream()
        // With TLS the HTTP listener moves to a free loopback port behind the TLS terminator.
        let tls = configuration.tlsDirectory != nil
        let app = Application(
            responder: DevResponder(handler: handler),
            configuration: ApplicationConfiguration(address: tls ? .hostname("127.0.0.1", port: 0)
                                                        : .hostname(configuration.host, port: configuration.port),
                                                    serverName: "sextant-dev-apiserver"),
            onServerRunning: { channel in
                portContinuation.yield(.success(channel.localAddress?.port ?? configuration.port))
            },
            logger: log)
        let signals: [UnixSignal] = configuration.handleSignals ? [.sigterm, .sigint] : []
        // Services shut down in reverse order: open watches are closed first, otherwise the HTTP
        // server's graceful shutdown would wait for them until their timeouts.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app, WatchCloser(store: store)], gracefulShutdownSignals: signals, logger: log))
        let serverTask = Task {
            do {
                try await group.run()
                portContinuation.yield(.failure(DevServerError("server stopped")))
            } catch {
                portContinuation.yield(.failure(error))
                throw error
            }
        }
        var port: Int?
        for await result in ports {
            port = try result.get()
            break
        }
        guard var port else { throw DevServerError("the server did not start") }
        var certificates: DevCertificates?
        var terminator: TLSTerminator?
        if let directory = configuration.tlsDirectory {
            do {
                let made = try DevCertificates.ensure(in: directory, host: configuration.host)
                terminator = try TLSTerminator(host: configuration.host, port: configuration.port,
                                               certificateFile: made.certificateFile, keyFile: made.keyFile, backendPort: port)
                certificates = made
            } catch {
                serverTask.cancel()
                _ = try? await serverTask.value
                throw error
            }
            port = terminator?.port ?? port
        }
        var tasks: [Task<Void, Never>] = []
        let interval = configuration.bookmarkInterval
        tasks.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await store.sendBookmarks()
            }
        })
        if let directory = configuration.dataDirectory {
            tasks.append(Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    await Self.flush(store, directory: directory, logger: log)
                }
            })
        }
        return DevServer(handler: handler, configuration: configuration, port: port, certificates: certificates,
                         terminator: terminator, serverTask: serverTask, tasks: tasks)
    }

    static func flush(_ store: ObjectStore, directory: String, logger: Logger) async {
        guard let bytes = await store.snapshotIfDirty() else { return }
        let file = URL(fileURLWithPath: directory).appendingPathComponent(snapshotFile)
        do {
            // Atomic: a crash mid-write never leaves a half-written snapshot.
            try Data(bytes).write(to: file, options: .atomic)
        } catch {
            logger.error("cannot write snapshot \(file.path): \(error)")
        }
    }

    /// Waits until the server stops (signal or `stop()`).
    public func wait() async throws {
        try await serverTask.value
    }

    /// Closes all watches, writes the last snapshot and stops listening.
    public func stop() async {
        _ = await store.dropAllWatches()
        for task in tasks { task.cancel() }
        // The periodic flush may be writing an older snapshot right now; it must finish before the
        // last one, or it overwrites it (a restart then lost the newest objects).
        for task in tasks { await task.value }
        if let directory = configuration.dataDirectory {
            await Self.flush(store, directory: directory, logger: Logger(label: "sextant.dev.apiserver"))
        }
        terminator?.stop()
        serverTask.cancel()
        _ = try? await serverTask.value
    }

    /// A kubeconfig that kubectl, the Python client and Sextant's client use unchanged.
    public func kubeconfig(namespace: String = "default") -> String {
        var user = "  user: {}\n"
        if let token = configuration.token {
            user = "  user:\n    token: \"\(token)\"\n"
        } else if let certificates, let cert = try? certificates.clientCertificateData(),
                  let key = try? certificates.clientKeyData() {
            user = "  user:\n    client-certificate-data: \(cert)\n    client-key-data: \(key)\n"
        }
        var authority = ""
        if let data = try? certificates?.caData() { authority = "\n    certificate-authority-data: \(data)" }
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: sextant-dev
          cluster:
            server: \(baseURL)\(authority)
        users:
        - name: sextant-dev
        \(user)contexts:
        - name: sextant-dev
          context:
            cluster: sextant-dev
            user: sextant-dev
            namespace: \(namespace)
        current-context: sextant-dev

        """
    }

    public func writeKubeconfig(to path: String) throws {
        try Data(kubeconfig().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

public struct DevServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Ends every watch stream when graceful shutdown starts (SIGINT/SIGTERM).
struct WatchCloser: Service {
    let store: ObjectStore

    func run() async throws {
        try? await gracefulShutdown()
        _ = await store.closeWatchesForShutdown()
    }
}
