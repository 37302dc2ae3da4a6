import Foundation
import Logging
import Metrics
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

/// Reconciles a CanaryRollout: serve the versions its status needs, check (read only) that traffic
/// routes as its status says, let the state machine decide the next status (measuring when it
/// asks), route as that status says and commit it with the verified weight: one status write per
/// pass. A rollback is committed first and routed at once after, in the same pass.
public struct CanaryRolloutReconciler: Reconciler {
    let client: KubeClient
    let settings: ControllerSettings
    let rollouts: Cache<DynamicObject>
    let modelVersions: Cache<DynamicObject>
    /// The Deployments that serve the versions (beside the router, which routes to them).
    let server: RolloutServer
    let router: TrafficRouter
    let analysis: RolloutAnalysis
    let webhooks: RolloutWebhooks
    let events: EventRecorder
    /// Posts `spec.notifications` in the background (nil: none are posted).
    let notifier: Notifier?
    let logger: Logger

    public init(client: KubeClient, settings: ControllerSettings, rollouts: Cache<DynamicObject>,
                modelVersions: Cache<DynamicObject>, deployments: Cache<DynamicObject>,
                servingDeployments: Cache<ServingDeployment>? = nil, analysis: RolloutAnalysis,
                webhooks: RolloutWebhooks? = nil, events: EventRecorder, notifier: Notifier? = nil,
                logger: Logger = Logger(label: "sextant.controllers.canaryrollout")) {
        self.client = client
        self.settings = settings
        self.rollouts = rollouts
        self.modelVersions = modelVersions
        self.server = RolloutServer(client: client, serverImage: settings.serverImage, modelVersions: modelVersions,
                                    deployments: deployments, servingDeployments: servingDeployments, logger: logger)
        self.router = TrafficRouter(client: client)
        self.analysis = analysis
        self.webhooks = webhooks ?? RolloutWebhooks(caFile: settings.webhookCAFile, readSecret: PrometheusTargets.reader(client))
        self.events = events
        self.notifier = notifier
        self.logger = logger
    }

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileResult {
        // Deleted: the Deployments it created go with it (ownerReferences); the VirtualService is the user's.
        guard let object = rollouts.get(key), object.metadata.deletionTimestamp == nil else { return .done }
        let rollout: CanaryRollout
        do {
            rollout = try object.raw.decode(as: CanaryRollout.self).withSchemaDefaults()
        } catch {
            return try await reportInvalid(object, [FieldError.decoding(error)])
        }
        let problems = rollout.validate()
        guard problems.isEmpty else { return try await reportInvalid(object, problems) }
        return try await reconcile(rollout)
    }

