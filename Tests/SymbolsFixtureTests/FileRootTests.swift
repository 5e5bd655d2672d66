import Foundation
import Testing
@testable import Symbols

@Suite struct FileRootTests {
    /// Two builds of the sample program, which differ (and so do their build-ids).
    func twoPrograms(_ dir: TemporaryDirectory) throws -> (a: String, b: String) {
        try dir.write("prog.c", sampleProgram)
        try shell("cc -O0 -g -Wl,--build-id -o a prog.c && cc -O0 -g -DVARIANT_B -Wl,--build-id -o b prog.c -Dhelper=helper_b",
                  in: dir.path)
        return (dir.file("a"), dir.file("b"))
    }

    /// A container's absolute symbolic link resolves inside the container: never to the host's
    /// file at the same path.
    @Test func absoluteSymlinkStaysInsideTheRoot() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try twoPrograms(dir)
        let root = dir.file("root")
        let target = dir.file("target.so")  // on the host: program b
        try shell("""
            mkdir -p root/usr/lib root\(dir.path) && cp b target.so && cp a root\(target) && \
            ln -s \(target) root/usr/lib/libx.so
            """, in: dir.path)
        let inside = try ELFFile(path: "/usr/lib/libx.so", root: FileRoot(root))
        #expect(inside.buildID == (try ELFFile(path: a).buildID))
        #expect(inside.path == root + "/usr/lib/libx.so")
        // Followed on the host, the same link reaches the host's file.
        #expect(try ELFFile(path: root + "/usr/lib/libx.so").buildID == (try ELFFile(path: b).buildID))
        // A link out through "..": still inside.
        try shell("ln -s ../../../../../../../..\(target) root/usr/lib/liby.so", in: dir.path)
        #expect(try ELFFile(path: "/usr/lib/liby.so", root: FileRoot(root)).buildID == (try ELFFile(path: a).buildID))
    }

    /// Debug files by build-id: in the module's root first, then on the host.
    @Test func debugFileInTheModulesRootFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try twoPrograms(dir)
        let id = try #require(try ELFFile(path: dir.file("a")).buildIDHex)
        let buildIDPath = ".build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        let hostDebug = dir.file("hostdebug")
        try shell("""
            objcopy --only-keep-debug a a.debug && mkdir -p root/usr/bin root\(hostDebug)/.build-id/\(id.prefix(2)) \
              hostdebug/.build-id/\(id.prefix(2)) && strip -o root/usr/bin/a a && \
            cp a.debug root\(hostDebug)/\(buildIDPath) && cp a.debug hostdebug/\(buildIDPath)
            """, in: dir.path)
        let root = FileRoot(dir.file("root"))
        let symbolizer = Symbolizer(debugRoots: [hostDebug])
        let source = ModuleSource(path: "/usr/bin/a", root: root)
        let inside = try #require(symbolizer.symbols(for: source))
        #expect(inside.debugFilePath == root.path + hostDebug + "/" + buildIDPath)
        #expect(inside.table.entries(named: "helper").count == 1)
        #expect(inside.module.path == root.path + "/usr/bin/a")

        // Without one inside, the host's.
        try shell("rm root\(hostDebug)/\(buildIDPath)", in: dir.path)
        let host = try #require(Symbolizer(debugRoots: [hostDebug]).symbols(for: source))
        #expect(host.debugFilePath == hostDebug + "/" + buildIDPath)
        #expect(host.table.entries(named: "helper").count == 1)
    }

    /// `mappedFile` is opened first; when it cannot be, the path in the root is.
    @Test func mappedFileFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try twoPrograms(dir)
        let symbolizer = Symbolizer(debugRoots: [])
        let viaMapped = try #require(symbolizer.symbols(for: ModuleSource(path: b, mappedFile: a)))
        #expect(viaMapped.module.path == a)
        #expect(viaMapped.module.buildID == (try ELFFile(path: a).buildID))
        let fallback = try #require(symbolizer.symbols(for: ModuleSource(path: b, mappedFile: dir.file("missing"))))
        #expect(fallback.module.buildID == (try ELFFile(path: b).buildID))
    }
}
