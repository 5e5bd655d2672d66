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
