// Prediction feedback: responses carry a prediction id; clients later post the true labels for
// those ids and the server keeps the model's online quality over the most recent labelled rows:
// accuracy and ROC AUC for a binary classifier, accuracy for K classes, RMSE and MAE for
// regression.
import Foundation
import SextantJSON
import Synchronization

/// What a model's labels are, which decides how a label is read and which quality is kept.
public enum FeedbackTarget: Sendable, Equatable {
    /// 0/1 labels; a score at or above `threshold` predicts 1.
    case binary(threshold: Double)
    /// Class indices 0..<classes; the score is the predicted class.
    case multiclass(classes: Int)
    /// Any finite number; the score is the predicted value.
    case regression
}

/// Labels for one prediction id: every row of the request (`row` nil) or one row. A label is a
/// number: 0/1 for a binary classifier, the class index, or the true value.
public struct FeedbackItem: Sendable, Equatable {
    public var id: String
    public var row: Int?
    public var labels: [Double]
    public init(id: String, row: Int? = nil, labels: [Double]) {
        self.id = id
        self.row = row
        self.labels = labels
    }
    public init(id: String, row: Int? = nil, labels: [Bool]) {
        self.init(id: id, row: row, labels: labels.map { $0 ? 1 : 0 })
    }
}

/// Recent predictions by id and a window of labelled outcomes; thread-safe.
public final class FeedbackStore: Sendable {
    struct State {
        var prefix: String
        var counter: UInt64 = 0
        /// Scores of recent requests by id, evicted oldest first (FIFO ring of ids).
        var scores: [String: [Double]] = [:]
        /// Rows of each recent request that already have a label: a repeated label counts once.
        var labelled: [String: Set<Int>] = [:]
        var order: [String?]
        var orderNext = 0
        /// Labelled outcomes (score, label), a ring of `outcomeCapacity`.
        var outcomes: [(Double, Double)] = []
        var outcomeNext = 0
    }

    public let target: FeedbackTarget
    let predictionCapacity: Int
    let outcomeCapacity: Int
    private let state: Mutex<State>

    /// Keeps the scores of the last `predictions` requests and the last `outcomes` labelled rows.
    public init(target: FeedbackTarget, predictions: Int = 100_000, outcomes: Int = 10_000) {
        self.target = target
        predictionCapacity = max(1, predictions)
        outcomeCapacity = max(1, outcomes)
        // A per-process random prefix keeps ids unique across replicas and restarts.
        let prefix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        state = Mutex(State(prefix: prefix, order: [String?](repeating: nil, count: max(1, predictions))))
    }

    /// Records one request's scores and returns its prediction id. Row `i` of a batch is
    /// addressed as the id with `labels[i]`, or as "id:i".
    public func record(_ scores: [Double]) -> String {
        state.withLock { s in
            s.counter += 1
            let id = "\(s.prefix)-\(s.counter)"
            if let old = s.order[s.orderNext] { s.scores[old] = nil; s.labelled[old] = nil }
            s.order[s.orderNext] = id
            s.orderNext = (s.orderNext + 1) % predictionCapacity
            s.scores[id] = scores
            return id
        }
    }


    /// What one feedback post did, counted in rows (labels) throughout.
    public struct Result: Sendable, Equatable {
        /// Labels joined to a recorded prediction.
        public var matched = 0
        /// Labels for rows that already had one (not counted again).
        public var duplicate = 0
        /// Labels whose id is unknown (expired or never issued).
        public var unknownLabels = 0
        /// The ids behind `unknownLabels`, as sent.
        public var unknown: [String] = []
        /// Labels for a known id that do not fit its request (row out of range, label count
        /// differs from the request's rows), with the reason.
        public var rejectedLabels = 0
        public var rejected: [(id: String, reason: String)] = []

        public static func == (a: Result, b: Result) -> Bool {
            a.matched == b.matched && a.duplicate == b.duplicate && a.unknownLabels == b.unknownLabels && a.unknown == b.unknown
                && a.rejectedLabels == b.rejectedLabels && a.rejected.map(\.id) == b.rejected.map(\.id)
                && a.rejected.map(\.reason) == b.rejected.map(\.reason)
        }
    }

    /// Adds labels. An id with `labels` addresses every row of its request in order (the count
    /// must match); "id:i" or an id with one `label` and `row` addresses row i.
    public func addLabels(_ items: [FeedbackItem]) -> Result {
        state.withLock { s in
            var result = Result()
            for item in items {
                var id = item.id
                var row = item.row
                if row == nil, s.scores[id] == nil, let colon = id.lastIndex(of: ":"), let r = Int(id[id.index(after: colon)...]) {
                    row = r
                    id = String(id[..<colon])
                }
                guard let scores = s.scores[id] else {
                    result.unknown.append(item.id)
                    result.unknownLabels += item.labels.count
                    continue
                }
                func reject(_ reason: String) {
                    result.rejected.append((item.id, reason))
                    result.rejectedLabels += item.labels.count
                }
                let rows: [Int]
                if let row {
                    guard row >= 0, row < scores.count else { reject("row \(row) of a request with \(scores.count) rows"); continue }
                    guard item.labels.count == 1 else { reject("\(item.labels.count) labels for one row"); continue }
                    rows = [row]
                } else {
                    guard item.labels.count == scores.count else {
                        reject("\(item.labels.count) labels for a request of \(scores.count) rows (send one per row, in order, or 'id:ROW' with one 'label')")
                        continue
                    }
                    rows = Array(scores.indices)
                }
                var done = s.labelled[id] ?? []
                for (r, label) in zip(rows, item.labels) {
                    guard done.insert(r).inserted else { result.duplicate += 1; continue }
                    let p = (scores[r], label)
                    if s.outcomes.count < outcomeCapacity { s.outcomes.append(p) } else { s.outcomes[s.outcomeNext] = p }
                    s.outcomeNext = (s.outcomeNext + 1) % outcomeCapacity
                    result.matched += 1
                }
                s.labelled[id] = done
            }
            return result
        }
    }

