import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

/// Runs a TrainingJob: follows its runs' Jobs, registers a ModelVersion for each successful run,
/// starts new runs on a trigger (manual request, schedule, retrain condition, creation or spec
/// change), keeps the history bounded and hands approved versions to a CanaryRollout.
struct TrainingJobReconciler: Reconciler {
    let client: KubeClient
    let settings: ControllerSettings
    let trainingJobs: Cache<DynamicObject>
    let jobs: Cache<DynamicObject>
    /// MPIJobs of runs with `spec.workers` > 1 (nil unless `settings.mpiJobs`).
    var mpiJobs: Cache<DynamicObject>? = nil
    let pods: Cache<DynamicObject>
    let modelVersions: Cache<DynamicObject>
    let rollouts: Cache<DynamicObject>
    let events: EventRecorder
    let query: RetrainQuery
    /// Posts `spec.notifications` in the background (nil: none are posted).
    var notifier: Notifier? = nil
    let logger: Logger

    func reconcile(_ key: ObjectKey) async throws -> ReconcileResult {
        // Gone: its Jobs and ConfigMaps go with it (ownerReferences); its ModelVersions stay.
        guard let raw = trainingJobs.get(key), raw.metadata.deletionTimestamp == nil else { return .done }
        let tj: TrainingJob
        do {
            tj = try raw.raw.decode(as: TrainingJob.self).withSchemaDefaults()
        } catch {
            return try await reportInvalid(raw, [FieldError.decoding(error)])
        }
        var problems = tj.validate()
        if let cron = tj.spec.schedule?.cron, problems.allSatisfy({ $0.path != "spec.schedule.cron" }) {
            do { _ = try CronSchedule(parsing: cron) } catch { problems.append(FieldError("spec.schedule.cron", .invalid, error.description)) }
        }
        if (tj.spec.workers ?? 1) > 1, !settings.mpiJobs {
            problems.append(FieldError("spec.workers", .invalid,
                                       "\(tj.spec.workers ?? 1) workers run as a Kubeflow MPIJob, which this controller does not create: "
                                       + "start sextant-controller with --mpi-jobs (chart value mpiJobs.enabled) with the MPI Operator installed"))
        }
        guard problems.isEmpty else { return try await reportInvalid(raw, problems) }

        let now = settings.now()
        var run = RunContext(tj: tj, now: now)
        try await followActiveRuns(&run)
        try await pruneJobs(run)
        var wake: [Date] = []
        if tj.spec.runPolicy?.suspend != true {
            if let next = try await startRunIfTriggered(&run) { wake.append(next) }
        }
        try await handOff(&run)
        finishStatus(&run)
        _ = try await client.updateStatusIfChanged(original: tj, modified: run.updated)
        if let value = run.handledAnnotation { try await removeRetrainAnnotation(value: value, run) }
        for e in run.events { await events.record(tj, type: e.warning ? .warning : .normal, reason: e.reason, action: e.action, note: e.note, now: now) }
        // After the status write: MLflow being slow or down never delays or fails a run (MLflow.swift).
        if let retry = await reportToMLflow(run.updated, now: now) { wake.append(retry) }
        await notify(run.updated, now: now)
        if run.requeueSoon { wake.append(now.addingTimeInterval(1)) }
        if run.pollProgress { wake.append(now.addingTimeInterval(settings.trainingProgressInterval)) }
        guard let soonest = wake.min() else { return .done }
        let delay = max(0.05, soonest.timeIntervalSince(now))
        return .requeue(after: .milliseconds(Int64(delay * 1000)))
    }

    /// What one reconcile accumulates: the status being built and the Events to record.
    struct RunContext {
        let original: TrainingJob
        var updated: TrainingJob
        let now: Date
        var events: [(warning: Bool, reason: String, action: String, note: String)] = []
        var requeueSoon = false
        /// A run is in progress: read its trainer's progress again after `progressInterval`.
        var pollProgress = false
        /// Something this reconcile found worth saying in `status.message` (a waiting schedule, a missing rollout).
        var notice: String?
        /// The retrain annotation value acted on, removed once the run is recorded.
        var handledAnnotation: String?
        var tj: TrainingJob { original }
        var status: TrainingJobStatus {
            get { updated.status ?? TrainingJobStatus() }
            set { updated.status = newValue }
        }
        init(tj: TrainingJob, now: Date) {
            original = tj
            updated = tj
            self.now = now
        }
        mutating func event(_ reason: String, _ note: String, warning: Bool = false, action: String = "Reconcile") {
            events.append((warning, reason, action, note))
        }
        var name: String { original.metadata.name ?? "" }
        var namespace: String { original.metadata.namespace ?? "default" }
        var historyLimit: Int { original.spec.runPolicy?.runHistoryLimit ?? 10 }
    }

