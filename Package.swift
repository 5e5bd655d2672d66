// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "forkhazard",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "forkhazard", targets: ["forkhazard"]),
        .library(name: "ForkHazardKit", targets: ["ForkHazardKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Fixed-argument shims over ptrace (variadic in glibc) and libunwind (macros), the
        // unwinder's memory accessors, and the demo's victim program.
        .target(
            name: "CForkHazard",
            linkerSettings: [
                .linkedLibrary("unwind-ptrace"),
                .linkedLibrary("unwind-generic"),
                .linkedLibrary("unwind"),
                // libunwind-ptrace uses liblzma without declaring it.
                .linkedLibrary("lzma"),
            ]),
        // Pure /proc parsers and the readers that feed them; the proc root is a parameter.
        .target(name: "ProcFS"),
        // libdeflate (compressed debug sections) and openat2 for Symbols.
        .systemLibrary(name: "CSymbols", providers: [.apt(["libdeflate-dev"])]),
        // ELF symbol tables, DWARF line tables and debug files: addresses to function names
        // and source lines.
        .target(name: "Symbols", dependencies: ["CSymbols"]),
        // One wrapper for each system call made on other processes and on the tool's children
        // (process_vm_readv, poll, kill, waitpid): a typed errno, EINTR retried inside. Swift only,
        // so that PythonRuntime, which reads memory through it, links no libunwind.
        .target(name: "Syscalls"),
        // CPython's interpreter state read from outside a live process: threads, frames, names, locks.
        .target(name: "PythonRuntime", dependencies: ["ProcFS", "Symbols", "Syscalls"]),
        // Snapshot model, wait decoding, analysis and rendering.
        .target(name: "ForkHazardKit", dependencies: ["ProcFS", "Symbols", "PythonRuntime", "CForkHazard", "Syscalls"]),
        .executableTarget(
            name: "forkhazard",
            dependencies: [
                "ForkHazardKit",
                "Syscalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            plugins: ["BuildInfo"]),
        // The commit the binary is built from, for --version: written before every build.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // What the tests share: commands run to their end, victims (Tests/Victims) started as a
        // shell would, the built executable, and the interpreters they run under.
        .target(name: "VictimSupport", dependencies: ["ProcFS"], path: "Tests/VictimSupport"),
        // What the ForkHazardKit tests share to read reports: findings in words, JSON, the JSON Schemas.
        .target(name: "ReportSupport", dependencies: ["ForkHazardKit", "VictimSupport"], path: "Tests/ReportSupport"),
        // One test target per library and kind (README, "Tests"): unit tests (pure logic, no
        // process started), fixture tests (parsers over fixture /proc trees and files), live tests
        // (victims started and diagnosed) and binary tests (the built forkhazard executable run).
        .testTarget(name: "ProcFSUnitTests", dependencies: ["ProcFS"]),
        .testTarget(name: "ProcFSFixtureTests", dependencies: ["ProcFS"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SymbolsUnitTests", dependencies: ["Symbols"]),
        .testTarget(name: "SymbolsFixtureTests", dependencies: ["Symbols", "VictimSupport"]),
        .testTarget(name: "PythonRuntimeUnitTests", dependencies: ["PythonRuntime", "ProcFS", "VictimSupport"]),
        .testTarget(
            name: "PythonRuntimeLiveTests", dependencies: ["PythonRuntime", "ProcFS", "VictimSupport", "ForkHazardKit"]),
        .testTarget(name: "ForkHazardKitUnitTests", dependencies: ["ForkHazardKit", "ProcFS", "Syscalls", "ReportSupport"]),
        .testTarget(
            name: "ForkHazardKitFixtureTests", dependencies: ["ForkHazardKit", "ProcFS", "ReportSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ForkHazardKitLiveTests", dependencies: ["ForkHazardKit", "ProcFS", "Symbols", "VictimSupport", "ReportSupport"]),
        .testTarget(
            name: "ForkHazardKitBinaryTests", dependencies: ["ForkHazardKit", "ProcFS", "VictimSupport", "ReportSupport"]),
        // The parsers of untrusted input, fuzzed briefly with fixed seeds; Scripts/fuzz runs the
        // same targets under libFuzzer.
        .testTarget(name: "FuzzTests", dependencies: ["ProcFS", "Symbols", "PythonRuntime"], exclude: ["seed-program.c"]),
    ],
    swiftLanguageModes: [.v6]
)
