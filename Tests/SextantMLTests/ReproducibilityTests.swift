import Foundation
import Testing
@testable import SextantML

/// Issue 16: identical data + config + binary give a byte-identical artifact, across runs and
/// thread counts, so the ModelVersion's recorded SHA-256 identifies the model.
@Suite struct ReproducibilityTests {
    @Test func artifactIsByteIdenticalAcrossRunsAndThreadCounts() async throws {
        let dir = try makeTempDir()
        let data = try EndToEndTests.writeData(dir, rows: 2_000)
        var hashes: [String] = []
        var artifacts: [Data] = []
        for (run, threads) in [1, 1, 3].enumerated() {
            var cfg = try TrainingConfig.parse(yaml: EndToEndTests.config(data: data, out: dir.appendingPathComponent("out\(run)")))
            cfg.hyperparameters?.threads = threads
            let outcome = try await Trainer.run(cfg)
            let uri = try #require(outcome.summary.artifact?.uri)
            artifacts.append(try Data(contentsOf: URL(fileURLWithPath: uri)))
            hashes.append(try #require(outcome.summary.artifact?.sha256))
            #expect(outcome.summary.createdAt != nil)
            let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out\(run)/metrics.json"))) as? [String: Any]
            #expect(metrics?["createdAt"] is String)
            // The second run starts in a later second, so a timestamp in the artifact would differ.
            if run == 0 { try await Task.sleep(for: .milliseconds(1_100)) }
        }
        #expect(Set(hashes).count == 1, "artifact SHA-256 per run: \(hashes)")
        #expect(artifacts[0] == artifacts[1] && artifacts[1] == artifacts[2])
        let text = String(decoding: artifacts[0], as: UTF8.self)
        #expect(!text.contains("createdAt"))
    }

    @Test func olderArtifactsWithCreatedAtStillLoad() throws {
        let dir = try makeTempDir()
        _ = dir
        let synthetic = Synthetic(rows: 300)
        let (result, cuts) = trainGBDT(synthetic.matrix, labels: synthetic.labels, params: GBDTParameters())
        let a = try artifact(from: result, cuts: cuts, x: synthetic.matrix)
        var object = try #require(try JSONSerialization.jsonObject(with: a.encoded()) as? [String: Any])
        object["createdAt"] = "2026-01-01T00:00:00Z"
        let loaded = try ModelArtifact.load(data: JSONSerialization.data(withJSONObject: object))
        #expect(loaded.createdAt == "2026-01-01T00:00:00Z")
        #expect(try loaded.predictProbability(Array(repeating: 0.5, count: 6)) == a.predictProbability(Array(repeating: 0.5, count: 6)))
    }
}
