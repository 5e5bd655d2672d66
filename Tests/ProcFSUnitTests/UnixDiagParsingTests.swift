import Glibc
import Testing

@testable import ProcFS

/// Builds netlink datagrams the way the kernel's sock_diag dump sends them (little-endian host).
enum Netlink {
    static let sockDiagByFamily: UInt16 = 20
    static let done: UInt16 = 3
    static let error: UInt16 = 2
    static let unixDiagName: UInt16 = 0
    static let unixDiagPeer: UInt16 = 2

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
    }

    /// nlmsghdr + body, padded to 4 bytes; `length` overrides nlmsg_len.
    static func message(type: UInt16, body: [UInt8], sequence: UInt32 = 1, length: UInt32? = nil) -> [UInt8] {
        let header = le(length ?? UInt32(16 + body.count)) + le(type) + le(UInt16(0x2)) /* NLM_F_MULTI */
            + le(sequence) + le(UInt32(4242))
        return padded(header + body)
    }

    static func attribute(_ type: UInt16, _ payload: [UInt8], length: UInt16? = nil) -> [UInt8] {
        padded(le(length ?? UInt16(4 + payload.count)) + le(type) + payload)
    }

    /// unix_diag_msg: family, type, state, pad, ino, cookie[2]; then attributes.
    static func socket(inode: UInt32, peer: UInt32? = nil, name: String? = nil, extra: [[UInt8]] = []) -> [UInt8] {
        var body: [UInt8] = [1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 1 /* TCP_ESTABLISHED */, 0]
        body += le(inode) + le(UInt32(0x1111)) + le(UInt32(0x2222))
        if let name { body += attribute(unixDiagName, Array(name.utf8) + [0]) }
        body += extra.joined()
        if let peer { body += attribute(unixDiagPeer, le(peer)) }
        return message(type: sockDiagByFamily, body: body)
    }

    static var doneMessage: [UInt8] { message(type: done, body: le(Int32(0))) }

    static func errorMessage(_ code: Int32) -> [UInt8] {
        // nlmsgerr: int error, then the request's nlmsghdr.
        message(type: error, body: le(-code) + le(UInt32(40)) + le(UInt16(20)) + le(UInt16(0x301)) + le(UInt32(1)) + le(UInt32(0)))
    }

    /// The last attribute claims 8 bytes but the datagram ends after its 4-byte header.
    static func overrunningPeerAttribute() -> [UInt8] {
        var body: [UInt8] = [1, 1, 1, 0] + le(UInt32(10)) + le(UInt32(0)) + le(UInt32(0))
        body += le(UInt16(8)) + le(unixDiagPeer)
        return message(type: sockDiagByFamily, body: body)
    }
}

@Suite("UnixDiag") struct UnixDiagTests {
    @Test func onePeer() {
        #expect(UnixDiag.parse(Netlink.socket(inode: 10, peer: 11)) == .peers([10: 11]))
    }

    @Test func severalMessagesInOneDatagram() {
        let datagram = Netlink.socket(inode: 10, peer: 11)
            + Netlink.socket(inode: 11, peer: 10)
            + Netlink.socket(inode: 12)                                // unconnected: no peer attribute
            + Netlink.socket(inode: 13, peer: 0)                       // a peer of 0 means none
            + Netlink.socket(inode: 14, peer: 77, name: "/run/a.sock")  // 12-byte name (padded) before the peer
            + Netlink.socket(inode: 15, peer: 78, name: "/x", extra: [Netlink.attribute(5, [1, 2, 3, 4, 5])])
        #expect(UnixDiag.parse(datagram) == .peers([10: 11, 11: 10, 14: 77, 15: 78]))
    }

    @Test func largeInodes() {
        #expect(UnixDiag.parse(Netlink.socket(inode: .max, peer: 0xFFFF_FFFE)) == .peers([0xFFFF_FFFF: 0xFFFF_FFFE]))
    }

