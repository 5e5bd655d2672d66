import Glibc
import Syscalls
import Testing

/// The wrappers' one rule for interrupted calls: EINTR is retried inside, any other errno thrown.
@Suite("System call wrappers") struct SyscallsTests {
    @Test func anInterruptedCallIsMadeAgain() throws {
        var calls = 0
        let result = try SystemCalls.retrying { () -> Int32 in
            calls += 1
            guard calls == 3 else {
                errno = EINTR
                return -1
            }
            return 5
        }
        #expect(result == 5 && calls == 3)
        var shimCalls = 0
        #expect(try SystemCalls.retryingNegated { shimCalls += 1; return shimCalls < 2 ? -EINTR : 0 } == 0)
        #expect(shimCalls == 2)
    }

    @Test func anotherFailureIsThrownAtOnce() {
        var calls = 0
        #expect(throws: Errno(EBADF)) {
            try SystemCalls.retrying { () -> Int in
                calls += 1
                errno = EBADF
                return -1
            }
        }
        #expect(calls == 1)
        #expect(throws: Errno.noSuchProcess) { try SystemCalls.retryingNegated { -ESRCH } }
    }

    /// Through the real call: this process's own memory, and a process that does not exist.
    @Test func readMemoryCopiesOrThrows() throws {
        let source: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var copy = [UInt8](repeating: 0, count: 8)
        let copied = try source.withUnsafeBytes { from in
            try copy.withUnsafeMutableBytes { into in
                try SystemCalls.readMemory(pid: getpid(), at: UInt64(UInt(bitPattern: from.baseAddress)), into: into)
            }
        }
        #expect(copied == 8 && copy == source)
        #expect(throws: Errno.noSuchProcess) {
            try copy.withUnsafeMutableBytes { try SystemCalls.readMemory(pid: 0x7fff_fff0, at: 0x1000, into: $0) }
        }
    }
}
