// Step 1 of a run: the training data read, fingerprinted and parsed, whatever its source: one
// CSV / gzip CSV / Parquet file (its SHA-256), or a Delta table (the resolved version, its files
// and a digest over them).
import Foundation

struct TrainingInput {
    var dataset: Dataset
    /// SHA-256 of the file, or for a table the digest over its file list.
    var sha256: String
    var bytes: Int
    /// The version recorded in lineage: the label from the config, or a table's resolved version.
    var version: String?
    var lineage: DataLineage {
        DataLineage(uri: uri, version: version, sha256: sha256, rows: dataset.rowCount, bytes: bytes,
                    format: format, files: files, md5: md5)
    }
    var uri: String
    var format: String?
    var files: [DataFileRecord]?
    var md5: String?

    static func load(_ config: TrainingConfig, s3: S3Settings, threads: Int, lap: (String, Date) -> Void,
                     log: @Sendable (String) -> Void) async throws -> TrainingInput {
        if config.data.format == "delta" { return try await loadDelta(config, s3: s3, threads: threads, lap: lap, log: log) }
        var t = Date()
        var name = config.data.uri
        let raw: InputBytes
        var dvc: DVCObject?
        var lakefs: LakeFSObject?
        if config.data.uri.hasPrefix("lakefs://") {
            guard let endpoint = s3.endpoint else {
                throw TrainerError.badInput("data: \(config.data.uri): the lakeFS endpoint is not set (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: lakeFS's address, which serves its API and S3 gateway; `endpoint` in the TrainingJob)")
            }
            let object = try await LakeFSSource.read(uri: config.data.uri, endpoint: endpoint, s3: s3)
            log("lakeFS \(config.data.uri): ref '\(object.location.ref)' is commit \(object.commit)")
            raw = object.bytes; name = object.pinnedURI; lakefs = object
        } else if let spec = config.data.dvc {
            let object = try await DVCSource.read(pointer: config.data.uri, spec: spec, s3: s3)
            log("DVC pointer \(config.data.uri): '\(object.output.path)' md5 \(object.output.md5) from \(object.uri) (md5 verified)")
            raw = object.bytes; name = object.uri; dvc = object
        } else {
            raw = try await DataSource.read(uri: config.data.uri, s3: s3)
        }
        lap("readSeconds", t)
        t = Date()
        let sha = try raw.withBytes { try SHA256.hex($0) }
        lap("hashSeconds", t)
        if let pinned = config.data.sha256?.lowercased(), pinned != sha {
            throw TrainerError.badInput("data: sha256 mismatch for \(name): pinned \(pinned), read \(sha)")
        }
        t = Date()
        let gzip = config.data.format == "csv.gz" || (config.data.format == nil && raw.isGzip)
        let parquet = config.data.format == "parquet" || (config.data.format == nil && raw.isParquet)
        let dataset: Dataset
        if parquet {
            dataset = try raw.withBytes { try Dataset.load(parquet: $0, name: name, config: config, threads: threads) }
        } else if gzip {
            let inflated = try raw.withBytes { try Gzip.decompress($0) }
            dataset = try inflated.withUnsafeBytes { try Dataset.load(csv: $0, config: config, threads: threads) }
        } else {
            dataset = try raw.withBytes { try Dataset.load(csv: $0, config: config, threads: threads) }
        }
        lap("parseSeconds", t)
        if let lakefs {
            return TrainingInput(dataset: dataset, sha256: sha, bytes: raw.count, version: lakefs.commit, uri: config.data.uri, format: "lakefs",
                                 files: [DataFileRecord(path: lakefs.pinnedURI, size: raw.count, sha256: sha)])
        }
        if let dvc {
            return TrainingInput(dataset: dataset, sha256: sha, bytes: raw.count, version: "md5:" + dvc.output.md5,
                                 uri: config.data.uri, format: "dvc", files: [DataFileRecord(path: dvc.uri, size: raw.count, sha256: sha)],
                                 md5: dvc.output.md5)
        }
        return TrainingInput(dataset: dataset, sha256: sha, bytes: raw.count, version: config.data.version,
                             uri: config.data.uri, format: nil, files: nil)
    }

    static func loadDelta(_ config: TrainingConfig, s3: S3Settings, threads: Int, lap: (String, Date) -> Void,
                          log: @Sendable (String) -> Void) async throws -> TrainingInput {
        let select = try DeltaTable.selector(version: config.data.version, timestamp: config.data.timestamp)
        var t = Date()
        let read = try await DeltaTable.read(uri: config.data.uri, select: select, s3: s3)
        lap("readSeconds", t)
        if let pinned = config.data.sha256?.lowercased(), pinned != read.digest {
            throw TrainerError.badInput("data: sha256 mismatch for Delta table \(config.data.uri) version \(read.snapshot.version): pinned \(pinned), the digest over its \(read.records.count) files is \(read.digest)")
        }
        log("Delta table \(config.data.uri): version \(read.snapshot.version), \(read.records.count) files, \(read.totalBytes) bytes")
        t = Date()
        let dataset = try Dataset.load(config: config) { kinds in try DeltaTable.table(read, threads: threads, kinds: kinds) }
        lap("parseSeconds", t)
        return TrainingInput(dataset: dataset, sha256: read.digest, bytes: read.totalBytes, version: String(read.snapshot.version),
                             uri: config.data.uri, format: "delta", files: read.records)
    }
}
