import SextantJSON
import SextantTrainingContract

// The parts of the TrainingJob schema and admission that come from the training contract
// (SextantTrainingContract): hyperparameters, algorithms, objectives, metrics and gate settings.
// TrainingContractDriftTests compare the Swift enums and structs that cannot be derived with it.

extension Hyperparameter {
    /// The CRD schema of this hyperparameter.
    var schema: Schema {
        func int(_ v: Double?) -> Int64? { v.map { Int64($0) } }
        switch kind {
        case .integer, .integer64:
            return .integer(description, default: int(schemaDefault), min: int(minimum), max: int(maximum),
                            format: kind == .integer64 ? "int64" : "int32")
        case .number:
            return .number(description, default: schemaDefault, min: minimum, max: maximum)
        case .constraintMap:
            return .map(description, of: .integer(valueDescription ?? "A value.", min: int(valueMinimum), max: int(valueMaximum)))
        }
    }

    /// The CEL rule of a hyperparameter whose range has a hole (`folds`: 0 or at least 2).
    var rule: Schema.Rule? {
        guard let off, let least = off.leastOtherwise else { return nil }
        return .init("!has(self.\(name)) || self.\(name) == \(render(off.value)) || self.\(name) >= \(render(least))",
                     message: "\(name) \(offMessage ?? "")", fieldPath: ".\(name)")
    }

    /// `must be 0 (no cross-validation) or at least 2`.
    var offMessage: String? {
        guard let off, let least = off.leastOtherwise else { return nil }
        return "must be \(render(off.value)) (\(off.meaning)) or at least \(render(least))"
    }
}

extension TrainingContract {
    /// `spec.hyperparameters`: every hyperparameter the TrainingJob offers, in contract order.
    static var hyperparametersSchema: Schema {
        let offered = hyperparameters.filter(\.inTrainingJob)
        var s = Schema.object("XGBoost-style hyperparameters (camelCase of the XGBoost names). Defaults are XGBoost's, except `maxBin` (one bin is kept for missing values).",
                              rules: offered.compactMap(\.rule), [:])
        s.properties = offered.map { Schema.Property(name: $0.name, schema: $0.schema) }
        return s
    }

    /// `metric: ...` of a performance threshold: which metrics each objective reports.
    static var metricDescription: String {
        "Metric name as the trainer reports it; it must be one the objective reports ("
            + objectives.map { "\($0.name): \($0.metrics.joined(separator: ", "))" }.joined(separator: "; ") + ")."
    }

    /// `max: ...` of a performance threshold.
    static var maxDescription: String {
        "Fail when the metric is above this (for " + metrics.filter(\.lowerIsBetter).map { "`\($0.name)`" }.joined(separator: ", ") + ")."
    }

    /// The schema of a gate setting, its default and bounds from the contract.
    static func gateSetting(_ gate: String, _ name: String, _ description: String, integer: Bool = false) -> Schema {
        let s = self.gate(gate)?.settings.first { $0.name == name }
        if integer {
            return .integer(description, default: s?.defaultValue.map { Int64($0) }, min: s?.minimum.map { Int64($0) },
                            max: s?.maximum.map { Int64($0) })
        }
        return .number(description, default: s?.defaultValue, min: s?.minimum, max: s?.maximum)
    }
}

extension FieldChecker {
    /// Bounds of every hyperparameter the TrainingJob offers, as the contract states them.
    mutating func hyperparameters(_ h: Hyperparameters, categoricalFeatures: [String]) {
        guard case .object(let values)? = try? JSONValue(encoding: h) else { return }
        for p in TrainingContract.hyperparameters where p.inTrainingJob {
            let path = "spec.hyperparameters.\(p.name)"
            if p.kind == .constraintMap {
                guard case .object(let map)? = values[p.name] else { continue }
                for (feature, value) in map.sorted(by: { $0.key < $1.key }) {
                    guard let v = value.doubleValue else { continue }
                    range(Int64(v), "\(path).\(feature)", p.valueMinimum.map { Int64($0) }, p.valueMaximum.map { Int64($0) })
                    require(!categoricalFeatures.contains(feature), "\(path).\(feature)",
                            "\"\(feature)\" is categorical; monotone constraints apply to numeric features")
                }
                continue
            }
            guard let v = values[p.name]?.doubleValue else { continue }
            if p.isInteger {
                range(Int64(v), path, p.minimum.map { Int64($0) }, p.maximum.map { Int64($0) })
            } else {
                range(v, path, p.minimum, p.maximum)
            }
            if p.exclusiveMinimum, let lo = p.minimum { require(v > lo, path, "must be greater than \(p.render(lo))") }
            if p.exclusiveMaximum, let hi = p.maximum { require(v < hi, path, "must be less than \(p.render(hi))") }
            if let off = p.off, let least = off.leastOtherwise, let message = p.offMessage {
                require(v == off.value || v >= least, path, message)
            }
        }
    }