    func reconcile(_ rollout: CanaryRollout) async throws -> ReconcileResult {
        let now = settings.now()
        let status = rollout.status ?? CanaryRolloutStatus()

        let serving = try await server.serve(rollout, status: status, now: now)
        // `reads`: the routing objects `probe` read, handed to the pass's route write (read once a pass).
        let (routing, probed) = try await probe(rollout, status: status)
        var reads = probed
        let stableUpdate = await server.stableUpdate(rollout, status: status)
        let outcome = await decide(rollout, status: status, serving: serving, routing: routing, stableUpdate: stableUpdate,
                                   now: now)

        // One status write per pass (docs/canary.md#one-write-per-pass): route as the decided
        // status says (one guarded patch, read back; nothing when the route already does), then
        // commit that status with the verified weight. A pass that dies between the two leaves the
        // route ahead of the status; the next pass decides again from the committed status, and
        // its own write moves the route only if it decides otherwise (`probe` does not restore).
        var next = rollout
        next.status = outcome.status
        var stored: CanaryRollout
        if Self.commitsBeforeRouting(outcome) {
            // A rollback is committed before traffic moves, then the verified weight 0 in a second
            // write: if traffic moved first and the process died before the commit, the next pass
            // would decide again from the older status, and a check that passes this time would put
            // the failing candidate back on traffic; the RolledBack record and Event derive from
            // the committed history (issue 21). The only transition with two writes.
            setConditions(&next, routing: routing, now: now)
            stored = try await client.updateStatusIfChanged(original: rollout, modified: next)
            if Self.failpoint == "kill-after-rollback-commit", stored.status?.phase == .rolledBack,
               rollout.status?.phase != .rolledBack {
                // Crash tests: die exactly between the status commit and everything that follows it.
                kill(getpid(), SIGKILL)
            }
            var routed = stored
            var s = stored.status ?? CanaryRolloutStatus()
            let result = try await route(stored, status: &s, reads: &reads)
            routed.status = s
            setConditions(&routed, routing: result, now: now)
            stored = try await client.updateStatusIfChanged(original: stored, modified: routed)
        } else {
            var s = outcome.status
            let result = try await route(next, status: &s, reads: &reads)
            next.status = s
            setConditions(&next, routing: result, now: now)
            stored = try await client.updateStatusIfChanged(original: rollout, modified: next)
        }
        // Serving readiness needs no timer: Deployments (owned, and the external ones) are watched.
        _ = try await server.serve(stored, status: stored.status ?? CanaryRolloutStatus(), now: now)
        try await recordVersions(stored, now: now)
        await report(outcome, on: stored, now: now)
        await writeTransitionEvents(stored, now: now)
        await notify(stored, now: now)

        var wait = outcome.requeueAfter
        // Istio objects are not watched: a missing or broken one is read again every 10 s.
        if case .failed = routing { wait = min(wait ?? .seconds(10), .seconds(10)) }
        if let wait { return .requeue(after: max(wait, .milliseconds(50))) }
        return .done
    }

    /// Rollbacks and failures: committed first, routed second (see `reconcile`).
    static func commitsBeforeRouting(_ outcome: CanaryOutcome) -> Bool {
        outcome.transitions.contains {
            switch $0 {
            case .rolledBack, .failed: return true
            case .started, .promoted, .cancelled: return false
            }
        }
    }

    // MARK: Decide

    func decide(_ rollout: CanaryRollout, status: CanaryRolloutStatus, serving: ServingState, routing: RoutingState,
                stableUpdate: StableUpdateState = .notApplicable, now: Date) async -> CanaryOutcome {
        var observation = RolloutObservation(now: now, candidate: candidateState(rollout), serving: serving, routing: routing,
                                             stableUpdate: stableUpdate)
        let stable = status.stableVersion ?? ""
        let canary = status.canaryVersion ?? rollout.spec.modelVersion ?? ""
        for _ in 0..<8 {
            switch CanaryMachine.decide(spec: rollout.spec, status: status, generation: rollout.metadata.generation,
                                        observed: observation) {
            case .decided(let outcome):
                return outcome
            case .need(.analysis):
                var measured = rollout, stable = stable, canary = canary
                if let window = status.rollbackWindow, CanaryMachine.resumed(status).phase == .succeeded {
                    // The promoted version on probation: its threshold metrics, the previous one as `stable`.
                    measured.spec = RollbackWindow.analysedSpec(rollout.spec)
                    stable = window.previousStable
                    canary = window.version
                }
                let measurements = await analysis.run(measured, stable: stable, canary: canary, now: now)
                for m in measurements {
                    Counter(label: "sextant_rollout_measurements_total", dimensions: [
                        ("namespace", rollout.metadata.namespace ?? ""), ("rollout", rollout.metadata.name ?? ""),
                        ("metric", m.metric), ("outcome", m.outcome.rawValue)]).increment()
                }
                observation.analysis = measurements
            case .need(.backgroundAnalysis):
                let measured = CanaryRollout(metadata: rollout.metadata, spec: BackgroundAnalysisRuns.analysedSpec(rollout.spec),
                                             status: rollout.status)
                observation.backgroundAnalysis = await analysis.run(measured, stable: stable, canary: canary, now: now)
            case .need(.webhooks(let type)):
                let hooks = (rollout.spec.webhooks ?? []).filter { $0.type == type }
                observation.webhooks[type] = await webhooks.call(hooks, rollout: rollout, stable: status.stableVersion,
                                                                 canary: canary, now: now)
            }
        }
        // The machine asks for each measurement at most once per pass; reaching here is a bug.
        var outcome = CanaryOutcome(status: status)
        outcome.requeueAfter = .seconds(5)
        return outcome
    }