    // MARK: Invalid spec

    /// `Ready=False/InvalidSpec` naming every field, phase Invalid and a Warning Event; written
    /// with a merge patch so it works even when the object does not decode.
    func reportInvalid(_ raw: DynamicObject, _ problems: [FieldError]) async throws -> ReconcileResult {
        let message = problems.map(\.description).joined(separator: "; ")
        let now = settings.now()
        var conditions = (try? raw.raw[path: ["status", "conditions"]]?.decode(as: [Condition].self)) ?? []
        let changed = Conditions.set(&conditions, type: ConditionType.ready, status: .false, reason: ConditionReason.invalidSpec,
                                     message: message, observedGeneration: raw.metadata.generation, now: now)
        let phaseChanged = raw.raw[path: ["status", "phase"]]?.stringValue != TrainingJobPhase.invalid.rawValue
        guard changed || phaseChanged else { return .done }
        let patch: JSONValue = ["status": ["phase": .string(TrainingJobPhase.invalid.rawValue),
                                           "conditions": try JSONValue(encoding: conditions),
                                           "message": .string(message)]]
        let _: DynamicObject = try await client.patch(TrainingResources.trainingJobs, name: raw.name ?? "", .merge(patch),
                                                      namespace: raw.namespace, subresource: "status")
        let regarding = ObjectReference(apiVersion: TrainingJob.apiVersion, kind: TrainingJob.kind, name: raw.name,
                                        namespace: raw.namespace, uid: raw.uid)
        await events.record(regarding: regarding, type: .warning, reason: ConditionReason.invalidSpec, action: "Validate",
                            note: message, now: now)
        return .done
    }

    // MARK: Runs in progress

    func followActiveRuns(_ ctx: inout RunContext) async throws {
        for run in ctx.status.runs ?? [] where run.result == .running {
            let jobName = run.jobName ?? run.name
            let workload = RunWorkload(workers: run.workers)
            guard let job = try await currentJob(jobName, namespace: ctx.namespace, workload: workload) else {
                var cancelled = run
                cancelled.result = .cancelled
                cancelled.reason = "JobDeleted"
                cancelled.message = "the \(workload.kind) \(jobName) was deleted before it finished"
                cancelled.completionTime = KubeTime.format(ctx.now)
                record(cancelled, &ctx)
                ctx.event("RunCancelled", "run \(run.name): \(cancelled.message ?? "")", warning: true)
                continue
            }
            // Suspend and resume the run's Job with the TrainingJob; with a Kueue queue, resuming is Kueue's.
            let userSuspended = ctx.tj.spec.runPolicy?.suspend == true
            let queue = TrainingQueue.queue(labels: ctx.tj.metadata.labels)
            var workloadSuspended = job.raw[path: workload.suspendPath]?.boolValue ?? false
            if workload.isFinished(job) == nil,
               let suspend = TrainingQueue.suspendPatch(userSuspended: userSuspended, queue: queue, workloadSuspended: workloadSuspended) {
                let _: DynamicObject = try await client.patch(workload.resource, name: jobName,
                                                              .merge(workload.suspendPatch(suspend)), namespace: ctx.namespace)
                workloadSuspended = suspend
                ctx.event(suspend ? "RunSuspended" : "RunResumed", "run \(run.name): \(workload.kind) \(jobName) \(suspend ? "suspended" : "resumed")")
            }
            var run = run
            if workload.isFinished(job) == nil {
                noteAdmission(&run, TrainingQueue.waiting(queue: queue, userSuspended: userSuspended, workloadSuspended: workloadSuspended,
                                                          kind: workload.kind, name: jobName), &ctx)
            }
            let allPods = pods.list(labels: [SextantLabel.run: run.name], namespace: ctx.namespace)
            let runPods = workload.reportingPods(allPods)
            let workers = allPods.filter { $0.metadata.labels?[TrainingMPIJob.roleLabel] == "worker" }
            guard let outcome = TrainingOutcome.classify(TrainingResources.observe(job: job, pods: runPods, workers: workers,
                                                                                   workload: workload)) else {
                await readProgress(run, pods: runPods, &ctx)
                continue
            }
            try await finish(run, outcome: outcome, job: job, &ctx)
        }
    }

