import Foundation
import SextantAPI
import SextantJSON
import SextantML
import Testing

/// Admission (`TrainingJob.validate()`) and the trainer (`TrainingConfig.parse` of the config the
/// controller builds) accept and refuse the same data sources: Delta versions and timestamps,
/// DVC pointers and lakeFS URIs reach the trainer as written.
@Suite struct DataSourceAdmissionTests {
    static func source(_ uri: String, format: DataFormat? = nil, version: String? = nil, timestamp: String? = nil,
                       dvc: DVCReference? = nil) -> SextantAPI.DataSource {
        var s = SextantAPI.DataSource(uri: uri, version: version)
        s.format = format; s.timestamp = timestamp; s.dvc = dvc
        return s
    }

    static let cases: [(String, SextantAPI.DataSource, Bool)] = [
        ("delta latest", source("s3://b/t", format: .delta), true),
        ("delta version", source("s3://b/t", format: .delta, version: "12"), true),
        ("delta timestamp", source("file:///t", format: .delta, timestamp: "2026-01-31T12:00:00Z"), true),
        ("delta fractional timestamp", source("file:///t", format: .delta, timestamp: "2026-01-31T12:00:00.250+01:00"), true),
        ("delta label version", source("s3://b/t", format: .delta, version: "v2"), false),
        ("delta negative version", source("s3://b/t", format: .delta, version: "-1"), false),
        ("delta version and timestamp", source("s3://b/t", format: .delta, version: "1", timestamp: "2026-01-31T12:00:00Z"), false),
        ("delta bad timestamp", source("s3://b/t", format: .delta, timestamp: "last week"), false),
        ("timestamp on csv", source("s3://b/t.csv", format: .csv, timestamp: "2026-01-31T12:00:00Z"), false),
        ("delta with dvc", source("s3://b/t", format: .delta, dvc: DVCReference(remote: "s3://r")), false),
        ("dvc pointer", source("https://git.example.com/d.csv.dvc", format: .csv, dvc: DVCReference(remote: "s3://r", path: "d.csv")), true),
        ("dvc default remote", source("file:///repo/d.csv.dvc", format: .parquet, dvc: DVCReference()), true),
        ("lakefs", source("lakefs://repo/main/data/train.parquet", format: .parquet), true),
        ("lakefs delta", source("lakefs://repo/main/tables/t", format: .delta), false),
    ]

    @Test func admissionAndTrainerAgreeOnDataSources() throws {
        for (name, source, valid) in Self.cases {
            let spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: source, target: "y"), output: OutputSpec(uri: "file:///o/"))
            let job = TrainingJob(metadata: .init(name: "j"), spec: spec)
            let problems = job.validate().filter { $0.path.hasPrefix("spec.data.source") }
            let text = String(decoding: try job.spec.trainerConfig(outputURI: "file:///o/m/v1/").encoded(), as: UTF8.self)
            var trainerError = ""
            var parsed: TrainingConfig?
            do { parsed = try TrainingConfig.parse(yaml: text) } catch { trainerError = "\(error)" }
            #expect(problems.isEmpty == valid, "\(name): admission says \(problems)")
            #expect(trainerError.isEmpty == valid, "\(name): the trainer says '\(trainerError)' to \(text)")
            if let parsed, valid {
                #expect(parsed.data.uri == source.uri && parsed.data.timestamp == source.timestamp && parsed.data.version == source.version)
                #expect(parsed.data.dvc?.remote == source.dvc?.remote && parsed.data.dvc?.path == source.dvc?.path)
                #expect((parsed.data.format == "delta") == (source.format == .delta))
            }
        }
    }
}
