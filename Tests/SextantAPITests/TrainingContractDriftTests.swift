import Foundation
import SextantAPI
import SextantJSON
import SextantML
import SextantTrainingContract
import Testing

/// Issue 16 item 1: the training contract (Sources/SextantTrainingContract) is the one source of
/// hyperparameters, algorithms, objectives, metrics, gate settings and the result summary. What
/// is derived from it is checked here against the contract itself, and what cannot be derived (Swift
/// enums and structs, the committed CRD copies, the trainer's defaults) fails here when it drifts.
@Suite struct TrainingContractDriftTests {
    static func spec(_ edit: (inout JSONValue) -> Void = { _ in }) throws -> TrainingJobSpec {
        var json: JSONValue = ["modelName": "m", "data": ["source": ["uri": "file:///d.csv"], "target": "y",
                                                           "protectedAttributes": ["g"]],
                               "output": ["uri": "file:///o/"]]
        edit(&json)
        return try json.decode(as: TrainingJobSpec.self)
    }

    /// (admitted by validate(), the trainer's verdict on the mapped config: nil = accepted).
    static func verdicts(_ spec: TrainingJobSpec) throws -> (admitted: Bool, trainer: String?) {
        let admitted = TrainingJob(metadata: .init(name: "j"), spec: spec).validate().isEmpty
        let text = String(decoding: try spec.trainerConfig(outputURI: "file:///o/m/v1/").encoded(), as: UTF8.self)
        do { _ = try TrainingConfig.parse(yaml: text); return (admitted, nil) } catch { return (admitted, "\(error)") }
    }

    static var crdSpec: JSONValue {
        get throws {
            let crd = try #require(SextantCRDs.named("TrainingJob"))
            let parsed = try JSONValue.parseYAML(try crd.yaml())
            return try #require(parsed[path: ["spec"]]?["versions"]?[0]?[path: ["schema", "openAPIV3Schema", "properties", "spec"]])
        }
    }

    // MARK: Names

