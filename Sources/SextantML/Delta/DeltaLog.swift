// Delta Lake transaction log replay (PROTOCOL.md of delta-io/delta): the commit files
// `_delta_log/<version, 20 digits>.json` hold one action per line; replaying them in order gives
// a snapshot: the latest `protocol` and `metaData`, and the data files added and not removed.
// Pure: commit texts in, snapshot out; reading the files is DeltaStore's job.
import Foundation

/// One data file of a snapshot.
public struct DeltaFile: Sendable, Equatable, Codable {
    /// As written in the log: relative to the table root (percent-encoded) or an absolute URI.
    public var path: String
    public var size: Int
    /// Partition column -> value as the log serializes it (nil: null).
    public var partitionValues: [String: String?]
}

/// A column of the table schema (`metaData.schemaString`).
public struct DeltaColumn: Sendable, Equatable {
    public var name: String
    /// Delta's primitive type name (`long`, `double`, `string`, `decimal(10,2)`, ...), or `struct`,
    /// `array`, `map` for nested ones.
    public var type: String
}

/// A table at one version.
public struct DeltaSnapshot: Sendable, Equatable {
    public var version: Int
    public var columns: [DeltaColumn]
    public var partitionColumns: [String]
    /// In the order delta-rs (delta-kernel) returns them: newest commit first, each commit's adds
    /// in file order, so that the rows come in the same order as `DeltaTable.to_pyarrow_table()`.
    public var files: [DeltaFile]
}

/// What went wrong in the log, named by the log file.
struct DeltaLogError: Error {
    var message: String
}

/// Replays commits in version order. Callers feed commit `v` for v = 0...N, or a checkpoint at
/// version C and then commits C+1...N (see `DeltaTable.snapshot`).
struct DeltaLogReplay {
    /// Reader features this reader handles. `deletionVectors`: files that carry one are refused
    /// (see `apply`); tables without any read fine. Others (columnMapping, v2Checkpoint, ...)
    /// change how files or names are read and are refused by name.
    static let supportedReaderFeatures: Set<String> = ["deletionVectors", "timestampNtz", "vacuumProtocolCheck",
                                                       "typeWidening", "typeWidening-preview"]

    private(set) var version = -1
    private var columns: [DeltaColumn]?
    private var partitionColumns: [String] = []
    private var configuration: [String: String] = [:]
    /// path -> (the commit that added it, its position in that commit, the file).
    private var live: [String: (commit: Int, position: Int, file: DeltaFile)] = [:]
    /// The deletion vector of each live file that has one (path -> description).
    private var deletionVectors: [String: String] = [:]
    private(set) var inCommitTimestamps: [Int: Int64] = [:]
    private(set) var enablesInCommitTimestamps = false

