import Foundation
import Testing
@_exported import ReportSupport
@_exported import VictimSupport

// MARK: CPython

/// Debian's CPython, which Scripts/bootstrap installs: for tests that need a Python but not a
/// particular version. They always run.
extension Trait where Self == ConditionTrait {
    /// Runs the test only where pyenv has CPython `version`; elsewhere the test is skipped and the
    /// runner prints why.
    static func cpython(_ version: String) -> Self {
        .enabled(if: pythonBinary(version) != nil,
                 "CPython \(version) is not installed under \(pyenvRoot)/versions (pyenv install \(version))")
    }

    /// Debian sid's CPython `version` ("3.14"), in the root Scripts/python-roots makes.
    static func sid(_ version: String) -> Self {
        .enabled(if: sidPython(version) != nil, Comment(rawValue: sidPythonMissing))
    }
}
