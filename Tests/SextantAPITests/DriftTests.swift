import Foundation
import SextantAPI
import SextantJSON
import SextantTrainingContract
import Testing

/// `crds/*.yaml` and `docs/resources/*.md` are generated (`sextant generate crds|docs`); these
/// tests regenerate them in memory and fail when the committed files differ.
/// `SEXTANT_REGENERATE=1 swift test --filter DriftTests` rewrites them instead.
@Suite struct DriftTests {
    static var regenerate: Bool { ProcessInfo.processInfo.environment["SEXTANT_REGENERATE"] == "1" }

    func compare(_ expected: String, file: URL) throws {
        if Self.regenerate {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(expected.utf8).write(to: file)
            return
        }
        let actual = try? String(contentsOf: file, encoding: .utf8)
        #expect(actual == expected,
                "\(file.path) is out of date: run `sextant generate crds` and `sextant generate docs`")
    }

    @Test(arguments: ["TrainingJob", "ModelVersion", "CanaryRollout"])
    func crdFileMatchesTheSwiftSchema(kind: String) throws {
        let crd = try #require(SextantCRDs.named(kind))
        try compare(try crd.yaml(), file: repoRoot.appendingPathComponent("crds/\(crd.plural).yaml"))
    }

    @Test(arguments: ["TrainingJob", "ModelVersion", "CanaryRollout"])
    func referencePageMatchesTheSwiftSchema(kind: String) throws {
        let crd = try #require(SextantCRDs.named(kind))
        let text = crd.referenceMarkdown(intro: ReferenceIntro.forKind(kind))
        try compare(text, file: repoRoot.appendingPathComponent("docs/resources/\(crd.referenceFileName)"))
    }

    @Test func trainingContractPageMatchesTheContract() throws {
        try compare(TrainingContract.referenceMarkdown,
                    file: repoRoot.appendingPathComponent("docs/resources/\(TrainingContract.referenceFileName)"))
    }

    @Test(arguments: ["TrainingJob", "ModelVersion", "CanaryRollout"])
    func generatedYAMLReadsBackAsTheSameDocument(kind: String) throws {
        let crd = try #require(SextantCRDs.named(kind))
        let parsed = try JSONValue.parseYAML(try crd.yaml())
        var differences: [String] = []
        sameJSON(parsed, crd.document.jsonValue, differences: &differences)
        #expect(differences.isEmpty, "\(differences)")
        // Floats keep their type (a `1e-06` default would come back as a string).
        let minVar = parsed[path: ["spec"]]?["versions"]?[0]?[path: ["schema", "openAPIV3Schema", "properties", "spec",
            "properties", "gates", "properties", "dataQuality", "properties", "minFeatureVariance", "default"]]
        if kind == "TrainingJob" { #expect(minVar == .double(1e-6)) }
    }

    @Test func everyFieldPathAppearsInItsReferencePage() throws {
        for crd in SextantCRDs.all {
            let page = crd.referenceMarkdown()
            func walk(_ s: Schema, _ path: String) {
                for p in s.properties {
                    let fieldPath = "\(path).\(p.name)"
                    #expect(page.contains("| `\(fieldPath)` |"), "\(crd.kind): \(fieldPath) missing from the reference")
                    walk(p.schema, fieldPath)
                    if let items = p.schema.items { walk(items, fieldPath + "[]") }
                }
            }
            walk(crd.spec, "spec")
            walk(crd.status, "status")
        }
    }
}
