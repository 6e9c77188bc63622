/// What a file's inode says of its bytes: a write, a truncation, a `chmod`, a new hard link or a
/// file renamed over it changes the change time (set by the kernel to the current time, never to
/// a chosen value) or the inode. Taken when the bytes were hashed, it lets a later reader know
/// they are the same bytes with one `fstat` instead of hashing them again (the store's
/// binaries, a verified download handed to the store).
public struct FileIdentity: Codable, Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    public var changeNanoseconds: Int64
    public var modificationNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int, changeNanoseconds: Int64, modificationNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.changeNanoseconds = changeNanoseconds
        self.modificationNanoseconds = modificationNanoseconds
    }

    public init(_ status: FileStatus) {
        device = status.device
        inode = status.inode
        size = status.size
        changeNanoseconds = status.changeNanoseconds
        modificationNanoseconds = status.modificationNanoseconds
    }

    /// True when the file is the one `earlier` describes with nothing written to it since: the
    /// same inode, size and modification time. Only the change time may differ, moved by a
    /// rename or a `chmod` of this process's own (which leave the bytes alone).
    public func isUnwritten(since earlier: FileIdentity) -> Bool {
        device == earlier.device && inode == earlier.inode && size == earlier.size && modificationNanoseconds == earlier.modificationNanoseconds
    }
}
