import Foundation
import SextantJSON
import SextantTrainingContract

/// Pure checks of the rules the CRD schema states (bounds, cross-field CEL rules, durations,
/// cron). The controllers call them because the development API server does not evaluate CEL,
/// and put the result on the `Ready` condition; they never crash on bad input.
struct FieldChecker {
    var errors: [FieldError] = []

    mutating func require(_ condition: Bool, _ path: String, _ kind: FieldError.Kind, _ message: String) {
        if !condition { errors.append(FieldError(path, kind, message)) }
    }

    mutating func require(_ condition: Bool, _ path: String, _ message: String) {
        require(condition, path, .invalid, message)
    }

    mutating func range<T: Comparable & CustomStringConvertible>(_ value: T?, _ path: String, _ min: T?, _ max: T?) {
        guard let value else { return }
        if let min, value < min { errors.append(FieldError(path, .invalid, "must be >= \(min), got \(value)")) }
        if let max, value > max { errors.append(FieldError(path, .invalid, "must be <= \(max), got \(value)")) }
    }

    mutating func duration(_ value: String?, _ path: String) {
        guard let value else { return }
        do { _ = try GoDuration.seconds(value) } catch { errors.append(FieldError(path, .invalid, error.description)) }
    }

    mutating func name(_ value: String?, _ path: String, required: Bool = false) {
        guard let value, !value.isEmpty else {
            if required { errors.append(FieldError(path, .required, "must be set")) }
            return
        }
        let ok = value.count <= 253 && value.range(of: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, options: .regularExpression) != nil
        require(ok, path, "must be a lower-case DNS name (a-z, 0-9, '-', '.'), got \"\(value)\"")
    }

    mutating func uri(_ value: String, _ path: String, schemes: [String]) {
        let scheme = value.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        let ok = schemes.contains(scheme) && value.hasPrefix(scheme + "://") && value.count > scheme.count + 3
        require(ok, path, .invalid, "must be a URI with scheme \(schemes.map { "\($0)://" }.joined(separator: ", ")), got \"\(value)\"")
    }

    mutating func sha256(_ value: String?, _ path: String) {
        guard let value else { return }
        require(value.range(of: "^[a-f0-9]{64}$", options: .regularExpression) != nil, path,
                "must be 64 lower-case hex digits")
    }

    mutating func unique(_ values: [String], _ path: String) {
        var seen: Set<String> = []
        for (i, v) in values.enumerated() where !seen.insert(v).inserted {
            errors.append(FieldError("\(path)[\(i)]", .duplicate, "\"\(v)\" appears more than once"))
        }
    }
}

/// Cron: 5 fields of numbers, ranges, lists, steps and `*`, or a macro. Values are checked
/// against each field's bounds; names (`MON`, `JAN`) are accepted.
public enum CronSyntax {
    static let macros: Set<String> = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
    static let bounds: [(String, Int, Int)] = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                                               ("month", 1, 12), ("day of week", 0, 7)]

    /// nil when valid, else what is wrong.
    public static func problem(_ expression: String) -> String? {
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        if macros.contains(trimmed) { return nil }
        let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else { return "expected 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)" }
        for (field, (label, lo, hi)) in zip(fields, bounds) {
            for part in field.split(separator: ",", omittingEmptySubsequences: false) {
                let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
                guard pieces.count <= 2 else { return "bad \(label) \"\(field)\"" }
                if pieces.count == 2, Int(pieces[1]).map({ $0 > 0 }) != true { return "bad step in \(label) \"\(field)\"" }
                let base = pieces[0]
                if base == "*" || base == "?" { continue }
                for bound in base.split(separator: "-", omittingEmptySubsequences: false) {
                    if bound.allSatisfy(\.isLetter), bound.count == 3 { continue }
                    guard let v = Int(bound) else { return "bad \(label) \"\(field)\"" }
                    if v < lo || v > hi { return "\(label) \(v) out of range \(lo)-\(hi)" }
                }
            }
        }
        return nil
    }
}

