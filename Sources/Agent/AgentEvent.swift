/// What the loop reports while it works, in order; the command line shows each as a line of
/// text or of JSON.
public enum AgentEvent: Sendable, Equatable {
    /// A proposal found in flight at a start that is not its restart (the process was killed or
    /// crashed): it is run again, without being applied again.
    case resuming(name: String)
    /// A proposal is applied and committed; its build, tests and verification begin.
    case upgrading(name: String)
    /// A proposal that changes only `module`'s sources is applied and committed; it is built,
    /// tested and hot reloaded (no upgrade, no exec).
    case reloadingModule(name: String, module: String)
    /// A proposal ended. `restarted`: it ended in the process its upgrade exec'd (accepted, or
    /// rejected after the old version was exec'd back).
    case finished(AgentMemory.Proposal, restarted: Bool)
    /// The accepted version `number` ended its probation: passed after `passed` samples, or
    /// failed (`failure`) and is being rolled back to its parent.
    case probation(number: Int, passed: Int, failure: String?)
    /// The run's budget (time or the proposer's reported cost) is spent: no more proposals are
    /// taken in this run.
    case budgetReached(String)
    /// The loop ended: no proposal left, the proposer changed nothing, or the limit was reached.
    case done(AgentMemory)
}
