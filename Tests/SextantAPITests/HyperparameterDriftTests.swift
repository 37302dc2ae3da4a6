import Foundation
import SextantAPI
import SextantJSON
import SextantML
import Testing

/// The hyperparameters are still written in several places (CRD schema, `validate()`, the
/// trainer's config parser and `GBDTParameters`); until they come from one module, this test
/// fails when the copies drift: every key the CRD offers is a key the trainer knows, every
/// bound value admission accepts the trainer accepts, and the CRD's defaults are the trainer's.
@Suite struct HyperparameterDriftTests {
    static var hyperparameterSchema: [Schema.Property] {
        TrainingJob.specSchema.properties.first { $0.name == "hyperparameters" }?.schema.properties ?? []
    }

    /// Admission of a job with these hyperparameters, and the trainer's parse of the config it maps to.
    static func check(_ hyperparameters: JSONValue) throws -> (admitted: Bool, trainer: String?) {
        var spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: SextantAPI.DataSource(uri: "file:///d.csv"), target: "y"),
                                   output: OutputSpec(uri: "file:///o/"))
        spec.hyperparameters = try hyperparameters.decode(as: Hyperparameters.self)
        guard TrainingJob(metadata: .init(name: "j"), spec: spec).validate().isEmpty else { return (false, nil) }
        let text = String(decoding: try spec.trainerConfig(outputURI: "file:///o/m/v1/").encoded(), as: UTF8.self)
        do { _ = try TrainingConfig.parse(yaml: text); return (true, nil) } catch { return (true, "\(error)") }
    }

    @Test func everyAdmittedBoundIsAcceptedByTheTrainer() throws {
        let properties = Self.hyperparameterSchema
        #expect(properties.count >= 16)
        for p in properties {
            var values: [JSONValue] = []
            if let v = p.schema.minimum { values.append(v) }
            if let v = p.schema.maximum { values.append(v) }
            if let v = p.schema.defaultValue { values.append(v) }
            for value in values {
                let (admitted, rejection) = try Self.check(.object([p.name: value]))
                if admitted {
                    #expect(rejection == nil, "\(p.name)=\(value): admitted by the TrainingJob, rejected by sextant-trainer: \(rejection ?? "")")
                }
            }
        }
    }

    @Test func crdDefaultsAreTheTrainerDefaults() throws {
        let trainer = Dictionary(uniqueKeysWithValues: Mirror(reflecting: GBDTParameters()).children.compactMap { child -> (String, Double)? in
            guard let label = child.label else { return nil }
            switch child.value {
            case let v as Int: return (label, Double(v))
            case let v as Double: return (label, v)
            case let v as UInt64: return (label, Double(v))
            default: return nil
            }
        })
        var compared = 0
        for p in Self.hyperparameterSchema {
            guard let crdDefault = p.schema.defaultValue?.doubleValue, let ours = trainer[p.name] else { continue }
            #expect(crdDefault == ours, "\(p.name): CRD default \(crdDefault), sextant-trainer default \(ours)")
            compared += 1
        }
        #expect(compared >= 12, "compared \(compared) defaults")
    }

    @Test func objectivesAndTheirMetricsAreTheTrainers() throws {
        #expect(TrainingObjective.allCases.map(\.rawValue) == SextantML.Objective.allCases.map(\.rawValue))
        for objective in TrainingObjective.allCases {
            let found = SextantML.Objective(rawValue: objective.rawValue)
            let trainer = try #require(found)
            #expect(objective.metrics.map(\.rawValue) == trainer.metricNames, "\(objective.rawValue)")
        }
        #expect(Set(GateMetric.allCases.map(\.rawValue)) == SextantML.Objective.allMetricNames)
    }

    /// Every (objective, metric) pair admission accepts in a performance gate, the trainer accepts,
    /// and the other way round.
    @Test func gateMetricsPerObjectiveAgree() throws {
        for objective in TrainingObjective.allCases {
            for metric in GateMetric.allCases {
                var spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: SextantAPI.DataSource(uri: "file:///d.csv"), target: "y"),
                                           output: OutputSpec(uri: "file:///o/"))
                spec.objective = objective
                var gates = EvaluationGates()
                gates.performance = PerformanceGate(thresholds: [MetricThreshold(metric: metric, min: 0)])
                spec.gates = gates
                let admitted = TrainingJob(metadata: .init(name: "j"), spec: spec).validate().isEmpty
                let text = String(decoding: try spec.trainerConfig(outputURI: "file:///o/m/v1/").encoded(), as: UTF8.self)
                let trainerAccepts = (try? TrainingConfig.parse(yaml: text)) != nil
                #expect(admitted == trainerAccepts, "\(objective.rawValue) \(metric.rawValue): admitted \(admitted), trainer \(trainerAccepts)")
            }
        }
    }
}
