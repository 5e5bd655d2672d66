import Foundation
import ProcFS
import Testing
import VictimSupport

@testable import PythonRuntime

/// Memory that reads everywhere as deterministic noise, half of whose words point into a small
/// region of itself, so that walks follow chains, loops and absurd sizes.
struct NoiseMemory: RemoteMemoryReader {
    static let region: UInt64 = 0x7000_0000_0000
    let seed: UInt64

    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        guard count > 0, count <= 1 << 20 else { return nil }
        let skip = Int(address % 8)
        let words = (skip + count + 7) / 8
        var noise = [UInt64](repeating: 0, count: words)
        for i in 0..<words {
            let value = Self.mix((address / 8 &+ UInt64(i)) ^ seed)
            noise[i] = value & 1 == 1 ? Self.region + (value >> 8) % 0x10000 & ~7 : value
        }
        return noise.withUnsafeBytes { Array($0[skip..<(skip + count)]) }
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Memory made of a few byte ranges; everything else is unreadable.
struct RegionMemory: RemoteMemoryReader {
    var regions: [UInt64: [UInt8]]

    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        for (start, bytes) in regions where address >= start && address + UInt64(count) <= start + UInt64(bytes.count) {
            let offset = Int(address - start)
            return Array(bytes[offset..<(offset + count)])
        }
        return nil
    }
}

func littleEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

struct RobustnessTests {
    /// Every layout over noise: each call ends (the read budget), nothing crashes, and what comes
    /// back is a value either way. (`snapshot()` is these calls with one budget for all stacks.)
    @Test(arguments: GeneratedLayout.all.map(\.source))
    func noiseEndsEveryWalk(source: String) {
        let layout = GeneratedLayout.all.first { $0.source == source }!
        for seed in [UInt64(1)] {
            let memory = NoiseMemory(seed: seed)
            let runtime = PythonRuntime(version: PythonVersion(hex: layout.hexVersion), runtimeAddress: NoiseMemory.region,
                                        modulePath: "noise", layoutSource: layout.source, layoutIsExact: true,
                                        layout: layout, memory: memory, pthreadTIDOffset: 0x2d0)
            let start = Date()
            _ = runtime.threads()
            _ = runtime.threadNames()
            _ = runtime.stack(threadState: NoiseMemory.region + 0x100)
            _ = runtime.lockObject(waitedOnAt: 0x1234, threadState: NoiseMemory.region + 0x200)
            _ = runtime.asyncioTasks()
            _ = PythonRuntime.make(runtime: NoiseMemory.region, module: "noise", versionAddress: nil,
                                   pthreadTIDOffset: nil, memory: memory)
            #expect(Date().timeIntervalSince(start) < 30, "\(source) seed \(seed)")
        }
    }

    /// asyncio's walks (task lists, sets, weak sets, tasks, coroutine chains) over noise, each
    /// started at many addresses: they end, within the budget, and keep what they read bounded.
    @Test(arguments: GeneratedLayout.all.map(\.source))
    func noiseEndsAsyncioWalks(source: String) throws {
        let layout = GeneratedLayout.all.first { $0.source == source }!
        let version = PythonVersion(hex: layout.hexVersion)
        let taskLayout = try #require(AsyncioLayout.best(for: version)?.0, "no asyncio layout for \(source)")
        let runtime = PythonRuntime(version: version, runtimeAddress: NoiseMemory.region, modulePath: "noise",
                                    layoutSource: layout.source, layoutIsExact: true, layout: layout,
                                    memory: NoiseMemory(seed: 7), pthreadTIDOffset: nil).budgeted()
        var reader = AsyncioReader(runtime: runtime, task: taskLayout)
        let start = Date()
        for i in 0..<256 {
            let address = NoiseMemory.region + UInt64(i * 0x108)
            reader.nativeList(head: address)
            reader.weakSet(address, name: "noise")
            _ = reader.setMembers(address, name: "noise")
            _ = reader.coroutineChain(address, task: address)
            if let task = reader.readTask(address, known: []) {
                #expect(task.coroutines.count <= PythonRuntime.deepestAwait)
            }
        }
        #expect(reader.candidates.count <= 256 * 2 * PythonRuntime.mostTasks)
        let tasks = reader.readTasks()
        #expect(tasks.count <= reader.candidates.count)
        #expect(Date().timeIntervalSince(start) < 30, "\(source)")
    }

