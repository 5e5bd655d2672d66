// Shared by the fixed-seed fuzz tests (`swift test --filter FuzzTests`) and the libFuzzer drivers
// that Scripts/fuzz builds from the same files with `-D FUZZ_STANDALONE`.

/// One parser under fuzzing: its seeds (real inputs), words worth splicing in, and how to feed it.
struct FuzzTarget: Sendable {
    /// Short name, as `Scripts/fuzz` and the tests call it (`stat`, `elf`, …).
    let name: String
    /// Well-formed inputs to start from.
    let seeds: @Sendable () -> [FuzzSeed]
    /// Byte strings a mutation may insert or overwrite with (separators, extreme numbers).
    let tokens: [[UInt8]]
    /// Runs the parser on one input; must return for every input.
    let run: @Sendable ([UInt8]) -> Void

    init(_ name: String, tokens: [String] = [], seeds: @escaping @Sendable () -> [FuzzSeed],
         run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.tokens = tokens.map { Array($0.utf8) }
        self.seeds = seeds
        self.run = run
    }
}

/// A seed input and the byte ranges a mutation should prefer (an ELF file's headers and tables):
/// random offsets in a large file would almost never touch the fields that steer the parser.
struct FuzzSeed: Sendable {
    var bytes: [UInt8]
    var hot: [Range<Int>] = []
}

/// The parsers, per module; each file of targets adds its list.
enum FuzzTargets {}

/// The repository's root, from this file's path (the same in the tests and in Scripts/fuzz).
let fuzzRepositoryRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
    return path
}()

/// SplitMix64: small, fast, and the same sequence on every machine for one seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Mutations in the manner of libFuzzer's: bit flips, interesting integers, byte runs inserted,
/// erased, repeated or copied from another seed, tokens, and truncation; 1 to 8 of them stacked.
struct Mutator {
    var random: SeededGenerator
    let tokens: [[UInt8]]

    init(seed: UInt64, tokens: [[UInt8]]) {
        random = SeededGenerator(seed: seed)
        self.tokens = tokens
    }

    static let interesting64: [UInt64] = [
        0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
        0x1_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_ffff_fffe, 0xffff_ffff_ffff_ffff,
    ]

    mutating func int(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(random.next() % UInt64(bound)) }

    /// An offset in `bytes`, half the time inside one of the hot ranges.
    mutating func offset(in count: Int, hot: [Range<Int>]) -> Int {
        let usable = hot.map { $0.clamped(to: 0..<count) }.filter { !$0.isEmpty }
        if !usable.isEmpty, int(2) == 0 {
            let range = usable[int(usable.count)]
            return range.lowerBound + int(range.count)
        }
        return int(count)
    }