    /// Whether `spec.modelVersion` may go out, from the ModelVersion cache.
    func candidateState(_ rollout: CanaryRollout) -> CandidateState {
        guard let name = rollout.spec.modelVersion, !name.isEmpty else { return .unset }
        let namespace = rollout.metadata.namespace ?? ""
        guard let object = modelVersions.get(namespace: namespace, name: name) else {
            return .ineligible(name, reason: "NotFound", message: "ModelVersion \(namespace)/\(name) not found")
        }
        guard let version = try? object.raw.decode(as: ModelVersion.self) else {
            return .ineligible(name, reason: "Invalid", message: "ModelVersion \(name) does not decode; see its Ready condition")
        }
        if version.spec.modelName != rollout.spec.modelName {
            return .ineligible(name, reason: "WrongModel",
                               message: "ModelVersion \(name) is a version of model \(version.spec.modelName), not \(rollout.spec.modelName)")
        }
        if version.status?.phase == .invalid {
            return .ineligible(name, reason: "Invalid", message: "ModelVersion \(name) is invalid: \(version.status?.message ?? "")")
        }
        switch (version.status?.approval ?? version.spec.approval)?.state {
        case .approved?:
            break
        case .rejected?:
            return .ineligible(name, reason: "Rejected", message: "ModelVersion \(name) was rejected; it can never be rolled out")
        case .pending?, nil:
            return .ineligible(name, reason: "NotApproved",
                               message: "ModelVersion \(name) is not approved yet (`sextant approve \(name)`)")
        }
        if let record = version.status?.rolledBack {
            return .rolledBackBefore(name, message: "ModelVersion \(name) was rolled back at \(record.time) (\(record.reason ?? "")); "
                                     + "`sextant retry \(rollout.metadata.name ?? "")` rolls it out again")
        }
        // The rollout's own history, committed before the ModelVersion record is written.
        if let record = RolloutHistory.lastOutcome(of: name, in: rollout.status),
           record.outcome == .rolledBack || record.outcome == .failed {
            return .rolledBackBefore(name, message: "ModelVersion \(name) was rolled back at \(record.endTime ?? "") (\(record.reason ?? "")); "
                                     + "`sextant retry \(rollout.metadata.name ?? "")` rolls it out again")
        }
        return .eligible(name)
    }

    // MARK: Route

    /// The routing the machine decides on, without writing: `.verified` when the route routes
    /// what the committed status asks. A route that differs was edited out of band, or moved by
    /// a pass that died before its status commit; either way it counts as verified here, and the
    /// one write after the decision puts it where the decided status says (restoring the edit, or
    /// nothing to write when the dead pass's move is decided again). Restoring here would undo
    /// that move and make it again in the same pass. After a failed write (RoutingReady False)
    /// the route is written as the committed status asks first, so a failure is seen again.
    /// Returns the routing objects it read, for the pass's `route` (each is read once a pass).
    func probe(_ rollout: CanaryRollout, status: CanaryRolloutStatus) async throws -> (RoutingState, RoutingReads) {
        guard let desired = CanaryMachine.desiredRouting(spec: rollout.spec, status: status) else {
            return (.notApplicable, RoutingReads())
        }
        let failedBefore = status.conditions?.contains { $0.type == ConditionType.routingReady && $0.status == "False" } ?? false
        if failedBefore {
            var scratch = status
            var reads = RoutingReads()
            return (try await route(rollout, status: &scratch, reads: &reads), reads)
        }
        do {
            let check = try await router.check(rollout, stableVersion: desired.stableVersion,
                                               canaryVersion: desired.canaryVersion, split: desired.split)
            return (.verified, check.reads)
        } catch let error as RoutingError {
            return (.failed(reason: error.reason.rawValue, message: error.message), RoutingReads())
        }
    }