    @Test func done() {
        #expect(UnixDiag.parse(Netlink.doneMessage) == .done)
    }

    @Test(arguments: [13 as Int32, 2, 22])
    func error(_ code: Int32) {
        #expect(UnixDiag.parse(Netlink.errorMessage(code)) == .error(code))
    }

    /// An error field of INT32_MIN (no errno is) used to trap when negated.
    @Test func errorOfInt32Min() {
        let datagram: [UInt8] = [0x14, 0, 0, 0, 0x02, 0, 0x0f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]
        #expect(UnixDiag.parse(datagram) == .error(EIO))
    }

    @Test func emptyAndShortDatagrams() {
        #expect(UnixDiag.parse([]) == .peers([:]))
        #expect(UnixDiag.parse([1, 2, 3]) == .peers([:]))
        #expect(UnixDiag.parse(Array(Netlink.socket(inode: 10, peer: 11).prefix(15))) == .peers([:]))
    }

    @Test func truncatedMessagesAreIgnored() {
        // nlmsg_len says more than the datagram holds.
        let long = Netlink.message(type: Netlink.sockDiagByFamily, body: Array(Netlink.socket(inode: 10, peer: 11).dropFirst(16)), length: 200)
        #expect(UnixDiag.parse(long) == .peers([:]))
        // A length below the header size would loop forever if trusted.
        let tiny = Netlink.message(type: Netlink.sockDiagByFamily, body: [UInt8](repeating: 0, count: 16), length: 4)
        #expect(UnixDiag.parse(tiny) == .peers([:]))
        // A good message followed by a cut one keeps the good one.
        let cut = Netlink.socket(inode: 10, peer: 11) + Netlink.socket(inode: 12, peer: 13).prefix(30)
        #expect(UnixDiag.parse(Array(cut)) == .peers([10: 11]))
    }

    @Test func malformedAttributesStopTheAttributeWalk() {
        // An attribute length below 4 would never advance.
        let zero = Netlink.socket(inode: 10, extra: [Netlink.attribute(2, [0, 0, 0, 0], length: 0)])
        #expect(UnixDiag.parse(zero) == .peers([:]))
        // A peer attribute too short for its u32 is ignored.
        let short = Netlink.socket(inode: 10, extra: [Netlink.attribute(2, [], length: 4)])
        #expect(UnixDiag.parse(short) == .peers([:]))
    }

    @Test func peersBeforeDoneInTheSameDatagram() {
        // Netlink may put NLMSG_DONE after the last data messages of a dump in the same datagram.
        let datagram = Netlink.socket(inode: 10, peer: 11) + Netlink.doneMessage
        let chunk = UnixDiag.parse(datagram)
        #expect(chunk.peers == [10: 11])
        #expect(chunk.done)
    }

    @Test func attributeOverrunningTheDatagramDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            _ = UnixDiag.parse(Netlink.overrunningPeerAttribute())
        }
        #expect(UnixDiag.parse(Netlink.overrunningPeerAttribute()) == .peers([:]))
    }

    @Test func dumpRequest() {
        let request = UnixDiag.dumpRequest(sequence: 7)
        #expect(request.count == 40)
        #expect(request[0..<4] == [40, 0, 0, 0][...])        // nlmsg_len
        #expect(request[4..<6] == [20, 0][...])              // SOCK_DIAG_BY_FAMILY
        #expect(request[6..<8] == [0x01, 0x03][...])         // NLM_F_REQUEST | NLM_F_DUMP
        #expect(request[8..<12] == [7, 0, 0, 0][...])        // nlmsg_seq
        #expect(request[16] == 1)                            // AF_UNIX
        #expect(request[20..<24] == [0xFF, 0xFF, 0xFF, 0xFF][...])  // every state
        #expect(request[28..<32] == [4, 0, 0, 0][...])       // UDIAG_SHOW_PEER
    }
}
