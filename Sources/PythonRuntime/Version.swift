/// A CPython version as `PY_VERSION_HEX` encodes it: major, minor, micro, release level, serial.
public struct PythonVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `PY_VERSION_HEX`, e.g. `0x030b07f0` for 3.11.7.
    public var hex: UInt32

    public init(hex: UInt32) {
        self.hex = hex
    }

    public var major: Int { Int(hex >> 24) }
    public var minor: Int { Int(hex >> 16 & 0xff) }
    public var micro: Int { Int(hex >> 8 & 0xff) }
    /// 0xA alpha, 0xB beta, 0xC release candidate, 0xF final.
    public var releaseLevel: Int { Int(hex >> 4 & 0xf) }
    public var serial: Int { Int(hex & 0xf) }

    /// `3.11.7`, `3.13.0rc2`.
    public var description: String {
        let base = "\(major).\(minor).\(micro)"
        switch releaseLevel {
        case 0xa: return base + "a\(serial)"
        case 0xb: return base + "b\(serial)"
        case 0xc: return base + "rc\(serial)"
        default: return base
        }
    }

    public static func < (a: PythonVersion, b: PythonVersion) -> Bool { a.hex < b.hex }
}

/// Why interpreter state could not be read. A value to report, never a guess.
public enum PythonReadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No mapped module defines `_PyRuntime` or a `.PyRuntime` section: not CPython (or not 3.x).
    case noInterpreter
    /// The version could not be determined.
    case unknownVersion(String)
    /// The version is known, its layout is not.
    case unsupportedVersion(PythonVersion, String)
    /// Memory that must be readable could not be read (the process exited, or permission).
    case unreadable(String)
    /// What was read does not fit together: a layout that does not match this build, or memory
    /// changing under the reader.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .noInterpreter: return "no CPython runtime (_PyRuntime) in any mapped module"
        case .unknownVersion(let why): return "CPython version unknown: \(why)"
        case .unsupportedVersion(let version, let why): return "CPython \(version) not supported: \(why)"
        case .unreadable(let what): return "cannot read \(what)"
        case .inconsistent(let what): return "inconsistent interpreter state: \(what)"
        }
    }
}
