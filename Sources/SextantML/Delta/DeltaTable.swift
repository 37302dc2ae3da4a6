// A Delta Lake table as training data: resolve the snapshot (latest, `version: N` or
// `timestamp: T`, Delta's versionAsOf / timestampAsOf), read its Parquet files with the Parquet
// reader, and join them into one table: partition values become columns, columns a file lacks
// (added later by schema evolution) are nulls. The lineage names the version and every file with
// its size and SHA-256, and a digest over that list identifies the data.
import Foundation

/// Which snapshot to read.
public enum DeltaVersionSelector: Sendable, Equatable {
    case latest
    case version(Int)
    /// Milliseconds since the epoch: the last version committed at or before it.
    case timestamp(Int64, text: String)
}

/// One data file as recorded in the lineage.
public struct DataFileRecord: Codable, Sendable, Equatable {
    public var path: String
    public var size: Int
    public var sha256: String
}

/// A resolved snapshot with the bytes of its files.
struct DeltaRead {
    var snapshot: DeltaSnapshot
    var bytes: [InputBytes]
    var records: [DataFileRecord]
    /// SHA-256 over the lines `<path>\t<size>\t<sha256>\n` of the files in snapshot order.
    var digest: String
    var totalBytes: Int { records.reduce(0) { $0 + $1.size } }
}

public enum DeltaTable {
    /// Parses `version` / `timestamp` of a data spec.
    public static func selector(version: String?, timestamp: String?) throws -> DeltaVersionSelector {
        if let version, timestamp != nil {
            throw TrainerError.badInput("config: data.version (\(version)) and data.timestamp are exclusive for a Delta table")
        }
        if let version {
            guard let v = Int(version), v >= 0 else {
                throw TrainerError.badInput("config: data.version must be a Delta table version (an integer >= 0) when data.format is delta, got '\(version)'")
            }
            return .version(v)
        }
        if let timestamp {
            guard let millis = parseTimestamp(timestamp) else {
                throw TrainerError.badInput("config: data.timestamp '\(timestamp)' is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)")
            }
            return .timestamp(millis, text: timestamp)
        }
        return .latest
    }

