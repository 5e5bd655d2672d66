/// A JSON value, written on one line with sorted keys. The report's and the events' JSON are
/// built from the model with these, without Codable's reflection.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// The value on one line, keys sorted, `/` not escaped.
    public var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value):
            if value.isFinite {
                // Whole numbers as such; others in Swift's shortest round-trip form, which is valid JSON.
                if value == value.rounded(), abs(value) < 1e15 { out += String(Int64(value)) } else { out += "\(value)" }
            } else {
                out += "null"
            }
        case .string(let value): JSON.writeString(value, into: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(key, into: &out)
                out += ":"
                members[key]!.write(into: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ value: String, into out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let code = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - code.count) + code
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSON {
    static func from(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    static func from(_ value: Int32?) -> JSON { value.map { .int(Int64($0)) } ?? .null }
    static func from(_ value: Int?) -> JSON { value.map { .int(Int64($0)) } ?? .null }
    static func from(_ value: UInt64?) -> JSON { value.map { $0 <= UInt64(Int64.max) ? .int(Int64($0)) : .double(Double($0)) } ?? .null }
    static func from(_ value: Double?) -> JSON { value.map(JSON.double) ?? .null }
    static func from(_ value: Bool?) -> JSON { value.map(JSON.bool) ?? .null }
    static func hex(_ value: UInt64?) -> JSON { value.map { .string(hexAddress($0)) } ?? .null }
    static func pids(_ values: [Int32]) -> JSON { .array(values.map { .int(Int64($0)) }) }
    static func strings(_ values: [String]) -> JSON { .array(values.map(JSON.string)) }
}

/// An object whose optional members are left out when nil.
struct JSONObject {
    private(set) var members: [String: JSON] = [:]

    /// Always written, null when nil.
    subscript(key: String) -> JSON {
        get { members[key] ?? .null }
        set { members[key] = newValue }
    }

    /// Written only when not null.
    mutating func optional(_ key: String, _ value: JSON) {
        if value != .null { members[key] = value }
    }

    var json: JSON { .object(members) }
}