    /// Records that the run waits for Kueue's admission, or that it was admitted.
    func noteAdmission(_ run: inout TrainingRun, _ waiting: (reason: String, message: String)?, _ ctx: inout RunContext) {
        if let waiting {
            guard run.reason != waiting.reason || run.message != waiting.message else { return }
            if run.reason != waiting.reason { ctx.event("RunAwaitingAdmission", "run \(run.name): \(waiting.message)") }
            run.reason = waiting.reason
            run.message = waiting.message
        } else {
            guard run.reason == TrainingQueue.awaitingAdmission else { return }
            ctx.event("RunAdmitted", "run \(run.name): admitted by Kueue, running")
            run.reason = nil
            run.message = nil
        }
        record(run, &ctx)
    }

    /// The Job from the cache, or from the server when the cache does not have it yet (it may
    /// lag the create that this controller just did); nil when it does not exist.
    func currentJob(_ name: String, namespace: String, workload: RunWorkload = .job) async throws -> DynamicObject? {
        if let cached = (workload == .job ? jobs : mpiJobs)?.get(namespace: namespace, name: name) { return cached }
        do {
            return try await client.get(workload.resource, name: name, namespace: namespace, as: DynamicObject.self)
        } catch where error.isKube(.notFound) {
            return nil
        }
    }

    func record(_ run: TrainingRun, _ ctx: inout RunContext) {
        ctx.status.runs = TrainingRuns.record(run, in: ctx.status.runs ?? [], limit: ctx.historyLimit)
    }

    func finish(_ run: TrainingRun, outcome: RunOutcome, job: DynamicObject, _ ctx: inout RunContext) async throws {
        var done = run
        done.result = outcome.result
        done.reason = outcome.reason
        done.message = outcome.message
        done.completionTime = job.raw[path: ["status", "completionTime"]]?.stringValue ?? KubeTime.format(ctx.now)
        done.record(outcome.summary)
        switch outcome.result {
        case .succeeded:
            let mv = try await register(run: done, summary: outcome.summary, job: job, &ctx)
            done.modelVersion = mv
            done.message = "registered ModelVersion \(mv)"
            ctx.status.latestModelVersion = mv
            ctx.event("RunSucceeded", "run \(run.name) (\(TrainingRuns.describe(run.trigger))) succeeded")
            ctx.event("ModelRegistered", "registered ModelVersion \(mv) from run \(run.name)", action: "Register")
        case .gateFailed:
            done.modelVersion = nil
            ctx.event("GateFailed", "run \(run.name): \(outcome.message)", warning: true)
        default:
            done.modelVersion = nil
            ctx.event("RunFailed", "run \(run.name) \(outcome.result.rawValue) (\(outcome.reason)): \(outcome.message)", warning: true)
        }
        record(done, &ctx)
    }

    // MARK: Registration

    /// Registers the run's ModelVersion once: an existing one with the run's label is reused
    /// (a restart between create and status write), a taken name moves on to the next number.
    func register(run: TrainingRun, summary: TrainerSummary?, job: DynamicObject, _ ctx: inout RunContext) async throws -> String {
        let tj = ctx.tj
        let selector = "\(SextantLabel.trainingJob)=\(ctx.name),\(SextantLabel.run)=\(run.name)"
        let existing = try await client.list(TrainingResources.modelVersions, namespace: ctx.namespace,
                                             options: ListOptions(labelSelector: selector), as: DynamicObject.self)
        if let found = existing.items.first?.name { return found }

        let all = modelVersions.list(namespace: ctx.namespace).compactMap { try? $0.raw.decode(as: ModelVersion.self) }
        let reserved = (ctx.status.runs ?? []).compactMap(\.modelVersion).filter { $0 != run.modelVersion }
        var version = run.modelVersion.flatMap { Registry.version(fromName: $0, model: tj.spec.modelName) }
            ?? Registry.nextVersion(model: tj.spec.modelName, existing: all, takenNames: reserved)
        let aliases = tj.spec.release?.aliases ?? []
        for (name, keep) in Registry.aliasMoves(aliases, to: Registry.versionName(model: tj.spec.modelName, version: version),
                                                model: tj.spec.modelName, among: all) {
            // Guarded by the aliases we read: a concurrent edit makes this fail and the reconcile retry.
            let ops: [JSONValue] = [["op": "test", "path": "/spec/aliases",
                                     "value": .array((all.first { $0.metadata.name == name }?.spec.aliases ?? []).map(JSONValue.string))],
                                    ["op": "replace", "path": "/spec/aliases", "value": .array(keep.map(JSONValue.string))]]
            let _: DynamicObject = try await client.patch(TrainingResources.modelVersions, name: name, .json(ops), namespace: ctx.namespace)
            ctx.event("AliasMoved", "aliases \(aliases.joined(separator: ", ")) moved from \(name)", action: "Register")
        }
        for _ in 0..<20 {
            let mv = try modelVersion(version: version, run: run, summary: summary, job: job, ctx)
            do {
                let created = try await client.create(mv)
                return created.metadata.name ?? ""
            } catch where error.isKube(.alreadyExists) {
                version = max(version + 1, Registry.nextVersion(model: tj.spec.modelName, existing: all, takenNames: reserved))
            }
        }
        throw KubeConfigError("cannot find a free ModelVersion name for model \(tj.spec.modelName)")
    }

