import Foundation
import SextantAPI
import SextantJSON
import SextantML
import Testing

/// Every `spec.data.source.format` of the CRD maps to a `data.format` the trainer accepts, and
/// each to a different one (a new CRD format without trainer support fails here).
@Suite struct DataFormatMappingTests {
    @Test func everyCRDFormatIsATrainerFormat() throws {
        var seen: [String] = []
        for format in DataFormat.allCases {
            var source = SextantAPI.DataSource(uri: "file:///d")
            source.format = format
            let spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: source, target: "y"), output: OutputSpec(uri: "file:///o/"))
            let text = String(decoding: try spec.trainerConfig(outputURI: "file:///tmp/o/").encoded(), as: UTF8.self)
            let parsed = try TrainingConfig.parse(yaml: text)
            try parsed.validate()
            let mapped = try #require(parsed.data.format, "\(format) maps to no data.format")
            seen.append(mapped)
        }
        #expect(Set(seen).count == DataFormat.allCases.count)
        #expect(seen.contains("parquet"))
    }
}
