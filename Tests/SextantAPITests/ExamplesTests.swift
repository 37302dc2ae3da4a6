import Foundation
import SextantAPI
import SextantJSON
import Testing
import Yams

/// Every file in manifests/examples decodes into its Swift type and encodes back to the same
/// document, passes `validate()`, validates against its CRD's openAPIV3Schema with the real
/// `check-jsonschema`, and passes `yamllint`.
@Suite struct ExamplesTests {
    @Test func thereAreSeveralExamplesPerKind() throws {
        let kinds = try exampleFiles().map(\.kind)
        for kind in ["TrainingJob", "ModelVersion", "CanaryRollout"] {
            #expect(kinds.filter { $0 == kind }.count >= 2, "too few \(kind) examples")
        }
        #expect(!kinds.contains(""), "an example without kind")
    }

    @Test func examplesRoundTripThroughTheSwiftTypes() throws {
        for example in try exampleFiles() {
            let encoded = try roundTrip(example.json, kind: example.kind)
            var differences: [String] = []
            sameJSON(example.json, encoded, differences: &differences)
            #expect(differences.isEmpty, "\(example.url.lastPathComponent): \(differences)")
        }
    }

    @Test func examplesPassValidate() throws {
        for example in try exampleFiles() {
            let errors = try validationErrors(example.json, kind: example.kind)
            #expect(errors.isEmpty, "\(example.url.lastPathComponent): \(errors)")
        }
    }

    @Test func examplesCoverTheStrategiesAndTriggers() throws {
        let all = try exampleFiles()
        let rollouts = all.filter { $0.kind == "CanaryRollout" }.map(\.json)
        let strategies = rollouts.compactMap { $0[path: ["spec", "strategy"]]?.objectValue?.keys.first }
        #expect(Set(strategies) == ["canary", "blueGreen", "shadow", "abTest"])
        #expect(rollouts.contains { $0[path: ["spec", "strategy", "canary", "steps"]] != nil })
        #expect(rollouts.contains { $0[path: ["spec", "strategy", "canary", "stepWeight"]] != nil })
        // An example per router and per gate (issue 18).
        let routers = Set(rollouts.compactMap { $0[path: ["spec", "routing"]]?.objectValue?.keys }.joined())
        #expect(routers.isSuperset(of: ["virtualService", "httpRoute", "grpcRoute"]), "\(routers)")
        let hookTypes = Set(rollouts.flatMap { $0[path: ["spec", "webhooks"]]?.arrayValue ?? [] }.compactMap { $0["type"]?.stringValue })
        #expect(hookTypes.contains(WebhookType.confirmTrafficIncrease.rawValue), "\(hookTypes)")
        #expect(rollouts.contains { $0[path: ["spec", "analysis", "rollbackWindow", "intervals"]] != nil })
        #expect(rollouts.contains { $0[path: ["spec", "analysis", "sessionAffinity", "cookieName"]] != nil })
        let jobs = all.filter { $0.kind == "TrainingJob" }.map(\.json)
        #expect(jobs.contains { $0[path: ["spec", "schedule"]] != nil && $0[path: ["spec", "retrainOn"]] != nil })
        let versions = all.filter { $0.kind == "ModelVersion" }.map(\.json)
        #expect(versions.contains { $0[path: ["spec", "lineage", "trainingJob"]] == nil })
    }

    /// Writes each CRD's openAPIV3Schema as a JSON Schema file and runs check-jsonschema on the
    /// examples of that kind (one process per kind keeps it fast).
    @Test func examplesValidateAgainstTheirCRDWithCheckJsonschema() throws {
        guard findExecutable("check-jsonschema") != nil else {
            toolMissing("check-jsonschema", hint: "pip install check-jsonschema")
            return
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-schemas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let examples = try exampleFiles()
        for crd in SextantCRDs.all {
            let schemaFile = tmp.appendingPathComponent("\(crd.plural).json")
            try crd.objectSchema.openAPI.jsonValue.encoded().write(to: schemaFile)
            let files = examples.filter { $0.kind == crd.kind }.map(\.url.path)
            #expect(!files.isEmpty)
            let result = try #require(try runTool("check-jsonschema", ["--schemafile", schemaFile.path] + files))
            #expect(result.status == 0, "\(crd.kind): \(result.output)")
        }
    }

    /// The validator must be able to say no: a rollout with weight 150 and a bad duration fails.
    @Test func checkJsonschemaRejectsAnInvalidRollout() throws {
        guard findExecutable("check-jsonschema") != nil else {
            toolMissing("check-jsonschema", hint: "pip install check-jsonschema")
            return
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let schemaFile = tmp.appendingPathComponent("schema.json")
        try SextantCRDs.canaryRollout.objectSchema.openAPI.jsonValue.encoded().write(to: schemaFile)
        let bad = tmp.appendingPathComponent("bad.yaml")
        try Data("""
            apiVersion: mlops.sextant.dev/v1alpha1
            kind: CanaryRollout
            metadata: {name: bad}
            spec:
              modelName: m
              serving: {managed: {}}
              routing: {virtualService: {name: vs}, services: {stable: a, canary: b}}
              strategy: {canary: {steps: [{setWeight: 150}, {pause: {duration: 5 minutes}}]}}

            """.utf8).write(to: bad)
        let result = try #require(try runTool("check-jsonschema", ["--schemafile", schemaFile.path, bad.path]))
        #expect(result.status != 0)
        #expect(result.output.contains("150"), "\(result.output)")
    }

    @Test func yamllintPassesOnCRDsAndManifests() throws {
        guard let result = try runTool("yamllint", ["-c", ".yamllint", "--strict", "crds", "manifests"]) else {
            toolMissing("yamllint", hint: "apt-get install -y yamllint")
            return
        }
        #expect(result.status == 0, "\(result.output)")
    }
}

extension ExamplesTests {
    /// Controllers and the CLI may decode manifests with Yams' own decoder: same result.
    @Test func yamsDecoderReadsTheExamplesLikeTheJSONPath() throws {
        for example in try exampleFiles() {
            let viaJSON = try roundTrip(example.json, kind: example.kind)
            let viaYams: JSONValue
            switch example.kind {
            case "TrainingJob": viaYams = try JSONValue(encoding: try YAMLDecoder().decode(TrainingJob.self, from: example.text))
            case "ModelVersion": viaYams = try JSONValue(encoding: try YAMLDecoder().decode(ModelVersion.self, from: example.text))
            default: viaYams = try JSONValue(encoding: try YAMLDecoder().decode(CanaryRollout.self, from: example.text))
            }
            var differences: [String] = []
            sameJSON(viaJSON, viaYams, differences: &differences)
            #expect(differences.isEmpty, "\(example.url.lastPathComponent): \(differences)")
        }
    }
}
