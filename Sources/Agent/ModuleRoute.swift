/// The path a proposal takes when it changes only one module's sources: built, tested and hot
/// reloaded into the running host, instead of a full upgrade with an exec. Anything else (a file
/// outside every module's directory, or two modules at once) takes the full path.
public struct ModuleRoute: Sendable {
    /// Each module's name by the directory of its sources, relative to the working copy
    /// (`Sources/Examples/CounterModule` → `counter`).
    public var modules: [String: String]
    /// Builds and tests the module from the working copy and reloads it; returns what is now in
    /// force (for the memory and the report). Throws when the proposal is rejected.
    public var reload: @Sendable (_ module: String) throws -> String

    /// - Parameters:
    ///   - modules: each module's name by the directory of its sources.
    ///   - reload: builds, tests and reloads a module; throws to reject the proposal.
    public init(modules: [String: String], reload: @escaping @Sendable (_ module: String) throws -> String) {
        self.modules = modules
        self.reload = reload
    }

    /// The one module whose sources `files` all lie in; nil when any file lies elsewhere, the
    /// files touch two modules, or there are none.
    /// - Parameter files: paths relative to the working copy (as `git diff --name-only` prints them).
    public func module(changing files: [String]) -> String? {
        var found: String?
        for file in files {
            guard let (_, name) = modules.first(where: { file == $0.key || file.hasPrefix($0.key + "/") }) else { return nil }
            if let found, found != name { return nil }
            found = name
        }
        return found
    }
}