extension TrainingJob {
    /// What `sextant-trainer` refuses on several ranks (DistributedTrainer.checkSupported, exit 2),
    /// refused at admission instead, so that a spec with `workers` > 1 that is admitted trains.
    func checkSeveralWorkers(_ c: inout FieldChecker) {
        let s = spec
        let why = "is not supported with spec.workers > 1 (training on several ranks)"
        c.require(s.algorithm != .logisticRegression, "spec.algorithm", "LogisticRegression \(why)")
        c.require(s.data.source.uri.hasPrefix("file://") || s.data.source.uri.hasPrefix("/"), "spec.data.source.uri",
                  "must be a file:// path every worker can read: http(s), s3 and lakeFS data \(why)")
        c.require(s.data.source.format == nil || s.data.source.format == .csv, "spec.data.source.format",
                  "must be CSV (uncompressed): \(s.data.source.format?.rawValue ?? "") \(why)")
        c.require(s.data.source.dvc == nil, "spec.data.source.dvc", "a DVC pointer \(why)")
        c.require((s.data.split?.validation ?? 0) == 0, "spec.data.split.validation",
                  "must be 0 (set train and test only): a validation part \(why)")
        if let h = s.hyperparameters {
            c.require((h.folds ?? 0) < 2, "spec.hyperparameters.folds", "cross-validation \(why)")
            c.require((h.subsample ?? 1) >= 1, "spec.hyperparameters.subsample", "row sampling (subsample < 1) \(why)")
            c.require((h.earlyStoppingRounds ?? 0) == 0, "spec.hyperparameters.earlyStoppingRounds", "early stopping \(why)")
        }
        c.require(s.gates?.fairness == nil, "spec.gates.fairness", "the fairness gate \(why)")
        c.require(s.gates?.robustness == nil, "spec.gates.robustness", "the robustness gate \(why)")
    }