    @Test func notPython() throws {
        let maps = try ProcRoot().bytes("self/maps")
        let result = PythonRuntime.locate(mappings: MemoryMapping.parseAll(maps), memory: ProcessMemory(pid: getpid()))
        #expect(result.failureValue == .noInterpreter)
    }

    static let runtime: UInt64 = 0x10000
    static let pyVersion: UInt64 = 0x20000

    static func debugOffsets(version: UInt64, freeThreaded: UInt64 = 0) -> [UInt8] {
        Array("xdebugpy".utf8) + littleEndian(version) + littleEndian(freeThreaded) + [UInt8](repeating: 0, count: 4096)
    }

    @Test func refusesWhatItDoesNotKnow() {
        func make(_ regions: [UInt64: [UInt8]], versionAddress: UInt64? = nil) -> PythonReadError? {
            PythonRuntime.make(runtime: Self.runtime, module: "m", versionAddress: versionAddress, pthreadTIDOffset: nil,
                               memory: RegionMemory(regions: regions)).failureValue
        }
        // A minor version no table was measured on: its _Py_DebugOffsets may have another layout.
        let future = make([Self.runtime: Self.debugOffsets(version: 0x0310_00a1)])
        #expect(future == .unsupportedVersion(PythonVersion(hex: 0x0310_00a1),
                                              "the layout of its _Py_DebugOffsets (3.16) is not known to this build, which reads CPython 3.8 to 3.15"))
        #expect(future?.description.hasPrefix("CPython 3.16.0a1 not supported: ") == true)
        // A beta of a known minor version: its table may be laid out otherwise.
        let beta = make([Self.runtime: Self.debugOffsets(version: 0x030f_00b1)])
        let measured = GeneratedLayout.all.last { PythonVersion(hex: $0.hexVersion).minor == 15 }.map { PythonVersion(hex: $0.hexVersion) }
        #expect(beta == .unsupportedVersion(PythonVersion(hex: 0x030f_00b1),
                                            "a pre-release, whose _Py_DebugOffsets may be laid out otherwise than \(measured.map(\.description) ?? "?")'s, the release this build's table of 3.15 was measured on"))
        for minor: UInt64 in [13, 14, 15] {
            guard case .unsupportedVersion(_, let why)? = make([Self.runtime: Self.debugOffsets(version: 0x0300_00f0 | minor << 16, freeThreaded: 1)]) else {
                Issue.record("free-threaded 3.\(minor) accepted")
                continue
            }
            #expect(why == "a free-threaded build (3.\(minor)t), whose objects are laid out otherwise; only default builds are read")
        }
        // Py_Version and _Py_DebugOffsets disagree.
        let mixed = make([Self.runtime: Self.debugOffsets(version: 0x030d_00f0), Self.pyVersion: [0xf0, 0, 0x0c, 3]],
                         versionAddress: Self.pyVersion)
        #expect(mixed == .inconsistent("_Py_DebugOffsets says 3.13.0, Py_Version 3.12.0"))
        // Too old, and a 3.13 without its debug offsets.
        let old = make([Self.runtime: [UInt8](repeating: 0, count: 64), Self.pyVersion: [0xf0, 0x12, 7, 3]], versionAddress: Self.pyVersion)
        #expect(old == .unsupportedVersion(PythonVersion(hex: 0x0307_12f0), "only CPython 3.8 to 3.15 are read"))
        let noCookie = make([Self.runtime: [UInt8](repeating: 0, count: 64), Self.pyVersion: [0xf0, 5, 13, 3]], versionAddress: Self.pyVersion)
        #expect(noCookie == .unsupportedVersion(PythonVersion(hex: 0x030d_05f0), "no _Py_DebugOffsets cookie at the start of _PyRuntime"))
        // No Py_Version and no sys.hexversion to be found: unknown, not guessed.
        guard case .unknownVersion? = make([Self.runtime: [UInt8](repeating: 0, count: 4096)]) else {
            Issue.record("a version was guessed")
            return
        }
    }

    /// A 3.12 patch release the tables were not measured on, whose thread state does not point back
    /// at its interpreter: the offsets do not fit, and it says so.
    @Test func otherPatchReleaseMustFit() throws {
        let layout = try #require(GeneratedLayout.all.last { PythonVersion(hex: $0.hexVersion).minor == 12 })
        let interp: UInt64 = 0x30000, tstate: UInt64 = 0x40000
        var runtimeBytes = [UInt8](repeating: 0, count: 4096)
        runtimeBytes.replaceSubrange(layout.runtimeInterpretersHead!..<(layout.runtimeInterpretersHead! + 8), with: littleEndian(interp))
        var interpBytes = [UInt8](repeating: 0, count: 4096)
        interpBytes.replaceSubrange(layout.interpThreadsHead!..<(layout.interpThreadsHead! + 8), with: littleEndian(tstate))
        var tstateBytes = [UInt8](repeating: 0, count: 1024)
        let memory = { (back: UInt64) -> RegionMemory in
            tstateBytes.replaceSubrange(layout.tstateInterp!..<(layout.tstateInterp! + 8), with: littleEndian(back))
            return RegionMemory(regions: [Self.runtime: runtimeBytes, interp: interpBytes, tstate: tstateBytes,
                                          Self.pyVersion: [0xf0, 9, 12, 3]])
        }
        let wrong = PythonRuntime.make(runtime: Self.runtime, module: "m", versionAddress: Self.pyVersion, pthreadTIDOffset: nil,
                                       memory: memory(0x50000))
        guard case .inconsistent(let why)? = wrong.failureValue else {
            Issue.record("a layout that does not fit was accepted: \(wrong)")
            return
        }
        #expect(why.contains("does not point back"))
        let fits = try PythonRuntime.make(runtime: Self.runtime, module: "m", versionAddress: Self.pyVersion, pthreadTIDOffset: nil,
                                          memory: memory(interp)).get()
        #expect(fits.version.description == "3.12.9" && !fits.layoutIsExact)
        // 3.13.1 changed threading.Lock: its lock objects are not read.
        var later = fits
        later = PythonRuntime(version: PythonVersion(hex: 0x030d_01f0), runtimeAddress: fits.runtimeAddress, modulePath: "m",
                              layoutSource: "", layoutIsExact: false, layout: layout, memory: fits.memory, pthreadTIDOffset: nil)
        guard case .unsupportedVersion? = later.lockObject(waitedOnAt: 1, threadState: tstate).failureValue else {
            Issue.record("3.13.1 lock objects read with 3.13.0's layout")
            return
        }
    }
}

