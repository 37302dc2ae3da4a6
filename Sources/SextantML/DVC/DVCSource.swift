// Training data named by a DVC pointer: the `.dvc` file or `dvc.lock` at `data.uri` gives the
// object's MD5 and size, the object is read from the DVC remote and checked against both before
// anything is parsed.
import Foundation

struct DVCObject {
    var output: DVCOutput
    var uri: String
    var bytes: InputBytes
}

enum DVCSource {
    static func read(pointer uri: String, spec: TrainingConfig.DVCSpec, s3: S3Settings) async throws -> DVCObject {
        let pointerBytes = try await DataSource.read(uri: uri, s3: s3)
        let text = pointerBytes.withBytes { String(decoding: $0, as: UTF8.self) }
        let output = try DVCPointer.select(try DVCPointer.outputs(yaml: text, name: uri), path: spec.path, name: uri)
        let remote: String
        if let r = spec.remote {
            remote = r
        } else if case .file(let path) = try DataLocation(uri: uri), let r = try repositoryRemote(near: path) {
            remote = r
        } else {
            throw TrainerError.badInput("config: data.dvc.remote is required (no .dvc/config with a default remote found above \(uri))")
        }
        let objectURI = DVCPointer.objectURI(remote: remote, md5: output.md5)
        let bytes: InputBytes
        do {
            bytes = try await DataSource.read(uri: objectURI, s3: s3)
        } catch let e as TrainerError {
            throw TrainerError(e.kind, "data: DVC object of '\(output.path)' (md5 \(output.md5)) cannot be read from remote \(remote) (was it pushed? `dvc push`): \(e.message)")
        }
        if let size = output.size, size != bytes.count {
            throw TrainerError.badInput("data: DVC object \(objectURI) of '\(output.path)' has \(bytes.count) bytes, \(uri) records \(size)")
        }
        let md5 = try bytes.withBytes { try MD5.hex($0) }
        guard md5 == output.md5 else {
            throw TrainerError.badInput("data: DVC object \(objectURI) of '\(output.path)' has md5 \(md5), \(uri) records \(output.md5) (corrupted or replaced in the remote)")
        }
        return DVCObject(output: output, uri: objectURI, bytes: bytes)
    }

    /// The default remote of the DVC repository holding the local pointer file at `path`.
    static func repositoryRemote(near path: String) throws -> String? {
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        while true {
            let dvcDirectory = directory.appendingPathComponent(".dvc")
            let config = dvcDirectory.appendingPathComponent("config")
            if let text = try? String(contentsOf: config, encoding: .utf8) {
                let local = try? String(contentsOf: dvcDirectory.appendingPathComponent("config.local"), encoding: .utf8)
                return DVCPointer.defaultRemote(config: text, local: local, dvcDirectory: dvcDirectory.path)
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return nil }
            directory = parent
        }
    }
}