    public func validate() -> [FieldError] {
        var c = FieldChecker()
        let s = spec
        c.require(!s.modelName.isEmpty, "spec.modelName", .required, "must be set")
        c.name(s.modelName, "spec.modelName")
        c.uri(s.data.source.uri, "spec.data.source.uri", schemes: ["file", "http", "https", "s3", "lakefs"])
        c.sha256(s.data.source.sha256, "spec.data.source.sha256")
        // The trainer's own rules for Delta time travel and DVC (TrainingConfig.validate), so that
        // an admitted spec is not refused as bad input later (TrainerConfigTests compares them).
        if s.data.source.format == .delta {
            if let v = s.data.source.version {
                c.require(Int(v).map { $0 >= 0 } ?? false, "spec.data.source.version", "must be a Delta table version (an integer >= 0) when format is Delta")
                c.require(s.data.source.timestamp == nil, "spec.data.source.timestamp", "and spec.data.source.version are exclusive")
            }
            if let t = s.data.source.timestamp {
                let f = ISO8601DateFormatter()
                f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let fractional = f.date(from: t) != nil
                f.formatOptions = [.withInternetDateTime]
                c.require(fractional || f.date(from: t) != nil, "spec.data.source.timestamp", "must be an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)")
            }
            c.require(s.data.source.dvc == nil, "spec.data.source.dvc", "names one file; a Delta table is a directory")
        } else {
            c.require(s.data.source.timestamp == nil, "spec.data.source.timestamp", "is only for Delta tables (format: Delta)")
        }
        if s.data.source.uri.hasPrefix("lakefs://") {
            c.require(s.data.source.format != .delta && s.data.source.dvc == nil, "spec.data.source.uri",
                      "lakefs:// names one object; it does not combine with format Delta or dvc")
        }
        c.require(!s.data.target.isEmpty, "spec.data.target", .required, "must be set")
        c.range(s.workers, "spec.workers", 1, 256)
        if (s.workers ?? 1) > 1 { checkSeveralWorkers(&c) }
        let features = s.data.features ?? []
        c.unique(features, "spec.data.features")
        c.require(!features.contains(s.data.target), "spec.data.features", "must not contain the target column \"\(s.data.target)\"")
        for (i, f) in (s.data.categoricalFeatures ?? []).enumerated() where !features.isEmpty && !features.contains(f) {
            c.require(false, "spec.data.categoricalFeatures[\(i)]", "\"\(f)\" is not one of spec.data.features")
        }
        for (i, a) in (s.data.protectedAttributes ?? []).enumerated() where features.contains(a) {
            c.require(false, "spec.data.protectedAttributes[\(i)]", "\"\(a)\" must not also be a feature")
        }
        if let split = s.data.split {
            c.range(split.train, "spec.data.split.train", 0.0, 1.0)
            c.range(split.validation, "spec.data.split.validation", 0.0, 1.0)
            c.range(split.test, "spec.data.split.test", 0.0, 1.0)
            if let problem = split.fractionProblem { c.require(false, "spec.data.split", problem) }
            if let column = split.column {
                c.require(!column.isEmpty, "spec.data.split.column", .required, "must not be empty")
                c.require(column != s.data.target, "spec.data.split.column", "must not be the target column")
                c.require(!features.contains(column), "spec.data.split.column", "must not also be a feature")
            }
            c.range(split.seed, "spec.data.split.seed", 0, nil)
        }
        if let h = s.hyperparameters {
            // Bounds from the training contract (the same the CRD states and the trainer checks).
            c.hyperparameters(h, categoricalFeatures: s.data.categoricalFeatures ?? [])
        }
        if let g = s.gates {
            if let perf = g.performance {
                c.require(!perf.thresholds.isEmpty, "spec.gates.performance.thresholds", .required, "needs at least one metric")
                c.unique(perf.thresholds.map(\.metric.rawValue), "spec.gates.performance.thresholds")
                let objective = s.objective ?? .binaryLogistic
                for (i, t) in perf.thresholds.enumerated() {
                    let p = "spec.gates.performance.thresholds[\(i)]"
                    c.require(objective.metrics.contains(t.metric), "\(p).metric",
                              "\(t.metric.rawValue) is not reported for objective \(objective.rawValue) (reported: \(objective.metrics.map(\.rawValue).joined(separator: ", ")))")
                    c.require(t.min != nil || t.max != nil, p, .required, "set min, max or both")
                    if let lo = t.min, let hi = t.max { c.require(lo <= hi, "\(p).min", "min \(lo) exceeds max \(hi)") }
                }
            }
            if let f = g.fairness {
                c.gateSetting(f.maxDisparity, "fairness", "maxDisparity")
                c.gateSetting(f.minGroupSize, "fairness", "minGroupSize")
                let attrs = f.protectedAttributes ?? s.data.protectedAttributes ?? []
                c.require(!attrs.isEmpty, "spec.gates.fairness.protectedAttributes", .required,
                          "the fairness gate needs protected attributes (here or in spec.data.protectedAttributes)")
            }
            if let r = g.robustness {
                c.gateSetting(r.maxDegradation, "robustness", "maxDegradation")
                for (i, level) in (r.noiseLevels ?? []).enumerated() {
                    c.range(level, "spec.gates.robustness.noiseLevels[\(i)]", 0.0, nil)
                }
            }
            if let q = g.dataQuality {
                c.gateSetting(q.maxNullRatio, "dataQuality", "maxNullRatio")
                c.gateSetting(q.minFeatureVariance, "dataQuality", "minFeatureVariance")
                if let b = q.classBalance {
                    c.range(b.min, "spec.gates.dataQuality.classBalance.min", 0.0, 1.0)
                    c.range(b.max, "spec.gates.dataQuality.classBalance.max", 0.0, 1.0)
                    c.require(b.min <= b.max, "spec.gates.dataQuality.classBalance", "min \(b.min) exceeds max \(b.max)")
                }
            }
        }
        // The trainer's rules for objectives other than binary:logistic (SextantML Config.validate).
        // The training contract's rules for objectives other than binary:logistic (the trainer checks the same).
        let objective = (s.objective ?? .binaryLogistic).rawValue
        if let algorithm = s.algorithm, let a = TrainingContract.algorithms.first(where: { $0.name == algorithm.rawValue }),
           !a.objectives.contains(objective) {
            let able = TrainingContract.algorithms.filter { $0.objectives.contains(objective) }.map(\.name)
            c.require(false, "spec.objective", "\(objective) needs algorithm \(able.joined(separator: " or "))")
        }
        if let json = try? JSONValue(encoding: s) {
            for r in TrainingContract.objectiveRestrictions where !r.objectives.contains(objective) {
                guard let value = json[path: r.path], value != .null else { continue }
                if let off = TrainingContract.hyperparameter(r.path.last ?? "")?.off, value.doubleValue == off.value { continue }
                c.require(false, "spec." + r.path.joined(separator: "."), r.reason)
            }
        }
        if let w = s.data.weightColumn {
            c.require(!w.isEmpty, "spec.data.weightColumn", .required, "must not be empty")
            c.require(w != s.data.target, "spec.data.weightColumn", "must not be the target column")
            c.require(!features.contains(w), "spec.data.weightColumn", "must not also be a feature")
        }
        c.uri(s.output.uri, "spec.output.uri", schemes: ["file", "s3"])
        if let r = s.runPolicy {
            c.range(r.backoffLimit, "spec.runPolicy.backoffLimit", 0, 10)
            c.range(r.activeDeadlineSeconds, "spec.runPolicy.activeDeadlineSeconds", 1, nil)
            c.range(r.ttlSecondsAfterFinished, "spec.runPolicy.ttlSecondsAfterFinished", 0, nil)
            c.range(r.successfulJobsHistoryLimit, "spec.runPolicy.successfulJobsHistoryLimit", 0, 100)
            c.range(r.failedJobsHistoryLimit, "spec.runPolicy.failedJobsHistoryLimit", 0, 100)
            c.range(r.runHistoryLimit, "spec.runPolicy.runHistoryLimit", 1, 50)
        }
        if let sched = s.schedule {
            if let problem = CronSyntax.problem(sched.cron) { c.require(false, "spec.schedule.cron", problem) }
            if let tz = sched.timeZone {
                c.require(TimeZone(identifier: tz) != nil, "spec.schedule.timeZone", "unknown time zone \"\(tz)\"")
            }
            c.range(sched.startingDeadlineSeconds, "spec.schedule.startingDeadlineSeconds", 0, nil)
        }
        if let r = s.retrainOn {
            c.duration(r.interval, "spec.retrainOn.interval")
            c.duration(r.cooldown, "spec.retrainOn.cooldown")
            c.duration(r.prometheus?.timeout, "spec.retrainOn.prometheus.timeout")
            if let ref = r.prometheus?.secretRef { c.name(ref.name, "spec.retrainOn.prometheus.secretRef.name") }
            c.require(!r.conditions.isEmpty, "spec.retrainOn.conditions", .required, "needs at least one condition")
            c.unique(r.conditions.map(\.name), "spec.retrainOn.conditions")
            for (i, cond) in r.conditions.enumerated() {
                let p = "spec.retrainOn.conditions[\(i)]"
                c.require(!cond.query.isEmpty, "\(p).query", .required, "must be set")
                c.require(cond.above != nil || cond.below != nil, p, .required, "set above, below or both")
                c.duration(cond.for, "\(p).for")
            }
        }
        if let rel = s.release {
            if let stage = rel.stage {
                c.require(stage == .none || stage == .staging, "spec.release.stage", .notSupported,
                          "a new version can start in None or Staging only; Production is reached through a CanaryRollout")
            }
            c.name(rel.canaryRollout, "spec.release.canaryRollout")
            c.unique(rel.aliases ?? [], "spec.release.aliases")
        }
        c.notifications(s.notifications, allowed: NotificationEvent.training)
        return c.errors
    }
}