/// `_Py_DebugOffsets` as the process publishes it is untrusted: every offset is checked against
/// the size its own sub-table gives the structure, and its field's alignment.
struct DebugOffsetsTests {
    static let layouts = GeneratedLayout.all.filter { $0.debugOffsetsSize != nil }

    /// A table laid out as `layout`'s minor version lays it out, holding `layout`'s own offsets
    /// (the GIL's fields at `gilState` onward) and every structure 64 KiB.
    static func table(_ layout: GeneratedLayout, gilState: Int = 4096) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: layout.debugOffsetsSize!)
        func put(_ position: Int?, _ value: Int) {
            guard let position else { return }
            bytes.replaceSubrange(position..<(position + 8), with: littleEndian(UInt64(value)))
        }
        for entry in DebugOffsets.entries {
            put(layout[keyPath: entry.structure], 1 << 16)
            put(layout[keyPath: entry.position], entry.target.flatMap { layout[keyPath: $0] } ?? 0)
        }
        put(layout.debugInterpGilState, gilState)
        put(layout.debugInterpGilLocked, gilState + layout.gilLocked!)
        put(layout.debugInterpGilHolder, gilState + layout.gilLastHolder!)
        return bytes
    }

    @Test(arguments: layouts.map(\.source))
    func readsWhatTheHeadersSay(source: String) throws {
        let layout = try #require(Self.layouts.first { $0.source == source })
        let read = try DebugOffsets.read(Self.table(layout), positions: layout).get()
        #expect(read.differences(from: layout).isEmpty)
        var applied = layout
        applied.tstateFrame = nil
        applied.gilLocked = nil
        read.apply(to: &applied)
        #expect(applied.tstateFrame == layout.tstateFrame && applied.gilLocked == layout.gilLocked)
        // An offset the process publishes otherwise is taken, and named as differing.
        var moved = Self.table(layout)
        let position = try #require(layout.debugTstateCurrentFrame)
        moved.replaceSubrange(position..<(position + 8), with: littleEndian(UInt64(layout.tstateFrame! + 8)))
        let other = try DebugOffsets.read(moved, positions: layout).get()
        #expect(other.differences(from: layout) == ["thread_state.current_frame"])
        other.apply(to: &applied)
        #expect(applied.tstateFrame == layout.tstateFrame! + 8)
    }

    @Test(arguments: layouts.map(\.source))
    func refusesOffsetsOutsideTheirStructure(source: String) throws {
        let layout = try #require(Self.layouts.first { $0.source == source })
        func refusal(_ position: Int?, _ value: UInt64) -> String? {
            var bytes = Self.table(layout)
            guard let position else { return nil }
            bytes.replaceSubrange(position..<(position + 8), with: littleEndian(value))
            guard case .failure(.inconsistent(let why)) = DebugOffsets.read(bytes, positions: layout) else { return nil }
            return why
        }
        #expect(refusal(layout.debugTstateCurrentFrame, 1 << 16)?.contains("thread_state.current_frame = 65536") == true)
        #expect(refusal(layout.debugTstateCurrentFrame, UInt64.max)?.contains("thread_state.current_frame") == true)
        #expect(refusal(layout.debugFramePrevious, 12)?.contains("aligned to 8") == true)
        // A 4-byte field may sit at 4, not at 2; a 1-byte one anywhere.
        #expect(refusal(layout.debugCodeFirstLineNumber, 4) == nil)
        #expect(refusal(layout.debugCodeFirstLineNumber, 2)?.contains("code_object.firstlineno") == true)
        #expect(refusal(layout.debugFrameOwner, 77) == nil)
        #expect(refusal(layout.debugTstateSize, 0)?.contains("the size of thread_state, 0") == true)
        #expect(refusal(layout.debugInterpSize, 1 << 40)?.contains("is not a size") == true)
        #expect(refusal(layout.debugInterpGilLocked, 8)?.contains("the GIL's fields lie before the GIL") == true)
        // The table read too short for a position.
        let short = Array(Self.table(layout).prefix(64))
        guard case .failure(.inconsistent(let why)) = DebugOffsets.read(short, positions: layout) else {
            Issue.record("a truncated table was read")
            return
        }
        #expect(why.contains("outside the table read (64 bytes)"))
    }
}