    /// The registry entry of a successful run. No ownerReference to the TrainingJob: a registry
    /// entry (possibly in production) must outlive the job that trained it.
    func modelVersion(version: Int64, run: TrainingRun, summary: TrainerSummary?, job: DynamicObject,
                      _ ctx: RunContext) throws -> ModelVersion {
        let tj = ctx.tj
        let model = tj.spec.modelName
        let output = TrainingRuns.outputURI(base: tj.spec.output.uri, model: model, version: version)
        var artifact = ModelArtifact(uri: summary?.artifact?.uri ?? output + "model.json", format: .sextantJSON,
                                     sha256: summary?.artifact?.sha256)
        artifact.sizeBytes = summary?.artifact?.size
        var spec = ModelVersionSpec(modelName: model, version: version, artifact: artifact)
        var data = DataRecord()
        data.uri = summary?.data?.uri ?? tj.spec.data.source.uri
        data.version = summary?.data?.version ?? tj.spec.data.source.version
        data.sha256 = summary?.data?.sha256
        data.rows = summary?.data?.rows
        data.features = tj.spec.data.features
        data.target = tj.spec.data.target
        spec.data = data
        spec.algorithm = tj.spec.algorithm?.rawValue ?? summary?.algorithm
        spec.hyperparameters = summary?.hyperparameters
        spec.metrics = summary?.metrics
        let gates = summary?.gateSummary
        spec.gates = gates
        var lineage = Lineage()
        lineage.trainingJob = ctx.name
        lineage.run = run.name
        lineage.jobName = job.name
        lineage.trainerImage = job.raw[path: ["metadata", "annotations", SextantGroup.labelPrefix + "trainer-image"]]?.stringValue
            ?? TrainingResources.image(tj, settings: settings)
        lineage.parentVersion = ctx.status.latestModelVersion
        lineage.createdBy = ApprovalRules.controllerIdentity
        spec.lineage = lineage
        spec.approval = ApprovalRules.automatic(policy: tj.spec.release?.approval ?? .manual, gatesPassed: gates?.passed ?? true,
                                                run: run.name, now: ctx.now)
        spec.stage = tj.spec.release?.stage
        spec.aliases = tj.spec.release?.aliases.flatMap { $0.isEmpty ? nil : $0 }
        spec.description = "Trained by TrainingJob \(ctx.name), run \(run.name) (\(TrainingRuns.describe(run.trigger)))"
        let meta = ObjectMeta(name: Registry.versionName(model: model, version: version), namespace: ctx.namespace,
                              labels: [SextantLabel.model: model, SextantLabel.trainingJob: ctx.name, SextantLabel.run: run.name])
        return ModelVersion(metadata: meta, spec: spec)
    }

    // MARK: History

    /// Deletes finished Jobs (and their ConfigMaps) beyond the history limits.
    func pruneJobs(_ ctx: RunContext) async throws {
        let owned = [(RunWorkload.job, jobs), (.mpiJob, mpiJobs)].flatMap { workload, cache in
            (cache?.list(labels: [SextantLabel.trainingJob: ctx.name], namespace: ctx.namespace) ?? []).map { (workload, $0) }
        }.filter { $0.1.metadata.ownerReferences?.contains { $0.uid == ctx.tj.metadata.uid } == true }
        let finished = owned.compactMap { workload, job -> (job: String, succeeded: Bool, created: String, workload: RunWorkload)? in
            guard let ok = workload.isFinished(job), let name = job.name else { return nil }
            return (name, ok, job.metadata.creationTimestamp ?? "", workload)
        }.sorted { ($0.created, $0.job) > ($1.created, $1.job) }
        let workloads = Dictionary(finished.map { ($0.job, $0.workload) }, uniquingKeysWith: { first, _ in first })
        let policy = ctx.tj.spec.runPolicy
        let doomed = TrainingRuns.jobsToDelete(finished: finished.map { ($0.job, $0.succeeded) },
                                               successfulLimit: policy?.successfulJobsHistoryLimit ?? 3,
                                               failedLimit: policy?.failedJobsHistoryLimit ?? 1)
        for name in doomed {
            do {
                try await client.delete((workloads[name] ?? .job).resource, name: name, namespace: ctx.namespace, propagationPolicy: .background)
                try await client.delete(TrainingResources.configMaps, name: name, namespace: ctx.namespace)
            } catch where error.isKube(.notFound) {}
        }
    }

