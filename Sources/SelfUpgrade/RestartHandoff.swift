/// What an `exec` restart passes to the next program image besides the library's markers:
/// descriptors, renumbered, and environment variables.
///
/// Only these descriptors, standard input, output and error, and the home's lock cross the
/// `exec`: every other descriptor is made close-on-exec just before it. The descriptors are
/// placed at 3, 4, … in order (the systemd socket-activation numbering), and the lock goes
/// above them. If the `exec` fails, the descriptor table is restored as it was.
public struct RestartHandoff: Sendable, Equatable {
    /// Descriptors the next image finds at 3, 4, … in this order.
    public var descriptors: [Int32]
    /// Variables set in the next image's environment (`LISTEN_FDS`, …).
    public var environment: [String: String]

    /// - Parameters:
    ///   - descriptors: passed as 3, 4, … in this order.
    ///   - environment: set in the next image's environment.
    public init(descriptors: [Int32] = [], environment: [String: String] = [:]) {
        self.descriptors = descriptors
        self.environment = environment
    }

    /// The first number the descriptors are passed as.
    public static let firstDescriptor: Int32 = 3
}
