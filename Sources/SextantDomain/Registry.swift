import Foundation
import SextantAPI
import SextantKubeTypes

/// The model registry's invariants over the ModelVersions of one model (one namespace):
/// - versions are unique, and a version registered later has a higher number;
/// - an alias names one version of a model;
/// - at most one version of a model is in stage Production.
/// ModelVersions are immutable records, so conflicts are reported, never "fixed" by rewriting
/// someone's object; the TrainingJob controller avoids them by choosing the next free number and
/// moving aliases explicitly.
public enum Registry {
    /// `<model>-v<N>`.
    public static func versionName(model: String, version: Int64) -> String { "\(model)-v\(version)" }

    /// N from `<model>-v<N>`, nil for other names.
    public static func version(fromName name: String, model: String) -> Int64? {
        let prefix = model + "-v"
        guard name.hasPrefix(prefix), let n = Int64(name.dropFirst(prefix.count)), n >= 1 else { return nil }
        return n
    }

    /// The next free version of `model`: one above every version registered (by number or by a
    /// `<model>-v<N>` name), so a name taken by hand is never reused.
    public static func nextVersion(model: String, existing: [ModelVersion], takenNames: [String] = []) -> Int64 {
        var highest: Int64 = 0
        for mv in existing where mv.spec.modelName == model {
            highest = max(highest, mv.spec.version)
        }
        for name in takenNames + existing.compactMap(\.metadata.name) {
            if let n = version(fromName: name, model: model) { highest = max(highest, n) }
        }
        return highest + 1
    }

    /// Registration order: creation time, then name (creation times have one-second resolution).
    static func registeredBefore(_ a: ModelVersion, _ b: ModelVersion) -> Bool {
        let ta = a.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? .distantFuture
        let tb = b.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? .distantFuture
        if ta != tb { return ta < tb }
        // Same second: the version under its canonical name `<model>-v<N>` came first.
        let ca = a.metadata.name == versionName(model: a.spec.modelName, version: a.spec.version)
        let cb = b.metadata.name == versionName(model: b.spec.modelName, version: b.spec.version)
        if ca != cb { return ca }
        return (a.metadata.name ?? "") < (b.metadata.name ?? "")
    }

    public struct Conflicts: Sendable, Equatable {
        /// Breaks the record itself (duplicate or decreasing version): the version is Invalid.
        public var fatal: [FieldError] = []
        /// Governance clashes (alias or Production taken by a higher version): reported only.
        public var governance: [FieldError] = []
        public var isEmpty: Bool { fatal.isEmpty && governance.isEmpty }
    }

    /// What is wrong with `mv` given the other versions of its model. The version registered
    /// first keeps its number; for aliases and Production the highest version wins (aliases and
    /// stages move forward).
    public static func conflicts(of mv: ModelVersion, among all: [ModelVersion]) -> Conflicts {
        var result = Conflicts()
        let name = mv.metadata.name ?? ""
        let siblings = all.filter { $0.spec.modelName == mv.spec.modelName && ($0.metadata.name ?? "") != name }
        for other in siblings.sorted(by: registeredBefore) {
            let otherName = other.metadata.name ?? ""
            if other.spec.version == mv.spec.version, registeredBefore(other, mv) {
                result.fatal.append(FieldError("spec.version", .duplicate,
                                               "version \(mv.spec.version) of model \(mv.spec.modelName) is already registered as \(otherName)"))
            } else if other.spec.version > mv.spec.version, registeredBefore(other, mv),
                      other.metadata.creationTimestamp != mv.metadata.creationTimestamp {
                result.fatal.append(FieldError("spec.version", .invalid,
                                               "versions must increase: \(otherName) (version \(other.spec.version)) was registered before this version \(mv.spec.version)"))
            }
        }
        for (i, alias) in (mv.spec.aliases ?? []).enumerated() {
            if let winner = siblings.first(where: { ($0.spec.aliases ?? []).contains(alias) && $0.spec.version > mv.spec.version }) {
                result.governance.append(FieldError("spec.aliases[\(i)]", .duplicate,
                                                    "alias \"\(alias)\" of model \(mv.spec.modelName) is held by the newer \(winner.metadata.name ?? "")"))
            }
        }
        if mv.spec.stage == .production,
           let winner = siblings.first(where: { $0.spec.stage == .production && $0.spec.version > mv.spec.version }) {
            result.governance.append(FieldError("spec.stage", .forbidden,
                                                "model \(mv.spec.modelName) has one Production version: \(winner.metadata.name ?? "") is newer"))
        }
        return result
    }

    /// Other versions that hold any of `aliases` and must give them up to the new version.
    public static func aliasMoves(_ aliases: [String], to newName: String, model: String,
                                  among all: [ModelVersion]) -> [(name: String, keep: [String])] {
        guard !aliases.isEmpty else { return [] }
        return all.compactMap { mv in
            guard mv.spec.modelName == model, let name = mv.metadata.name, name != newName,
                  let held = mv.spec.aliases, held.contains(where: aliases.contains) else { return nil }
            return (name, held.filter { !aliases.contains($0) })
        }
    }
}
