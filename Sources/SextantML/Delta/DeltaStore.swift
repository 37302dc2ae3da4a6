// Where a Delta table's log and data files are read from: a local directory, or an S3/http
// prefix. Object stores are not listed: commit files are fetched by name from version 0 up until
// the first one that does not exist, which is how the log's contiguous versions are found.
import Foundation
import SextantTransport
#if canImport(Glibc)
import Glibc
#endif

/// A commit file of the log: its version, text and the time it was written (file modification
/// time, the protocol's commit timestamp unless in-commit timestamps are enabled).
struct DeltaCommitFile: Sendable {
    var version: Int
    var text: Data
    /// Milliseconds since the epoch.
    var modifiedMillis: Int64
}

protocol DeltaStore: Sendable {
    /// The table root as named in messages.
    var root: String { get }
    /// Commit files from...through (up to the last one when `through` is nil), in version order.
    /// A local log is listed; an object store is read by name from `from` until one is missing.
    func commits(from: Int, through: Int?) async throws -> [DeltaCommitFile]
    /// Bytes of a data file given by its log path.
    func read(path: String) async throws -> InputBytes
    /// A file of `_delta_log` by name (`_last_checkpoint`, a checkpoint part), nil when it does
    /// not exist.
    func logFile(_ name: String) async throws -> InputBytes?
}

extension DeltaStore {
    /// A data file's location: log paths are URIs relative to the table root, percent-encoded.
    func location(of path: String) -> String {
        if path.contains("://") { return path }
        let decoded = path.removingPercentEncoding ?? path
        return DataSource.join(root, decoded)
    }
}

enum DeltaStores {
    static func open(uri: String, s3: S3Settings) throws -> DeltaStore {
        let trimmed = uri.hasSuffix("/") && uri.count > 1 ? String(uri.dropLast()) : uri
        switch try DataLocation(uri: trimmed) {
        case .file(let path): return LocalDeltaStore(directory: path)
        case .http, .s3: return ObjectDeltaStore(root: trimmed, s3: s3)
        }
    }
}

struct LocalDeltaStore: DeltaStore {
    let directory: String
    var root: String { directory }
    var logDirectory: String { DataSource.join(directory, "_delta_log") }

    func commits(from: Int, through: Int?) async throws -> [DeltaCommitFile] {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw TrainerError.badInput("data: Delta table '\(directory)': cannot open: \(String(cString: strerror(errno)))")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: logDirectory)
        } catch {
            throw TrainerError.badInput("data: Delta table '\(directory)': no _delta_log directory (not a Delta table)")
        }
        let versions = names.compactMap(DeltaLogNames.commitVersion).sorted()
        var out: [DeltaCommitFile] = []
        for v in versions where v >= from {
            if let through, v > through { break }
            let path = DataSource.join(logDirectory, DeltaLogNames.commit(v))
            guard stat(path, &st) == 0 else {
                throw TrainerError.badInput("data: Delta table '\(directory)': cannot stat '\(path)'")
            }
            let millis = Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
            let bytes = try DataSource.mapFile(path)
            out.append(DeltaCommitFile(version: v, text: bytes.withBytes { Data($0) }, modifiedMillis: millis))
        }
        return out
    }

    func read(path: String) async throws -> InputBytes {
        let location = self.location(of: path)
        if location.contains("://") { return try await DataSource.read(uri: location) }
        return try DataSource.mapFile(location)
    }

    func logFile(_ name: String) async throws -> InputBytes? {
        let path = DataSource.join(logDirectory, name)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try DataSource.mapFile(path)
    }
}

struct ObjectDeltaStore: DeltaStore {
    let root: String
    let s3: S3Settings

    func commits(from: Int, through: Int?) async throws -> [DeltaCommitFile] {
        var out: [DeltaCommitFile] = []
        var v = from
        while through.map({ v <= $0 }) ?? true {
            let uri = DataSource.join(root, "_delta_log/" + DeltaLogNames.commit(v))
            guard let response = try await get(uri) else { break }
            let millis = response.headers["Last-Modified"].flatMap(Self.httpDate).map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
            out.append(DeltaCommitFile(version: v, text: response.body, modifiedMillis: millis))
            v += 1
        }
        return out
    }

    func read(path: String) async throws -> InputBytes {
        try await DataSource.read(uri: location(of: path), s3: s3)
    }

    func logFile(_ name: String) async throws -> InputBytes? {
        try await get(DataSource.join(root, "_delta_log/" + name)).map { InputBytes(data: $0.body) }
    }

    /// The object, or nil when it does not exist (404, or 403 from S3 without list permission).
    private func get(_ uri: String) async throws -> HTTPResponse? {
        let request = try RemoteStore.request("GET", uri: uri, body: nil, s3: s3)
        let response: HTTPResponse
        do {
            response = try await HTTPClient.shared.send(request)
        } catch {
            throw TrainerError.io("GET \(uri): \(error)")
        }
        if response.status == 404 || response.status == 403 && uri.hasPrefix("s3://") { return nil }
        guard (200..<300).contains(response.status) else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw TrainerError((400..<500).contains(response.status) ? .badInput : .io, "GET \(uri): HTTP \(response.status) \(detail)")
        }
        return response
    }

    static func httpDate(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: text)
    }
}
