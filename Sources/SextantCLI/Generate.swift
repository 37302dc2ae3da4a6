import ArgumentParser
import Foundation
import SextantAPI
import SextantTrainingContract

/// `sextant generate`: writes the artifacts derived from the Swift API types, so that the CRDs
/// and the reference docs have one source of truth (`Sources/SextantAPI`).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the CRD YAML and the reference docs from the Swift API types.",
        subcommands: [GenerateCRDs.self, GenerateDocs.self]
    )
}

struct GenerateCRDs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crds", abstract: "Write crds/<plural>.yaml for TrainingJob, ModelVersion and CanaryRollout.")

    @Option(name: .long, help: "Directory to write the CRDs into.")
    var outputDir: String = "crds"

    func run() throws {
        for (file, text) in try GeneratedFiles.crds() {
            try GeneratedFiles.write(text, to: outputDir, file: file)
        }
    }
}

struct GenerateDocs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docs", abstract: "Write docs/resources/<kind>.md, the field reference of each kind, and training-contract.md.")

    @Option(name: .long, help: "Directory to write the reference pages into.")
    var outputDir: String = "docs/resources"

    func run() throws {
        for (file, text) in GeneratedFiles.docs() {
            try GeneratedFiles.write(text, to: outputDir, file: file)
        }
    }
}

enum GeneratedFiles {
    static func crds() throws -> [(String, String)] {
        try SextantCRDs.all.map { ("\($0.plural).yaml", try $0.yaml()) }
    }

    static func docs() -> [(String, String)] {
        SextantCRDs.all.map { ($0.referenceFileName, $0.referenceMarkdown(intro: ReferenceIntro.forKind($0.kind))) }
            + [(TrainingContract.referenceFileName, TrainingContract.referenceMarkdown)]
    }

    static func write(_ text: String, to directory: String, file: String) throws {
        let dir = URL(fileURLWithPath: directory, isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(file)
        try Data(text.utf8).write(to: url, options: .atomic)
        print("wrote \(url.path)")
    }
}
