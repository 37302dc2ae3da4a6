import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

// What starts and cancels a TrainingJob's runs: manual requests, schedules, retrain conditions
// (Prometheus), spec changes.
extension TrainingJobReconciler {
    /// Starts at most one run per reconcile (manual request, schedule, retrain condition, then
    /// creation/spec change) and returns when to look again for timers.
    func startRunIfTriggered(_ ctx: inout RunContext) async throws -> Date? {
        let spec = ctx.tj.spec
        let active = (ctx.status.runs ?? []).filter { $0.result == .running }
        var wake: [Date] = []

        // Manual: `sextant retrain` (status.requests.run) or the annotation.
        let annotation = ctx.tj.metadata.annotations?[TrainingRuns.retrainAnnotation]
        if let (trigger, requestedAt) = TrainingRuns.manualTrigger(request: ctx.status.requests?.run, annotation: annotation,
                                                                   history: ctx.status.runs ?? []) {
            if ctx.status.requests?.run?.requestedAt == requestedAt { ctx.status.requests = nil }
            try await start(trigger: trigger, &ctx)
            // Removed after the status write: patching the TrainingJob now would make that write a conflict.
            if annotation == requestedAt { ctx.handledAnnotation = requestedAt }
            return nil
        }
        if ctx.status.requests?.run != nil { ctx.status.requests = nil }  // already acted on

        if let schedule = spec.schedule, let cron = try? CronSchedule(parsing: schedule.cron) {
            let zone = TimeZone(identifier: schedule.timeZone ?? "UTC") ?? TimeZone(identifier: "UTC") ?? .current
            let created = ctx.tj.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? ctx.now
            let e = SchedulePlanner.evaluate(cron, timeZone: zone, lastScheduleTime: ctx.status.lastScheduleTime.flatMap(KubeTime.parse),
                                             creationTime: created, startingDeadlineSeconds: schedule.startingDeadlineSeconds, now: ctx.now)
            ctx.status.nextScheduleTime = e.next.map(KubeTime.format)
            if let next = e.next { wake.append(next) }
            if let missed = e.missedDeadline {
                ctx.event("MissSchedule", "missed scheduled time \(KubeTime.format(missed)): more than startingDeadlineSeconds (\(schedule.startingDeadlineSeconds ?? 0)) ago",
                          warning: true)
            }
            if let due = e.due {
                if e.tooManyMissed {
                    ctx.event("TooManyMissedTimes", "more than \(SchedulePlanner.missedLimit) missed start times; starting only the latest (\(KubeTime.format(due)))",
                              warning: true)
                } else if e.unmet > 1 {
                    ctx.event("MissedSchedules", "\(e.unmet - 1) earlier schedule times were missed; starting only the latest (\(KubeTime.format(due)))")
                }
                switch SchedulePlanner.concurrency(schedule.concurrencyPolicy ?? .forbid, runActive: !active.isEmpty) {
                case .wait:
                    ctx.notice = "schedule time \(KubeTime.format(due)) is due but run \(active[0].name) is still running (concurrencyPolicy Forbid)"
                    if let sds = schedule.startingDeadlineSeconds { wake.append(due.addingTimeInterval(Double(sds))) }
                case .replaceActive:
                    for run in active { try await cancel(run, reason: "Replaced", message: "replaced by the run scheduled for \(KubeTime.format(due))", &ctx) }
                    fallthrough
                case .start:
                    var trigger = RunTrigger(type: .schedule)
                    trigger.scheduledTime = KubeTime.format(due)
                    ctx.status.lastScheduleTime = KubeTime.format(due)
                    try await start(trigger: trigger, &ctx)
                    return wake.min()
                }
            }
        }

        if let retrain = spec.retrainOn {
            let interval = (try? GoDuration.seconds(retrain.interval ?? "5m")) ?? 300
            let previous = ctx.status.retrainChecks ?? []
            let due = RetrainTrigger.nextCheck(previous: previous, interval: interval, now: ctx.now)
            if due <= ctx.now {
                let fired = try await checkRetrain(retrain, previous: previous, runActive: !active.isEmpty, &ctx)
                wake.append(ctx.now.addingTimeInterval(interval))
                if let fired {
                    var trigger = RunTrigger(type: .retrainCondition)
                    trigger.condition = fired.condition
                    trigger.value = fired.value
                    ctx.status.lastRetrainTime = KubeTime.format(ctx.now)
                    try await start(trigger: trigger, &ctx)
                    return wake.min()
                }
            } else {
                wake.append(due)
            }
        }

        if active.isEmpty, let trigger = TrainingRuns.oneShotTrigger(spec: spec, generation: ctx.tj.metadata.generation, status: ctx.status) {
            try await start(trigger: trigger, &ctx)
        }
        return wake.min()
    }

