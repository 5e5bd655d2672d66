import Foundation
import Testing
@testable import Symbols

@Suite struct LoadedImageTests {
    /// Reads this process's memory through /proc/self/mem.
    func readOwnMemory(_ address: UInt64, _ count: Int) -> [UInt8]? {
        let fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(Int64(bitPattern: address))) }
        return n == count ? buffer : nil
    }

    /// The first mapping (file offset 0) of each file mapped into this process.
    func ownModules() throws -> [(path: String, base: UInt64)] {
        // Read to the end: /proc files report size 0.
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let maps = String(decoding: bytes, as: UTF8.self)
        var seen = Set<String>()
        var modules: [(String, UInt64)] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[2] == "00000000", fields[5].hasPrefix("/"), seen.insert(String(fields[5])).inserted,
                  let start = UInt64(fields[0].split(separator: "-")[0], radix: 16) else { continue }
            modules.append((String(fields[5...].joined(separator: " ")), start))
        }
        return modules
    }

    @Test func buildIDsOfThisProcessesModulesMatchTheirFiles() throws {
        let modules = try ownModules()
        let libc = try #require(modules.first { $0.path.contains("libc.so") })
        let expected = try #require(try ELFFile(path: libc.path, loadSymbols: false).buildID)
        #expect(LoadedImage.buildID(base: libc.base, read: readOwnMemory) == .found(expected))
        var checked = 0
        for module in modules {
            guard let file = try? ELFFile(path: module.path, loadSymbols: false), file.loadSegments.contains(where: { $0.offset == 0 }) else { continue }
            let loaded = LoadedImage.buildID(base: module.base, read: readOwnMemory)
            if let id = file.buildID {
                #expect(loaded == .found(id), "\(module.path)")
            } else {
                #expect(loaded == .absent, "\(module.path)")
            }
            checked += 1
        }
        #expect(checked >= 3)
    }

    @Test func notAnImage() {
        let zeros = [UInt8](repeating: 0, count: 8192)
        #expect(LoadedImage.buildID(base: 0x1000) { address, count in
            address >= 0x1000 && address + UInt64(count) <= 0x3000 ? Array(zeros[Int(address - 0x1000)..<Int(address - 0x1000) + count]) : nil
        } == .unreadable)
        #expect(LoadedImage.buildID(base: 0x1000) { _, _ in nil } == .unreadable)
    }

    /// A program linked without a build-id: its notes are read and hold none.
    @Test func imageWithoutBuildID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("prog.c", sampleProgram)
        try shell("cc -Wl,--build-id=none -o prog prog.c", in: dir.path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("prog"))))
        // The file as the loader maps its first segment: at 0x10000, vaddr 0 (a PIE).
        let image = LoadedImage.buildID(base: 0x10000) { address, count in
            guard address >= 0x10000, address - 0x10000 + UInt64(count) <= UInt64(bytes.count) else { return nil }
            return Array(bytes[Int(address - 0x10000)..<Int(address - 0x10000) + count])
        }
        #expect(image == .absent)
    }
}
