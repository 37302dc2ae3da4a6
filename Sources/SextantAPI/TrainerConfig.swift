import SextantJSON

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
        switch defaulted.algorithm {
        case .gradientBoosting?: config["algorithm"] = "gradientBoosting"
        case .logisticRegression?: config["algorithm"] = "logisticRegression"
        case nil: break
        }
        config["objective"] = defaulted.objective.map { .string($0.rawValue) }
        config["weightColumn"] = defaulted.data.weightColumn.map(JSONValue.string)
        if var h = defaulted.hyperparameters {
            config["threshold"] = h.decisionThreshold.map(JSONValue.double)
            h.decisionThreshold = nil
            if h.earlyStoppingRounds == 0 { h.earlyStoppingRounds = nil }  // 0 means off; the trainer wants it absent
            config["hyperparameters"] = try JSONValue(encoding: h)
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
