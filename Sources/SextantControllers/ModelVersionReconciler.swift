import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

/// Keeps one registry entry honest: validates it, checks the registry's invariants against the
/// other versions of its model, decides its effective approval (acting on `approve`/`reject`
/// requests once) and sets `Ready`, `Approved` and the approval phases. It never touches what the
/// CanaryRollout controller owns (`servedBy`, `rolledBack`, the Canary/Production/RolledBack/
/// Archived phases).
struct ModelVersionReconciler: Reconciler {
    let client: KubeClient
    let settings: ControllerSettings
    let modelVersions: Cache<DynamicObject>
    let events: EventRecorder
    let logger: Logger

    func reconcile(_ key: ObjectKey) async throws -> ReconcileResult {
        guard let raw = modelVersions.get(key), raw.metadata.deletionTimestamp == nil else { return .done }
        let now = settings.now()
        let mv: ModelVersion
        do {
            mv = try raw.raw.decode(as: ModelVersion.self).withSchemaDefaults()
        } catch {
            return try await reportUndecodable(raw, FieldError.decoding(error), now: now)
        }
        let gen = mv.metadata.generation
        let problems = mv.validate()
        // The registry's rules span one model's versions: the index finds them without unpacking the namespace.
        let siblings = modelVersions.list(modelName: mv.spec.modelName, namespace: key.namespace)
            .compactMap { try? $0.raw.decode(as: ModelVersion.self) }
        let conflicts = Registry.conflicts(of: mv, among: siblings)
        var status = mv.status ?? ModelVersionStatus()
        let decision = ApprovalRules.decide(spec: mv.spec, current: status.approval, requests: status.requests, now: now)
        status.approval = decision.approval
        if decision.clearApprove { status.requests?.approve = nil }
        if decision.clearReject { status.requests?.reject = nil }
        if status.requests?.approve == nil && status.requests?.reject == nil { status.requests = nil }

        let invalid = !problems.isEmpty || !conflicts.fatal.isEmpty
        var conditions = status.conditions ?? []
        if !problems.isEmpty {
            Conditions.set(&conditions, type: ConditionType.ready, status: .false, reason: ConditionReason.invalidSpec,
                           message: problems.map(\.description).joined(separator: "; "), observedGeneration: gen, now: now)
        } else if !conflicts.isEmpty {
            Conditions.set(&conditions, type: ConditionType.ready, status: .false, reason: "RegistryConflict",
                           message: (conflicts.fatal + conflicts.governance).map(\.description).joined(separator: "; "),
                           observedGeneration: gen, now: now)
        } else {
            Conditions.set(&conditions, type: ConditionType.ready, status: .true, reason: ConditionReason.reconciled,
                           message: "registered as version \(mv.spec.version) of \(mv.spec.modelName)", observedGeneration: gen, now: now)
        }
        let approval = decision.approval
        let who = [approval.by.map { "by \($0)" }, approval.reason].compactMap { $0 }.joined(separator: ": ")
        switch approval.state {
        case .approved:
            Conditions.set(&conditions, type: ConditionType.approved, status: .true, reason: "Approved",
                           message: "approved" + (who.isEmpty ? "" : " " + who), observedGeneration: gen, now: now)
        case .rejected:
            Conditions.set(&conditions, type: ConditionType.approved, status: .false, reason: "Rejected",
                           message: "rejected" + (who.isEmpty ? "" : " " + who) + "; a rejected version is never rolled out",
                           observedGeneration: gen, now: now)
        case .pending:
            Conditions.set(&conditions, type: ConditionType.approved, status: .false, reason: "Pending",
                           message: "waiting for approval: `sextant approve \(mv.metadata.name ?? "")`", observedGeneration: gen, now: now)
        }
        status.conditions = conditions
        status.phase = ApprovalRules.phase(current: status.phase, approval: approval.state, invalid: invalid)
        status.observedGeneration = gen
        status.displayMetrics = ModelVersionStatus.displayMetrics(mv.spec.metrics)
        status.message = invalid ? (problems + conflicts.fatal).map(\.description).joined(separator: "; ")
            : "\(approval.state.rawValue)" + (who.isEmpty ? "" : " " + who)
        var updated = mv
        // Write back onto the object as read (not the defaulted copy): only status changes.
        if var asRead = try? raw.raw.decode(as: ModelVersion.self) {
            asRead.status = status
            updated = asRead
        } else {
            updated.status = status
        }
        let original = (try? raw.raw.decode(as: ModelVersion.self)) ?? mv
        _ = try await client.updateStatusIfChanged(original: original, modified: updated)
        for note in decision.notes {
            await events.record(mv, type: note.warning ? .warning : .normal, reason: note.reason, action: "Approve", note: note.message, now: now)
        }
        if !problems.isEmpty, Conditions.find(mv.status?.conditions, type: ConditionType.ready)?.reason != ConditionReason.invalidSpec {
            await events.record(mv, type: .warning, reason: ConditionReason.invalidSpec, action: "Validate",
                                note: problems.map(\.description).joined(separator: "; "), now: now)
        }
        if !conflicts.isEmpty, Conditions.find(mv.status?.conditions, type: ConditionType.ready)?.reason != "RegistryConflict" {
            await events.record(mv, type: .warning, reason: "RegistryConflict", action: "Validate",
                                note: (conflicts.fatal + conflicts.governance).map(\.description).joined(separator: "; "), now: now)
        }
        return .done
    }

    func reportUndecodable(_ raw: DynamicObject, _ problem: FieldError, now: Date) async throws -> ReconcileResult {
        var conditions = (try? raw.raw[path: ["status", "conditions"]]?.decode(as: [Condition].self)) ?? []
        let changed = Conditions.set(&conditions, type: ConditionType.ready, status: .false, reason: ConditionReason.invalidSpec,
                                     message: problem.description, observedGeneration: raw.metadata.generation, now: now)
        let phase = raw.raw[path: ["status", "phase"]]?.stringValue.flatMap(ModelVersionPhase.init(rawValue:))
        let newPhase = ApprovalRules.phase(current: phase, approval: .pending, invalid: true)
        guard changed || phase != newPhase else { return .done }
        let patch: JSONValue = ["status": ["phase": .string(newPhase.rawValue), "conditions": try JSONValue(encoding: conditions),
                                           "message": .string(problem.description)]]
        let _: DynamicObject = try await client.patch(TrainingResources.modelVersions, name: raw.name ?? "", .merge(patch),
                                                      namespace: raw.namespace, subresource: "status")
        let regarding = ObjectReference(apiVersion: ModelVersion.apiVersion, kind: ModelVersion.kind, name: raw.name,
                                        namespace: raw.namespace, uid: raw.uid)
        await events.record(regarding: regarding, type: .warning, reason: ConditionReason.invalidSpec, action: "Validate",
                            note: problem.description, now: now)
        return .done
    }
}
