// The libFuzzer entry points over the targets in Tests/FuzzTests: Scripts/fuzz compiles this file
// with one module's sources and its targets into one program (`-sanitize=fuzzer,address`).
// FUZZ_TARGET picks the parser; with FUZZ_WRITE_SEEDS=DIR the program writes the target's seeds
// into DIR (one file each) and exits, so libFuzzer can start from them.
#if canImport(Glibc)
import Glibc
#endif

#if FUZZ_PROCFS
let fuzzTargets = FuzzTargets.procFS
#elseif FUZZ_PYTHON
let fuzzTargets = FuzzTargets.python
#else
let fuzzTargets = FuzzTargets.symbols
#endif

nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        let names = fuzzTargets.map(\.name).joined(separator: " ")
        fputs("FUZZ_TARGET must be one of: \(names)\n", stderr)
        exit(64)
    }
    selected = target
    if let dir = getenv("FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
        for (index, seed) in target.seeds().enumerated() {
            let fd = open("\(dir)/seed-\(index)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { fputs("cannot write \(dir)/seed-\(index)\n", stderr); exit(1) }
            _ = seed.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?.run(input)
    return 0
}