    @Test func enumsAreTheContracts() {
        #expect(SextantAPI.Algorithm.allCases.map(\.rawValue) == TrainingContract.algorithms.map(\.name))
        #expect(SextantML.Algorithm.allCases.map(\.rawValue) == TrainingContract.algorithms.map(\.configName))
        #expect(TrainingObjective.allCases.map(\.rawValue) == TrainingContract.objectives.map(\.name))
        #expect(SextantML.Objective.allCases.map(\.rawValue) == TrainingContract.objectives.map(\.name))
        #expect(GateMetric.allCases.map(\.rawValue) == TrainingContract.metrics.map(\.name))
        #expect(Set(TrainingContract.objectives.flatMap(\.metrics)) == Set(TrainingContract.metrics.map(\.name)),
                "every contract metric is reported by some objective")
        #expect(GateName.allCases.map(\.rawValue) == TrainingContract.gates.map(\.resultName))
    }

    /// The metric names come from the contract; here the trainer's metric types must report a finite
    /// value under each name (a name the trainer does not compute fails).
    @Test func theTrainerReportsEveryContractMetric() {
        let binary = ObjectiveMetrics.binary(EvaluationMetrics(labels: [0, 1, 0, 1, 1, 0], probabilities: [0.2, 0.7, 0.4, 0.9, 0.3, 0.1]))
        let regression = ObjectiveMetrics.regression(RegressionMetrics(labels: [1, 2, 3, 5], predictions: [1.5, 2, 2.5, 4], poisson: true, tweediePower: 1.5,
                                                                               quantileAlpha: 0.3))
        let multiclass = ObjectiveMetrics.multiclass(MulticlassMetrics(labels: [0, 1, 2, 1], probabilities: [
            0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.2, 0.6, 0.3, 0.4, 0.3], classes: 3))
        for objective in SextantML.Objective.allCases {
            let metrics = switch objective {
            case .binaryLogistic: binary
            case .squaredError, .poisson, .absoluteError, .tweedie, .quantileError: regression
            case .multiSoftprob: multiclass
            }
            let names = TrainingContract.objective(objective.rawValue)?.metrics ?? []
            #expect(!names.isEmpty)
            for name in names {
                let v = metrics.value(named: name)
                #expect(v?.isFinite == true, "\(objective.rawValue): the trainer reports no \(name)")
            }
        }
    }

    // MARK: Hyperparameters

    /// Property names of the API struct and of the trainer's struct are the contract's names.
    @Test func hyperparameterStructsAreTheContracts() {
        let api = Mirror(reflecting: SextantAPI.Hyperparameters()).children.compactMap(\.label)
        #expect(Set(api) == Set(TrainingContract.hyperparameters.filter(\.inTrainingJob).map(\.name)))
        let trainer = Mirror(reflecting: TrainingConfig.Hyperparameters()).children.compactMap(\.label)
        #expect(Set(trainer) == Set(TrainingContract.hyperparameters.filter { $0.configPath == ["hyperparameters", $0.name] }.map(\.name)))
        let top = Mirror(reflecting: TrainingConfig(modelName: "m", data: .init(uri: "d"), target: "y")).children.compactMap(\.label)
        for h in TrainingContract.hyperparameters where h.configPath.count == 1 {
            #expect(top.contains(h.configPath[0]), "the trainer config has no \(h.configPath[0]) for \(h.name)")
        }
    }

    /// The generated CRD and its committed copies (crds/, the chart, the kustomize base) state the
    /// contract's type, default and bounds for every hyperparameter, and no other.
    @Test func crdCopiesStateTheContractsHyperparameters() throws {
        var documents: [(String, JSONValue)] = [("generated", try Self.crdSpec)]
        for copy in ["crds/trainingjobs.yaml", "charts/sextant/files/crds/trainingjobs.yaml", "manifests/crds/trainingjobs.yaml"] {
            let text = try String(contentsOf: repoRoot.appendingPathComponent(copy), encoding: .utf8)
            let parsed = try JSONValue.parseYAML(text)
            let spec = try #require(parsed[path: ["spec"]]?["versions"]?[0]?[path: ["schema", "openAPIV3Schema", "properties", "spec"]], "\(copy)")
            documents.append((copy, spec))
        }
        for (name, spec) in documents {
            guard case .object(let properties)? = spec[path: ["properties", "hyperparameters", "properties"]] else {
                Issue.record("\(name): no spec.hyperparameters"); continue
            }
            #expect(Set(properties.keys) == Set(TrainingContract.hyperparameters.filter(\.inTrainingJob).map(\.name)), "\(name)")
            for h in TrainingContract.hyperparameters where h.inTrainingJob {
                let node = properties[h.name]
                let type = h.isInteger ? "integer" : (h.kind == .constraintMap ? "object" : "number")
                #expect(node?["type"]?.stringValue == type, "\(name) \(h.name): type")
                #expect(node?["default"]?.doubleValue == h.schemaDefault, "\(name) \(h.name): default")
                #expect(node?["minimum"]?.doubleValue == h.minimum, "\(name) \(h.name): minimum")
                #expect(node?["maximum"]?.doubleValue == h.maximum, "\(name) \(h.name): maximum")
                if h.kind == .constraintMap {
                    #expect(node?[path: ["additionalProperties", "minimum"]]?.doubleValue == h.valueMinimum, "\(name) \(h.name)")
                    #expect(node?[path: ["additionalProperties", "maximum"]]?.doubleValue == h.valueMaximum, "\(name) \(h.name)")
                }
            }
            let rules = spec[path: ["properties", "hyperparameters", "x-kubernetes-validations"]]
            for h in TrainingContract.hyperparameters where h.off?.leastOtherwise != nil {
                #expect(rules.map { "\($0)" }?.contains("self.\(h.name) >= ") == true, "\(name): no CEL rule for \(h.name)")
            }
        }
    }

    /// Values at, inside and just outside every bound: the contract's verdict, admission's and the
    /// trainer's (on the config the controller maps the job to) are the same.
    @Test func admissionAndTrainerFollowTheContractAtEveryBound() throws {
        var probed = 0
        for h in TrainingContract.hyperparameters where h.inTrainingJob && h.kind != .constraintMap {
            let step = h.isInteger ? 1.0 : 0.001
            var values = [h.defaultValue, h.minimum, h.maximum, h.minimum.map { $0 - step }, h.maximum.map { $0 + step },
                          h.off?.value, h.off?.leastOtherwise, h.off?.leastOtherwise.map { $0 - step }].compactMap { $0 }
            if h.exclusiveMinimum, let lo = h.minimum { values.append(lo + step) }
            if h.exclusiveMaximum, let hi = h.maximum { values.append(hi - step) }
            for v in Set(values) {
                let spec = try Self.spec { json in
                    json.set(["hyperparameters"], [h.name: h.isInteger ? .int(Int64(v)) : .double(v)])
                    // A setting of some objectives only is probed under its first objective.
                    if let r = TrainingContract.objectiveRestrictions.first(where: { $0.path == ["hyperparameters", h.name] }),
                       let objective = r.objectives.first {
                        json.set(["objective"], .string(objective))
                    }
                }
                let expected = h.problem(v) == nil
                let (admitted, trainer) = try Self.verdicts(spec)
                #expect(admitted == expected, "\(h.name)=\(v): contract \(expected ? "accepts" : "rejects"), admission \(admitted ? "accepts" : "rejects")")
                #expect((trainer == nil) == expected, "\(h.name)=\(v): contract \(expected ? "accepts" : "rejects"), trainer says \(trainer ?? "ok")")
                probed += 1
            }
        }
        #expect(probed >= 60)
        // Trainer-only settings, straight in a config.
        for h in TrainingContract.hyperparameters where !h.inTrainingJob {
            for v in [h.defaultValue, h.minimum, h.minimum.map { $0 - 1 }, h.maximum.map { $0 + 1 }].compactMap({ $0 }) {
                let text = "{modelName: m, data: {uri: d.csv}, target: y, hyperparameters: {\(h.name): \(h.render(v))}}"
                let accepted = (try? TrainingConfig.parse(yaml: text)) != nil
                #expect(accepted == (h.problem(v) == nil), "\(h.name)=\(v)")
            }
        }
        // Monotone constraints: each value in the contract's range, nothing else.
        let map = try #require(TrainingContract.hyperparameter("monotoneConstraints"))
        for v in [-2.0, -1, 0, 1, 2] {
            let spec = try Self.spec { $0.set(["hyperparameters"], ["monotoneConstraints": ["x": .int(Int64(v))]]) }
            let (admitted, trainer) = try Self.verdicts(spec)
            #expect(admitted == (map.problem(mapValue: v) == nil), "monotoneConstraints.x=\(v)")
            #expect((trainer == nil) == (map.problem(mapValue: v) == nil), "monotoneConstraints.x=\(v): \(trainer ?? "ok")")
        }
    }

    /// The trainer's own defaults (GBDTParameters, which the trainer uses when a key is absent)
    /// are the contract's.
    @Test func trainerDefaultsAreTheContracts() {
        var trainer: [String: Double] = [:]
        for child in Mirror(reflecting: GBDTParameters()).children {
            guard let label = child.label else { continue }
            switch child.value {
            case let v as Int: trainer[label] = Double(v)
            case let v as Double: trainer[label] = v
            case let v as UInt64: trainer[label] = Double(v)
            default: break
            }
        }
        var compared = 0
        for h in TrainingContract.hyperparameters {
            guard let ours = trainer[h.name], let contract = h.defaultValue else { continue }
            if h.name == "threads" { continue }  // GBDTParameters holds the resolved count, not the setting
            #expect(ours == contract, "\(h.name): contract default \(contract), GBDTParameters \(ours)")
            compared += 1
        }
        #expect(compared >= 15, "compared \(compared) defaults")
        // earlyStoppingRounds: the contract's default is its off value, and the trainer's default is off.
        #expect(GBDTParameters().earlyStoppingRounds == nil)
        #expect(TrainingContract.hyperparameter("earlyStoppingRounds")?.defaultValue == TrainingContract.hyperparameter("earlyStoppingRounds")?.off?.value)
        #expect(TrainingConfig(modelName: "m", data: .init(uri: "d"), target: "y").decisionThreshold
                == TrainingContract.defaultValue("decisionThreshold"))
    }

    // MARK: Objectives and gates

    /// Every objective restriction, set under every objective: contract, admission and trainer agree.
    @Test func objectiveRestrictionsAgree() throws {
        let samples: [String: JSONValue] = ["numClass": 3, "tweedieVariancePower": 1.3, "quantileAlpha": 0.9, "folds": 5, "fairness": [:], "robustness": [:],
                                            "classBalance": ["min": 0.0, "max": 1.0]]
        for r in TrainingContract.objectiveRestrictions {
            let value = try #require(samples[r.path.last ?? ""], "no sample for \(r.path)")
            for objective in TrainingContract.objectives.map(\.name) {
                let spec = try Self.spec { json in
                    json.set(r.path, value)
                    json.set(["objective"], .string(objective))
                }
                let expected = r.objectives.contains(objective)
                let (admitted, trainer) = try Self.verdicts(spec)
                #expect(admitted == expected, "\(r.path) under \(objective): admission \(admitted)")
                #expect((trainer == nil) == expected, "\(r.path) under \(objective): trainer \(trainer ?? "ok")")
                if !expected { #expect(trainer?.contains(r.reason) == true, "\(trainer ?? "")") }
            }
        }
        // Algorithms: each accepts exactly its objectives.
        for a in TrainingContract.algorithms {
            for o in TrainingContract.objectives {
                let spec = try Self.spec { json in
                    json.set(["algorithm"], .string(a.name))
                    json.set(["objective"], .string(o.name))
                }
                let expected = a.objectives.contains(o.name)
                let (admitted, trainer) = try Self.verdicts(spec)
                #expect(admitted == expected && (trainer == nil) == expected, "\(a.name) \(o.name): admission \(admitted), trainer \(trainer ?? "ok")")
            }
        }
    }

    /// Every (objective, metric) pair in a performance gate: admission and the trainer agree, and
    /// accept exactly the contract's metrics of the objective.
    @Test func gateMetricsPerObjectiveAgree() throws {
        for objective in TrainingContract.objectives {
            for metric in TrainingContract.metrics {
                let spec = try Self.spec { json in
                    json.set(["objective"], .string(objective.name))
                    json.set(["gates", "performance", "thresholds"], [["metric": .string(metric.name), "min": 0]])
                }
                let expected = objective.metrics.contains(metric.name)
                let (admitted, trainer) = try Self.verdicts(spec)
                #expect(admitted == expected, "\(objective.name) \(metric.name): admission \(admitted)")
                #expect((trainer == nil) == expected, "\(objective.name) \(metric.name): trainer \(trainer ?? "ok")")
            }
        }
    }

    /// Gate settings: the CRD states the contract's default and bounds; admission and the trainer
    /// accept the default and refuse values outside the bounds.
    @Test func gateSettingsAgree() throws {
        let spec = try Self.crdSpec
        for gate in TrainingContract.gates {
            for s in gate.settings {
                let node = spec[path: ["properties", "gates", "properties", gate.name, "properties", s.name]]
                #expect(node?["default"]?.doubleValue == s.defaultValue, "\(gate.name).\(s.name) default")
                #expect(node?["minimum"]?.doubleValue == s.minimum, "\(gate.name).\(s.name) minimum")
                #expect(node?["maximum"]?.doubleValue == s.maximum, "\(gate.name).\(s.name) maximum")
                let integer = node?["type"]?.stringValue == "integer"
                for (v, ok) in [(s.defaultValue, true), (s.minimum.map { $0 - 1 }, false), (s.maximum.map { $0 + 1 }, false)] {
                    guard let v else { continue }
                    let job = try Self.spec { $0.set(["gates", gate.name, s.name], integer ? .int(Int64(v)) : .double(v)) }
                    let (admitted, trainer) = try Self.verdicts(job)
                    #expect(admitted == ok, "\(gate.name).\(s.name)=\(v): admission")
                    #expect((trainer == nil) == ok, "\(gate.name).\(s.name)=\(v): trainer \(trainer ?? "ok")")
                }
            }
        }
        let levels = spec[path: ["properties", "gates", "properties", "robustness", "properties", "noiseLevels", "default"]]
        #expect(levels == .array(TrainingContract.robustnessNoiseLevels.map(JSONValue.double)))
    }

    // MARK: Split and summary

    @Test func splitDefaultsAreTheContracts() throws {
        let split = try Self.crdSpec[path: ["properties", "data", "properties", "split", "default"]]
        #expect(split?["train"]?.doubleValue == SplitContract.trainingJobDefault.train)
        #expect(split?["validation"]?.doubleValue == SplitContract.trainingJobDefault.validation)
        #expect(split?["test"]?.doubleValue == SplitContract.trainingJobDefault.test)
        #expect(SextantAPI.DataSplit.fractionTolerance == SplitContract.fractionTolerance)
        #expect(TrainingConfig.splitFractionTolerance == SplitContract.fractionTolerance)
    }

    /// ResultSummary (what the trainer writes) has exactly the contract's fields, at every level,
    /// and its statuses are the contract's.
    @Test func resultSummaryIsTheContracts() throws {
        func labels(_ value: Any) -> Set<String> { Set(Mirror(reflecting: value).children.compactMap(\.label)) }
        let document = """
        {"status": "GateFailed", "trainerVersion": "t", "artifact": {"uri": "u", "sha256": "s", "size": 1},
         "data": {"uri": "u", "version": "v", "sha256": "s", "rows": 3},
         "gates": [{"name": "performance.aucRoc", "passed": false, "value": 0.5, "threshold": 0.9, "message": "m"}]}
        """
        let s = try JSONDecoder().decode(ResultSummary.self, from: Data(document.utf8))
        #expect(labels(s) == Set(ResultSummaryContract.fields))
        #expect(labels(try #require(s.artifact)) == Set(ResultSummaryContract.artifactFields))
        #expect(labels(try #require(s.data)) == Set(ResultSummaryContract.dataFields))
        #expect(labels(try #require(s.gates?.first)) == Set(ResultSummaryContract.gateFields))
        let curve = try #require(ResultSummary.ValidationCurve(metric: "valid-logloss", losses: [0.6, 0.5]))
        #expect(labels(curve) == Set(ResultSummaryContract.validationCurveFields))
        for status in ResultSummaryContract.statuses {
            #expect(ResultSummary.Status(rawValue: status) != nil, "\(status)")
        }
        #expect(ResultSummary.maxBytes == ResultSummaryContract.maxBytes)
    }

    // MARK: Docs

    /// docs/trainer.md's config example names every trainer hyperparameter, and its default where it shows one.
    @Test func trainerDocsConfigExampleNamesEveryHyperparameter() throws {
        let doc = try String(contentsOf: repoRoot.appendingPathComponent("docs/trainer.md"), encoding: .utf8)
        let lines = doc.split(separator: "\n").map(String.init)
        for h in TrainingContract.hyperparameters {
            let key = h.configPath.last ?? h.name
            let indent = h.configPath.count == 1 ? "" : "  "
            #expect(lines.contains { $0.hasPrefix("\(indent)\(key): ") }, "docs/trainer.md's config example lacks \(h.configPath.joined(separator: "."))")
        }
        #expect(doc.contains("resources/\(TrainingContract.referenceFileName)"), "docs/trainer.md links the contract reference")
    }
}

extension JSONValue {
    /// Sets the value at a path of object keys, creating objects on the way.
    mutating func set(_ path: [String], _ value: JSONValue) {
        guard let first = path.first else { self = value; return }
        var object: [String: JSONValue] = [:]
        if case .object(let o) = self { object = o }
        var child = object[first] ?? .object([:])
        child.set(Array(path.dropFirst()), value)
        object[first] = child
        self = .object(object)
    }
}