    /// Makes the route route what the status asks; records the verified split in status. Writes
    /// from `reads` (what this pass read) and leaves there what it read or wrote; a stale one
    /// fails its guarded patch and is read again (`Router.route`).
    func route(_ rollout: CanaryRollout, status: inout CanaryRolloutStatus,
               reads: inout RoutingReads) async throws -> RoutingState {
        guard let desired = CanaryMachine.desiredRouting(spec: rollout.spec, status: status) else { return .notApplicable }
        do {
            let result = try await router.route(rollout, stableVersion: desired.stableVersion, canaryVersion: desired.canaryVersion,
                                                split: desired.split, manageSelectors: rollout.spec.serving.managed != nil,
                                                reads: reads)
            reads = result.reads
            let recorded = status.canaryWeight
            let verified = result.observed.canaryWeight ?? desired.split.canaryWeight
            if result.changed, recorded == desired.split.canaryWeight, status.mirrorPercent == desired.split.mirrorPercent {
                // Status says this split was already applied, yet the route differed: edited out of band
                // (or moved by a pass that died before its commit, and decided otherwise now).
                await events.record(rollout, type: .warning, reason: "RoutingRestored", action: "Route",
                                    note: "\(rollout.spec.routing.objectLabel) read \(result.previous); restored \(desired.split)")
            }
            status.canaryWeight = verified
            status.mirrorPercent = desired.split.mirrorPercent
            Gauge(label: "sextant_rollout_canary_weight", dimensions: [
                ("namespace", rollout.metadata.namespace ?? ""), ("rollout", rollout.metadata.name ?? "")]).record(verified)
            return .verified
        } catch let error as RoutingError {
            return .failed(reason: error.reason.rawValue, message: error.message)
        }
    }

    /// `SEXTANT_FAILPOINT` (crash tests only): `kill-after-rollback-commit` SIGKILLs the process
    /// right after it commits a status that newly reads `RolledBack`.
    static let failpoint = ProcessInfo.processInfo.environment["SEXTANT_FAILPOINT"]

    // MARK: Records

    /// Keeps each ModelVersion's serving phase in line with the rollout's status (level-triggered:
    /// a pass that died before this point is repaired by the next one).
    func recordVersions(_ rollout: CanaryRollout, now: Date) async throws {
        guard let status = rollout.status.map(CanaryMachine.resumed) else { return }
        let namespace = rollout.metadata.namespace ?? ""
        let rolloutName = rollout.metadata.name ?? ""
        for object in modelVersions.list(modelName: rollout.spec.modelName, namespace: namespace) {
            guard let version = try? object.raw.decode(as: ModelVersion.self), version.spec.modelName == rollout.spec.modelName,
                  let name = version.metadata.name else { continue }
            var s = version.status ?? ModelVersionStatus()
            if name == status.stableVersion {
                s.phase = .production
                s.servedBy = rolloutName
            } else if name == status.canaryVersion, CanaryMachine.isActive(status) {
                s.phase = .canary
                s.servedBy = rolloutName
            } else if let ended = RolloutHistory.lastOutcome(of: name, in: status),
                      ended.outcome == .rolledBack || ended.outcome == .failed {
                // From the committed history: right whatever happened after the commit (a crash,
                // a new candidate before the restart).
                let time = ended.endTime.flatMap(KubeTime.parse).map(KubeTime.format) ?? KubeTime.format(now)
                if s.phase != .rolledBack || s.rolledBack?.time != time || s.rolledBack?.canaryRollout != rolloutName {
                    var record = RollbackRecord(time: time, canaryRollout: rolloutName, reason: ended.reason)
                    record.message = ended.message
                    s.rolledBack = record
                }
                s.phase = .rolledBack
                s.servedBy = nil
            } else if name == status.canaryVersion, status.phase == .rolledBack || status.phase == .failed {
                // A status written before `history` existed.
                if s.phase != .rolledBack || s.rolledBack == nil {
                    var record = RollbackRecord(time: KubeTime.format(now), canaryRollout: rolloutName,
                                                reason: status.message.flatMap { $0.split(separator: ":").first.map(String.init) })
                    record.message = status.message
                    s.rolledBack = record
                }
                s.phase = .rolledBack
                s.servedBy = nil
            } else if s.servedBy == rolloutName, s.phase == .production || s.phase == .canary {
                s.phase = .archived
                s.servedBy = nil
            } else {
                continue
            }
            var modified = version
            modified.status = s
            do {
                _ = try await client.updateStatusIfChanged(original: version, modified: modified)
            } catch let error as KubeError where error.reason == .conflict {
                // The ModelVersion controller wrote meanwhile; the next pass retries from the fresh cache.
                logger.debug("ModelVersion \(namespace)/\(name) changed meanwhile; retrying later")
            }
        }
    }

