import Foundation
import Logging

/// One log statement with everything the formats print, so that rendering is a pure function
/// that tests can call without stderr.
public struct LogRecord: Sendable {
    public var date: Date
    public var level: Logger.Level
    public var message: String
    /// `coordinator`, `worker`, `run`, ...: which part of the cluster wrote the line.
    public var role: String
    public var runID: String?
    public var metadata: Logger.Metadata

    public init(
        date: Date, level: Logger.Level, message: String, role: String, runID: String?,
        metadata: Logger.Metadata = [:]
    ) {
        self.date = date
        self.level = level
        self.message = message
        self.role = role
        self.runID = runID
        self.metadata = metadata
    }
}

/// How a `LogRecord` becomes one line of text (without the newline).
public enum LogFormat: Sendable {
    /// `{"ts":"2026-01-02T03:04:05.678Z","level":"info","message":"...","role":"worker",
    /// "run_id":"...", <metadata>}`: nested metadata dictionaries are flattened to dotted keys
    /// (`peer.id`) in key order, and numbers and booleans passed as `.stringConvertible`
    /// stay JSON numbers and booleans; `.string` values (including `"\(n)"`) stay strings.
    /// A metadata key that equals a fixed field gets a leading underscore (`_level`).
    case json
    /// `HH:MM:SS level [role] message key=value ...`, local time, for people at a terminal.
    case human

    public func render(_ record: LogRecord) -> String {
        let fields = Self.flatten(record.metadata)
        switch self {
        case .json:
            var line = "{\"ts\":" + Self.jsonString(Self.isoTimestamp(record.date))
            line += ",\"level\":" + Self.jsonString(record.level.rawValue)
            line += ",\"message\":" + Self.jsonString(record.message)
            line += ",\"role\":" + Self.jsonString(record.role)
            if let runID = record.runID { line += ",\"run_id\":" + Self.jsonString(runID) }
            for (key, value) in fields {
                let name = Self.fixedFields.contains(key) ? "_" + key : key
                line += "," + Self.jsonString(name) + ":" + value.json
            }
            return line + "}"
        case .human:
            var line = "\(Self.clockTime(record.date)) \(record.level.rawValue) [\(record.role)] \(record.message)"
            for (key, value) in fields { line += " \(key)=\(value.human)" }
            return line
        }
    }

    static let fixedFields: Set<String> = ["ts", "level", "message", "role", "run_id"]

    /// Metadata as (dotted key, value) pairs sorted by key, so that lines are stable.
    static func flatten(_ metadata: Logger.Metadata) -> [(String, LogValue)] {
        var fields: [(String, LogValue)] = []
        func add(_ metadata: Logger.Metadata, prefix: String) {
            for (key, value) in metadata {
                if case .dictionary(let inner) = value {
                    add(inner, prefix: prefix + key + ".")
                } else {
                    fields.append((prefix + key, LogValue(value)))
                }
            }
        }
        add(metadata, prefix: "")
        return fields.sorted { $0.0 < $1.0 }
    }

    /// UTC with milliseconds: `2026-01-02T03:04:05.678Z`.
    static func isoTimestamp(_ date: Date) -> String {
        let (parts, millis) = calendarParts(date, utc: true)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
    }

    /// Local wall-clock `HH:MM:SS`.
    static func clockTime(_ date: Date) -> String {
        let (parts, _) = calendarParts(date, utc: false)
        return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    /// gmtime_r/localtime_r instead of a DateFormatter: reentrant and cheap on every line.
    private static func calendarParts(_ date: Date, utc: Bool) -> (tm, Int32) {
        // Truncated to the millisecond (so .9996 s never prints as a 1000th one), after
        // rounding to the microsecond: 1767323045.678 is stored as ...045.67799999.
        let millis = ((date.timeIntervalSince1970 * 1_000_000).rounded() / 1000).rounded(.down)
        let seconds = (millis / 1000).rounded(.down)
        var time = time_t(seconds)
        var parts = tm()
        if utc { gmtime_r(&time, &parts) } else { localtime_r(&time, &parts) }
        return (parts, Int32(millis - seconds * 1000))
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, so a value
    /// can never break the one-line-per-record framing.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A metadata value as JSON knows it.
indirect enum LogValue {
    case string(String)
    /// Text that is a valid JSON number.
    case number(String)
    case bool(Bool)
    case array([LogValue])
    case object([(String, LogValue)])

    init(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .stringConvertible(let item): self = LogValue(item)
        case .array(let items): self = .array(items.map(LogValue.init))
        case .dictionary(let inner):
            self = .object(inner.sorted { $0.key < $1.key }.map { ($0.key, LogValue($0.value)) })
        }
    }

    private init(_ item: any CustomStringConvertible & Sendable) {
        switch item {
        case let flag as Bool: self = .bool(flag)
        case let integer as any BinaryInteger: self = .number(integer.description)
        case let real as any BinaryFloatingPoint: self = LogValue(real: real)
        default: self = .string(item.description)
        }
    }

    /// NaN and infinities have no JSON number: they become the strings "nan", "inf", "-inf".
    private init<F: BinaryFloatingPoint>(real: F) {
        let value = Double(real)
        self = value.isFinite ? .number("\(value)") : .string("\(value)")
    }

    var json: String {
        switch self {
        case .string(let text): LogFormat.jsonString(text)
        case .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .array(let items): "[" + items.map(\.json).joined(separator: ",") + "]"
        case .object(let fields):
            "{" + fields.map { LogFormat.jsonString($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
        }
    }

    /// Plain when it reads unambiguously after `key=`, else quoted like JSON.
    var human: String {
        guard case .string(let text) = self else { return json }
        let plain = !text.isEmpty && !text.unicodeScalars.contains {
            $0.value <= 0x20 || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value == 0x7F
        }
        return plain ? text : json
    }
}
