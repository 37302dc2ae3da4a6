import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

@Suite struct ApprovalTests {
    let now = Date(timeIntervalSince1970: 1_780_000_000)
    var stamp: String { KubeTime.format(now) }

    func spec(gatesPassed: Bool? = true, approval: Approval? = nil) -> ModelVersionSpec {
        var s = ModelVersionSpec(modelName: "fraud", version: 1, artifact: ModelArtifact(uri: "file:///m.json"))
        if let gatesPassed {
            var r = GateResult(gate: .performance, passed: gatesPassed)
            r.checks = [GateCheck(name: "aucRoc", passed: gatesPassed)]
            s.gates = GateSummary(passed: gatesPassed, results: [r])
        }
        s.approval = approval
        return s
    }

    func requests(approve: String? = nil, reject: String? = nil) -> ModelVersionRequests {
        var r = ModelVersionRequests()
        r.approve = approve.map { ManualRequest(requestedAt: $0, requestedBy: "ana", reason: "looks good") }
        r.reject = reject.map { ManualRequest(requestedAt: $0, requestedBy: "bo", reason: "bias") }
        return r
    }

    @Test func pendingByDefaultAndFromSpec() {
        #expect(ApprovalRules.decide(spec: spec(), current: nil, requests: nil, now: now).approval.state == .pending)
        let auto = ApprovalRules.automatic(policy: .automatic, gatesPassed: true, run: "tj-1", now: now)
        #expect(auto?.state == .approved && auto?.by == "sextant-controller")
        #expect(ApprovalRules.automatic(policy: .manual, gatesPassed: true, run: "tj-1", now: now) == nil)
        #expect(ApprovalRules.automatic(policy: .automatic, gatesPassed: false, run: "tj-1", now: now) == nil)
        let d = ApprovalRules.decide(spec: spec(approval: auto), current: nil, requests: nil, now: now)
        #expect(d.approval.state == .approved && d.notes.map(\.reason) == ["Approved"])
        // Stable: deciding again from the recorded approval changes nothing and says nothing.
        let again = ApprovalRules.decide(spec: spec(approval: auto), current: d.approval, requests: nil, now: now.addingTimeInterval(60))
        #expect(again.approval == d.approval && again.notes.isEmpty)
    }

    @Test func approveRequestIsActedOnAndCleared() {
        let d = ApprovalRules.decide(spec: spec(), current: Approval(state: .pending), requests: requests(approve: "t1"), now: now)
        #expect(d.approval == Approval(state: .approved, by: "ana", time: stamp, reason: "looks good"))
        #expect(d.clearApprove && !d.clearReject)
        #expect(d.notes.first?.message == "approved by ana: looks good")
        // Once cleared, the approval stays.
        let later = ApprovalRules.decide(spec: spec(), current: d.approval, requests: nil, now: now)
        #expect(later.approval == d.approval)
    }

    @Test func rejectionIsFinal() {
        let rejected = ApprovalRules.decide(spec: spec(), current: Approval(state: .approved), requests: requests(reject: "t1"), now: now)
        #expect(rejected.approval.state == .rejected && rejected.approval.by == "bo" && rejected.clearReject)
        // Neither an approve request nor an approving spec brings it back.
        let asked = ApprovalRules.decide(spec: spec(approval: Approval(state: .approved, by: "gitops")), current: rejected.approval,
                                         requests: requests(approve: "t2"), now: now)
        #expect(asked.approval.state == .rejected && asked.clearApprove)
        #expect(asked.notes.first?.warning == true && asked.notes.first?.reason == "ApprovalRefused")
        // Reject wins over approve in the same round.
        let both = ApprovalRules.decide(spec: spec(), current: nil, requests: requests(approve: "t1", reject: "t1"), now: now)
        #expect(both.approval.state == .rejected && both.clearApprove && both.clearReject)
    }

    @Test func failedGatesCannotBeApproved() {
        let d = ApprovalRules.decide(spec: spec(gatesPassed: false, approval: Approval(state: .approved)), current: nil,
                                     requests: requests(approve: "t1"), now: now)
        #expect(d.approval.state == .rejected && d.approval.reason == "evaluation gates failed: Performance")
        #expect(d.clearApprove && d.notes.map(\.reason) == ["ApprovalRefused", "GateFailed"])
    }

    @Test func specRejectionAndNoGates() {
        let d = ApprovalRules.decide(spec: spec(gatesPassed: nil, approval: Approval(state: .rejected, by: "jane")), current: nil, requests: nil, now: now)
        #expect(d.approval.state == .rejected && d.approval.by == "jane" && d.approval.time == stamp)
        // Without gates, manual approval works.
        let ok = ApprovalRules.decide(spec: spec(gatesPassed: nil), current: nil, requests: requests(approve: "t"), now: now)
        #expect(ok.approval.state == .approved)
    }

    @Test func phaseOwnership() {
        #expect(ApprovalRules.phase(current: nil, approval: .pending, invalid: false) == .pendingApproval)
        #expect(ApprovalRules.phase(current: .pendingApproval, approval: .approved, invalid: false) == .approved)
        #expect(ApprovalRules.phase(current: .approved, approval: .rejected, invalid: false) == .rejected)
        #expect(ApprovalRules.phase(current: .approved, approval: .approved, invalid: true) == .invalid)
        for owned in [ModelVersionPhase.canary, .production, .rolledBack, .archived] {
            #expect(ApprovalRules.phase(current: owned, approval: .rejected, invalid: true) == owned)
        }
    }
}