extension ModelVersion {
    public func validate() -> [FieldError] {
        var c = FieldChecker()
        let s = spec
        c.require(!s.modelName.isEmpty, "spec.modelName", .required, "must be set")
        c.name(s.modelName, "spec.modelName")
        c.require(s.version >= 1, "spec.version", "must be >= 1, got \(s.version)")
        c.uri(s.artifact.uri, "spec.artifact.uri", schemes: ["file", "http", "https", "s3"])
        c.sha256(s.artifact.sha256, "spec.artifact.sha256")
        c.range(s.artifact.sizeBytes, "spec.artifact.sizeBytes", 0, nil)
        c.sha256(s.data?.sha256, "spec.data.sha256")
        c.range(s.data?.rows, "spec.data.rows", 0, nil)
        c.unique(s.aliases ?? [], "spec.aliases")
        for (i, a) in (s.aliases ?? []).enumerated() {
            c.require(a.range(of: "^[a-z][-a-z0-9]*$", options: .regularExpression) != nil && a.count <= 63,
                      "spec.aliases[\(i)]", "must be lower case letters, digits and '-', starting with a letter")
        }
        if s.stage == .production {
            c.require(s.approval?.state == .approved, "spec.stage", .forbidden, "only an approved version can be in stage Production")
        }
        if let gates = s.gates, let results = gates.results {
            c.require(gates.passed == results.allSatisfy(\.passed), "spec.gates.passed",
                      "must be true exactly when every gate result passed")
        }
        return c.errors
    }
}

