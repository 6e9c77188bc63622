/// The most each kind of file a user names may hold (`FileSystem.readInputFile` states the
/// limit when a file is larger; devices and FIFOs are refused whatever their size).
enum InputLimit {
    /// A trusted root (`update configure --trusted-root`, `tuf init`): the TUF client's cap on a root.
    static let trustedRoot = 512_000
    /// Release notes (`release add --notes`): 1 MiB.
    static let notes = 1 << 20
    /// A key, a public key or a signature file: 64 KiB.
    static let keyFile = 64 << 10
    /// A file signed or verified with minisign (held in memory): 1 GiB.
    static let signedFile = 1 << 30
    /// A base or patch given to `release patch`: the delta format's limit, 2 GiB − 1
    /// (`release diff` takes files up to `Delta.largestInputToMake`).
    static let deltaFile = Int(Int32.max)
}
