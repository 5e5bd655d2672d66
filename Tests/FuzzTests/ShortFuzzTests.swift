import Testing

/// Every parser of untrusted input, run on its seeds and a few thousand mutations of them, the
/// same ones on every run. A parser that traps (out of bounds, overflow) ends the test process,
/// and the target and iteration reproduce it; `Scripts/fuzz` runs the same targets for millions
/// of inputs under libFuzzer and AddressSanitizer.
@Suite("Fuzzing, fixed seed") struct ShortFuzzTests {
    static let all = FuzzTargets.procFS + FuzzTargets.symbols + FuzzTargets.python

    /// The seeds are the real inputs: captured /proc files, and ELF files with DWARF of every kind.
    @Test func seedsAreReal() {
        for name in ["stat", "status", "maps", "syscall", "fdinfo", "net-unix", "net-inet", "locks", "mountinfo", "cmdline"] {
            let seeds = FuzzTargets.procFS.first { $0.name == name }?.seeds() ?? []
            #expect(!seeds.isEmpty, "\(name)")
        }
        #expect((FuzzTargets.procFS.first { $0.name == "stat" }?.seeds().count ?? 0) > 20)
        #expect(compiledSeedPrograms.count == 8)
        #expect(dwarfSeeds().count == 7)
        #expect(dwarfSeeds().contains { !$0.strOffsets.isEmpty && !$0.addr.isEmpty })
        #expect(dwarfSeeds().contains { !$0.rnglists.isEmpty || !$0.ranges.isEmpty })
    }

    /// /proc files, netlink messages and CPython's line tables.
    @Test(arguments: (FuzzTargets.procFS + FuzzTargets.python).map(\.name))
    func procParser(name: String) throws {
        let target = try #require(Self.all.first { $0.name == name })
        let result = runShortFuzz(target, count: 3000)
        #expect(result.inputs > 3000)
        #expect(result.slowest < 0.5, "one input took \(result.slowest) s")
    }

    @Test(arguments: FuzzTargets.symbols.map(\.name))
    func elfParser(name: String) throws {
        let target = try #require(Self.all.first { $0.name == name })
        let result = runShortFuzz(target, count: 3000)
        #expect(result.inputs > 3000)
        #expect(result.slowest < 1, "one input took \(result.slowest) s")
    }
}
