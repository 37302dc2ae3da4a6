import Foundation
import Testing
@testable import SextantML
import SextantTestSupport

/// S3 input and output against moto's S3 server (`pip install 'moto[server]'`) on 127.0.0.1.
@Suite struct S3Tests {
    @Test func trainsFromAndWritesToS3() async throws {
        let moto = try await MotoS3.start(buckets: ["models"])
        defer { moto.stop() }
        let s3 = moto.s3Settings

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

extension MotoS3 {
    /// The trainer's settings for this server (moto accepts these test credentials).
    var s3Settings: S3Settings {
        let c = MotoS3.credentials
        return S3Settings(region: c.region, accessKeyID: c.accessKey, secretAccessKey: c.secretKey, endpoint: endpoint)
    }
}
