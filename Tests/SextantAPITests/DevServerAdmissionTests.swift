import Foundation
import SextantAPI
import SextantDevServer
import SextantJSON
import Testing

/// The development API server (used by every end-to-end test) admits each example against the
/// CRD from crds/: no validation cause, nothing pruned, and the defaults it applies are exactly
/// the ones `withSchemaDefaults()` applies.
@Suite struct DevServerAdmissionTests {
    func schema(of kind: String) throws -> JSONValue {
        let crd = try #require(SextantCRDs.named(kind))
        let text = try String(contentsOf: repoRoot.appendingPathComponent("crds/\(crd.plural).yaml"), encoding: .utf8)
        let parsed = try JSONValue.parseYAML(text)
        return try #require(parsed["spec"]?["versions"]?[0]?[path: ["schema", "openAPIV3Schema"]])
    }

    func defaulted(_ json: JSONValue, kind: String) throws -> JSONValue {
        switch kind {
        case "TrainingJob": return try JSONValue(encoding: try json.decode(as: TrainingJob.self).withSchemaDefaults())
        case "ModelVersion": return try JSONValue(encoding: try json.decode(as: ModelVersion.self).withSchemaDefaults())
        default: return try JSONValue(encoding: try json.decode(as: CanaryRollout.self).withSchemaDefaults())
        }
    }

    @Test func everyExampleIsAdmittedUnchangedExceptForDefaults() throws {
        for example in try exampleFiles() {
            let name = example.url.lastPathComponent
            let (stored, causes) = SchemaValidator(schema: try schema(of: example.kind)).admit(example.json)
            #expect(causes.isEmpty, "\(name): \(causes.map { "\($0.field ?? ""): \($0.message ?? "")" })")
            var differences: [String] = []
            sameJSON(stored, try defaulted(example.json, kind: example.kind), differences: &differences)
            #expect(differences.isEmpty, "\(name): server and withSchemaDefaults() disagree: \(differences)")
        }
    }

    @Test func theServerRejectsOutOfRangeValuesNamingTheField() throws {
        var json = try #require(try exampleFiles().first { $0.url.lastPathComponent == "canaryrollout-steps.yaml" }).json
        json.set(path: ["spec", "strategy", "canary", "steps"], to: [["setWeight": 150]])
        json.set(path: ["spec", "analysis", "interval"], to: "1 minute")
        let (_, causes) = SchemaValidator(schema: try schema(of: "CanaryRollout")).admit(json)
        let fields = causes.compactMap(\.field)
        #expect(fields.contains { $0.contains("setWeight") }, "\(fields)")
        #expect(fields.contains { $0.contains("interval") }, "\(fields)")
    }
}

extension DevServerAdmissionTests {
    /// A document with every field set (the one the consistency test decodes) is schema-valid too,
    /// so the samples used for constrained strings really match their patterns and bounds.
    @Test(arguments: ["TrainingJob", "ModelVersion", "CanaryRollout"])
    func aFullyPopulatedObjectIsAdmitted(kind: String) throws {
        let crd = try #require(SextantCRDs.named(kind))
        var document = fullyPopulated(crd.objectSchema)
        document["apiVersion"] = "mlops.sextant.dev/v1alpha1"
        document["kind"] = .string(kind)
        document["metadata"] = ["name": "sample"]
        let (_, causes) = SchemaValidator(schema: try schema(of: kind)).admit(document)
        #expect(causes.isEmpty, "\(causes.map { "\($0.field ?? ""): \($0.message ?? "")" })")
    }
}
