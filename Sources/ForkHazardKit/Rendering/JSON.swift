/// A JSON value, written on one line with sorted keys. The report's and the events' JSON are
/// built from the model with these, without Codable's reflection.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// An object: its members in the order set, each key once (written sorted by key).
    case object([Member])

    public struct Member: Sendable, Equatable {
        let key: String
        var value: JSON
    }

    /// The value on one line, keys sorted, `/` not escaped.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// `text`'s UTF-8 bytes, as written to a file.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(into: &out)
        return out
    }

    /// Writes UTF-8 bytes: a large report is mostly strings copied as they are.
    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += "null".utf8
        case .bool(let value): out += (value ? "true" : "false").utf8
        case .int(let value): out += String(value).utf8
        case .double(let value):
            if value.isFinite {
                // Whole numbers as such; others in Swift's shortest round-trip form, which is valid JSON.
                if value == value.rounded(), abs(value) < 1e15 { out += String(Int64(value)).utf8 } else { out += "\(value)".utf8 }
            } else {
                out += "null".utf8
            }
        case .string(let value): JSON.writeString(value, into: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            JSON.write(members, into: &out)
        }
    }

    private static func write(_ members: [Member], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        // Keys are ASCII names: they sort as their bytes do.
        for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeString(member.key, into: &out)
            out.append(UInt8(ascii: ":"))
            member.value.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func writeString(_ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        // Only `"`, `\` and control characters are escaped; every other byte, multi-byte UTF-8
        // sequences included, is copied.
        let copied = value.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if !copied {
            let utf8 = value.utf8
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += "\\\"".utf8
                case UInt8(ascii: "\\"): out += "\\\\".utf8
                case UInt8(ascii: "\n"): out += "\\n".utf8
                case UInt8(ascii: "\r"): out += "\\r".utf8
                case UInt8(ascii: "\t"): out += "\\t".utf8
                case _ where byte < 0x20:
                    let code = String(byte, radix: 16)
                    out += ("\\u" + String(repeating: "0", count: 4 - code.count) + code).utf8
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
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
    /// An object of these members (keys distinct), built without hashing.
    static func fields(_ members: KeyValuePairs<String, JSON>) -> JSON { .object(members.map { Member(key: $0.key, value: $0.value) }) }
}

/// An object whose optional members are left out when nil. Its few members are kept in the
/// order set (a report has thousands of such objects: no hashing), sorted when written.
struct JSONObject {
    private(set) var members: [JSON.Member] = []

    /// Always written, null when nil.
    subscript(key: String) -> JSON {
        get { members.first { $0.key == key }?.value ?? .null }
        set {
            if let index = members.firstIndex(where: { $0.key == key }) { members[index].value = newValue } else {
                members.append(JSON.Member(key: key, value: newValue))
            }
        }
    }

    /// Written only when not null.
    mutating func optional(_ key: String, _ value: JSON) {
        if value != .null { self[key] = value }
    }

    /// A flag, written as `true` only when set: readers take a missing key for false.
    mutating func flag(_ key: String, _ value: Bool) {
        if value { self[key] = .bool(true) }
    }

    var json: JSON { .object(members) }
}
