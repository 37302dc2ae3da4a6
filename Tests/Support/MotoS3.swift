import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// moto's S3 server (`pip install 'moto[server]'`, hack/requirements-test.txt) on 127.0.0.1: an
/// S3-compatible store that programs in containers with host networking reach too. Objects are
/// written and read with plain path-style requests (moto does not check signatures).
public final class MotoS3: @unchecked Sendable {
    public let process: TestProcess
    public let port: Int
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_S3` and `endpoint` fields.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public static var executable: String? { Tooling.find("moto_server") }

    /// Starts the server and creates `buckets`.
    public static func start(buckets: [String]) async throws -> MotoS3 {
        guard let moto = executable else { throw TestSetupError("moto_server is not installed (hack/install-deps.sh)") }
        let port = try LocalHTTP.freePort()
        let server = MotoS3(process: try TestProcess(moto, ["-H", "127.0.0.1", "-p", "\(port)"]), port: port)
        let create = Data("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CreateBucketConfiguration>".utf8)
        for bucket in buckets {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                if let answer = try? LocalHTTP.request("PUT", port: port, path: "/\(bucket)", body: create), answer.status == 200 { break }
                guard ContinuousClock.now < deadline, server.process.process.isRunning else {
                    server.stop()
                    throw TestSetupError("moto_server did not create bucket \(bucket) on port \(port): \(server.process.text)")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return server
    }

    private init(process: TestProcess, port: Int) {
        self.process = process
        self.port = port
    }

    /// `s3://bucket/key` → the object's path on this server.
    private func path(_ uri: String) throws -> String {
        guard uri.hasPrefix("s3://") else { throw TestSetupError("not an s3:// URI: \(uri)") }
        return "/" + uri.dropFirst("s3://".count)
    }

    public func put(_ data: Data, to uri: String) throws {
        let answer = try LocalHTTP.request("PUT", port: port, path: try path(uri), body: data)
        guard answer.status == 200 else { throw TestSetupError("PUT \(uri) answered \(answer.status): \(answer.text)") }
    }

    public func get(_ uri: String) throws -> Data {
        let answer = try LocalHTTP.request("GET", port: port, path: try path(uri))
        guard answer.status == 200 else { throw TestSetupError("GET \(uri) answered \(answer.status): \(answer.text)") }
        return answer.body
    }

    /// moto_server (werkzeug) does not always stop on SIGTERM.
    public func stop() {
        if process.process.isRunning { kill(process.process.processIdentifier, SIGKILL) }
        process.stop()
    }

    deinit { stop() }
}
