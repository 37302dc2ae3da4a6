import Foundation
import SextantAPI
import SextantKubeTypes

/// The effective approval of a ModelVersion and what happened to the manual requests.
public struct ApprovalDecision: Sendable, Equatable {
    public var approval: Approval
    /// Requests acted on (or refused): clear them from `status.requests`.
    public var clearApprove = false
    public var clearReject = false
    /// Human-readable notes for Events: (warning?, reason, note).
    public var notes: [ApprovalNote] = []
}

public struct ApprovalNote: Sendable, Equatable {
    public var warning: Bool
    public var reason: String
    public var message: String
    public init(warning: Bool, reason: String, message: String) {
        self.warning = warning
        self.reason = reason
        self.message = message
    }
}

/// Approval of registry entries.
///
/// Sources, strongest first: a rejection already recorded in status (final: a rejected version
/// is never approved again, whatever the spec or later requests say); a new `reject` request; a
/// failed gate (such a version cannot be approved: `Rejected`, reason `GateFailed`); a new
/// `approve` request; `spec.approval` (set by hand, GitOps, or by the TrainingJob controller when
/// its policy is `Automatic` and every gate passed); an approval already recorded in status;
/// otherwise `Pending`. Requests live in `status.requests` and are cleared once acted on, so
/// each `requestedAt` is acted on once.
public enum ApprovalRules {
    public static let controllerIdentity = "sextant-controller"

    public static func decide(spec: ModelVersionSpec, current: Approval?, requests: ModelVersionRequests?,
                              now: Date) -> ApprovalDecision {
        let stamp = KubeTime.format(now)
        let gatesFailed = spec.gates.map { !$0.passed } ?? false
        var decision = ApprovalDecision(approval: current ?? Approval(state: .pending))

        if current?.state == .rejected {
            decision.approval = current ?? Approval(state: .rejected)
            if let approve = requests?.approve {
                decision.clearApprove = true
                decision.notes.append(ApprovalNote(warning: true, reason: "ApprovalRefused",
                                                   message: "\(approve.requestedBy ?? "someone") asked to approve, but the version was rejected\(current?.by.map { " by \($0)" } ?? ""); a rejected version is never approved"))
            }
            if requests?.reject != nil { decision.clearReject = true }
            return decision
        }
        if let reject = requests?.reject {
            decision.clearReject = true
            decision.clearApprove = requests?.approve != nil
            decision.approval = Approval(state: .rejected, by: reject.requestedBy, time: stamp, reason: reject.reason)
            decision.notes.append(ApprovalNote(warning: false, reason: "Rejected",
                                               message: "rejected by \(reject.requestedBy ?? "unknown")" + (reject.reason.map { ": \($0)" } ?? "")))
            return decision
        }
        if gatesFailed {
            let failed = (spec.gates?.results ?? []).filter { !$0.passed }.map(\.gate.rawValue)
            let why = "evaluation gates failed" + (failed.isEmpty ? "" : ": " + failed.joined(separator: ", "))
            decision.approval = Approval(state: .rejected, by: controllerIdentity, time: current?.time ?? stamp, reason: why)
            if let approve = requests?.approve {
                decision.clearApprove = true
                decision.notes.append(ApprovalNote(warning: true, reason: "ApprovalRefused",
                                                   message: "\(approve.requestedBy ?? "someone") asked to approve, but \(why)"))
            }
            if current?.state != .rejected {
                decision.notes.append(ApprovalNote(warning: true, reason: "GateFailed", message: "not approvable: \(why)"))
            }
            return decision
        }
        if let approve = requests?.approve {
            decision.clearApprove = true
            if current?.state != .approved {
                decision.approval = Approval(state: .approved, by: approve.requestedBy, time: stamp, reason: approve.reason)
                decision.notes.append(ApprovalNote(warning: false, reason: "Approved",
                                                   message: "approved by \(approve.requestedBy ?? "unknown")" + (approve.reason.map { ": \($0)" } ?? "")))
            }
            return decision
        }
        if let declared = spec.approval, declared.state != .pending || current == nil || current?.state == .pending {
            var effective = declared
            // Keep the stamp we recorded when the declaration has none, so status does not churn.
            effective.time = declared.time ?? (current?.state == declared.state ? current?.time : nil) ?? stamp
            if current?.state != declared.state, declared.state != .pending {
                decision.notes.append(ApprovalNote(warning: false, reason: declared.state.rawValue,
                                                   message: "\(declared.state.rawValue.lowercased()) by \(declared.by ?? "spec.approval")"
                                                       + (declared.reason.map { ": \($0)" } ?? "")))
            }
            decision.approval = effective
            return decision
        }
        return decision
    }

    /// Phases the CanaryRollout controller sets; the ModelVersion controller leaves them alone.
    public static let rolloutPhases: Set<ModelVersionPhase> = [.canary, .production, .rolledBack, .archived]

    /// The phase the ModelVersion controller writes, or the current one when a rollout owns it.
    public static func phase(current: ModelVersionPhase?, approval: ApprovalState, invalid: Bool) -> ModelVersionPhase {
        if let current, rolloutPhases.contains(current) { return current }
        if invalid { return .invalid }
        switch approval {
        case .pending: return .pendingApproval
        case .approved: return .approved
        case .rejected: return .rejected
        }
    }

    /// The approval a TrainingJob gives a version it registers: approved at once when its policy
    /// is `Automatic` and every gate passed, else nil (Pending until `sextant approve`).
    public static func automatic(policy: ApprovalPolicy, gatesPassed: Bool, run: String, now: Date) -> Approval? {
        guard policy == .automatic, gatesPassed else { return nil }
        return Approval(state: .approved, by: controllerIdentity, time: KubeTime.format(now),
                        reason: "every evaluation gate passed in run \(run) (approval policy Automatic)")
    }
}