    func checkRetrain(_ retrain: RetrainPolicy, previous: [RetrainCheck], runActive: Bool,
                      _ ctx: inout RunContext) async throws -> (condition: String, value: Double)? {
        let variables = ["model": ctx.tj.spec.modelName, "namespace": ctx.namespace, "name": ctx.name]
        let target = await PrometheusTargets(settings: settings, client: client)
            .resolve(retrain.prometheus, namespace: ctx.namespace, field: "spec.retrainOn.prometheus")
        var queries: [String: String] = [:]
        var observations: [String: RetrainObservation] = [:]
        var forSeconds: [String: TimeInterval] = [:]
        for condition in retrain.conditions {
            forSeconds[condition.name] = (try? GoDuration.seconds(condition.for ?? "0s")) ?? 0
            let rendered: String
            do {
                rendered = try PromQLTemplate.render(condition.query, variables: variables)
            } catch {
                observations[condition.name] = .error("query template: \(error)")
                continue
            }
            queries[condition.name] = rendered
            guard case .success(let target) = target else {
                observations[condition.name] = .error(target.problem)
                continue
            }
            observations[condition.name] = await query(target, rendered)
        }
        let cooldown = (try? GoDuration.seconds(retrain.cooldown ?? "6h")) ?? 21600
        let evaluation = RetrainTrigger.evaluate(conditions: retrain.conditions, forSeconds: forSeconds, queries: queries,
                                                 observations: observations, previous: previous,
                                                 lastRetrainTime: ctx.status.lastRetrainTime.flatMap(KubeTime.parse),
                                                 cooldown: cooldown, runActive: runActive, now: ctx.now)
        ctx.status.retrainChecks = evaluation.checks
        for check in evaluation.checks where check.outcome == .error {
            ctx.event("RetrainCheckFailed", "retrain condition \(check.name): \(check.message ?? "query failed")", warning: true, action: "Check")
        }
        return evaluation.fired
    }

    func removeRetrainAnnotation(value: String, _ ctx: RunContext) async throws {
        let path = "/metadata/annotations/" + TrainingRuns.retrainAnnotation.replacingOccurrences(of: "~", with: "~0")
            .replacingOccurrences(of: "/", with: "~1")
        let ops: [JSONValue] = [["op": "test", "path": .string(path), "value": .string(value)], ["op": "remove", "path": .string(path)]]
        do {
            let _: DynamicObject = try await client.patch(TrainingResources.trainingJobs, name: ctx.name, .json(ops), namespace: ctx.namespace)
        } catch where error.isKube(.invalid) || error.isKube(.notFound) {
            // Changed or removed meanwhile: a new value is a new request, handled next time.
        }
    }

    /// Creates the run's ConfigMap and Job (idempotent: names are `<job>-<runCount>`, so a retry
    /// after a failed status write finds and adopts what it created) and records the run.
    func start(trigger: RunTrigger, _ ctx: inout RunContext) async throws {
        let tj = ctx.tj
        let count = (ctx.status.runCount ?? 0) + 1
        let runName = TrainingRuns.runName(trainingJob: ctx.name, count: count)
        let all = modelVersions.list(namespace: ctx.namespace).compactMap { try? $0.raw.decode(as: ModelVersion.self) }
        let reserved = (ctx.status.runs ?? []).compactMap(\.modelVersion)
        let version = Registry.nextVersion(model: tj.spec.modelName, existing: all, takenNames: reserved)
        let output = TrainingRuns.outputURI(base: tj.spec.output.uri, model: tj.spec.modelName, version: version)
        do { _ = try await client.create(TrainingResources.configMap(tj, run: runName, outputURI: output)) } catch where error.isKube(.alreadyExists) {}
        let workload = RunWorkload(workers: tj.spec.workers)
        do {
            let _: DynamicObject = try await client.create(workload.resource, DynamicObject(try workload.object(tj, run: runName, settings: settings)),
                                                           namespace: ctx.namespace)
        } catch where error.isKube(.alreadyExists) {}
        var run = TrainingRun(name: runName, trigger: trigger, result: .running)
        run.jobName = runName
        if workload == .mpiJob { run.workers = tj.spec.workers }
        run.startTime = KubeTime.format(ctx.now)
        run.modelVersion = Registry.versionName(model: tj.spec.modelName, version: version)  // reserved until it succeeds
        run.message = "training \(run.modelVersion ?? "") into \(output)"
        ctx.status.runCount = count
        ctx.status.observedGeneration = tj.metadata.generation
        record(run, &ctx)
        ctx.event("RunStarted", "run \(runName) started (\(TrainingRuns.describe(trigger))): \(workload.kind) \(runName), output \(output)", action: "Run")
    }

    func cancel(_ run: TrainingRun, reason: String, message: String, _ ctx: inout RunContext) async throws {
        do {
            try await client.delete(RunWorkload(workers: run.workers).resource, name: run.jobName ?? run.name, namespace: ctx.namespace,
                                    propagationPolicy: .background)
        } catch where error.isKube(.notFound) {}
        var cancelled = run
        cancelled.result = .cancelled
        cancelled.reason = reason
        cancelled.message = message
        cancelled.completionTime = KubeTime.format(ctx.now)
        cancelled.modelVersion = nil
        record(cancelled, &ctx)
        ctx.event("RunCancelled", "run \(run.name): \(message)", warning: true)
    }
}
