import Foundation
import SextantAPI

/// The TrainingJob pages' bodies: pure, objects in, HTML out.
public enum TrainingPages {
    public static func jobPath(_ ns: String, _ name: String) -> String { "/training/\(Html.component(ns))/\(Html.component(name))" }
    public static func runPath(_ ns: String, _ job: String, _ run: String) -> String { jobPath(ns, job) + "/runs/\(Html.component(run))" }

    /// The runs newest first (as the status keeps them); the active run, if any, is the one running.
    static func lastRun(_ job: TrainingJob) -> TrainingRun? { job.status?.runs?.first }

    public static func list(_ jobs: [TrainingJob], namespace: String?, selector: String?, next: String?) -> String {
        "<h1>Training</h1>" + Layout.filter(path: "/training", namespace: namespace, selector: selector)
            + Layout.table(["Namespace", "Name", "Model", "Phase", "Schedule", "Next run", "Last run", "Result", "Progress", "Latest version"], jobs.map { job in
                let ns = job.metadata.namespace ?? "", name = job.metadata.name ?? ""
                let last = lastRun(job)
                let active = job.status?.activeRun.flatMap { a in job.status?.runs?.first { $0.name == a } }
                return [Html.escape(ns), Layout.link(jobPath(ns, name), name),
                        Html.escape(job.spec.modelName), Layout.badge(job.status?.phase?.rawValue ?? "Pending"),
                        Html.escape(job.spec.schedule?.cron ?? "-"), Html.escape(job.status?.nextScheduleTime ?? "-"),
                        last.map { Layout.link(runPath(ns, name, $0.name), $0.name) } ?? "-",
                        last.map { Layout.badge($0.result.rawValue) } ?? "-",
                        Html.escape(active?.progress?.summary ?? job.status?.progress ?? "-"),
                        job.status?.latestModelVersion.map { Layout.link("/models/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-"]
            }, id: "trainingjobs", empty: "No TrainingJobs found.")
            + RolloutPages.more(path: "/training", namespace: namespace, selector: selector, next: next)
    }

    public static func job(_ job: TrainingJob, csrf: String, access: ActionAccess = .allowed) -> String {
        let ns = job.metadata.namespace ?? "", name = job.metadata.name ?? ""
        var out = "<h1>TrainingJob <span id=\"job-name\">\(Html.escape(ns))/\(Html.escape(name))</span></h1><dl class=\"facts\">"
        out += "<dt>Model</dt><dd>\(Html.escape(job.spec.modelName))</dd>"
        out += "<dt>Phase</dt><dd id=\"phase\">\(Layout.badge(job.status?.phase?.rawValue ?? "Pending"))</dd>"
        if let message = job.status?.message { out += "<dt>Message</dt><dd>\(Html.escape(message))</dd>" }
        if let progress = job.status?.progress { out += "<dt>Progress</dt><dd id=\"progress\">\(Html.escape(progress))</dd>" }
        out += "<dt>Schedule</dt><dd>\(Html.escape(job.spec.schedule?.cron ?? "-")) · next \(Html.escape(job.status?.nextScheduleTime ?? "-"))</dd>"
        out += "<dt>Latest version</dt><dd>" + (job.status?.latestModelVersion.map { Layout.link("/models/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-") + "</dd></dl>"
        out += Layout.actions([.retrain], namespace: ns, name: name, csrf: csrf, access: access)
        out += "<h2>Runs</h2>" + Layout.table(["Run", "Trigger", "Phase", "Started", "Completed", "Data", "Metrics", "Model version", "Message"], (job.status?.runs ?? []).map { run in
            [Layout.link(runPath(ns, name, run.name), run.name), Html.escape(trigger(run)), Layout.badge(run.result.rawValue),
             Html.escape(run.startTime ?? "-"), Html.escape(run.completionTime ?? "-"), Html.escape(data(run)),
             Html.escape(metricsLine(run)),
             run.modelVersion.map { Layout.link("/models/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-",
             Html.escape(run.result == .running ? run.progress?.summary ?? "" : run.message ?? "")]
        }, id: "runs", empty: "No runs yet.")
        return out
    }

    /// One run: its facts, metrics and validation-loss curve.
    public static func run(_ job: TrainingJob, run: TrainingRun) -> String {
        let ns = job.metadata.namespace ?? "", name = job.metadata.name ?? ""
        var out = "<h1>Run <span id=\"run-name\">\(Html.escape(run.name))</span></h1><dl class=\"facts\">"
        func fact(_ label: String, _ value: String, id: String? = nil) {
            out += "<dt>\(label)</dt><dd\(id.map { " id=\"\($0)\"" } ?? "")>\(value)</dd>"
        }
        fact("TrainingJob", Layout.link(jobPath(ns, name), "\(ns)/\(name)"))
        fact("Phase", Layout.badge(run.result.rawValue) + (run.reason.map { " " + Html.escape($0) } ?? ""), id: "phase")
        fact("Trigger", Html.escape(trigger(run)))
        fact("Started", Html.escape(run.startTime ?? "-"))
        fact("Completed", Html.escape(run.completionTime ?? "-"))
        fact("Data", Html.escape(data(run)), id: "data")
        fact("Model version", run.modelVersion.map { Layout.link("/models/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-", id: "model-version")
        if let progress = run.progress { fact("Progress", Html.escape(progress.summary), id: "progress") }
        if let message = run.message { fact("Message", Html.escape(message)) }
        if let mlflow = run.mlflowRunId { fact("MLflow run", Html.escape(mlflow)) }
        out += "</dl>"
        out += "<h2>Metrics</h2>" + Layout.table(["Metric", "Value"], (run.metrics ?? [:]).sorted { $0.key < $1.key }.map {
            [Html.escape($0.key), RolloutView.number($0.value)]
        }, id: "metrics", empty: run.result == .running ? "The run is still training." : "No metrics recorded.")
        out += "<h2>Validation loss</h2>"
        if let curve = run.validationCurve, !curve.rounds.isEmpty {
            let points = zip(curve.rounds, curve.values).map { MetricChart.Point(time: Double($0), value: $1) }
            let metric = curve.metric ?? "validation loss"
            let best = zip(curve.rounds, curve.values).min { $0.1 < $1.1 }
            out += "<div class=\"charts\"><div class=\"chart\" id=\"validation-curve\"><h3>\(Html.escape(metric)) per round</h3>"
                + MetricChart.svg(metric: metric, points: points, min: nil, max: nil, last: points.last, axis: .rounds)
                + "</div></div><p class=\"note\">\(curve.rounds.count) of \(curve.rounds.last ?? 0) rounds shown"
                + (best.map { "; the lowest of them \(RolloutView.number($0.1)) at round \($0.0)" } ?? "") + ".</p>"
        } else if run.result == .running {
            out += "<p class=\"note\" id=\"no-curve\">The curve is recorded when the run finishes (the trainer's result summary)"
                + (run.progress.map { "; last report: " + Html.escape($0.summary) } ?? "") + ".</p>"
        } else {
            out += "<p class=\"note\" id=\"no-curve\">No validation curve: the run had no validation rows or no boosting rounds, or finished before the trainer reported one.</p>"
        }
        return out
    }

    static func trigger(_ run: TrainingRun) -> String {
        run.trigger.type.rawValue + (run.trigger.requestedBy.map { " by \($0)" } ?? "") + (run.trigger.condition.map { " (\($0))" } ?? "")
    }

    static func data(_ run: TrainingRun) -> String {
        [run.dataVersion.map { "version \($0)" }, run.dataSha256.map { "sha256 \($0.prefix(12))" }].compactMap { $0 }.joined(separator: " · ")
            .nonEmpty ?? "-"
    }

    static func metricsLine(_ run: TrainingRun) -> String {
        (run.metrics ?? [:]).sorted { $0.key < $1.key }.prefix(4).map { "\($0.key) \(RolloutView.number($0.value))" }.joined(separator: ", ").nonEmpty ?? "-"
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
