import Foundation
import Testing
@testable import SextantML

/// S3 input and output against moto's S3 server (`pip install 'moto[server]'`) on 127.0.0.1.
@Suite struct S3Tests {
    static func freePort() -> Int {
        // Ask the kernel for a free port, then release it for the server.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func findMoto() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return paths.map { "\($0)/moto_server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func trainsFromAndWritesToS3() async throws {
        guard let moto = Self.findMoto() else {
            Issue.record("moto_server is required but not installed (hack/install-deps.sh: pip install 'moto[server]')")
            return
        }
        let port = Self.freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: moto)
        server.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // moto_server (werkzeug) does not always stop on SIGTERM; SIGKILL it.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let s3 = S3Settings(region: "us-east-1", accessKeyID: "testing", secretAccessKey: "testing", endpoint: "http://127.0.0.1:\(port)")

        // Wait for the server, then create the bucket (PUT on the bucket path with an empty
        // CreateBucketConfiguration, i.e. the default region).
        let create = Data("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CreateBucketConfiguration>".utf8)
        var ready = false
        for _ in 0..<100 {
            do { try await DataSource.write(create, to: "s3://models/", s3: s3); ready = true; break } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try #require(ready, "moto_server did not start on port \(port)")

        let dir = try makeTempDir()
        let local = try EndToEndTests.writeData(dir, rows: 1_000)
        let bytes = try Data(contentsOf: local)
        try await DataSource.write(bytes, to: "s3://models/data/train set.csv", s3: s3)
        let back = try await DataSource.read(uri: "s3://models/data/train set.csv", s3: s3)
        #expect(back.count == bytes.count)

        var cfg = try TrainingConfig.parse(yaml: EndToEndTests.config(data: local, out: dir))
        cfg.data.uri = "s3://models/data/train set.csv"
        cfg.data.sha256 = try SHA256.hex(bytes)
        cfg.output = .init(uri: "s3://models/e2e/v1")
        cfg.hyperparameters?.folds = nil
        let outcome = try await Trainer.run(cfg, s3: s3)
        #expect(outcome.summary.status == .succeeded, "\(outcome.summary.message ?? "")")
        #expect(outcome.summary.artifact?.uri == "s3://models/e2e/v1/model.json")
        let artifact = try await DataSource.read(uri: "s3://models/e2e/v1/model.json", s3: s3)
        let model = try artifact.withBytes { try ModelArtifact.load(data: Data($0)) }
        #expect(model.data?.sha256 == cfg.data.sha256)

        // A missing object is bad input naming the uri and the status.
        do {
            _ = try await DataSource.read(uri: "s3://models/nope.csv", s3: s3)
            Issue.record("expected an error")
        } catch let e as TrainerError {
            #expect(e.kind == .badInput && e.message.contains("s3://models/nope.csv") && e.message.contains("404"))
        }
    }
}