    // MARK: Hand-off

    /// Points `spec.release.canaryRollout` at the highest approved version this job registered,
    /// never backwards, with a JSON patch guarded by the rollout's resourceVersion.
    func handOff(_ ctx: inout RunContext) async throws {
        guard let target = ctx.tj.spec.release?.canaryRollout else { return }
        let mine = modelVersions.list(labels: [SextantLabel.trainingJob: ctx.name], namespace: ctx.namespace)
            .compactMap { try? $0.raw.decode(as: ModelVersion.self) }
            .filter { $0.spec.modelName == ctx.tj.spec.modelName }
        // Approved, valid, and not rolled back or archived by a rollout.
        let approved = mine.filter { mv in
            mv.status?.approval?.state == .approved && ![.rolledBack, .archived, .invalid, .rejected].contains(mv.status?.phase)
        }
        guard let best = approved.max(by: { $0.spec.version < $1.spec.version }), let bestName = best.metadata.name else { return }
        guard let rollout = rollouts.get(namespace: ctx.namespace, name: target) else {
            let notice = "CanaryRollout \(target) (spec.release.canaryRollout) not found; \(bestName) waits for it"
            ctx.notice = notice
            ctx.event("CanaryRolloutNotFound", notice, warning: true, action: "HandOff")
            return
        }
        let current = rollout.raw[path: ["spec", "modelVersion"]]?.stringValue
        if let current {
            if current == bestName { return }
            let currentVersion = modelVersions.get(namespace: ctx.namespace, name: current)
                .flatMap { try? $0.raw.decode(as: ModelVersion.self) }.map(\.spec.version)
                ?? Registry.version(fromName: current, model: ctx.tj.spec.modelName)
            if let currentVersion, currentVersion >= best.spec.version { return }  // never move a rollout backwards
        }
        let ops: [JSONValue] = [["op": "test", "path": "/metadata/resourceVersion", "value": .string(rollout.resourceVersion ?? "")],
                                ["op": current == nil ? "add" : "replace", "path": "/spec/modelVersion", "value": .string(bestName)]]
        do {
            let _: DynamicObject = try await client.patch(TrainingResources.canaryRollouts, name: target, .json(ops), namespace: ctx.namespace)
        } catch where error.isKube(.invalid) {
            ctx.requeueSoon = true  // the rollout changed under us: look again
            return
        }
        let note = "handed \(bestName) to CanaryRollout \(target)" + (current.map { " (was \($0))" } ?? "")
        ctx.event("HandedOff", note, action: "HandOff")
        if var runs = ctx.status.runs, let i = runs.firstIndex(where: { $0.modelVersion == bestName }) {
            runs[i].message = "registered ModelVersion \(bestName); \(note)"
            ctx.status.runs = runs
        }
    }

    // MARK: Status summary

