import Foundation

/// An analysis metric over time, drawn as inline SVG: the series as a line, the threshold range
/// as a shaded band (values outside it are what fails a check), the last measurement as a dot.
public enum MetricChart {
    public struct Point: Sendable, Hashable {
        public var time: Double
        public var value: Double
        public init(time: Double, value: Double) {
            self.time = time
            self.value = value
        }
    }

    /// What the x axis counts: seconds since the epoch (labels in UTC) or training rounds.
    public enum Axis: Sendable { case clock, rounds }

    public static let width = 420.0, height = 160.0
    static let left = 44.0, right = 8.0, top = 8.0, bottom = 20.0

    public static func svg(metric: String, points: [Point], min: Double?, max: Double?, last: Point?, axis: Axis = .clock,
                           second: [Point] = []) -> String {
        let finite = points.filter { $0.value.isFinite }
        let other = second.filter { $0.value.isFinite }
        var values = (finite + other).map(\.value) + [min, max, last?.value].compactMap { $0 }.filter(\.isFinite)
        if values.isEmpty { values = [0, 1] }
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 1e-9 { low -= 0.5; high += 0.5 }
        let pad = (high - low) * 0.08
        low -= pad
        high += pad
        let times = (finite + other).map(\.time) + [last?.time].compactMap { $0 }
        var t0 = times.min() ?? 0, t1 = times.max() ?? 1
        if t1 - t0 < 1 { t0 -= axis == .clock ? 30 : 0.5; t1 += axis == .clock ? 30 : 0.5 }
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * plotW }
        func y(_ v: Double) -> Double { top + (high - Swift.min(Swift.max(v, low), high)) / (high - low) * plotH }
        func f(_ d: Double) -> String { String(format: "%.1f", d) }

        var parts: [String] = []
        parts.append("<svg class=\"metric-chart\" data-metric=\"\(Html.escape(metric))\" data-points=\"\(finite.count)\" "
                     + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" "
                     + "aria-label=\"\(Html.escape(metric)) over \(axis == .clock ? "time" : "rounds")\">")
        // The passing band: between min and max (open ends reach the plot's edge).
        if min != nil || max != nil {
            let bandTop = y(max ?? high), bandBottom = y(min ?? low)
            parts.append("<rect class=\"band\" x=\"\(f(left))\" y=\"\(f(bandTop))\" width=\"\(f(plotW))\" height=\"\(f(Swift.max(0, bandBottom - bandTop)))\" fill=\"#dcf3e3\"/>")
        }
        for (bound, label) in [(min, "min"), (max, "max")] {
            guard let bound else { continue }
            parts.append("<line class=\"threshold\" data-bound=\"\(label)\" x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(bound)))\" y2=\"\(f(y(bound)))\" stroke=\"#16803c\" stroke-dasharray=\"4 3\"/>")
            parts.append("<text x=\"2\" y=\"\(f(y(bound) + 3))\">\(Html.escape(label)) \(Html.escape(RolloutView.number(bound)))</text>")
        }
        parts.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#d1d5db\"/>")
        parts.append("<text x=\"2\" y=\"\(f(top + 8))\">\(Html.escape(RolloutView.number(high)))</text>")
        parts.append("<text x=\"2\" y=\"\(f(top + plotH))\">\(Html.escape(RolloutView.number(low)))</text>")
        let clock = DateFormatter()
        clock.dateFormat = "HH:mm:ss"
        clock.timeZone = TimeZone(identifier: "UTC")
        func xLabel(_ t: Double) -> String {
            axis == .clock ? clock.string(from: Date(timeIntervalSince1970: t)) + " UTC" : "round \(RolloutView.number(t))"
        }
        parts.append("<text x=\"\(f(left))\" y=\"\(f(height - 4))\">\(xLabel(t0))</text>")
        parts.append("<text x=\"\(f(left + plotW - 60))\" y=\"\(f(height - 4))\">\(xLabel(t1))</text>")
        if finite.count > 1 {
            let path = finite.map { "\(f(x($0.time))),\(f(y($0.value)))" }.joined(separator: " ")
            parts.append("<polyline class=\"series\" fill=\"none\" stroke=\"#2456a6\" stroke-width=\"1.5\" points=\"\(path)\"/>")
        }
        // A second series (the canary next to the stable version), dashed.
        if other.count > 1 {
            let path = other.map { "\(f(x($0.time))),\(f(y($0.value)))" }.joined(separator: " ")
            parts.append("<polyline class=\"second\" data-points=\"\(other.count)\" fill=\"none\" stroke=\"#b45309\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\" points=\"\(path)\"/>")
        }
        for p in other.count == 1 ? other : [] {
            parts.append("<circle class=\"second\" data-points=\"1\" cx=\"\(f(x(p.time)))\" cy=\"\(f(y(p.value)))\" r=\"2.5\" fill=\"#b45309\"/>")
        }
        for p in finite.count == 1 ? finite : [] {
            parts.append("<circle class=\"series\" cx=\"\(f(x(p.time)))\" cy=\"\(f(y(p.value)))\" r=\"2.5\" fill=\"#2456a6\"/>")
        }
        if let last, last.value.isFinite {
            let inside = (min.map { last.value >= $0 } ?? true) && (max.map { last.value <= $0 } ?? true)
            parts.append("<circle class=\"last\" data-value=\"\(RolloutView.number(last.value))\" cx=\"\(f(x(last.time)))\" cy=\"\(f(y(last.value)))\" r=\"4\" fill=\"\(inside ? "#16803c" : "#c0262d")\"/>")
        }
        parts.append("</svg>")
        return parts.joined()
    }
}
