import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

func modelVersion(_ name: String, model: String = "fraud", version: Int64, created: String = "2026-03-01T10:00:00Z",
                  aliases: [String]? = nil, stage: ModelStage? = nil) -> ModelVersion {
    var spec = ModelVersionSpec(modelName: model, version: version, artifact: ModelArtifact(uri: "file:///m/\(name)/model.json"))
    spec.aliases = aliases
    spec.stage = stage
    var meta = ObjectMeta(name: name, namespace: "ml")
    meta.creationTimestamp = created
    return ModelVersion(metadata: meta, spec: spec)
}

@Suite struct RegistryTests {
    @Test func namesAndNextVersion() {
        #expect(Registry.versionName(model: "fraud", version: 3) == "fraud-v3")
        #expect(Registry.version(fromName: "fraud-v12", model: "fraud") == 12)
        #expect(Registry.version(fromName: "fraud-v0", model: "fraud") == nil)
        #expect(Registry.version(fromName: "fraud-detector-v2", model: "fraud") == nil)
        #expect(Registry.nextVersion(model: "fraud", existing: []) == 1)
        let existing = [modelVersion("fraud-v1", version: 1), modelVersion("fraud-v2", version: 2),
                        modelVersion("other-v9", model: "other", version: 9)]
        #expect(Registry.nextVersion(model: "fraud", existing: existing) == 3)
        // A hand-made object named fraud-v7 (with any version inside) blocks the name.
        #expect(Registry.nextVersion(model: "fraud", existing: existing, takenNames: ["fraud-v7"]) == 8)
        #expect(Registry.nextVersion(model: "fraud", existing: existing + [modelVersion("custom", version: 5)]) == 6)
    }

    @Test func duplicateVersionTheFirstKeepsIt() {
        let a = modelVersion("fraud-v3", version: 3, created: "2026-03-01T10:00:00Z")
        let b = modelVersion("fraud-third", version: 3, created: "2026-03-01T11:00:00Z")
        #expect(Registry.conflicts(of: a, among: [a, b]).isEmpty)
        let c = Registry.conflicts(of: b, among: [a, b])
        #expect(c.fatal.map(\.path) == ["spec.version"])
        #expect(c.fatal.first?.message.contains("fraud-v3") == true)
    }

    @Test func versionsMustIncrease() {
        let newer = modelVersion("fraud-v5", version: 5, created: "2026-03-01T10:00:00Z")
        let late = modelVersion("fraud-v4", version: 4, created: "2026-03-02T10:00:00Z")
        #expect(Registry.conflicts(of: late, among: [newer, late]).fatal.first?.kind == .invalid)
        #expect(Registry.conflicts(of: newer, among: [newer, late]).isEmpty)
        // Other models never conflict.
        let other = modelVersion("x-v4", model: "x", version: 4, created: "2026-03-02T10:00:00Z")
        #expect(Registry.conflicts(of: other, among: [newer, other]).isEmpty)
    }

    @Test func aliasesAndProductionGoToTheHighestVersion() {
        let v1 = modelVersion("fraud-v1", version: 1, created: "2026-03-01T10:00:00Z", aliases: ["champion", "old"], stage: .production)
        let v2 = modelVersion("fraud-v2", version: 2, created: "2026-03-02T10:00:00Z", aliases: ["champion"], stage: .production)
        let c1 = Registry.conflicts(of: v1, among: [v1, v2])
        #expect(c1.fatal.isEmpty)
        #expect(c1.governance.map(\.path) == ["spec.aliases[0]", "spec.stage"])
        #expect(Registry.conflicts(of: v2, among: [v1, v2]).isEmpty)
    }

    @Test func aliasMoves() {
        let v1 = modelVersion("fraud-v1", version: 1, aliases: ["challenger", "keep"])
        let v2 = modelVersion("fraud-v2", version: 2, aliases: ["other"])
        let moves = Registry.aliasMoves(["challenger"], to: "fraud-v3", model: "fraud", among: [v1, v2])
        #expect(moves.count == 1 && moves[0].name == "fraud-v1" && moves[0].keep == ["keep"])
        #expect(Registry.aliasMoves([], to: "fraud-v3", model: "fraud", among: [v1]).isEmpty)
    }
}
