import Foundation
import ProcFS
import Testing

@testable import PythonRuntime

/// asyncio event loops read from outside (python_asyncio_loop.py: five loops in one process, each
/// idle in its own way): each thread's loop found from its frames, and each loop's ready queue,
/// timers, watched fds, wakeup socket, signal handlers and executor equal to what the victim says.
@Suite(.serialized)
struct LiveAsyncioLoopTests {
    @Test("CPython 3.8 (pyenv)", .enabled(if: Interpreter.pyenv(8) != nil, "no CPython 3.8 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python38() throws { try checkLoops(Interpreter.pyenv(8)!) }

    @Test("CPython 3.9 (pyenv)", .enabled(if: Interpreter.pyenv(9) != nil, "no CPython 3.9 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python39() throws { try checkLoops(Interpreter.pyenv(9)!) }

    @Test("CPython 3.10 (pyenv)", .enabled(if: Interpreter.pyenv(10) != nil, "no CPython 3.10 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python310() throws { try checkLoops(Interpreter.pyenv(10)!) }

    @Test("CPython 3.11 (pyenv)", .enabled(if: Interpreter.pyenv(11) != nil, "no CPython 3.11 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python311() throws { try checkLoops(Interpreter.pyenv(11)!) }

    @Test("CPython 3.12 (pyenv)", .enabled(if: Interpreter.pyenv(12) != nil, "no CPython 3.12 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python312() throws { try checkLoops(Interpreter.pyenv(12)!) }

    @Test("CPython 3.13 (pyenv)", .enabled(if: Interpreter.pyenv(13) != nil, "no CPython 3.13 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python313() throws { try checkLoops(Interpreter.pyenv(13)!) }

    @Test("CPython 3.14 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(14) != nil, sidMissing))
    func python314() throws { try checkLoops(Interpreter.sid(14)!) }

    @Test("CPython 3.15 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(15) != nil, sidMissing))
    func python315() throws { try checkLoops(Interpreter.sid(15)!) }

    @Test("Debian's /usr/bin/python3 (static build)")
    func systemPython() throws {
        let python = try #require(Interpreter.system, "/usr/bin/python3 is missing")
        try checkLoops(python)
    }

    /// Not a loop: an error naming the type, not a state made of whatever the object holds.
    @Test("An object that is not a loop is refused (Debian's /usr/bin/python3)")
    func notALoop() throws {
        let python = try #require(Interpreter.system, "/usr/bin/python3 is missing")
        let victim = try PythonVictim(python.path, victimScript("python_asyncio_loop.py"))
        let maps = MemoryMapping.parseAll(try ProcRoot().bytes("\(victim.pid)/maps"))
        let runtime = try PythonRuntime.locate(mappings: maps, memory: ProcessMemory(pid: victim.pid)).get()
        let thread = try #require(try runtime.threads().get().first)
        // A thread state is no Python object; the interpreter's sys dict is one, but no loop.
        #expect(runtime.asyncioLoop(at: thread.threadState).failureValue != nil)
        let interp = try #require(runtime.layout.interpSysdict.flatMap { runtime.memory.u64(thread.interpreter + UInt64($0)) })
        let error = try #require(runtime.asyncioLoop(at: interp).failureValue)
        #expect(error.description.contains("dict 0x") && error.description.contains("not an asyncio event loop"), "\(error)")
    }
}

/// What python_asyncio_loop.py printed about one loop.
struct PrintedLoop {
    var ident: UInt64
    var tid: Int32
    var wakeupFD: Int32
}

func checkLoops(_ python: Interpreter) throws {
    let victim = try PythonVictim(python.path, victimScript("python_asyncio_loop.py"))
    var printed: [String: PrintedLoop] = [:]
    for words in victim.lines(tagged: "loop") where words.count == 5 {
        printed[words[1]] = PrintedLoop(ident: UInt64(words[2])!, tid: Int32(words[3])!, wakeupFD: Int32(words[4])!)
    }
    func number(_ tag: String, _ name: String) -> String? {
        victim.lines(tagged: tag).first { $0.count == 3 && $0[1] == name }?[2]
    }
    #expect(Set(printed.keys) == ["idle", "sleep", "server", "ready", "signals"], "\(python): \(victim.lines)")
    // Every loop idle in its selector, but the one stuck in its callback.
    for (name, loop) in printed {
        try waitForBlocked(pid: victim.pid, tid: loop.tid, in: name == "ready" ? "futex" : "epoll_wait")
    }

    let maps = MemoryMapping.parseAll(try ProcRoot().bytes("\(victim.pid)/maps"))
    let runtime = try PythonRuntime.locate(mappings: maps, memory: ProcessMemory(pid: victim.pid)).get()
    let running = try runtime.runningAsyncioLoops().get()
    #expect(Set(running.keys) == Set(printed.values.map(\.ident)), "\(python): loops on \(running.keys), printed \(printed)")
    #expect(Set(running.values).count == printed.count, "\(python): one loop per thread")

    for (name, expected) in printed.sorted(by: { $0.key < $1.key }) {
        let address = try #require(running[expected.ident], "\(python) \(name): no loop found on its thread")
        let state = try runtime.asyncioLoop(at: address).get()
        let label = "\(python) \(name)"
        #expect(state.typeName == "_UnixSelectorEventLoop", "\(label)")
        #expect(state.closed == false && state.stopping == false, "\(label)")
        #expect(state.selectorTypeName == "EpollSelector", "\(label)")
        #expect(state.wakeupFD == expected.wakeupFD, "\(label)")
        let watched = state.watched ?? []
        let wakeup = watched.first { $0.fd == expected.wakeupFD }
        #expect(wakeup?.events == 1 && wakeup?.writer == nil, "\(label): \(watched)")
        #expect(wakeup?.reader?.callback?.qualifiedName == "BaseSelectorEventLoop._read_from_self", "\(label): \(watched)")
        #expect(wakeup?.reader?.cancelled == false, "\(label)")
        #expect(state.hasDefaultExecutor == (name == "sleep"), "\(label)")
        if name != "signals" { #expect(state.signalHandlers == [], "\(label)") }
        if name != "ready" {
            #expect(state.readyCount == 0 && state.readyCancelledCount == 0 && state.ready.isEmpty, "\(label): \(state.ready)")
        }
        if name != "server" { #expect(watched.map(\.fd) == [expected.wakeupFD], "\(label): \(watched)") }

        switch name {
        case "idle", "signals", "server":
            #expect(state.timerCount == 0 && state.cancelledTimerCount == 0 && state.nextTimerWhen == nil, "\(label)")
            if name == "signals" {
                let handlers = state.signalHandlers ?? []
                #expect(handlers.map(\.signal) == [SIGUSR1, SIGTERM], "\(label): \(handlers)")
                #expect(handlers.map { $0.handle?.callback?.qualifiedName } == ["Worker.on_usr1", "on_term"], "\(label): \(handlers)")
                #expect(handlers.map { $0.handle?.callback?.typeName } == ["method", "function"], "\(label)")
            }
            if name == "server" {
                let listen = try #require(number("listen", "server").flatMap { Int32($0) })
                let connection = try #require(number("conn", "server").flatMap { Int32($0) })
                #expect(watched.map(\.fd) == [expected.wakeupFD, listen, connection].sorted(), "\(label): \(watched)")
                let listening = watched.first { $0.fd == listen }, connected = watched.first { $0.fd == connection }
                #expect(listening?.events == 1 && connected?.events == 1, "\(label): \(watched)")
                #expect(listening?.reader?.callback?.qualifiedName == "BaseSelectorEventLoop._accept_connection", "\(label): \(watched)")
                #expect(connected?.reader?.callback?.qualifiedName == "_SelectorSocketTransport._read_ready", "\(label): \(watched)")
                #expect(connected?.writer == nil, "\(label)")
            }
        case "sleep":
            let due = try #require(number("timer", "sleep").flatMap { Double($0) })
            #expect(state.timerCount == 1 && state.cancelledTimerCount == 0, "\(label)")
            let when = try #require(state.nextTimerWhen, "\(label): no next timer")
            #expect(abs(when - due) < 1, "\(label): \(when) against \(due)")
            let left = try #require(state.secondsToNextTimer)
            #expect(left > 3500 && left <= 3601, "\(label): \(left) s to the next timer")
            #expect(state.nextTimer?.callback?.qualifiedName == "_set_result_unless_cancelled", "\(label): \(String(describing: state.nextTimer))")
            #expect(state.executorThreadCount == 1, "\(label)")
        case "ready":
            #expect(state.readyCount == 73 && state.readyCancelledCount == 1, "\(label): \(String(describing: state.readyCount))")
            #expect(state.ready.count == 8, "\(label)")
            #expect(state.ready.map { $0.callback?.qualifiedName } == ["first_ready", "Worker.second", "print"] + Array(repeating: "filler", count: 5),
                    "\(label): \(state.ready)")
            #expect(state.ready.map { $0.callback?.typeName }.prefix(3) == ["function", "method", "builtin_function_or_method"], "\(label)")
            #expect(state.ready.allSatisfy { $0.cancelled == false }, "\(label)")
            let due = try #require(number("timer", "ready").flatMap { Double($0) })
            #expect(state.timerCount == 1 && state.cancelledTimerCount == 1, "\(label)")
            #expect(state.nextTimerWhen == due, "\(label): \(String(describing: state.nextTimerWhen)) against \(due)")
            #expect(state.nextTimer?.callback?.qualifiedName == "far_away", "\(label)")
            let left = try #require(state.secondsToNextTimer)
            #expect(left > 7100 && left <= 7200, "\(label): \(left) s to the next timer")
        default:
            Issue.record("\(label): unexpected loop")
        }
    }
}

/// The loop's containers read from hostile memory: made-up objects whose links loop or lie end
/// in nil, without reading on.
@Suite struct HostileLoopObjectTests {
    /// Bytes at a few addresses; everything else is unmapped.
    struct Regions: RemoteMemoryReader {
        var regions: [UInt64: [UInt8]]
        func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
            for (start, bytes) in regions where address >= start && address + UInt64(count) <= start + UInt64(bytes.count) {
                return Array(bytes[Int(address - start)..<Int(address - start) + count])
            }
            return nil
        }
    }

    static func words(_ values: [UInt64], size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        for (i, value) in values.enumerated() { withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(i * 8..<i * 8 + 8, with: $0) } }
        return bytes
    }

    /// A type named `name` at 0x2000 (3.10's layout: no cached keys to read), whose `tp_base` is itself.
    static func memory(name: String, object: [UInt64], blocks: [UInt64: [UInt64]]) -> Regions {
        var type = [UInt8](repeating: 0, count: 512)
        type.replaceSubrange(24..<32, with: words([0x5000], size: 8))        // tp_name
        type.replaceSubrange(32..<40, with: words([64], size: 8))            // tp_basicsize
        type.replaceSubrange(256..<264, with: words([0x2000], size: 8))      // tp_base: itself
        var regions: [UInt64: [UInt8]] = [0x1000: words(object, size: 64), 0x2000: type,
                                          0x5000: Array(name.utf8) + [UInt8](repeating: 0, count: 64 - name.utf8.count)]
        for (address, block) in blocks { regions[address] = words(block, size: ObjectReader.dequeBlockSize) }
        return Regions(regions: regions)
    }

    static func reader(_ memory: Regions) throws -> ObjectReader {
        let layout = try #require(GeneratedLayout.all.first { PythonVersion(hex: $0.hexVersion).minor == 10 })
        return ObjectReader(memory: memory, layout: layout, minor: 10, cache: nil)
    }

    /// A deque block: no left link, 64 items 0x6000, then `right`.
    static func block(right: UInt64, hole: Int? = nil) -> [UInt64] {
        [0] + (0..<64).map { $0 == hole ? 0 : 0x6000 } + [right]
    }

    @Test func dequeWhoseBlocksLoop() throws {
        // 200 items claimed, one block linked to itself.
        let memory = Self.memory(name: "collections.deque", object: [1, 0x2000, 200, 0x3000, 0x4000, 0, 5],
                                 blocks: [0x3000: Self.block(right: 0x3000)])
        let objects = try Self.reader(memory)
        #expect(objects.dequeItems(0x1000, limit: 4096) == nil)
        let first = try #require(objects.dequeItems(0x1000, limit: 10))
        #expect(first.count == 200 && first.items == Array(repeating: 0x6000, count: 10))
    }

    @Test func dequeThatLies() throws {
        let block = [UInt64(0x3000): Self.block(right: 0)]
        // A negative length, an index outside its block, a NULL item, the end not where rightindex says.
        for object: [UInt64] in [[1, 0x2000, UInt64(bitPattern: -3), 0x3000, 0x3000, 0, 5],
                                 [1, 0x2000, 3, 0x3000, 0x3000, 64, 5],
                                 [1, 0x2000, 3, 0x3000, 0x3000, 0, 5]] {
            #expect(try Self.reader(Self.memory(name: "collections.deque", object: object, blocks: block)).dequeItems(0x1000, limit: 100) == nil)
        }
        let holed = Self.memory(name: "collections.deque", object: [1, 0x2000, 3, 0x3000, 0x3000, 0, 2],
                                blocks: [0x3000: Self.block(right: 0, hole: 1)])
        #expect(try Self.reader(holed).dequeItems(0x1000, limit: 100) == nil)
        let honest = Self.memory(name: "collections.deque", object: [1, 0x2000, 3, 0x3000, 0x3000, 0, 2], blocks: block)
        #expect(try Self.reader(honest).dequeItems(0x1000, limit: 100)?.items.count == 3)
        // Not a deque at all.
        let list = Self.memory(name: "list", object: [1, 0x2000, 3, 0x3000, 0x3000, 0, 2], blocks: block)
        #expect(try Self.reader(list).dequeItems(0x1000, limit: 100) == nil)
    }

    @Test func slotsOfATypeThatIsItsOwnBase() throws {
        let objects = try Self.reader(Self.memory(name: "Handle", object: [1, 0x2000], blocks: [:]))
        #expect(objects.slotOffset(type: 0x2000, "_callback") == nil)
        #expect(objects.slot(0x1000, "_callback") == nil)
    }
}