    mutating func mutate(_ seed: FuzzSeed, others: [FuzzSeed]) -> [UInt8] {
        var bytes = seed.bytes
        for _ in 0..<(1 + int(8)) {
            let count = bytes.count
            switch int(11) {
            case 0 where count > 0:  // flip a bit
                let at = offset(in: count, hot: seed.hot)
                bytes[at] ^= 1 << UInt8(int(8))
            case 1 where count > 0:  // a random byte
                bytes[offset(in: count, hot: seed.hot)] = UInt8(truncatingIfNeeded: random.next())
            case 2 where count > 0:  // an interesting integer, 1, 2, 4 or 8 bytes, either byte order
                let width = [1, 2, 4, 8][int(4)]
                let at = offset(in: count, hot: seed.hot)
                var value = Mutator.interesting64[int(Mutator.interesting64.count)]
                if int(4) == 0 { value = 0 &- value }
                let big = int(4) == 0
                for i in 0..<width where at + i < count {
                    let shift = UInt64(8 * (big ? width - 1 - i : i))
                    bytes[at + i] = UInt8(truncatingIfNeeded: value >> shift)
                }
            case 3 where count > 1:  // erase a run
                let at = int(count)
                let length = 1 + int(min(count - at, 64))
                bytes.removeSubrange(at..<min(count, at + length))
            case 4:  // insert random bytes
                let at = int(count + 1)
                let run = (0..<(1 + int(16))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                bytes.insert(contentsOf: run, at: at)
            case 5 where count > 0:  // repeat a run
                let at = int(count)
                let length = 1 + int(min(count - at, 128))
                let run = Array(bytes[at..<min(count, at + length)])
                bytes.insert(contentsOf: Array(repeating: run, count: 1 + int(4)).joined(), at: int(bytes.count + 1))
            case 6 where !tokens.isEmpty:  // insert or overwrite with a token
                let token = tokens[int(tokens.count)]
                let at = int(count + 1)
                if int(2) == 0 || at + token.count > count {
                    bytes.insert(contentsOf: token, at: at)
                } else {
                    bytes.replaceSubrange(at..<(at + token.count), with: token)
                }
            case 7 where !others.isEmpty:  // copy a run from another seed
                let other = others[int(others.count)].bytes
                guard !other.isEmpty else { continue }
                let from = int(other.count)
                let run = other[from..<min(other.count, from + 1 + int(256))]
                bytes.insert(contentsOf: run, at: int(count + 1))
            case 8 where count > 1:  // truncate
                bytes.removeSubrange(int(count)...)
            case 9 where count > 1:  // swap two bytes
                bytes.swapAt(int(count), offset(in: count, hot: seed.hot))
            case 10 where count > 0:  // add or subtract a small number
                let at = offset(in: count, hot: seed.hot)
                bytes[at] = bytes[at] &+ UInt8(truncatingIfNeeded: int(70) - 35)
            default:
                continue
            }
        }
        return bytes
    }
}

/// Runs `target` on its seeds and then `count` mutated inputs, the same ones on every run for
/// one `seed`; returns the slowest input's time in seconds. A parser that traps ends the process.
@discardableResult
func runShortFuzz(_ target: FuzzTarget, count: Int, seed: UInt64 = 0x5EED) -> (inputs: Int, slowest: Double) {
    let seeds = target.seeds()
    var slowest = 0.0
    var inputs = 0
    func timed(_ input: [UInt8]) {
        let start = monotonicSeconds()
        target.run(input)
        slowest = max(slowest, monotonicSeconds() - start)
        inputs += 1
    }
    for seedInput in seeds { timed(seedInput.bytes) }
    guard !seeds.isEmpty else { return (inputs, slowest) }
    var mutator = Mutator(seed: seed, tokens: target.tokens)
    var pool = seeds
    for i in 0..<count {
        let base = pool[mutator.int(pool.count)]
        let input = mutator.mutate(base, others: seeds)
        timed(input)
        // Keep a few mutants as bases too, so mutations stack over generations.
        if i % 16 == 0 { pool.append(FuzzSeed(bytes: input, hot: base.hot)) }
        if pool.count > seeds.count + 64 { pool.remove(at: seeds.count + mutator.int(64)) }
    }
    return (inputs, slowest)
}

#if canImport(Glibc)
import Glibc
#endif

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The bytes of the file at `path`, or nil.
func readFileBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        result += chunk[0..<n]
    }
    return result
}

/// Every regular file below `directory` whose name satisfies `matches`, sorted by path.
func filesBelow(_ directory: String, where matches: (String) -> Bool) -> [String] {
    var found: [String] = []
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    for name in names.sorted() {
        let path = directory + "/" + name
        var st = stat()
        guard lstat(path, &st) == 0 else { continue }
        if st.st_mode & S_IFMT == S_IFDIR {
            found += filesBelow(path, where: matches)
        } else if matches(path) {
            found.append(path)
        }
    }
    return found
}

/// The targets of the symbolic links below `directory` whose path satisfies `matches`.
func linkTargetsBelow(_ directory: String, where matches: (String) -> Bool) -> [String] {
    var found: [String] = []
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    for name in names.sorted() {
        let path = directory + "/" + name
        var st = stat()
        guard lstat(path, &st) == 0 else { continue }
        if st.st_mode & S_IFMT == S_IFDIR {
            found += linkTargetsBelow(path, where: matches)
        } else if st.st_mode & S_IFMT == S_IFLNK, matches(path) {
            var buffer = [CChar](repeating: 0, count: 4097)
            let n = readlink(path, &buffer, 4096)
            if n > 0 { found.append(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
    }
    return found
}