    /// Bounds of a gate setting, as the contract states them.
    mutating func gateSetting<T: BinaryFloatingPoint>(_ value: T?, _ gate: String, _ name: String) {
        guard let value, let s = TrainingContract.gate(gate)?.settings.first(where: { $0.name == name }) else { return }
        range(Double(value), "spec.gates.\(gate).\(name)", s.minimum, s.maximum)
    }

    mutating func gateSetting(_ value: Int?, _ gate: String, _ name: String) {
        guard let value, let s = TrainingContract.gate(gate)?.settings.first(where: { $0.name == name }) else { return }
        range(value, "spec.gates.\(gate).\(name)", s.minimum.map { Int($0) }, s.maximum.map { Int($0) })
    }
}

// MARK: Reference page

extension TrainingContract {
    public static let referenceFileName = "training-contract.md"

    /// `docs/resources/training-contract.md` (written by `sextant generate docs`, compared by DriftTests).
    public static var referenceMarkdown: String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        func range(_ h: Hyperparameter) -> String {
            if h.kind == .constraintMap { return "each " + [h.valueMinimum, h.valueMaximum].compactMap { $0.map(h.render) }.joined(separator: "...") }
            let lo = h.minimum.map { (h.exclusiveMinimum ? "> " : ">= ") + h.render($0) }
            let hi = h.maximum.map { (h.exclusiveMaximum ? "< " : "<= ") + h.render($0) }
            var text = [lo, hi].compactMap { $0 }.joined(separator: ", ")
            if let off = h.off {
                text += "; \(h.render(off.value)) = \(off.meaning)" + (off.leastOtherwise.map { ", else >= \(h.render($0))" } ?? "")
            }
            return text.isEmpty ? "-" : text
        }
        func type(_ h: Hyperparameter) -> String {
            switch h.kind {
            case .integer: "integer"
            case .integer64: "integer (int64)"
            case .number: "number"
            case .constraintMap: "map of integers"
            }
        }
        var out = """
        <!-- Generated by `sextant generate docs` from Sources/SextantTrainingContract; do not edit. -->
        # Training contract

        What a TrainingJob may ask of `sextant-trainer` and what the trainer reports, written once in
        `Sources/SextantTrainingContract` and derived from there: the TrainingJob CRD schema and its CEL
        rules, admission (`validate()`), the mapping of a TrainingJob to the trainer config, the trainer's
        config parser, and this page. `TrainingContractDriftTests` fail when a copy that cannot be derived
        (a Swift enum or struct, a default in the trainer) disagrees. See [trainer.md](../trainer.md) for
        what the settings do.

        ## Hyperparameters

        `spec.hyperparameters.<name>` in a TrainingJob; `hyperparameters.<name>` in the trainer config
        unless another key is named. An `off` value is the same as leaving the key out.

        | name | type | default | allowed | trainer config key | meaning |
        |---|---|---|---|---|---|

        """
        for h in hyperparameters {
            let key = h.configPath.joined(separator: ".") + (h.inTrainingJob ? "" : " (trainer only)")
            out += "| `\(h.name)` | \(type(h)) | \(h.defaultValue.map { "`\(h.render($0))`" } ?? "-") | \(cell(range(h))) | `\(key)` | \(cell(h.description)) |\n"
        }
        out += """

        ## Algorithms

        | TrainingJob `spec.algorithm` | trainer config `algorithm` | objectives |
        |---|---|---|

        """
        for a in algorithms {
            out += "| `\(a.name)`\(a.name == defaultAlgorithm ? " (default)" : "") | `\(a.configName)` | \(a.objectives.map { "`\($0)`" }.joined(separator: ", ")) |\n"
        }
        out += """

        ## Objectives and their metrics

        The metrics are reported in `metrics.json`, the result summary and the ModelVersion, and are the
        ones a performance gate may name for the objective.

        | objective | label | metrics | early-stopping loss |
        |---|---|---|---|

        """
        for o in objectives {
            out += "| `\(o.name)`\(o.name == defaultObjective ? " (default)" : "") | \(o.label) | \(o.metrics.map { "`\($0)`" }.joined(separator: ", ")) | `\(o.evaluationLoss)` |\n"
        }
        out += "\nLower is better for " + metrics.filter(\.lowerIsBetter).map { "`\($0.name)`" }.joined(separator: ", ")
            + " (gates on them usually set `max`).\n"
        out += """

        ## Gates

        Results are named `<gate>.<check>` (`performance.aucRoc`); the ModelVersion groups them by gate.

        | gate | ModelVersion name | setting | default | allowed |
        |---|---|---|---|---|

        """
        for g in gates {
            if g.settings.isEmpty { out += "| `\(g.name)` | `\(g.resultName)` | - | - | - |\n" }
            for s in g.settings {
                let allowed = [s.minimum.map { ">= \(render($0, integer: $0 == $0.rounded()))" },
                               s.maximum.map { "<= \(render($0, integer: $0 == $0.rounded()))" }].compactMap { $0 }.joined(separator: ", ")
                out += "| `\(g.name)` | `\(g.resultName)` | `\(s.name)` | \(s.defaultValue.map { "`\(render($0, integer: $0 == $0.rounded()))`" } ?? "-") | \(allowed) |\n"
            }
        }
        out += "\nThe robustness gate's default `noiseLevels` are " + robustnessNoiseLevels.map { "`\($0)`" }.joined(separator: ", ") + ".\n"
        out += """

        Settings that only some objectives accept (admission and the trainer refuse them with these words):

        | setting | objectives | reason |
        |---|---|---|

        """
        for r in objectiveRestrictions {
            out += "| `\(r.path.joined(separator: "."))` | \(r.objectives.map { "`\($0)`" }.joined(separator: ", ")) | \(r.reason) |\n"
        }
        out += """

        ## Data split

        Ratios must add up to 1 within \(SplitContract.fractionTolerance) (unset ratios count 0) unless a split
        column (values \(SplitContract.columnValues.map { "`\($0)`" }.joined(separator: ", "))) is named. The
        TrainingJob's default is \(SplitContract.trainingJobDefault.train) / \(SplitContract.trainingJobDefault.validation) / \(SplitContract.trainingJobDefault.test)
        (train / validation / test); a trainer config without `split` uses \(SplitContract.trainerDefault.train) / \(SplitContract.trainerDefault.validation) / \(SplitContract.trainerDefault.test).
        The shuffle's default seed is \(SplitContract.defaultSeed).

        ## Result summary

        The JSON `sextant-trainer` writes to its termination message (at most \(ResultSummaryContract.maxBytes) bytes)
        and the TrainingJob controller reads.

        | part | fields |
        |---|---|
        | top level | \(ResultSummaryContract.fields.map { "`\($0)`" }.joined(separator: ", ")) |
        | `artifact` | \(ResultSummaryContract.artifactFields.map { "`\($0)`" }.joined(separator: ", ")) |
        | `data` | \(ResultSummaryContract.dataFields.map { "`\($0)`" }.joined(separator: ", ")) |
        | `gates[]` | \(ResultSummaryContract.gateFields.map { "`\($0)`" }.joined(separator: ", ")) |
        | `validationCurve` | \(ResultSummaryContract.validationCurveFields.map { "`\($0)`" }.joined(separator: ", ")) (at most \(ValidationCurveContract.maxPoints) rounds, evenly spaced, the first and last kept) |
        | `status` | \(ResultSummaryContract.statuses.map { "`\($0)`" }.joined(separator: ", ")) |
        | `reason` | \(ResultSummaryContract.reasons.map { "`\($0)`" }.joined(separator: ", ")) |
        | extra `metrics` | \(ResultSummaryContract.crossValidationMetrics.map { "`\($0)`" }.joined(separator: ", ")) after cross-validation |

        """
        return out
    }
}