extension CanaryRollout {
    /// The weights of a stepWeight/maxWeight canary: `stepWeight, 2·stepWeight, …`, the last one
    /// capped at `maxWeight` (Flagger's rule: maxWeight is always reached before promotion).
    public static func derivedWeights(stepWeight: Int, maxWeight: Int) -> [Int] {
        guard stepWeight > 0, maxWeight > 0 else { return [] }
        var weights = Array(stride(from: stepWeight, to: maxWeight, by: stepWeight))
        weights.append(maxWeight)
        return weights
    }

    public func validate() -> [FieldError] {
        var c = FieldChecker()
        let s = spec
        c.name(s.modelName, "spec.modelName", required: true)
        c.name(s.modelVersion, "spec.modelVersion")
        let sv = s.serving
        c.require((sv.managed != nil) != (sv.external != nil), "spec.serving", "set exactly one of managed and external")
        if let m = sv.managed {
            c.range(m.replicas, "spec.serving.managed.replicas", 0, 1000)
            c.range(m.port, "spec.serving.managed.port", 1, 65535)
            if let t = m.template { c.require(t.objectValue != nil, "spec.serving.managed.template", "must be an object (a PodTemplateSpec)") }
        }
        if let e = sv.external {
            c.name(e.stableDeployment, "spec.serving.external.stableDeployment", required: true)
            c.name(e.canaryDeployment, "spec.serving.external.canaryDeployment", required: true)
            c.require(e.stableDeployment != e.canaryDeployment, "spec.serving.external.canaryDeployment",
                      "must differ from stableDeployment")
        }
        let r = s.routing
        let routers = [r.virtualService != nil, r.httpRoute != nil, r.grpcRoute != nil].filter { $0 }.count
        c.require(routers == 1, "spec.routing", routers == 0 ? .required : .invalid,
                  "set exactly one of virtualService, httpRoute and grpcRoute (\(routers) set)")
        if let vs = r.virtualService {
            c.name(vs.name, "spec.routing.virtualService.name", required: true)
            c.unique(vs.routes ?? [], "spec.routing.virtualService.routes")
        }
        for (ref, field) in [(r.httpRoute, "httpRoute"), (r.grpcRoute, "grpcRoute")] {
            guard let ref else { continue }
            c.name(ref.name, "spec.routing.\(field).name", required: true)
            c.unique(ref.rules ?? [], "spec.routing.\(field).rules")
            c.require(r.services != nil, "spec.routing.services", .required,
                      "spec.routing.\(field) needs services (the stable and canary Services its backendRefs name)")
        }
        c.require((r.services != nil) != (r.destinationRule != nil), "spec.routing",
                  "set exactly one of services and destinationRule")
        if let svc = r.services {
            c.name(svc.stable, "spec.routing.services.stable", required: true)
            c.name(svc.canary, "spec.routing.services.canary", required: true)
            c.require(svc.stable != svc.canary, "spec.routing.services.canary", "must differ from stable")
        }
        if let dr = r.destinationRule {
            c.name(dr.name, "spec.routing.destinationRule.name", required: true)
            c.require(!dr.host.isEmpty, "spec.routing.destinationRule.host", .required, "must be set")
            c.require((dr.stableSubset ?? "stable") != (dr.canarySubset ?? "canary"),
                      "spec.routing.destinationRule.canarySubset", "must differ from stableSubset")
        }
        let st = s.strategy
        let chosen = [st.canary != nil, st.blueGreen != nil, st.shadow != nil, st.abTest != nil].filter { $0 }.count
        c.require(chosen == 1, "spec.strategy", chosen == 0 ? .required : .invalid,
                  "set exactly one strategy: canary, blueGreen, shadow or abTest (\(chosen) set)")
        if let canary = st.canary {
            c.require((canary.steps != nil) != (canary.stepWeight != nil), "spec.strategy.canary", "set either steps or stepWeight")
            if let steps = canary.steps {
                c.require(!steps.isEmpty, "spec.strategy.canary.steps", .required, "needs at least one step")
                c.require(steps.count <= 50, "spec.strategy.canary.steps", "at most 50 steps")
                for (i, step) in steps.enumerated() {
                    let p = "spec.strategy.canary.steps[\(i)]"
                    c.require((step.setWeight != nil) != (step.pause != nil), p, "set exactly one of setWeight and pause")
                    c.range(step.setWeight, "\(p).setWeight", 0, 100)
                    c.duration(step.pause?.duration, "\(p).pause.duration")
                }
            }
            if let stepWeight = canary.stepWeight {
                let maxWeight = canary.maxWeight ?? 50
                c.range(stepWeight, "spec.strategy.canary.stepWeight", 1, 100)
                c.range(canary.maxWeight, "spec.strategy.canary.maxWeight", 0, 100)
                c.require(maxWeight >= stepWeight, "spec.strategy.canary.maxWeight",
                          "must be >= stepWeight (\(stepWeight)), got \(maxWeight)")
            }
        }
        if let bg = st.blueGreen { c.range(bg.iterations, "spec.strategy.blueGreen.iterations", 1, 1000) }
        if let sh = st.shadow {
            c.range(sh.mirrorPercent, "spec.strategy.shadow.mirrorPercent", 0, 100)
            c.range(sh.iterations, "spec.strategy.shadow.iterations", 1, 1000)
        }
        if let ab = st.abTest {
            c.range(ab.iterations, "spec.strategy.abTest.iterations", 1, 1000)
            c.require(!ab.match.isEmpty, "spec.strategy.abTest.match", .required, "needs at least one match")
            for (i, m) in ab.match.enumerated() {
                let p = "spec.strategy.abTest.match[\(i)]"
                c.require((m.header != nil) != (m.cookie != nil), p, "set exactly one of header and cookie")
                if let h = m.header {
                    let n = [h.exact, h.prefix, h.regex].compactMap { $0 }.count
                    c.require(n == 1, "\(p).header", "set exactly one of exact, prefix and regex")
                    c.require(!h.name.isEmpty, "\(p).header.name", .required, "must be set")
                    if let re = h.regex {
                        c.require((try? NSRegularExpression(pattern: re)) != nil, "\(p).header.regex", "not a valid regular expression")
                    }
                }
                if let k = m.cookie { c.require(!k.name.isEmpty, "\(p).cookie.name", .required, "must be set") }
            }
        }
        if let a = s.analysis {
            c.duration(a.interval, "spec.analysis.interval")
            if let interval = a.interval, let secs = try? GoDuration.seconds(interval) {
                c.require(secs >= 1, "spec.analysis.interval", "must be at least 1s")
            }
            c.range(a.failureLimit, "spec.analysis.failureLimit", 1, 100)
            c.range(a.consecutiveErrorLimit, "spec.analysis.consecutiveErrorLimit", 1, 100)
            c.duration(a.prometheus?.timeout, "spec.analysis.prometheus.timeout")
            if let ref = a.prometheus?.secretRef { c.name(ref.name, "spec.analysis.prometheus.secretRef.name") }
            let metrics = a.metrics ?? []
            c.unique(metrics.map(\.name), "spec.analysis.metrics")
            let background = a.background?.metrics ?? []
            for (list, entries) in [("spec.analysis.metrics", metrics), ("spec.analysis.background.metrics", background)] {
              for (i, m) in entries.enumerated() {
                let p = "\(list)[\(i)]"
                c.require((m.template != nil) != (m.query != nil), p, "set exactly one of template and query")
                if let q = m.query { c.require(!q.isEmpty, "\(p).query", .required, "must not be empty") }
                c.require(m.thresholdRange.min != nil || m.thresholdRange.max != nil, "\(p).thresholdRange", .required,
                          "set min, max or both")
                if let lo = m.thresholdRange.min, let hi = m.thresholdRange.max {
                    c.require(lo <= hi, "\(p).thresholdRange.min", "min \(lo) exceeds max \(hi)")
                }
                c.duration(m.interval, "\(p).interval")
              }
            }
            if let bg = a.background {
                c.require(!bg.metrics.isEmpty, "spec.analysis.background.metrics", .required, "needs at least one metric")
                c.unique(bg.metrics.map(\.name), "spec.analysis.background.metrics")
                let others = metrics.map(\.name) + (a.comparisons ?? []).map(\.name) + [PredictionShiftCheck.metricName]
                c.require(Set(bg.metrics.map(\.name)).isDisjoint(with: others), "spec.analysis.background.metrics",
                          "a background metric must not have the name of a step metric or comparison (both report in status.measurements)")
                c.duration(bg.interval, "spec.analysis.background.interval")
                if let interval = bg.interval, let secs = try? GoDuration.seconds(interval) {
                    c.require(secs >= 1, "spec.analysis.background.interval", "must be at least 1s")
                }
            }
            let comparisons = a.comparisons ?? []
            c.unique(comparisons.map(\.name), "spec.analysis.comparisons")
            c.require(Set(comparisons.map(\.name)).isDisjoint(with: metrics.map(\.name)), "spec.analysis.comparisons",
                      "a comparison must not have the name of a metric (both report in status.measurements)")
            if let shift = a.predictionShift {
                if let x = shift.maxPSI { c.require(x >= 0.001 && x <= 10, "spec.analysis.predictionShift.maxPSI", "must be in 0.001...10") }
                c.range(shift.minSamples, "spec.analysis.predictionShift.minSamples", 1, nil)
                c.duration(shift.interval, "spec.analysis.predictionShift.interval")
                c.require(!(metrics.map(\.name) + comparisons.map(\.name)).contains(PredictionShiftCheck.metricName), "spec.analysis.predictionShift",
                          "a metric or comparison named \(PredictionShiftCheck.metricName) would share its measurement")
            }
            if let affinity = a.sessionAffinity {
                c.require(SessionAffinity.isCookieToken(affinity.cookieName) && affinity.cookieName.count <= 64,
                          "spec.analysis.sessionAffinity.cookieName",
                          "must be a cookie name of 1-64 RFC 6265 token characters (letters, digits and !#$%&'*+-.^_`|~), got \"\(affinity.cookieName)\"")
                c.range(affinity.maxAge, "spec.analysis.sessionAffinity.maxAge", 1, nil)
                c.require(s.strategy.canary != nil, "spec.analysis.sessionAffinity",
                          "needs strategy.canary: only weighted canary steps send users to the canary by chance")
            }
            if let window = a.rollbackWindow {
                c.range(window.intervals, "spec.analysis.rollbackWindow.intervals", 1, 1000)
                c.require(s.serving.external == nil, "spec.analysis.rollbackWindow",
                          "needs managed serving: with external serving the previous version's Deployment is yours and no longer runs it after promotion")
                c.require(!metrics.isEmpty || (s.webhooks ?? []).contains { $0.type == .rollout }, "spec.analysis.rollbackWindow",
                          "needs analysis.metrics or a Rollout webhook to check during the window")
            }
            for (i, m) in comparisons.enumerated() {
                let p = "spec.analysis.comparisons[\(i)]"
                let custom = m.successQuery != nil || m.totalQuery != nil
                c.require((m.template != nil) != custom, p, "set either template or both successQuery and totalQuery")
                c.require((m.successQuery != nil) == (m.totalQuery != nil), p, "successQuery and totalQuery go together")
                if let d = m.maxDegradation { c.require(d >= 0 && d <= 0.5, "\(p).maxDegradation", "must be in 0...0.5") }
                if let x = m.confidence { c.require(x >= 0.5 && x <= 0.9999, "\(p).confidence", "must be in 0.5...0.9999") }
                c.range(m.minSamples, "\(p).minSamples", 1, nil)
                c.duration(m.interval, "\(p).interval")
                c.require(m.test != .sequential || m.interval == nil, "\(p).interval",
                          "interval is not used with test Sequential (its window is the rollout so far)")
                c.require(m.test != .sequential || m.template != .modelAccuracy, "\(p).template",
                          "ModelAccuracy measures a window of labels, not counts since the rollout started: with test Sequential use successQuery and totalQuery over counters")
            }
        }
        let hooks = s.webhooks ?? []
        c.unique(hooks.map(\.name), "spec.webhooks")
        for (i, h) in hooks.enumerated() {
            c.uri(h.url, "spec.webhooks[\(i)].url", schemes: ["http", "https"])
            c.duration(h.timeout, "spec.webhooks[\(i)].timeout")
            c.range(h.retries, "spec.webhooks[\(i)].retries", 0, 10)
            if let ref = h.secretRef { c.name(ref.name, "spec.webhooks[\(i)].secretRef.name", required: true) }
        }
        c.range(s.progressDeadlineSeconds, "spec.progressDeadlineSeconds", 1, nil)
        c.range(s.scaleDownDelaySeconds, "spec.scaleDownDelaySeconds", 0, nil)
        c.range(s.abortScaleDownDelaySeconds, "spec.abortScaleDownDelaySeconds", 0, nil)
        c.notifications(s.notifications, allowed: NotificationEvent.rollout)
        return c.errors
    }
}

extension ModelVersion {
    /// The update rules of the CRD (what a version records never changes), for callers that see
    /// both the old and the new object; `validate()` covers the rest.
    public func validateUpdate(from old: ModelVersion) -> [FieldError] {
        var errors = validate()
        if spec.modelName != old.spec.modelName {
            errors.append(FieldError("spec.modelName", .forbidden, "modelName is immutable"))
        }
        if spec.version != old.spec.version {
            errors.append(FieldError("spec.version", .forbidden, "version is immutable"))
        }
        if spec.artifact != old.spec.artifact {
            errors.append(FieldError("spec.artifact", .forbidden, "artifact is immutable; register a new version"))
        }
        return errors
    }
}