    static func parseTimestamp(_ text: String) -> Int64? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: text) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        return nil
    }

    /// Resolves the selected version and replays the log up to it: from the checkpoint named in
    /// `_last_checkpoint` when it is at or before that version (then the commits after it), else
    /// from commit 0.
    static func snapshot(uri: String, select: DeltaVersionSelector, store: DeltaStore) async throws -> DeltaSnapshot {
        do {
            return try await resolve(uri: uri, select: select, store: store)
        } catch let e as DeltaLogError {
            throw TrainerError.badInput("data: Delta table \(e.message)")
        }
    }

    static func resolve(uri: String, select: DeltaVersionSelector, store: DeltaStore) async throws -> DeltaSnapshot {
        let log = "\(uri)/_delta_log"
        var checkpoint: LastCheckpoint?
        if let last = try await store.logFile(LastCheckpoint.fileName) {
            checkpoint = try LastCheckpoint.parse(last.withBytes { Data($0) }, name: "\(log)/\(LastCheckpoint.fileName)")
        }
        // Where to start listing/fetching commits: after the checkpoint when it will be used.
        var from = 0
        if let cp = checkpoint {
            switch select {
            case .latest: from = cp.version + 1
            case .version(let v): if v >= cp.version { from = cp.version + 1 }
            case .timestamp: break
            }
        }
        let through: Int? = if case .version(let v) = select { v } else { nil }
        var commits = try await store.commits(from: from, through: through)
        if from == 0, commits.first.map({ $0.version != 0 }) ?? true, let cp = checkpoint {
            // Object stores are read by name: commit 0 is gone, try from the checkpoint on.
            if commits.isEmpty { commits = try await store.commits(from: cp.version, through: through) }
        }
        let byVersion = Dictionary(commits.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
        let latest = max(commits.last?.version ?? -1, checkpoint?.version ?? -1)
        guard latest >= 0 else {
            throw TrainerError.badInput("data: Delta table '\(uri)': no commit files in _delta_log (not a Delta table, or an empty one)")
        }
        var actions: DeltaCheckpointActions?
        func replay(to target: Int) async throws -> DeltaLogReplay {
            var replay = DeltaLogReplay()
            var next = 0
            if let cp = checkpoint, cp.version <= target {
                if actions == nil { actions = try await read(checkpoint: cp, store: store, log: log) }
                if let actions {
                    try replay.apply(checkpoint: actions, version: cp.version, name: "\(log)/\(cp.fileNames[0])")
                }
                next = cp.version + 1
            }
            guard next <= target else { return replay }
            for v in next...target {
                guard let c = byVersion[v] else {
                    if v == 0 {
                        let gone = commits.first.map { "the log starts at version \($0.version); commits 0...\($0.version - 1) were cleaned up" }
                            ?? "commit 0 is not in the log (cleaned up)"
                        let why = checkpoint.map { " and the checkpoint (version \($0.version)) is newer than version \(target)" } ?? " and there is no checkpoint (_last_checkpoint)"
                        throw DeltaLogError(message: "'\(uri)': \(gone)\(why)")
                    }
                    throw DeltaLogError(message: "'\(uri)': commit \(v) (\(log)/\(DeltaLogNames.commit(v))) is missing; the replay to version \(target) needs it")
                }
                try replay.apply(commit: c.text, version: v, name: "\(log)/\(DeltaLogNames.commit(v))")
            }
            return replay
        }
        switch select {
        case .latest:
            return try await replay(to: latest).snapshot(table: uri)
        case .version(let v):
            guard v <= latest else {
                throw TrainerError.badInput("data: Delta table '\(uri)': version \(v) does not exist (latest is \(latest))")
            }
            return try await replay(to: v).snapshot(table: uri)
        case .timestamp(let t, let text):
            // In-commit timestamps, when the table enables them, replace file times (protocol).
            let head = try await replay(to: latest)
            let stamps = commits.map { c in (c.version, head.enablesInCommitTimestamps ? (head.inCommitTimestamps[c.version] ?? c.modifiedMillis) : c.modifiedMillis) }
            guard let first = stamps.first else {
                throw TrainerError.badInput("data: Delta table '\(uri)': no commit files left to resolve timestamp \(text) (only the checkpoint at version \(latest))")
            }
            guard let match = stamps.last(where: { $0.1 <= t }) else {
                let firstTime = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(first.1) / 1000))
                if first.0 == 0 {
                    throw TrainerError.badInput("data: Delta table '\(uri)': timestamp \(text) is before the first commit (version 0 at \(firstTime))")
                }
                throw TrainerError.badInput("data: Delta table '\(uri)': timestamp \(text) is before the oldest commit left in the log (version \(first.0) at \(firstTime)); older commits were cleaned up")
            }
            if match.0 == latest { return try head.snapshot(table: uri) }
            return try await replay(to: match.0).snapshot(table: uri)
        }
    }

    /// Reads and decodes every part of a checkpoint, checking the row count `_last_checkpoint`
    /// records.
    static func read(checkpoint cp: LastCheckpoint, store: DeltaStore, log: String) async throws -> DeltaCheckpointActions {
        var actions = DeltaCheckpointActions()
        for name in cp.fileNames {
            let path = "\(log)/\(name)"
            guard let bytes = try await store.logFile(name) else {
                throw DeltaLogError(message: "\(path): the checkpoint named in _last_checkpoint (version \(cp.version)\(cp.parts.map { ", \($0) parts" } ?? "")) does not exist")
            }
            do {
                try bytes.withBytes { try DeltaCheckpoint.decode($0, name: path, into: &actions) }
            } catch let e as TrainerError {
                throw DeltaLogError(message: "checkpoint \(e.message)")
            }
        }
        if let size = cp.size, size != actions.rows {
            throw DeltaLogError(message: "\(log)/\(cp.fileNames[0]): the checkpoint holds \(actions.rows) actions, _last_checkpoint says \(size)")
        }
        return actions
    }

    /// Resolves the snapshot and reads (maps or fetches) every data file, checking each size
    /// against the log.
    static func read(uri: String, select: DeltaVersionSelector, s3: S3Settings) async throws -> DeltaRead {
        let store = try DeltaStores.open(uri: uri, s3: s3)
        let snapshot = try await Self.snapshot(uri: uri, select: select, store: store)
        var bytes: [InputBytes] = []
        var records: [DataFileRecord] = []
        var manifest = ""
        for file in snapshot.files {
            let data: InputBytes
            do {
                data = try await store.read(path: file.path)
            } catch let e as TrainerError {
                throw TrainerError(e.kind, "data: Delta table '\(uri)' version \(snapshot.version): data file '\(file.path)' listed in the log cannot be read: \(e.message)")
            }
            guard data.count == file.size else {
                throw TrainerError.badInput("data: Delta table '\(uri)' version \(snapshot.version): data file '\(file.path)' has \(data.count) bytes, the log says \(file.size) (changed or corrupted)")
            }
            let sha = try data.withBytes { try SHA256.hex($0) }
            bytes.append(data)
            records.append(DataFileRecord(path: file.path, size: file.size, sha256: sha))
            manifest += "\(file.path)\t\(file.size)\t\(sha)\n"
        }
        return DeltaRead(snapshot: snapshot, bytes: bytes, records: records, digest: try SHA256.hex(Data(manifest.utf8)))
    }

    /// The joined table of a snapshot's files, in the form the CSV and Parquet readers produce.
    static func table(_ read: DeltaRead, threads: Int, kinds: ([String]) throws -> [String: CSVColumnKind]) throws -> CSVTable {
        let snapshot = read.snapshot
        let nested = Set(["struct", "array", "map"])
        let header = snapshot.columns.filter { !nested.contains($0.type) }.map(\.name)
        let wanted = try kinds(header)
        for name in wanted.keys where !header.contains(name) {
            let why = snapshot.columns.contains { $0.name == name } ? "is nested (struct, array or map)" : "is not in the table schema"
            throw TrainerError.badInput("data: column '\(name)' \(why) (columns: \(header.joined(separator: ", ")))")
        }
        let partitions = Set(snapshot.partitionColumns)
        let types = Dictionary(snapshot.columns.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        var merged = wanted.mapValues { TableMerger(kind: $0) }
        var total = 0
        for (i, file) in snapshot.files.enumerated() {
            let table = try read.bytes[i].withBytes { b in
                try ParquetReader.read(b, name: file.path, threads: threads) { fileHeader in
                    wanted.filter { fileHeader.contains($0.key) && !partitions.contains($0.key) }
                }
            }
            for (name, kind) in wanted {
                if partitions.contains(name) {
                    let value = file.partitionValues[name] ?? nil
                    try merged[name]?.appendConstant(value, type: types[name] ?? "string", rows: table.rowCount,
                                                     what: "data: \(file.path): partition column '\(name)'")
                } else if let column = table.columns[name] {
                    merged[name]?.append(column)
                } else {
                    if kind == .label {
                        throw TrainerError.badInput("data: \(file.path): target column '\(name)' is not in this file (added to the table after it was written); the target must be present in every row")
                    }
                    merged[name]?.appendNulls(table.rowCount)
                }
            }
            total += table.rowCount
        }
        return CSVTable(header: header, rowCount: total, columns: merged.mapValues { $0.column })
    }
}