    /// Applies commit `commitVersion` (text of `<version>.json`, named `name` in errors).
    mutating func apply(commit text: Data, version commitVersion: Int, name: String) throws {
        guard commitVersion == version + 1 else {
            throw DeltaLogError(message: "\(name): expected commit \(version + 1) next, got \(commitVersion) (a commit file is missing)")
        }
        var position = 0
        var lineNumber = 0
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            let object: [String: Any]
            do {
                guard let o = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw DeltaLogError(message: "\(name): line \(lineNumber): an action must be a JSON object")
                }
                object = o
            } catch let e as DeltaLogError {
                throw e
            } catch {
                throw DeltaLogError(message: "\(name): line \(lineNumber): invalid JSON (\(error.localizedDescription))")
            }
            func fail(_ m: String) -> DeltaLogError { DeltaLogError(message: "\(name): line \(lineNumber): \(m)") }
            if let p = object["protocol"] {
                guard let p = p as? [String: Any], let reader = p["minReaderVersion"] as? Int else {
                    throw fail("protocol action without minReaderVersion")
                }
                try applyProtocol(minReaderVersion: reader, readerFeatures: (p["readerFeatures"] as? [String]) ?? [], fail: fail)
            } else if let m = object["metaData"] {
                guard let m = m as? [String: Any], let schemaString = m["schemaString"] as? String else {
                    throw fail("metaData action without schemaString")
                }
                let provider = (m["format"] as? [String: Any])?["provider"] as? String
                try applyMetaData(schemaString: schemaString, provider: provider,
                                  partitionColumns: (m["partitionColumns"] as? [String]) ?? [],
                                  configuration: ((m["configuration"] as? [String: Any]) ?? [:]).compactMapValues { $0 as? String },
                                  fail: fail)
            } else if let a = object["add"] {
                guard let a = a as? [String: Any], let path = a["path"] as? String, !path.isEmpty else {
                    throw fail("add action without a path")
                }
                guard let size = a["size"] as? Int, size >= 0 else { throw fail("add action for '\(path)' without a valid size") }
                let raw = (a["partitionValues"] as? [String: Any]) ?? [:]
                var dv: String?
                if let d = a["deletionVector"] as? [String: Any] {
                    let cardinality = d["cardinality"].map { "\($0)" } ?? "?"
                    dv = "storageType \(d["storageType"].map { "\($0)" } ?? "?"), \(cardinality) deleted rows"
                }
                add(DeltaAddAction(file: DeltaFile(path: path, size: size, partitionValues: raw.mapValues { $0 as? String }),
                                   deletionVector: dv), commit: commitVersion, position: position)
                position += 1
            } else if let r = object["remove"] {
                guard let r = r as? [String: Any], let path = r["path"] as? String else {
                    throw fail("remove action without a path")
                }
                live[path] = nil
                deletionVectors[path] = nil
            } else if let c = object["commitInfo"] as? [String: Any], let ict = c["inCommitTimestamp"] as? Int {
                inCommitTimestamps[commitVersion] = Int64(ict)
            }
            // txn, cdc, domainMetadata, checkpointMetadata, sidecar: nothing to read for a snapshot.
        }
        version = commitVersion
    }

    /// Starts the replay from a checkpoint at `checkpointVersion` (the table state at that version);
    /// commits after it are applied with `apply(commit:)`.
    mutating func apply(checkpoint: DeltaCheckpointActions, version checkpointVersion: Int, name: String) throws {
        guard version == -1 else { throw DeltaLogError(message: "\(name): a checkpoint must start the replay") }
        func fail(_ m: String) -> DeltaLogError { DeltaLogError(message: "\(name): \(m)") }
        guard let reader = checkpoint.minReaderVersion else { throw fail("the checkpoint holds no protocol action") }
        try applyProtocol(minReaderVersion: reader, readerFeatures: checkpoint.readerFeatures, fail: fail)
        guard let schemaString = checkpoint.schemaString else { throw fail("the checkpoint holds no metaData action") }
        try applyMetaData(schemaString: schemaString, provider: checkpoint.provider, partitionColumns: checkpoint.partitionColumns,
                          configuration: checkpoint.configuration, fail: fail)
        for (position, a) in checkpoint.adds.enumerated() {
            add(a, commit: checkpointVersion, position: position)
        }
        version = checkpointVersion
    }

    mutating func applyProtocol(minReaderVersion reader: Int, readerFeatures: [String], fail: (String) -> DeltaLogError) throws {
        guard reader <= 3 else { throw fail("protocol minReaderVersion \(reader) is newer than this reader (1-3)") }
        for f in readerFeatures where !Self.supportedReaderFeatures.contains(f) {
            throw fail("the table needs reader feature '\(f)', which Sextant's Delta reader does not support (supported: \(Self.supportedReaderFeatures.sorted().joined(separator: ", ")))")
        }
    }

    mutating func applyMetaData(schemaString: String, provider: String?, partitionColumns: [String],
                                configuration: [String: String], fail: (String) -> DeltaLogError) throws {
        if let provider, provider != "parquet" {
            throw fail("data file format '\(provider)' is not supported (parquet only)")
        }
        columns = try Self.parseSchema(schemaString, fail: fail)
        self.partitionColumns = partitionColumns
        self.configuration = configuration
        if let mode = configuration["delta.columnMapping.mode"], mode != "none" {
            throw fail("column mapping mode '\(mode)' (physical column names differ from the schema's) is not supported")
        }
        enablesInCommitTimestamps = configuration["delta.enableInCommitTimestamps"] == "true"
    }

    mutating func add(_ a: DeltaAddAction, commit: Int, position: Int) {
        live[a.file.path] = (commit, position, a.file)
        deletionVectors[a.file.path] = a.deletionVector
    }

    /// The snapshot after the last applied commit.
    func snapshot(table: String) throws -> DeltaSnapshot {
        guard version >= 0 else { throw DeltaLogError(message: "\(table): the log holds no commit") }
        guard let columns else {
            throw DeltaLogError(message: "\(table): no metaData action in commits 0...\(version)")
        }
        if let (path, dv) = deletionVectors.min(by: { $0.key < $1.key }) {
            throw DeltaLogError(message: "\(table) at version \(version): data file '\(path)' has a deletion vector (\(dv)); deletion vectors are not supported; rewrite the table without them (e.g. delta-rs `optimize.compact()` or Spark `REORG TABLE ... APPLY (PURGE)`) or train on an older version")
        }
        for p in partitionColumns where !columns.contains(where: { $0.name == p }) {
            throw DeltaLogError(message: "\(table): partition column '\(p)' is not in the schema")
        }
        let ordered = live.values.sorted { a, b in
            a.commit != b.commit ? a.commit > b.commit : a.position < b.position
        }
        return DeltaSnapshot(version: version, columns: columns, partitionColumns: partitionColumns,
                             files: ordered.map(\.file))
    }

    static func parseSchema(_ text: String, fail: (String) -> DeltaLogError) throws -> [DeltaColumn] {
        guard let data = text.data(using: .utf8),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let fields = root["fields"] as? [[String: Any]] else {
            throw fail("metaData.schemaString is not a JSON struct type with fields")
        }
        return try fields.map { f in
            guard let name = f["name"] as? String else { throw fail("schema field without a name") }
            if let t = f["type"] as? String { return DeltaColumn(name: name, type: t) }
            let nested = (f["type"] as? [String: Any])?["type"] as? String ?? "unknown"
            return DeltaColumn(name: name, type: nested)
        }
    }
}

/// Version names in `_delta_log`.
enum DeltaLogNames {
    static func commit(_ version: Int) -> String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".json"
    }

    /// The version of a commit file name (`00000000000000000012.json` -> 12), nil for anything else
    /// (checkpoints, `_last_checkpoint`, compacted logs, temporary files).
    static func commitVersion(_ name: String) -> Int? {
        guard name.count == 25, name.hasSuffix(".json") else { return nil }
        let digits = name.prefix(20)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}