    /// The online quality over the labelled window; each figure is nil where the target has none.
    public struct Quality: Sendable, Equatable {
        public var rows: Int
        /// Classifiers: the share of rows whose predicted class is the label.
        public var accuracy: Double?
        /// Binary classifiers, once both classes have been seen.
        public var auc: Double?
        /// Regression: root mean squared and mean absolute error.
        public var rmse: Double?
        public var mae: Double?
    }

    public func quality() -> Quality? {
        let outcomes = state.withLock { $0.outcomes }
        guard !outcomes.isEmpty else { return nil }
        let n = Double(outcomes.count)
        switch target {
        case .binary(let threshold):
            let correct = outcomes.reduce(0) { $0 + (($1.0 >= threshold) == ($1.1 == 1) ? 1 : 0) }
            return Quality(rows: outcomes.count, accuracy: Double(correct) / n, auc: Self.auc(outcomes.map { ($0.0, $0.1 == 1) }))
        case .multiclass:
            let correct = outcomes.reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
            return Quality(rows: outcomes.count, accuracy: Double(correct) / n)
        case .regression:
            var squared = 0.0, absolute = 0.0
            for (prediction, label) in outcomes {
                let e = prediction - label
                squared += e * e
                absolute += abs(e)
            }
            return Quality(rows: outcomes.count, rmse: (squared / n).squareRoot(), mae: absolute / n)
        }
    }

    /// ROC AUC by the rank-sum (Mann-Whitney) formula with average ranks for ties.
    public static func auc(_ outcomes: [(Double, Bool)]) -> Double? {
        let sorted = outcomes.sorted { $0.0 < $1.0 }
        let positives = sorted.reduce(0) { $0 + ($1.1 ? 1 : 0) }
        let negatives = sorted.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        var rankSum = 0.0
        var i = 0
        while i < sorted.count {
            var j = i
            while j < sorted.count && sorted[j].0 == sorted[i].0 { j += 1 }
            let averageRank = Double(i + j + 1) / 2  // ranks i+1 ... j
            for k in i..<j where sorted[k].1 { rankSum += averageRank }
            i = j
        }
        let p = Double(positives), n = Double(negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }

    /// Parses `{"id": "...", "labels": [..]}`, `{"id": "...", "label": x}` (optionally with
    /// `"row": i`), or `{"feedback": [ ...those... ]}`, or a bare array of them. Labels as
    /// `target` reads them: 0/1, booleans or "0"/"1" (binary); a class index (multiclass); a
    /// finite number (regression).
    public static func parse(_ body: JSONValue, target: FeedbackTarget) throws(ServingError) -> [FeedbackItem] {
        var entries: [JSONValue]
        if case .array(let a)? = body["feedback"] { entries = a } else if case .array(let a) = body { entries = a } else { entries = [body] }
        guard !entries.isEmpty else { throw .bad("feedback is empty") }
        var out: [FeedbackItem] = []
        for (i, e) in entries.enumerated() {
            guard case .object = e else { throw .bad("feedback[\(i)] must be an object with 'id' and 'label' or 'labels'") }
            guard case .string(let id)? = e["id"], !id.isEmpty else {
                throw .bad("feedback[\(i)] needs the string 'id' returned with the prediction")
            }
            var labels: [Double] = []
            var row: Int?
            if case .array(let a)? = e["labels"] {
                guard !a.isEmpty else { throw .bad("feedback[\(i)].labels is empty") }
                for (k, l) in a.enumerated() { labels.append(try label(l, "feedback[\(i)].labels[\(k)]", target)) }
            } else if let l = e["label"] {
                labels = [try label(l, "feedback[\(i)].label", target)]
                if let r = e["row"] {
                    guard let n = r.intValue, n >= 0 else { throw .bad("feedback[\(i)].row must be a non-negative integer, got \(r.jsonString())") }
                    row = Int(n)
                }
            } else {
                throw .bad("feedback[\(i)] needs 'label' or 'labels'")
            }
            out.append(FeedbackItem(id: id, row: row, labels: labels))
        }
        return out
    }

    static func label(_ v: JSONValue, _ place: String, _ target: FeedbackTarget) throws(ServingError) -> Double {
        switch target {
        case .binary:
            switch v {
            case .bool(let b): return b ? 1 : 0
            case .int(0), .string("0"): return 0
            case .int(1), .string("1"): return 1
            case .double(let d) where d == 0 || d == 1: return d
            default: throw .bad("\(place) must be 0 or 1, got \(v.jsonString())")
            }
        case .multiclass(let classes):
            let index: Int64? = switch v {
            case .int(let n): n
            case .double(let d) where d.rounded() == d && abs(d) < 1e15: Int64(d)
            case .string(let s): Int64(s)
            default: nil
            }
            guard let index, index >= 0, index < classes else {
                throw .bad("\(place) must be a class index from 0 to \(classes - 1), got \(v.jsonString())")
            }
            return Double(index)
        case .regression:
            // Strings and booleans are refused as the prediction endpoints refuse them.
            let value: Double? = switch v {
            case .int(let n): Double(n)
            case .double(let d): d
            default: nil
            }
            guard let value, value.isFinite else { throw .bad("\(place) must be a finite number, got \(v.jsonString())") }
            return value
        }
    }
}
