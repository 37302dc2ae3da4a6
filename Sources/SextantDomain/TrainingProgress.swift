import Foundation
import SextantAPI
import SextantJSON
import SextantKubeTypes

/// Reads the trainer's progress reports (`sextant-progress {...}` lines on its stderr, written by
/// `SextantML.ProgressLine`) from the tail of a trainer Pod's log.
public enum TrainerProgressLog {
    public static let marker = "sextant-progress "

    /// The last complete report in `log`; nil when there is none. A line cut by the tail's byte
    /// limit, or any other text, is skipped, never an error.
    public static func latest(in log: String, at time: Date) -> TrainingProgress? {
        for line in log.split(whereSeparator: \.isNewline).reversed() {
            guard let range = line.range(of: marker) else { continue }
            let json = line[range.upperBound...]
            guard let value = try? JSONValue.decode(Data(json.utf8)), let done = value["roundsDone"]?.intValue else { continue }
            var p = TrainingProgress(roundsDone: Int(done), time: KubeTime.format(time))
            p.rounds = value["rounds"]?.intValue.map(Int.init)
            p.metric = value["metric"]?.stringValue
            p.value = value["value"]?.doubleValue
            p.etaSeconds = value["etaSeconds"]?.doubleValue
            return p
        }
        return nil
    }

    /// Whether `new` says something `old` did not (the read time alone is no news: no status write).
    public static func changed(_ old: TrainingProgress?, _ new: TrainingProgress) -> Bool {
        guard var old else { return true }
        old.time = new.time
        return old != new
    }
}
