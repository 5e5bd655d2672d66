import Foundation
import VictimSupport
@testable import Symbols

/// The system C library; libc6-dbg provides its debug file by build-id.
let libcPath = "/lib/x86_64-linux-gnu/libc.so.6"

struct CommandFailed: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var output: String
    var description: String { "`\(command)` exited \(status): \(output)" }
}

/// Runs `command` with /bin/sh in `directory`; its stdout and stderr; throws on a non-zero exit.
@discardableResult
func shell(_ command: String, in directory: String) throws -> String {
    let result = try runCommand("/bin/sh", ["-c", command], in: directory)
    guard result.status == 0 else {
        throw CommandFailed(command: command, status: result.status, output: result.output)
    }
    return result.output
}

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = NSTemporaryDirectory() + "symbols-tests-XXXXXX"
        var template = Array(base.utf8CString)
        guard let made = mkdtemp(&template) else { throw CommandFailed(command: "mkdtemp", status: errno, output: "") }
        path = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }
}

/// A tiny C program with a static function, an exported function and a main.
let sampleProgram = """
    #include <stdio.h>

    __attribute__((noinline)) static int helper(int x) {
        int s = 0;
        for (int i = 0; i < x * 100; i++) s += (i * x) ^ (s >> 3);
        return s;
    }

    __attribute__((noinline)) int exported_entry(int x) {
        return helper(x) + 1;
    }

    int main(int argc, char **argv) {
        printf("%d\\n", exported_entry(argc + (argv[0] != 0)));
        return 0;
    }
    """

/// Compiles `sampleProgram` unstripped (`prog`) into `dir`, with a build-id and
/// dynamic exports so the stripped copy keeps `exported_entry` in `.dynsym`.
func compileSample(in dir: TemporaryDirectory) throws -> String {
    try dir.write("prog.c", sampleProgram)
    try shell("cc -O0 -g -rdynamic -Wl,--build-id -o prog prog.c", in: dir.path)
    return dir.file("prog")
}
