import Foundation

/// Shows how a long run is going: a redrawn bar on a terminal, a structured log line every
/// few seconds otherwise (one JSON object per line on stderr).
public final class ProgressReporter: @unchecked Sendable {
    public enum Style: Sendable {
        case bar, logLines, silent

        /// A bar when stderr is a terminal, log lines otherwise.
        public static var automatic: Style { isatty(2) != 0 ? .bar : .logLines }
    }

    private let style: Style
    private let interval: Double
    private let lock = NSLock()
    private var last = 0.0
    private var runStart = 0.0
    private var label = ""
    private var drewBar = false

    public init(style: Style = .automatic, logInterval: Double = 5) {
        self.style = style
        self.interval = style == .bar ? 0.1 : logInterval
    }

    /// Starts a new phase, e.g. one grid point.
    public func begin(_ label: String) {
        lock.withLock {
            self.label = label
            runStart = Self.now()
            last = 0
        }
    }

    /// Reports `done` of `total` units (walks) and the steps so far; cheap to call often.
    public func update(done: Int, total: Int, steps: UInt64, force: Bool = false) {
        let now = Self.now()
        lock.withLock {
            guard style != .silent, force || now - last >= interval else { return }
            last = now
            let elapsed = max(now - runStart, 1e-9)
            let fraction = total > 0 ? Double(done) / Double(total) : 1
            let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : .infinity
            let rate = Double(steps) / elapsed
            switch style {
            case .bar:
                let width = 24
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                let line = "\r\(label) [\(bar)] \(Int(fraction * 100))%  \(done)/\(total) walks  "
                    + "\(Format.compact(Double(steps))) steps  \(Format.compact(rate)) steps/s  ETA \(Format.duration(eta))\u{1B}[K"
                FileHandle.standardError.write(Data(line.utf8))
                drewBar = true
            case .logLines:
                let record: [String: Any] = [
                    "event": "progress", "phase": label, "walks_done": done, "walks_total": total,
                    "steps": steps, "steps_per_s": rate.rounded(), "eta_s": eta.isFinite ? (eta * 10).rounded() / 10 : -1,
                ]
                Log.write(record)
            case .silent:
                break
            }
        }
    }

    /// Ends the current phase, clearing the bar.
    public func end() {
        lock.withLock {
            if drewBar {
                FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
                drewBar = false
            }
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

/// One JSON object per line on stderr.
public enum Log {
    public static func write(_ record: [String: Any]) {
        var record = record
        record["ts"] = ISO8601DateFormatter().string(from: Date())
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}

/// Number formatting for tables and progress lines.
public enum Format {
    /// 1234567 -> "1.23M", 0.00123 -> "1.23e-3".
    public static func compact(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : "inf" }
        let a = abs(x)
        if a == 0 { return "0" }
        for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] where a >= scale {
            return String(format: "%.3g", x / scale) + suffix
        }
        if a >= 0.01 { return String(format: "%.3g", x) }
        return String(format: "%.2e", x)
    }

    /// A value with enough digits to compare against another, e.g. "128003.4".
    public static func value(_ x: Double, digits: Int = 6) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : "inf" }
        return String(format: "%.\(digits)g", x)
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        if seconds < 60 { return String(format: "%.0fs", seconds) }
        if seconds < 3600 { return String(format: "%.0fm%02.0fs", (seconds / 60).rounded(.down), seconds.truncatingRemainder(dividingBy: 60)) }
        return String(format: "%.0fh%02.0fm", (seconds / 3600).rounded(.down), (seconds / 60).truncatingRemainder(dividingBy: 60))
    }

    /// Left-aligned first column, right-aligned others.
    public static func table(header: [String], rows: [[String]]) -> String {
        let columns = header.count
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < columns { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}