/// A thread parked in CPython's parking lot (3.13+) sleeps on its wait entry's semaphore: the
/// entry gives the address it waits for only while it is linked into a bucket's list.
struct ParkedAddressTests {
    @Test(arguments: GeneratedLayout.all.filter { $0.waitEntrySemaphore != nil }.map(\.source))
    func aLinkedEntryGivesItsAddress(source: String) throws {
        let layout = try #require(GeneratedLayout.all.first { $0.source == source })
        let entry: UInt64 = 0x7ffd_0000_1000, bucket: UInt64 = 0x5000_0000
        let node = entry + UInt64(layout.waitEntryNode!)
        let mutex: UInt64 = 0x5555_0000_0010
        func memory(linked: Bool) -> RegionMemory {
            var stack = [UInt8](repeating: 0, count: 256)
            stack.replaceSubrange(layout.waitEntryAddress!..<(layout.waitEntryAddress! + 8), with: littleEndian(mutex))
            // The entry is the bucket's only waiter: its node's next and prev are the bucket's root.
            stack.replaceSubrange(layout.waitEntryNode!..<(layout.waitEntryNode! + 8), with: littleEndian(bucket))
            stack.replaceSubrange((layout.waitEntryNode! + 8)..<(layout.waitEntryNode! + 16), with: littleEndian(bucket))
            let root = littleEndian(linked ? node : node + 64) + littleEndian(linked ? node : node + 64)
            return RegionMemory(regions: [entry: stack, bucket: root])
        }
        func runtime(_ memory: RegionMemory) -> PythonRuntime {
            PythonRuntime(version: PythonVersion(hex: layout.hexVersion), runtimeAddress: 0, modulePath: "m",
                          layoutSource: layout.source, layoutIsExact: true, layout: layout, memory: memory, pthreadTIDOffset: nil)
        }
        let futex = entry + UInt64(layout.waitEntrySemaphore!)
        #expect(runtime(memory(linked: true)).parkedAddress(futex: futex) == mutex)
        // A stack word that only looks like an entry: its neighbours do not point back at it.
        #expect(runtime(memory(linked: false)).parkedAddress(futex: futex) == nil)
        // Another futex of the same stack is no entry's semaphore.
        #expect(runtime(memory(linked: true)).parkedAddress(futex: futex + 8) == nil)
    }
}