    func report(_ outcome: CanaryOutcome, on rollout: CanaryRollout, now: Date) async {
        for event in outcome.events {
            await events.record(rollout, type: event.warning ? .warning : .normal, reason: event.reason,
                                action: "Rollout", note: event.message, now: now)
        }
        let dims = [("namespace", rollout.metadata.namespace ?? ""), ("rollout", rollout.metadata.name ?? "")]
        for transition in outcome.transitions {
            switch transition {
            case .promoted:
                Counter(label: "sextant_rollout_promotions_total", dimensions: dims).increment()
            case .rolledBack(_, let reason, _):
                Counter(label: "sextant_rollout_rollbacks_total", dimensions: dims + [("phase", "RolledBack"), ("reason", reason)]).increment()
            case .failed(_, let reason, _):
                Counter(label: "sextant_rollout_rollbacks_total", dimensions: dims + [("phase", "Failed"), ("reason", reason)]).increment()
            case .started:
                Counter(label: "sextant_rollout_started_total", dimensions: dims).increment()
            case .cancelled:
                Counter(label: "sextant_rollout_cancelled_total", dimensions: dims).increment()
            }
        }
    }

    /// RolloutStarted, Promoted, RolledBack and RolloutFailed, at least once: derived from the
    /// committed history under deterministic names, so a pass after a crash writes a missing one
    /// and finds (409) one already written. Only recent transitions: Events expire after an hour.
    func writeTransitionEvents(_ rollout: CanaryRollout, now: Date) async {
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind, name: rollout.metadata.name,
                                        namespace: rollout.metadata.namespace, uid: rollout.metadata.uid)
        for event in RolloutHistory.transitionEvents(status: rollout.status, rollout: rollout.metadata.name ?? "",
                                                     uid: rollout.metadata.uid ?? "")
        where now.timeIntervalSince(event.time) < Self.transitionEventHorizon {
            await events.recordOnce(regarding: regarding, name: event.name, type: event.warning ? .warning : .normal,
                                    reason: event.reason, action: "Rollout", note: event.message, eventTime: event.time)
        }
    }

    static let transitionEventHorizon: TimeInterval = 3600

    /// Hands the transitions of the committed status not yet in `status.notifications` to the
    /// notifier, which posts them in the background: a receiver never holds the rollout.
    func notify(_ rollout: CanaryRollout, now: Date) async {
        guard let notifier, let targets = rollout.spec.notifications, !targets.isEmpty else { return }
        let pending = NotificationPolicy.pending(RolloutNotifications.derive(rollout), targets: targets,
                                                 records: rollout.status?.notifications, now: now)
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind, name: rollout.metadata.name,
                                        namespace: rollout.metadata.namespace, uid: rollout.metadata.uid)
        await notifier.submit(pending, resource: RolloutServing.canaryRollouts, regarding: regarding)
    }

    // MARK: Conditions

    func setConditions(_ rollout: inout CanaryRollout, routing: RoutingState, now: Date) {
        var status = rollout.status ?? CanaryRolloutStatus()
        var conditions = status.conditions ?? []
        let generation = rollout.metadata.generation
        Conditions.set(&conditions, type: ConditionType.ready, status: .true, reason: ConditionReason.reconciled,
                       message: "spec is valid", observedGeneration: generation, now: now)
        switch routing {
        case .verified:
            Conditions.set(&conditions, type: ConditionType.routingReady, status: .true, reason: "WeightsVerified",
                           message: "canary weight \(status.canaryWeight ?? 0)%, verified on \(rollout.spec.routing.objectLabel)",
                           observedGeneration: generation, now: now)
        case .failed(let reason, let message):
            Conditions.set(&conditions, type: ConditionType.routingReady, status: .false, reason: reason,
                           message: message, observedGeneration: generation, now: now)
        case .notApplicable:
            break
        }
        let message = status.message ?? ""
        switch status.phase {
        case .waiting?:
            Conditions.set(&conditions, type: ConditionType.progressing, status: .false, reason: status.reason ?? "Waiting",
                           message: message, observedGeneration: generation, now: now)
        case .invalid?:
            break
        case .initializing?, .progressing?, .paused?, .promoting?:
            Conditions.set(&conditions, type: ConditionType.progressing, status: .true, reason: status.phase?.rawValue ?? "",
                           message: message, observedGeneration: generation, now: now)
        case .rolledBack?, .failed?:
            let reason = status.reason ?? message.split(separator: ":").first.map(String.init) ?? (status.phase?.rawValue ?? "")
            Conditions.set(&conditions, type: ConditionType.progressing, status: .false, reason: reason,
                           message: message, observedGeneration: generation, now: now)
            Conditions.set(&conditions, type: ConditionType.promoted, status: .false, reason: reason,
                           message: "\(status.canaryVersion ?? "") was not promoted; \(status.stableVersion ?? "nothing") serves",
                           observedGeneration: generation, now: now)
        case .succeeded?:
            Conditions.set(&conditions, type: ConditionType.progressing, status: .false, reason: "Succeeded",
                           message: message, observedGeneration: generation, now: now)
            Conditions.set(&conditions, type: ConditionType.promoted, status: .true, reason: "Promoted",
                           message: "\(status.stableVersion ?? "") serves all traffic", observedGeneration: generation, now: now)
        case nil:
            break
        }
        status.conditions = conditions
        rollout.status = status
    }

    func reportInvalid(_ object: DynamicObject, _ problems: [FieldError]) async throws -> ReconcileResult {
        let message = problems.map(\.description).joined(separator: "; ")
        var raw = object.raw
        var status = raw["status"]?.objectValue ?? [:]
        var conditions = (try? (status["conditions"] ?? []).decode(as: [Condition].self)) ?? []
        let generation = object.metadata.generation
        let changed = Conditions.set(&conditions, type: ConditionType.ready, status: .false, reason: ConditionReason.invalidSpec,
                                     message: message, observedGeneration: generation, now: settings.now())
        guard changed || status["phase"]?.stringValue != RolloutPhase.invalid.rawValue else { return .done }
        status["conditions"] = try JSONValue(encoding: conditions)
        // Phase `Invalid`, the phase it was in held: nothing moves until the spec is fixed.
        let previous = try? JSONValue.object(status).decode(as: CanaryRolloutStatus.self)
        let invalid = CanaryMachine.invalid(previous, message: message)
        status["phase"] = .string(RolloutPhase.invalid.rawValue)
        status["heldPhase"] = invalid.heldPhase.map { .string($0.rawValue) }
        status["reason"] = .string(RolloutReason.invalidSpec)
        status["message"] = .string("invalid spec: \(message)")
        raw["status"] = .object(status)
        let path = RolloutServing.canaryRollouts.path(namespace: object.metadata.namespace, name: object.metadata.name,
                                                      subresource: "status")
        _ = try await client.send(method: "PUT", path: path, body: Data(raw.serialized()))
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind,
                                        name: object.metadata.name, namespace: object.metadata.namespace, uid: object.metadata.uid)
        await events.record(regarding: regarding, type: .warning, reason: ConditionReason.invalidSpec, action: "Validate", note: message)
        return .done
    }
}

extension RolloutServing {
    public static let canaryRollouts = ResourceDescriptor(CanaryRollout.self)
}
