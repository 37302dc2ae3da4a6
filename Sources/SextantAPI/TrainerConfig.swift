import SextantJSON
import SextantTrainingContract

/// The config file `sextant-trainer --config` reads, built from the training part of a
/// TrainingJob spec. The CRD groups fields for users (`data.source`, `data.features`) and carries
/// cluster concerns (secrets, endpoints) the trainer never sees; this is the one mapping between
/// the two, tested against the trainer's own parser.
extension TrainingJobSpec {
    /// - Parameter outputURI: the run's artifact directory (`<output.uri>/<modelName>/v<N>/`),
    ///   chosen by the controller.
    public func trainerConfig(outputURI: String) throws -> JSONValue {
        // Schema defaults first, so the trainer sees exactly what `kubectl get -o yaml` shows.
        let defaulted = try TrainingJob(metadata: .init(), spec: self).withSchemaDefaults().spec
        var config: [String: JSONValue] = [
            "modelName": .string(defaulted.modelName),
            "target": .string(defaulted.data.target),
            "output": ["uri": .string(outputURI)],
        ]
        let source = defaulted.data.source
        var data: [String: JSONValue] = ["uri": .string(source.uri)]
        data["version"] = source.version.map(JSONValue.string)
        data["sha256"] = source.sha256.map(JSONValue.string)
        data["timestamp"] = source.timestamp.map(JSONValue.string)
        if let dvc = source.dvc { data["dvc"] = try JSONValue(encoding: dvc) }
        switch source.format {
        case .csvGzip: data["format"] = "csv.gz"
        case .csv: data["format"] = "csv"
        case .parquet: data["format"] = "parquet"
        case .delta: data["format"] = "delta"
        case nil: break
        }
        config["data"] = .object(data)
        config["features"] = defaulted.data.features.map { .array($0.map(JSONValue.string)) }
        config["categoricalFeatures"] = defaulted.data.categoricalFeatures.map { .array($0.map(JSONValue.string)) }
        config["protectedAttributes"] = defaulted.data.protectedAttributes.map { .array($0.map(JSONValue.string)) }
        if let split = defaulted.data.split { config["split"] = try JSONValue(encoding: split) }
        if let algorithm = defaulted.algorithm {
            guard let a = TrainingContract.algorithms.first(where: { $0.name == algorithm.rawValue }) else {
                throw TrainerConfigError.notInContract("algorithm \(algorithm.rawValue)")
            }
            config["algorithm"] = .string(a.configName)
        }
        config["objective"] = defaulted.objective.map { .string($0.rawValue) }
        config["weightColumn"] = defaulted.data.weightColumn.map(JSONValue.string)
        if let h = defaulted.hyperparameters {
            // Each hyperparameter goes where the contract says the trainer reads it; an `off` value
            // (`earlyStoppingRounds: 0`) is left out, which the trainer reads as off.
            guard case .object(let values) = try JSONValue(encoding: h) else { throw TrainerConfigError.notInContract("hyperparameters") }
            var hyperparameters: [String: JSONValue] = [:]
            for (key, value) in values {
                guard let p = TrainingContract.hyperparameter(key), p.inTrainingJob else {
                    throw TrainerConfigError.notInContract("hyperparameters.\(key)")
                }
                if let off = p.off, value.doubleValue == off.value { continue }
                if p.configPath == ["hyperparameters", p.name] {
                    hyperparameters[p.name] = value
                } else if let key = p.configPath.first, p.configPath.count == 1 {
                    config[key] = value
                }
            }
            config["hyperparameters"] = .object(hyperparameters)
        }
        if let g = defaulted.gates {
            var gates: [String: JSONValue] = [:]
            if let p = g.performance { gates["performance"] = try JSONValue(encoding: p.thresholds) }
            if let f = g.fairness { gates["fairness"] = try JSONValue(encoding: f) }
            if let r = g.robustness { gates["robustness"] = try JSONValue(encoding: r) }
            if let q = g.dataQuality { gates["dataQuality"] = try JSONValue(encoding: q) }
            config["gates"] = .object(gates)
        }
        return .object(config)
    }
}

/// A TrainingJob field the training contract does not describe (a programming error caught by
/// TrainingContractDriftTests, reported rather than dropped).
public enum TrainerConfigError: Error, CustomStringConvertible {
    case notInContract(String)
    public var description: String {
        switch self { case .notInContract(let what): "\(what) is not in the training contract" }
    }
}