    func finishStatus(_ ctx: inout RunContext) {
        let spec = ctx.tj.spec
        let gen = ctx.tj.metadata.generation
        var status = ctx.status
        let runs = status.runs ?? []
        let active = runs.filter { $0.result == .running }
        status.activeRun = active.first?.name
        status.progress = active.first?.progress?.summary
        status.phase = TrainingRuns.phase(spec: spec, runs: runs)
        if spec.schedule != nil || spec.retrainOn != nil || status.observedGeneration == nil { status.observedGeneration = gen }
        var conditions = status.conditions ?? []
        let now = ctx.now
        Conditions.set(&conditions, type: ConditionType.ready, status: .true, reason: ConditionReason.reconciled,
                       message: "spec is valid", observedGeneration: gen, now: now)
        if let run = active.first, run.reason == TrainingQueue.awaitingAdmission {
            Conditions.set(&conditions, type: ConditionType.running, status: .false, reason: TrainingQueue.awaitingAdmission,
                           message: "run \(run.name): \(run.message ?? "waiting for admission")", observedGeneration: gen, now: now)
        } else if let run = active.first {
            Conditions.set(&conditions, type: ConditionType.running, status: .true, reason: "RunActive",
                           message: "run \(run.name) (\(TrainingRuns.describe(run.trigger)))", observedGeneration: gen, now: now)
        } else {
            Conditions.set(&conditions, type: ConditionType.running, status: .false, reason: spec.runPolicy?.suspend == true ? "Suspended" : "Idle",
                           message: spec.runPolicy?.suspend == true ? "suspended: no new runs start" : "no run in progress",
                           observedGeneration: gen, now: now)
        }
        if let last = runs.first(where: { $0.result != .running }) {
            let ok = last.result == .succeeded
            Conditions.set(&conditions, type: ConditionType.succeeded, status: ok ? .true : .false,
                           reason: ok ? "RunSucceeded" : (last.reason ?? last.result.rawValue),
                           message: "run \(last.name): \(last.message ?? last.result.rawValue)", observedGeneration: gen, now: now)
            Conditions.set(&conditions, type: ConditionType.degraded, status: ok || last.result == .cancelled ? .false : .true,
                           reason: ok ? "RunSucceeded" : (last.reason ?? last.result.rawValue),
                           message: ok ? "the last run succeeded" : "run \(last.name) \(last.result.rawValue): \(last.message ?? "")",
                           observedGeneration: gen, now: now)
        }
        status.conditions = conditions
        if let notice = ctx.notice {
            status.message = notice
        } else if let run = active.first, run.reason == TrainingQueue.awaitingAdmission {
            status.message = "run \(run.name) waits for admission: \(run.message ?? "")"
        } else if let run = active.first {
            status.message = "run \(run.name) is running"
        } else if let last = runs.first {
            status.message = "run \(last.name) \(last.result.rawValue)" + (last.message.map { ": \($0)" } ?? "")
        } else {
            status.message = nil
        }
        ctx.status = status
    }
}

extension TrainingJobReconciler {
    /// Hands the runs' transitions not yet in `status.notifications` to the notifier (background).
    func notify(_ tj: TrainingJob, now: Date) async {
        guard let notifier, let targets = tj.spec.notifications, !targets.isEmpty else { return }
        let pending = NotificationPolicy.pending(TrainingNotifications.derive(tj), targets: targets,
                                                 records: tj.status?.notifications, now: now)
        let regarding = ObjectReference(apiVersion: TrainingJob.apiVersion, kind: TrainingJob.kind, name: tj.metadata.name,
                                        namespace: tj.metadata.namespace, uid: tj.metadata.uid)
        await notifier.submit(pending, resource: TrainingResources.trainingJobs, regarding: regarding)
    }
}

// MARK: Progress

extension TrainingJobReconciler {
    /// Reads the last `sextant-progress` line from the tail of the run's running trainer Pod's log
    /// (`pods/log`: the kubelet in a cluster, the local node in development) into the run's
    /// `progress`. Never fails the reconcile: no Pod, no log yet or an error leaves it as it was.
    func readProgress(_ run: TrainingRun, pods runPods: [DynamicObject], _ ctx: inout RunContext) async {
        ctx.pollProgress = true  // every settings.trainingProgressInterval while the run runs
        let running = runPods.filter { $0.raw[path: ["status", "phase"]]?.stringValue == "Running" }
        guard let pod = running.max(by: { ($0.metadata.creationTimestamp ?? "") < ($1.metadata.creationTimestamp ?? "") }),
              let name = pod.metadata.name else { return }
        let path = "/api/v1/namespaces/\(ctx.namespace)/pods/\(name)/log"
        let query = [URLQueryItem(name: "container", value: TrainingResources.containerName),
                     URLQueryItem(name: "tailLines", value: "50"), URLQueryItem(name: "limitBytes", value: "65536")]
        let text: String
        do {
            text = String(decoding: try await client.send(method: "GET", path: path, query: query, accept: "text/plain"), as: UTF8.self)
        } catch {
            logger.debug("cannot read trainer log", metadata: ["pod": "\(ctx.namespace)/\(name)", "error": "\(error)"])
            return
        }
        guard let progress = TrainerProgressLog.latest(in: text, at: ctx.now),
              TrainerProgressLog.changed(run.progress, progress) else { return }
        var updated = run
        updated.progress = progress
        record(updated, &ctx)
    }
}