/// Concatenates one column over files; categories keep their order of first appearance.
struct TableMerger {
    let kind: CSVColumnKind
    var numbers: [Double] = []
    var codes: [Int32] = []
    var levels: [String] = []
    var index: [String: Int32] = [:]

    init(kind: CSVColumnKind) { self.kind = kind }

    var column: CSVColumn { kind == .categorical ? .categorical(codes: codes, levels: levels) : .numeric(numbers) }

    mutating func code(_ level: String) -> Int32 {
        if let c = index[level] { return c }
        let c = Int32(levels.count)
        levels.append(level); index[level] = c
        return c
    }

    mutating func append(_ column: CSVColumn) {
        switch column {
        case .numeric(let v): numbers += v
        case .categorical(let fileCodes, let fileLevels):
            let map = fileLevels.map { code($0) }
            codes += fileCodes.map { $0 < 0 ? -1 : map[Int($0)] }
        }
    }

    mutating func appendNulls(_ rows: Int) {
        if kind == .categorical { codes += repeatElement(-1, count: rows) } else { numbers += repeatElement(.nan, count: rows) }
    }

    /// A partition value (the log's string form) repeated over a file's rows.
    mutating func appendConstant(_ value: String?, type: String, rows: Int, what: String) throws {
        guard let value else {
            if kind == .label { throw TrainerError.badInput("\(what): the target is null") }
            appendNulls(rows)
            return
        }
        switch kind {
        case .categorical:
            codes += repeatElement(code(value), count: rows)
        case .numeric, .label:
            var x: Double?
            if type == "boolean" {
                x = value == "true" ? 1 : value == "false" ? 0 : nil
            } else {
                x = value.utf8CString.withUnsafeBufferPointer { b -> Double? in
                    guard let base = b.baseAddress else { return nil }
                    return base.withMemoryRebound(to: UInt8.self, capacity: b.count) { p in
                        CSVParser.numericValue(p, p + (b.count - 1))
                    }
                }
            }
            guard let x else { throw TrainerError.badInput("\(what): value '\(value)' (\(type)) is not a number") }
            if kind == .label {
                guard x == 0 || x == 1 else { throw TrainerError.badInput("\(what): target value '\(value)' is not 0/1 (binary classification)") }
            }
            numbers += repeatElement(x, count: rows)
        }
    }
}
