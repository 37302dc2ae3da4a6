// Delta Lake Parquet checkpoints (PROTOCOL.md, "Checkpoints"): `_delta_log/_last_checkpoint`
// names the newest checkpoint; the checkpoint holds the table state at its version as rows of
// actions (`protocol`, `metaData`, and the live `add` files; `remove` rows are tombstones kept for
// VACUUM and do not change the snapshot). Classic single-file (`<v>.checkpoint.parquet`) and
// multi-part (`<v>.checkpoint.<part>.<parts>.parquet`) checkpoints are read; V2 checkpoints
// (UUID-named, with sidecar files) are refused by name. Pure: bytes in, actions out.
import Foundation

/// `_delta_log/_last_checkpoint`.
struct LastCheckpoint: Sendable, Equatable {
    var version: Int
    /// Number of parts of a multi-part checkpoint (nil: one file).
    var parts: Int?
    /// Number of actions (rows) the checkpoint holds, when recorded.
    var size: Int?

    static let fileName = "_last_checkpoint"

    static func parse(_ data: Data, name: String) throws -> LastCheckpoint {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DeltaLogError(message: "\(name): not a JSON object (\(data.count) bytes)")
        }
        guard let version = object["version"] as? Int, version >= 0 else {
            throw DeltaLogError(message: "\(name): no valid 'version'")
        }
        if object["v2Checkpoint"] != nil {
            throw DeltaLogError(message: "\(name): version \(version) is a V2 checkpoint (UUID-named, with sidecar files), which Sextant's Delta reader does not support; write classic checkpoints (delta-rs `create_checkpoint()`, Spark without the v2Checkpoint feature)")
        }
        var parts: Int?
        if let p = object["parts"] {
            guard let p = p as? Int, (1...100_000).contains(p) else { throw DeltaLogError(message: "\(name): 'parts' must be an integer in 1...100000") }
            parts = p
        }
        let size = object["size"] as? Int
        return LastCheckpoint(version: version, parts: parts, size: size)
    }

    /// The checkpoint's file names in `_delta_log`, in part order.
    var fileNames: [String] {
        let v = Self.pad(version, 20)
        guard let parts else { return ["\(v).checkpoint.parquet"] }
        return (1...parts).map { "\(v).checkpoint.\(Self.pad($0, 10)).\(Self.pad(parts, 10)).parquet" }
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// A data file as an `add` action states it, from a JSON commit or a checkpoint row.
struct DeltaAddAction: Sendable, Equatable {
    var file: DeltaFile
    /// Description of its deletion vector, nil when it has none.
    var deletionVector: String?
}

/// The actions of a checkpoint that make up a snapshot.
struct DeltaCheckpointActions: Sendable {
    var minReaderVersion: Int?
    var readerFeatures: [String] = []
    var schemaString: String?
    var provider: String?
    var partitionColumns: [String] = []
    var configuration: [String: String] = [:]
    /// In checkpoint row order (parts in order).
    var adds: [DeltaAddAction] = []
    var rows = 0
}

enum DeltaCheckpoint {
    /// Leaf columns read from a checkpoint (dotted `path_in_schema`).
    static let columns = [
        "add.path", "add.size", "add.partitionValues.key_value.key", "add.partitionValues.key_value.value",
        "add.deletionVector.storageType", "add.deletionVector.cardinality",
        "metaData.schemaString", "metaData.format.provider", "metaData.partitionColumns.list.element",
        "metaData.configuration.key_value.key", "metaData.configuration.key_value.value",
        "protocol.minReaderVersion", "protocol.readerFeatures.list.element",
        "sidecar.path", "checkpointMetadata.version",
    ]

    /// Decodes one checkpoint part (a Parquet file named `name` in errors) into `actions`.
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, into actions: inout DeltaCheckpointActions) throws {
        let c = try ParquetReader.readNested(bytes, name: name, paths: columns)
        func fail(_ m: String) -> DeltaLogError { DeltaLogError(message: "\(name): \(m)") }
        guard let addPath = c["add.path"], let addSize = c["add.size"] else {
            throw fail("not a Delta checkpoint: no add.path / add.size columns")
        }
        let rows = addPath.rowCount
        for row in 0..<rows {
            if c["sidecar.path"]?.scalar(row) != nil || c["checkpointMetadata.version"]?.scalar(row) != nil {
                throw fail("row \(row + 1): a V2 checkpoint (sidecar / checkpointMetadata actions), which Sextant's Delta reader does not support")
            }
            if let path = addPath.scalar(row) {
                guard let p = path.string, !p.isEmpty else { throw fail("row \(row + 1): add action without a path") }
                guard let size = addSize.scalar(row)?.integer, size >= 0 else {
                    throw fail("row \(row + 1): add action for '\(p)' without a valid size")
                }
                var values: [String: String?] = [:]
                if let keys = c["add.partitionValues.key_value.key"] {
                    let k = keys.elements(row)
                    let v = c["add.partitionValues.key_value.value"]?.elements(row) ?? []
                    guard k.count == v.count else { throw fail("row \(row + 1): partitionValues of '\(p)' have \(k.count) keys and \(v.count) values") }
                    for (key, value) in zip(k, v) {
                        guard let key = key?.string else { throw fail("row \(row + 1): partitionValues of '\(p)' with a null key") }
                        values[key] = value?.string
                    }
                }
                var dv: String?
                if let storage = c["add.deletionVector.storageType"]?.scalar(row) {
                    let cardinality = c["add.deletionVector.cardinality"]?.scalar(row)?.integer.map(String.init) ?? "?"
                    dv = "storageType \(storage.string ?? "?"), \(cardinality) deleted rows"
                }
                actions.adds.append(DeltaAddAction(file: DeltaFile(path: p, size: size, partitionValues: values), deletionVector: dv))
            }
            if let schema = c["metaData.schemaString"]?.scalar(row) {
                guard actions.schemaString == nil else { throw fail("row \(row + 1): a second metaData action") }
                actions.schemaString = schema.string
                actions.provider = c["metaData.format.provider"]?.scalar(row)?.string
                actions.partitionColumns = (c["metaData.partitionColumns.list.element"]?.elements(row) ?? []).compactMap { $0?.string }
                if let keys = c["metaData.configuration.key_value.key"] {
                    let k = keys.elements(row), v = c["metaData.configuration.key_value.value"]?.elements(row) ?? []
                    for (key, value) in zip(k, v) { if let key = key?.string, let value = value?.string { actions.configuration[key] = value } }
                }
            }
            if let reader = c["protocol.minReaderVersion"]?.scalar(row) {
                guard actions.minReaderVersion == nil else { throw fail("row \(row + 1): a second protocol action") }
                guard let r = reader.integer else { throw fail("row \(row + 1): protocol minReaderVersion is not an integer") }
                actions.minReaderVersion = r
                actions.readerFeatures = (c["protocol.readerFeatures.list.element"]?.elements(row) ?? []).compactMap { $0?.string }
            }
        }
        actions.rows += rows
    }
}
