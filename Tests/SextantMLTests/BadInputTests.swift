import Foundation
import Testing
@testable import SextantML

/// Input that used to crash or be accepted silently (issue 16): each ends with a documented exit
/// code and a message naming what is wrong.
@Suite struct BadInputTests {
    static func config(data: URL, out: URL, extra: String = "") throws -> TrainingConfig {
        try TrainingConfig.parse(yaml: """
            modelName: bad
            data: {uri: "\(data.path)"}
            target: label
            hyperparameters: {nEstimators: 5, maxDepth: 3, threads: 1}
            output: {uri: "\(out.path)"}
            \(extra)
            """)
    }

    static func message(_ body: () async throws -> Void) async -> TrainerError? {
        do { try await body(); return nil } catch let e as TrainerError { return e } catch {
            Issue.record("not a TrainerError: \(error)")
            return nil
        }
    }

    @Test func constantLabelIsBadInputNotAnEncodingError() async throws {
        let dir = try makeTempDir()
        var csv = "x,label\n"
        for i in 0..<200 { csv += "\(i),0\n" }
        let data = dir.appendingPathComponent("d.csv")
        try Data(csv.utf8).write(to: data)
        let cfg = try Self.config(data: data, out: dir.appendingPathComponent("out"))
        let error = await Self.message { _ = try await Trainer.run(cfg) }
        #expect(error?.kind == .badInput)
        #expect(error?.message.contains("target 'label' over all 200 rows holds only class 0") == true, "\(error?.message ?? "")")
    }

    @Test func testPartWithOneClassIsBadInput() async throws {
        let dir = try makeTempDir()
        var csv = "x,label,part\n"
        for i in 0..<200 { csv += "\(i),\(i % 2),train\n" }
        for i in 0..<50 { csv += "\(i),1,test\n" }
        let data = dir.appendingPathComponent("d.csv")
        try Data(csv.utf8).write(to: data)
        let cfg = try Self.config(data: data, out: dir.appendingPathComponent("out"), extra: "split: {column: part}")
        let error = await Self.message { _ = try await Trainer.run(cfg) }
        #expect(error?.kind == .badInput)
        #expect(error?.message.contains("the test part (50 rows) holds only class 1") == true, "\(error?.message ?? "")")
    }

    @Test func moreFoldsThanRareRowsIsBadInput() async throws {
        let dir = try makeTempDir()
        var csv = "x,label\n"
        for i in 0..<400 { csv += "\(i),\(i % 100 == 0 ? 1 : 0)\n" }
        let data = dir.appendingPathComponent("d.csv")
        try Data(csv.utf8).write(to: data)
        let cfg = try Self.config(data: data, out: dir.appendingPathComponent("out"), extra: "split: {train: 0.5, test: 0.5}")
        var withFolds = cfg
        withFolds.hyperparameters?.folds = 5
        let error = await Self.message { _ = try await Trainer.run(withFolds) }
        #expect(error?.kind == .badInput)
        #expect(error?.message.contains("hyperparameters.folds is 5") == true, "\(error?.message ?? "")")
    }

    @Test(arguments: [1, 3]) func nulByteInsideANumberNamesLineAndColumn(threads: Int) throws {
        let text = "a,x,label\n1,2,0\n3,1\u{0} 2,1\n"
        let message = errorMessage {
            _ = try Array(text.utf8).withUnsafeBytes { bytes in
                try CSVParser.parse(bytes, threads: threads) { _ in ["a": .numeric, "x": .numeric, "label": .label] }
            }
        }
        #expect(message.contains("line 3"), "\(message)")
        #expect(message.contains("column 'x'"), "\(message)")
        #expect(message.contains("NUL byte at offset 1"), "\(message)")
        #expect(!message.utf8.contains(0))
    }

    @Test func unwritableOutputNamesTheReason() async throws {
        let dir = try makeTempDir()
        let data = try EndToEndTests.writeData(dir, rows: 300)
        let blocker = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let cfg = try TrainingConfig.parse(yaml: EndToEndTests.config(data: data, out: blocker.appendingPathComponent("sub")))
        let error = await Self.message { _ = try await Trainer.run(cfg) }
        #expect(error?.kind == .io)
        let message = error?.message ?? ""
        #expect(message.contains("'\(blocker.path)' exists and is not a directory"), "\(message)")
        #expect(!message.contains("NSCocoaErrorDomain"))

        // A directory the process cannot create a file in: the errno text names the reason.
        let error2 = await Self.message { try await DataSource.write(Data(), to: "/proc/sextant-test/model.json") }
        #expect(error2?.kind == .io)
        #expect(error2?.message.contains("cannot create directory '/proc/sextant-test'") == true, "\(error2?.message ?? "")")
        #expect(error2?.message.contains("(errno ") == true)
    }

    @Test func binaryExitCodesForTheseCases() throws {
        let dir = try makeTempDir()
        var csv = "x,label\n"
        for i in 0..<100 { csv += "\(i),1\n" }
        let constant = dir.appendingPathComponent("constant.csv")
        try Data(csv.utf8).write(to: constant)
        let cfgFile = dir.appendingPathComponent("c.yaml")
        try "modelName: m\ndata: {uri: \"\(constant.path)\"}\ntarget: label\noutput: {uri: \"\(dir.path)/o\"}\n"
            .write(to: cfgFile, atomically: true, encoding: .utf8)
        let result = dir.appendingPathComponent("result.json")
        guard let (code, stderr) = try EndToEndTests.run(["--config", cfgFile.path, "--result-file", result.path]) else { return }
        #expect(code == 2, "\(stderr)")
        #expect(stderr.contains("holds only class 1"))
        #expect(!stderr.contains("EncodingError"))

        let good = try EndToEndTests.writeData(dir, rows: 300)
        let blocker = dir.appendingPathComponent("blocker")
        try Data("x".utf8).write(to: blocker)
        let ioConfig = dir.appendingPathComponent("io.yaml")
        try EndToEndTests.config(data: good, out: blocker.appendingPathComponent("sub")).write(to: ioConfig, atomically: true, encoding: .utf8)
        let (ioCode, ioErr) = try #require(try EndToEndTests.run(["--config", ioConfig.path, "--result-file", result.path]))
        #expect(ioCode == 1, "\(ioErr)")
        #expect(ioErr.contains("is not a directory"))
        let summary = try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result))
        #expect(summary.reason == "IOError")
    }
}
